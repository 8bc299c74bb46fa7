/* Integration: after its handshake a connection drops the client's intermediates and its
 * verified chain (src/tls/peer_trim.c) and, idle, its buffers. The identity the backend is told
 * must stay exactly what was verified: on every request of the connection, over HTTP/1.1 and
 * HTTP/2, after a full handshake and after resuming a ticket issued after the trim. The
 * truststore holds the root only, so the client's intermediate was needed to verify. */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#define REQUEST "GET /trim HTTP/1.1\r\nHost: localhost\r\n\r\n"
#define GOOD_DN "/C=PL/O=mtlb Test/CN=good-client"
#define INTER_DN "/C=PL/O=mtlb Test/CN=mtlb Test Intermediate CA"

static struct it_env env;
static char fingerprint[65]; /* of client/good.crt, as X-SSL-Client-Fingerprint carries it */

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(peer_trim, .init = setup, .fini = teardown, .timeout = 90);

static void start(void)
{
    struct it_config cfg = {
        .n_domains = 1, .n_servers = 1, .headers = "fingerprint: X-SSL-Client-Fingerprint"};
    cfg.servers[0] = it_echo_start(&env, "b1");
    cfg.domains[0] = (struct it_domain){
        .names = {"localhost"}, .mode = "mandatory", .truststore = "trust/root-only.pem"};
    it_mtlb_start(&env, &cfg);

    FILE *f = fopen(it_pki("client/good.crt"), "r");
    cr_assert_not_null(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    cr_assert(x != NULL && X509_digest(x, EVP_sha256(), md, &len) == 1 && len == 32);
    for (unsigned i = 0; i < len; i++) {
        snprintf(fingerprint + 2 * i, 3, "%02x", md[i]);
    }
    X509_free(x);
}

/* The echoed request head (body) carries the identity headers mtlb sent. */
static void expect_identity(const char *body, const char *what)
{
    char v[256];

    cr_assert(it_header_get(body, "X-SSL-Client-Verify", v, sizeof(v)), "%s:\n%s", what, body);
    cr_expect_str_eq(v, "SUCCESS", "%s", what);
    cr_assert(it_header_get(body, "X-SSL-Client-DN", v, sizeof(v)), "%s", what);
    cr_expect_str_eq(v, GOOD_DN, "%s", what);
    cr_assert(it_header_get(body, "X-SSL-Issuer", v, sizeof(v)), "%s", what);
    cr_expect_str_eq(v, INTER_DN, "%s", what);
    cr_assert(it_header_get(body, "X-SSL-Client-Fingerprint", v, sizeof(v)), "%s", what);
    cr_expect_str_eq(v, fingerprint, "%s", what);
}

Test(peer_trim, h1_identity_on_every_request_and_after_resumption)
{
    static const int versions[] = {TLS1_2_VERSION, TLS1_3_VERSION};

    start();
    for (size_t i = 0; i < 2; i++) {
        struct it_tls_opts o = {
            .cert = "client/good-chain.pem", .key = "client/good.key", .version = versions[i]};
        char err[256], what[64];
        struct it_conn *c = it_tls_connect(env.port, &o, err, sizeof(err));
        cr_assert_not_null(c, "%s", err);
        for (int r = 0; r < 3; r++) {
            struct it_response resp;
            snprintf(what, sizeof(what), "TLS %x, request %d", versions[i], r + 1);
            cr_assert_eq(it_conn_sends(c, REQUEST), 0, "%s", what);
            cr_assert_eq(it_read_response(c, &resp, false), 0, "%s: %s", what, c->err);
            cr_assert_eq(resp.status, 200, "%s", what);
            expect_identity(resp.body, what);
            it_response_fini(&resp);
        }
        o.session = SSL_get1_session(c->ssl);
        it_conn_close(c);
        cr_assert_not_null(o.session);

        struct it_exchange x;
        it_tls_exchange(env.port, &o, REQUEST, &x);
        snprintf(what, sizeof(what), "TLS %x, resumed", versions[i]);
        cr_assert_eq(x.outcome, IT_OK, "%s: %s", what, x.detail);
        cr_expect(x.reused, "%s: the session was not resumed", what);
        expect_identity(x.resp.body, what);
        it_exchange_fini(&x);
        SSL_SESSION_free(o.session);
    }
    it_mtlb_stop(&env, 5000);
}

/* h2c's echoed heads: each line of a body printed as "body ID| LINE". */
static void expect_identity_h2(const char *out, const char *what)
{
    char want[300];
    const char *lines[] = {"X-SSL-Client-Verify: SUCCESS", "X-SSL-Client-DN: " GOOD_DN,
                           "X-SSL-Issuer: " INTER_DN};

    for (size_t i = 0; i < 3; i++) {
        snprintf(want, sizeof(want), "body 1| %s", lines[i]);
        cr_expect_not_null(strstr(out, want), "%s: no '%s':\n%s", what, want, out);
        snprintf(want, sizeof(want), "body 3| %s", lines[i]);
        cr_expect_not_null(strstr(out, want), "%s: no '%s':\n%s", what, want, out);
    }
    snprintf(want, sizeof(want), "body 3| X-SSL-Client-Fingerprint: %s", fingerprint);
    cr_expect_not_null(strstr(out, want), "%s: no '%s':\n%s", what, want, out);
}

/* Two streams on one connection, the second opened once the first closed (the connection has
 * parked in between or is about to), then a resumption of the saved session. */
Test(peer_trim, h2_identity_on_every_stream_and_after_resumption)
{
    char port[16], session[300];

    start();
    snprintf(port, sizeof(port), "%u", env.port);
    for (int tls12 = 0; tls12 < 2; tls12++) {
        snprintf(session, sizeof(session), "%s/h2-session-%d.pem", env.dir, tls12);
        for (int round = 0; round < 2; round++) {
            char *out = NULL, *err = NULL;
            char *argv[] = {getenv("MTLB_H2C"),
                            "--port",
                            port,
                            "--cert",
                            (char *)it_pki("client/good-chain.pem"),
                            "--key",
                            (char *)it_pki("client/good.key"),
                            "--session",
                            session,
                            "--print-body",
                            "--stream",
                            "path=/trim/1",
                            "--stream",
                            "path=/trim/2,after",
                            tls12 ? "--tls12" : NULL,
                            NULL};
            cr_assert_not_null(argv[0], "MTLB_H2C is not set (run via meson)");
            it_run(&env, argv, &out, &err, 10000);
            cr_assert(out != NULL && err != NULL);
            char what[64];
            snprintf(what, sizeof(what), "h2, tls12 %d, %s", tls12, round ? "resumed" : "full");
            cr_expect_not_null(strstr(out, round ? " resumed=1\n" : " resumed=0\n"), "%s:\n%s%s",
                               what, out, err);
            expect_identity_h2(out, what);
            free(out);
            free(err);
        }
    }
    it_mtlb_stop(&env, 5000);
}
