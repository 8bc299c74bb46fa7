/* TLS contexts and client-certificate verification: load errors name the file and the
 * problem; verification outcomes, SNI and advertised CA names are checked with in-memory
 * handshakes over BIO pairs against the test PKI (scripts/gen-pki, path in MTLB_PKI). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "capture.h"
#include "mtlb/log.h"
#include "mtlb/tls.h"

/* ---- fixtures ------------------------------------------------------------------------- */

static char *pki(const char *rel)
{
    static char paths[32][512];
    static unsigned next;
    const char *root = getenv("MTLB_PKI");

    cr_assert_not_null(root, "MTLB_PKI is not set (run through meson test)");
    char *p = paths[next++ % 32];
    snprintf(p, sizeof(paths[0]), "%s/%s", root, rel);
    return p;
}

/* Up to three domains on one listener; fields point into static storage. */
struct fixture {
    char *names[3][2];
    struct mtlb_domain_cfg dom[3];
    struct mtlb_listener_cfg lcfg;
    struct mtlb_tls_listener tl;
    char err[512];
};

static void domain_set(struct fixture *f, size_t i, const char *name, const char *cert,
                       const char *key, enum mtlb_client_auth mode, const char *trust,
                       const char *crl)
{
    struct mtlb_domain_cfg *d = &f->dom[i];

    f->names[i][0] = (char *)name;
    d->names = f->names[i];
    d->n_names = 1;
    d->certificate = (char *)cert;
    d->key = (char *)key;
    d->mode = mode;
    d->truststore = (char *)trust;
    d->crl = (char *)crl;
    d->verify_depth = 10;
    d->require_client_auth_eku = true; /* the configuration's default */
    if (f->lcfg.n_domains < i + 1) {
        f->lcfg.n_domains = i + 1;
    }
    f->lcfg.domains = f->dom;
    f->lcfg.bind_host = (char *)"127.0.0.1";
    f->lcfg.bind_port = 8443;
}

static void api_domain(struct fixture *f, enum mtlb_client_auth mode, const char *trust,
                       const char *crl)
{
    domain_set(f, 0, "api.example.com", pki("server/api.crt"), pki("server/api.key"), mode,
               trust ? pki(trust) : NULL, crl ? pki(crl) : NULL);
}

static int listener_init(struct fixture *f)
{
    f->err[0] = '\0';
    return mtlb_tls_listener_init(&f->tl, &f->lcfg, f->err, sizeof(f->err));
}

static void listener_ok(struct fixture *f)
{
    cr_assert_eq(listener_init(f), 0, "listener init failed: %s", f->err);
}

static void expect_error(struct fixture *f, const char *file, const char *what)
{
    cr_assert_eq(listener_init(f), -EINVAL, "init should fail (err=%s)", f->err);
    cr_expect(strstr(f->err, file) != NULL, "error does not name %s: %s", file, f->err);
    cr_expect(strstr(f->err, what) != NULL, "error lacks \"%s\": %s", what, f->err);
    cr_expect_eq(f->tl.domains, NULL);
}

static char *temp_file(const char *content)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/mtlb-test-tls-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_neq(fd, -1);
    size_t len = strlen(content);
    cr_assert_eq(write(fd, content, len), (ssize_t)len);
    close(fd);
    return path;
}

/* ---- in-memory handshake ----------------------------------------------------------------- */

struct conn {
    SSL_CTX *cctx;
    SSL *client;
    SSL *server;
    struct mtlb_tls_conn_info info;
    bool server_done;
    bool client_done;
};

/* Client with the given certificate (chain) file and key, or none when cert is NULL. */
static void conn_open(struct conn *c, struct fixture *f, const char *cert, const char *key,
                      const char *sni)
{
    BIO *cbio, *sbio;

    memset(c, 0, sizeof(*c));
    c->cctx = SSL_CTX_new(TLS_client_method());
    cr_assert_not_null(c->cctx);
    SSL_CTX_set_verify(c->cctx, SSL_VERIFY_NONE, NULL);
    if (cert != NULL) {
        cr_assert_eq(SSL_CTX_use_certificate_chain_file(c->cctx, pki(cert)), 1, "%s", cert);
        cr_assert_eq(SSL_CTX_use_PrivateKey_file(c->cctx, pki(key), SSL_FILETYPE_PEM), 1);
    }
    c->client = SSL_new(c->cctx);
    cr_assert_not_null(c->client);
    if (sni != NULL) {
        SSL_set_tlsext_host_name(c->client, sni);
    }
    SSL_set_connect_state(c->client);

    c->info.conn_id = 17;
    snprintf(c->info.peer, sizeof(c->info.peer), "127.0.0.1:5555");
    c->server = mtlb_tls_new_conn(&f->tl, &c->info);
    cr_assert_not_null(c->server);
    SSL_set_accept_state(c->server);

    cr_assert_eq(BIO_new_bio_pair(&cbio, 0, &sbio, 0), 1);
    SSL_set_bio(c->client, cbio, cbio);
    SSL_set_bio(c->server, sbio, sbio);
}

static bool step(SSL *ssl, bool *done)
{
    if (*done) {
        return true;
    }
    int r = SSL_do_handshake(ssl);
    if (r == 1) {
        *done = true;
        return true;
    }
    int e = SSL_get_error(ssl, r);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

/* Drives both ends until the server finished or one side failed. In TLS 1.3 the client is
 * done before the server has seen its certificate, so the server's result is what counts.
 * Returns true when the server completed the handshake. */
static bool handshake(struct conn *c)
{
    bool client_alive = true;

    for (int i = 0; i < 50 && !c->server_done; i++) {
        if (client_alive) {
            client_alive = step(c->client, &c->client_done);
        }
        if (!step(c->server, &c->server_done)) {
            return false;
        }
    }
    return c->server_done;
}

static void conn_close(struct conn *c)
{
    SSL_free(c->client);
    SSL_free(c->server);
    mtlb_tls_conn_info_fini(&c->info);
    SSL_CTX_free(c->cctx);
    ERR_clear_error();
}

/* Handshake with a client certificate against a single-domain listener; returns the
 * server's verify result (or the recorded first error) and whether it completed. */
static bool verify_case(enum mtlb_client_auth mode, const char *trust, const char *crl,
                        const char *cert, const char *key, long *result)
{
    struct fixture f = {0};
    struct conn c;

    api_domain(&f, mode, trust, crl);
    listener_ok(&f);
    conn_open(&c, &f, cert, key, "api.example.com");
    bool ok = handshake(&c);
    *result =
        c.info.first_error != X509_V_OK ? c.info.first_error : SSL_get_verify_result(c.server);
    conn_close(&c);
    mtlb_tls_listener_fini(&f.tl);
    return ok;
}

/* ---- load errors ---------------------------------------------------------------------- */

Test(tls_load, valid_domain_loads)
{
    struct fixture f = {0};

    api_domain(&f, MTLB_CLIENT_AUTH_MANDATORY, "trust/full.pem", "ca/crl.pem");
    listener_ok(&f);
    cr_assert_eq(f.tl.n_domains, 1);
    cr_assert_not_null(f.tl.domains[0].ctx);
    cr_expect_eq(SSL_CTX_get_min_proto_version(f.tl.domains[0].ctx), TLS1_2_VERSION);
    cr_expect_eq(SSL_CTX_get_max_proto_version(f.tl.domains[0].ctx), TLS1_3_VERSION);
    cr_expect(SSL_CTX_get_options(f.tl.domains[0].ctx) & SSL_OP_ENABLE_KTLS);
    cr_expect(SSL_CTX_get_options(f.tl.domains[0].ctx) & SSL_OP_NO_RENEGOTIATION);
    cr_expect_eq(SSL_CTX_get_mode(f.tl.domains[0].ctx) & SSL_MODE_RELEASE_BUFFERS, 0);
    cr_expect_eq(SSL_CTX_get_verify_mode(f.tl.domains[0].ctx),
                 SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
    cr_expect_eq(sk_X509_NAME_num(SSL_CTX_get_client_CA_list(f.tl.domains[0].ctx)), 3);
    mtlb_tls_listener_fini(&f.tl);
    cr_expect_eq(f.tl.domains, NULL);
}

Test(tls_load, missing_certificate_file)
{
    struct fixture f = {0};

    api_domain(&f, MTLB_CLIENT_AUTH_OFF, NULL, NULL);
    f.dom[0].certificate = pki("server/nope.crt");
    expect_error(&f, "server/nope.crt", strerror(ENOENT));
}

Test(tls_load, certificate_not_pem)
{
    struct fixture f = {0};

    api_domain(&f, MTLB_CLIENT_AUTH_OFF, NULL, NULL);
    f.dom[0].certificate = temp_file("this is not a certificate\n");
    expect_error(&f, f.dom[0].certificate, "not a PEM certificate chain");
    unlink(f.dom[0].certificate);
}

Test(tls_load, missing_key_file)
{
    struct fixture f = {0};

    api_domain(&f, MTLB_CLIENT_AUTH_OFF, NULL, NULL);
    f.dom[0].key = pki("server/nope.key");
    expect_error(&f, "server/nope.key", strerror(ENOENT));
}

Test(tls_load, key_not_a_key)
{
    struct fixture f = {0};

    api_domain(&f, MTLB_CLIENT_AUTH_OFF, NULL, NULL);
    f.dom[0].key = pki("server/api.crt");
    expect_error(&f, "server/api.crt", "no PEM private key");
}

Test(tls_load, mismatched_key)
{
    struct fixture f = {0};

    api_domain(&f, MTLB_CLIENT_AUTH_OFF, NULL, NULL);
    f.dom[0].key = pki("server/mismatch.key");
    expect_error(&f, "server/mismatch.key", "does not match the certificate");
}

Test(tls_load, mismatched_key_of_other_type)
{
    struct fixture f = {0};

    api_domain(&f, MTLB_CLIENT_AUTH_OFF, NULL, NULL);
    f.dom[0].key = pki("server/rsa.key"); /* RSA key for an ECDSA certificate */
    expect_error(&f, "server/rsa.key", "does not match the certificate");
}

Test(tls_load, encrypted_key_is_refused_without_prompt)
{
    struct fixture f = {0};
    char path[] = "/tmp/mtlb-test-enc-XXXXXX";
    int fd = mkstemp(path);
    FILE *in = fopen(pki("server/api.key"), "r");

    cr_assert(fd != -1 && in != NULL);
    EVP_PKEY *k = PEM_read_PrivateKey(in, NULL, NULL, NULL);
    fclose(in);
    FILE *out = fdopen(fd, "w");
    cr_assert(k != NULL && out != NULL);
    cr_assert_eq(
        PEM_write_PKCS8PrivateKey(out, k, EVP_aes_256_cbc(), NULL, 0, NULL, (void *)"secret"), 1);
    fclose(out);
    EVP_PKEY_free(k);

    api_domain(&f, MTLB_CLIENT_AUTH_OFF, NULL, NULL);
    f.dom[0].key = path;
    expect_error(&f, path, "passphrase");
    unlink(path);
}

/* What mtlb_tls_listener_audit reported: the events, space-separated, and the last text. */
struct seen {
    char events[512];
    char text[1024];
};

static void seen_add(const struct mtlb_tls_domain *dom, const struct mtlb_tls_warning *w, void *arg)
{
    struct seen *s = arg;

    (void)dom;
    strncat(s->events, w->event, sizeof(s->events) - strlen(s->events) - 2);
    strcat(s->events, " ");
    snprintf(s->text, sizeof(s->text), "%s", w->text);
}

static size_t audit_at(struct fixture *f, time_t now, bool all, struct seen *s)
{
    memset(s, 0, sizeof(*s));
    return mtlb_tls_listener_audit(&f->tl, now, all, seen_add, s);
}

/* An expired server certificate loads (mtlb serves it, as nginx does); the audit, run at
 * start and hourly, names it with its date, whatever time it is asked about. */
Test(tls_load, expired_certificate_loads_and_is_audited)
{
    struct fixture f = {0};
    struct seen s;

    api_domain(&f, MTLB_CLIENT_AUTH_OFF, NULL, NULL);
    f.dom[0].certificate = pki("server/expired.crt");
    f.dom[0].key = pki("server/expired.key");
    listener_ok(&f);
    cr_assert_eq(audit_at(&f, time(NULL), false, &s), 1);
    cr_assert_str_eq(s.events, "server_certificate_expired ");
    cr_assert_not_null(strstr(s.text, "expired on 2020-12-31 23:59:59 UTC"), "%s", s.text);
    cr_assert_not_null(strstr(s.text, "domain api.example.com: certificate: "), "%s", s.text);
    time_t na = f.tl.domains[0].not_after;
    cr_assert_eq(audit_at(&f, na - 40 * 86400, true, &s), 0, "%s", s.events);
    cr_assert_eq(audit_at(&f, na - 10 * 86400, true, &s), 1);
    cr_assert_str_eq(s.events, "server_certificate_expiring ");
    cr_assert_eq(audit_at(&f, f.tl.domains[0].not_before - 1, true, &s), 1);
    cr_assert_str_eq(s.events, "server_certificate_not_yet_valid ");
    mtlb_tls_listener_fini(&f.tl);
}

/* A CRL's nextUpdate comes while mtlb runs: the hourly audit says so before and after. */
Test(tls_load, crl_dates_are_audited_over_time)
{
    struct fixture f = {0};
    struct seen s;

    api_domain(&f, MTLB_CLIENT_AUTH_MANDATORY, "trust/full.pem", "ca/crl-soon.pem");
    listener_ok(&f);
    time_t now = time(NULL);
    cr_assert_eq(audit_at(&f, now, true, &s), 1, "%s", s.events);
    cr_assert_str_eq(s.events, "crl_expiring ");
    cr_assert_eq(audit_at(&f, now + 4 * 86400, false, &s), 1);
    cr_assert_str_eq(s.events, "crl_expired ");
    cr_assert_not_null(strstr(s.text, "CN=mtlb Test Intermediate CA expired on"), "%s", s.text);
    /* a day before the PKI was made: the root's and the intermediate's CRLs (and the server
     * certificate) are not valid yet */
    cr_assert_eq(audit_at(&f, now - 86400, false, &s), 3, "%s", s.events);
    cr_assert_str_eq(s.events, "server_certificate_not_yet_valid crl_not_yet_valid "
                               "crl_not_yet_valid ");
    mtlb_tls_listener_fini(&f.tl);
}

/* Conditions fixed at load come with `all` (start, -t) only, not hourly. */
Test(tls_load, crl_coverage_is_reported_once)
{
    struct fixture f = {0};
    struct seen s;

    api_domain(&f, MTLB_CLIENT_AUTH_MANDATORY, "trust/other.pem", "ca/crl-inter.pem");
    listener_ok(&f);
    cr_assert_eq(audit_at(&f, time(NULL), true, &s), 2, "%s", s.events);
    cr_assert_str_eq(s.events, "crl_missing crl_unused ");
    cr_assert_eq(audit_at(&f, time(NULL), false, &s), 0, "%s", s.events);
    mtlb_tls_listener_fini(&f.tl);
    struct fixture g = {0};
    api_domain(&g, MTLB_CLIENT_AUTH_MANDATORY, "trust/full.pem", "ca/crl.pem");
    listener_ok(&g);
    cr_assert_eq(audit_at(&g, time(NULL), true, &s), 0, "a CRL per CA: %s", s.events);
    mtlb_tls_listener_fini(&g.tl);
}

Test(tls_load, chain_with_the_leaf_last)
{
    struct fixture f = {0};

    api_domain(&f, MTLB_CLIENT_AUTH_OFF, NULL, NULL);
    f.dom[0].certificate = pki("server/api-reversed.pem");
    expect_error(&f, "server/api-reversed.pem", "the leaf must come first");
}

Test(tls_load, truststore_with_private_key_entry)
{
    struct fixture f = {0};

    api_domain(&f, MTLB_CLIENT_AUTH_MANDATORY, "trust/bad-entry.pem", NULL);
    expect_error(&f, "trust/bad-entry.pem", "entry 2 is a PRIVATE KEY, not a certificate");
}

Test(tls_load, truststore_with_corrupt_certificate)
{
    struct fixture f = {0};

    api_domain(&f, MTLB_CLIENT_AUTH_MANDATORY, "trust/corrupt-entry.pem", NULL);
    expect_error(&f, "trust/corrupt-entry.pem", "entry 2 is a corrupted certificate");
}

Test(tls_load, empty_truststore)
{
    struct fixture f = {0};

    api_domain(&f, MTLB_CLIENT_AUTH_MANDATORY, NULL, NULL);
    f.dom[0].truststore = temp_file("# nothing here\n");
    expect_error(&f, f.dom[0].truststore, "no certificate");
    unlink(f.dom[0].truststore);
}

Test(tls_load, missing_truststore)
{
    struct fixture f = {0};

    api_domain(&f, MTLB_CLIENT_AUTH_MANDATORY, "trust/nope.pem", NULL);
    expect_error(&f, "trust/nope.pem", strerror(ENOENT));
}

Test(tls_load, mandatory_without_truststore)
{
    struct fixture f = {0};

    api_domain(&f, MTLB_CLIENT_AUTH_MANDATORY, NULL, NULL);
    expect_error(&f, "api.example.com", "needs a truststore");
}

Test(tls_load, missing_crl_file)
{
    struct fixture f = {0};

    api_domain(&f, MTLB_CLIENT_AUTH_MANDATORY, "trust/full.pem", "ca/nope.crl");
    expect_error(&f, "ca/nope.crl", strerror(ENOENT));
}

Test(tls_load, crl_file_without_crl)
{
    struct fixture f = {0};

    api_domain(&f, MTLB_CLIENT_AUTH_MANDATORY, "trust/full.pem", "ca/root.crt");
    expect_error(&f, "ca/root.crt", "no CRL");
}

Test(tls_load, second_domain_error_names_its_file)
{
    struct fixture f = {0};

    api_domain(&f, MTLB_CLIENT_AUTH_OFF, NULL, NULL);
    domain_set(&f, 1, "other.example.com", pki("server/other.crt"), pki("server/api.key"),
               MTLB_CLIENT_AUTH_OFF, NULL, NULL);
    expect_error(&f, "server/api.key", "does not match");
}

/* ---- verification outcomes ------------------------------------------------------------- */

Test(tls_verify, good_leaf_full_truststore)
{
    long r;

    cr_assert(verify_case(MTLB_CLIENT_AUTH_MANDATORY, "trust/full.pem", NULL, "client/good.crt",
                          "client/good.key", &r));
    cr_assert_eq(r, X509_V_OK);
}

Test(tls_verify, good_leaf_with_crl_checks_whole_chain)
{
    long r;

    cr_assert(verify_case(MTLB_CLIENT_AUTH_MANDATORY, "trust/full.pem", "ca/crl.pem",
                          "client/good.crt", "client/good.key", &r));
    cr_assert_eq(r, X509_V_OK);
}

Test(tls_verify, directly_trusted_self_signed_with_crl)
{
    long r;

    /* No CRL can exist for a directly trusted leaf; trust anchors are not revocation-checked. */
    cr_assert(verify_case(MTLB_CLIENT_AUTH_MANDATORY, "trust/full.pem", "ca/crl.pem",
                          "client/selfsigned.crt", "client/selfsigned.key", &r));
    cr_assert_eq(r, X509_V_OK);
}

Test(tls_verify, crl_check_covers_intermediate_below_anchor)
{
    struct fixture f = {0};
    struct conn c;
    char crl[4096] = "";
    FILE *fp = fopen(pki("ca/crl.pem"), "r");

    /* Keep only the intermediate's CRL (the second one): with root-only, the intermediate
     * is below the anchor and needs the root's CRL. */
    cr_assert_not_null(fp);
    X509_CRL *root_crl = PEM_read_X509_CRL(fp, NULL, NULL, NULL);
    X509_CRL *inter_crl = PEM_read_X509_CRL(fp, NULL, NULL, NULL);
    fclose(fp);
    cr_assert(root_crl != NULL && inter_crl != NULL);
    BIO *mem = BIO_new(BIO_s_mem());
    PEM_write_bio_X509_CRL(mem, inter_crl);
    BIO_read(mem, crl, sizeof(crl) - 1);
    BIO_free(mem);
    X509_CRL_free(root_crl);
    X509_CRL_free(inter_crl);

    api_domain(&f, MTLB_CLIENT_AUTH_MANDATORY, "trust/root-only.pem", NULL);
    f.dom[0].crl = temp_file(crl);
    listener_ok(&f);
    conn_open(&c, &f, "client/good-chain.pem", "client/good.key", NULL);
    cr_assert_not(handshake(&c));
    cr_assert_eq(c.info.first_error, X509_V_ERR_UNABLE_TO_GET_CRL);
    cr_assert_eq(c.info.first_error_depth, 1);
    conn_close(&c);
    unlink(f.dom[0].crl);
    mtlb_tls_listener_fini(&f.tl);
}

/* Which chain is built decides which CRLs apply: to the root whenever the truststore holds it;
 * a root-less intermediate or a leaf of the truststore is an anchor, never revocation-checked
 * (whatever CRLs without AKID OpenSSL would try on it); a missing CA CRL fails closed. */
Test(tls_verify, chain_and_crl_matrix)
{
    static const struct {
        const char *trust, *crl, *cert, *key;
        long want;
        int depth;
    } cases[] = {
        {"trust/full.pem", "ca/crl-noakid.pem", "client/good.crt", "client/good.key", 0, -1},
        {"trust/full.pem", "ca/crl-noakid.pem", "client/rsa-chain.pem", "client/rsa.key", 0, -1},
        {"trust/full.pem", "ca/crl-inter.pem", "client/good.crt", "client/good.key",
         X509_V_ERR_UNABLE_TO_GET_CRL, 1},
        {"trust/revoked-inter.pem", "ca/crl.pem", "client/under-revoked.crt",
         "client/under-revoked.key", X509_V_ERR_CERT_REVOKED, 1},
        {"trust/inter-only.pem", "ca/crl-noakid.pem", "client/good.crt", "client/good.key", 0, -1},
        {"trust/inter-only.pem", "ca/crl.pem", "client/revoked.crt", "client/revoked.key",
         X509_V_ERR_CERT_REVOKED, 0},
        {"trust/leaf-only.pem", "ca/crl-noakid.pem", "client/rsa.crt", "client/rsa.key", 0, -1},
        {"trust/leaf-only.pem", "ca/crl.pem", "client/revoked.crt", "client/revoked.key",
         X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, 0},
        {"trust/full.pem", NULL, "client/noeku.crt", "client/noeku.key", X509_V_ERR_INVALID_PURPOSE,
         0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fixture f = {0};
        struct conn c;
        api_domain(&f, MTLB_CLIENT_AUTH_MANDATORY, cases[i].trust, cases[i].crl);
        listener_ok(&f);
        conn_open(&c, &f, cases[i].cert, cases[i].key, NULL);
        bool ok = handshake(&c);
        cr_expect_eq(ok, cases[i].want == X509_V_OK, "case %zu (%s, %s): handshake %s", i,
                     cases[i].trust, cases[i].cert, ok ? "completed" : "failed");
        cr_expect_eq(c.info.first_error, cases[i].want, "case %zu: error %ld, want %ld", i,
                     c.info.first_error, cases[i].want);
        cr_expect_eq(c.info.first_error_depth, cases[i].depth, "case %zu: depth", i);
        conn_close(&c);
        mtlb_tls_listener_fini(&f.tl);
    }
}

/* A domain that accepts certificates without EKU verifies differently from one that does
 * not: a request must not move between them on one connection (421). */
Test(tls_verify, eku_rule_is_part_of_same_client_auth)
{
    struct fixture f = {0};

    api_domain(&f, MTLB_CLIENT_AUTH_MANDATORY, "trust/full.pem", NULL);
    domain_set(&f, 1, "other.example.com", pki("server/other.crt"), pki("server/other.key"),
               MTLB_CLIENT_AUTH_MANDATORY, pki("trust/full.pem"), NULL);
    cr_assert(mtlb_tls_same_client_auth(&f.dom[0], &f.dom[1]));
    f.dom[1].require_client_auth_eku = false;
    cr_assert_not(mtlb_tls_same_client_auth(&f.dom[0], &f.dom[1]));
}

Test(tls_verify, no_eku_accepted_when_not_required)
{
    struct fixture f = {0};
    struct conn c;

    api_domain(&f, MTLB_CLIENT_AUTH_MANDATORY, "trust/full.pem", NULL);
    f.dom[0].require_client_auth_eku = false;
    listener_ok(&f);
    conn_open(&c, &f, "client/noeku.crt", "client/noeku.key", NULL);
    cr_assert(handshake(&c));
    cr_assert_eq(c.info.first_error, X509_V_OK);
    conn_close(&c);
    mtlb_tls_listener_fini(&f.tl);
}

Test(tls_verify, optional_expired_stays_failed_with_crl)
{
    struct fixture f = {0};
    struct conn c;

    api_domain(&f, MTLB_CLIENT_AUTH_OPTIONAL, "trust/full.pem", "ca/crl.pem");
    listener_ok(&f);
    conn_open(&c, &f, "client/expired.crt", "client/expired.key", NULL);
    cr_assert(handshake(&c));
    cr_expect_eq(c.info.first_error, X509_V_ERR_CERT_HAS_EXPIRED);
    cr_expect_neq(SSL_get_verify_result(c.server), X509_V_OK);
    conn_close(&c);
    mtlb_tls_listener_fini(&f.tl);
}

Test(tls_verify, missing_intermediate_fails_in_mandatory)
{
    long r;

    cr_assert_not(verify_case(MTLB_CLIENT_AUTH_MANDATORY, "trust/root-only.pem", NULL,
                              "client/good.crt", "client/good.key", &r));
    cr_assert_eq(r, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

Test(tls_verify, missing_intermediate_completes_in_optional)
{
    struct fixture f = {0};
    struct conn c;
    struct mtlb_identity id;

    api_domain(&f, MTLB_CLIENT_AUTH_OPTIONAL, "trust/root-only.pem", NULL);
    listener_ok(&f);
    conn_open(&c, &f, "client/good.crt", "client/good.key", NULL);
    cr_assert(handshake(&c));
    cr_assert_eq(c.info.first_error, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    cr_assert_eq(c.info.first_error_depth, 0);
    cr_assert_eq(mtlb_tls_identity(c.server, MTLB_DN_SLASH, &id), 0);
    cr_expect_eq(id.verify, MTLB_VERIFY_FAILED);
    cr_expect_str_eq(id.subject, "/C=PL/O=mtlb Test/CN=good-client");
    cr_expect_str_eq(id.serial, "1001");
    mtlb_identity_fini(&id);
    conn_close(&c);
    mtlb_tls_listener_fini(&f.tl);
}

Test(tls_verify, optional_good_and_absent_certificates)
{
    struct fixture f = {0};
    struct conn c;
    struct mtlb_identity id;

    api_domain(&f, MTLB_CLIENT_AUTH_OPTIONAL, "trust/full.pem", NULL);
    listener_ok(&f);
    conn_open(&c, &f, "client/good.crt", "client/good.key", NULL);
    cr_assert(handshake(&c));
    cr_assert_eq(mtlb_tls_identity(c.server, MTLB_DN_SLASH, &id), 0);
    cr_expect_eq(id.verify, MTLB_VERIFY_SUCCESS);
    cr_expect_str_eq(id.issuer, "/C=PL/O=mtlb Test/CN=mtlb Test Intermediate CA");
    mtlb_identity_fini(&id);
    conn_close(&c);

    conn_open(&c, &f, NULL, NULL, NULL);
    cr_assert(handshake(&c));
    cr_assert_eq(mtlb_tls_identity(c.server, MTLB_DN_SLASH, &id), 0);
    cr_expect_eq(id.verify, MTLB_VERIFY_NONE);
    mtlb_identity_fini(&id);
    conn_close(&c);
    mtlb_tls_listener_fini(&f.tl);
}

Test(tls_verify, client_sent_chain_with_root_only)
{
    long r;

    cr_assert(verify_case(MTLB_CLIENT_AUTH_MANDATORY, "trust/root-only.pem", NULL,
                          "client/good-chain.pem", "client/good.key", &r));
    cr_assert_eq(r, X509_V_OK);
}

Test(tls_verify, directly_trusted_self_signed)
{
    long r;

    cr_assert(verify_case(MTLB_CLIENT_AUTH_MANDATORY, "trust/root-only.pem", NULL,
                          "client/selfsigned.crt", "client/selfsigned.key", &r));
    cr_assert_eq(r, X509_V_OK);
}

static char *read_text(const char *rel)
{
    static char text[16384];
    FILE *fp = fopen(pki(rel), "r");

    cr_assert_not_null(fp);
    size_t n = fread(text, 1, sizeof(text) - 1, fp);
    fclose(fp);
    text[n] = '\0';
    return text;
}

Test(tls_verify, directly_trusted_ca_issued_leaf)
{
    struct fixture f = {0};
    struct conn c;

    /* Only the leaf itself is in the truststore; neither its intermediate nor the root. */
    api_domain(&f, MTLB_CLIENT_AUTH_MANDATORY, NULL, NULL);
    f.dom[0].truststore = temp_file(read_text("client/good.crt"));
    listener_ok(&f);
    conn_open(&c, &f, "client/good.crt", "client/good.key", NULL);
    cr_expect(handshake(&c));
    cr_expect_eq(c.info.first_error, X509_V_OK);
    conn_close(&c);
    /* Another leaf of the same intermediate is not trusted by that. */
    conn_open(&c, &f, "client/rsa-chain.pem", "client/rsa.key", NULL);
    cr_expect_not(handshake(&c));
    cr_expect_eq(c.info.first_error, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    conn_close(&c);
    unlink(f.dom[0].truststore);
    mtlb_tls_listener_fini(&f.tl);
}

Test(tls_verify, self_signed_not_in_truststore)
{
    long r;

    cr_assert_not(verify_case(MTLB_CLIENT_AUTH_MANDATORY, "trust/other.pem", NULL,
                              "client/selfsigned.crt", "client/selfsigned.key", &r));
    cr_assert_eq(r, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
}

Test(tls_verify, expired_client)
{
    long r;

    cr_assert_not(verify_case(MTLB_CLIENT_AUTH_MANDATORY, "trust/full.pem", NULL,
                              "client/expired.crt", "client/expired.key", &r));
    cr_assert_eq(r, X509_V_ERR_CERT_HAS_EXPIRED);
}

Test(tls_verify, revoked_client_with_crl)
{
    long r;

    cr_assert_not(verify_case(MTLB_CLIENT_AUTH_MANDATORY, "trust/full.pem", "ca/crl.pem",
                              "client/revoked.crt", "client/revoked.key", &r));
    cr_assert_eq(r, X509_V_ERR_CERT_REVOKED);
}

Test(tls_verify, revoked_client_passes_without_crl)
{
    long r;

    cr_assert(verify_case(MTLB_CLIENT_AUTH_MANDATORY, "trust/full.pem", NULL, "client/revoked.crt",
                          "client/revoked.key", &r));
    cr_assert_eq(r, X509_V_OK);
}

Test(tls_verify, missing_client_auth_eku)
{
    long r;

    cr_assert_not(verify_case(MTLB_CLIENT_AUTH_MANDATORY, "trust/full.pem", NULL,
                              "client/noclientauth.crt", "client/noclientauth.key", &r));
    cr_assert_eq(r, X509_V_ERR_INVALID_PURPOSE);
}

Test(tls_verify, untrusted_ca)
{
    long r;

    cr_assert_not(verify_case(MTLB_CLIENT_AUTH_MANDATORY, "trust/full.pem", NULL,
                              "client/untrusted-chain.pem", "client/untrusted.key", &r));
    cr_assert_neq(r, X509_V_OK);
    cr_assert_not(verify_case(MTLB_CLIENT_AUTH_MANDATORY, "trust/full.pem", NULL,
                              "client/untrusted.crt", "client/untrusted.key", &r));
    cr_assert_eq(r, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

Test(tls_verify, verify_depth_limits_chain)
{
    struct fixture f = {0};
    struct conn c;

    api_domain(&f, MTLB_CLIENT_AUTH_MANDATORY, "trust/root-only.pem", NULL);
    f.dom[0].verify_depth = 0; /* leaf and trust anchor only: no room for the intermediate */
    listener_ok(&f);
    conn_open(&c, &f, "client/good-chain.pem", "client/good.key", NULL);
    cr_assert_not(handshake(&c));
    cr_assert_eq(c.info.first_error, X509_V_ERR_CERT_CHAIN_TOO_LONG);
    conn_close(&c);
    mtlb_tls_listener_fini(&f.tl);

    f = (struct fixture){0};
    api_domain(&f, MTLB_CLIENT_AUTH_MANDATORY, "trust/root-only.pem", NULL);
    f.dom[0].verify_depth = 1;
    listener_ok(&f);
    conn_open(&c, &f, "client/good-chain.pem", "client/good.key", NULL);
    cr_assert(handshake(&c));
    conn_close(&c);
    mtlb_tls_listener_fini(&f.tl);
}

Test(tls_verify, no_certificate_mandatory_fails_and_is_described)
{
    struct fixture f = {0};
    struct conn c;
    struct capture cap;
    char buf[512], log[8192];

    api_domain(&f, MTLB_CLIENT_AUTH_MANDATORY, "trust/full.pem", NULL);
    listener_ok(&f);
    conn_open(&c, &f, NULL, NULL, NULL);
    cr_assert_not(handshake(&c));
    mtlb_log_set_level(MTLB_LOG_INFO);
    capture_start(&cap);
    mtlb_tls_error_string(c.server, buf, sizeof(buf));
    capture_end(&cap, log, sizeof(log));
    cr_expect(strstr(buf, "peer did not return a certificate") != NULL, "%s", buf);
    cr_expect_eq(ERR_peek_error(), 0, "error queue not cleared");
    cr_expect(strstr(log, "event=client_cert_missing") != NULL, "log: %s", log);
    cr_expect(strstr(log, "conn=17 ") != NULL, "log: %s", log);
    conn_close(&c);
    mtlb_tls_listener_fini(&f.tl);
}

Test(tls_verify, off_mode_requests_no_certificate)
{
    struct fixture f = {0};
    struct conn c;
    struct mtlb_identity id;

    api_domain(&f, MTLB_CLIENT_AUTH_OFF, NULL, NULL);
    listener_ok(&f);
    conn_open(&c, &f, "client/good.crt", "client/good.key", NULL);
    cr_assert(handshake(&c));
    cr_expect_null(SSL_get0_peer_certificate(c.server));
    cr_assert_eq(mtlb_tls_identity(c.server, MTLB_DN_SLASH, &id), 0);
    cr_expect_eq(id.verify, MTLB_VERIFY_NONE);
    mtlb_identity_fini(&id);
    conn_close(&c);
    mtlb_tls_listener_fini(&f.tl);
}

Test(tls_verify, missing_issuer_is_logged_once)
{
    struct fixture f = {0};
    struct conn c;
    struct capture cap;
    char log[8192];

    mtlb_log_set_level(MTLB_LOG_INFO);
    mtlb_log_set_thread("acceptor-0");
    api_domain(&f, MTLB_CLIENT_AUTH_MANDATORY, "trust/root-only.pem", NULL);
    listener_ok(&f);
    conn_open(&c, &f, "client/good.crt", "client/good.key", "api.example.com");
    capture_start(&cap);
    bool ok = handshake(&c);
    capture_end(&cap, log, sizeof(log));
    cr_assert_not(ok);
    cr_expect_eq(count(log, "event=client_verify_failed"), 1, "log: %s", log);
    cr_expect(strstr(log, " level=warn thread=acceptor-0 conn=17 peer=127.0.0.1:5555 "
                          "domain=api.example.com event=client_verify_failed mode=mandatory "
                          "x509_error=20 ") != NULL,
              "log: %s", log);
    cr_expect(strstr(log, "depth=0 subject=\"/C=PL/O=mtlb Test/CN=good-client\" "
                          "issuer=\"/C=PL/O=mtlb Test/CN=mtlb Test Intermediate CA\"") != NULL,
              "log: %s", log);
    cr_expect(strstr(log, "missing_issuer=\"/C=PL/O=mtlb Test/CN=mtlb Test Intermediate CA\" "
                          "hint=\"add the certificate of the missing issuer") != NULL,
              "log: %s", log);
    conn_close(&c);
    mtlb_tls_listener_fini(&f.tl);
}

Test(tls_verify, purpose_failure_log_names_client_auth)
{
    struct fixture f = {0};
    struct conn c;
    struct capture cap;
    char log[8192];

    mtlb_log_set_level(MTLB_LOG_WARN);
    api_domain(&f, MTLB_CLIENT_AUTH_MANDATORY, "trust/full.pem", NULL);
    listener_ok(&f);
    conn_open(&c, &f, "client/noclientauth.crt", "client/noclientauth.key", NULL);
    capture_start(&cap);
    bool ok = handshake(&c);
    capture_end(&cap, log, sizeof(log));
    cr_assert_not(ok);
    cr_expect(strstr(log, "lacks the clientAuth extended key usage") != NULL, "log: %s", log);
    cr_expect_eq(strstr(log, "missing_issuer="), NULL, "log: %s", log);
    conn_close(&c);
    mtlb_tls_listener_fini(&f.tl);
}

/* ---- SNI and advertised CA names --------------------------------------------------------- */

static void sni_fixture(struct fixture *f)
{
    /* Default domain trusts only the other CA; the named ones trust the test root. */
    api_domain(f, MTLB_CLIENT_AUTH_MANDATORY, "trust/other.pem", NULL);
    domain_set(f, 1, "other.example.com", pki("server/other.crt"), pki("server/other.key"),
               MTLB_CLIENT_AUTH_MANDATORY, pki("trust/full.pem"), NULL);
    domain_set(f, 2, "*.example.com", pki("server/rsa.crt"), pki("server/rsa.key"),
               MTLB_CLIENT_AUTH_OPTIONAL, pki("trust/root-only.pem"), NULL);
    listener_ok(f);
}

static size_t sni_domain(struct fixture *f, const char *sni, bool *ok)
{
    struct conn c;

    conn_open(&c, f, "client/good-chain.pem", "client/good.key", sni);
    *ok = handshake(&c);
    size_t d = c.info.domain;
    if (*ok) {
        cr_expect_eq(SSL_get_SSL_CTX(c.server), f->tl.domains[d].ctx);
    }
    conn_close(&c);
    return d;
}

Test(tls_sni, selects_domain_and_its_truststore)
{
    struct fixture f = {0};
    bool ok;

    sni_fixture(&f);
    cr_expect_eq(sni_domain(&f, "other.example.com", &ok), 1);
    cr_expect(ok, "good client must pass the truststore of other.example.com");
    cr_expect_eq(sni_domain(&f, "OTHER.Example.COM", &ok), 1);
    cr_expect(ok);
    /* Exact match on api.example.com beats the wildcard. */
    cr_expect_eq(sni_domain(&f, "api.example.com", &ok), 0);
    cr_expect_not(ok, "default domain trusts only the other CA");
    cr_expect_eq(sni_domain(&f, "www.example.com", &ok), 2);
    cr_expect(ok);
    /* A wildcard covers one label only; unknown names stay on domains[0]. */
    cr_expect_eq(sni_domain(&f, "a.b.example.com", &ok), 0);
    cr_expect_not(ok);
    cr_expect_eq(sni_domain(&f, "unknown.test", &ok), 0);
    cr_expect_not(ok);
    cr_expect_eq(sni_domain(&f, NULL, &ok), 0);
    cr_expect_not(ok);
    mtlb_tls_listener_fini(&f.tl);
}

Test(tls_sni, optional_mode_follows_switched_domain)
{
    struct fixture f = {0};
    struct conn c;

    sni_fixture(&f);
    /* The wildcard domain is optional with root-only: the leaf alone completes, FAILED. */
    conn_open(&c, &f, "client/good.crt", "client/good.key", "x.example.com");
    cr_assert(handshake(&c));
    cr_expect_eq(c.info.domain, 2);
    cr_expect_eq(c.info.first_error, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    conn_close(&c);
    mtlb_tls_listener_fini(&f.tl);
}

static bool has_name(const STACK_OF(X509_NAME) * names, const char *file)
{
    FILE *fp = fopen(pki(file), "r");
    cr_assert_not_null(fp);
    X509 *x = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    cr_assert_not_null(x);
    bool found = false;
    for (int i = 0; i < sk_X509_NAME_num(names); i++) {
        found = found || X509_NAME_cmp(sk_X509_NAME_value(names, i), X509_get_subject_name(x)) == 0;
    }
    X509_free(x);
    return found;
}

Test(tls_sni, client_sees_truststore_ca_names_of_selected_domain)
{
    struct fixture f = {0};
    struct conn c;

    sni_fixture(&f);
    conn_open(&c, &f, "client/good-chain.pem", "client/good.key", "other.example.com");
    cr_assert(handshake(&c));
    STACK_OF(X509_NAME) *names = SSL_get_client_CA_list(c.client);
    cr_assert_not_null(names);
    cr_expect_eq(sk_X509_NAME_num(names), 3);
    cr_expect(has_name(names, "ca/root.crt"));
    cr_expect(has_name(names, "ca/inter.crt"));
    cr_expect(has_name(names, "client/selfsigned.crt"));
    cr_expect_not(has_name(names, "ca/other-root.crt"));
    conn_close(&c);

    conn_open(&c, &f, NULL, NULL, NULL);
    cr_assert_not(handshake(&c));
    names = SSL_get_client_CA_list(c.client);
    cr_assert_not_null(names);
    cr_expect_eq(sk_X509_NAME_num(names), 1);
    cr_expect(has_name(names, "ca/other-root.crt"));
    conn_close(&c);
    mtlb_tls_listener_fini(&f.tl);
}

/* ---- protocol policy -------------------------------------------------------------------- */

static bool policy_handshake(int max_version, const char *ciphers, int *version)
{
    struct fixture f = {0};
    struct conn c;

    api_domain(&f, MTLB_CLIENT_AUTH_OFF, NULL, NULL);
    listener_ok(&f);
    conn_open(&c, &f, NULL, NULL, NULL);
    SSL_set_max_proto_version(c.client, max_version);
    SSL_set_min_proto_version(c.client, 0);
    if (ciphers != NULL) {
        cr_assert_eq(SSL_set_cipher_list(c.client, ciphers), 1);
    }
    bool ok = handshake(&c);
    *version = SSL_version(c.server);
    conn_close(&c);
    mtlb_tls_listener_fini(&f.tl);
    return ok;
}

Test(tls_policy, versions_and_ciphers)
{
    int v;

    cr_expect(policy_handshake(TLS1_3_VERSION, NULL, &v));
    cr_expect_eq(v, TLS1_3_VERSION);
    cr_expect(policy_handshake(TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305", &v));
    cr_expect_eq(v, TLS1_2_VERSION);
    cr_expect_not(policy_handshake(TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA", &v));
    cr_expect_not(policy_handshake(TLS1_1_VERSION, NULL, &v));
}

/* ---- the 421 rule (mtlb_tls_misdirected): no certificates needed ---- */

Test(tls_sni, misdirected_only_for_a_differently_verified_domain)
{
    char *api_names[] = {"api.example.com", "localhost"};
    char *other_names[] = {"other.example.com"};
    char *wild_names[] = {"*.wild.example.com"};
    char *twin_names[] = {"twin.example.com"};
    struct mtlb_domain_cfg api = {.names = api_names,
                                  .n_names = 2,
                                  .mode = MTLB_CLIENT_AUTH_OPTIONAL,
                                  .truststore = "a.pem",
                                  .verify_depth = 10};
    struct mtlb_domain_cfg other = {.names = other_names,
                                    .n_names = 1,
                                    .mode = MTLB_CLIENT_AUTH_MANDATORY,
                                    .truststore = "b.pem",
                                    .verify_depth = 10};
    struct mtlb_domain_cfg wild = other;
    struct mtlb_domain_cfg twin = api; /* verifies exactly as api does */
    wild.names = wild_names;
    twin.names = twin_names;
    twin.n_names = 1;
    struct mtlb_tls_domain d[] = {{.cfg = &api}, {.cfg = &other}, {.cfg = &wild}, {.cfg = &twin}};
    struct mtlb_tls_listener tl = {.domains = d, .n_domains = 4};

    cr_assert(mtlb_tls_misdirected(&tl, 0, "other.example.com"));
    cr_assert(mtlb_tls_misdirected(&tl, 0, "x.wild.example.com"));
    cr_assert(mtlb_tls_misdirected(&tl, 1, "api.example.com"));
    cr_assert(mtlb_tls_misdirected(&tl, 1, "localhost"));
    cr_assert_not(mtlb_tls_misdirected(&tl, 0, "api.example.com"));
    cr_assert_not(mtlb_tls_misdirected(&tl, 0, "localhost"));
    cr_assert_not(mtlb_tls_misdirected(&tl, 0, "twin.example.com"));
    cr_assert_not(mtlb_tls_misdirected(&tl, 0, "unknown.example.com"));
    cr_assert_not(mtlb_tls_misdirected(&tl, 0, "wild.example.com")); /* one label, not zero */
    cr_assert_not(mtlb_tls_misdirected(&tl, 0, "[::1]"));
    cr_assert_not(mtlb_tls_misdirected(&tl, 0, ""));
    /* a twin under another TLS policy: the handshake applied api's, so not twin's */
    twin.policy.min_version = TLS1_3_VERSION;
    cr_assert(mtlb_tls_misdirected(&tl, 0, "twin.example.com"));
    twin.policy.min_version = TLS1_2_VERSION; /* written, but the default */
    cr_assert_not(mtlb_tls_misdirected(&tl, 0, "twin.example.com"));
    tl.n_domains = 1;
    cr_assert_not(mtlb_tls_misdirected(&tl, 0, "other.example.com"));
}

/* The same rule across a reload: the connection's listener (before) against the current one. */
Test(tls_sni, misdirected_since_a_reload)
{
    char *api_names[] = {"api.example.com", "localhost"};
    char *new_names[] = {"new.example.com"};
    char *same_names[] = {"same.example.com"};
    struct mtlb_domain_cfg api = {.names = api_names,
                                  .n_names = 2,
                                  .mode = MTLB_CLIENT_AUTH_MANDATORY,
                                  .truststore = "a.pem",
                                  .verify_depth = 10};
    struct mtlb_domain_cfg api_now = api; /* api, its truststore changed by the reload */
    struct mtlb_domain_cfg added = api;   /* a new domain verifying otherwise */
    struct mtlb_domain_cfg same = api;    /* a new domain verifying as api did */
    api_now.truststore = "b.pem";
    added.names = new_names;
    added.n_names = 1;
    added.truststore = "c.pem";
    same.names = same_names;
    same.n_names = 1;
    struct mtlb_tls_domain before[] = {{.cfg = &api}};
    struct mtlb_tls_domain after[] = {{.cfg = &api_now}, {.cfg = &added}, {.cfg = &same}};
    struct mtlb_tls_listener tl = {.domains = before, .n_domains = 1};
    struct mtlb_tls_listener now = {.domains = after, .n_domains = 3};

    cr_assert(mtlb_tls_misdirected_since(&tl, 0, &now, "new.example.com"));
    cr_assert_not(mtlb_tls_misdirected(&tl, 0, "new.example.com"), "unknown before the reload");
    cr_assert_not(mtlb_tls_misdirected_since(&tl, 0, &now, "api.example.com"),
                  "its own domain keeps what it was verified with");
    cr_assert_not(mtlb_tls_misdirected_since(&tl, 0, &now, "localhost"));
    cr_assert_not(mtlb_tls_misdirected_since(&tl, 0, &now, "same.example.com"));
    cr_assert_not(mtlb_tls_misdirected_since(&tl, 0, &now, "unknown.example.com"));
    cr_assert_not(mtlb_tls_misdirected_since(&tl, 0, &now, ""));
    cr_assert_not(mtlb_tls_misdirected_since(&tl, 0, &tl, "new.example.com"), "no reload");
}

/* The same rule across listeners: a name held only by another listener's domain. */
Test(tls_sni, misdirected_to_another_listener)
{
    char *api_names[] = {"api.example.com"};
    char *other_names[] = {"other.example.com", "*.wild.example.com"};
    char *same_names[] = {"same.example.com"};
    struct mtlb_domain_cfg api = {.names = api_names,
                                  .n_names = 1,
                                  .mode = MTLB_CLIENT_AUTH_OPTIONAL,
                                  .truststore = "a.pem",
                                  .verify_depth = 10};
    struct mtlb_domain_cfg other = api, same = api, api_there = api;
    other.names = other_names;
    other.n_names = 2;
    other.mode = MTLB_CLIENT_AUTH_MANDATORY;
    same.names = same_names; /* verified as api is, but held by another listener */
    api_there.truststore = "b.pem";
    struct mtlb_tls_domain l0[] = {{.cfg = &api}};
    struct mtlb_tls_domain l1[] = {{.cfg = &other}, {.cfg = &api_there}};
    struct mtlb_tls_domain l2[] = {{.cfg = &same}};
    struct mtlb_tls_listener all[] = {{.domains = l0, .n_domains = 1},
                                      {.domains = l1, .n_domains = 2},
                                      {.n_domains = 0},
                                      {.domains = l2, .n_domains = 1}};

    cr_assert_eq(mtlb_tls_misdirected_listener(all, 4, 0, "other.example.com"), 1);
    cr_assert_eq(mtlb_tls_misdirected_listener(all, 4, 0, "x.wild.example.com"), 1);
    cr_assert_eq(mtlb_tls_misdirected_listener(all, 4, 0, "same.example.com"), 3);
    cr_assert_eq(mtlb_tls_misdirected_listener(all, 4, 0, "api.example.com"), -1,
                 "the listener's own name: its own rule decides");
    cr_assert_eq(mtlb_tls_misdirected_listener(all, 4, 0, "unknown.example.com"), -1);
    cr_assert_eq(mtlb_tls_misdirected_listener(all, 4, 0, "[::1]"), -1);
    cr_assert_eq(mtlb_tls_misdirected_listener(all, 4, 0, ""), -1);
    cr_assert_eq(mtlb_tls_misdirected_listener(all, 4, 1, "api.example.com"), -1);
    cr_assert_eq(mtlb_tls_misdirected_listener(all, 4, 2, "other.example.com"), 1);
    cr_assert_eq(mtlb_tls_misdirected_listener(all, 1, 0, "other.example.com"), -1);
}

/* mtlb_client_verify_failures_total's reason: each X.509 error to its fixed token. */
Test(tls_verify, reason_tokens_for_x509_errors)
{
    static const struct {
        long err;
        const char *token;
    } cases[] = {
        {X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, "missing_issuer"},
        {X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, "missing_issuer"},
        {X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, "missing_issuer"},
        {X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, "unknown_ca"},
        {X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, "unknown_ca"},
        {X509_V_ERR_CERT_REJECTED, "unknown_ca"},
        {X509_V_ERR_CERT_HAS_EXPIRED, "expired"},
        {X509_V_ERR_CERT_NOT_YET_VALID, "not_yet_valid"},
        {X509_V_ERR_CERT_REVOKED, "revoked"},
        {X509_V_ERR_UNABLE_TO_GET_CRL, "crl_error"},
        {X509_V_ERR_CRL_HAS_EXPIRED, "crl_error"},
        {X509_V_ERR_CRL_SIGNATURE_FAILURE, "crl_error"},
        {X509_V_ERR_INVALID_PURPOSE, "bad_purpose"},
        {X509_V_ERR_CERT_SIGNATURE_FAILURE, "other"},
        {X509_V_ERR_PATH_LENGTH_EXCEEDED, "other"},
        {X509_V_OK, "other"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_str_eq(mtlb_verify_reason_token(mtlb_tls_verify_reason(cases[i].err)),
                         cases[i].token, "X.509 error %ld", cases[i].err);
    }
    cr_assert_str_eq(mtlb_verify_reason_token(MTLB_VR_NO_CERTIFICATE), "no_certificate");
    cr_assert_str_eq(mtlb_verify_reason_token(MTLB_VR_COUNT), "other", "out of range");
}

/* ---- configured TLS policy (tls.min_version, ciphers, ciphersuites, groups) ------------ */

static void policy_set(struct fixture *f, enum mtlb_tls_policy_key k, const char *value)
{
    f->dom[0].policy.str[k] = (char *)value;
    f->dom[0].policy.origin[k] = (char *)"mtlb.yaml:7:9: listeners[0].tls.x";
}

static void expect_policy_error(enum mtlb_tls_policy_key k, const char *value, const char *name)
{
    struct fixture f = {0};
    char want[160];

    api_domain(&f, MTLB_CLIENT_AUTH_OFF, NULL, NULL);
    policy_set(&f, k, value);
    cr_expect_eq(listener_init(&f), -EINVAL, "%s accepted", value);
    snprintf(want, sizeof(want), "\"%s\"", name);
    cr_expect_not_null(strstr(f.err, want), "%s: %s", value, f.err);
    cr_expect_not_null(strstr(f.err, "mtlb.yaml:7:9: listeners[0].tls.x: unknown"), "%s", f.err);
}

Test(tls_policy, unknown_names_are_refused_even_beside_known_ones)
{
    expect_policy_error(MTLB_TLSP_CIPHERSUITES, "TLS_FOO", "TLS_FOO");
    expect_policy_error(MTLB_TLSP_CIPHERSUITES, "TLS_AES_128_GCM_SHA256:TLS_FOO", "TLS_FOO");
    /* A TLS 1.2 cipher's standard name is not a TLS 1.3 suite. */
    expect_policy_error(MTLB_TLSP_CIPHERSUITES, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
    expect_policy_error(MTLB_TLSP_CIPHERS, "ECDHE-RSA-AES128-GCM-SHA256:FOO-BAR", "FOO-BAR");
    expect_policy_error(MTLB_TLSP_CIPHERS, "HIGH:!NOPE", "!NOPE");
    expect_policy_error(MTLB_TLSP_CIPHERS, "TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256");
    expect_policy_error(MTLB_TLSP_GROUPS, "P-384:X99999", "X99999");
}

Test(tls_policy, known_names_are_accepted)
{
    static const char *const v[][3] = {
        {"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE+AESGCM:!aNULL:@STRENGTH", "TLS_AES_256_GCM_SHA384",
         "P-384"},
        {"HIGH:-SHA1", "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256", "X25519:P-256"},
    };
    for (size_t i = 0; i < 2; i++) {
        struct fixture f = {0};
        api_domain(&f, MTLB_CLIENT_AUTH_OFF, NULL, NULL);
        for (int k = 0; k < 3; k++) {
            policy_set(&f, k, v[i][k]);
        }
        cr_expect_eq(listener_init(&f), 0, "%s", f.err);
        mtlb_tls_listener_fini(&f.tl);
    }
}

Test(tls_policy, min_version_tls13_refuses_tls12)
{
    struct fixture f = {0};
    struct conn c;

    api_domain(&f, MTLB_CLIENT_AUTH_OFF, NULL, NULL);
    f.dom[0].policy.min_version = TLS1_3_VERSION;
    listener_ok(&f);
    conn_open(&c, &f, NULL, NULL, NULL);
    SSL_set_max_proto_version(c.client, TLS1_2_VERSION);
    cr_expect_not(handshake(&c));
    conn_close(&c);
    conn_open(&c, &f, NULL, NULL, NULL);
    cr_expect(handshake(&c));
    cr_expect_eq(SSL_version(c.server), TLS1_3_VERSION);
    conn_close(&c);
    mtlb_tls_listener_fini(&f.tl);
}

/* The test key, encrypted with "secret", in a temporary file (path written into path). */
static void encrypted_key(char *path)
{
    int fd = mkstemp(path);
    FILE *in = fopen(pki("server/api.key"), "r");

    cr_assert(fd != -1 && in != NULL);
    EVP_PKEY *k = PEM_read_PrivateKey(in, NULL, NULL, NULL);
    fclose(in);
    FILE *out = fdopen(fd, "w");
    cr_assert(k != NULL && out != NULL);
    cr_assert_eq(
        PEM_write_PKCS8PrivateKey(out, k, EVP_aes_256_cbc(), NULL, 0, NULL, (void *)"secret"), 1);
    fclose(out);
    EVP_PKEY_free(k);
}

static void write_text(char *path, const char *text)
{
    int fd = mkstemp(path);

    cr_assert(fd != -1);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

Test(tls_policy, key_passphrase_file)
{
    char key[] = "/tmp/mtlb-test-enc-XXXXXX", good[] = "/tmp/mtlb-test-pass-XXXXXX",
         bad[] = "/tmp/mtlb-test-pass-XXXXXX";
    struct fixture f = {0};

    encrypted_key(key);
    write_text(good, "secret\n");
    write_text(bad, "Secret\n");
    api_domain(&f, MTLB_CLIENT_AUTH_OFF, NULL, NULL);
    f.dom[0].key = key;
    policy_set(&f, MTLB_TLSP_PASSPHRASE, good);
    cr_expect_eq(listener_init(&f), 0, "%s", f.err);
    mtlb_tls_listener_fini(&f.tl);

    policy_set(&f, MTLB_TLSP_PASSPHRASE, bad);
    cr_expect_eq(listener_init(&f), -EINVAL);
    cr_expect_not_null(strstr(f.err, key), "%s", f.err);
    cr_expect_not_null(strstr(f.err, "wrong passphrase"), "%s", f.err);
    cr_expect_null(strstr(f.err, "Secret"), "%s", f.err);

    policy_set(&f, MTLB_TLSP_PASSPHRASE, "/nonexistent/pass");
    cr_expect_eq(listener_init(&f), -EINVAL);
    cr_expect_not_null(strstr(f.err, "listeners[0].tls.x: /nonexistent/pass"), "%s", f.err);
    unlink(key);
    unlink(good);
    unlink(bad);
}

/* The domain chosen by SNI brings its own versions and groups (SSL_set_SSL_CTX alone keeps
 * the first domain's); a domain with the same policy as the first changes nothing. */
Test(tls_policy, sni_domain_brings_its_policy)
{
    struct fixture f = {0};
    struct conn c;

    api_domain(&f, MTLB_CLIENT_AUTH_OFF, NULL, NULL);
    domain_set(&f, 1, "other.example.com", pki("server/other.crt"), pki("server/other.key"),
               MTLB_CLIENT_AUTH_OFF, NULL, NULL);
    domain_set(&f, 2, "third.example.com", pki("server/other.crt"), pki("server/other.key"),
               MTLB_CLIENT_AUTH_OFF, NULL, NULL);
    f.dom[1].policy.min_version = TLS1_3_VERSION;
    f.dom[1].policy.str[MTLB_TLSP_GROUPS] = (char *)"P-384";
    f.dom[1].policy.origin[MTLB_TLSP_GROUPS] = (char *)"t";
    listener_ok(&f);
    static const struct {
        const char *sni;
        int max;
        const char *groups;
        bool ok;
    } cases[] = {
        {"api.example.com", TLS1_2_VERSION, NULL, true},
        {"other.example.com", TLS1_2_VERSION, NULL, false},
        {"other.example.com", TLS1_3_VERSION, "X25519", false},
        {"other.example.com", TLS1_3_VERSION, "X25519:P-384", true},
        /* TLS 1.2 with an ECDSA P-256 certificate needs P-256 among the client's groups. */
        {"third.example.com", TLS1_2_VERSION, "X25519:P-256", true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        conn_open(&c, &f, NULL, NULL, cases[i].sni);
        SSL_set_max_proto_version(c.client, cases[i].max);
        if (cases[i].groups != NULL) {
            cr_assert_eq(SSL_set1_groups_list(c.client, cases[i].groups), 1);
        }
        char why[256] = "";
        bool ok = handshake(&c);
        ERR_error_string_n(ERR_peek_last_error(), why, sizeof(why));
        cr_expect_eq(ok, cases[i].ok, "case %zu: %s", i, why);
        conn_close(&c);
    }
    mtlb_tls_listener_fini(&f.tl);
}
