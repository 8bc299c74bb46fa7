/* Integration: what the backend receives. Identity and forwarding headers are added by mtlb and
 * never taken from the client (any letter case), hop-by-hop headers stop at mtlb, the rest of
 * the request (line, headers, body) arrives unchanged, and the response comes back intact. */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#define GOOD_DN "/C=PL/O=mtlb Test/CN=good-client"
#define INTER_DN "/C=PL/O=mtlb Test/CN=mtlb Test Intermediate CA"

static struct it_env env;
static const struct it_tls_opts good = {.cert = "client/good.crt", .key = "client/good.key"};
static const struct it_tls_opts nocert = {.cert = NULL};

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(headers, .init = setup, .fini = teardown, .timeout = 60);

static void start(const char *mode)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = 1};
    cfg.servers[0] = it_echo_start(&env, "b1");
    cfg.domains[0].mode = mode;
    /* mode off requests no certificate: a CRL there is a configuration error */
    cfg.domains[0].crl = strcmp(mode, "off") != 0 ? "ca/crl.pem" : NULL;
    it_mtlb_start(&env, &cfg);
}

/* Sends one request and returns the head the backend received (the echo body). */
static void exchange(const struct it_tls_opts *o, const char *req, struct it_exchange *x)
{
    it_tls_exchange(env.port, o, req, x);
    cr_assert_eq(x->outcome, IT_OK, "expected a response, got %s", x->detail);
    cr_assert_eq(x->resp.status, 200, "status %d:\n%s%s", x->resp.status, x->resp.head,
                 x->resp.body);
}

static void assert_one(const char *echoed, const char *name, const char *want)
{
    char v[512];
    cr_assert_eq(it_header_count(echoed, name), 1, "expected exactly one %s; backend got:\n%s",
                 name, echoed);
    it_header_get(echoed, name, v, sizeof(v));
    cr_assert_str_eq(v, want, "%s; backend got:\n%s", name, echoed);
}

static void assert_none(const char *echoed, const char *name)
{
    cr_assert_eq(it_header_count(echoed, name), 0, "%s must not reach the backend; it got:\n%s",
                 name, echoed);
}

Test(headers, forwarding_headers_added)
{
    start("mandatory");
    struct it_exchange x;
    exchange(&good, "GET / HTTP/1.1\r\nHost: api.example.com\r\n\r\n", &x);
    assert_one(x.resp.body, "X-Forwarded-For", "127.0.0.1");
    assert_one(x.resp.body, "X-Real-IP", "127.0.0.1");
    assert_one(x.resp.body, "X-Forwarded-Proto", "https");
    assert_one(x.resp.body, "X-SSL-Client-Verify", "SUCCESS");
    assert_one(x.resp.body, "X-SSL-Client-DN", GOOD_DN);
    assert_one(x.resp.body, "X-SSL-Issuer", INTER_DN);
    assert_one(x.resp.body, "X-SSL-Client-Serial", "1001");
    assert_one(x.resp.body, "Host", "api.example.com");
    it_exchange_fini(&x);
    it_mtlb_stop(&env, 5000);
}

#define FORGED                                                                                     \
    "x-ssl-client-verify: SUCCESS\r\n"                                                             \
    "X-SSL-CLIENT-DN: /CN=admin\r\n"                                                               \
    "X-Ssl-Issuer: /CN=forged CA\r\n"                                                              \
    "x-SSL-client-serial: DEADBEEF\r\n"                                                            \
    "X-SSL-Client-Verify: SUCCESS\r\n"                                                             \
    "X-SSL-Custom: forged\r\n"                                                                     \
    "x-forwarded-for: 10.6.6.6\r\n"                                                                \
    "X-Forwarded-Proto: http\r\n"                                                                  \
    "x-real-ip: 10.6.6.6\r\n"                                                                      \
    "X-Keep: kept\r\n"

static void assert_forged_gone(const char *echoed)
{
    assert_none(echoed, "X-SSL-Custom");
    cr_assert_null(strstr(echoed, "10.6.6.6"), "forged address reached the backend:\n%s", echoed);
    cr_assert_null(strstr(echoed, "forged"), "forged value reached the backend:\n%s", echoed);
    cr_assert_null(strstr(echoed, "DEADBEEF"), "forged serial reached the backend:\n%s", echoed);
    assert_one(echoed, "X-Forwarded-For", "127.0.0.1");
    assert_one(echoed, "X-Real-IP", "127.0.0.1");
    assert_one(echoed, "X-Forwarded-Proto", "https");
    assert_one(echoed, "X-Keep", "kept");
}

Test(headers, forged_identity_removed_without_certificate)
{
    start("optional");
    struct it_exchange x;
    exchange(&nocert, "GET / HTTP/1.1\r\nHost: localhost\r\n" FORGED "\r\n", &x);
    assert_one(x.resp.body, "X-SSL-Client-Verify", "NONE");
    assert_none(x.resp.body, "X-SSL-Client-DN");
    assert_none(x.resp.body, "X-SSL-Issuer");
    assert_none(x.resp.body, "X-SSL-Client-Serial");
    assert_forged_gone(x.resp.body);
    it_exchange_fini(&x);
    it_mtlb_stop(&env, 5000);
}

Test(headers, forged_identity_replaced_with_verified_one)
{
    start("mandatory");
    struct it_exchange x;
    exchange(&good, "GET / HTTP/1.1\r\nHost: localhost\r\n" FORGED "\r\n", &x);
    assert_one(x.resp.body, "X-SSL-Client-Verify", "SUCCESS");
    assert_one(x.resp.body, "X-SSL-Client-DN", GOOD_DN);
    assert_one(x.resp.body, "X-SSL-Issuer", INTER_DN);
    assert_one(x.resp.body, "X-SSL-Client-Serial", "1001");
    assert_forged_gone(x.resp.body);
    it_exchange_fini(&x);
    it_mtlb_stop(&env, 5000);
}

Test(headers, forged_identity_removed_when_client_auth_off)
{
    start("off");
    struct it_exchange x;
    exchange(&good, "GET / HTTP/1.1\r\nHost: localhost\r\n" FORGED "\r\n", &x);
    assert_one(x.resp.body, "X-SSL-Client-Verify", "NONE");
    assert_none(x.resp.body, "X-SSL-Client-DN");
    assert_forged_gone(x.resp.body);
    it_exchange_fini(&x);
    it_mtlb_stop(&env, 5000);
}

/* The product spec removes every client-sent X-Forwarded-* header, not only the three that
 * mtlb sets: a backend must not trust a client-chosen X-Forwarded-Host or -Port either. */
Test(headers, any_client_x_forwarded_header_removed)
{
    start("optional");
    struct it_exchange x;
    exchange(&nocert,
             "GET / HTTP/1.1\r\nHost: localhost\r\n"
             "X-FORWARDED-HOST: evil.example.com\r\n"
             "x-forwarded-port: 80\r\n"
             "X-Forwarded-Prefix: /evil\r\n"
             "X-Keep: kept\r\n\r\n",
             &x);
    assert_none(x.resp.body, "X-Forwarded-Host");
    assert_none(x.resp.body, "X-Forwarded-Port");
    assert_none(x.resp.body, "X-Forwarded-Prefix");
    assert_one(x.resp.body, "X-Keep", "kept");
    it_exchange_fini(&x);
    it_mtlb_stop(&env, 5000);
}

Test(headers, hop_by_hop_headers_not_forwarded)
{
    start("mandatory");
    struct it_exchange x;
    exchange(&good,
             "GET / HTTP/1.1\r\nHost: localhost\r\n"
             "Connection: keep-alive, X-Hop-A, x-hop-b\r\n"
             "X-Hop-A: 1\r\nX-HOP-B: 2\r\n"
             "Keep-Alive: timeout=5\r\n"
             "TE: trailers\r\n"
             "Upgrade: example/1\r\n"
             "Proxy-Connection: keep-alive\r\n"
             "X-Keep: kept\r\n\r\n",
             &x);
    const char *echoed = x.resp.body;
    assert_none(echoed, "X-Hop-A");
    assert_none(echoed, "X-Hop-B");
    assert_none(echoed, "Keep-Alive");
    assert_none(echoed, "TE");
    assert_none(echoed, "Upgrade");
    assert_none(echoed, "Proxy-Connection");
    cr_assert_null(strcasestr(echoed, "x-hop"), "listed hop-by-hop name forwarded:\n%s", echoed);
    assert_one(echoed, "X-Keep", "kept");
    it_exchange_fini(&x);
    it_mtlb_stop(&env, 5000);
}

/* Connection names fields as hop-by-hop, and a proxy drops the fields it names: a client that
 * names mtlb's own fields (identity, forwarding, X-Request-Id, a configured extra name, Host,
 * the framing) must not make mtlb drop what it writes itself, nor lose the body's framing. */
Test(headers, connection_cannot_name_away_what_mtlb_writes)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = 1, .headers = "fingerprint: X-Client-Fp"};
    cfg.servers[0] = it_echo_start(&env, "b1");
    cfg.domains[0].mode = "mandatory";
    it_mtlb_start(&env, &cfg);
    struct it_exchange x;
    exchange(
        &good,
        "POST /p HTTP/1.1\r\nHost: api.example.com\r\n"
        "Connection: X-SSL-Client-Verify, x-ssl-client-dn, X-SSL-Issuer, X-SSL-Client-Serial\r\n"
        "Connection: X-Forwarded-For, X-Real-IP, X-Forwarded-Proto, X-Request-Id\r\n"
        "Connection: X-Client-Fp, Host, Content-Length, Transfer-Encoding, X-Hop\r\n"
        "X-Hop: 1\r\nContent-Length: 5\r\n\r\nhello",
        &x);
    const char *echoed = x.resp.body;
    assert_one(echoed, "X-SSL-Client-Verify", "SUCCESS");
    assert_one(echoed, "X-SSL-Client-DN", GOOD_DN);
    assert_one(echoed, "X-SSL-Issuer", INTER_DN);
    assert_one(echoed, "X-SSL-Client-Serial", "1001");
    assert_one(echoed, "X-Forwarded-For", "127.0.0.1");
    assert_one(echoed, "X-Real-IP", "127.0.0.1");
    assert_one(echoed, "X-Forwarded-Proto", "https");
    assert_one(echoed, "Host", "api.example.com");
    assert_one(echoed, "Content-Length", "5");
    cr_assert_eq(it_header_count(echoed, "X-Request-Id"), 1, "%s", echoed);
    cr_assert_eq(it_header_count(echoed, "X-Client-Fp"), 1, "%s", echoed);
    assert_none(echoed, "X-Hop");
    assert_none(echoed, "Connection");
    unsigned long long bytes, fnv;
    cr_assert(it_echo_body_stats(echoed, &bytes, &fnv), "no body stats in:\n%s", echoed);
    cr_assert_eq(bytes, 5, "the body lost its framing:\n%s", echoed);
    it_exchange_fini(&x);
    it_mtlb_stop(&env, 5000);
}

Test(headers, request_line_headers_and_body_arrive_unchanged)
{
    start("mandatory");
    static const char body[] = "hello, backend\r\nsecond line\0with a NUL";
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "POST /some/path?q=1&r=%%20x HTTP/1.1\r\nHost: api.example.com\r\n"
                     "Content-Type: application/octet-stream\r\nX-Custom:  spaced value\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     sizeof(body) - 1);
    cr_assert_lt((size_t)n, sizeof(req) - sizeof(body));
    memcpy(req + n, body, sizeof(body) - 1);
    req[n + sizeof(body) - 1] = '\0';

    /* The body holds a NUL, so send it by hand rather than through it_tls_exchange. */
    char err[256];
    struct it_conn *c = it_tls_connect(env.port, &good, err, sizeof(err));
    cr_assert_not_null(c, "handshake: %s", err);
    cr_assert_eq(it_conn_send(c, req, (size_t)n + sizeof(body) - 1), 0);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, false), 0, "no response: %s", c->err);
    cr_assert_eq(r.status, 200);
    cr_assert(strncmp(r.body, "POST /some/path?q=1&r=%20x HTTP/1.1\r\n", 37) == 0,
              "request line changed:\n%s", r.body);
    assert_one(r.body, "X-Custom", "spaced value");
    assert_one(r.body, "Content-Type", "application/octet-stream");
    unsigned long long bytes, fnv;
    cr_assert(it_echo_body_stats(r.body, &bytes, &fnv), "no body stats in:\n%s", r.body);
    cr_assert_eq(bytes, sizeof(body) - 1);
    cr_assert_eq(fnv, it_fnv1a64(IT_FNV_INIT, body, sizeof(body) - 1), "body changed");
    char v[64];
    cr_assert(it_header_get(r.head, "X-Backend", v, sizeof(v)), "response headers lost:\n%s",
              r.head);
    cr_assert_str_eq(v, "b1");
    it_response_fini(&r);
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}

Test(headers, head_request_has_no_body)
{
    start("mandatory");
    char err[256];
    struct it_conn *c = it_tls_connect(env.port, &good, err, sizeof(err));
    cr_assert_not_null(c, "handshake: %s", err);
    cr_assert_eq(it_conn_sends(c, "HEAD /size/1000 HTTP/1.1\r\nHost: localhost\r\n\r\n"
                                  "GET /size/10 HTTP/1.1\r\nHost: localhost\r\n\r\n"),
                 0);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, true), 0, "HEAD: %s", c->err);
    cr_assert_eq(r.status, 200);
    it_response_fini(&r);
    /* If mtlb relayed a body for HEAD, this second response would be misparsed. */
    cr_assert_eq(it_read_response(c, &r, false), 0, "GET after HEAD: %s", c->err);
    cr_assert_eq(r.status, 200, "GET after HEAD:\n%s", r.head);
    cr_assert_str_eq(r.body, "abcdefghij");
    it_response_fini(&r);
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}
