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
#include "mtlb/require.h"
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

/* Reasons of a route's refusal (403), the reason label of mtlb_requests_denied_total and the
 * access log's "denied": a require: condition (enum mtlb_require_reason, 0 ..
 * MTLB_REQUIRE_REASONS - 1), or the route's allow/deny address lists. */
#define MTLB_STATS_DENIED_ADDRESS MTLB_REQUIRE_REASONS
#define MTLB_STATS_DENIED_REASONS (MTLB_REQUIRE_REASONS + 1)
/* "verify", "subject", "issuer", "san", "fingerprint", "serial", "address" (static); "" out of
 * range. Any thread. */
const char *mtlb_stats_denied_name(int reason);

/* Status codes are counted exactly: index code - 100 for 100..599. */
#define MTLB_STATS_CODES 500
enum { MTLB_STATS_H1 = 0, MTLB_STATS_H2, MTLB_STATS_PROTOS };

/* Stable places for domains and servers in the flat arrays below. The per-thread blocks are
 * allocated once at start and cannot grow under their writers, so each (listener, domain name)
 * and (pool name, server address) gets a slot for the life of the process: a snapshot maps its
 * domains and servers to slots (mtlb_snapshot: domain_slot, server_slot), a name that comes
 * back after a reload gets its old slot (its counters continue), and a reload that would need
 * more slots than the capacity fixed at start is refused. Appended by the thread that loads
 * configurations only (serialized by the reload mutex); the admin thread reads n_* with
 * acquire and the entries below it, which never change once published. */
struct mtlb_stats_domain_slot {
    size_t listener;
    char name[256]; /* the domain's first name, "-" without one */
};
struct mtlb_stats_server_slot {
    char pool[128];
    char server[300]; /* "host:port", "[v6]:port" */
};
struct mtlb_stats_slots {
    size_t cap_domains, cap_servers;
    struct mtlb_stats_domain_slot *domains;
    struct mtlb_stats_server_slot *servers;
    atomic_size_t n_domains, n_servers;
};

/* Sizes of the per-thread arrays: listeners (fixed for the process) and slot capacities. */
struct mtlb_stats_layout {
    size_t n_listeners;
    size_t n_domains; /* slot capacity */
    size_t n_servers; /* slot capacity */
};

/* Main thread, at start: capacity max(64, 4 x what cfg has) for each. 0 or -ENOMEM. */
int mtlb_stats_slots_init(struct mtlb_stats_slots *s, const struct mtlb_config *cfg);
void mtlb_stats_slots_fini(struct mtlb_stats_slots *s);
/* The slot of a domain / a server, appended when new: the slot, or -ENOSPC when full. */
long mtlb_stats_slot_domain(struct mtlb_stats_slots *s, size_t listener, const char *name);
long mtlb_stats_slot_server(struct mtlb_stats_slots *s, const char *pool, const char *host,
                            uint16_t port);

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
    /* response bodies relayed by splice (splice.h), and their bytes */
    mtlb_counter spliced_bodies;
    mtlb_counter spliced_bytes;
    mtlb_counter spliced_req_bodies; /* request bodies, client -> backend (splice_req.c) */
    mtlb_counter spliced_req_bytes;
    /* acceptors */
    mtlb_counter *handshakes;  /* [domain][ok=0/failed=1][resumed] */
    mtlb_counter *verify;      /* [domain][enum mtlb_verify] */
    mtlb_counter *verify_fail; /* [domain][enum mtlb_verify_reason] */
    /* acceptors: connections the edge policy closed, [listener][enum mtlb_edge_reason] */
    mtlb_counter *refused;
    /* workers: requests a route refused (403), [listener][MTLB_STATS_DENIED_REASONS].
     * By listener only: listeners are fixed for the process, routes are not (a route label
     * would need slots like domains'); the access log names the route. */
    mtlb_counter *denied;
};

/* Main thread: NULL on allocation failure. */
struct mtlb_stats *mtlb_stats_create(const struct mtlb_stats_layout *l);
void mtlb_stats_destroy(struct mtlb_stats *s);

/* Owner thread only. */
void mtlb_stats_request(struct mtlb_stats *s, size_t listener, int proto, int status,
                        uint64_t duration_us);
void mtlb_stats_code(mtlb_counter *per_code, int status); /* per_code[status - 100] += 1 */

#endif
