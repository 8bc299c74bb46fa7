/* TLS contexts: builds one SSL_CTX per domain (protocol policy, certificate chain and key,
 * truststore, CRLs, verify mode), selects the domain by SNI and creates per-connection SSLs.
 * Every load error names the file and the problem; nothing here touches sockets, and the
 * contexts are read-only once mtlb_tls_listener_init returns. */
#include "mtlb/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "mtlb/tickets.h"
#include "tls_internal.h"

int mtlb_tls_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

const char *mtlb_tls_ssl_reason(char *buf, size_t cap)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

    snprintf(buf, cap, "%s", r != NULL ? r : "unknown OpenSSL error");
    ERR_clear_error();
    return buf;
}

/* Never prompt: the passphrase is u (from key_passphrase_file), or there is none and an
 * encrypted key is a configuration error. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)rwflag;
    if (u == NULL || size <= 0) {
        return 0;
    }
    size_t n = strlen(u);
    n = n < (size_t)size ? n : (size_t)size;
    memcpy(buf, u, n);
    return (int)n;
}

int mtlb_tls_check_readable(const char *path, char *err, size_t errlen)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd == -1) {
        return mtlb_tls_fail(err, errlen, "%s: %s", path, strerror(errno));
    }
    int rc = fstat(fd, &st);
    close(fd);
    if (rc == 0 && S_ISDIR(st.st_mode)) {
        return mtlb_tls_fail(err, errlen, "%s: %s", path, strerror(EISDIR));
    }
    return 0;
}

void mtlb_tls_format_time(const ASN1_TIME *t, char *buf, size_t cap)
{
    struct tm tm;

    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        snprintf(buf, cap, "(unknown time)");
        return;
    }
    strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* The key of a PEM file, decrypted with pass when it is not NULL. */
static EVP_PKEY *read_key_pem(const char *path, const char *pass, char *err, size_t errlen)
{
    char why[128];
    BIO *bio = BIO_new_file(path, "r");
    EVP_PKEY *pkey = NULL;

    if (bio == NULL) {
        mtlb_tls_fail(err, errlen, "%s: cannot open: %s", path,
                      mtlb_tls_ssl_reason(why, sizeof(why)));
        return NULL;
    }
    ERR_clear_error();
    pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, (void *)pass);
    if (pkey == NULL) {
        /* Tell an encrypted key apart from a file that holds no key at all. */
        int rsn = ERR_GET_REASON(ERR_peek_last_error());
        BIO_free(bio);
        bio = BIO_new_file(path, "r");
        char *name = NULL, *header = NULL;
        unsigned char *data = NULL;
        long len = 0;
        int encrypted = rsn == PEM_R_BAD_PASSWORD_READ || rsn == PEM_R_PROBLEMS_GETTING_PASSWORD;
        while (!encrypted && bio != NULL && PEM_read_bio(bio, &name, &header, &data, &len) == 1) {
            encrypted =
                strcmp(name, "ENCRYPTED PRIVATE KEY") == 0 || strstr(header, "ENCRYPTED") != NULL;
            OPENSSL_free(name);
            OPENSSL_free(header);
            OPENSSL_free(data);
        }
        ERR_clear_error();
        if (encrypted && pass != NULL) {
            /* Never the passphrase itself: only where it came from (the caller adds it). */
            mtlb_tls_fail(err, errlen, "%s: cannot decrypt the private key: wrong passphrase",
                          path);
        } else if (encrypted) {
            mtlb_tls_fail(err, errlen,
                          "%s: private key is protected by a passphrase; give it in "
                          "tls.key_passphrase_file, or use an unencrypted key",
                          path);
        } else {
            mtlb_tls_fail(err, errlen, "%s: no PEM private key found", path);
        }
    }
    BIO_free(bio);
    return pkey;
}

/* The domain's key: p's key_passphrase_file, when given, decrypts it. *what becomes NULL when
 * err names its origin already (the passphrase file could not be read). */
static EVP_PKEY *read_key(const char *path, const struct mtlb_tls_policy_cfg *p, const char **what,
                          char *err, size_t errlen)
{
    char pass[1024];
    const char *pass_file = p->str[MTLB_TLSP_PASSPHRASE];

    if (pass_file != NULL && mtlb_tls_read_passphrase(p, pass, sizeof(pass), err, errlen) != 0) {
        *what = NULL;
        return NULL;
    }
    EVP_PKEY *pkey = read_key_pem(path, pass_file != NULL ? pass : NULL, err, errlen);
    OPENSSL_cleanse(pass, sizeof(pass));
    if (pkey == NULL && pass_file != NULL && errlen > 0) {
        size_t n = strlen(err);
        snprintf(err + n, errlen - n, " (passphrase from %s)", pass_file);
    }
    return pkey;
}

/* The position (2..) of the chain certificate that matches pkey when the first one does not:
 * a chain file written leaf-last; 0 when none does. */
static int key_position_in_chain(SSL_CTX *ctx, EVP_PKEY *pkey)
{
    STACK_OF(X509) *chain = NULL;

    if (SSL_CTX_get0_chain_certs(ctx, &chain) != 1) {
        return 0;
    }
    for (int i = 0; i < sk_X509_num(chain); i++) {
        if (X509_check_private_key(sk_X509_value(chain, i), pkey) == 1) {
            ERR_clear_error();
            return i + 2;
        }
    }
    ERR_clear_error();
    return 0;
}

/* The certificate chain: *what names the configuration key a failure is about. */
static int load_cert_and_key(struct mtlb_tls_domain *dom, const struct mtlb_domain_cfg *d,
                             const char **what, char *err, size_t errlen)
{
    char why[128], dn[256];
    SSL_CTX *ctx = dom->ctx;
    int rc = mtlb_tls_check_readable(d->certificate, err, errlen);

    *what = "certificate";
    if (rc != 0) {
        return rc;
    }
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(ctx, d->certificate) != 1) {
        return mtlb_tls_fail(err, errlen,
                             "%s: not a PEM certificate chain, or no certificate in it (%s)",
                             d->certificate, mtlb_tls_ssl_reason(why, sizeof(why)));
    }
    /* Outside its validity period the certificate is still served (as nginx, HAProxy and
     * Envoy do): one expired domain must not take the others down. The audit warns. */
    X509 *leaf = SSL_CTX_get0_certificate(ctx);
    dom->not_before = mtlb_tls_time(X509_get0_notBefore(leaf));
    dom->not_after = mtlb_tls_time(X509_get0_notAfter(leaf));
    *what = "key";
    if ((rc = mtlb_tls_check_readable(d->key, err, errlen)) != 0) {
        return rc;
    }
    EVP_PKEY *pkey = read_key(d->key, &d->policy, what, err, errlen);
    if (pkey == NULL) {
        return -EINVAL;
    }
    if (X509_check_private_key(leaf, pkey) != 1) {
        int pos = key_position_in_chain(ctx, pkey);
        EVP_PKEY_free(pkey);
        ERR_clear_error();
        if (pos > 0) {
            *what = "certificate";
            X509_NAME_oneline(X509_get_subject_name(leaf), dn, sizeof(dn));
            return mtlb_tls_fail(err, errlen,
                                 "%s: the leaf must come first: the certificate of the key %s "
                                 "is at position %d, and position 1 holds %s%s",
                                 d->certificate, d->key, pos, dn,
                                 X509_check_ca(leaf) != 0 ? " (a CA certificate)" : "");
        }
        return mtlb_tls_fail(err, errlen, "%s: private key does not match the certificate in %s",
                             d->key, d->certificate);
    }
    rc = SSL_CTX_use_PrivateKey(ctx, pkey) == 1 && SSL_CTX_check_private_key(ctx) == 1;
    EVP_PKEY_free(pkey);
    if (!rc) {
        return mtlb_tls_fail(err, errlen,
                             "%s: private key does not match the certificate in %s (%s)", d->key,
                             d->certificate, mtlb_tls_ssl_reason(why, sizeof(why)));
    }
    return 0;
}

/* Hashes a file's bytes (its name and a marker when it cannot be read: loading it fails
 * later with the reason). */
static int digest_file(EVP_MD_CTX *md, const char *path)
{
    unsigned char buf[4096];
    size_t n;
    FILE *f = path != NULL ? fopen(path, "rbe") : NULL;
    int ok = EVP_DigestUpdate(md, path != NULL ? "file" : "none", 4) == 1;

    while (ok && f != NULL && (n = fread(buf, 1, sizeof(buf), f)) > 0) {
        ok = EVP_DigestUpdate(md, buf, n) == 1;
    }
    if (f == NULL && path != NULL) {
        ok = ok && EVP_DigestUpdate(md, path, strlen(path) + 1) == 1;
    }
    if (f != NULL) {
        fclose(f);
    }
    return ok;
}

/* The session id context: a session (cached, or a ticket that any replica with the same key
 * file may have issued) resumes only under a context with the same value. It covers the
 * domain (position and names) and everything that decides how its clients are verified: mode,
 * depth, the EKU rule, the TLS policy and the bytes of the truststore and CRL files. So a
 * session never crosses SNI domains, and a replica whose truststore or CRL differs makes a
 * full handshake. */
static int session_context(const struct mtlb_domain_cfg *d, size_t index, unsigned char *sid,
                           unsigned int *sid_len)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int policy[3] = {(int)d->mode, d->verify_depth, d->require_client_auth_eku};
    int ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(md, "mtlb", 4) == 1 &&
             EVP_DigestUpdate(md, &index, sizeof(index)) == 1;

    for (size_t i = 0; ok && i < d->n_names; i++) {
        ok = EVP_DigestUpdate(md, d->names[i], strlen(d->names[i]) + 1) == 1;
    }
    /* The TLS policy too: after a reload that drops a cipher, a TLS 1.2 session under it must
     * not resume (OpenSSL checks a resumed cipher against the client's list, not ours). */
    const struct mtlb_tls_policy_cfg *p = &d->policy;
    bool set = p->min_version != 0 || p->str[0] != NULL || p->str[1] != NULL || p->str[2] != NULL;
    /* (Only when set: with the defaults the value is that of earlier versions, so replicas of
     * both keep resuming each other's sessions during an upgrade.) */
    ok = ok && (!set || EVP_DigestUpdate(md, &p->min_version, sizeof(p->min_version)) == 1);
    for (int k = 0; ok && set && k < MTLB_TLSP_PASSPHRASE; k++) {
        const char *v = p->str[k] != NULL ? p->str[k] : "";
        ok = EVP_DigestUpdate(md, v, strlen(v) + 1) == 1;
    }
    ok = ok && EVP_DigestUpdate(md, policy, sizeof(policy)) == 1 &&
         digest_file(md, d->truststore) && digest_file(md, d->crl) &&
         EVP_DigestFinal_ex(md, sid, sid_len) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

/* dom->trust (tls.h): what a verification verdict depends on, for mtlb_tls_trust_changed. */
static int trust_digest(const struct mtlb_domain_cfg *d, unsigned char out[SHA256_DIGEST_LENGTH])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int rule[3] = {(int)d->mode, d->verify_depth, d->require_client_auth_eku};
    unsigned int len = 0;
    int ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(md, rule, sizeof(rule)) == 1 && digest_file(md, d->truststore) &&
             digest_file(md, d->crl) && EVP_DigestFinal_ex(md, out, &len) == 1;

    EVP_MD_CTX_free(md);
    return ok ? 0 : -ENOMEM;
}

/* What every domain's context shares besides its tls policy (tls_policy.c). */
static int set_policy(SSL_CTX *ctx, const struct mtlb_domain_cfg *d, size_t index)
{
    unsigned char sid[SHA256_DIGEST_LENGTH];
    unsigned int sid_len = 0;
    int ok = session_context(d, index, sid, &sid_len);

    ok = ok && SSL_CTX_set_session_id_context(ctx, sid, sid_len) == 1;
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_ENABLE_KTLS | SSL_OP_NO_COMPRESSION);
    SSL_CTX_clear_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
    return ok ? 0 : -ENOMEM;
}

static int set_verify(struct mtlb_tls_domain *dom, const struct mtlb_domain_cfg *d,
                      const char **what, char *err, size_t errlen)
{
    SSL_CTX *ctx = dom->ctx;
    int rc;

    *what = "truststore";
    if (d->mode != MTLB_CLIENT_AUTH_OFF && d->truststore == NULL) {
        return mtlb_tls_fail(err, errlen, "client_auth %s needs a truststore",
                             mtlb_config_mode_name(d->mode));
    }
    if (d->truststore != NULL &&
        (rc = mtlb_tls_load_truststore(ctx, d->truststore, &dom->anchors, err, errlen)) != 0) {
        return rc;
    }
    *what = "crl";
    if (d->crl != NULL && (rc = mtlb_tls_load_crl(ctx, d->crl, err, errlen)) != 0) {
        return rc;
    }
    if (mtlb_tls_survey_crls(dom) != 0) {
        return mtlb_tls_fail(err, errlen, "%s: out of memory", d->crl);
    }
    /* Chooses the partial-chain rule per handshake (directly trusted leaves only). */
    SSL_CTX_set_cert_verify_callback(ctx, mtlb_tls_verify_chain, dom);
    SSL_CTX_set_verify_depth(ctx, d->verify_depth >= 0 ? d->verify_depth : 10);
    switch (d->mode) {
    case MTLB_CLIENT_AUTH_MANDATORY:
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                           mtlb_tls_verify_mandatory);
        break;
    case MTLB_CLIENT_AUTH_OPTIONAL:
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, mtlb_tls_verify_optional);
        break;
    default:
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        break;
    }
    return 0;
}

/* ALPN: the listener's protocols in its order of preference (h2 first). A client that offers
 * ALPN but none of them gets the no_application_protocol alert (RFC 7301 section 3.2); one
 * that offers no ALPN speaks HTTP/1.1. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char both[] = "\x02h2\x08http/1.1";
    unsigned alpn = (unsigned)(uintptr_t)arg;
    const unsigned char *ours = both;
    unsigned ours_len = sizeof(both) - 1;
    unsigned char *sel = NULL;

    (void)ssl;
    if (!(alpn & MTLB_ALPN_H2)) {
        ours += 3;
        ours_len -= 3;
    } else if (!(alpn & MTLB_ALPN_HTTP11)) {
        ours_len = 3;
    }
    if (SSL_select_next_proto(&sel, outlen, ours, ours_len, in, inlen) != OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* listeners[].tls.tickets as a count (0 when written 0, the default when not written). */
static size_t tickets(const struct mtlb_listener_cfg *l)
{
    return l->tickets == MTLB_TICKETS_OFF ? 0 : l->tickets == 0 ? MTLB_TICKETS_DEFAULT : l->tickets;
}

static int domain_init(struct mtlb_tls_domain *dom, const struct mtlb_domain_cfg *d, size_t index,
                       const struct mtlb_listener_cfg *l, char *err, size_t errlen)
{
    char why[128];
    int rc;

    dom->cfg = d;
    dom->ctx = SSL_CTX_new(TLS_server_method());
    if (dom->ctx == NULL) {
        return mtlb_tls_fail(err, errlen, "%s: cannot create TLS context (%s)", d->certificate,
                             mtlb_tls_ssl_reason(why, sizeof(why)));
    }
    /* The session cache and ticket keys are those of the listener's first context (OpenSSL
     * keeps the SSL_new context for them across the SNI switch), so the lifetime is one per
     * listener; every context gets it all the same. */
    /* Its messages name where each value is written already. */
    if ((rc = mtlb_tls_policy_apply(dom->ctx, &d->policy, err, errlen)) != 0) {
        return rc;
    }
    if (set_policy(dom->ctx, d, index) != 0 || trust_digest(d, dom->trust) != 0 ||
        mtlb_tls_session_setup(dom->ctx, l->session_lifetime) != 0 ||
        (l->session_lifetime != 0 && (mtlb_tls_tickets_setup(dom->ctx) != 0 ||
                                      SSL_CTX_set_num_tickets(dom->ctx, tickets(l)) != 1))) {
        return mtlb_tls_fail(err, errlen, "%s: cannot set the TLS policy (%s)", d->certificate,
                             mtlb_tls_ssl_reason(why, sizeof(why)));
    }
    /* tls.tickets: 0 means no tickets in TLS 1.2 either (its sessions still resume by id from
     * the process's cache; session_lifetime: off turns that off too). */
    if (l->tickets == MTLB_TICKETS_OFF) {
        SSL_CTX_set_options(dom->ctx, SSL_OP_NO_TICKET);
    }
    /* Random keys: nothing outside this process could open a sealed ticket, so tickets name
     * sessions kept in the listener's cache instead (session_cache.c: the cheaper kind). A
     * key file keeps sealed tickets, which resume on every replica. */
    if (l->session_lifetime != 0 && l->ticket_keys == NULL &&
        l->session_cache != MTLB_SESSION_CACHE_OFF) {
        mtlb_session_cache_setup(dom->ctx);
    }
    SSL_CTX_set_client_hello_cb(dom->ctx, mtlb_tls_client_hello_cb, NULL);
    /* Every domain's context carries it: after the SNI switch OpenSSL asks the new one. */
    SSL_CTX_set_alpn_select_cb(dom->ctx, alpn_select, (void *)(uintptr_t)l->alpn);
    const char *what = "certificate";
    rc = load_cert_and_key(dom, d, &what, err, errlen);
    if (rc == 0) {
        rc = set_verify(dom, d, &what, err, errlen);
    }
    if (rc == 0) {
        what = "ocsp_response";
        rc = mtlb_tls_ocsp_load(dom, err, errlen);
    }
    if (rc == 0) {
        mtlb_tls_fix_server_chain(dom->ctx); /* after OCSP, which reads the file's chain only */
    }
    ERR_clear_error();
    if (rc != 0 && errlen > 0 && what != NULL) {
        /* Name where the file was configured: "FILE:LINE: listeners[0].domains[1] (NAME):
         * certificate: PATH: problem". */
        char origin[512], problem[1024];
        snprintf(problem, sizeof(problem), "%s", err);
        mtlb_tls_origin(d, what, origin, sizeof(origin));
        snprintf(err, errlen, "%s: %s", origin, problem);
    }
    return rc;
}

/* Sessions the listener keeps for stateful tickets (0: sealed tickets). */
static size_t cache_cap(const struct mtlb_listener_cfg *cfg)
{
    return cfg->session_cache == MTLB_SESSION_CACHE_OFF ? 0
           : cfg->session_cache == 0                    ? MTLB_SESSION_CACHE_DEFAULT
                                                        : cfg->session_cache;
}

/* The listener's ticket keys: the key file, else random ones (none without resumption). */
static int init_tickets(struct mtlb_tls_listener *tl, const struct mtlb_listener_cfg *cfg,
                        char *err, size_t errlen)
{
    if (cfg->session_lifetime == 0) {
        return 0;
    }
    tl->tickets = malloc(sizeof(*tl->tickets));
    if (tl->tickets == NULL) {
        return -ENOMEM;
    }
    int rc = cfg->ticket_keys != NULL
                 ? mtlb_tickets_init_file(tl->tickets, cfg->ticket_keys, err, errlen)
                 : mtlb_tickets_init_random(tl->tickets, time(NULL), cache_cap(cfg));
    if (rc == 0) {
        atomic_init(&tl->tickets->refs, 1);
    } else {
        free(tl->tickets);
        tl->tickets = NULL;
        if (cfg->ticket_keys == NULL) {
            mtlb_tls_fail(err, errlen, "listener %s:%u: no randomness for ticket keys",
                          cfg->bind_host, cfg->bind_port);
        }
    }
    return rc;
}

int mtlb_tls_listener_init(struct mtlb_tls_listener *tl, const struct mtlb_listener_cfg *cfg,
                           char *err, size_t errlen)
{
    tl->domains = NULL;
    tl->n_domains = 0;
    tl->tickets = NULL;
    if (cfg->plain) {
        return 0; /* tls: false: nothing to build, the listener has no domains */
    }
    if (cfg->n_domains == 0) {
        return mtlb_tls_fail(err, errlen, "listener %s:%u: no domain", cfg->bind_host,
                             cfg->bind_port);
    }
    if (mtlb_tls_ex_index() < 0) {
        return mtlb_tls_fail(err, errlen, "listener %s:%u: cannot allocate SSL ex_data",
                             cfg->bind_host, cfg->bind_port);
    }
    int trc = init_tickets(tl, cfg, err, errlen);
    if (trc != 0) {
        return trc;
    }
    tl->domains = calloc(cfg->n_domains, sizeof(*tl->domains));
    if (tl->domains == NULL) {
        mtlb_tls_listener_fini(tl);
        return -ENOMEM;
    }
    for (size_t i = 0; i < cfg->n_domains; i++) {
        tl->n_domains = i + 1;
        int rc = domain_init(&tl->domains[i], &cfg->domains[i], i, cfg, err, errlen);
        if (rc != 0) {
            mtlb_tls_listener_fini(tl);
            return rc;
        }
    }
    return 0;
}

void mtlb_tls_listener_fini(struct mtlb_tls_listener *tl)
{
    for (size_t i = 0; i < tl->n_domains; i++) {
        SSL_CTX_free(tl->domains[i].ctx);
        sk_X509_pop_free(tl->domains[i].anchors, X509_free);
        free(tl->domains[i].crls);
        free(tl->domains[i].fixed);
        free(tl->domains[i].ocsp);
    }
    free(tl->domains);
    tl->domains = NULL;
    tl->n_domains = 0;
    if (tl->tickets != NULL && atomic_fetch_sub(&tl->tickets->refs, 1) == 1) {
        mtlb_tickets_fini(tl->tickets);
        free(tl->tickets);
    }
    tl->tickets = NULL;
}

void mtlb_tls_listener_keep_tickets(struct mtlb_tls_listener *dst,
                                    const struct mtlb_tls_listener *src)
{
    /* A changed session_cache starts a new store (its sessions are not carried over). */
    if (dst->tickets == NULL || src->tickets == NULL || dst->tickets->from_file ||
        src->tickets->from_file || dst->tickets->cache_cap != src->tickets->cache_cap) {
        return;
    }
    if (atomic_fetch_sub(&dst->tickets->refs, 1) == 1) {
        mtlb_tickets_fini(dst->tickets);
        free(dst->tickets);
    }
    atomic_fetch_add(&src->tickets->refs, 1);
    dst->tickets = src->tickets;
}

SSL *mtlb_tls_new_conn(const struct mtlb_tls_listener *tl, struct mtlb_tls_conn_info *info)
{
    int idx = mtlb_tls_ex_index();
    SSL *ssl = idx >= 0 ? SSL_new(tl->domains[0].ctx) : NULL;

    if (ssl == NULL) {
        return NULL;
    }
    info->listener = tl;
    info->domain = 0;
    info->first_error = X509_V_OK;
    info->first_error_depth = -1;
    info->not_after = 0;
    if (SSL_set_ex_data(ssl, idx, info) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    /* SSL_new copied these already; set them explicitly so the SSL never depends on what a
     * later change to the default context might do. */
    SSL_set_verify(ssl, SSL_CTX_get_verify_mode(tl->domains[0].ctx),
                   SSL_CTX_get_verify_callback(tl->domains[0].ctx));
    SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(tl->domains[0].ctx));
    return ssl;
}

void mtlb_tls_defer_tickets(SSL *ssl)
{
    /* The contexts keep tls.tickets: that is the count owed (mtlb_tls_tickets_owed). */
    SSL_set_num_tickets(ssl, 0);
}
