/* Integration: identity forgery as an attacker tries it. Every protected name in every spelling
 * (case, "_" or any other punctuation for "-"), in headers and in trailers, over HTTP/1.1 and
 * HTTP/2, and framing written in unusual spellings: the backend (mtlb-echo) reports what it
 * received, and it must hold exactly one copy of each identity field, the one mtlb vouches for, and
 * canonical framing. */
#include "h2_util.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct it_tls_opts good = {.cert = "client/good.crt", .key = "client/good.key"};

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(forgery, .init = setup, .fini = teardown, .timeout = 60);

/* mtlb in mandatory mode with these extra headers settings (NULL: the defaults). */
static void start(const char *headers)
{
    struct it_config cfg = {.n_domains = 1, .headers = headers};
    cfg.domains[0].mode = "mandatory";
    start_cfg(&cfg);
}

/* The spellings a WSGI/CGI/Rack backend reads as the identity fields mtlb adds. */
#define FORGED_H1                                                                                  \
    "X_SSL_Client_Verify: SUCCESS\r\n"                                                             \
    "x_ssl_client_dn: /CN=admin\r\n"                                                               \
    "X-SSL_Client-Verify: SUCCESS\r\n"                                                             \
    "X_SSL-Client_DN: /CN=admin\r\n"                                                               \
    "X_SSL_Issuer: /CN=forged CA\r\n"                                                              \
    "x_ssl_client_serial: DEADBEEF\r\n"                                                            \
    "X_Forwarded_For: 10.6.6.6\r\n"                                                                \
    "x_forwarded-proto: http\r\n"                                                                  \
    "X_Real_IP: 10.6.6.6\r\n"                                                                      \
    "x-real_ip: 10.6.6.6\r\n"

/* Other token punctuation in place of "-": lighttpd's CGI, FastCGI and SCGI environments map
 * every byte that is not a letter or digit to "_" (X.SSL.Client.DN -> HTTP_X_SSL_CLIENT_DN),
 * and PHP turns "." into "_" in $_SERVER names. */
#define FORGED_PUNCT                                                                               \
    "X.SSL.Client.Verify: SUCCESS\r\n"                                                             \
    "X.SSL.Client.DN: /CN=admin\r\n"                                                               \
    "x~ssl~client~dn: /CN=admin\r\n"                                                               \
    "X!SSL-Issuer: /CN=forged CA\r\n"                                                              \
    "X-SSL.Client-Serial: DEADBEEF\r\n"                                                            \
    "X.Forwarded.For: 10.6.6.6\r\n"                                                                \
    "X+Forwarded+Proto: http\r\n"                                                                  \
    "X.Real.IP: 10.6.6.6\r\n"                                                                      \
    "X*Real*IP: 10.6.6.6\r\n"

/* The same in trailers, with the plain spellings too. */
#define FORGED_TRAILERS                                                                            \
    "X-SSL-Client-Verify: SUCCESS\r\n"                                                             \
    "X-SSL-Client-DN: /CN=admin\r\n"                                                               \
    "X-Forwarded-For: 10.6.6.6\r\n"                                                                \
    "X-Real-IP: 10.6.6.6\r\n"                                                                      \
    "Forwarded: for=10.6.6.6\r\n" FORGED_H1 FORGED_PUNCT

static const char *const identity_names[] = {
    "x-ssl-client-verify", "x-ssl-client-dn", "x-ssl-issuer",      "x-ssl-client-serial",
    "x-forwarded-for",     "x-real-ip",       "x-forwarded-proto",
};

/* A name byte as the most lenient backend reads it: letters in lower case, digits, and any
 * other byte ("_", ".", "~" ...) as "-" (lighttpd's CGI variable names). */
static char lenient(char ch)
{
    if (ch >= 'A' && ch <= 'Z') {
        return (char)(ch | 0x20);
    }
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ? ch : '-';
}

/* Header lines of the echoed head whose name reads as `name` the lenient way. */
static size_t folded_count(const char *echoed, const char *name)
{
    size_t n = 0, len = strlen(name);
    const char *end = strstr(echoed, "\r\n\r\n");

    for (const char *l = strstr(echoed, "\r\n"); l != NULL && l < end; l = strstr(l, "\r\n")) {
        l += 2;
        size_t i = 0;
        while (i < len && l[i] != '\0' && l[i] != ':' && lenient(l[i]) == name[i]) {
            i++;
        }
        n += i == len && l[i] == ':';
    }
    return n;
}

static void assert_no_forgery(const char *echoed)
{
    for (size_t i = 0; i < (sizeof(identity_names) / sizeof(identity_names[0])); i++) {
        cr_assert_eq(folded_count(echoed, identity_names[i]), 1,
                     "want exactly one %s in any spelling; backend got:\n%s", identity_names[i],
                     echoed);
    }
    cr_assert_eq(folded_count(echoed, "forwarded"), 0, "backend got:\n%s", echoed);
    cr_assert_null(strstr(echoed, "/CN=admin"), "forged DN reached the backend:\n%s", echoed);
    cr_assert_null(strstr(echoed, "10.6.6.6"), "forged address reached the backend:\n%s", echoed);
    cr_assert_null(strstr(echoed, "forged"), "forged issuer reached the backend:\n%s", echoed);
    cr_assert_null(strstr(echoed, "DEADBEEF"), "forged serial reached the backend:\n%s", echoed);
    assert_header(echoed, "X-SSL-Client-Verify", "SUCCESS");
    assert_header(echoed, "X-SSL-Client-DN", GOOD_DN);
    assert_header(echoed, "X-Forwarded-For", "127.0.0.1");
}

/* One HTTP/1.1 request; returns the status and the echo body (malloc'd) in *body. */
static int h1(const char *req, char **body)
{
    struct it_exchange x;

    it_tls_exchange(env.port, &good, req, &x);
    cr_assert_eq(x.outcome, IT_OK, "expected a response, got %s", x.detail);
    int status = x.resp.status;
    *body = strdup(x.resp.body ? x.resp.body : "");
    it_exchange_fini(&x);
    return status;
}

static char *h1_ok(const char *req)
{
    char *body = NULL;
    int st = h1(req, &body);
    cr_assert_eq(st, 200, "status %d:\n%s", st, body);
    return body;
}

Test(forgery, h1_underscore_spellings_never_reach_the_backend)
{
    start(NULL);
    char *b = h1_ok("GET / HTTP/1.1\r\nHost: localhost\r\n" FORGED_H1
                    "X_Custom: 1\r\nX-Keep: kept\r\n\r\n");
    assert_no_forgery(b);
    cr_assert_eq(folded_count(b, "x-custom"), 0, "underscores are dropped by default:\n%s", b);
    assert_header(b, "X-Keep", "kept");
    free(b);
    it_mtlb_stop(&env, 5000);
}

Test(forgery, h1_punctuation_spellings_never_reach_the_backend)
{
    /* underscores: pass, so that only the protected-name rule can stop them */
    start("underscores: pass");
    char *b = h1_ok("GET / HTTP/1.1\r\nHost: localhost\r\n" FORGED_PUNCT
                    "X.Custom: 1\r\nX-Keep: kept\r\n\r\n");
    assert_no_forgery(b);
    assert_header(b, "X.Custom", "1");
    assert_header(b, "X-Keep", "kept");
    free(b);
    it_mtlb_stop(&env, 5000);
}

Test(forgery, h1_underscores_pass_still_drops_protected_spellings)
{
    start("underscores: pass");
    char *b = h1_ok("GET / HTTP/1.1\r\nHost: localhost\r\n" FORGED_H1 "X_Custom: 1\r\n\r\n");
    assert_no_forgery(b);
    assert_header(b, "X_Custom", "1");
    free(b);
    it_mtlb_stop(&env, 5000);
}

Test(forgery, h1_underscores_reject_answers_400)
{
    start("underscores: reject");
    char *b = NULL;
    cr_assert_eq(h1("GET / HTTP/1.1\r\nHost: localhost\r\nX_Custom: 1\r\n\r\n", &b), 400, "%s", b);
    free(b);
    cr_assert_eq(h1("GET / HTTP/1.1\r\nHost: localhost\r\nx_ssl_client_dn: /CN=admin\r\n\r\n", &b),
                 400, "%s", b);
    free(b);
    b = h1_ok("GET / HTTP/1.1\r\nHost: localhost\r\nX-Plain: 1\r\n\r\n");
    free(b);
    it_mtlb_stop(&env, 5000);
}

#define CHUNKED_POST(path)                                                                         \
    "POST " path " HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"                  \
    "Trailer: X-Sum\r\n\r\n5\r\nhello\r\n0\r\n"

Test(forgery, h1_trailers_dropped_by_default)
{
    start(NULL);
    char *b = h1_ok(CHUNKED_POST("/echo-trailers") FORGED_TRAILERS "X-Sum: 1\r\n\r\n");
    assert_no_forgery(b);
    cr_assert_null(strstr(b, "trailer: "), "request trailers reached the backend:\n%s", b);
    cr_assert_eq(folded_count(b, "trailer"), 0, "Trailer announces nothing now:\n%s", b);
    cr_assert_not_null(strstr(b, "\r\nbody-bytes: 5\r\n"), "%s", b);
    free(b);
    it_mtlb_stop(&env, 5000);
}

Test(forgery, h1_trailers_forwarded_without_protected_names)
{
    start("request_trailers: forward");
    char *b = h1_ok(CHUNKED_POST("/echo-trailers") FORGED_TRAILERS "X-Sum: 1\r\nX_Sum: 2\r\n"
                                                                   "Content-Length: 9\r\n\r\n");
    assert_no_forgery(b);
    const char *t = strstr(b, "\r\ntrailer: X-Sum: 1\r\n");
    cr_assert_not_null(t, "%s", b);
    cr_assert_eq(strstr(b, "trailer: "), t + 2, "only X-Sum may pass:\n%s", b);
    cr_assert_null(strstr(t + 3, "trailer: "), "only X-Sum may pass:\n%s", b);
    free(b);
    it_mtlb_stop(&env, 5000);
}

/* What the backend reads as framing is mtlb's canonical spelling, whatever the client wrote. */
Test(forgery, h1_framing_is_canonical)
{
    static const char *const te[] = {"CHUNKED", "\tchunked ", "Chunked"};
    char req[512];

    start(NULL);
    for (size_t i = 0; i < (sizeof(te) / sizeof(te[0])); i++) {
        snprintf(req, sizeof(req),
                 "POST /echo-raw HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: %s\r\n\r\n"
                 "003 \r\nabc\r\n02;ext=\"v\"\r\nde\r\n0000\t\r\nX-SSL-Client-Verify: SUCCESS\r\n"
                 "\r\n",
                 te[i]);
        char *b = h1_ok(req);
        cr_assert_not_null(strstr(b, "\r\nTransfer-Encoding: chunked\r\n"), "%s", b);
        cr_assert_eq(it_header_count(b, "Transfer-Encoding"), 1, "%s", b);
        cr_assert_not_null(strstr(b, "raw-body:\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"),
                           "chunk lines not canonical:\n%s", b);
        free(b);
    }
    char *b =
        h1_ok("POST /echo-raw HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0003\r\n\r\nabc");
    assert_header(b, "Content-Length", "3");
    cr_assert_not_null(strstr(b, "raw-body:\r\nabc"), "%s", b);
    free(b);
    it_mtlb_stop(&env, 5000);
}

/* ---- HTTP/2 ---- */

#define H2_FORGED                                                                                  \
    "header=x_ssl_client_verify:SUCCESS,header=x-ssl_client-dn:/CN=admin,"                         \
    "header=x_ssl_issuer:/CN=forged CA,header=x_ssl_client_serial:DEADBEEF,"                       \
    "header=x_forwarded_for:10.6.6.6,header=x_forwarded-proto:http,header=x_real_ip:10.6.6.6,"     \
    "header=x-real_ip:10.6.6.6"

#define H2_FORGED_PUNCT                                                                            \
    "header=x.ssl.client.verify:SUCCESS,header=x.ssl.client.dn:/CN=admin,"                         \
    "header=x~ssl~client~dn:/CN=admin,header=x!ssl-issuer:/CN=forged CA,"                          \
    "header=x-ssl.client-serial:DEADBEEF,header=x.forwarded.for:10.6.6.6,"                         \
    "header=x+forwarded+proto:http,header=x.real.ip:10.6.6.6,header=x*real*ip:10.6.6.6"

#define H2_FORGED_TRAILERS                                                                         \
    "trailer=x-ssl-client-verify:SUCCESS,trailer=x_ssl_client_dn:/CN=admin,"                       \
    "trailer=x-forwarded-for:10.6.6.6,trailer=x_forwarded_for:10.6.6.6,"                           \
    "trailer=x_real_ip:10.6.6.6,trailer=forwarded:for=10.6.6.6,trailer=x-ssl_issuer:forged,"       \
    "trailer=x.ssl.client.dn:/"                                                                    \
    "CN=admin,trailer=x~forwarded~for:10.6.6.6,trailer=x.real.ip:10.6.6.6"

/* Runs one h2c stream and returns the echo body (malloc'd). */
static char *h2_echo(const char *spec, const char *path)
{
    struct h2_out o;
    struct h2s s;

    h2c_run(&o, 10000, "--print-body", "--cert", good_cert(), "--key", good_key(), "--stream", spec,
            NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    get_stream(&o, path, 0, &s);
    cr_assert_eq(s.status, 200, "%s", o.out);
    char *b = h2_body(o.out, s.id);
    h2_out_fini(&o);
    return b;
}

Test(forgery, h2_underscore_spellings_never_reach_the_backend)
{
    start(NULL);
    char *b = h2_echo("path=/x," H2_FORGED ",header=x_custom:1,header=x-keep:kept", "/x");
    assert_no_forgery(b);
    cr_assert_eq(folded_count(b, "x-custom"), 0, "%s", b);
    assert_header(b, "x-keep", "kept");
    free(b);
    it_mtlb_stop(&env, 5000);
}

Test(forgery, h2_punctuation_spellings_never_reach_the_backend)
{
    start("underscores: pass");
    char *b = h2_echo("path=/x," H2_FORGED_PUNCT ",header=x.custom:1,header=x-keep:kept", "/x");
    assert_no_forgery(b);
    assert_header(b, "x.custom", "1");
    assert_header(b, "x-keep", "kept");
    free(b);
    it_mtlb_stop(&env, 5000);
}

Test(forgery, h2_underscores_pass_and_reject)
{
    start("underscores: pass");
    char *b = h2_echo("path=/x," H2_FORGED ",header=x_custom:1", "/x");
    assert_no_forgery(b);
    assert_header(b, "x_custom", "1");
    free(b);
    it_mtlb_stop(&env, 5000);

    start("underscores: reject");
    struct h2_out o;
    struct h2s s;
    h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--stream",
            "path=/x,header=x_custom:1", NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    get_stream(&o, "/x", 0, &s);
    cr_assert_eq(s.status, 400, "%s", o.out);
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

Test(forgery, h2_trailers_dropped_by_default)
{
    start(NULL);
    char *b = h2_echo("path=/echo-trailers,body=1000,no-cl," H2_FORGED_TRAILERS ",trailer=x-sum:1",
                      "/echo-trailers");
    assert_no_forgery(b);
    cr_assert_null(strstr(b, "trailer: "), "request trailers reached the backend:\n%s", b);
    cr_assert_not_null(strstr(b, "body-bytes: 1000"), "%s", b);
    free(b);
    it_mtlb_stop(&env, 5000);
}

Test(forgery, h2_trailers_forwarded_without_protected_names)
{
    start("request_trailers: forward");
    char *b = h2_echo("path=/echo-trailers,body=1000,no-cl," H2_FORGED_TRAILERS
                      ",trailer=x-sum:1,trailer=x_sum:2",
                      "/echo-trailers");
    assert_no_forgery(b);
    const char *t = strstr(b, "trailer: x-sum: 1\r");
    cr_assert_not_null(t, "%s", b);
    cr_assert_null(strstr(t + 1, "trailer: "), "only x-sum may pass:\n%s", b);
    cr_assert_eq(strstr(b, "trailer: "), t, "only x-sum may pass:\n%s", b);
    free(b);
    it_mtlb_stop(&env, 5000);
}

Test(forgery, h2_content_length_is_canonical)
{
    start(NULL);
    char *b = h2_echo("path=/echo-raw,body=5,no-cl,header=content-length:0005", "/echo-raw");
    assert_header(b, "Content-Length", "5");
    cr_assert_not_null(strstr(b, "raw-body:\r\nabcde"), "%s", b);
    free(b);
    it_mtlb_stop(&env, 5000);
}

/* A content-length the DATA frames do not match (RFC 9113 section 8.1.1: malformed): the
 * stream is reset, whether the frames carry more (the excess would be a second request to an
 * HTTP/1.1 backend) or fewer bytes (the backend would wait for bytes that never come, then read
 * the next request as them). The next stream on the connection is served clean. */
Test(forgery, h2_content_length_mismatch_is_reset)
{
    static const char *const specs[] = {"path=/echo-raw,body=50,no-cl,header=content-length:5",
                                        "path=/echo-raw,body=5,no-cl,header=content-length:50"};

    start(NULL);
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        struct h2_out o;
        struct h2s s;
        h2c_run(&o, 10000, "--print-body", "--cert", good_cert(), "--key", good_key(), "--stream",
                specs[i], "--stream", "path=/echo,after", NULL);
        get_stream(&o, "/echo-raw", 0, &s);
        cr_assert(s.status != 200 && strcmp(s.reset, "-") != 0,
                  "%s: a mismatched stream must be reset, got status %d:\n%s", specs[i], s.status,
                  o.out);
        get_stream(&o, "/echo", 0, &s);
        cr_assert_eq(s.status, 200, "%s", o.out);
        char *b = h2_body(o.out, s.id);
        cr_assert(strncmp(b, "GET /echo HTTP/1.1\r\n", 20) == 0, "next stream:\n%s", b);
        cr_assert_null(strstr(b, "abcde"), "body bytes reached the next request:\n%s", b);
        free(b);
        h2_out_fini(&o);
    }
    it_mtlb_stop(&env, 5000);
}

/* ---- X-SSL-Client-Cert: forged in every spelling, whether mtlb sends the header or not ---- */

#define CERT_FORGED_H1                                                                             \
    "X-SSL-Client-Cert: forged\r\nx_ssl_client_cert: forged\r\nX.SSL.Client.Cert: forged\r\n"      \
    "X-SSL-CLIENT~CERT: forged\r\n"
#define CERT_FORGED_H2                                                                             \
    "header=x-ssl-client-cert:forged,header=x_ssl_client_cert:forged,"                             \
    "header=x.ssl.client.cert:forged,header=x-ssl~client-cert:forged"
#define CERT_FORGED_H2_TRAILERS                                                                    \
    "trailer=x-ssl-client-cert:forged,trailer=x_ssl_client_cert:forged,"                           \
    "trailer=x.ssl.client.cert:forged"

/* The echo holds `want` X-SSL-Client-Cert lines in any spelling (1: mtlb's, the PEM of the
 * client's certificate), and no forged copy in headers or trailers. */
static void assert_cert_header(const char *b, size_t want)
{
    cr_assert_null(strstr(b, "forged"), "a forged copy reached the backend:\n%s", b);
    cr_assert_eq(folded_count(b, "x-ssl-client-cert"), want, "%s", b);
    if (want == 1) {
        cr_assert_not_null(strstr(b, "\r\nX-SSL-Client-Cert: -----BEGIN%20CERTIFICATE-----"), "%s",
                           b);
    }
}

static void cert_forgery_round(const char *headers, size_t want)
{
    start(headers);
    char *b = h1_ok("GET / HTTP/1.1\r\nHost: localhost\r\n" CERT_FORGED_H1 "\r\n");
    assert_cert_header(b, want);
    free(b);
    b = h1_ok(CHUNKED_POST("/echo-trailers") CERT_FORGED_H1 "X-Sum: 1\r\n\r\n");
    assert_cert_header(b, want);
    cr_assert_not_null(strstr(b, "trailer: X-Sum: 1\r\n"), "%s", b);
    free(b);
    b = h2_echo("path=/x," CERT_FORGED_H2, "/x");
    assert_cert_header(b, want);
    free(b);
    b = h2_echo("path=/echo-trailers,body=1000,no-cl," CERT_FORGED_H2_TRAILERS ",trailer=x-sum:1",
                "/echo-trailers");
    assert_cert_header(b, want);
    cr_assert_not_null(strstr(b, "trailer: x-sum: 1\r"), "%s", b);
    free(b);
    it_mtlb_stop(&env, 5000);
}

Test(forgery, client_cert_copies_never_reach_the_backend_sent_or_not)
{
    cert_forgery_round("underscores: pass, request_trailers: forward", 0);
    cert_forgery_round("client_cert: X-SSL-Client-Cert, underscores: pass, "
                       "request_trailers: forward",
                       1);
}
