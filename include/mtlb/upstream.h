/* Connections from a worker to backend servers (upstream.c; upstream_pool.c): connect, the
 * per-server idle pools, sendmsg of the bytes the owner provides, response reads into the
 * connection's buffer. A connection reports to its owner (an exchange, exchange.h) through the ops
 * table given when it was acquired and never names the owner's type; an idle pooled connection has
 * no owner. Worker thread only. */
#ifndef MTLB_UPSTREAM_H
#define MTLB_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "mtlb/buf.h"
#include "mtlb/loop.h"
#include "mtlb/retry.h"

struct mtlb_worker;
struct mtlb_pool_set;
struct mtlb_rr_skip;
struct mtlb_upstream_ops;
struct mtlb_up_tls;

/* ---- a pooled connection to one backend server (worker-owned) ---- */
struct mtlb_upstream {
    struct mtlb_worker *w;
    /* Its owner (an exchange) and the events it gets; owner NULL when idle in the pool. */
    const struct mtlb_upstream_ops *ops;
    void *owner;
    struct mtlb_upstream *pool_next, *pool_prev; /* idle list of its server */
    struct mtlb_upstream *grave_next;            /* freed at the end of the loop iteration */
    struct mtlb_timer timer;
    struct mtlb_op connect_op, recv_op, send_op; /* its ring operations (loop.h) */
    int fd;
    /* The pool set (and so the snapshot) it was connected under, one reference: pool and
     * server index into it for the connection's whole life. */
    struct mtlb_pool_set *ps;
    size_t pool, server; /* backend pool and server index */
    int pending;         /* ops in flight on the ring */
    bool connecting, recv_pending, send_pending, reused, dead, closing;
    /* The current exchange (reset when one attaches): request bytes written, and whether any
     * response byte arrived. They tell the retry rule how far the exchange got. */
    uint64_t sent;
    bool got_response;
    uint64_t requests;    /* served on this connection */
    uint64_t connect_at;  /* us: when its connect was started (access log) */
    struct mtlb_buf rbuf; /* response bytes from the backend */
    struct msghdr msg;
    struct iovec iov[5];
    /* HTTPS to the backend (upstream_tls.h), NULL for plain HTTP. While `connecting`, after
     * the TCP connect, `handshaking` is set; `deferred`: the read in flight is a zero timeout
     * standing for plaintext that was already buffered. */
    struct mtlb_up_tls *tls;
    bool handshaking, deferred;
};

/* Events from a connection to its owner; `owner` is the pointer given to acquire. With TLS
 * the owner sees plaintext only, exactly as without: connected comes after the handshake (a
 * handshake or verification failure is a failed connect, -EPROTO), sent counts request
 * bytes, received counts response bytes in rbuf. */
struct mtlb_upstream_ops {
    /* Request bytes to send now into iov[0 .. max): their count, 0 for none. */
    int (*fill)(void *owner, struct iovec *iov, int max);
    /* The connect finished: 0, or -errno (refused, unreachable ...). */
    void (*connected)(void *owner, int res);
    /* A send finished: bytes written, or -errno. */
    void (*sent)(void *owner, int res);
    /* A read finished: res > 0 bytes were appended to the connection's rbuf; 0 EOF; -errno. */
    void (*received)(void *owner, int res);
    /* The connection's timer ran out (connect or response; u->connecting tells which). */
    void (*timeout)(void *owner);
};

/* Round robin over pool's servers not in *tried (each choice is added to it): attaches an
 * idle pooled connection or starts a new one, owned by (ops, owner) from now on. An idle
 * connection the backend closed or wrote on meanwhile is dropped first (a peek each). 0 and
 * *out, or -EHOSTUNREACH when no server may be tried (mtlb_rr_next_skip's panic rule). */
int mtlb_upstream_acquire(struct mtlb_worker *w, struct mtlb_pool_set *ps, size_t pool,
                          struct mtlb_rr_skip *tried, const struct mtlb_upstream_ops *ops,
                          void *owner, struct mtlb_upstream **out);
/* How far u's current exchange got, for mtlb_retry_allowed (a send in flight counts as
 * written: the kernel may already have passed it on). */
enum mtlb_retry_stage mtlb_upstream_stage(const struct mtlb_upstream *u);
/* Sends what the owner's fill provides (nothing while connecting or a send is in flight).
 * Returns true when a send was started. */
bool mtlb_upstream_send(struct mtlb_upstream *u);
/* Posts a read into rbuf's free space: 1 posted, 0 when rbuf is full (backpressure), -1 when
 * not possible now (read in flight, connecting, closed). */
int mtlb_upstream_recv(struct mtlb_upstream *u);
/* Arms (response) or stops u's timer: the owner decides when the backend is being waited on. */
void mtlb_upstream_wait(struct mtlb_upstream *u, bool waiting);
/* An operation on u->fd that u does not own (a splice of the response body) starts (hold
 * true) or ended (false): u, and so its fd, stays until then even when closed meanwhile. */
void mtlb_upstream_hold(struct mtlb_upstream *u, bool hold);
/* Ends u's ownership: back to its server's idle pool when reusable, else closed. */
void mtlb_upstream_release(struct mtlb_upstream *u, bool reusable);
/* Closes the idle connections of ps (a worker leaving ps for a new snapshot). */
void mtlb_upstream_close_idle(struct mtlb_pool_set *ps);
void mtlb_upstream_close_idle_all(struct mtlb_worker *w);
/* Completions and timer expiry come through the connection's own struct mtlb_op and
 * struct mtlb_timer callbacks (loop.h), set when it is created. */
void mtlb_upstream_destroy(struct mtlb_upstream *u); /* worker.c's graveyard only */
/* Frees the worker's spare receive buffers (mtlb_worker_fini, after the graveyard). */
void mtlb_upstream_spares_free(struct mtlb_worker *w);
/* "host:port" of u's server (in u's own snapshot). */
const char *mtlb_upstream_name(const struct mtlb_upstream *u);
/* The access log's word for e ("no_server_up", ...), or NULL for MTLB_UPE_NONE. */
const char *mtlb_upstream_error_name(int e);

#endif
