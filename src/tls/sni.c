/* SNI: choosing a connection's domain from the ClientHello (before any session is looked up),
 * switching its SSL to that domain's context and verification settings, and matching Host
 * names against a listener's domains. No I/O. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ssl.h>
#include <openssl/tls1.h>

#include "mtlb/tls.h"
#include "tls_internal.h"

/* Exact names win over wildcards; "*.example.com" matches exactly one extra label. */
static bool name_matches(const char *pattern, const char *host, bool wildcard)
{
    if (!wildcard) {
        return pattern[0] != '*' && strcasecmp(pattern, host) == 0;
    }
    if (pattern[0] != '*' || pattern[1] != '.') {
        return false;
    }
    const char *dot = strchr(host, '.');
    return dot != NULL && dot != host && strcasecmp(dot + 1, pattern + 2) == 0;
}

int mtlb_tls_match_domain(const struct mtlb_tls_listener *tl, const char *host)
{
    for (int wildcard = 0; wildcard <= 1; wildcard++) {
        for (size_t i = 0; i < tl->n_domains; i++) {
            const struct mtlb_domain_cfg *d = tl->domains[i].cfg;
            for (size_t j = 0; j < d->n_names; j++) {
                if (name_matches(d->names[j], host, wildcard)) {
                    return (int)i;
                }
            }
        }
    }
    return -1;
}

/* Whether a request may move from domain a's connection to domain b: the same client
 * verification, and the same TLS policy (the handshake applied a's: a TLS 1.2 connection for a
 * must not carry requests for a b that refuses TLS 1.2). */
static bool same_rules(const struct mtlb_domain_cfg *a, const struct mtlb_domain_cfg *b)
{
    return mtlb_tls_same_client_auth(a, b) && mtlb_tls_policy_same(&a->policy, &b->policy);
}

bool mtlb_tls_misdirected(const struct mtlb_tls_listener *tl, size_t domain, const char *host)
{
    if (tl->n_domains < 2 || host[0] == '\0') {
        return false;
    }
    int d = mtlb_tls_match_domain(tl, host);
    return d >= 0 && (size_t)d != domain &&
           !same_rules(tl->domains[d].cfg, tl->domains[domain].cfg);
}

bool mtlb_tls_misdirected_since(const struct mtlb_tls_listener *tl, size_t domain,
                                const struct mtlb_tls_listener *now, const char *host)
{
    if (now == tl || host[0] == '\0') {
        return false;
    }
    int d = mtlb_tls_match_domain(now, host);
    const struct mtlb_domain_cfg *mine = tl->domains[domain].cfg;
    if (d < 0) {
        return false;
    }
    const struct mtlb_domain_cfg *named = now->domains[d].cfg;
    /* The connection's own domain (same first name) keeps what it was verified with. */
    bool own =
        mine->n_names > 0 && named->n_names > 0 && strcmp(mine->names[0], named->names[0]) == 0;
    return !own && !same_rules(mine, named);
}

int mtlb_tls_misdirected_listener(const struct mtlb_tls_listener *all, size_t n, size_t self,
                                  const char *host)
{
    if (n < 2 || host[0] == '\0' || self >= n || mtlb_tls_match_domain(&all[self], host) >= 0) {
        return -1;
    }
    for (size_t l = 0; l < n; l++) {
        if (l != self && mtlb_tls_match_domain(&all[l], host) >= 0) {
            return (int)l;
        }
    }
    return -1;
}

/* now's domain of the same first name as tl's `domain`, else now's domains[0]. */
static const struct mtlb_tls_domain *domain_now(const struct mtlb_tls_listener *tl, size_t domain,
                                                const struct mtlb_tls_listener *now)
{
    const struct mtlb_domain_cfg *mine = tl->domains[domain].cfg;

    for (size_t i = 0; mine->n_names > 0 && i < now->n_domains; i++) {
        const struct mtlb_domain_cfg *d = now->domains[i].cfg;
        if (d->n_names > 0 && strcmp(d->names[0], mine->names[0]) == 0) {
            return &now->domains[i];
        }
    }
    return &now->domains[0];
}

bool mtlb_tls_trust_changed(const struct mtlb_tls_listener *tl, size_t domain,
                            const struct mtlb_tls_listener *now, bool with_cert)
{
    if (now == tl || domain >= tl->n_domains || now->n_domains == 0) {
        return false;
    }
    const struct mtlb_tls_domain *d = domain_now(tl, domain, now);
    const struct mtlb_tls_domain *was = &tl->domains[domain];
    if (!with_cert) {
        return d->cfg->mode != was->cfg->mode;
    }
    return memcmp(d->trust, was->trust, sizeof(d->trust)) != 0;
}

static size_t find_domain(const struct mtlb_tls_listener *tl, const char *host)
{
    int i = mtlb_tls_match_domain(tl, host);
    return i < 0 ? 0 : (size_t)i;
}

static bool same_str(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

bool mtlb_tls_same_client_auth(const struct mtlb_domain_cfg *a, const struct mtlb_domain_cfg *b)
{
    return a == b || (a->mode == b->mode && same_str(a->truststore, b->truststore) &&
                      same_str(a->crl, b->crl) && a->verify_depth == b->verify_depth &&
                      a->require_client_auth_eku == b->require_client_auth_eku);
}

/* SSL_set_SSL_CTX swaps the certificate and session id context but not the verification
 * settings the SSL copied from the first context at SSL_new: copy mode, callback, depth and
 * the advertised CA names by hand. The X509_STORE (truststore, CRL and flags) follows the
 * new context by itself. So do the protocol versions and groups (tls_policy.c). */
int mtlb_tls_switch_domain(SSL *ssl, const struct mtlb_tls_domain *dom)
{
    SSL_CTX *ctx = dom->ctx;
    STACK_OF(X509_NAME) *cas = SSL_CTX_get_client_CA_list(ctx);
    const struct mtlb_tls_conn_info *info = mtlb_tls_conn_info_get(ssl);
    /* Parsing the lists again costs a few microseconds: only when the policy differs from
     * that of the domain the SSL is on (the usual case is one policy per listener). */
    bool same =
        info != NULL &&
        mtlb_tls_policy_same(&info->listener->domains[info->domain].cfg->policy, &dom->cfg->policy);

    if (SSL_set_SSL_CTX(ssl, ctx) != ctx ||
        (!same && mtlb_tls_policy_set_ssl(ssl, &dom->cfg->policy) != 0)) {
        return -ENOMEM;
    }
    SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), SSL_CTX_get_verify_callback(ctx));
    SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(ctx));
    if (cas != NULL) {
        STACK_OF(X509_NAME) *dup = SSL_dup_CA_list(cas);
        if (dup == NULL) {
            return -ENOMEM;
        }
        SSL_set_client_CA_list(ssl, dup);
    } else {
        SSL_set_client_CA_list(ssl, NULL);
    }
    return 0;
}

/* Reads the host_name entry of a raw server_name extension into host (NUL-terminated).
 * Returns false when there is none or it is malformed. */
static bool sni_from_ext(const unsigned char *p, size_t len, char *host, size_t cap)
{
    if (len < 2 || (size_t)((p[0] << 8) | p[1]) != len - 2) {
        return false;
    }
    p += 2;
    len -= 2;
    while (len >= 3) {
        size_t n = (size_t)((p[1] << 8) | p[2]);
        if (n > len - 3) {
            return false;
        }
        if (p[0] == TLSEXT_NAMETYPE_host_name) {
            if (n == 0 || n >= cap || memchr(p + 3, 0, n) != NULL) {
                return false;
            }
            memcpy(host, p + 3, n);
            host[n] = '\0';
            return true;
        }
        p += 3 + n;
        len -= 3 + n;
    }
    return false;
}

/* The domain is chosen in the ClientHello callback, before OpenSSL looks at a session to
 * resume: the session id context is then already the chosen domain's, so a session verified
 * under one domain's truststore is never resumed under another (it gets a full handshake).
 * The servername callback would run too late for that. */
int mtlb_tls_client_hello_cb(SSL *ssl, int *alert, void *arg)
{
    struct mtlb_tls_conn_info *info = mtlb_tls_conn_info_get(ssl);
    const unsigned char *ext;
    size_t ext_len;
    char host[256];

    (void)arg;
    if (info == NULL || info->listener == NULL ||
        SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &ext_len) != 1 ||
        !sni_from_ext(ext, ext_len, host, sizeof(host))) {
        return SSL_CLIENT_HELLO_SUCCESS;
    }
    /* As sent, for the access log: OpenSSL forgets it on a resumed TLS 1.2 session. A second
     * ClientHello (after a HelloRetryRequest) replaces it; no memory only leaves it out. */
    free(info->sni);
    info->sni = strdup(host);
    size_t i = find_domain(info->listener, host);
    if (i != info->domain) {
        if (mtlb_tls_switch_domain(ssl, &info->listener->domains[i]) != 0) {
            *alert = SSL_AD_INTERNAL_ERROR;
            return SSL_CLIENT_HELLO_ERROR;
        }
        info->domain = i;
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}
