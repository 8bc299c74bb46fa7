/* Per-thread counter blocks for the admin thread: the slots of domains and servers (stable
 * across reloads), allocation, and the owner-side increments. No locks: each block has
 * one writer (stats.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtlb/config.h"
#include "mtlb/edge.h"
#include "mtlb/ktls.h"
#include "mtlb/prom.h"
#include "mtlb/require.h"
#include "mtlb/snapshot.h"
#include "mtlb/stats.h"
#include "mtlb/stats_hooks.h"
#include "mtlb/tls.h"
#include "mtlb/worker_types.h"

#define MIN_SLOTS 64

int mtlb_stats_slots_init(struct mtlb_stats_slots *s, const struct mtlb_config *cfg)
{
    size_t nd = 0, ns = 0;

    for (size_t i = 0; i < cfg->n_listeners; i++) {
        nd += cfg->listeners[i].n_domains;
    }
    for (size_t p = 0; p < cfg->n_backends; p++) {
        ns += cfg->backends[p].n_servers;
    }
    s->cap_domains = 4 * nd > MIN_SLOTS ? 4 * nd : MIN_SLOTS;
    s->cap_servers = 4 * ns > MIN_SLOTS ? 4 * ns : MIN_SLOTS;
    s->domains = calloc(s->cap_domains, sizeof(*s->domains));
    s->servers = calloc(s->cap_servers, sizeof(*s->servers));
    atomic_init(&s->n_domains, 0);
    atomic_init(&s->n_servers, 0);
    if (s->domains == NULL || s->servers == NULL) {
        mtlb_stats_slots_fini(s);
        return -ENOMEM;
    }
    return 0;
}

void mtlb_stats_slots_fini(struct mtlb_stats_slots *s)
{
    free(s->domains);
    free(s->servers);
    s->domains = NULL;
    s->servers = NULL;
}

long mtlb_stats_slot_domain(struct mtlb_stats_slots *s, size_t listener, const char *name)
{
    size_t n = atomic_load_explicit(&s->n_domains, memory_order_relaxed);

    for (size_t i = 0; i < n; i++) {
        if (s->domains[i].listener == listener && strcmp(s->domains[i].name, name) == 0) {
            return (long)i;
        }
    }
    if (n == s->cap_domains) {
        return -ENOSPC;
    }
    s->domains[n].listener = listener;
    snprintf(s->domains[n].name, sizeof(s->domains[n].name), "%s", name);
    atomic_store_explicit(&s->n_domains, n + 1, memory_order_release);
    return (long)n;
}

long mtlb_stats_slot_server(struct mtlb_stats_slots *s, const char *pool, const char *host,
                            uint16_t port)
{
    size_t n = atomic_load_explicit(&s->n_servers, memory_order_relaxed);
    char name[sizeof(s->servers[0].server)];

    snprintf(name, sizeof(name), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s->servers[i].pool, pool) == 0 && strcmp(s->servers[i].server, name) == 0) {
            return (long)i;
        }
    }
    if (n == s->cap_servers) {
        return -ENOSPC;
    }
    snprintf(s->servers[n].pool, sizeof(s->servers[n].pool), "%s", pool);
    memcpy(s->servers[n].server, name, sizeof(name));
    atomic_store_explicit(&s->n_servers, n + 1, memory_order_release);
    return (long)n;
}

static mtlb_counter *counters(size_t n, bool *ok)
{
    /* All-zero bytes are a valid zero for a lock-free 64-bit atomic. */
    mtlb_counter *c = calloc(n ? n : 1, sizeof(*c));
    *ok = *ok && c != NULL;
    return c;
}

struct mtlb_stats *mtlb_stats_create(const struct mtlb_stats_layout *l)
{
    struct mtlb_stats *s = calloc(1, sizeof(*s));
    bool ok = s != NULL;

    if (!ok) {
        return NULL;
    }
    size_t lt = l->n_listeners * MTLB_TRANSPORT_COUNT;
    s->conn_opened = counters(lt, &ok);
    s->conn_closed = counters(lt, &ok);
    s->requests = counters(l->n_listeners * MTLB_STATS_PROTOS * MTLB_STATS_CODES, &ok);
    s->be_requests = counters(l->n_servers * MTLB_STATS_CODES, &ok);
    s->be_connect_failures = counters(l->n_servers, &ok);
    s->be_down = counters(l->n_servers, &ok);
    s->handshakes = counters(l->n_domains * 4, &ok);
    s->verify = counters(l->n_domains * 3, &ok);
    s->verify_fail = counters(l->n_domains * MTLB_VR_COUNT, &ok);
    s->refused = counters(l->n_listeners * MTLB_EDGE_REASONS, &ok);
    s->denied = counters(l->n_listeners * MTLB_STATS_DENIED_REASONS, &ok);
    if (!ok) {
        mtlb_stats_destroy(s);
        return NULL;
    }
    return s;
}

void mtlb_stats_destroy(struct mtlb_stats *s)
{
    if (s == NULL) {
        return;
    }
    free(s->conn_opened);
    free(s->conn_closed);
    free(s->requests);
    free(s->be_requests);
    free(s->be_connect_failures);
    free(s->be_down);
    free(s->handshakes);
    free(s->verify);
    free(s->verify_fail);
    free(s->refused);
    free(s->denied);
    free(s);
}

void mtlb_stats_code(mtlb_counter *per_code, int status)
{
    if (status >= 100 && status < 100 + MTLB_STATS_CODES) {
        mtlb_counter_add(&per_code[status - 100], 1);
    }
}

void mtlb_stats_request(struct mtlb_stats *s, size_t listener, int proto, int status,
                        uint64_t duration_us)
{
    if (status < 100 || status >= 100 + MTLB_STATS_CODES) {
        return; /* no answer was given: neither a request count nor a duration */
    }
    mtlb_stats_code(&s->requests[(listener * MTLB_STATS_PROTOS + (size_t)proto) * MTLB_STATS_CODES],
                    status);
    mtlb_counter_add(&s->duration[mtlb_prom_bucket(duration_us)], 1);
    mtlb_counter_add(&s->duration_sum_us, duration_us);
}

/* Worker-side helpers (stats_hooks.h): the worker is the owner of w->stats. */

void mtlb_stats_exchange(struct mtlb_worker *w, size_t listener, int proto, int status,
                         uint64_t started_us)
{
    uint64_t us = started_us != 0 && started_us <= w->now_us ? w->now_us - started_us : 0;
    mtlb_stats_request(w->stats, listener, proto, status, us);
}

void mtlb_stats_backend(struct mtlb_worker *w, const struct mtlb_snapshot *snap, size_t pool,
                        size_t server, int status)
{
    size_t i = snap->server_slot[pool][server];
    mtlb_stats_code(&w->stats->be_requests[i * MTLB_STATS_CODES], status);
}

void mtlb_stats_connect_failed(struct mtlb_worker *w, const struct mtlb_snapshot *snap, size_t pool,
                               size_t server)
{
    mtlb_counter_add(&w->stats->be_connect_failures[snap->server_slot[pool][server]], 1);
}

const char *mtlb_stats_denied_name(int reason)
{
    if (reason == MTLB_STATS_DENIED_ADDRESS) {
        return "address";
    }
    return reason >= 0 ? mtlb_require_reason_name((enum mtlb_require_reason)reason) : "";
}

void mtlb_stats_denied(struct mtlb_worker *w, size_t listener, int reason)
{
    if (reason >= 0 && reason < MTLB_STATS_DENIED_REASONS) {
        mtlb_counter_add(&w->stats->denied[listener * MTLB_STATS_DENIED_REASONS + (size_t)reason],
                         1);
    }
}
