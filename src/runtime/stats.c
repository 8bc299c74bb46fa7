/* Per-thread counter blocks for the admin thread: layout (where each listener's domains and
 * each pool's servers sit), allocation, and the owner-side increments. No locks: each block has
 * one writer (stats.h). */
#include <errno.h>
#include <stdlib.h>

#include "mtlb/runtime.h"
#include "mtlb/stats.h"

int mtlb_stats_layout_init(struct mtlb_stats_layout *l, const struct mtlb_config *cfg)
{
    l->n_listeners = cfg->n_listeners;
    l->n_pools = cfg->n_backends;
    l->domain_base = calloc(cfg->n_listeners + 1, sizeof(size_t));
    l->server_base = calloc(cfg->n_backends + 1, sizeof(size_t));
    if (l->domain_base == NULL || l->server_base == NULL) {
        mtlb_stats_layout_fini(l);
        return -ENOMEM;
    }
    l->n_domains = 0;
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        l->domain_base[i] = l->n_domains;
        l->n_domains += cfg->listeners[i].n_domains;
    }
    l->n_servers = 0;
    for (size_t p = 0; p < cfg->n_backends; p++) {
        l->server_base[p] = l->n_servers;
        l->n_servers += cfg->backends[p].n_servers;
    }
    return 0;
}

void mtlb_stats_layout_fini(struct mtlb_stats_layout *l)
{
    free(l->domain_base);
    free(l->server_base);
    l->domain_base = l->server_base = NULL;
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

/* Worker-side helpers (runtime.h): the worker is the owner of w->stats. */

void mtlb_stats_exchange(struct mtlb_worker *w, size_t listener, int proto, int status,
                         uint64_t started_us)
{
    uint64_t us = started_us != 0 && started_us <= w->now_us ? w->now_us - started_us : 0;
    mtlb_stats_request(w->stats, listener, proto, status, us);
}

void mtlb_stats_backend(struct mtlb_worker *w, size_t pool, size_t server, int status)
{
    size_t i = w->srv->layout.server_base[pool] + server;
    mtlb_stats_code(&w->stats->be_requests[i * MTLB_STATS_CODES], status);
}

void mtlb_stats_connect_failed(struct mtlb_worker *w, size_t pool, size_t server)
{
    mtlb_counter_add(&w->stats->be_connect_failures[w->srv->layout.server_base[pool] + server], 1);
}
