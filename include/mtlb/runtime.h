/* Runtime objects shared by the acceptor, handoff, worker, client and upstream modules.
 * Every object here belongs to exactly one thread (named in its comment) and is reached through
 * an explicit context pointer; only struct mtlb_handoff_queue crosses threads. */
#ifndef MTLB_RUNTIME_H
#define MTLB_RUNTIME_H

#include <linux/time_types.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "mtlb/access.h"
#include "mtlb/authority.h"
#include "mtlb/balance.h"
#include "mtlb/buf.h"
#include "mtlb/config.h"
#include "mtlb/exchange.h"
#include "mtlb/h1.h"
#include "mtlb/h2.h"
#include "mtlb/identity.h"
#include "mtlb/io.h"
#include "mtlb/ktls.h"
#include "mtlb/loop.h"
#include "mtlb/retry.h"
#include "mtlb/snapshot.h"
#include "mtlb/stats.h"
#include "mtlb/tls.h"
#include "mtlb/transport.h"

struct mtlb_server;
struct mtlb_admin;
struct mtlb_watch;
struct mtlb_worker;
struct mtlb_pool_set;

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
};

/* ---- one HTTP/2 stream's exchange with a backend (h2_stream.c; worker-owned) ---- */
struct mtlb_h2x {
    struct mtlb_client *c;
    struct mtlb_h2_stream *s; /* NULL once the stream closed */
    struct mtlb_exchange ex;  /* with the backend: connection, retries, response head */
    struct mtlb_timer timer;  /* MTLB_T_H2_STREAM while the stream waits on its client */
    struct mtlb_pool_set *ps; /* the worker's pool set when the stream began (a reference) */
    /* request towards the backend: head, then units of [chunk size][body][CRLF][last chunk] */
    char *head;
    uint32_t head_len;
    bool chunked;     /* body sent with chunked coding */
    bool dropped;     /* body bytes were consumed: the request cannot be sent again */
    uint32_t held;    /* a small whole body, written but kept for a resend until the answer */
    bool req_done;    /* everything of the request went to the backend */
    bool unit_last;   /* the current unit ends the request */
    char pre[20];     /* chunk-size line of the current unit */
    uint32_t pre_len; /* 0 when no unit is being sent */
    uint32_t data_len;
    const char *suf; /* CRLF after chunk data, and/or the last chunk */
    uint32_t suf_len;
    const char *tail; /* request trailers block (last chunk included) */
    uint32_t tail_len;
    uint32_t unit_sent, unit_len; /* bytes of the current unit on the wire / in all */
    bool head_in_unit;
    /* response */
    bool resp_started, resp_done, keepalive;
    uint64_t resp_left;
    struct mtlb_h1_chunked ck;
    char *trailer_buf; /* backend trailer section, collected while decoding */
    size_t trailer_len;
    int status;
    uint64_t resp_bytes, started_ms;
    uint64_t started_us; /* for mtlb_request_duration_seconds */
    char method[16];
    char *path;
    struct mtlb_access_rec rec;
};

/* ---- per-request state of a client connection ---- */
enum mtlb_client_state {
    MTLB_C_HEAD = 0, /* reading a request head */
    MTLB_C_EXCHANGE, /* a request is being proxied */
    MTLB_C_CLOSING,  /* flushing a last response, then close */
    MTLB_C_H2,       /* an HTTP/2 connection: streams carry the exchanges */
};

struct mtlb_client {
    struct mtlb_worker *w;
    struct mtlb_client *next, *prev; /* worker's list of live clients */
    struct mtlb_client *grave_next;  /* freed at the end of the loop iteration */
    struct mtlb_timer timer;
    struct mtlb_op recv_op, send_op; /* its ring operations (loop.h) */
    int fd;
    uint64_t id;
    size_t listener;
    /* The snapshot current at accept (a reference): its SSL_CTX and tls_info.listener stay
     * this connection's TLS settings and buffer sizes until it closes. */
    struct mtlb_snapshot *snap;
    SSL *ssl;
    struct mtlb_tls_conn_info tls_info;
    struct mtlb_identity identity;
    char ip[INET6_ADDRSTRLEN];
    int pending; /* ops in flight on the ring */
    bool recv_pending, send_pending, eof, dead, closing, close_after;
    bool hs_started; /* acceptor: the handshake has run at least once */
    enum mtlb_client_state state;
    enum mtlb_transport transport;
    const struct mtlb_proto_ops *proto; /* chosen by ALPN at start (transport.h) */
    struct mtlb_h2_conn *h2; /* the HTTP/2 session when ALPN chose h2 (state MTLB_C_H2) */
    /* kTLS receive: plaintext lands in rx; the record type of each read comes as a cmsg */
    struct msghdr rmsg;
    struct iovec riov;
    union {
        size_t align; /* cmsghdr alignment */
        char buf[CMSG_SPACE(sizeof(unsigned char))];
    } rcmsg;

    /* tin, rx, tout, up_head and hdrs live in one block taken from the worker's pool while
     * the connection is busy and given back when it is idle (mtlb_client_bufs_*); an idle
     * connection reads its next bytes into idle_buf. */
    void *block;
    bool idle_recv; /* the pending read targets idle_buf */
    char idle_buf[1024];
    struct mtlb_buf tin;  /* ciphertext received, read by the ring BIO */
    struct mtlb_buf tout; /* ciphertext to send, written by the ring BIO */
    struct mtlb_buf rx;   /* plaintext from the client: head, then body bytes */

    /* current request */
    struct mtlb_h1_message req;
    struct mtlb_h1_header *hdrs;
    uint32_t head_len;
    uint32_t head_scanned;  /* read_head: rx bytes searched for the head's end (0: not parsed) */
    uint64_t req_body_left; /* Content-Length bytes not yet taken from rx */
    struct mtlb_h1_chunked req_ck;
    bool req_body_done;
    bool req_retryable; /* whole request is still in rx: may be resent */
    uint32_t req_fwd;   /* bytes of rx (after head_len) that belong to the body in flight */
    /* The worker's pool set when the current request began (a reference, kept until the next
     * request begins or the connection closes): the exchange's indices point into it. */
    struct mtlb_pool_set *ps;
    struct mtlb_exchange ex; /* with the backend: connection, retries, response head */
    char *up_head;           /* rewritten request head, then the response head */
    uint32_t up_head_len, up_head_sent, up_head_cap;
    uint32_t req_sent; /* request bytes sent to the backend in this attempt */

    /* current response (its head: ex.resp) */
    bool resp_head_done, resp_done, resp_keepalive;
    uint64_t resp_body_left;
    struct mtlb_h1_chunked resp_ck;
    uint32_t resp_head_off; /* bytes of up_head already written to the client */
    uint32_t resp_ready;    /* bytes at the front of up->rbuf known to belong to the body */
    bool resp_framed;       /* the end of the response body has been seen */
    bool resp_started;      /* a final response head went to the client: no error page now */
    bool shut_sent;         /* close_notify queued */
    uint64_t resp_bytes;
    int status;
    uint64_t started_ms;
    uint64_t started_us; /* for mtlb_request_duration_seconds */
    struct mtlb_access_rec rec;
};

struct mtlb_pool_rt {
    struct mtlb_rr rr;
    struct mtlb_health *health;
    struct mtlb_upstream **idle; /* idle list head per server */
};

/* A worker's runtime for the pools of one snapshot: round-robin cursors, passive health, idle
 * connections. The worker holds its current set; each exchange and each upstream connection
 * holds the set it started with, so its pool and server indices keep their meaning after a
 * reload. Freed (with its snapshot reference) when the last user lets go. Worker thread. */
struct mtlb_pool_set {
    struct mtlb_snapshot *snap; /* one reference */
    struct mtlb_pool_rt *pools; /* [snap->cfg->n_backends] */
    unsigned users;
};

struct mtlb_counters {
    uint64_t accepted, requests, responses_err, upstream_connects, upstream_reuses, upstream_fail,
        handshakes_failed;
    uint64_t transport[MTLB_TRANSPORT_COUNT]; /* connections started per transport */
};

/* ---- a worker thread: owns one io_uring ring and everything on it ---- */
struct mtlb_worker {
    struct mtlb_server *srv;
    unsigned index;
    pthread_t thread;
    struct mtlb_io *io;
    int wake_fd;
    uint64_t wake_val;
    struct mtlb_op wake_op, tick_op; /* the wake_fd read and the TICK_MS timeout */
    struct __kernel_timespec tick_ts;
    struct mtlb_handoff_queue *queue;
    struct mtlb_timer_list timers[MTLB_T_COUNT];
    /* The snapshot this worker serves new requests with (a reference), re-taken once per loop
     * turn when srv->generation moved, and its pool set. */
    struct mtlb_snapshot *snap;
    struct mtlb_pool_set *ps;
    struct mtlb_client clients; /* sentinel of the live-client list */
    size_t n_clients;
    size_t n_upstreams;
    /* Objects whose last ring op completed: freed after the current batch of completions,
     * so no handler ever touches freed memory on its way out. */
    struct mtlb_client *grave_clients;
    struct mtlb_upstream *grave_upstreams;
    uint64_t now_ms;
    uint64_t now_us;          /* the same instant in microseconds (request durations) */
    uint64_t published_ms;    /* last time backend health went to stats->be_down */
    struct mtlb_stats *stats; /* read by the admin thread */
    bool stopping;
    uint64_t stop_deadline_ms;
    struct mtlb_counters ctr;
    /* Idle clients give their exchange buffers back; this keeps a few warm for reuse. */
    void *spare_blocks; /* singly linked through the first word */
    /* Idle pooled backend connections give their receive buffer back (upstream.c). */
    void *spare_rbufs; /* singly linked through the first word */
    unsigned n_spare_rbufs;
    /* HTTP/2 response heads are built one at a time: shared scratch (h2_stream.c). */
    nghttp2_nv *h2_nva;
    size_t h2_nva_cap; /* entries of h2_nva; grows when a reload raises max_headers */
    char *h2_scratch;
    unsigned n_spare;
    size_t block_size;
    struct mtlb_request_id_gen reqid; /* X-Request-Id for requests without a usable one */
};

struct mtlb_handoff_queue {
    pthread_mutex_t lock;
    struct mtlb_client *head, *tail;
};

/* A resolved backend server address. */
struct mtlb_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    char text[64];
};

/* One server's health as the active checks see it: written by the health-check thread,
 * read lock-free by the workers (relaxed loads; a late read only delays by one request).
 * Without backends[].health, `down` only remembers the last transition that was logged
 * (set by the worker that saw it), so that each one is logged once, not once per worker.
 * One per server of a snapshot (mtlb_snapshot.health). */
struct mtlb_server_health {
    atomic_bool down;
    atomic_uint gen; /* bumped by each passing probe of an up server: workers drop backoff */
};

struct mtlb_healthd; /* the health-check thread (health.c) */

/* The whole process. What a reload can change lives in the current snapshot (snap); the rest
 * (sockets, threads, stats blocks) is fixed at start. */
struct mtlb_server {
    /* Current snapshot: snap_lock guards the pointer while a reference is taken
     * (mtlb_snapshot_current); generation is its generation, polled by the threads. */
    struct mtlb_snapshot *snap;
    pthread_mutex_t snap_lock;
    atomic_uint_fast64_t generation;
    pthread_mutex_t reload_lock; /* one reload at a time (signal, admin, watch) */
    atomic_uint_fast64_t reloads_ok, reloads_failed, last_reload_ok_s;
    int ktls_probe; /* mtlb_ktls_probe at start, and its explanation */
    char ktls_why[128];
    size_t n_listeners;           /* fixed: a change needs a restart */
    struct mtlb_healthd *healthd; /* NULL when no pool has health checks */
    struct mtlb_worker *workers;
    unsigned n_workers;
    int *listen_fds; /* one listening socket per listener, shared by all acceptors */
    struct mtlb_acceptor **acceptors;
    unsigned n_acceptors;
    atomic_bool stop;
    atomic_uint_fast64_t next_conn_id;
    atomic_int live_conns;
    atomic_uint next_worker;
    struct mtlb_stats_slots slots;
    struct mtlb_stats_layout layout;
    struct mtlb_stats **acceptor_stats; /* [n_acceptors], each written by its acceptor */
    atomic_int phase;                   /* enum mtlb_phase, written by main, read by admin */
    struct mtlb_admin *admin;           /* NULL when admin.bind is not set */
    struct mtlb_watch *watch;           /* NULL unless reload.watch (watch.h) */
};

enum mtlb_phase {
    MTLB_PHASE_STARTING = 0, /* threads are being started */
    MTLB_PHASE_READY,        /* every listener accepts */
    MTLB_PHASE_DRAINING,     /* SIGTERM: shutdown_delay, then the drain */
};

/* Counts one finished request (HTTP/1.1 or HTTP/2 stream) in the worker's stats. */
void mtlb_stats_exchange(struct mtlb_worker *w, size_t listener, int proto, int status,
                         uint64_t started_us);
/* Counts a response head received from server (pool, server) of snap. */
void mtlb_stats_backend(struct mtlb_worker *w, const struct mtlb_snapshot *snap, size_t pool,
                        size_t server, int status);
/* Counts a failed or timed-out connect to (pool, server) of snap. */
void mtlb_stats_connect_failed(struct mtlb_worker *w, const struct mtlb_snapshot *snap, size_t pool,
                               size_t server);

/* Resolves host:port (getaddrinfo, AI_NUMERICSERV | flags) into *out. 0 or -errno. */
int mtlb_resolve(const char *host, uint16_t port, int flags, struct mtlb_addr *out);

/* ---- buffers (worker.c) ---- */
/* Exchange buffer blocks (worker.c) of `size` bytes (a connection's size comes from its own
 * snapshot's limits; only the worker's current size is kept for reuse): get returns NULL when
 * out of memory. */
void *mtlb_worker_block_get(struct mtlb_worker *w, size_t size);
void mtlb_worker_block_put(struct mtlb_worker *w, void *block, size_t size);

/* ---- pool sets (worker.c) ---- */
/* Takes a use of ps / gives one back (the last frees it). NULL is ignored by drop. */
void mtlb_pool_set_hold(struct mtlb_pool_set *ps);
void mtlb_pool_set_drop(struct mtlb_pool_set *ps);
/* The worker's current pool set into *slot (held), dropping what *slot held before. */
void mtlb_pool_set_take(struct mtlb_worker *w, struct mtlb_pool_set **slot);
/* Client side (client.c): take before touching rx/tout/up_head/hdrs; 0 or -ENOMEM. */
int mtlb_client_bufs_take(struct mtlb_client *c);
/* Gives the block back when c is idle (nothing buffered, sent or read); else does nothing. */
void mtlb_client_bufs_give(struct mtlb_client *c);
size_t mtlb_client_block_size(const struct mtlb_config *cfg);

void mtlb_worker_bury(struct mtlb_worker *w); /* frees the graveyards */

/* ---- handoff (handoff.c): acceptor -> worker ---- */
void mtlb_handoff_init(struct mtlb_handoff_queue *q);
void mtlb_handoff_fini(struct mtlb_handoff_queue *q);
/* Any thread: appends c and wakes the worker. */
void mtlb_handoff_push(struct mtlb_worker *w, struct mtlb_client *c);
/* Worker thread: takes the whole queue (a list linked through c->next). */
struct mtlb_client *mtlb_handoff_take(struct mtlb_handoff_queue *q);

/* ---- HTTP/1.1 exchange of a client connection (client.c, response.c; its transport and
 * life: transport.h) ---- */
void mtlb_client_fail(struct mtlb_client *c, int status);
/* Drops body bytes the backend has from rx once a send completed (response.c's exchange side). */
void mtlb_client_request_sent(struct mtlb_client *c);
void mtlb_client_on_upstream_data(struct mtlb_client *c);
void mtlb_client_exchange_done(struct mtlb_client *c);
/* The HTTP/1.1 side of c's exchange (response.c), given to mtlb_exchange_init. */
extern const struct mtlb_exchange_ops mtlb_client_exchange_ops;

/* ---- HTTP/2 (h2.c: the connection, mtlb_h2_proto; h2_stream.c: each stream's exchange) ---- */
/* Sends session output now, unless nghttp2 is running (its caller sends it then). */
void mtlb_h2c_kick(struct mtlb_client *c);
/* Stream exchange, called by the session glue (via h2.c) and by upstream.c. */
extern const struct mtlb_h2_ops mtlb_h2x_ops;

/* ---- shared by the HTTP/1.1 and HTTP/2 relays ---- */
/* Resolves req's authority and target (mtlb_authority_from_request) into *ar and applies the
 * 421 rule (mtlb_tls_misdirected) to it: 0 to go on (ar then holds the Host and target the
 * backend must receive), 400 for a request whose authority is refused, 421 for one that names
 * a domain verifying clients differently from c's. The one check for HTTP/1.1 and HTTP/2. */
int mtlb_client_authority(const struct mtlb_client *c, const struct mtlb_h1_message *req,
                          struct mtlb_authority_request *ar);
/* What mtlb_rewrite_request needs for one of c's requests (HTTP/1.1 or an HTTP/2 stream): c's
 * verified identity and address, the configured header policy and ar, the authority resolved
 * by mtlb_client_authority. The result refers to c and ar: use it while both live. */
struct mtlb_rewrite_req mtlb_client_rewrite_req(const struct mtlb_client *c,
                                                const struct mtlb_authority_request *ar);
/* Writes one access line: the connection's TLS facts and identity, then the exchange's. `error`
 * (an enum mtlb_up_error) is written as "error" only on a status of 500 or more;
 * MTLB_UPE_NONE writes nothing. rec without a request id gets a generated one. */
void mtlb_access_log_line(struct mtlb_client *c, int status, uint64_t bytes, uint64_t started_ms,
                          const struct mtlb_upstream *up, struct mtlb_slice method,
                          struct mtlb_slice path, const char *proto, int error,
                          struct mtlb_access_rec *rec);
/* The access line of c's HTTP/1.1 exchange that just ended (with c->status), named by its
 * request line once that was read; counts it and resets c->rec for the next request. */
void mtlb_access_log_exchange(struct mtlb_client *c);

/* ---- upstream connections: mtlb/upstream.h; the exchange: mtlb/exchange.h ---- */

/* ---- active health checks (health.c) ---- */
/* Main thread (or the reloading thread): starts a health-check thread for snap (taking a
 * reference) when some pool of it has backends[].health; it runs until srv->stop is set or
 * mtlb_health_stop. 0 or -errno. */
int mtlb_health_start(struct mtlb_server *srv, struct mtlb_snapshot *snap);
/* Stops (if running), joins and frees the health-check thread. Safe when none was started. */
void mtlb_health_stop(struct mtlb_server *srv);
/* Worker thread: passive health saw server go down (a connect failed or timed out and this
 * worker started a backoff) or come back (a connect succeeded). On a pool without active
 * checks the first worker to see a transition logs server_down/server_up, once for all
 * workers; on a pool with checks the checker alone decides and logs, so this does nothing. */
void mtlb_health_passive(struct mtlb_worker *w, const struct mtlb_snapshot *snap, size_t pool,
                         size_t server, bool down, const char *reason);

/* ---- worker and acceptor threads (worker.c, acceptor.c, server.c) ---- */
int mtlb_worker_init(struct mtlb_worker *w, struct mtlb_server *srv, unsigned index);
void mtlb_worker_fini(struct mtlb_worker *w);
void *mtlb_worker_main(void *arg);
void mtlb_worker_wake(struct mtlb_worker *w);
struct mtlb_acceptor;
/* Main thread: an acceptor that waits on every srv->listen_fds (the server keeps ownership
 * and closes them after the acceptors are joined). 0 or -errno; *out is set either way and
 * must go to mtlb_acceptor_join_destroy. */
int mtlb_acceptor_create(struct mtlb_server *srv, unsigned index, struct mtlb_acceptor **out);
int mtlb_acceptor_start(struct mtlb_acceptor *a);
void mtlb_acceptor_join_destroy(struct mtlb_acceptor *a);

/* Takes ownership of cfg (also on failure). */
int mtlb_server_init(struct mtlb_server *srv, struct mtlb_config *cfg, char *err, size_t errlen);
int mtlb_server_run(struct mtlb_server *srv);
void mtlb_server_fini(struct mtlb_server *srv);
/* Any thread (main on SIGHUP, admin on POST /reload, the watch thread): loads and validates the
 * configuration file again exactly as `mtlb -t` does, and on success publishes it as the new
 * snapshot. Serialized by a mutex. Returns 0 and the new generation in *generation, or -errno
 * with the problem (file, line, reason; or "restart needed: KEY changed") in err; on failure
 * nothing changes. Logs event=reloaded / event=reload_failed itself. trigger: "signal", "admin",
 * "watch". */
int mtlb_server_reload(struct mtlb_server *srv, const char *trigger, uint64_t *generation,
                       char *err, size_t errlen);
/* `mtlb -t`: loads every file the config names. Conditions mtlb would start with but that
 * refuse clients or will soon (mtlb_tls_listener_audit) are printed to stderr as
 * "mtlb: warning: ..." lines and counted in *warnings. 0 or -errno with err set. Takes
 * ownership of cfg. */
int mtlb_server_check(struct mtlb_config *cfg, unsigned *warnings, char *err, size_t errlen);
/* The reload's validation (reload.c): `mtlb -t`'s checks of cfg (taking ownership of it),
 * then the snapshot. 0 and *out, or -errno with err. */
int mtlb_server_build(struct mtlb_server *srv, struct mtlb_config *cfg, bool for_test,
                      struct mtlb_snapshot **out, char *err, size_t errlen);

#endif
