/* Configuration snapshots: builds everything one configuration file implies (SSL_CTXs, kTLS
 * choice, backend addresses, health state, stats slots, admin texts), counts its users and
 * frees it with the last one. Building is the `mtlb -t` path and the reload path alike; the
 * publication (srv->snap, srv->generation) is server.c's. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtlb/admin.h"
#include "mtlb/config.h"
#include "mtlb/ktls.h"
#include "mtlb/log.h"
#include "mtlb/route.h"
#include "mtlb/prom.h"
#include "mtlb/resolve.h"
#include "mtlb/server.h"
#include "mtlb/snapshot.h"
#include "mtlb/stats.h"
#include "mtlb/tls.h"

int mtlb_resolve(const char *host, uint16_t port, int flags, struct mtlb_addr *out)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = flags | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char portstr[8];

    snprintf(portstr, sizeof(portstr), "%u", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        return rc == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
    }
    memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    snprintf(out->text, sizeof(out->text), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
    freeaddrinfo(res);
    return 0;
}

static int resolve_backends(struct mtlb_snapshot *s, char *err, size_t errlen)
{
    const struct mtlb_config *cfg = s->cfg;

    s->backend_addrs = calloc(cfg->n_backends, sizeof(*s->backend_addrs));
    if (s->backend_addrs == NULL) {
        return -ENOMEM;
    }
    for (size_t p = 0; p < cfg->n_backends; p++) {
        const struct mtlb_backend_cfg *b = &cfg->backends[p];
        s->backend_addrs[p] = calloc(b->n_servers, sizeof(struct mtlb_addr));
        if (s->backend_addrs[p] == NULL) {
            return -ENOMEM;
        }
        for (size_t k = 0; k < b->n_servers; k++) {
            if (mtlb_resolve(b->servers[k].host, b->servers[k].port, 0, &s->backend_addrs[p][k]) !=
                0) {
                snprintf(err, errlen, "%s: backend %s: cannot resolve server %s", cfg->path,
                         b->name, b->servers[k].host);
                return -EINVAL;
            }
        }
    }
    return 0;
}

/* HTTPS to backends: a client context per pool with tls (a reload builds new ones, so changed
 * files take effect there). verify: false is allowed but never silent. */
static int init_backend_tls(struct mtlb_snapshot *s, char *err, size_t errlen)
{
    const struct mtlb_config *cfg = s->cfg;

    s->backend_tls = calloc(cfg->n_backends, sizeof(*s->backend_tls));
    if (s->backend_tls == NULL) {
        return -ENOMEM;
    }
    for (size_t p = 0; p < cfg->n_backends; p++) {
        const struct mtlb_backend_cfg *b = &cfg->backends[p];
        int rc = mtlb_backend_tls_init(&s->backend_tls[p], b, p, cfg->path, err, errlen);
        if (rc != 0) {
            return rc;
        }
        if (b->tls.enabled && !b->tls.verify) {
            mtlb_log(MTLB_LOG_WARN,
                     "event=backend_tls_unverified backend=%s where=\"%s:%u\" reason=\"tls.verify "
                     "is false: the servers' certificates and names are not checked\"",
                     b->name, cfg->path, b->tls.verify_line);
        }
    }
    return 0;
}

static int init_tls(struct mtlb_snapshot *s, char *err, size_t errlen)
{
    const struct mtlb_config *cfg = s->cfg;

    s->tls = calloc(cfg->n_listeners, sizeof(*s->tls));
    if (s->tls == NULL) {
        return -ENOMEM;
    }
    for (size_t l = 0; l < cfg->n_listeners; l++) {
        int rc = mtlb_tls_listener_init(&s->tls[l], &cfg->listeners[l], err, errlen);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* Decides per listener whether kTLS may be used and configures its SSL_CTXs accordingly:
 * allowed -> keylog callback for the TLS 1.3 receive key; not allowed -> OpenSSL is told not
 * to try. `ktls: on` without a kernel TLS ULP is an error. */
static int init_ktls(struct mtlb_snapshot *s, int probe, const char *why, char *err, size_t errlen)
{
    const struct mtlb_config *cfg = s->cfg;

    s->ktls = calloc(cfg->n_listeners, sizeof(*s->ktls));
    if (s->ktls == NULL) {
        return -ENOMEM;
    }
    for (size_t l = 0; l < cfg->n_listeners; l++) {
        const struct mtlb_listener_cfg *lc = &cfg->listeners[l];
        if (lc->ktls == MTLB_KTLS_ON && probe != 0) {
            snprintf(err, errlen, "%s: listener %s:%u has ktls: on, but %s", cfg->path,
                     lc->bind_host, lc->bind_port, why);
            return -ENOTSUP;
        }
        s->ktls[l] = lc->ktls != MTLB_KTLS_OFF && probe == 0;
        for (size_t d = 0; d < s->tls[l].n_domains; d++) {
            SSL_CTX *ctx = s->tls[l].domains[d].ctx;
            if (s->ktls[l]) {
                SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
                SSL_CTX_set_keylog_callback(ctx, mtlb_ktls_keylog);
            } else {
                SSL_CTX_clear_options(ctx, SSL_OP_ENABLE_KTLS);
            }
        }
    }
    return 0;
}

/* The verdict of the server with the same pool name and address in prev, if any: a reload
 * does not make a server that the checks found down look up for an interval. */
static bool prev_down(const struct mtlb_snapshot *prev, const char *pool, const char *addr)
{
    for (size_t p = 0; prev != NULL && p < prev->cfg->n_backends; p++) {
        if (strcmp(prev->cfg->backends[p].name, pool) != 0) {
            continue;
        }
        for (size_t k = 0; k < prev->cfg->backends[p].n_servers; k++) {
            if (strcmp(prev->backend_addrs[p][k].text, addr) == 0) {
                return atomic_load(&prev->health[p][k].down);
            }
        }
    }
    return false;
}

static int init_health(struct mtlb_snapshot *s, const struct mtlb_snapshot *prev)
{
    const struct mtlb_config *cfg = s->cfg;

    s->health = calloc(cfg->n_backends, sizeof(*s->health));
    if (s->health == NULL) {
        return -ENOMEM;
    }
    for (size_t p = 0; p < cfg->n_backends; p++) {
        size_t n = cfg->backends[p].n_servers;
        s->health[p] = calloc(n, sizeof(**s->health));
        if (s->health[p] == NULL) {
            return -ENOMEM;
        }
        for (size_t k = 0; k < n; k++) {
            bool down = prev_down(prev, cfg->backends[p].name, s->backend_addrs[p][k].text);
            atomic_init(&s->health[p][k].down, down);
            atomic_init(&s->health[p][k].gen, 0);
        }
    }
    return 0;
}

static int init_slots(struct mtlb_snapshot *s, struct mtlb_stats_slots *slots, char *err,
                      size_t errlen)
{
    const struct mtlb_config *cfg = s->cfg;

    s->domain_slot = calloc(cfg->n_listeners, sizeof(*s->domain_slot));
    s->server_slot = calloc(cfg->n_backends, sizeof(*s->server_slot));
    if (s->domain_slot == NULL || s->server_slot == NULL) {
        return -ENOMEM;
    }
    for (size_t l = 0; l < cfg->n_listeners; l++) {
        const struct mtlb_listener_cfg *lc = &cfg->listeners[l];
        s->domain_slot[l] = calloc(lc->n_domains, sizeof(size_t));
        if (s->domain_slot[l] == NULL) {
            return -ENOMEM;
        }
        for (size_t d = 0; slots != NULL && d < lc->n_domains; d++) {
            const struct mtlb_domain_cfg *dc = &lc->domains[d];
            long slot = mtlb_stats_slot_domain(slots, l, dc->n_names ? dc->names[0] : "-");
            if (slot < 0) {
                snprintf(err, errlen,
                         "restart needed: more domains than the %zu metrics slots reserved at "
                         "start",
                         slots->cap_domains);
                return -ENOSPC;
            }
            s->domain_slot[l][d] = (size_t)slot;
        }
    }
    for (size_t p = 0; p < cfg->n_backends; p++) {
        const struct mtlb_backend_cfg *b = &cfg->backends[p];
        s->server_slot[p] = calloc(b->n_servers, sizeof(size_t));
        if (s->server_slot[p] == NULL) {
            return -ENOMEM;
        }
        for (size_t k = 0; slots != NULL && k < b->n_servers; k++) {
            long slot =
                mtlb_stats_slot_server(slots, b->name, b->servers[k].host, b->servers[k].port);
            if (slot < 0) {
                snprintf(err, errlen,
                         "restart needed: more backend servers than the %zu metrics slots "
                         "reserved at start",
                         slots->cap_servers);
                return -ENOSPC;
            }
            s->server_slot[p][k] = (size_t)slot;
        }
    }
    return 0;
}

/* Each listener's routes compiled against this configuration's pools. */
static int init_routes(struct mtlb_snapshot *s, char *err, size_t errlen)
{
    const struct mtlb_config *cfg = s->cfg;

    s->routes = calloc(cfg->n_listeners, sizeof(*s->routes));
    if (s->routes == NULL) {
        return -ENOMEM;
    }
    for (size_t l = 0; l < cfg->n_listeners; l++) {
        const struct mtlb_listener_cfg *lc = &cfg->listeners[l];
        int rc = mtlb_route_compile(lc->routes, lc->n_routes, cfg->backends, cfg->n_backends,
                                    &s->routes[l]);
        if (rc != 0) {
            snprintf(err, errlen, "%s: listeners[%zu].routes: %s", cfg->path, l, strerror(-rc));
            return rc;
        }
    }
    return 0;
}

static int build(struct mtlb_snapshot *s, const struct mtlb_snapshot *prev,
                 struct mtlb_stats_slots *slots, int probe, const char *why, char *err,
                 size_t errlen)
{
    int rc = init_tls(s, err, errlen);
    /* Random ticket keys outlive reloads: sessions of unchanged domains keep resuming (a key
     * file is read again instead: that is how its keys rotate). */
    for (size_t l = 0;
         rc == 0 && prev != NULL && l < s->cfg->n_listeners && l < prev->cfg->n_listeners; l++) {
        mtlb_tls_listener_keep_tickets(&s->tls[l], &prev->tls[l]);
    }
    if (rc == 0) {
        rc = resolve_backends(s, err, errlen);
    }
    if (rc == 0) {
        rc = mtlb_resolve_create(&s->resolve, s->cfg, s->backend_addrs, mtlb_now_ms());
    }
    if (rc == 0) {
        rc = init_backend_tls(s, err, errlen);
    }
    if (rc == 0) {
        rc = init_ktls(s, probe, why, err, errlen);
    }
    if (rc == 0) {
        rc = init_health(s, prev);
    }
    if (rc == 0) {
        rc = init_routes(s, err, errlen);
    }
    if (rc == 0 && s->cfg->admin.bind_host != NULL) {
        mtlb_admin_config_text(s->cfg, &s->config_text);
        mtlb_admin_cert_metrics(s->cfg, s->tls, &s->certs);
        rc = s->config_text.failed || s->certs.failed ? -ENOMEM : 0;
    }
    /* Last: a snapshot that fails before this takes no slot. */
    if (rc == 0) {
        rc = init_slots(s, slots, err, errlen);
    }
    return rc;
}

int mtlb_snapshot_create(struct mtlb_config *cfg, const struct mtlb_snapshot *prev,
                         struct mtlb_stats_slots *slots, int ktls_probe, const char *ktls_why,
                         struct mtlb_snapshot **out, char *err, size_t errlen)
{
    struct mtlb_snapshot *s = calloc(1, sizeof(*s));

    *out = NULL;
    if (s == NULL) {
        mtlb_config_destroy(cfg);
        return -ENOMEM;
    }
    atomic_init(&s->refs, 1);
    s->cfg = cfg;
    mtlb_prom_init(&s->config_text);
    mtlb_prom_init(&s->certs);
    int rc = build(s, prev, slots, ktls_probe, ktls_why, err, errlen);
    if (rc != 0) {
        if (err[0] == '\0') {
            snprintf(err, errlen, "%s: %s", cfg->path, strerror(-rc));
        }
        mtlb_snapshot_put(s);
        return rc;
    }
    *out = s;
    return 0;
}

void mtlb_snapshot_get(struct mtlb_snapshot *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

static void free_rows(void **rows, size_t n)
{
    for (size_t i = 0; rows != NULL && i < n; i++) {
        free(rows[i]);
    }
    free(rows);
}

void mtlb_snapshot_put(struct mtlb_snapshot *s)
{
    if (s == NULL || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    const struct mtlb_config *cfg = s->cfg;
    for (size_t l = 0; s->tls != NULL && l < cfg->n_listeners; l++) {
        mtlb_tls_listener_fini(&s->tls[l]);
    }
    for (size_t l = 0; s->routes != NULL && l < cfg->n_listeners; l++) {
        mtlb_route_destroy(s->routes[l]);
    }
    free(s->routes);
    free(s->tls);
    for (size_t p = 0; s->backend_tls != NULL && p < cfg->n_backends; p++) {
        mtlb_backend_tls_fini(&s->backend_tls[p]);
    }
    free(s->backend_tls);
    free(s->ktls);
    mtlb_resolve_destroy(s->resolve);
    free_rows((void **)s->backend_addrs, cfg->n_backends);
    free_rows((void **)s->health, cfg->n_backends);
    free_rows((void **)s->domain_slot, cfg->n_listeners);
    free_rows((void **)s->server_slot, cfg->n_backends);
    mtlb_prom_fini(&s->config_text);
    mtlb_prom_fini(&s->certs);
    mtlb_config_destroy(s->cfg);
    free(s);
}

const struct mtlb_addr *mtlb_snapshot_addr(const struct mtlb_snapshot *s, size_t pool,
                                           size_t server)
{
    return s->resolve != NULL ? mtlb_resolve_addr(s->resolve, pool, server)
                              : &s->backend_addrs[pool][server];
}

struct mtlb_snapshot *mtlb_snapshot_current(struct mtlb_server *srv)
{
    pthread_mutex_lock(&srv->snap_lock);
    struct mtlb_snapshot *s = srv->snap;
    mtlb_snapshot_get(s);
    pthread_mutex_unlock(&srv->snap_lock);
    return s;
}

uint64_t mtlb_snapshot_generation(struct mtlb_server *srv)
{
    return atomic_load_explicit(&srv->generation, memory_order_acquire);
}
