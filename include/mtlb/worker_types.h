/* A worker thread's state (struct mtlb_worker) and the per-snapshot runtime of its pools
 * (struct mtlb_pool_set). Types only: every runtime module reaches its worker; the loop's
 * functions are in worker.h, its services in loop.h, blocks.h and pool_set.h. */
#ifndef MTLB_WORKER_TYPES_H
#define MTLB_WORKER_TYPES_H

#include <linux/time_types.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtlb/balance.h"
#include "mtlb/client_types.h"
#include "mtlb/h2.h"
#include "mtlb/io.h"
#include "mtlb/ktls.h"
#include "mtlb/loop.h"
#include "mtlb/request_id.h"
#include "mtlb/splice.h"

struct mtlb_server;
struct mtlb_snapshot;
struct mtlb_stats;
struct mtlb_upstream;
struct ssl_session_st; /* OpenSSL's SSL_SESSION */
struct mtlb_handoff_queue;

struct mtlb_pool_rt {
    struct mtlb_rr rr;
    struct mtlb_health *health;
    struct mtlb_upstream **idle; /* idle list head per server */
    /* Per server: the last TLS session it issued (HTTPS backends), offered on reconnect;
     * NULL until one arrives. */
    struct ssl_session_st **sessions;
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
    struct mtlb_splice_pipes pipes;   /* spare pipes for response bodies moved by splice */
    struct mtlb_request_id_gen reqid; /* X-Request-Id for requests without a usable one */
};

#endif
