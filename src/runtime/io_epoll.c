/* The epoll backend of include/mtlb/io.h, for kernels or containers where io_uring is blocked.
 * A submit tries its syscall at once (non-blocking), else waits in a level-triggered epoll set
 * until the fd is ready. Completions go through a ready list handed out by mtlb_io_epoll_wait
 * (cancels find ops through io_epoll_index.c). It never closes a caller's fd. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "mtlb/io.h"
#include "io_epoll.h"
#include "io_epoll_index.h"

#define EVENT_BATCH 128
#define SIDE_RD 0
#define SIDE_WR 1

enum ep_kind {
    OP_NONE = 0,
    OP_RECV,
    OP_RECVMSG,
    OP_READ,
    OP_SEND,
    OP_SENDMSG,
    OP_CONNECT,
    OP_POLL,
};

struct ep_op {
    uint64_t ud;
    union {
        void *buf;
        const void *cbuf;
        struct msghdr *msg;
        const struct msghdr *cmsg;
    } u;
    uint32_t len;
    uint8_t kind; /* enum ep_kind; OP_NONE when the slot is free */
};

/* Per fd: the pending read-side and write-side operation and the interest registered. */
struct ep_fd {
    struct ep_op op[2];
    uint32_t events; /* registered with epoll; 0 = not in the set */
};

struct ep_timer {
    int64_t deadline_ns; /* CLOCK_MONOTONIC */
    uint64_t ud;
};

struct io_epoll {
    enum mtlb_io_backend backend; /* MTLB_IO_EPOLL: must stay first, io_uring.c reads it */
    int epfd;
    struct ep_fd *fds;
    int nfds;
    struct mtlb_io_cqe *ready; /* FIFO: ready[head .. tail) */
    unsigned head, tail, ready_cap;
    struct ep_index pending; /* user_data -> fd * 2 + side, for cancel */
    struct ep_timer *timers;
    unsigned n_timers, timers_cap;
    struct epoll_event evs[EVENT_BATCH];
};

static struct io_epoll *ep_of(struct mtlb_io *io)
{
    return (struct io_epoll *)io;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Allocation failures below abort: the contract has no way to fail a submit, and a worker that
 * silently lost a completion would leak the connection forever. Growth is amortised, so steady
 * state allocates nothing. */
static void *grow(void *p, size_t n, size_t size)
{
    void *q = realloc(p, n * size);
    if (q == NULL) {
        abort();
    }
    return q;
}

/* ---- ready list ---- */

static void complete(struct io_epoll *ep, uint64_t ud, int res)
{
    if (ep->tail == ep->ready_cap) {
        if (ep->head > 0) {
            memmove(ep->ready, ep->ready + ep->head, (ep->tail - ep->head) * sizeof(*ep->ready));
            ep->tail -= ep->head;
            ep->head = 0;
        } else {
            ep->ready_cap = ep->ready_cap ? ep->ready_cap * 2 : 256;
            ep->ready = grow(ep->ready, ep->ready_cap, sizeof(*ep->ready));
        }
    }
    ep->ready[ep->tail].user_data = ud;
    ep->ready[ep->tail].res = res;
    ep->tail++;
}

/* ---- per-fd interest ---- */

static void fds_reserve(struct io_epoll *ep, int fd)
{
    if (fd < ep->nfds) {
        return;
    }
    int n = ep->nfds ? ep->nfds : 64;
    while (n <= fd) {
        n *= 2;
    }
    ep->fds = grow(ep->fds, (size_t)n, sizeof(*ep->fds));
    memset(ep->fds + ep->nfds, 0, (size_t)(n - ep->nfds) * sizeof(*ep->fds));
    ep->nfds = n;
}

/* Removes the op from its slot and queues its completion. */
static void op_finish(struct io_epoll *ep, int fd, int side, int res)
{
    struct ep_op *op = &ep->fds[fd].op[side];
    int s = mtlb_io_epoll_index_find(&ep->pending, op->ud, fd * 2 + side);
    if (s >= 0) {
        mtlb_io_epoll_index_remove(&ep->pending, (unsigned)s);
    }
    op->kind = OP_NONE;
    complete(ep, op->ud, res);
}

/* Brings the registered interest in line with the pending ops. A fd with nothing pending
 * leaves the set at once, so a fd the caller closes and reuses never inherits stale state. */
static void sync_interest(struct io_epoll *ep, int fd)
{
    struct ep_fd *f = &ep->fds[fd];
    uint32_t want = (f->op[SIDE_RD].kind ? EPOLLIN : 0) | (f->op[SIDE_WR].kind ? EPOLLOUT : 0);
    if (want == f->events) {
        return;
    }
    struct epoll_event ev = {.events = want, .data.fd = fd};
    int rc;
    if (want == 0) {
        /* ENOENT/EBADF would mean it already left the set with its file: nothing to undo. */
        (void)epoll_ctl(ep->epfd, EPOLL_CTL_DEL, fd, NULL);
        rc = 0;
    } else if (f->events == 0) {
        rc = epoll_ctl(ep->epfd, EPOLL_CTL_ADD, fd, &ev);
        if (rc == -1 && errno == EEXIST) {
            rc = epoll_ctl(ep->epfd, EPOLL_CTL_MOD, fd, &ev);
        }
    } else {
        rc = epoll_ctl(ep->epfd, EPOLL_CTL_MOD, fd, &ev);
        if (rc == -1 && errno == ENOENT) {
            rc = epoll_ctl(ep->epfd, EPOLL_CTL_ADD, fd, &ev);
        }
    }
    if (rc == -1) {
        /* Not pollable (EPERM), bad fd (EBADF) ...: fail whatever waits on it. */
        int err = -errno;
        f->events = 0;
        for (int side = SIDE_RD; side <= SIDE_WR; side++) {
            if (f->op[side].kind) {
                op_finish(ep, fd, side, err);
            }
        }
        return;
    }
    f->events = want;
}

/* ---- the syscalls ---- */

static int connect_result(int fd, bool hup)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
        return -errno;
    }
    if (err != 0) {
        return -err;
    }
    struct sockaddr_storage ss;
    len = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
        return 0;
    }
    /* Still in progress, unless the socket hung up (connect aborted by a shutdown). */
    return hup ? -ECONNABORTED : -EAGAIN;
}

/* Performs the op without blocking: bytes, 0, or -errno (-EAGAIN: not ready yet). */
static int op_try(const struct ep_op *op, int fd, bool hup)
{
    ssize_t r;
    do {
        switch (op->kind) {
        case OP_RECV:
            r = recv(fd, op->u.buf, op->len, MSG_DONTWAIT);
            break;
        case OP_RECVMSG:
            r = recvmsg(fd, op->u.msg, MSG_DONTWAIT);
            break;
        case OP_READ:
            r = read(fd, op->u.buf, op->len);
            break;
        case OP_SEND:
            r = send(fd, op->u.cbuf, op->len, MSG_NOSIGNAL | MSG_DONTWAIT);
            break;
        case OP_SENDMSG:
            r = sendmsg(fd, op->u.cmsg, MSG_NOSIGNAL | MSG_DONTWAIT);
            break;
        case OP_CONNECT:
            return connect_result(fd, hup);
        case OP_POLL:
            return -EAGAIN; /* on_event completes it with the events seen */
        default:
            return -EINVAL;
        }
    } while (r == -1 && errno == EINTR);
    if (r == -1) {
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
    return r > INT_MAX ? INT_MAX : (int)r;
}

/* Parks the op on its fd until epoll reports it ready. */
static void op_park(struct io_epoll *ep, int fd, int side, const struct ep_op *op)
{
    fds_reserve(ep, fd);
    ep->fds[fd].op[side] = *op;
    mtlb_io_epoll_index_insert(&ep->pending, op->ud, fd * 2 + side);
    sync_interest(ep, fd);
}

/* Submits: completes at once through the ready list if the syscall did not block. */
static void op_submit(struct io_epoll *ep, int fd, int side, const struct ep_op *op, bool try)
{
    if (fd < 0) {
        complete(ep, op->ud, -EBADF);
        return;
    }
    if (try) {
        int res = op_try(op, fd, false);
        if (res != -EAGAIN) {
            complete(ep, op->ud, res);
            return;
        }
    }
    op_park(ep, fd, side, op);
}

void mtlb_io_epoll_recv(struct mtlb_io *io, int fd, void *buf, uint32_t len, uint64_t ud)
{
    struct ep_op op = {.ud = ud, .u.buf = buf, .len = len, .kind = OP_RECV};
    op_submit(ep_of(io), fd, SIDE_RD, &op, true);
}

void mtlb_io_epoll_recvmsg(struct mtlb_io *io, int fd, struct msghdr *msg, uint64_t ud)
{
    struct ep_op op = {.ud = ud, .u.msg = msg, .kind = OP_RECVMSG};
    op_submit(ep_of(io), fd, SIDE_RD, &op, true);
}

void mtlb_io_epoll_read(struct mtlb_io *io, int fd, void *buf, uint32_t len, uint64_t ud)
{
    /* No early attempt: the fd may be in blocking mode (read has no MSG_DONTWAIT), and the
     * worker's eventfd is normally empty when re-armed anyway. */
    struct ep_op op = {.ud = ud, .u.buf = buf, .len = len, .kind = OP_READ};
    op_submit(ep_of(io), fd, SIDE_RD, &op, false);
}

void mtlb_io_epoll_send(struct mtlb_io *io, int fd, const void *buf, uint32_t len, uint64_t ud)
{
    struct ep_op op = {.ud = ud, .u.cbuf = buf, .len = len, .kind = OP_SEND};
    op_submit(ep_of(io), fd, SIDE_WR, &op, true);
}

void mtlb_io_epoll_sendmsg(struct mtlb_io *io, int fd, const struct msghdr *msg, uint64_t ud)
{
    struct ep_op op = {.ud = ud, .u.cmsg = msg, .kind = OP_SENDMSG};
    op_submit(ep_of(io), fd, SIDE_WR, &op, true);
}

void mtlb_io_epoll_poll(struct mtlb_io *io, int fd, unsigned events, uint64_t ud)
{
    struct ep_op op = {.ud = ud, .kind = OP_POLL};
    op_submit(ep_of(io), fd, (events & POLLOUT) ? SIDE_WR : SIDE_RD, &op, false);
}

/* Never parks: the caller polls the socket side first and calls again on -EAGAIN. */
void mtlb_io_epoll_splice(struct mtlb_io *io, int fd_in, int fd_out, uint32_t len, uint64_t ud)
{
    ssize_t r;
    do {
        r = splice(fd_in, NULL, fd_out, NULL, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    } while (r == -1 && errno == EINTR);
    int res = r >= 0 ? (r > INT_MAX ? INT_MAX : (int)r) : errno == EWOULDBLOCK ? -EAGAIN : -errno;
    complete(ep_of(io), ud, res);
}

void mtlb_io_epoll_connect(struct mtlb_io *io, int fd, const struct sockaddr *sa, socklen_t len,
                           uint64_t ud)
{
    struct io_epoll *ep = ep_of(io);
    struct ep_op op = {.ud = ud, .kind = OP_CONNECT};
    int rc;
    do {
        rc = connect(fd, sa, len);
    } while (rc == -1 && errno == EINTR);
    if (rc == -1 && errno == EINPROGRESS) {
        op_submit(ep, fd, SIDE_WR, &op, false);
        return;
    }
    complete(ep, ud, rc == 0 ? 0 : -errno);
}

/* ---- timeouts: a handful at most (the worker's tick), so an unsorted array ---- */

void mtlb_io_epoll_timeout(struct mtlb_io *io, struct __kernel_timespec *ts, uint64_t ud)
{
    struct io_epoll *ep = ep_of(io);
    if (ep->n_timers == ep->timers_cap) {
        ep->timers_cap = ep->timers_cap ? ep->timers_cap * 2 : 8;
        ep->timers = grow(ep->timers, ep->timers_cap, sizeof(*ep->timers));
    }
    int64_t rel = (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec;
    ep->timers[ep->n_timers].deadline_ns = now_ns() + (rel > 0 ? rel : 0);
    ep->timers[ep->n_timers].ud = ud;
    ep->n_timers++;
}

static void timer_remove(struct io_epoll *ep, unsigned i)
{
    ep->timers[i] = ep->timers[--ep->n_timers];
}

static void expire_timers(struct io_epoll *ep)
{
    if (ep->n_timers == 0) {
        return;
    }
    int64_t now = now_ns();
    for (unsigned i = 0; i < ep->n_timers;) {
        if (ep->timers[i].deadline_ns <= now) {
            complete(ep, ep->timers[i].ud, -ETIME);
            timer_remove(ep, i);
        } else {
            i++;
        }
    }
}

/* Milliseconds until the earliest timeout, rounded up so that we never wake early; -1 if none. */
static int next_timeout_ms(const struct io_epoll *ep)
{
    if (ep->n_timers == 0) {
        return -1;
    }
    int64_t first = ep->timers[0].deadline_ns;
    for (unsigned i = 1; i < ep->n_timers; i++) {
        if (ep->timers[i].deadline_ns < first) {
            first = ep->timers[i].deadline_ns;
        }
    }
    int64_t left = first - now_ns();
    if (left <= 0) {
        return 0;
    }
    int64_t ms = (left + 999999) / 1000000;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

void mtlb_io_epoll_cancel(struct mtlb_io *io, uint64_t ud)
{
    struct io_epoll *ep = ep_of(io);
    for (unsigned i = 0; i < ep->n_timers; i++) {
        if (ep->timers[i].ud == ud) {
            timer_remove(ep, i);
            complete(ep, ud, -ECANCELED);
            return;
        }
    }
    int s = mtlb_io_epoll_index_find(&ep->pending, ud, -1);
    if (s < 0) {
        return; /* finished already (its completion stands) or unknown */
    }
    int ref = ep->pending.slots[s].ref;
    op_finish(ep, ref / 2, ref % 2, -ECANCELED);
    sync_interest(ep, ref / 2);
}

/* ---- readiness and wait ---- */

static void on_event(struct io_epoll *ep, int fd, uint32_t events)
{
    if (fd < 0 || fd >= ep->nfds) {
        return;
    }
    struct ep_fd *f = &ep->fds[fd];
    bool hup = (events & (EPOLLHUP | EPOLLERR)) != 0;
    /* Hang-ups and errors wake both sides: the syscall then reports EOF or the error. */
    for (int side = SIDE_RD; side <= SIDE_WR; side++) {
        uint32_t want = side == SIDE_RD ? EPOLLIN : EPOLLOUT;
        if (f->op[side].kind == OP_POLL && (events & want || hup)) {
            op_finish(ep, fd, side, (int)(events & (want | EPOLLHUP | EPOLLERR | EPOLLRDHUP)));
        }
    }
    if (f->op[SIDE_RD].kind && (events & EPOLLIN || hup)) {
        int res = op_try(&f->op[SIDE_RD], fd, hup);
        if (res != -EAGAIN) {
            op_finish(ep, fd, SIDE_RD, res);
        }
    }
    if (f->op[SIDE_WR].kind && (events & EPOLLOUT || hup)) {
        int res = op_try(&f->op[SIDE_WR], fd, hup);
        if (res != -EAGAIN) {
            op_finish(ep, fd, SIDE_WR, res);
        }
    }
    sync_interest(ep, fd);
}

static int drain_ready(struct io_epoll *ep, struct mtlb_io_cqe *out, unsigned max)
{
    unsigned n = ep->tail - ep->head;
    if (n > max) {
        n = max;
    }
    memcpy(out, ep->ready + ep->head, n * sizeof(*out));
    ep->head += n;
    if (ep->head == ep->tail) {
        ep->head = ep->tail = 0;
    }
    return (int)n;
}

int mtlb_io_epoll_wait(struct mtlb_io *io, struct mtlb_io_cqe *out, unsigned max)
{
    struct io_epoll *ep = ep_of(io);
    if (max == 0) {
        return -EINVAL;
    }
    for (;;) {
        /* Poll even when completions are ready, so that a chain of ops that keep completing
         * at once cannot starve the other fds or the timeouts. */
        int tmo = ep->tail > ep->head ? 0 : next_timeout_ms(ep);
        int n = epoll_wait(ep->epfd, ep->evs, EVENT_BATCH, tmo);
        if (n == -1 && errno != EINTR) {
            return -errno;
        }
        for (int i = 0; i < n; i++) {
            on_event(ep, ep->evs[i].data.fd, ep->evs[i].events);
        }
        expire_timers(ep);
        if (ep->tail > ep->head) {
            return drain_ready(ep, out, max);
        }
    }
}

/* ---- lifetime ---- */

int mtlb_io_epoll_create(struct mtlb_io **out)
{
    struct io_epoll *ep = calloc(1, sizeof(*ep));
    *out = NULL;
    if (ep == NULL) {
        return -ENOMEM;
    }
    ep->backend = MTLB_IO_EPOLL;
    int err = mtlb_io_epoll_index_init(&ep->pending);
    ep->epfd = err == 0 ? epoll_create1(EPOLL_CLOEXEC) : -1;
    if (err != 0 || ep->epfd == -1) {
        err = err != 0 ? err : -errno;
        mtlb_io_epoll_index_fini(&ep->pending);
        free(ep);
        return err;
    }
    *out = (struct mtlb_io *)ep;
    return 0;
}

void mtlb_io_epoll_destroy(struct mtlb_io *io)
{
    struct io_epoll *ep = ep_of(io);
    close(ep->epfd);
    free(ep->fds);
    free(ep->ready);
    mtlb_io_epoll_index_fini(&ep->pending);
    free(ep->timers);
    free(ep);
}
