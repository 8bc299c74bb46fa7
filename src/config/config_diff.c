/* Configuration differences for a reload: which keys need a restart, and a one-line summary
 * of what else changed. Pure: reads two parsed configurations; no I/O, no logging. */
#include <stdio.h>
#include <string.h>

#include "mtlb/config_diff.h"

#include "config_int.h"

static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static const char *or_off(const char *s)
{
    return s != NULL ? s : "off";
}

static bool listeners_restart(const struct mtlb_config *o, const struct mtlb_config *n, char *why,
                              size_t whylen)
{
    if (o->n_listeners != n->n_listeners) {
        snprintf(why, whylen, "the number of listeners changed (%zu -> %zu)", o->n_listeners,
                 n->n_listeners);
        return true;
    }
    for (size_t l = 0; l < o->n_listeners; l++) {
        const struct mtlb_listener_cfg *a = &o->listeners[l], *b = &n->listeners[l];
        if (strcmp(a->bind_host, b->bind_host) != 0 || a->bind_port != b->bind_port) {
            snprintf(why, whylen, "listeners[%zu].bind changed (%s:%u -> %s:%u)", l, a->bind_host,
                     a->bind_port, b->bind_host, b->bind_port);
            return true;
        }
    }
    return false;
}

/* The admin's TLS files and client_auth, by path and setting (the admin thread's context is
 * built from them once, at start-up). */
static bool same_admin_tls(const struct mtlb_admin_cfg *o, const struct mtlb_admin_cfg *n)
{
    const struct mtlb_domain_cfg *a = &o->tls, *b = &n->tls;

    return o->tls_on == n->tls_on && same_str(a->certificate, b->certificate) &&
           same_str(a->key, b->key) && same_str(a->truststore, b->truststore) &&
           same_str(a->crl, b->crl) && a->verify_depth == b->verify_depth &&
           a->require_client_auth_eku == b->require_client_auth_eku;
}

bool mtlb_config_diff_restart(const struct mtlb_config *o, const struct mtlb_config *n, char *why,
                              size_t whylen)
{
    static const char *const io[] = {"auto", "uring", "epoll"};

    if (listeners_restart(o, n, why, whylen)) {
        return true;
    }
    if (o->workers != n->workers || o->acceptors != n->acceptors) {
        snprintf(why, whylen, "threads changed (workers %u -> %u, acceptors %u -> %u)", o->workers,
                 n->workers, o->acceptors, n->acceptors);
        return true;
    }
    if (o->io != n->io) {
        snprintf(why, whylen, "io changed (%s -> %s)", io[o->io], io[n->io]);
        return true;
    }
    if (!same_str(o->admin.bind_host, n->admin.bind_host) ||
        o->admin.bind_port != n->admin.bind_port) {
        snprintf(why, whylen, "admin.bind changed (%s:%u -> %s:%u)", or_off(o->admin.bind_host),
                 o->admin.bind_port, or_off(n->admin.bind_host), n->admin.bind_port);
        return true;
    }
    if (!same_admin_tls(&o->admin, &n->admin)) {
        snprintf(why, whylen,
                 "admin TLS changed (admin.certificate, key or client_auth): the "
                 "admin listener's TLS is built at start-up");
        return true;
    }
    if (!same_str(o->log.access_log, n->log.access_log)) {
        snprintf(why, whylen, "log.access_log changed (%s -> %s)", or_off(o->log.access_log),
                 or_off(n->log.access_log));
        return true;
    }
    return false;
}

/* An appender that stops quietly at the end of the buffer. */
struct out {
    char *p;
    size_t len, cap;
};

static void put(struct out *o, const char *s)
{
    int n = snprintf(o->p + o->len, o->cap - o->len, "%s", s);
    o->len = n < 0 || (size_t)n >= o->cap - o->len ? o->cap - 1 : o->len + (size_t)n;
}

/* Opens part `name` ("domains:") before its first item, a comma before the others. */
static void item(struct out *o, bool *opened, const char *name, char sign, const char *what)
{
    char s[2] = {sign, '\0'};
    if (!*opened) {
        put(o, o->len > 0 ? " " : "");
        put(o, name);
        *opened = true;
    } else {
        put(o, ",");
    }
    put(o, s);
    put(o, what);
}

static const char *dname(const struct mtlb_domain_cfg *d)
{
    return d->n_names > 0 ? d->names[0] : "-";
}

static const struct mtlb_domain_cfg *find_domain(const struct mtlb_config *c, const char *name)
{
    for (size_t l = 0; l < c->n_listeners; l++) {
        for (size_t d = 0; d < c->listeners[l].n_domains; d++) {
            if (strcmp(dname(&c->listeners[l].domains[d]), name) == 0) {
                return &c->listeners[l].domains[d];
            }
        }
    }
    return NULL;
}

static bool domain_changed(const struct mtlb_domain_cfg *a, const struct mtlb_domain_cfg *b)
{
    return !same_str(a->certificate, b->certificate) || !same_str(a->key, b->key) ||
           !same_str(a->truststore, b->truststore) || !same_str(a->crl, b->crl) ||
           a->mode != b->mode || a->verify_depth != b->verify_depth ||
           a->require_client_auth_eku != b->require_client_auth_eku ||
           !mtlb_cfg_tls_policy_same(&a->policy, &b->policy) ||
           !same_str(a->ocsp_response, b->ocsp_response) || !same_str(a->backend, b->backend);
}

static void domains(struct out *o, const struct mtlb_config *old, const struct mtlb_config *neu)
{
    bool opened = false;

    for (size_t l = 0; l < neu->n_listeners; l++) {
        for (size_t d = 0; d < neu->listeners[l].n_domains; d++) {
            const struct mtlb_domain_cfg *b = &neu->listeners[l].domains[d];
            const struct mtlb_domain_cfg *a = find_domain(old, dname(b));
            if (a == NULL || domain_changed(a, b)) {
                item(o, &opened, "domains:", a == NULL ? '+' : '~', dname(b));
            }
        }
    }
    for (size_t l = 0; l < old->n_listeners; l++) {
        for (size_t d = 0; d < old->listeners[l].n_domains; d++) {
            const char *name = dname(&old->listeners[l].domains[d]);
            if (find_domain(neu, name) == NULL) {
                item(o, &opened, "domains:", '-', name);
            }
        }
    }
}

static const struct mtlb_backend_cfg *find_pool(const struct mtlb_config *c, const char *name)
{
    for (size_t p = 0; p < c->n_backends; p++) {
        if (strcmp(c->backends[p].name, name) == 0) {
            return &c->backends[p];
        }
    }
    return NULL;
}

static bool pool_changed(const struct mtlb_backend_cfg *a, const struct mtlb_backend_cfg *b)
{
    if (a->n_servers != b->n_servers || a->balance != b->balance ||
        a->resolve_ms != b->resolve_ms || !mtlb_cfg_backend_tls_same(&a->tls, &b->tls) ||
        a->health.enabled != b->health.enabled ||
        (a->health.enabled &&
         (!same_str(a->health.path, b->health.path) ||
          a->health.interval_ms != b->health.interval_ms ||
          a->health.timeout_ms != b->health.timeout_ms || a->health.rise != b->health.rise ||
          a->health.fall != b->health.fall || a->health.status_min != b->health.status_min ||
          a->health.status_max != b->health.status_max))) {
        return true;
    }
    for (size_t k = 0; k < a->n_servers; k++) {
        if (strcmp(a->servers[k].host, b->servers[k].host) != 0 ||
            a->servers[k].port != b->servers[k].port ||
            a->servers[k].weight != b->servers[k].weight) {
            return true;
        }
    }
    return false;
}

static void pools(struct out *o, const struct mtlb_config *old, const struct mtlb_config *neu)
{
    bool opened = false;

    for (size_t p = 0; p < neu->n_backends; p++) {
        const struct mtlb_backend_cfg *a = find_pool(old, neu->backends[p].name);
        if (a == NULL || pool_changed(a, &neu->backends[p])) {
            item(o, &opened, "pools:", a == NULL ? '+' : '~', neu->backends[p].name);
        }
    }
    for (size_t p = 0; p < old->n_backends; p++) {
        if (find_pool(neu, old->backends[p].name) == NULL) {
            item(o, &opened, "pools:", '-', old->backends[p].name);
        }
    }
}

/* "routes:~listeners[0]": a listener whose routes or default backend changed. */
static void routes(struct out *o, const struct mtlb_config *old, const struct mtlb_config *neu)
{
    bool opened = false;
    char what[32];

    for (size_t l = 0; l < neu->n_listeners && l < old->n_listeners; l++) {
        if (!mtlb_cfg_routes_same(&old->listeners[l], &neu->listeners[l])) {
            snprintf(what, sizeof(what), "listeners[%zu]", l);
            item(o, &opened, "routes:", '~', what);
        }
    }
}

static bool names_file(const struct mtlb_config *c, const char *path)
{
    for (size_t l = 0; l < c->n_listeners; l++) {
        const struct mtlb_listener_cfg *lc = &c->listeners[l];
        if (same_str(lc->ticket_keys, path)) {
            return true;
        }
        for (size_t d = 0; d < lc->n_domains; d++) {
            const struct mtlb_domain_cfg *dc = &lc->domains[d];
            if (same_str(dc->certificate, path) || same_str(dc->key, path) ||
                same_str(dc->truststore, path) || same_str(dc->crl, path) ||
                same_str(dc->ocsp_response, path) ||
                same_str(dc->policy.str[MTLB_TLSP_PASSPHRASE], path)) {
                return true;
            }
        }
    }
    return false;
}

static void file_item(struct out *o, bool *opened, const struct mtlb_config *old, const char *path)
{
    if (path != NULL && !names_file(old, path)) {
        item(o, opened, "files:", '+', path);
    }
}

static void files(struct out *o, const struct mtlb_config *old, const struct mtlb_config *neu)
{
    bool opened = false;

    for (size_t l = 0; l < neu->n_listeners; l++) {
        const struct mtlb_listener_cfg *lc = &neu->listeners[l];
        file_item(o, &opened, old, lc->ticket_keys);
        for (size_t d = 0; d < lc->n_domains; d++) {
            const struct mtlb_domain_cfg *dc = &lc->domains[d];
            file_item(o, &opened, old, dc->certificate);
            file_item(o, &opened, old, dc->key);
            file_item(o, &opened, old, dc->truststore);
            file_item(o, &opened, old, dc->crl);
            file_item(o, &opened, old, dc->ocsp_response);
            file_item(o, &opened, old, dc->policy.str[MTLB_TLSP_PASSPHRASE]);
        }
    }
}

void mtlb_config_diff_summary(const struct mtlb_config *old, const struct mtlb_config *neu,
                              char *buf, size_t buflen)
{
    struct out o = {buf, 0, buflen};

    if (buflen == 0) {
        return;
    }
    buf[0] = '\0';
    domains(&o, old, neu);
    pools(&o, old, neu);
    routes(&o, old, neu);
    files(&o, old, neu);
}
