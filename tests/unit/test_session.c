/* Unit tests for src/tls/session.c (TLS session lifetime and certificate expiry) and
 * src/tls/peer_trim.c (the chain dropped after the handshake), over
 * in-memory handshakes against a real listener context (MTLB_PKI: the generated test PKI).
 * The integration suite (tests/integration/test_resume.c) covers the same over sockets. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "mtlb/identity.h"
#include "mtlb/peer_trim.h"
#include "mtlb/tls.h"

static char *pki(const char *rel)
{
    static char paths[16][512];
    static unsigned next;
    const char *root = getenv("MTLB_PKI");

    cr_assert_not_null(root, "MTLB_PKI is not set (run through meson test)");
    char *p = paths[next++ % 16];
    snprintf(p, sizeof(paths[0]), "%s/%s", root, rel);
    return p;
}

/* One listener with one domain (api.example.com, trust/full.pem). */
struct fixture {
    char *names[1];
    struct mtlb_domain_cfg dom;
    struct mtlb_listener_cfg lcfg;
    struct mtlb_tls_listener tl;
    char keys[64];
};

static void fixture_init(struct fixture *f, enum mtlb_client_auth mode, uint32_t lifetime)
{
    char err[512] = "";

    memset(f, 0, sizeof(*f));
    f->names[0] = (char *)"api.example.com";
    f->dom = (struct mtlb_domain_cfg){.names = f->names,
                                      .n_names = 1,
                                      .certificate = pki("server/api.crt"),
                                      .key = pki("server/api.key"),
                                      .mode = mode,
                                      .truststore = pki("trust/full.pem"),
                                      .verify_depth = 10};
    f->lcfg = (struct mtlb_listener_cfg){.bind_host = (char *)"127.0.0.1",
                                         .bind_port = 8443,
                                         .alpn = MTLB_ALPN_HTTP11,
                                         .domains = &f->dom,
                                         .n_domains = 1,
                                         .session_lifetime = lifetime};
    /* A key file: these tests are about sealed tickets (TLS 1.2 and 1.3) and their checks;
     * stateful tickets (random keys) are test_session_cache.c's and test_resume.c's. */
    if (lifetime != 0) {
        unsigned char key[80];
        snprintf(f->keys, sizeof(f->keys), "/tmp/mtlb-test-session-%d.keys", (int)getpid());
        FILE *kf = fopen(f->keys, "wb");
        cr_assert(kf != NULL && RAND_bytes(key, sizeof(key)) == 1 &&
                  fwrite(key, 1, sizeof(key), kf) == sizeof(key) && fclose(kf) == 0);
        f->lcfg.ticket_keys = f->keys;
    }
    cr_assert_eq(mtlb_tls_listener_init(&f->tl, &f->lcfg, err, sizeof(err)), 0, "%s", err);
    if (lifetime != 0) {
        unlink(f->keys);
    }
}

/* A client certificate of the test intermediate CA, valid until now + seconds; its key and
 * the chain (leaf + intermediate) as files under /tmp. */
struct client_cert {
    char chain[64];
    char key[64];
};

static void *read_pem(const char *rel, bool key)
{
    FILE *f = fopen(pki(rel), "r");
    cr_assert_not_null(f, "%s", pki(rel));
    void *p = key ? (void *)PEM_read_PrivateKey(f, NULL, NULL, NULL)
                  : (void *)PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    cr_assert_not_null(p, "%s", pki(rel));
    return p;
}

static FILE *temp(char *path, size_t cap, const char *what)
{
    snprintf(path, cap, "/tmp/mtlb-test-session-%s-XXXXXX", what);
    int fd = mkstemp(path);
    cr_assert_neq(fd, -1);
    return fdopen(fd, "w");
}

static void client_cert_make(struct client_cert *cc, long seconds)
{
    X509 *ca = read_pem("ca/inter.crt", false);
    EVP_PKEY *ca_key = read_pem("ca/inter.key", true);
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    time_t now = time(NULL);
    X509V3_CTX v3;

    cr_assert(k != NULL && x != NULL);
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 0x3001);
    ASN1_TIME_set(X509_getm_notBefore(x), now - 60);
    ASN1_TIME_set(X509_getm_notAfter(x), now + seconds);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"session-client", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(ca));
    X509_set_pubkey(x, k);
    X509V3_set_ctx(&v3, ca, x, NULL, NULL, 0);
    X509_EXTENSION *eku = X509V3_EXT_conf_nid(NULL, &v3, NID_ext_key_usage, "clientAuth");
    cr_assert(eku != NULL && X509_add_ext(x, eku, -1) == 1);
    X509_EXTENSION_free(eku);
    cr_assert(X509_sign(x, ca_key, EVP_sha256()) > 0);
    FILE *f = temp(cc->chain, sizeof(cc->chain), "chain");
    cr_assert(PEM_write_X509(f, x) == 1 && PEM_write_X509(f, ca) == 1);
    fclose(f);
    f = temp(cc->key, sizeof(cc->key), "key");
    cr_assert(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1);
    fclose(f);
    X509_free(x);
    X509_free(ca);
    EVP_PKEY_free(k);
    EVP_PKEY_free(ca_key);
}

static void client_cert_remove(struct client_cert *cc)
{
    unlink(cc->chain);
    unlink(cc->key);
}

/* ---- in-memory handshake ----------------------------------------------------------------- */

struct conn {
    SSL_CTX *cctx;
    SSL *client;
    SSL *server;
    struct mtlb_tls_conn_info info;
};

/* cc: the client certificate, or NULL for none; version: TLS1_2_VERSION or TLS1_3_VERSION;
 * no_ticket: a TLS 1.2 client resuming by session id; sess: offered for resumption, or NULL. */
static void conn_open(struct conn *c, struct fixture *f, const struct client_cert *cc, int version,
                      bool no_ticket, SSL_SESSION *sess)
{
    BIO *cbio, *sbio;

    memset(c, 0, sizeof(*c));
    c->cctx = SSL_CTX_new(TLS_client_method());
    cr_assert_not_null(c->cctx);
    SSL_CTX_set_min_proto_version(c->cctx, version);
    SSL_CTX_set_max_proto_version(c->cctx, version);
    if (no_ticket) {
        SSL_CTX_set_options(c->cctx, SSL_OP_NO_TICKET);
    }
    if (cc != NULL) {
        cr_assert_eq(SSL_CTX_use_certificate_chain_file(c->cctx, cc->chain), 1);
        cr_assert_eq(SSL_CTX_use_PrivateKey_file(c->cctx, cc->key, SSL_FILETYPE_PEM), 1);
    }
    c->client = SSL_new(c->cctx);
    cr_assert_not_null(c->client);
    SSL_set_tlsext_host_name(c->client, "api.example.com");
    if (sess != NULL) {
        cr_assert_eq(SSL_set_session(c->client, sess), 1);
    }
    SSL_set_connect_state(c->client);
    c->server = mtlb_tls_new_conn(&f->tl, &c->info);
    cr_assert_not_null(c->server);
    SSL_set_accept_state(c->server);
    cr_assert_eq(BIO_new_bio_pair(&cbio, 0, &sbio, 0), 1);
    SSL_set_bio(c->client, cbio, cbio);
    SSL_set_bio(c->server, sbio, sbio);
}

/* Drives both ends through the handshake, then moves the TLS 1.3 tickets to the client
 * (they follow the handshake). Fails the test unless the server completed it. */
static void handshake(struct conn *c)
{
    bool server_done = false;
    char byte;

    for (int i = 0; i < 50 && !server_done; i++) {
        SSL_do_handshake(c->client);
        int r = SSL_do_handshake(c->server);
        server_done = r == 1;
        if (r <= 0) {
            int e = SSL_get_error(c->server, r);
            cr_assert(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE,
                      "server handshake failed (verify result %ld)",
                      SSL_get_verify_result(c->server));
        }
    }
    cr_assert(server_done, "server handshake did not complete");
    SSL_write(c->server, "x", 1);
    cr_assert_eq(SSL_read(c->client, &byte, 1), 1);
}

/* Both ends send close_notify: OpenSSL drops the session of a connection freed without it. */
static void conn_close(struct conn *c)
{
    SSL_shutdown(c->client);
    SSL_shutdown(c->server);
    SSL_free(c->client);
    SSL_free(c->server);
    mtlb_tls_conn_info_fini(&c->info);
    SSL_CTX_free(c->cctx);
    ERR_clear_error();
}

/* The resumable session a full handshake produced, as the client holds it. */
static SSL_SESSION *full_handshake(struct fixture *f, const struct client_cert *cc, int version,
                                   bool no_ticket, long *server_timeout)
{
    struct conn c;

    conn_open(&c, f, cc, version, no_ticket, NULL);
    handshake(&c);
    cr_assert_not(SSL_session_reused(c.server));
    if (server_timeout != NULL) {
        *server_timeout = SSL_SESSION_get_timeout(SSL_get_session(c.server));
    }
    SSL_SESSION *s = SSL_get1_session(c.client);
    cr_assert(s != NULL && SSL_SESSION_is_resumable(s));
    conn_close(&c);
    return s;
}

/* ---- lifetimes ----------------------------------------------------------------------------- */

Test(session, lifetime_is_the_session_timeout_and_ticket_hint)
{
    struct fixture f;
    struct client_cert cc;
    long timeout = 0;

    fixture_init(&f, MTLB_CLIENT_AUTH_MANDATORY, 1234);
    client_cert_make(&cc, 86400);
    SSL_SESSION *s = full_handshake(&f, &cc, TLS1_2_VERSION, true, &timeout);
    cr_expect_eq(timeout, 1234, "TLS 1.2 session id: timeout %ld", timeout);
    SSL_SESSION_free(s);
    s = full_handshake(&f, &cc, TLS1_2_VERSION, false, NULL);
    cr_expect_eq(SSL_SESSION_get_ticket_lifetime_hint(s), 1234);
    SSL_SESSION_free(s);
    s = full_handshake(&f, &cc, TLS1_3_VERSION, false, NULL);
    cr_expect_eq(SSL_SESSION_get_ticket_lifetime_hint(s), 1234);
    SSL_SESSION_free(s);
    client_cert_remove(&cc);
    mtlb_tls_listener_fini(&f.tl);
}

Test(session, certificate_expiry_bounds_the_session)
{
    struct fixture f;
    struct client_cert cc;
    long timeout = 0;

    fixture_init(&f, MTLB_CLIENT_AUTH_MANDATORY, 3600);
    client_cert_make(&cc, 100);
    SSL_SESSION *s = full_handshake(&f, &cc, TLS1_2_VERSION, true, &timeout);
    cr_expect(timeout >= 95 && timeout < 100, "TLS 1.2 session id: timeout %ld", timeout);
    SSL_SESSION_free(s);
    for (int v = TLS1_2_VERSION; v <= TLS1_3_VERSION; v++) {
        s = full_handshake(&f, &cc, v, false, NULL);
        unsigned long hint = SSL_SESSION_get_ticket_lifetime_hint(s);
        cr_expect(hint >= 95 && hint < 100, "version %x: ticket lifetime hint %lu", v, hint);
        SSL_SESSION_free(s);
    }
    client_cert_remove(&cc);
    mtlb_tls_listener_fini(&f.tl);
}

/* No certificate to bound the session (mode off, or optional without one): the lifetime
 * alone, and resumption works. */
Test(session, sessions_without_client_certificate)
{
    enum mtlb_client_auth modes[] = {MTLB_CLIENT_AUTH_OFF, MTLB_CLIENT_AUTH_OPTIONAL};

    for (int m = 0; m < 2; m++) {
        struct fixture f;
        fixture_init(&f, modes[m], 1234);
        for (int v = TLS1_2_VERSION; v <= TLS1_3_VERSION; v++) {
            for (int no_ticket = 0; no_ticket <= (v == TLS1_2_VERSION); no_ticket++) {
                struct conn c;
                long timeout = 0;
                SSL_SESSION *s = full_handshake(&f, NULL, v, no_ticket, &timeout);
                if (!no_ticket) {
                    cr_expect_eq(SSL_SESSION_get_ticket_lifetime_hint(s), 1234,
                                 "mode %d version %x", m, v);
                } else {
                    cr_expect_eq(timeout, 1234, "mode %d: session id timeout %ld", m, timeout);
                }
                conn_open(&c, &f, NULL, v, no_ticket, s);
                handshake(&c);
                cr_expect(SSL_session_reused(c.server), "mode %d version %x no_ticket %d", m, v,
                          no_ticket);
                conn_close(&c);
                SSL_SESSION_free(s);
            }
        }
        mtlb_tls_listener_fini(&f.tl);
    }
}

Test(session, lifetime_off_makes_nothing_resumable)
{
    struct fixture f;
    struct client_cert cc;

    fixture_init(&f, MTLB_CLIENT_AUTH_MANDATORY, 0);
    client_cert_make(&cc, 86400);
    for (int v = TLS1_2_VERSION; v <= TLS1_3_VERSION; v++) {
        struct conn c;
        conn_open(&c, &f, &cc, v, false, NULL);
        handshake(&c);
        SSL_SESSION *s = SSL_get1_session(c.client);
        cr_expect(s == NULL || !SSL_SESSION_is_resumable(s), "version %x: resumable session", v);
        SSL_SESSION_free(s);
        conn_close(&c);
    }
    client_cert_remove(&cc);
    mtlb_tls_listener_fini(&f.tl);
}

/* ---- the check after a resumed handshake ------------------------------------------------ */

/* OpenSSL normally refuses these sessions up front. Here the server's cached session is made
 * to outlive the certificate (as at the very second it expires), so the resumption goes
 * through and only the check in mtlb_tls_identity stands between it and SUCCESS. */
Test(session, resumed_expired_certificate_is_never_success, .timeout = 20)
{
    enum mtlb_client_auth modes[] = {MTLB_CLIENT_AUTH_MANDATORY, MTLB_CLIENT_AUTH_OPTIONAL};
    struct fixture f[2];
    SSL_SESSION *s[2];
    struct client_cert cc;

    client_cert_make(&cc, 2);
    time_t not_after = time(NULL) + 2;
    for (int i = 0; i < 2; i++) {
        struct conn c;
        fixture_init(&f[i], modes[i], 3600);
        conn_open(&c, &f[i], &cc, TLS1_2_VERSION, true, NULL);
        handshake(&c);
        cr_assert_eq(SSL_get_verify_result(c.server), X509_V_OK);
        cr_assert_eq(SSL_SESSION_set_timeout(SSL_get_session(c.server), 3600), 1);
        s[i] = SSL_get1_session(c.client);
        conn_close(&c);
    }
    while (time(NULL) <= not_after) {
        usleep(100 * 1000);
    }
    for (int i = 0; i < 2; i++) {
        struct conn c;
        struct mtlb_identity id = {0};
        conn_open(&c, &f[i], &cc, TLS1_2_VERSION, true, s[i]);
        handshake(&c);
        cr_assert(SSL_session_reused(c.server), "test bug: the session was not resumed");
        int rc = mtlb_tls_identity(c.server, MTLB_DN_SLASH, &id);
        if (modes[i] == MTLB_CLIENT_AUTH_MANDATORY) {
            cr_expect_eq(rc, -EKEYEXPIRED, "mandatory: rc %d, verify %s", rc,
                         mtlb_identity_verify_word(id.verify));
        } else {
            cr_expect_eq(rc, 0);
            cr_expect_str_eq(mtlb_identity_verify_word(id.verify), "FAILED");
            cr_expect_eq(SSL_get_verify_result(c.server), X509_V_ERR_CERT_HAS_EXPIRED);
        }
        mtlb_identity_fini(&id);
        conn_close(&c);
        SSL_SESSION_free(s[i]);
        mtlb_tls_listener_fini(&f[i].tl);
    }
    client_cert_remove(&cc);
}

/* ---- peer_trim.c: the chain goes, the identity and resumption stay ------------------------ */

static int chain_len(STACK_OF(X509) * sk)
{
    return sk != NULL ? sk_X509_num(sk) : 0;
}

/* The server's view of the client after a trim: the leaf, its verdict, and the identity. */
static void expect_identity(SSL *server, const char *what)
{
    struct mtlb_identity id;
    X509 *leaf = SSL_get0_peer_certificate(server);

    cr_assert_not_null(leaf, "%s: the leaf went with the chain", what);
    cr_expect_eq(SSL_get_verify_result(server), X509_V_OK, "%s", what);
    cr_assert_eq(mtlb_tls_identity(server, MTLB_DN_SLASH, &id), 0, "%s", what);
    cr_expect_eq(id.verify, MTLB_VERIFY_SUCCESS, "%s", what);
    cr_expect_str_eq(id.subject, "/CN=session-client", "%s", what);
    cr_expect_str_eq(id.issuer, "/C=PL/O=mtlb Test/CN=mtlb Test Intermediate CA", "%s", what);
    mtlb_identity_fini(&id);
}

/* Full handshake with leaf + intermediate, tickets deferred as the acceptor defers them, the
 * trim, then the tickets: the intermediate is gone (TLS 1.3; TLS 1.2 sessions may be shared
 * through the session cache and keep it), the leaf stays, and a resumption with a ticket
 * made after the trim has the same identity. */
Test(session, trimmed_chain_keeps_identity_and_resumption)
{
    struct fixture f;
    struct client_cert cc;
    char byte;

    fixture_init(&f, MTLB_CLIENT_AUTH_MANDATORY, 3600);
    client_cert_make(&cc, 86400);
    for (int v = TLS1_2_VERSION; v <= TLS1_3_VERSION; v++) {
        struct conn c;
        conn_open(&c, &f, &cc, v, false, NULL);
        mtlb_tls_defer_tickets(c.server);
        handshake(&c);
        cr_assert_eq(chain_len(SSL_get_peer_cert_chain(c.server)), 1, "version %x", v);
        cr_assert_eq(chain_len(SSL_get0_verified_chain(c.server)), 3, "version %x", v);
        int n = mtlb_peer_trim_chain(c.server);
        bool tls13 = v == TLS1_3_VERSION;
        cr_expect_eq(n, tls13 ? 4 : 3, "version %x: %d references dropped", v, n);
        cr_expect_eq(chain_len(SSL_get_peer_cert_chain(c.server)), tls13 ? 0 : 1, "%x", v);
        cr_expect_eq(chain_len(SSL_get0_verified_chain(c.server)), 0, "version %x", v);
        expect_identity(c.server, tls13 ? "TLS 1.3, full" : "TLS 1.2, full");
        unsigned owed = mtlb_tls_tickets_owed(c.server);
        cr_assert_eq(mtlb_tls_send_tickets(c.server, owed), 0);
        SSL_write(c.server, "y", 1);
        cr_assert_eq(SSL_read(c.client, &byte, 1), 1);
        SSL_SESSION *s = SSL_get1_session(c.client);
        cr_assert(s != NULL && SSL_SESSION_is_resumable(s), "version %x", v);
        conn_close(&c);

        conn_open(&c, &f, &cc, v, false, s);
        handshake(&c);
        cr_assert(SSL_session_reused(c.server), "version %x: not resumed", v);
        expect_identity(c.server, tls13 ? "TLS 1.3, resumed" : "TLS 1.2, resumed");
        mtlb_peer_trim_chain(c.server);
        expect_identity(c.server, tls13 ? "TLS 1.3, resumed, trimmed" : "TLS 1.2, resumed");
        conn_close(&c);
        SSL_SESSION_free(s);
    }
    client_cert_remove(&cc);
    mtlb_tls_listener_fini(&f.tl);
}
