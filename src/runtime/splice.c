/* Zero-copy body relay: socket -> pipe -> socket with splice, one ring operation at a time
 * (poll the source, splice into the pipe (again while it gives, with MTLB_SPLICE_FILL), splice
 * out of it, poll the destination when it is full), and the worker's small pool of pipes. It knows
 * sockets and the ring, never the HTTP exchange or the client: its owner starts it and hears back
 * through struct mtlb_splice_ops. */
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mtlb/io.h"
#include "mtlb/log.h"
#include "mtlb/splice.h"

enum step { STEP_POLL_IN = 0, STEP_IN, STEP_OUT, STEP_POLL_OUT };

bool mtlb_splice_wanted(bool enabled, enum mtlb_transport transport, bool backend_tls,
                        bool body_length, uint64_t body_left)
{
    bool kernel_frames = transport == MTLB_TRANSPORT_KTLS || transport == MTLB_TRANSPORT_PLAIN;
    return enabled && kernel_frames && !backend_tls && body_length &&
           body_left >= MTLB_SPLICE_MIN_BODY;
}

/* ---- the pipe pool ---- */

static int pipe_take(struct mtlb_splice_pipes *p, int fds[2], uint32_t *cap)
{
    if (p->n > 0) {
        p->n--;
        fds[0] = p->fds[p->n][0];
        fds[1] = p->fds[p->n][1];
    } else if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1) {
        return -errno;
    } else {
        /* Larger pipes mean fewer splice rounds per body; a refusal (a lowered
         * fs.pipe-max-size) leaves the default size, which still works. */
        (void)fcntl(fds[1], F_SETPIPE_SZ, (int)MTLB_SPLICE_PIPE_SIZE);
    }
    int sz = fcntl(fds[1], F_GETPIPE_SZ);
    *cap = sz > 0 ? (uint32_t)sz : 65536u;
    return 0;
}

/* A pipe that still holds bytes (a relay cut short) is closed: the next body must not find
 * someone else's bytes in front of its own. */
static void pipe_give(struct mtlb_splice_pipes *p, int fds[2], bool clean)
{
    if (clean && p->n < MTLB_SPLICE_SPARE_PIPES) {
        p->fds[p->n][0] = fds[0];
        p->fds[p->n][1] = fds[1];
        p->n++;
    } else {
        close(fds[0]);
        close(fds[1]);
    }
    fds[0] = fds[1] = -1;
}

void mtlb_splice_pipes_fini(struct mtlb_splice_pipes *p)
{
    while (p->n > 0) {
        p->n--;
        close(p->fds[p->n][0]);
        close(p->fds[p->n][1]);
    }
}

/* ---- the destination socket ---- */

/* Linux before 6.5 has no splice_eof for kTLS. A splice hands the pipe's buffers to the socket
 * each but the last with "more to come" (MSG_SENDPAGE_NOTLAST), and the kTLS layer passes that
 * on with every record it completes, so TCP queues those records without sending them until an
 * ACK or a later send. A splice that stops part-way (EAGAIN) thus leaves a TLS record open (up
 * to about 33 KiB with its ciphertext, in no TCP segment) and what it queued unsent; with
 * nothing else in flight no ACK comes and the socket is never writable again.
 * - sndbuf_raise: the initial buffer (tcp_wmem, 16 KiB) is raised at the start (only raised).
 * - sndbuf_unstick: TCP's memory pressure shrinks any buffer the application did not set, down
 *   to 4,608 bytes (sk_stream_moderate_sndbuf). Seen in the kTLS VM (splice_backend_reset_epoll
 *   repeated with the acceptor yield in: 5 and 3 of 12 stalled for 30 s, until client_timeout):
 *   another relay's gone client held memory, an autotuned 2.6 MB buffer shrank to 4,608 bytes,
 *   one 16,406-byte record sat queued unsent, no timer. After an EAGAIN with no byte in flight
 *   in a buffer below 256 KiB the buffer is set again, which wakes the socket's writers. With
 *   it, 1 of 12 traced repeats stalled and 0 of 24 untraced: once set to 416 KiB, a 1 MiB splice
 *   into the empty buffer can still queue it full unsent (410,150 bytes, 25 records, seen).
 * Tried and left: splicing at most a quarter of the buffer at once (0 of 24 stalled), a lock of
 * every buffer (SO_SNDBUFFORCE at its autotuned size), and a TCP_NODELAY push after each EAGAIN:
 * with TCP memory exhausted in the VM (tcp_mem at its use, a paused reader, 4 downloads a run)
 * each crashed Debian's 6.1 kernel (a BUG in tcp_write_xmit on an incoming ACK): quarter
 * splices in 1 of 2 runs, with a 416 KiB lock 2 of 2, the forced lock 1 of 1, the push with it
 * 2 of 2 plain repeats. This code (and the one before it) completed every such download
 * without a crash (4 runs). A stalled body ends at client_body; a crashed kernel ends all. */
static void sndbuf_raise(int fd)
{
    int cur = 0, want = MTLB_SPLICE_SNDBUF;
    socklen_t len = sizeof(cur);

    if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &cur, &len) == 0 && cur < want) {
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof(want));
    }
}

/* Returns true when it set the buffer: the socket was stuck (no byte in flight: every byte TCP
 * holds is unsent) with a buffer below what sndbuf_raise gives. */
static bool sndbuf_unstick(int fd)
{
    int queued = 0, unsent = 0, cur = 0, want = MTLB_SPLICE_SNDBUF;
    socklen_t len = sizeof(cur);

    /* The buffer first: after sndbuf_raise it is almost always large enough, one syscall. */
    if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &cur, &len) != 0 || cur >= want ||
        ioctl(fd, SIOCOUTQ, &queued) != 0 || ioctl(fd, SIOCOUTQNSD, &unsent) != 0 ||
        queued != unsent) {
        return false;
    }
    return setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof(want)) == 0;
}

/* ---- the relay ---- */

static void on_done(struct mtlb_op *op, int res);

static void post(struct mtlb_splice *s, enum step st)
{
    uint64_t ud = mtlb_op_ud(&s->op);

    s->step = (uint8_t)st;
    switch (st) {
    case STEP_POLL_IN:
        s->ops->waiting(s->owner, true);
        mtlb_io_poll(s->io, s->in_fd, POLLIN, ud);
        break;
    case STEP_IN: {
        uint64_t room = s->pipe_cap - s->in_pipe;
        uint32_t n = (uint32_t)(s->left < room ? s->left : room);
        mtlb_io_splice(s->io, s->in_fd, s->pipe[1], n, ud);
        break;
    }
    case STEP_OUT:
        s->ops->waiting(s->owner, false);
        mtlb_io_splice(s->io, s->pipe[0], s->out_fd, s->in_pipe, ud);
        break;
    case STEP_POLL_OUT:
        mtlb_io_poll(s->io, s->out_fd, POLLOUT, ud);
        break;
    }
}

static void finish(struct mtlb_splice *s, int res, bool in_side)
{
    s->active = false;
    pipe_give(s->pipes, s->pipe, res == 0 && s->in_pipe == 0);
    s->ops->done(s->owner, res, in_side);
}

/* The pipe is empty after each round: take more from the source, or end. */
static void next_round(struct mtlb_splice *s)
{
    if (s->left == 0) {
        finish(s, 0, false);
        return;
    }
    post(s, STEP_POLL_IN);
}

/* With fill, a splice in that gave bytes is followed by another while the pipe has room (in
 * bytes; a pipe full of partly used pages first says EAGAIN, which ends the fill too) and the
 * body has bytes left: `left` caps every request, so a pipelined next request stays in the
 * socket. EAGAIN ends a fill (the source has no more for now, or the pipe is full); a failure
 * or an early end during one ends the relay as at the first splice: the body cannot complete,
 * and the pipe's bytes go with its pipe (finish closes a pipe that is not empty). */
static void after_in(struct mtlb_splice *s, int res)
{
    if (res > 0) {
        s->left -= (uint64_t)res;
        s->in_pipe += (uint32_t)res;
        if (s->fill && s->left > 0 && s->in_pipe < s->pipe_cap) {
            post(s, STEP_IN);
        } else {
            post(s, STEP_OUT);
        }
    } else if (res == -EAGAIN && s->in_pipe > 0) {
        post(s, STEP_OUT);
    } else if (res == -EAGAIN) {
        post(s, STEP_POLL_IN); /* the poll saw bytes another reader took, or only a FIN */
    } else {
        finish(s, res == 0 ? -EPIPE : res, true);
    }
}

static void after_out(struct mtlb_splice *s, int res)
{
    if (res == -EAGAIN) {
        if (sndbuf_unstick(s->out_fd)) {
            static struct mtlb_ratelimit rl;
            mtlb_log_rl(&rl, 1, MTLB_LOG_WARN,
                        "event=splice_unstuck fd=%d why=\"send buffer shrunk below 256 KiB with "
                        "nothing in flight (TCP memory pressure); set again\"",
                        s->out_fd);
        }
        post(s, STEP_POLL_OUT);
    } else if (res <= 0) {
        finish(s, res == 0 ? -EPIPE : res, false);
    } else {
        s->in_pipe -= (uint32_t)res;
        s->ops->moved(s->owner, (uint32_t)res);
        if (s->in_pipe > 0) {
            post(s, STEP_OUT);
        } else {
            next_round(s);
        }
    }
}

static void on_done(struct mtlb_op *op, int res)
{
    struct mtlb_splice *s = mtlb_container_of(op, struct mtlb_splice, op);

    if (s->stopped) {
        finish(s, -ECANCELED, false);
        return;
    }
    switch ((enum step)s->step) {
    case STEP_POLL_IN:
        /* A hang-up is read by the splice itself: EOF (0) or the socket's error. */
        if (res < 0) {
            finish(s, res, true);
        } else {
            post(s, STEP_IN);
        }
        break;
    case STEP_IN:
        after_in(s, res);
        break;
    case STEP_OUT:
        after_out(s, res);
        break;
    case STEP_POLL_OUT:
        if (res < 0) {
            finish(s, res, false);
        } else {
            post(s, STEP_OUT);
        }
        break;
    }
}

int mtlb_splice_start(struct mtlb_splice *s, struct mtlb_io *io, struct mtlb_splice_pipes *pipes,
                      int in_fd, int out_fd, uint64_t len, unsigned flags,
                      const struct mtlb_splice_ops *ops, void *owner)
{
    int fds[2];
    uint32_t cap = 0;
    int rc = pipe_take(pipes, fds, &cap);

    if (rc != 0) {
        return rc;
    }
    sndbuf_raise(out_fd);
    *s = (struct mtlb_splice){
        .ops = ops,
        .owner = owner,
        .io = io,
        .pipes = pipes,
        .op.done = on_done,
        .in_fd = in_fd,
        .out_fd = out_fd,
        .pipe = {fds[0], fds[1]},
        .pipe_cap = cap,
        .left = len,
        .fill = (flags & MTLB_SPLICE_FILL) != 0,
        .active = true,
    };
    post(s, STEP_POLL_IN);
    return 0;
}

void mtlb_splice_stop(struct mtlb_splice *s)
{
    if (s->active) {
        s->stopped = true;
    }
}
