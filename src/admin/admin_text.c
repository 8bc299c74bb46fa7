/* Texts the admin listener serves, built with each snapshot (at start and on each reload): GET
 * /config (the running configuration, file paths only: mtlb never holds key material in the
 * configuration, and this never opens a file) and the certificate expiry series read from the built
 * SSL_CTXs. The thread that loads configurations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "admin_int.h"
#include "mtlb/admin.h"
#include "mtlb/identity.h"
#include "mtlb/rewrite.h"

static const char *or_none(const char *s)
{
    return s != NULL ? s : "none";
}

static void domain_text(struct mtlb_prom_buf *b, size_t l, size_t d,
                        const struct mtlb_domain_cfg *dc)
{
    const char *p = "listeners";

    mtlb_prom_printf(b, "%s[%zu].domains[%zu].names:", p, l, d);
    for (size_t n = 0; n < dc->n_names; n++) {
        mtlb_prom_printf(b, " %s", dc->names[n]);
    }
    mtlb_prom_printf(b, "\n%s[%zu].domains[%zu].certificate: %s\n", p, l, d, dc->certificate);
    mtlb_prom_printf(b, "%s[%zu].domains[%zu].key: %s\n", p, l, d, dc->key);
    mtlb_prom_printf(b, "%s[%zu].domains[%zu].client_auth.mode: %s\n", p, l, d,
                     mtlb_config_mode_name(dc->mode));
    mtlb_prom_printf(b, "%s[%zu].domains[%zu].client_auth.truststore: %s\n", p, l, d,
                     or_none(dc->truststore));
    mtlb_prom_printf(b, "%s[%zu].domains[%zu].client_auth.crl: %s\n", p, l, d, or_none(dc->crl));
    mtlb_prom_printf(b, "%s[%zu].domains[%zu].client_auth.verify_depth: %d\n", p, l, d,
                     dc->verify_depth);
    mtlb_prom_printf(b, "%s[%zu].domains[%zu].client_auth.require_client_auth_eku: %s\n", p, l, d,
                     dc->require_client_auth_eku ? "true" : "false");
}

/* HTTPS to backends: the keys in effect (file paths, never their contents). */
static void backend_tls_text(struct mtlb_prom_buf *b, size_t p,
                             const struct mtlb_backend_tls_cfg *t)
{
    if (!t->enabled) {
        return;
    }
    mtlb_prom_printf(b, "backends[%zu].tls.verify: %s\n", p, t->verify ? "true" : "false");
    mtlb_prom_printf(b, "backends[%zu].tls.ca: %s\n", p, t->ca != NULL ? t->ca : "-");
    mtlb_prom_printf(b, "backends[%zu].tls.sni: %s\n", p, t->sni != NULL ? t->sni : "-");
    mtlb_prom_printf(b, "backends[%zu].tls.certificate: %s\n", p,
                     t->certificate != NULL ? t->certificate : "-");
}

/* A listener's edge policy keys, only those set (lines as the configuration would give them). */
static void cidr_line(struct mtlb_prom_buf *b, size_t l, const char *key,
                      const struct mtlb_cidr_list *list)
{
    char t[MTLB_CIDR_TEXT_MAX];

    if (list->n == 0) {
        return;
    }
    mtlb_prom_printf(b, "listeners[%zu].%s:", l, key);
    for (size_t i = 0; i < list->n; i++) {
        mtlb_prom_printf(b, " %s", mtlb_cidr_format(&list->v[i], t, sizeof(t)));
    }
    mtlb_prom_printf(b, "\n");
}

static void edge_text(struct mtlb_prom_buf *b, size_t l, const struct mtlb_listener_cfg *lc)
{
    cidr_line(b, l, "allow", &lc->allow);
    cidr_line(b, l, "deny", &lc->deny);
    if (lc->proxy_protocol) {
        mtlb_prom_printf(b, "listeners[%zu].proxy_protocol: true\n", l);
    }
    cidr_line(b, l, "proxy_protocol_from", &lc->proxy_from);
}

static void listeners_text(struct mtlb_prom_buf *b, const struct mtlb_config *cfg)
{
    static const char *const ktls[] = {"auto", "on", "off"};

    for (size_t l = 0; l < cfg->n_listeners; l++) {
        const struct mtlb_listener_cfg *lc = &cfg->listeners[l];
        mtlb_prom_printf(b, "listeners[%zu].bind: %s:%u\n", l, lc->bind_host, lc->bind_port);
        mtlb_prom_printf(b, "listeners[%zu].backend: %s\n", l, lc->backend);
        mtlb_prom_printf(b, "listeners[%zu].ktls: %s\n", l, ktls[lc->ktls]);
        mtlb_prom_printf(b, "listeners[%zu].alpn:%s%s\n", l, lc->alpn & MTLB_ALPN_H2 ? " h2" : "",
                         lc->alpn & MTLB_ALPN_HTTP11 ? " http/1.1" : "");
        edge_text(b, l, lc);
        for (size_t d = 0; d < lc->n_domains; d++) {
            domain_text(b, l, d, &lc->domains[d]);
        }
    }
}

static void backends_text(struct mtlb_prom_buf *b, const struct mtlb_config *cfg)
{
    for (size_t p = 0; p < cfg->n_backends; p++) {
        mtlb_prom_printf(b, "backends[%zu].name: %s\nbackends[%zu].servers:", p,
                         cfg->backends[p].name, p);
        for (size_t s = 0; s < cfg->backends[p].n_servers; s++) {
            const struct mtlb_server_cfg *sc = &cfg->backends[p].servers[s];
            mtlb_prom_printf(b, strchr(sc->host, ':') ? " [%s]:%u" : " %s:%u", sc->host, sc->port);
        }
        mtlb_prom_printf(b, "\n");
        backend_tls_text(b, p, &cfg->backends[p].tls);
    }
}

/* threads, timeouts, limits, log and headers. */
static void process_text(struct mtlb_prom_buf *b, const struct mtlb_config *cfg)
{
    const struct mtlb_timeouts_cfg *t = &cfg->timeouts;

    mtlb_prom_printf(b, "threads.acceptors: %u\nthreads.workers: %u\n", cfg->acceptors,
                     cfg->workers);
    mtlb_prom_printf(b,
                     "timeouts.handshake: %ums\ntimeouts.client_header: %ums\n"
                     "timeouts.client_body: %ums\ntimeouts.client_idle: %ums\n"
                     "timeouts.backend_connect: %ums\ntimeouts.backend_response: %ums\n"
                     "timeouts.backend_idle: %ums\ntimeouts.drain: %ums\n"
                     "timeouts.shutdown_delay: %ums\n",
                     t->handshake_ms, t->client_header_ms, t->client_body_ms, t->client_idle_ms,
                     t->backend_connect_ms, t->backend_response_ms, t->backend_idle_ms, t->drain_ms,
                     t->shutdown_delay_ms);
    mtlb_prom_printf(b,
                     "limits.max_header_bytes: %u\nlimits.max_headers: %u\n"
                     "limits.max_connections: %u\nlimits.h2_max_concurrent_streams: %u\n",
                     cfg->limits.max_header_bytes, cfg->limits.max_headers,
                     cfg->limits.max_connections, cfg->limits.h2_max_streams);
    mtlb_prom_printf(b, "log.level: %d\nlog.access_log: %s\n", cfg->log.level,
                     or_none(cfg->log.access_log));
    const struct mtlb_id_names *idh = &cfg->id_headers;
    mtlb_prom_printf(b,
                     "headers.client_cert: %s\nheaders.client_san: %s\nheaders.fingerprint: %s\n",
                     idh->name[MTLB_IDH_CERT][0] ? idh->name[MTLB_IDH_CERT] : "off",
                     idh->name[MTLB_IDH_SAN][0] ? idh->name[MTLB_IDH_SAN] : "off",
                     idh->name[MTLB_IDH_FINGERPRINT][0] ? idh->name[MTLB_IDH_FINGERPRINT] : "off");
}

void mtlb_admin_config_text(const struct mtlb_config *cfg, struct mtlb_prom_buf *b)
{
    static const char *const io[] = {"auto", "uring", "epoll"};

    mtlb_prom_printf(b, "# mtlb %s, configuration file %s\n", MTLB_VERSION, cfg->path);
    listeners_text(b, cfg);
    backends_text(b, cfg);
    process_text(b, cfg);
    mtlb_prom_printf(b, "headers.dn_format: %s\nio: %s\nadmin.bind: %s:%u\n",
                     cfg->dn_format == MTLB_DN_RFC2253 ? "rfc2253" : "slash", io[cfg->io],
                     cfg->admin.bind_host, cfg->admin.bind_port);
    if (cfg->admin.tls_on) {
        const struct mtlb_domain_cfg *at = &cfg->admin.tls;
        mtlb_prom_printf(b,
                         "admin.certificate: %s\nadmin.key: %s\nadmin.client_auth.mode: %s\n"
                         "admin.client_auth.truststore: %s\nadmin.client_auth.crl: %s\n",
                         at->certificate, at->key, mtlb_config_mode_name(at->mode), at->truststore,
                         or_none(at->crl));
    }
}

/* ---- certificate expiry ---- */

struct cert_line {
    char *text;
};

static int cmp_line(const void *a, const void *b)
{
    return strcmp(((const struct cert_line *)a)->text, ((const struct cert_line *)b)->text);
}

struct cert_lines {
    struct cert_line *v;
    size_t n, cap;
    bool failed;
};

static void add_line(struct cert_lines *ls, const char *domain, const char *kind,
                     const X509_NAME *subject, const ASN1_TIME *when)
{
    struct tm tm;
    char dn[512];
    struct mtlb_prom_buf b;

    if (when == NULL || ASN1_TIME_to_tm(when, &tm) != 1) {
        return;
    }
    mtlb_identity_format_dn(subject, MTLB_DN_RFC2253, dn, sizeof(dn));
    mtlb_prom_init(&b);
    mtlb_prom_printf(&b, "mtlb_certificate_not_after_timestamp_seconds{domain=\"");
    mtlb_prom_label(&b, domain);
    mtlb_prom_printf(&b, "\",kind=\"%s\",subject=\"", kind);
    mtlb_prom_label(&b, dn);
    mtlb_prom_printf(&b, "\"} %lld\n", (long long)timegm(&tm));
    if (ls->n == ls->cap) {
        size_t cap = ls->cap ? ls->cap * 2 : 16;
        struct cert_line *v = realloc(ls->v, cap * sizeof(*v));
        if (v == NULL) {
            b.failed = true;
        } else {
            ls->v = v;
            ls->cap = cap;
        }
    }
    if (b.failed) {
        ls->failed = true;
        mtlb_prom_fini(&b);
        return;
    }
    ls->v[ls->n++].text = b.p;
}

static void domain_certs(struct cert_lines *ls, const struct mtlb_tls_domain *td, const char *label)
{
    const char *domain = label != NULL ? label : td->cfg->n_names > 0 ? td->cfg->names[0] : "-";
    X509 *leaf = SSL_CTX_get0_certificate(td->ctx);

    if (leaf != NULL) {
        add_line(ls, domain, "server", X509_get_subject_name(leaf), X509_get0_notAfter(leaf));
    }
    if (td->cfg->mode == MTLB_CLIENT_AUTH_OFF) {
        return;
    }
    STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(SSL_CTX_get_cert_store(td->ctx));
    for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
        X509_OBJECT *o = sk_X509_OBJECT_value(objs, i);
        X509 *x = X509_OBJECT_get0_X509(o);
        X509_CRL *crl = X509_OBJECT_get0_X509_CRL(o);
        if (x != NULL) {
            add_line(ls, domain, "truststore", X509_get_subject_name(x), X509_get0_notAfter(x));
        } else if (crl != NULL) {
            add_line(ls, domain, "crl_next_update", X509_CRL_get_issuer(crl),
                     X509_CRL_get0_nextUpdate(crl));
        }
    }
}

void mtlb_admin_cert_metrics(const struct mtlb_config *cfg, const struct mtlb_tls_listener *tls,
                             struct mtlb_prom_buf *b)
{
    struct cert_lines ls = {0};

    for (size_t l = 0; l < cfg->n_listeners; l++) {
        for (size_t d = 0; d < tls[l].n_domains; d++) {
            domain_certs(&ls, &tls[l].domains[d], NULL);
        }
    }
    mtlb_prom_family(b, "mtlb_certificate_not_after_timestamp_seconds", "gauge",
                     "Expiry (notAfter; nextUpdate for CRLs) of server certificates, truststore "
                     "certificates and CRLs, in Unix time.");
    /* A domain served by two listeners would repeat its series: sort and print each once. */
    if (ls.n > 1) {
        qsort(ls.v, ls.n, sizeof(*ls.v), cmp_line);
    }
    for (size_t i = 0; i < ls.n; i++) {
        if (i == 0 || strcmp(ls.v[i].text, ls.v[i - 1].text) != 0) {
            mtlb_prom_printf(b, "%s", ls.v[i].text);
        }
    }
    for (size_t i = 0; i < ls.n; i++) {
        free(ls.v[i].text);
    }
    free(ls.v);
    if (ls.failed) {
        b->failed = true;
    }
}

void mtlb_admin_cert_lines(const struct mtlb_tls_domain *td, const char *label,
                           struct mtlb_prom_buf *b)
{
    struct cert_lines ls = {0};

    domain_certs(&ls, td, label);
    for (size_t i = 0; i < ls.n; i++) {
        mtlb_prom_printf(b, "%s", ls.v[i].text);
        free(ls.v[i].text);
    }
    free(ls.v);
    if (ls.failed) {
        b->failed = true;
    }
}
