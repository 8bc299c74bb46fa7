/* The io_uring backend of include/mtlb/io.h: each call prepares one SQE; mtlb_io_wait
 * submits and reaps. Completions with user_data 0 are the ring's own (cancellations) and are
 * never reported. io_epoll.c implements the same contract without io_uring. */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>

#include "mtlb/io.h"
#include "io_epoll.h"

struct mtlb_io {
    enum mtlb_io_backend backend; /* first member in both backends */
    struct io_uring ring;
};

/* The functions below forward to io_epoll.c when the worker's backend is epoll. */
#define EPOLL_OR(call)                                                                             \
    do {                                                                                           \
        if (io->backend == MTLB_IO_EPOLL) {                                                        \
            call;                                                                                  \
            return;                                                                                \
        }                                                                                          \
    } while (0)

static int uring_create(unsigned entries, struct mtlb_io **out)
{
    struct mtlb_io *io = calloc(1, sizeof(*io));
    struct io_uring_params p;

    if (io == NULL) {
        return -ENOMEM;
    }
    /* COOP_TASKRUN: completions wait for our next io_uring_enter instead of interrupting the
     * worker with an IPI each time a socket becomes ready (the worker enters once per loop
     * anyway). Older kernels refuse unknown flags with EINVAL: drop them one by one. */
    static const unsigned flag_sets[] = {
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN, /* 5.19 */
        IORING_SETUP_SUBMIT_ALL,                             /* 5.18 */
        0,
    };
    int rc = -EINVAL;
    for (size_t i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]) && rc == -EINVAL; i++) {
        memset(&p, 0, sizeof(p));
        p.flags = flag_sets[i];
        rc = io_uring_queue_init_params(entries, &io->ring, &p);
    }
    if (rc != 0) {
        free(io);
        return rc;
    }
    io->backend = MTLB_IO_URING;
    *out = io;
    return 0;
}

int mtlb_io_create(enum mtlb_io_backend want, unsigned entries, struct mtlb_io **out)
{
    if (want != MTLB_IO_EPOLL) {
        int rc = uring_create(entries, out);
        /* EPERM/ENOSYS: disabled by sysctl or filtered by seccomp. */
        if (rc == 0 || want == MTLB_IO_URING) {
            return rc;
        }
    }
    return mtlb_io_epoll_create(out);
}

void mtlb_io_destroy(struct mtlb_io *io)
{
    if (io == NULL) {
        return;
    }
    if (io->backend == MTLB_IO_EPOLL) {
        mtlb_io_epoll_destroy(io);
        return;
    }
    io_uring_queue_exit(&io->ring);
    free(io);
}

int mtlb_io_uring_probe(void)
{
    struct io_uring ring;
    int rc = io_uring_queue_init(4, &ring, 0);
    if (rc == 0) {
        io_uring_queue_exit(&ring);
    }
    return rc;
}

enum mtlb_io_backend mtlb_io_backend_of(const struct mtlb_io *io)
{
    return io->backend;
}

const char *mtlb_io_backend_name(enum mtlb_io_backend b)
{
    return b == MTLB_IO_URING ? "io_uring" : b == MTLB_IO_EPOLL ? "epoll" : "auto";
}

static struct io_uring_sqe *sqe_get(struct mtlb_io *io)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
    while (sqe == NULL) {
        /* SQ full: hand the queued entries to the kernel and take a fresh slot. */
        io_uring_submit(&io->ring);
        sqe = io_uring_get_sqe(&io->ring);
    }
    return sqe;
}

void mtlb_io_recv(struct mtlb_io *io, int fd, void *buf, uint32_t len, uint64_t ud)
{
    EPOLL_OR(mtlb_io_epoll_recv(io, fd, buf, len, ud));
    struct io_uring_sqe *sqe = sqe_get(io);
    io_uring_prep_recv(sqe, fd, buf, len, 0);
    io_uring_sqe_set_data64(sqe, ud);
}

void mtlb_io_recvmsg(struct mtlb_io *io, int fd, struct msghdr *msg, uint64_t ud)
{
    EPOLL_OR(mtlb_io_epoll_recvmsg(io, fd, msg, ud));
    struct io_uring_sqe *sqe = sqe_get(io);
    io_uring_prep_recvmsg(sqe, fd, msg, 0);
    io_uring_sqe_set_data64(sqe, ud);
}

void mtlb_io_read(struct mtlb_io *io, int fd, void *buf, uint32_t len, uint64_t ud)
{
    EPOLL_OR(mtlb_io_epoll_read(io, fd, buf, len, ud));
    struct io_uring_sqe *sqe = sqe_get(io);
    io_uring_prep_read(sqe, fd, buf, len, 0);
    io_uring_sqe_set_data64(sqe, ud);
}

void mtlb_io_send(struct mtlb_io *io, int fd, const void *buf, uint32_t len, uint64_t ud)
{
    EPOLL_OR(mtlb_io_epoll_send(io, fd, buf, len, ud));
    struct io_uring_sqe *sqe = sqe_get(io);
    io_uring_prep_send(sqe, fd, buf, len, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, ud);
}

void mtlb_io_sendmsg(struct mtlb_io *io, int fd, const struct msghdr *msg, uint64_t ud)
{
    EPOLL_OR(mtlb_io_epoll_sendmsg(io, fd, msg, ud));
    struct io_uring_sqe *sqe = sqe_get(io);
    io_uring_prep_sendmsg(sqe, fd, msg, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, ud);
}

void mtlb_io_connect(struct mtlb_io *io, int fd, const struct sockaddr *sa, socklen_t len,
                     uint64_t ud)
{
    EPOLL_OR(mtlb_io_epoll_connect(io, fd, sa, len, ud));
    struct io_uring_sqe *sqe = sqe_get(io);
    io_uring_prep_connect(sqe, fd, sa, len);
    io_uring_sqe_set_data64(sqe, ud);
}

void mtlb_io_poll(struct mtlb_io *io, int fd, unsigned events, uint64_t ud)
{
    EPOLL_OR(mtlb_io_epoll_poll(io, fd, events, ud));
    struct io_uring_sqe *sqe = sqe_get(io);
    io_uring_prep_poll_add(sqe, fd, events);
    io_uring_sqe_set_data64(sqe, ud);
}

void mtlb_io_splice(struct mtlb_io *io, int fd_in, int fd_out, uint32_t len, uint64_t ud)
{
    EPOLL_OR(mtlb_io_epoll_splice(io, fd_in, fd_out, len, ud));
    struct io_uring_sqe *sqe = sqe_get(io);
    /* NONBLOCK: the ring's worker thread must not sit in a socket wait (the caller polls
     * first), and a cancel then never has to interrupt a blocked splice. */
    io_uring_prep_splice(sqe, fd_in, -1, fd_out, -1, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    io_uring_sqe_set_data64(sqe, ud);
}

void mtlb_io_timeout(struct mtlb_io *io, struct __kernel_timespec *ts, uint64_t ud)
{
    EPOLL_OR(mtlb_io_epoll_timeout(io, ts, ud));
    struct io_uring_sqe *sqe = sqe_get(io);
    io_uring_prep_timeout(sqe, ts, 0, 0);
    io_uring_sqe_set_data64(sqe, ud);
}

void mtlb_io_cancel(struct mtlb_io *io, uint64_t ud)
{
    EPOLL_OR(mtlb_io_epoll_cancel(io, ud));
    struct io_uring_sqe *sqe = sqe_get(io);
    io_uring_prep_cancel64(sqe, ud, 0);
    io_uring_sqe_set_data64(sqe, 0);
}

int mtlb_io_wait(struct mtlb_io *io, struct mtlb_io_cqe *out, unsigned max)
{
    if (io->backend == MTLB_IO_EPOLL) {
        return mtlb_io_epoll_wait(io, out, max);
    }
    for (;;) {
        int rc = io_uring_submit_and_wait(&io->ring, 1);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
            return rc;
        }
        struct io_uring_cqe *cqes[128];
        unsigned want = max < 128 ? max : 128;
        unsigned n = io_uring_peek_batch_cqe(&io->ring, cqes, want);
        unsigned k = 0;
        for (unsigned i = 0; i < n; i++) {
            if (cqes[i]->user_data != 0) {
                out[k].user_data = cqes[i]->user_data;
                out[k].res = cqes[i]->res;
                k++;
            }
        }
        io_uring_cq_advance(&io->ring, n);
        if (k > 0) {
            return (int)k;
        }
    }
}
