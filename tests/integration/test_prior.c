/* Integration: HTTP/2 toward a plain `http: allow` listener as an attacker tries it. With prior
 * knowledge, forged identity headers in every spelling are stripped and X-Forwarded-Proto says
 * http; an HTTP/1.1 Upgrade: h2c (h2c smuggling: a backend that honoured it would tunnel past
 * every check) never reaches the backend; a preface split over segments still reaches
 * HTTP/2, and one pipelined after an HTTP/1.1 request is refused, never switched to. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct it_env env;
static uint16_t plain_port;

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(prior, .init = setup, .fini = teardown, .timeout = 60);

/* mtlb with a plain allow listener first (its extra YAML lines `keys`) before the suite's TLS
 * listener; the pool is the one backend on port `backend`. */
static void start(uint16_t backend, const char *keys)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = 1};
    cfg.domains[0].mode = "optional";
    cfg.servers[0] = backend;
    plain_port = it_free_port();
    char lines[1024];
    cr_assert_lt(snprintf(lines, sizeof(lines), "    http: allow\n%s", keys), (int)sizeof(lines));
    it_write_config_plain_first(&env, &cfg, plain_port, lines);
    it_mtlb_launch(&env);
    it_mtlb_wait_ports(&env, (uint16_t[]){env.port, plain_port}, 2);
}

/* Header lines of the echoed head whose name reads as `name` once every byte that is not a
 * letter or digit is taken for "-", in any case (a CGI-style backend's reading). */
static size_t lenient_count(const char *echoed, const char *name)
{
    size_t n = 0, len = strlen(name);
    const char *end = strstr(echoed, "\r\n\r\n");
    for (const char *l = strstr(echoed, "\r\n"); l != NULL && l < end; l = strstr(l, "\r\n")) {
        l += 2;
        size_t i = 0;
        while (i < len && l[i] != '\0' && l[i] != ':') {
            char ch = l[i] >= 'A' && l[i] <= 'Z' ? (char)(l[i] | 0x20) : l[i];
            bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
            if ((alnum ? ch : '-') != name[i]) {
                break;
            }
            i++;
        }
        n += i == len && l[i] == ':';
    }
    return n;
}

static void assert_plain_identity(const char *echoed)
{
    static const char *const absent[] = {
        "x-ssl-client-dn", "x-ssl-issuer", "x-ssl-client-serial", "x-ssl-client-cert",
        "forwarded",       "upgrade",      "http2-settings",      "x-forwarded-host"};
    static const char *const once[] = {"x-ssl-client-verify", "x-forwarded-for", "x-real-ip",
                                       "x-forwarded-proto"};
    for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
        cr_assert_eq(lenient_count(echoed, absent[i]), 0, "%s reached the backend:\n%s", absent[i],
                     echoed);
    }
    for (size_t i = 0; i < sizeof(once) / sizeof(once[0]); i++) {
        cr_assert_eq(lenient_count(echoed, once[i]), 1, "want one %s:\n%s", once[i], echoed);
    }
    cr_assert_not_null(strstr(echoed, "\r\nX-SSL-Client-Verify: NONE\r\n"), "%s", echoed);
    cr_assert_not_null(strstr(echoed, "\r\nX-Forwarded-Proto: http\r\n"), "%s", echoed);
    cr_assert_not_null(strstr(echoed, "\r\nX-Forwarded-For: 127.0.0.1\r\n"), "%s", echoed);
    cr_assert_null(strstr(echoed, "forged"), "%s", echoed);
    cr_assert_null(strstr(echoed, "10.6.6.6"), "%s", echoed);
    cr_assert_null(strstr(echoed, "https"), "%s", echoed);
}

Test(prior, h2c_prior_knowledge_forgeries_are_stripped_and_proto_is_http)
{
    char url[128], *out = NULL, *err = NULL;
    start(it_echo_start(&env, "b1"), "");
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/echo", plain_port);
    char *argv[] = {"/usr/bin/curl",
                    "-sS",
                    "--http2-prior-knowledge",
                    "--max-time",
                    "10",
                    "-H",
                    "X-SSL-Client-Verify: SUCCESS",
                    "-H",
                    "x_ssl_client_dn: /CN=forged",
                    "-H",
                    "X.SSL.Client.Cert: forged",
                    "-H",
                    "x-ssl-issuer: /CN=forged",
                    "-H",
                    "X~SSL~Client~Serial: forged",
                    "-H",
                    "X-Forwarded-Proto: https",
                    "-H",
                    "x_forwarded_proto: https",
                    "-H",
                    "X.Forwarded.For: 10.6.6.6",
                    "-H",
                    "X-Real-IP: 10.6.6.6",
                    "-H",
                    "x*real*ip: 10.6.6.6",
                    "-H",
                    "Forwarded: for=10.6.6.6;proto=https",
                    "-H",
                    "X-Forwarded-Host: forged",
                    "-w",
                    "\nHTTPVER=%{http_version} STATUS=%{http_code}\n",
                    url,
                    NULL};
    cr_assert_eq(it_run(&env, argv, &out, &err, 15000), 0, "%s%s", out, err);
    cr_assert_not_null(strstr(out, "HTTPVER=2 STATUS=200"), "%s", out);
    assert_plain_identity(out);
    free(out);
    free(err);
    it_mtlb_stop(&env, 5000);
}

/* h2c smuggling: an Upgrade the backend honoured would turn the connection into a tunnel past
 * every check. mtlb drops Upgrade, HTTP2-Settings and Connection, answers over HTTP/1.1. */
Test(prior, upgrade_to_h2c_never_reaches_the_backend)
{
    start(it_echo_start(&env, "b1"), "");
    struct it_conn *c = it_tcp_connect(plain_port);
    it_conn_timeout(c, 5000);
    cr_assert_eq(it_conn_sends(c, "GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n"
                                  "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
                                  "Connection: Upgrade, HTTP2-Settings\r\n"
                                  "X-Forwarded-Proto: https\r\n\r\n"),
                 0);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
    cr_assert_eq(r.status, 200, "%s", r.head);
    assert_plain_identity(r.body);
    it_response_fini(&r);
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}

/* The preface in pieces still reaches HTTP/2 (the server's SETTINGS comes back, not an
 * HTTP/1.1 400); after an HTTP/1.1 request on the same connection it is no switch, only a
 * refused request line, and the connection ends. */
Test(prior, h2c_preface_split_or_after_http1_is_handled_cleanly)
{
    static const char *const pieces[] = {"PR", "I * HTTP/2", ".0\r\n\r\nSM\r\n", "\r\n",
                                         "\x00\x00\x00\x04\x00\x00\x00\x00\x00"};
    static const size_t lens[] = {2, 10, 10, 2, 9};
    unsigned char b[64];
    start(it_echo_start(&env, "b1"), "");
    struct it_conn *c = it_tcp_connect(plain_port);
    it_conn_timeout(c, 5000);
    for (size_t i = 0; i < 5; i++) {
        cr_assert_eq(it_conn_send(c, pieces[i], lens[i]), 0, "piece %zu: %s", i, c->err);
        usleep(30000);
    }
    size_t got = 0;
    while (got < 9) {
        ssize_t n = it_conn_recv_some(c, b + got, 9 - got);
        cr_assert_gt(n, 0, "no frame after a split preface: %s", c->err);
        got += (size_t)n;
    }
    cr_assert_eq(b[3], 0x4, "first frame type %u, want SETTINGS (%.9s)", b[3], (char *)b);
    it_conn_close(c);

    c = it_tcp_connect(plain_port);
    it_conn_timeout(c, 5000);
    cr_assert_eq(it_conn_sends(c, "GET /echo HTTP/1.1\r\nHost: a\r\n\r\n"
                                  "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                                  "\x00\x00\x00\x04\x00\x00\x00\x00\x00"),
                 0);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
    cr_assert_eq(r.status, 200, "%s", r.head);
    it_response_fini(&r);
    if (it_read_response(c, &r, false) == 0) {
        cr_assert_geq(r.status, 400, "the preface after HTTP/1.1 got %d", r.status);
        it_response_fini(&r);
    }
    cr_assert(it_conn_wait_closed(c, 3000), "open after a refused preface");
    it_conn_close(c);
    it_mtlb_assert_alive(&env);
    it_mtlb_stop(&env, 5000);
}
