/* Zero-copy body relay (splice.c): moves a known number of bytes from one socket to another
 * through a pipe with splice (io_uring's IORING_OP_SPLICE, or splice(2) on the epoll worker),
 * so the bytes never enter a userspace buffer; with kTLS on the destination the kernel
 * encrypts them on their way out, or (kTLS on the source) decrypts them on their way in. The
 * owner (the HTTP/1.1 response relay in response.c, the request body relay in splice_req.c)
 * decides with mtlb_splice_wanted, embeds a struct mtlb_splice and hears back through struct
 * mtlb_splice_ops; the module never names the owner's type. Pipes come from a small pool per
 * worker. Worker thread only. */
#ifndef MTLB_SPLICE_H
#define MTLB_SPLICE_H

#include <stdbool.h>
#include <stdint.h>

#include "mtlb/ktls.h"
#include "mtlb/loop.h"

struct mtlb_io;

/* A body shorter than this after what arrived with the head goes through rbuf as before: the
 * three ring operations of a splice round cost more than copying one buffer's worth. */
#define MTLB_SPLICE_MIN_BODY (32u * 1024u)
/* Spare pipes a worker keeps (a pipe is held by one body at a time, for its whole relay). */
#define MTLB_SPLICE_SPARE_PIPES 8
/* Pipe size asked for with F_SETPIPE_SZ (the default fs.pipe-max-size); a refusal keeps the
 * kernel's default (64 KiB). Memory is only used by bytes in flight. */
#define MTLB_SPLICE_PIPE_SIZE (1u << 20)
/* Send buffer the destination gets at least (SO_SNDBUF, capped by net.core.wmem_max): see
 * sndbuf_raise in splice.c. */
#define MTLB_SPLICE_SNDBUF (256 * 1024)

/* The rule, pure: may a body move by splice (response, or request with backend_tls false
 * until the backend is known)? enabled: the listener's `splice`
 * setting; the client's transport must leave the bytes as they are on the wire to the
 * kernel (kTLS both ways, or plain HTTP); the backend connection plain TCP (no TLS layer to
 * decrypt); framing Content-Length (body_length true) with at least MTLB_SPLICE_MIN_BODY
 * bytes still to come. Chunked, until-close, HTTP/2 and userspace TLS keep the copy path. */
bool mtlb_splice_wanted(bool enabled, enum mtlb_transport transport, bool backend_tls,
                        bool body_length, uint64_t body_left);

struct mtlb_splice_pipes {
    int fds[MTLB_SPLICE_SPARE_PIPES][2];
    unsigned n;
};
/* Closes the worker's spare pipes (worker fini). */
void mtlb_splice_pipes_fini(struct mtlb_splice_pipes *p);

/* Events from a relay to its owner. */
struct mtlb_splice_ops {
    /* n bytes reached out_fd (the owner counts them: access log, metrics). */
    void (*moved)(void *owner, uint32_t n);
    /* The relay now waits on in_fd (the backend: true) or on out_fd (the client): the owner
     * runs the matching timer. */
    void (*waiting)(void *owner, bool on_in);
    /* The relay ended, no operation left in flight: res 0 when every byte was delivered;
     * otherwise -errno and in_side tells which socket failed (-EPIPE: in_fd ended early).
     * -ECANCELED after mtlb_splice_stop. */
    void (*done)(void *owner, int res, bool in_side);
};

struct mtlb_splice {
    const struct mtlb_splice_ops *ops;
    void *owner;
    struct mtlb_io *io;
    struct mtlb_splice_pipes *pipes;
    struct mtlb_op op; /* one operation in flight at a time */
    int in_fd, out_fd;
    int pipe[2];
    uint32_t pipe_cap;
    uint32_t in_pipe; /* bytes in the pipe, not yet written to out_fd */
    uint64_t left;    /* bytes still to take from in_fd */
    uint8_t step;
    bool fill;
    bool active, stopped;
};

/* mtlb_splice_start's flags. MTLB_SPLICE_FILL: a round splices into the pipe again and again
 * (no poll between) while the source gives bytes, the pipe has room and the body has bytes
 * left, and only then splices the pipe out. Without it a round is one splice in, then out. On
 * a kTLS source each splice in hands over one record (16 KiB at most), so without it a round
 * moves one record and costs more than the copy path's 32 KiB reads; with it, as many records
 * as have arrived (up to the pipe's size). The request body relay uses it. The response relay
 * does not: its destination is the kTLS client, and larger splices into a kTLS socket make the
 * Linux 6.1 stall that splice.c's sndbuf_raise describes more likely. */
#define MTLB_SPLICE_FILL 1u

/* Starts moving len bytes from in_fd to out_fd (both non-blocking sockets); flags:
 * MTLB_SPLICE_* above. 0: the relay runs and ops->done will come (from a completion, never
 * from inside this call); -errno (no pipe: -EMFILE ...) and nothing started: the owner keeps
 * the copy path. Never more than len bytes are taken from in_fd. */
int mtlb_splice_start(struct mtlb_splice *s, struct mtlb_io *io, struct mtlb_splice_pipes *pipes,
                      int in_fd, int out_fd, uint64_t len, unsigned flags,
                      const struct mtlb_splice_ops *ops, void *owner);
/* The owner is going away: no new operation is posted; the one in flight (the caller shuts
 * the sockets down so it ends soon) completes into done(-ECANCELED). Harmless when idle. */
void mtlb_splice_stop(struct mtlb_splice *s);

#endif
