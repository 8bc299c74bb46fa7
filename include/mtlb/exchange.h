/* The exchange with a backend, written once for HTTP/1.1 and HTTP/2: choosing the server,
 * taking a pooled or new connection, sending the request bytes its owner provides, reading the
 * response head (1xx, 101, oversized, unparsable), the retry rule, timeouts, EOF and resets,
 * the 502/503/504 decisions, the access record's timings, stats and passive health.
 * The owner (an HTTP/1.1 client, an HTTP/2 stream) embeds a struct mtlb_exchange and plugs in
 * through struct mtlb_exchange_ops: the exchange never names the owner's type. Worker thread. */
#ifndef MTLB_EXCHANGE_H
#define MTLB_EXCHANGE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "mtlb/access.h"
#include "mtlb/balance.h"
#include "mtlb/h1.h"
#include "mtlb/upstream.h"

struct mtlb_worker;
struct mtlb_pool_set;
struct mtlb_buf;

/* Why mtlb answered 5xx itself, for the access log's "error" field (HAProxy's termination
 * flags). Set where the failure is seen, cleared when a backend response head arrives;
 * named by mtlb_upstream_error_name. */
enum mtlb_up_error {
    MTLB_UPE_NONE = 0,
    MTLB_UPE_NO_SERVER_UP,   /* no server to try: 503 */
    MTLB_UPE_CONNECT_FAILED, /* refused, unreachable or connect timeout: 502/503 */
    MTLB_UPE_TIMEOUT,        /* no response within backend_response: 504 */
    MTLB_UPE_RESET,          /* connection closed or reset before a response: 502 */
    MTLB_UPE_BAD_RESPONSE,   /* unparsable or unmappable response head: 502 */
};

/* Events and questions that come up from the exchange to its owner. Each gets the owner
 * pointer given to mtlb_exchange_init. */
struct mtlb_exchange_ops {
    /* Request bytes to send now into iov[0 .. max): the count, 0 when nothing is ready. The
     * bytes stay valid and unchanged until `sent` reports them. */
    int (*fill)(void *owner, struct iovec *iov, int max);
    /* n bytes of what fill gave were written: 1 when more can be sent now, 0 when the whole
     * request is out, -1 when the rest waits on the client. */
    int (*sent)(void *owner, uint32_t n);
    /* Has every byte of the request gone to the backend? (the backend's timer runs then) */
    bool (*request_done)(void *owner);
    /* Is the request still whole in the owner's buffers? `after_write`: will it still be
     * once it was written (asked before a pooled connection is risked); else: is everything
     * written so far still held (asked when a retry is considered). */
    bool (*held)(void *owner, bool after_write);
    /* A connection is ready (new or pooled, first try or retry): send from the first byte. */
    void (*restart)(void *owner);
    /* Optional (may be NULL): the rest of the request waits on the client; pull more. */
    void (*more_body)(void *owner);
    /* Optional: a 100 Continue the owner asked for (expect_continue): relay it. 0, or -1
     * when the owner was aborted meanwhile. Other 1xx never come up. */
    int (*interim)(void *owner, int status);
    /* The final response head (resp: slices into the connection's buffer, already consumed
     * from it): write it the owner's way. 0; -EBADMSG when it cannot be expressed (the
     * exchange then answers 502 bad_response); another -errno when the owner already failed
     * or aborted itself. */
    int (*head)(void *owner, const struct mtlb_h1_message *resp);
    /* Body bytes are in mtlb_exchange_rbuf, or the body ended at EOF (ex->up_eof). */
    void (*data)(void *owner);
    /* mtlb answers status itself (502, 503, 504): ex->up_error says why. The exchange has
     * already let go of its connection. */
    void (*fail)(void *owner, int status);
    /* The backend stopped in the middle of the response body: the owner aborts. */
    void (*truncated)(void *owner);
};

/* What the exchange must know of the request: slices stay valid for the whole exchange. */
struct mtlb_exchange_req {
    struct mtlb_slice method;
    struct mtlb_h1_header *headers; /* room for the response head's headers */
    struct mtlb_access_rec *rec;    /* timings of the attempt that answered */
    uint64_t conn_id;               /* for log lines */
    int max_headers;
    int stream_id;        /* HTTP/2 stream, 0 for HTTP/1.1 */
    bool expect_continue; /* relay a 100 Continue */
};

struct mtlb_exchange {
    const struct mtlb_exchange_ops *ops;
    void *owner;
    struct mtlb_worker *w;
    struct mtlb_pool_set *ps; /* the owner holds it for the exchange's life */
    size_t pool;
    struct mtlb_upstream *up; /* the current attempt's connection, or NULL */
    struct mtlb_rr_skip tried;
    struct mtlb_exchange_req req;
    uint8_t up_error; /* enum mtlb_up_error of this request */
    bool is_head;
    bool head_done;              /* a final response head arrived and went to the owner */
    bool up_eof;                 /* the backend closed after the head */
    struct mtlb_h1_message resp; /* the final response head (valid once head_done) */
};

/* Once per embedding object. */
void mtlb_exchange_init(struct mtlb_exchange *ex, const struct mtlb_exchange_ops *ops, void *owner);
/* Frees what the exchange allocated (a large pool's tried set); lets go of any connection. */
void mtlb_exchange_fini(struct mtlb_exchange *ex);
/* Prepares a new request towards pool of ps (held by the owner meanwhile). */
void mtlb_exchange_begin(struct mtlb_exchange *ex, struct mtlb_worker *w, struct mtlb_pool_set *ps,
                         size_t pool, const struct mtlb_exchange_req *req);
/* Chooses a server and attaches a connection; on a ready (pooled) one the owner's restart
 * runs and sending starts. When no server may be tried, the owner's fail(503) runs. */
void mtlb_exchange_start(struct mtlb_exchange *ex);
/* Sends what the owner's fill provides, unless a send is in flight or still connecting. */
void mtlb_exchange_send(struct mtlb_exchange *ex);
/* Posts the next response read (and runs the backend's timer as the exchange stands). */
void mtlb_exchange_recv(struct mtlb_exchange *ex);
/* Is a connection attached and past its connect, with no send in flight? */
bool mtlb_exchange_can_send(const struct mtlb_exchange *ex);
/* The response bytes read so far (head consumed once head_done); NULL without connection. */
struct mtlb_buf *mtlb_exchange_rbuf(struct mtlb_exchange *ex);
/* The owner read the body past the exchange (a splice) and the backend connection ended
 * before the body did (err 0: EOF, else -errno): the same as a read that met it, so the
 * owner's truncated runs (log line, up_error). */
void mtlb_exchange_body_ended(struct mtlb_exchange *ex, int err);
/* The exchange is over: the connection goes back to its pool when `reusable` (the response
 * said keep-alive) and it is clean (request all written, nothing extra read, no EOF), else it
 * is closed. Safe without a connection. */
void mtlb_exchange_finish(struct mtlb_exchange *ex, bool reusable);
/* "host:port" of the current connection's server, or "-". */
const char *mtlb_exchange_upstream_name(const struct mtlb_exchange *ex);

#endif
