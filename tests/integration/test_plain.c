/* Integration: a plain HTTP listener (tls: false) beside a TLS one. http: redirect answers 301
 * to the https URL (exact Location, query kept, https_port, 443 omitted, a bad Host refused,
 * HEAD without body, keep-alive and pipelining); http: allow proxies plain HTTP/1.1 and HTTP/2
 * with prior knowledge with identity NONE, X-Forwarded-Proto: http and every forged identity
 * spelling stripped; http: drop closes without a byte. A TLS ClientHello or an HTTP/2 preface
 * where they do not belong is refused cleanly; configuration mistakes are reported. */
#include "h2_util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint16_t plain_port;

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(plain, .init = setup, .fini = teardown, .timeout = 60);

/* The suite's TLS listener config (one echo backend, admin on admin_port when not 0) with a
 * plain listener first: `keys` are its YAML lines after tls: false. */
static void write_plain_config(const char *keys, uint16_t admin_port)
{
    struct it_config cfg = {.n_domains = 1, .admin_port = admin_port};
    cfg.domains[0].mode = "optional";
    cfg.servers[0] = env.n_echo > 0 ? env.echo_port[0] : it_echo_start(&env, "b1");
    cfg.n_servers = 1;
    if (plain_port == 0 || !env.mtlb) {
        plain_port = it_free_port();
    }
    it_write_config_plain_first(&env, &cfg, plain_port, keys);
}

static void start_plain(const char *keys)
{
    write_plain_config(keys, 0);
    it_mtlb_launch(&env);
    it_mtlb_wait_ports(&env, (uint16_t[]){env.port, plain_port}, 2);
}

/* Sends req on a new plain connection and reads one response. */
static struct it_conn *send_plain(const char *req)
{
    struct it_conn *c = it_tcp_connect(plain_port);
    it_conn_timeout(c, 5000);
    cr_assert_eq(it_conn_sends(c, req), 0);
    return c;
}

static void read_ok(struct it_conn *c, struct it_response *r, bool head)
{
    cr_assert_eq(it_read_response(c, r, head), 0, "no response: %s", c->err);
}

static void assert_redirect(const struct it_response *r, const char *location)
{
    char v[512] = "";
    cr_assert_eq(r->status, 301, "%s", r->head);
    cr_assert(it_header_get(r->head, "Location", v, sizeof(v)), "%s", r->head);
    cr_assert_str_eq(v, location, "%s", r->head);
    cr_assert_eq(it_header_count(r->head, "Location"), 1, "%s", r->head);
}

/* One request on its own connection: the status, and the Location (or "") in loc. */
static int plain_status(const char *req, char *loc, size_t cap)
{
    struct it_response r;
    struct it_conn *c = send_plain(req);
    read_ok(c, &r, false);
    int st = r.status;
    loc[0] = '\0';
    it_header_get(r.head, "Location", loc, cap);
    it_response_fini(&r);
    it_conn_close(c);
    return st;
}

Test(plain, redirect_location_is_exact_with_query_and_443_omitted)
{
    struct it_response r;

    start_plain("");
    struct it_conn *c = send_plain("GET /orders/1?x=1&y=%41 HTTP/1.1\r\nHost: Api.Example.COM.\r\n"
                                   "\r\n");
    read_ok(c, &r, false);
    assert_redirect(&r, "https://api.example.com/orders/1?x=1&y=%41");
    cr_assert_str_eq(r.body, "Moved Permanently\n");
    cr_assert_eq(it_header_count(r.head, "Connection"), 0, "keep-alive: %s", r.head);
    it_response_fini(&r);
    /* Keep-alive: the same connection answers again; the Host's port is not the https port. */
    cr_assert_eq(it_conn_sends(c, "GET / HTTP/1.1\r\nHost: api.example.com:8080\r\n\r\n"), 0);
    read_ok(c, &r, false);
    assert_redirect(&r, "https://api.example.com/");
    it_response_fini(&r);
    /* An absolute-form target: its authority wins, its path and query are kept. */
    cr_assert_eq(it_conn_sends(c, "GET http://other.example.com/p?q HTTP/1.1\r\n"
                                  "Host: api.example.com\r\n\r\n"),
                 0);
    read_ok(c, &r, false);
    assert_redirect(&r, "https://other.example.com/p?q");
    it_response_fini(&r);
    cr_assert_eq(it_conn_sends(c, "GET http://h.example.com?q=1 HTTP/1.1\r\nHost: h.example.com"
                                  "\r\n\r\n"),
                 0);
    read_ok(c, &r, false);
    assert_redirect(&r, "https://h.example.com/?q=1");
    it_response_fini(&r);
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}

Test(plain, redirect_names_the_configured_https_port)
{
    struct it_response r;

    start_plain("    http: redirect\n    https_port: 8443\n");
    struct it_conn *c = send_plain("GET /a?b HTTP/1.1\r\nHost: [::1]:80\r\n\r\n");
    read_ok(c, &r, false);
    assert_redirect(&r, "https://[::1]:8443/a?b");
    it_response_fini(&r);
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}

Test(plain, redirect_refuses_a_bad_or_missing_host_with_400)
{
    static const char *const reqs[] = {
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: evil.com@api.example.com\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a..b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: evil.com/x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a%2eb\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n",
        "GET //evil.com/ HTTP/1.1\r\nHost: \r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: api.example.com\r\n\r\n",
        "GET http://u@evil.com/ HTTP/1.1\r\nHost: api.example.com\r\n\r\n",
    };
    char loc[512];

    start_plain("");
    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        cr_assert_eq(plain_status(reqs[i], loc, sizeof(loc)), 400, "request %zu: %s", i, reqs[i]);
        cr_assert_str_eq(loc, "", "request %zu was redirected to %s", i, loc);
    }
    /* A path starting with // stays a path on the validated host. */
    cr_assert_eq(
        plain_status("GET //evil.com/ HTTP/1.1\r\nHost: api.example.com\r\n\r\n", loc, sizeof(loc)),
        301);
    cr_assert_str_eq(loc, "https://api.example.com//evil.com/");
    it_mtlb_assert_alive(&env);
    it_mtlb_stop(&env, 5000);
}

Test(plain, redirect_head_has_no_body_and_close_is_honoured)
{
    struct it_response r;
    char buf[64];

    start_plain("");
    struct it_conn *c = send_plain("HEAD /h HTTP/1.1\r\nHost: api.example.com\r\n\r\n"
                                   "GET /after-head HTTP/1.1\r\nHost: api.example.com\r\n"
                                   "Connection: close\r\n\r\n");
    read_ok(c, &r, true);
    assert_redirect(&r, "https://api.example.com/h");
    cr_assert(it_header_get(r.head, "Content-Length", buf, sizeof(buf)));
    cr_assert_str_eq(buf, "18");
    it_response_fini(&r);
    /* The next response follows at once: HEAD's had no body bytes. */
    read_ok(c, &r, false);
    assert_redirect(&r, "https://api.example.com/after-head");
    cr_assert(it_header_get(r.head, "Connection", buf, sizeof(buf)));
    cr_assert_str_eq(buf, "close");
    it_response_fini(&r);
    cr_assert(it_conn_wait_closed(c, 3000), "Connection: close was not honoured");
    it_conn_close(c);
    /* HTTP/1.0 without keep-alive: closed after the answer. */
    c = send_plain("GET /old HTTP/1.0\r\nHost: api.example.com\r\n\r\n");
    read_ok(c, &r, false);
    assert_redirect(&r, "https://api.example.com/old");
    it_response_fini(&r);
    cr_assert(it_conn_wait_closed(c, 3000));
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}

Test(plain, redirect_pipelined_requests_answer_in_order)
{
    struct it_response r;
    char req[2048] = "", want[64];

    start_plain("");
    for (int i = 0; i < 8; i++) {
        snprintf(req + strlen(req), sizeof(req) - strlen(req),
                 "GET /p%d?i=%d HTTP/1.1\r\nHost: api.example.com\r\n\r\n", i, i);
    }
    struct it_conn *c = send_plain(req);
    for (int i = 0; i < 8; i++) {
        read_ok(c, &r, false);
        snprintf(want, sizeof(want), "https://api.example.com/p%d?i=%d", i, i);
        assert_redirect(&r, want);
        it_response_fini(&r);
    }
    it_conn_close(c);
    char *line = it_wait_line(
        env.out_log, (const char *const[]){"\"status\":301", "\"transport\":\"plain\"",
                                           "\"tls_version\":\"\"", "\"path\":\"/p7?i=7\"", NULL});
    cr_assert_not_null(strstr(line, "\"sni\":\"\""), "%s", line);
    cr_assert_not_null(strstr(line, "\"verify\":\"NONE\""), "%s", line);
    free(line);
    it_mtlb_stop(&env, 5000);
}

/* The spellings a backend may read as identity fields, as a client forges them. */
#define FORGED                                                                                     \
    "X-SSL-Client-Verify: SUCCESS\r\n"                                                             \
    "x-ssl-client-dn: /CN=admin\r\n"                                                               \
    "X_SSL_Client_Verify: SUCCESS\r\n"                                                             \
    "X_SSL_Client_DN: /CN=admin\r\n"                                                               \
    "X-SSL-Issuer: /CN=forged CA\r\n"                                                              \
    "x_ssl_issuer: /CN=forged CA\r\n"                                                              \
    "X-SSL-Client-Serial: DEADBEEF\r\n"                                                            \
    "x_ssl_client-serial: DEADBEEF\r\n"                                                            \
    "X-Forwarded-For: 10.6.6.6\r\n"                                                                \
    "X_Forwarded_For: 10.6.6.6\r\n"                                                                \
    "X-Forwarded-Proto: https\r\n"                                                                 \
    "x_forwarded-proto: https\r\n"                                                                 \
    "X-Real-IP: 10.6.6.6\r\n"                                                                      \
    "X_Real_IP: 10.6.6.6\r\n"                                                                      \
    "Forwarded: for=10.6.6.6;proto=https\r\n"

/* Header lines of the echoed head whose name reads as `name` once "_" is taken for "-". */
static size_t folded_count(const char *echoed, const char *name)
{
    size_t n = 0, len = strlen(name);
    const char *end = strstr(echoed, "\r\n\r\n");

    for (const char *l = strstr(echoed, "\r\n"); l != NULL && l < end; l = strstr(l, "\r\n")) {
        l += 2;
        size_t i = 0;
        while (i < len && l[i] != '\0' &&
               (l[i] == '_' ? '-' : (l[i] | (l[i] >= 'A' && l[i] <= 'Z' ? 0x20 : 0))) == name[i]) {
            i++;
        }
        n += i == len && l[i] == ':';
    }
    return n;
}

/* What the backend must see from a plain allow listener, whatever the client forged. */
static void assert_plain_identity(const char *echoed)
{
    static const char *const absent[] = {"x-ssl-client-dn", "x-ssl-issuer", "x-ssl-client-serial",
                                         "forwarded"};
    static const char *const once[] = {"x-ssl-client-verify", "x-forwarded-for", "x-real-ip",
                                       "x-forwarded-proto"};
    for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
        cr_assert_eq(folded_count(echoed, absent[i]), 0, "%s reached the backend:\n%s", absent[i],
                     echoed);
    }
    for (size_t i = 0; i < sizeof(once) / sizeof(once[0]); i++) {
        cr_assert_eq(folded_count(echoed, once[i]), 1, "want one %s:\n%s", once[i], echoed);
    }
    assert_header(echoed, "X-SSL-Client-Verify", "NONE");
    assert_header(echoed, "X-Forwarded-Proto", "http");
    assert_header(echoed, "X-Forwarded-For", "127.0.0.1");
    cr_assert_null(strstr(echoed, "admin"), "%s", echoed);
    cr_assert_null(strstr(echoed, "10.6.6.6"), "%s", echoed);
    cr_assert_null(strstr(echoed, "DEADBEEF"), "%s", echoed);
    cr_assert_null(strstr(echoed, "forged"), "%s", echoed);
}

Test(plain, allow_sends_verify_none_and_proto_http_and_strips_forgeries)
{
    struct it_response r;

    start_plain("    http: allow\n");
    struct it_conn *c =
        send_plain("GET /echo HTTP/1.1\r\nHost: api.example.com\r\n" FORGED "X-Keep: kept\r\n\r\n");
    read_ok(c, &r, false);
    cr_assert_eq(r.status, 200, "%s%s", r.head, r.body);
    assert_plain_identity(r.body);
    assert_header(r.body, "X-Keep", "kept");
    it_response_fini(&r);
    /* Trailers are dropped by default, forged identity ones too. */
    cr_assert_eq(it_conn_sends(c, "POST /echo-trailers HTTP/1.1\r\nHost: api.example.com\r\n"
                                  "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n" FORGED
                                  "\r\n"),
                 0);
    read_ok(c, &r, false);
    cr_assert_eq(r.status, 200, "%s%s", r.head, r.body);
    assert_plain_identity(r.body);
    cr_assert_not_null(strstr(r.body, "\r\nbody-bytes: 5\r\n"), "%s", r.body);
    it_response_fini(&r);
    it_conn_close(c);
    char *line = it_wait_line(env.out_log,
                              (const char *const[]){"\"status\":200", "\"transport\":\"plain\"",
                                                    "\"cipher\":\"\"", "\"path\":\"/echo\"", NULL});
    cr_assert_not_null(strstr(line, "\"verify\":\"NONE\""), "%s", line);
    free(line);
    it_mtlb_stop(&env, 5000);
}

Test(plain, allow_keep_alive_and_pipelining)
{
    struct it_response r;
    char req[2048] = "", want[64];

    start_plain("    http: allow\n");
    for (int i = 0; i < 6; i++) {
        snprintf(req + strlen(req), sizeof(req) - strlen(req),
                 "GET /echo/%d HTTP/1.1\r\nHost: api.example.com\r\n\r\n", i);
    }
    struct it_conn *c = send_plain(req);
    for (int i = 0; i < 6; i++) {
        read_ok(c, &r, false);
        cr_assert_eq(r.status, 200);
        snprintf(want, sizeof(want), "GET /echo/%d HTTP/1.1\r\n", i);
        cr_assert_eq(strncmp(r.body, want, strlen(want)), 0, "%d: %s", i, r.body);
        it_response_fini(&r);
    }
    /* And one after the other on the same connection, with a body. */
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(it_conn_sends(c, "POST /size/70000 HTTP/1.1\r\nHost: api.example.com\r\n"
                                      "Content-Length: 3\r\n\r\nabc"),
                     0);
        read_ok(c, &r, false);
        cr_assert_eq(r.status, 200);
        cr_assert_eq(r.body_len, 70000);
        it_response_fini(&r);
    }
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}

/* curl over HTTP/2 with prior knowledge to the plain listener; returns curl's exit code. */
static int curl_h2c(const char *path, char **out)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", plain_port, path);
    char *argv[] = {"/usr/bin/curl",
                    "-sS",
                    "--http2-prior-knowledge",
                    "-H",
                    "X-SSL-Client-Verify: SUCCESS",
                    "-H",
                    "x_ssl_client_dn: /CN=admin",
                    "-H",
                    "X-Forwarded-Proto: https",
                    "-w",
                    "\nHTTPVER=%{http_version} STATUS=%{http_code}\n",
                    "--max-time",
                    "10",
                    url,
                    NULL};
    char *err = NULL;
    int rc = it_run(&env, argv, out, &err, 15000);
    free(err);
    return rc;
}

Test(plain, allow_takes_http2_with_prior_knowledge)
{
    char *out = NULL;

    start_plain("    http: allow\n");
    cr_assert_eq(curl_h2c("/echo", &out), 0, "%s", out);
    cr_assert_not_null(strstr(out, "HTTPVER=2 STATUS=200"), "%s", out);
    assert_plain_identity(out);
    free(out);
    char *line = it_wait_line(
        env.out_log, (const char *const[]){"\"proto\":\"h2\"", "\"transport\":\"plain\"", NULL});
    free(line);
    it_mtlb_stop(&env, 5000);
}

/* An HTTP/2 client with prior knowledge on a listener that only redirects: an HTTP/1.1 page
 * would read to its HTTP/2 stack as a broken frame, so it gets the server's SETTINGS and a
 * GOAWAY with HTTP_1_1_REQUIRED and a reason, then the close; the refusal is logged. */
Test(plain, redirect_listener_refuses_the_http2_preface)
{
    unsigned char buf[512];
    size_t len = 0;
    ssize_t n = -1;
    /* the preface and the client's empty SETTINGS, as curl --http2-prior-knowledge sends them */
    static const char hello[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                                "\x00\x00\x00\x04\x00\x00\x00\x00\x00";

    start_plain("");
    struct it_conn *c = it_tcp_connect(plain_port);
    it_conn_timeout(c, 5000);
    cr_assert_eq(it_conn_send(c, hello, sizeof(hello) - 1), 0);
    while (len < sizeof(buf) && (n = it_conn_recv_some(c, buf + len, sizeof(buf) - len)) > 0) {
        len += (size_t)n;
    }
    cr_assert_eq(n, 0, "not closed after %zu bytes: %s", len, c->err);
    /* SETTINGS: empty, no flags, stream 0 */
    static const unsigned char settings[9] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
    cr_assert_geq(len, 9 + 9 + 8, "%zu bytes", len);
    cr_assert_eq(memcmp(buf, settings, 9), 0, "first frame is not an empty SETTINGS");
    const unsigned char *g = buf + 9;
    size_t glen = (size_t)g[0] << 16 | (size_t)g[1] << 8 | g[2];
    cr_assert_eq(g[3], 7, "second frame type %u, not GOAWAY", g[3]);
    cr_assert_eq(memcmp(g + 4, "\0\0\0\0\0", 5), 0, "GOAWAY flags or stream not 0");
    cr_assert_eq(len, 9 + 9 + glen, "%zu bytes after the frames", len - 18 - glen);
    static const unsigned char last_and_code[8] = {0, 0, 0, 0, 0, 0, 0, 0xd};
    cr_assert_eq(memcmp(g + 9, last_and_code, 8), 0, "not last-stream 0 / HTTP_1_1_REQUIRED");
    char debug[256] = "";
    memcpy(debug, g + 17, glen - 8 < sizeof(debug) - 1 ? glen - 8 : sizeof(debug) - 1);
    cr_assert_not_null(strstr(debug, "redirects HTTP/1.1 to https"), "debug data: %s", debug);
    it_conn_close(c);
    free(it_wait_line(env.err_log, (const char *const[]){"event=h2c_refused", NULL}));
    /* The listener still redirects HTTP/1.1. */
    struct it_response r;
    c = send_plain("GET /x HTTP/1.1\r\nHost: api.example.com\r\n\r\n");
    read_ok(c, &r, false);
    cr_assert_eq(r.status, 301, "%s", r.head);
    it_response_fini(&r);
    it_conn_close(c);
    it_mtlb_assert_alive(&env);
    it_mtlb_stop(&env, 5000);
}

Test(plain, drop_closes_without_a_byte)
{
    start_plain("    http: drop\n");
    for (int i = 0; i < 3; i++) {
        struct it_conn *c = it_tcp_connect(plain_port);
        it_conn_timeout(c, 3000);
        it_conn_sends(c, "GET / HTTP/1.1\r\nHost: api.example.com\r\n\r\n");
        cr_assert(it_conn_wait_closed(c, 3000), "not closed");
        cr_assert_eq(c->bytes_received, 0, "got %zu bytes", c->bytes_received);
        it_conn_close(c);
    }
    /* The TLS listener of the same process is untouched. */
    struct it_tls_opts good = {.cert = "client/good.crt", .key = "client/good.key"};
    struct it_response r;
    it_get(env.port, &good, "/", &r);
    cr_assert_eq(r.status, 200);
    it_response_fini(&r);
    it_mtlb_stop(&env, 5000);
}

Test(plain, tls_client_hello_on_a_plain_listener_is_refused_cleanly)
{
    static const char *const keys[] = {"", "    http: allow\n"};
    struct it_tls_opts o = {.cert = "client/good.crt", .key = "client/good.key"};

    for (size_t k = 0; k < 2; k++) {
        if (k > 0) {
            it_mtlb_stop(&env, 5000);
            it_env_fini(&env);
            it_env_init(&env);
        }
        start_plain(keys[k]);
        bool ok = true;
        struct it_conn *c = it_tls_open(plain_port, &o, &ok);
        cr_assert(!ok, "a TLS handshake completed on a plain listener");
        it_conn_close(c);
        /* mtlb still serves, on both listeners. */
        char loc[256];
        int st = plain_status("GET /x HTTP/1.1\r\nHost: api.example.com\r\n\r\n", loc, sizeof(loc));
        cr_assert_eq(st, k == 0 ? 301 : 200);
        struct it_response r;
        it_get(env.port, &o, "/", &r);
        cr_assert_eq(r.status, 200);
        it_response_fini(&r);
        it_mtlb_assert_alive(&env);
    }
    it_mtlb_stop(&env, 5000);
}

Test(plain, metrics_count_plain_connections)
{
    uint16_t admin = it_free_port();
    write_plain_config("    http: allow\n", admin);
    it_mtlb_launch(&env);
    it_mtlb_wait_ports(&env, (uint16_t[]){admin, plain_port}, 2);
    char series[160], loc[64];
    snprintf(series, sizeof(series),
             "mtlb_connections_total{listener=\"127.0.0.1:%u\",transport=\"plain\"}", plain_port);
    /* The start-up probes connected too: count from what the scrape says now. */
    usleep(200000);
    char *body = NULL;
    cr_assert_eq(it_admin_req(admin, "GET", "/metrics", 3000, &body), 200);
    double v0 = it_prom_value(body, series);
    free(body);
    cr_assert_geq(v0, 0, "%s absent", series);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(plain_status("GET / HTTP/1.1\r\nHost: a\r\n\r\n", loc, sizeof(loc)), 200);
    }
    double v = -1;
    for (int tries = 0; tries < 50 && v < v0 + 2; tries++) {
        cr_assert_eq(it_admin_req(admin, "GET", "/metrics", 3000, &body), 200);
        v = it_prom_value(body, series);
        free(body);
        usleep(100000);
    }
    cr_assert_eq(v, v0 + 2, "%s: %g then %g", series, v0, v);
    it_mtlb_stop(&env, 5000);
}

/* ---- configuration mistakes (mtlb -t) ---- */

static struct it_run_result check_yaml(const char *listener)
{
    FILE *f = fopen(env.config, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "listeners:\n%s"
            "backends:\n  - name: app\n    servers: [\"127.0.0.1:1\"]\n",
            listener);
    cr_assert_eq(fclose(f), 0);
    return it_mtlb_run(&env, "-t", "-c", env.config);
}

static void expect_error(const char *listener, const char *needle1, const char *needle2)
{
    struct it_run_result r = check_yaml(listener);
    cr_assert_neq(r.rc, 0, "accepted:\n%s", listener);
    cr_assert_not_null(strstr(r.err, needle1), "want %s in:\n%s", needle1, r.err);
    cr_assert_not_null(strstr(r.err, needle2), "want %s in:\n%s", needle2, r.err);
    it_run_result_fini(&r);
}

Test(plain, config_errors)
{
    char domains[1024];
    snprintf(domains, sizeof(domains),
             "    domains:\n      - names: [localhost]\n        certificate: %s\n"
             "        key: %s\n        client_auth: {mode: mandatory, truststore: %s}\n",
             it_pki("server/api.crt"), it_pki("server/api.key"), it_pki("trust/full.pem"));
    char l[2048];
    const char *head = "  - bind: \"127.0.0.1:8080\"\n    backend: app\n";

    snprintf(l, sizeof(l), "%s    tls: false\n%s", head, domains);
    expect_error(l, "listeners[0].domains", "plain HTTP listener");
    snprintf(l, sizeof(l), "%s    tls: false\n    ktls: on\n", head);
    expect_error(l, "listeners[0].ktls", "plain HTTP listener");
    snprintf(l, sizeof(l), "%s    tls: false\n    alpn: [h2]\n", head);
    expect_error(l, "listeners[0].alpn", "plain HTTP listener");
    snprintf(l, sizeof(l), "%s    tls: false\n    session_lifetime: 10s\n", head);
    expect_error(l, "listeners[0].session_lifetime", "plain HTTP listener");
    snprintf(l, sizeof(l), "%s    tls: false\n    http: sometimes\n", head);
    expect_error(l, "listeners[0].http", "sometimes");
    snprintf(l, sizeof(l), "%s    tls: false\n    https_port: 70000\n", head);
    expect_error(l, "listeners[0].https_port", "70000");
    snprintf(l, sizeof(l), "%s    tls: no\n", head);
    expect_error(l, "listeners[0].tls", "expected a mapping");
    snprintf(l, sizeof(l), "%s    http: allow\n%s", head, domains);
    expect_error(l, "listeners[0].http", "tls: false");
    snprintf(l, sizeof(l), "%s    https_port: 8443\n%s", head, domains);
    expect_error(l, "listeners[0].https_port", "tls: false");
    snprintf(l, sizeof(l), "%s", head);
    expect_error(l, "listeners[0].domains", "missing required key");
    snprintf(l, sizeof(l), "%s    tls: true\n", head);
    expect_error(l, "listeners[0].domains", "missing required key");

    /* Valid: a plain listener alone, and tls: true with domains. */
    snprintf(l, sizeof(l), "%s    tls: false\n    http: allow\n    https_port: 8443\n", head);
    struct it_run_result r = check_yaml(l);
    cr_assert_eq(r.rc, 0, "%s", r.err);
    it_run_result_fini(&r);
    snprintf(l, sizeof(l), "%s    tls: true\n%s", head, domains);
    r = check_yaml(l);
    cr_assert_eq(r.rc, 0, "%s", r.err);
    it_run_result_fini(&r);
}

Test(plain, redirect_of_a_request_with_a_body_closes_after_the_answer)
{
    struct it_response r;
    char buf[64];

    start_plain("");
    struct it_conn *c = send_plain("POST /form?a=1 HTTP/1.1\r\nHost: api.example.com\r\n"
                                   "Content-Length: 5\r\n\r\nhello");
    read_ok(c, &r, false);
    assert_redirect(&r, "https://api.example.com/form?a=1");
    cr_assert(it_header_get(r.head, "Connection", buf, sizeof(buf)), "%s", r.head);
    cr_assert_str_eq(buf, "close");
    it_response_fini(&r);
    cr_assert(it_conn_wait_closed(c, 3000));
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}

Test(plain, reload_changes_the_http_setting_for_new_connections)
{
    char loc[256];

    start_plain("");
    cr_assert_eq(plain_status("GET /r HTTP/1.1\r\nHost: a.example\r\n\r\n", loc, sizeof(loc)), 301);
    /* Open before the reload: keeps the setting it was accepted with. */
    struct it_conn *old = send_plain("GET /r1 HTTP/1.1\r\nHost: a.example\r\n\r\n");
    struct it_response r;
    read_ok(old, &r, false);
    assert_redirect(&r, "https://a.example/r1");
    it_response_fini(&r);
    write_plain_config("    http: allow\n", 0);
    cr_assert_eq(kill(env.mtlb, SIGHUP), 0);
    const char *ok[] = {"event=reloaded", "generation=2", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, ok, 1, 10000), 1, "no reload");
    cr_assert_eq(plain_status("GET /echo HTTP/1.1\r\nHost: a.example\r\n\r\n", loc, sizeof(loc)),
                 200);
    cr_assert_eq(it_conn_sends(old, "GET /r2 HTTP/1.1\r\nHost: a.example\r\n\r\n"), 0);
    read_ok(old, &r, false);
    assert_redirect(&r, "https://a.example/r2");
    it_response_fini(&r);
    it_conn_close(old);
    it_mtlb_stop(&env, 5000);
}
