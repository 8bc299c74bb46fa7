/* The route of a request, one function for HTTP/1.1 and HTTP/2 (rule 17): the authority and
 * its 421 rule, the listener's routes (route.h) with the domain's or listener's default pool,
 * the rewritten target, and the request head to send, written by the header rewrite so the
 * protected-header contract stays the rewrite's. Worker thread only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "mtlb/access.h"
#include "mtlb/authority.h"
#include "mtlb/cidr.h"
#include "mtlb/client_types.h"
#include "mtlb/config.h"
#include "mtlb/h1_client.h"
#include "mtlb/identity.h"
#include "mtlb/log.h"
#include "mtlb/require.h"
#include "mtlb/rewrite.h"
#include "mtlb/route.h"
#include "mtlb/snapshot.h"
#include "mtlb/stats.h"
#include "mtlb/stats_hooks.h"
#include "mtlb/tls.h"
#include "mtlb/worker_types.h"

/* A request whose authority names another domain of this listener, one that verifies clients
 * differently from the domain the handshake chose by SNI, would reach that domain's backend
 * with a certificate its policy never saw: 421 Misdirected Request (RFC 9110 15.5.20). The
 * authority checked is the one the backend is sent (rewrite.c writes ar's Host and target). */
bool mtlb_client_trust_stale(const struct mtlb_client *c)
{
    return c->transport != MTLB_TRANSPORT_PLAIN &&
           mtlb_tls_trust_changed(&c->snap->tls[c->listener], c->tls_info.domain,
                                  &c->w->snap->tls[c->listener],
                                  c->identity.verify != MTLB_VERIFY_NONE);
}

/* A refusal by the 421 rule: one warn line (HTTP/1.1 and HTTP/2 both come here),
 * rate-limited, naming the domain the authority has in tl (the listener that holds it). */
static int misdirected(const struct mtlb_client *c, const struct mtlb_tls_listener *tl,
                       const struct mtlb_authority_request *ar, bool elsewhere)
{
    static struct mtlb_ratelimit rl;
    int other = mtlb_tls_match_domain(tl, ar->authority.host);
    const struct mtlb_domain_cfg *sni = c->snap->tls[c->listener].domains[c->tls_info.domain].cfg;
    const struct mtlb_domain_cfg *named = other >= 0 ? tl->domains[other].cfg : NULL;
    char port[16] = "";
    if (ar->authority.port >= 0) {
        snprintf(port, sizeof(port), ":%d", ar->authority.port);
    }
    mtlb_log_rl(&rl, 10, MTLB_LOG_WARN,
                "conn=%llu peer=%s domain=%s event=misdirected_request status=421 "
                "authority=%s%s authority_domain=%s reason=\"the authority names %s\"",
                (unsigned long long)c->id, c->tls_info.peer[0] ? c->tls_info.peer : "-",
                sni->n_names > 0 ? sni->names[0] : "-", ar->authority.host, port,
                named != NULL && named->n_names > 0 ? named->names[0] : "-",
                elsewhere ? "a domain of another listener"
                          : "another domain of this listener, one that verifies client "
                            "certificates or negotiates TLS differently");
    return 421;
}

int mtlb_client_authority(const struct mtlb_client *c, const struct mtlb_h1_message *req,
                          struct mtlb_authority_request *ar)
{
    const struct mtlb_tls_listener *tl = &c->snap->tls[c->listener]; /* the handshake's */
    const struct mtlb_tls_listener *now = &c->w->snap->tls[c->listener];

    if (mtlb_authority_from_request(req, ar) != 0) {
        return 400;
    }
    if (c->transport == MTLB_TRANSPORT_PLAIN) {
        return 0; /* no handshake, no domains: nothing to be misdirected from */
    }
    if (mtlb_client_trust_stale(c)) {
        /* A reload changed how this domain verifies clients (a CA removed, a certificate
         * revoked): the handshake's verdict is stale. 421 sends the client to a new
         * connection, verified under the current trust. */
        static struct mtlb_ratelimit trl;
        const struct mtlb_domain_cfg *d = tl->domains[c->tls_info.domain].cfg;
        mtlb_log_rl(&trl, 10, MTLB_LOG_WARN,
                    "conn=%llu peer=%s domain=%s event=misdirected_request status=421 "
                    "reason=\"a reload changed how this domain verifies clients; the "
                    "connection's verification is stale\"",
                    (unsigned long long)c->id, c->tls_info.peer[0] ? c->tls_info.peer : "-",
                    d->n_names > 0 ? d->names[0] : "-");
        return 421;
    }
    const struct mtlb_snapshot *snap = c->w->snap;
    int elsewhere = -1;
    if (mtlb_tls_misdirected_since(tl, c->tls_info.domain, now, ar->authority.host)) {
        tl = now; /* for the line below: the domain the name has now */
    } else if (mtlb_tls_misdirected(tl, c->tls_info.domain, ar->authority.host)) {
        /* refused below */
    } else if ((elsewhere = mtlb_tls_misdirected_listener(snap->tls, snap->cfg->n_listeners,
                                                          c->listener, ar->authority.host)) >= 0) {
        tl = &snap->tls[elsewhere];
    } else {
        return 0;
    }
    return misdirected(c, tl, ar, elsewhere >= 0);
}

struct mtlb_rewrite_req mtlb_client_rewrite_req(const struct mtlb_client *c,
                                                const struct mtlb_authority_request *ar)
{
    return (struct mtlb_rewrite_req){.identity = &c->identity,
                                     .client_ip = c->ip,
                                     .proto =
                                         c->transport == MTLB_TRANSPORT_PLAIN ? "http" : "https",
                                     .policy = &c->w->snap->cfg->header_policy,
                                     .target = ar,
                                     .id_names = &c->w->snap->cfg->id_headers};
}

/* The pool a request goes to when no route matches: its domain's (chosen by SNI at the
 * handshake), else its listener's, else none. */
static size_t default_pool(const struct mtlb_client *c, const struct mtlb_snapshot *snap)
{
    const struct mtlb_listener_cfg *lc = &snap->cfg->listeners[c->listener];
    const struct mtlb_domain_cfg *d = NULL;

    if (c->transport == MTLB_TRANSPORT_PLAIN) {
        return lc->backend_index; /* no handshake, no domain */
    }

    /* The handshake's domain index is one of c->snap's; find it by name in this snapshot
     * (a reload may have reordered or changed domains). */
    const struct mtlb_domain_cfg *hs = c->snap->tls[c->listener].domains[c->tls_info.domain].cfg;
    if (c->snap == snap) {
        d = hs;
    }
    for (size_t i = 0; hs->n_names > 0 && i < lc->n_domains && d == NULL; i++) {
        const struct mtlb_domain_cfg *x = &lc->domains[i];
        if (x->n_names > 0 && strcmp(x->names[0], hs->names[0]) == 0) {
            d = x;
        }
    }
    if (d != NULL && d->backend != NULL) {
        return d->backend_index;
    }
    return lc->backend_index;
}

/* The route's name, or its index in decimal. Written by hand: on every routed request, a
 * snprintf("%d") here cost about 650 instructions, more than the trie walk that found the
 * route (callgrind, bench row wrk_routes). */
static void label(struct mtlb_access_rec *rec, const struct mtlb_route_result *res)
{
    if (res->cfg != NULL && res->cfg->name != NULL) {
        size_t n = strnlen(res->cfg->name, sizeof(rec->route) - 1);
        memcpy(rec->route, res->cfg->name, n);
        rec->route[n] = '\0';
    } else if (res->route >= 0) {
        char digits[12];
        size_t n = 0;
        unsigned v = (unsigned)res->route;
        do {
            digits[n++] = (char)('0' + v % 10);
            v /= 10;
        } while (v > 0);
        for (size_t i = 0; i < n; i++) {
            rec->route[i] = digits[n - 1 - i];
        }
        rec->route[n] = '\0';
    }
}

/* The route's allow / deny lists on the client's address (deny wins; an allow list admits
 * only its ranges), as the listener's lists are applied at accept. */
static bool address_allowed(const struct mtlb_route_cfg *r, const char *ip)
{
    struct mtlb_cidr a;

    if (r->allow.n == 0 && r->deny.n == 0) {
        return true;
    }
    if (mtlb_cidr_parse(ip, &a) != 0) {
        return false; /* an address the lists cannot judge gets nothing they protect */
    }
    return !mtlb_cidr_list_match_ip(&r->deny, a.addr) &&
           (r->allow.n == 0 || mtlb_cidr_list_match_ip(&r->allow, a.addr));
}

static int route(struct mtlb_client *c, const struct mtlb_snapshot *snap,
                 struct mtlb_authority_request *ar, struct mtlb_access_rec *rec, char *buf,
                 size_t cap, size_t *pool, uint64_t *body_limit)
{
    static struct mtlb_ratelimit rl;
    struct mtlb_route_result res;
    int status = mtlb_route_match(snap->routes[c->listener], ar->authority.host, ar->target,
                                  ar->slash, default_pool(c, snap), buf, cap, &res);

    label(rec, &res);
    if (res.cfg != NULL) {
        *body_limit = res.cfg->max_body_bytes;
    }
    if (status == 404 && strcmp(res.reason, "unknown_pool") == 0) {
        /* the name comes from the client's path: no quote may end the field early */
        for (char *p = res.pool_name; *p != '\0'; p++) {
            *p = *p == '"' || *p == '\\' ? '?' : *p;
        }
        mtlb_log_rl(&rl, 10, MTLB_LOG_WARN,
                    "conn=%llu event=route_unknown_pool status=404 route=%s pool=\"%s\" "
                    "reason=\"the path names a backend pool that does not exist\"",
                    (unsigned long long)c->id, rec->route, res.pool_name);
    }
    if (status != 0) {
        return status;
    }
    int denied =
        res.cfg != NULL && !address_allowed(res.cfg, c->ip) ? MTLB_STATS_DENIED_ADDRESS : -1;
    if (denied < 0 && res.require != NULL) {
        denied = mtlb_require_eval(res.require, &c->identity);
    }
    if (denied >= 0) {
        rec->denied = mtlb_stats_denied_name(denied);
        mtlb_stats_denied(c->w, c->listener, denied);
        return 403;
    }
    *pool = res.pool;
    if (res.rewritten) {
        ar->target = res.target;
        ar->slash = false;
    }
    return 0;
}

/* The leaf's PEM for a connection made before a reload turned headers.client_cert on: the
 * handshake captured only what its snapshot sent (the PEM costs about 1 KiB per connection).
 * Under userspace TLS the SSL still holds the leaf (peer_trim.h keeps it), so it is encoded at
 * the first request that needs it, once. A kTLS connection released its SSL, leaf included, at
 * the handoff: it goes without the header (the reload logs so). */
static void late_client_cert(struct mtlb_client *c)
{
    const struct mtlb_identity *id = &c->identity;

    if (c->ssl == NULL || id->cert_escaped != NULL || (id->oversize & MTLB_IDENTITY_CERT) != 0 ||
        (mtlb_rewrite_id_extras(&c->w->snap->cfg->id_headers) & MTLB_IDENTITY_CERT) == 0) {
        return;
    }
    /* add_extras frees every extra when one fails: the SANs, which require rules read, are
     * kept out of its reach. */
    char *san = c->identity.san;
    c->identity.san = NULL;
    int rc = mtlb_identity_add_extras(&c->identity, SSL_get0_peer_certificate(c->ssl),
                                      MTLB_IDENTITY_CERT);
    c->identity.san = san;
    if (rc != 0) {
        static struct mtlb_ratelimit rl;
        mtlb_log_rl(&rl, 10, MTLB_LOG_WARN,
                    "conn=%llu event=client_cert_capture_failed error=\"out of memory\"",
                    (unsigned long long)c->id);
    }
}

int mtlb_client_prepare(struct mtlb_client *c, const struct mtlb_h1_message *req,
                        const struct mtlb_snapshot *snap, struct mtlb_access_rec *rec, char *out,
                        size_t cap, size_t *pool, size_t *len, uint64_t *body_limit)
{
    struct mtlb_authority_request ar = {0};

    late_client_cert(c);
    struct mtlb_rewrite_req rw = mtlb_client_rewrite_req(c, &ar);
    char stack[2048];

    *pool = 0; /* a valid index for mtlb_exchange_begin whatever the outcome */
    *len = 0;
    *body_limit = snap->cfg->listeners[c->listener].max_body_bytes;
    rw.request_id = rec->request_id;
    int status = mtlb_client_authority(c, req, &ar);
    if (status != 0) {
        return status;
    }
    const struct mtlb_routes *rt = snap->routes[c->listener];
    size_t need = mtlb_route_buf_size(rt, ar.target.len);
    char *buf = need <= sizeof(stack) ? stack : malloc(need);
    if (buf == NULL) {
        return 500;
    }
    status = route(c, snap, &ar, rec, buf, need, pool, body_limit);
    if (status == 0) {
        ssize_t n = mtlb_rewrite_request(req, &rw, out, cap);
        status = n < 0 ? mtlb_rewrite_status(n) : 0;
        *len = n < 0 ? 0 : (size_t)n;
    }
    if (buf != stack) {
        free(buf);
    }
    if (status != 0) {
        *pool = 0;
    }
    return status;
}
