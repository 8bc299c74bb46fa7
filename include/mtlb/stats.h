/* Per-thread counters read by the admin thread (GET /metrics, /healthz, /readyz).
 * Every worker and acceptor owns one struct mtlb_stats and is its only writer: an increment
 * is a relaxed load and a relaxed store of the owner's own counter (a plain add on x86, no
 * lock prefix, no cache line shared with another writer). The admin thread reads with
 * relaxed loads and sums over threads, so a scrape sees each counter at some recent value;
 * nothing on the request path takes a lock or a shared atomic. */
#ifndef MTLB_STATS_H
#define MTLB_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "mtlb/config.h"
#include "mtlb/ktls.h"
#include "mtlb/prom.h"
#include "mtlb/tls.h"

typedef _Atomic uint64_t mtlb_counter;

static inline void mtlb_counter_add(mtlb_counter *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline void mtlb_counter_set(mtlb_counter *c, uint64_t v)
{
    atomic_store_explicit(c, v, memory_order_relaxed);
}

static inline uint64_t mtlb_counter_get(mtlb_counter *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* Status codes are counted exactly: index code - 100 for 100..599. */
#define MTLB_STATS_CODES 500
enum { MTLB_STATS_H1 = 0, MTLB_STATS_H2, MTLB_STATS_PROTOS };

/* Where a listener's domains and a pool's servers sit in the flat arrays below. Built once
 * by the main thread before any thread starts, read-only afterwards. */
struct mtlb_stats_layout {
    size_t n_listeners;
    size_t n_domains;    /* over all listeners */
    size_t *domain_base; /* [listener]: index of its first domain */
    size_t n_pools;
    size_t n_servers;    /* over all pools */
    size_t *server_base; /* [pool]: index of its first server */
};

/* A thread's heartbeat after it has exited: /healthz no longer expects it. */
#define MTLB_STATS_EXITED UINT64_MAX

struct mtlb_stats {
    mtlb_counter heartbeat_ms; /* mtlb_now_ms() of the loop's last turn; 0 before the first */
    /* workers */
    mtlb_counter *conn_opened; /* [listener][transport] */
    mtlb_counter *conn_closed; /* [listener][transport] */
    mtlb_counter *requests;    /* [listener][proto][code - 100] */
    mtlb_counter duration[MTLB_PROM_BUCKETS + 1];
    mtlb_counter duration_sum_us;
    mtlb_counter *be_requests;         /* [server][code - 100] */
    mtlb_counter *be_connect_failures; /* [server] */
    mtlb_counter *be_down;             /* [server]: 1 while this worker has it marked down */
    /* acceptors */
    mtlb_counter *handshakes;  /* [domain][ok=0/failed=1][resumed] */
    mtlb_counter *verify;      /* [domain][enum mtlb_verify] */
    mtlb_counter *verify_fail; /* [domain][enum mtlb_verify_reason] */
};

/* Main thread. layout_init: 0 or -ENOMEM; stats_create: NULL on allocation failure. */
int mtlb_stats_layout_init(struct mtlb_stats_layout *l, const struct mtlb_config *cfg);
void mtlb_stats_layout_fini(struct mtlb_stats_layout *l);
struct mtlb_stats *mtlb_stats_create(const struct mtlb_stats_layout *l);
void mtlb_stats_destroy(struct mtlb_stats *s);

/* Owner thread only. */
void mtlb_stats_request(struct mtlb_stats *s, size_t listener, int proto, int status,
                        uint64_t duration_us);
void mtlb_stats_code(mtlb_counter *per_code, int status); /* per_code[status - 100] += 1 */

#endif
