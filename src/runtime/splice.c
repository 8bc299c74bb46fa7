/* Zero-copy body relay: socket -> pipe -> socket with splice, one ring operation at a time
 * (poll the source, splice into the pipe, splice out of it, poll the destination when it is
 * full), and the worker's small pool of pipes. It knows sockets and the ring, never the HTTP
 * exchange or the client: its owner starts it and hears back through struct mtlb_splice_ops. */
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

/* Linux before 6.5 has no splice_eof for kTLS: a splice into a kTLS socket that stops part-way
 * (EAGAIN after some pipe buffers went with "more to come") leaves its TLS record open, and
 * that record's pages and ciphertext (up to about 33 KiB) count against the send buffer while
 * they are in no TCP segment; the records it completed went to TCP with "more to come" too
 * (MSG_SENDPAGE_NOTLAST), which TCP queues without sending until an ACK or a later send. With
 * nothing in flight no ACK comes, and a send buffer that small is never writable again.
 * sndbuf_raise: the initial buffer (tcp_wmem, 16 KiB) is raised at the start (only raised,
 * never lowered). sndbuf_unstick: TCP's memory pressure later shrinks any buffer the
 * application did not set, down to 4,608 bytes (sk_stream_moderate_sndbuf); seen in the kTLS
 * VM: an autotuned 2.6 MB buffer shrunk so while another relay's client held memory, one
 * 16,406-byte record queued unsent, no timer, for 30 s until client_timeout. So after an
 * EAGAIN with nothing in flight the buffer is set again (which wakes the socket's writers).
 * Tried in the VM and left, each also with TCP memory exhausted (tcp_mem at its use, a paused
 * reader, 4 downloads a run): every buffer locked at its autotuned size (SO_SNDBUFFORCE) or at
 * 416 KiB with splices cut to a quarter of it ended the stall but crashed Debian's 6.1 kernel
 * (a BUG in tcp_write_xmit) in 3 of 3 runs, as did a TCP_NODELAY push after each EAGAIN; at
 * 416 KiB with whole splices, 410,150 bytes (25 records) sat queued unsent (4 of 12 repeats,
 * and 3 of 4 downloads under exhaustion stalled). This code: no crash in 3 runs, all 12
 * downloads complete. So only a stuck socket gets its buffer set. */
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

    if (ioctl(fd, SIOCOUTQ, &queued) != 0 || ioctl(fd, SIOCOUTQNSD, &unsent) != 0 ||
        queued != unsent || getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &cur, &len) != 0 ||
        cur >= want) {
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

static void after_in(struct mtlb_splice *s, int res)
{
    if (res == -EAGAIN) {
        post(s, STEP_POLL_IN); /* the poll saw bytes another reader took, or only a FIN */
    } else if (res <= 0) {
        finish(s, res == 0 ? -EPIPE : res, true);
    } else {
        s->left -= (uint64_t)res;
        s->in_pipe += (uint32_t)res;
        post(s, STEP_OUT);
    }
}

static void after_out(struct mtlb_splice *s, int res)
{
    if (res == -EAGAIN) {
        if (sndbuf_unstick(s->out_fd)) {
            static struct mtlb_ratelimit rl;
            mtlb_log_rl(&rl, 1, MTLB_LOG_WARN,
                        "event=splice_unstuck fd=%d why=\"send buffer shrunk below one TLS record "
                        "with nothing in flight (TCP memory pressure)\"",
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
                      int in_fd, int out_fd, uint64_t len, const struct mtlb_splice_ops *ops,
                      void *owner)
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
