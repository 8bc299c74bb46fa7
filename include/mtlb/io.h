/* The worker's completion-based I/O: io_uring, or an epoll emulation of the same contract
 * where io_uring is unavailable (kernel.io_uring_disabled, container seccomp profiles).
 * Worker thread only. Every submitted operation completes exactly once, through
 * mtlb_io_wait, never from inside the submitting call, with io_uring's result convention
 * (bytes or 0 on success, -errno on failure). At most one read-side operation (recv, recvmsg,
 * read, a poll for input, a splice out of a socket) and one write-side operation (send,
 * sendmsg, connect, a poll for output, a splice into a socket) may be pending per fd.
 * Buffers and msghdrs must stay valid until the completion. */
#ifndef MTLB_IO_H
#define MTLB_IO_H

#include <linux/time_types.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "mtlb/config.h" /* enum mtlb_io_backend */

struct mtlb_io_cqe {
    uint64_t user_data;
    int res;
};

struct mtlb_io; /* opaque; one per worker */

/* Creates the backend (AUTO probes io_uring first). Returns 0 or -errno; on success
 * *out is set and mtlb_io_backend_of tells which one runs. */
int mtlb_io_create(enum mtlb_io_backend want, unsigned entries, struct mtlb_io **out);
void mtlb_io_destroy(struct mtlb_io *io);
enum mtlb_io_backend mtlb_io_backend_of(const struct mtlb_io *io);
const char *mtlb_io_backend_name(enum mtlb_io_backend b); /* "io_uring", "epoll", "auto" */
/* Sets up and tears down a small io_uring: 0 if this process may use io_uring, else the
 * -errno that mtlb_io_create(MTLB_IO_AUTO) fell back on (-EPERM, -ENOSYS ...). Any thread. */
int mtlb_io_uring_probe(void);

void mtlb_io_recv(struct mtlb_io *io, int fd, void *buf, uint32_t len, uint64_t ud);
void mtlb_io_recvmsg(struct mtlb_io *io, int fd, struct msghdr *msg, uint64_t ud);
void mtlb_io_read(struct mtlb_io *io, int fd, void *buf, uint32_t len, uint64_t ud);
/* Sends use MSG_NOSIGNAL. */
void mtlb_io_send(struct mtlb_io *io, int fd, const void *buf, uint32_t len, uint64_t ud);
void mtlb_io_sendmsg(struct mtlb_io *io, int fd, const struct msghdr *msg, uint64_t ud);
/* fd must be a non-blocking stream socket; completes with 0 or -errno (-ECONNREFUSED ...). */
void mtlb_io_connect(struct mtlb_io *io, int fd, const struct sockaddr *sa, socklen_t len,
                     uint64_t ud);
/* One-shot readiness wait: completes with the revents mask (POLLIN, POLLOUT, POLLHUP ...)
 * once fd is ready for `events` (POLLIN or POLLOUT, not both), or -errno. */
void mtlb_io_poll(struct mtlb_io *io, int fd, unsigned events, uint64_t ud);
/* One non-blocking splice(2) of up to len bytes from fd_in to fd_out, one of which is a pipe
 * (SPLICE_F_MOVE | SPLICE_F_NONBLOCK): completes with the bytes moved, 0 at fd_in's EOF, or
 * -errno; -EAGAIN when it would block (it never waits: the caller polls the socket first).
 * The socket side counts as its read side (fd_in) or write side (fd_out). io_uring runs it as
 * IORING_OP_SPLICE (in the ring's worker threads), epoll calls splice(2) at once. */
void mtlb_io_splice(struct mtlb_io *io, int fd_in, int fd_out, uint32_t len, uint64_t ud);
/* One-shot relative timeout: completes with -ETIME after *ts (which must stay valid). */
void mtlb_io_timeout(struct mtlb_io *io, struct __kernel_timespec *ts, uint64_t ud);
/* Cancels the pending operation submitted with user_data ud: it completes with -ECANCELED
 * (or its real result if it had already finished). The cancel itself produces no completion. */
void mtlb_io_cancel(struct mtlb_io *io, uint64_t ud);

/* Submits what is queued and waits until at least one completion is available; copies up to
 * max completions into out. Returns the count (>= 1), or -errno (-EINTR may be retried). */
int mtlb_io_wait(struct mtlb_io *io, struct mtlb_io_cqe *out, unsigned max);

#endif
