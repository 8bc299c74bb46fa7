/* Integration: proxying. Round robin per request, skipping dead servers, 502/503/504 for broken,
 * absent and slow backends, large bodies both ways (Content-Length and chunked) relayed byte
 * for byte, pipelined requests answered in order, keep-alive across backend closes. */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct it_env env;
static const struct it_tls_opts good = {.cert = "client/good.crt", .key = "client/good.key"};

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(proxy, .init = setup, .fini = teardown, .timeout = 90);

static void start(const uint16_t *servers, size_t n)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = n};
    memcpy(cfg.servers, servers, n * sizeof(*servers));
    cfg.domains[0].mode = "mandatory";
    it_mtlb_start(&env, &cfg);
}

static void start_two(void)
{
    uint16_t s[2] = {it_echo_start(&env, "b1"), it_echo_start(&env, "b2")};
    start(s, 2);
}

static struct it_conn *connect_good(void)
{
    char err[256];
    struct it_conn *c = it_tls_connect(env.port, &good, err, sizeof(err));
    cr_assert_not_null(c, "handshake failed: %s", err);
    return c;
}

/* Sends GET path on c and reads the response into r; returns X-Backend in be. */
static void get_on(struct it_conn *c, const char *path, struct it_response *r, char *be, size_t cap)
{
    char req[256];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path);
    cr_assert_eq(it_conn_sends(c, req), 0, "send %s: %s", path, c->err);
    cr_assert_eq(it_read_response(c, r, false), 0, "GET %s: no response: %s", path, c->err);
    if (be != NULL) {
        be[0] = '\0';
        it_header_get(r->head, "X-Backend", be, cap);
    }
}

Test(proxy, round_robin_per_request_on_one_connection)
{
    start_two();
    struct it_conn *c = connect_good();
    char be[6][32];
    for (int i = 0; i < 6; i++) {
        struct it_response r;
        get_on(c, "/rr", &r, be[i], sizeof(be[i]));
        cr_assert_eq(r.status, 200, "request %d: status %d", i, r.status);
        it_response_fini(&r);
    }
    it_conn_close(c);
    for (int i = 0; i < 6; i++) {
        cr_assert(strcmp(be[i], "b1") == 0 || strcmp(be[i], "b2") == 0, "X-Backend '%s'", be[i]);
        if (i > 0) {
            cr_assert_str_neq(be[i], be[i - 1],
                              "requests %d and %d both went to %s: %s,%s,%s,%s,%s,%s", i - 1, i,
                              be[i], be[0], be[1], be[2], be[3], be[4], be[5]);
        }
    }
    it_mtlb_stop(&env, 5000);
}

Test(proxy, dead_server_is_skipped)
{
    uint16_t s[2] = {it_echo_start(&env, "b1"), it_free_port()};
    start(s, 2);
    struct it_conn *c = connect_good();
    for (int i = 0; i < 10; i++) {
        struct it_response r;
        char be[32];
        /* Alternate keep-alive and fresh connections: both must skip the dead server. */
        if (i % 2 == 1) {
            it_get(env.port, &good, "/fresh", &r);
            it_header_get(r.head, "X-Backend", be, sizeof(be));
        } else {
            get_on(c, "/kept", &r, be, sizeof(be));
        }
        cr_assert_eq(r.status, 200, "request %d with one server down: status %d", i, r.status);
        cr_assert_str_eq(be, "b1");
        it_response_fini(&r);
    }
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}

Test(proxy, all_servers_down_is_503_quickly)
{
    uint16_t s[2] = {it_free_port(), it_free_port()};
    start(s, 2);
    for (int i = 0; i < 3; i++) {
        struct it_response r;
        double t0 = it_now();
        it_get(env.port, &good, "/", &r);
        double dt = it_now() - t0;
        cr_assert_eq(r.status, 503, "attempt %d: all servers down: status %d", i, r.status);
        cr_assert_lt(dt, 1.0, "attempt %d: 503 took %.2f s", i, dt);
        it_response_fini(&r);
    }
    it_mtlb_stop(&env, 5000);
}

Test(proxy, slow_backend_is_504)
{
    uint16_t s[1] = {it_echo_start(&env, "b1")};
    start(s, 1);
    struct it_response r;
    double t0 = it_now();
    it_get(env.port, &good, "/sleep/3000", &r);
    double dt = it_now() - t0;
    cr_assert_eq(r.status, 504, "backend_response 1s, backend sleeps 3s: status %d", r.status);
    cr_assert(dt > 0.8 && dt < 2.5, "504 after %.2f s, expected about 1 s", dt);
    it_response_fini(&r);
    it_get(env.port, &good, "/after", &r);
    cr_assert_eq(r.status, 200, "request after a timeout: status %d", r.status);
    it_response_fini(&r);
    it_mtlb_stop(&env, 5000);
}

Test(proxy, broken_backend_responses_are_502)
{
    uint16_t s[1] = {it_echo_start(&env, "b1")};
    start(s, 1);
    static const char *const paths[] = {"/garbage", "/drop"};
    for (size_t i = 0; i < 2; i++) {
        struct it_response r;
        it_get(env.port, &good, paths[i], &r);
        cr_assert_eq(r.status, 502, "GET %s: status %d", paths[i], r.status);
        it_response_fini(&r);
    }
    struct it_response r;
    it_get(env.port, &good, "/status/404", &r);
    cr_assert_eq(r.status, 404, "backend status must pass through, got %d", r.status);
    it_response_fini(&r);
    it_mtlb_stop(&env, 5000);
}

Test(proxy, keep_alive_survives_backend_close)
{
    uint16_t s[1] = {it_echo_start(&env, "b1")};
    start(s, 1);
    struct it_conn *c = connect_good();
    for (int i = 0; i < 3; i++) {
        struct it_response r;
        get_on(c, "/close", &r, NULL, 0);
        cr_assert_eq(r.status, 200, "/close #%d: %d", i, r.status);
        it_response_fini(&r);
        get_on(c, "/next", &r, NULL, 0);
        cr_assert_eq(r.status, 200, "request after backend closed #%d: %d", i, r.status);
        it_response_fini(&r);
    }
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}

static unsigned char pattern_byte(uint64_t i)
{
    return (unsigned char)((i * 31) ^ (i >> 13));
}

/* Sends n body bytes in slices of varying size; with chunked framing when chunked. */
static uint64_t send_body(struct it_conn *c, uint64_t n, bool chunked)
{
    enum { SLICE = 1 << 20 };
    unsigned char *buf = malloc(SLICE);
    uint64_t h = IT_FNV_INIT, sent = 0;
    size_t step = 1000;
    while (sent < n) {
        size_t len = (size_t)(n - sent < step ? n - sent : step);
        for (size_t i = 0; i < len; i++) {
            buf[i] = pattern_byte(sent + i);
        }
        h = it_fnv1a64(h, buf, len);
        if (chunked) {
            char size[32];
            snprintf(size, sizeof(size), "%zx\r\n", len);
            cr_assert_eq(it_conn_sends(c, size), 0, "send: %s", c->err);
        }
        cr_assert_eq(it_conn_send(c, buf, len), 0, "send at %llu: %s", (unsigned long long)sent,
                     c->err);
        if (chunked) {
            cr_assert_eq(it_conn_sends(c, "\r\n"), 0);
        }
        sent += len;
        step = step * 3 < SLICE ? step * 3 + 7 : SLICE - 13;
    }
    if (chunked) {
        cr_assert_eq(it_conn_sends(c, "0\r\n\r\n"), 0);
    }
    free(buf);
    return h;
}

static void upload(uint64_t n, bool chunked)
{
    uint16_t s[1] = {it_echo_start(&env, "b1")};
    start(s, 1);
    struct it_conn *c = connect_good();
    it_conn_timeout(c, 30000);
    char head[256];
    if (chunked) {
        snprintf(head, sizeof(head),
                 "POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n");
    } else {
        snprintf(head, sizeof(head),
                 "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: %llu\r\n\r\n",
                 (unsigned long long)n);
    }
    cr_assert_eq(it_conn_sends(c, head), 0);
    uint64_t h = send_body(c, n, chunked);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, false), 0, "no response to upload: %s", c->err);
    cr_assert_eq(r.status, 200, "upload status %d", r.status);
    unsigned long long bytes = 0, fnv = 0;
    cr_assert(it_echo_body_stats(r.body, &bytes, &fnv), "no stats in:\n%s", r.body);
    cr_assert_eq(bytes, n, "backend got %llu body bytes of %llu", bytes, (unsigned long long)n);
    cr_assert_eq(fnv, h, "body corrupted: fnv %016llx, sent %016llx", fnv, (unsigned long long)h);
    it_response_fini(&r);
    /* The connection is still usable afterwards. */
    get_on(c, "/after-upload", &r, NULL, 0);
    cr_assert_eq(r.status, 200);
    it_response_fini(&r);
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}

Test(proxy, upload_64mib_content_length)
{
    upload(64ULL << 20, false);
}

Test(proxy, upload_16mib_chunked)
{
    upload(16ULL << 20, true);
}

static void assert_size_pattern(const struct it_response *r, size_t n, const char *what)
{
    cr_assert_eq(r->status, 200, "%s: status %d", what, r->status);
    cr_assert_eq(r->body_len, n, "%s: got %zu bytes", what, r->body_len);
    for (size_t i = 0; i < n; i++) {
        if (r->body[i] != (char)('a' + i % 26)) {
            cr_assert_fail("%s: byte %zu is 0x%02x, expected '%c'", what, i,
                           (unsigned char)r->body[i], 'a' + (int)(i % 26));
        }
    }
}

Test(proxy, download_64mib_and_chunked)
{
    uint16_t s[1] = {it_echo_start(&env, "b1")};
    start(s, 1);
    struct it_conn *c = connect_good();
    it_conn_timeout(c, 30000);
    struct it_response r;
    get_on(c, "/size/67108864", &r, NULL, 0);
    assert_size_pattern(&r, 67108864, "/size/67108864");
    it_response_fini(&r);
    get_on(c, "/chunked/1000000", &r, NULL, 0);
    assert_size_pattern(&r, 1000000, "/chunked/1000000");
    it_response_fini(&r);
    get_on(c, "/size/0", &r, NULL, 0);
    assert_size_pattern(&r, 0, "/size/0");
    it_response_fini(&r);
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}

Test(proxy, pipelined_requests_answered_in_order)
{
    start_two();
    struct it_conn *c = connect_good();
    cr_assert_eq(it_conn_sends(c, "GET /p1 HTTP/1.1\r\nHost: localhost\r\n\r\n"
                                  "POST /p2 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n"
                                  "\r\nabc"
                                  "GET /size/5 HTTP/1.1\r\nHost: localhost\r\n\r\n"),
                 0);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, false), 0, "response 1: %s", c->err);
    cr_assert_eq(r.status, 200);
    cr_assert(strncmp(r.body, "GET /p1 HTTP/1.1\r\n", 18) == 0, "response 1 is for:\n%s", r.body);
    it_response_fini(&r);
    cr_assert_eq(it_read_response(c, &r, false), 0, "response 2: %s", c->err);
    cr_assert_eq(r.status, 200);
    cr_assert(strncmp(r.body, "POST /p2 HTTP/1.1\r\n", 19) == 0, "response 2 is for:\n%s", r.body);
    unsigned long long bytes = 0, fnv = 0;
    cr_assert(it_echo_body_stats(r.body, &bytes, &fnv));
    cr_assert_eq(bytes, 3);
    cr_assert_eq(fnv, it_fnv1a64(IT_FNV_INIT, "abc", 3));
    it_response_fini(&r);
    cr_assert_eq(it_read_response(c, &r, false), 0, "response 3: %s", c->err);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "abcde", "response 3 body");
    it_response_fini(&r);
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}

Test(proxy, client_connection_close_is_honoured)
{
    uint16_t s[1] = {it_echo_start(&env, "b1")};
    start(s, 1);
    struct it_conn *c = connect_good();
    cr_assert_eq(it_conn_sends(c, "GET /bye HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), 0);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, false), 0, "no response: %s", c->err);
    cr_assert_eq(r.status, 200);
    cr_assert_null(strcasestr(r.body, "Connection: close"),
                   "Connection is hop-by-hop, the backend got:\n%s", r.body);
    it_response_fini(&r);
    cr_assert(it_conn_wait_closed(c, 2000), "connection open after Connection: close");
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}

Test(proxy, idle_keep_alive_closed_after_client_idle)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = 1};
    cfg.servers[0] = it_echo_start(&env, "b1");
    cfg.timeouts = "{handshake: 2s, client_header: 2s, client_body: 2s, client_idle: 1s, "
                   "backend_connect: 1s, backend_response: 1s, backend_idle: 5s, drain: 2s}";
    it_mtlb_start(&env, &cfg);
    struct it_conn *c = connect_good();
    struct it_response r;
    get_on(c, "/first", &r, NULL, 0);
    cr_assert_eq(r.status, 200);
    it_response_fini(&r);
    double t0 = it_now();
    cr_assert(it_conn_wait_closed(c, 4000), "idle keep-alive connection never closed");
    double dt = it_now() - t0;
    cr_assert(dt > 0.7 && dt < 2.5, "idle connection closed after %.2f s, client_idle is 1 s", dt);
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}

Test(proxy, concurrent_connections_all_served)
{
    enum { N = 24 };
    start_two();
    struct it_conn *c[N];
    for (int i = 0; i < N; i++) {
        c[i] = connect_good();
    }
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            char req[128];
            snprintf(req, sizeof(req), "GET /c%d/r%d HTTP/1.1\r\nHost: a\r\n\r\n", i, round);
            cr_assert_eq(it_conn_sends(c[i], req), 0, "conn %d: %s", i, c[i]->err);
        }
        for (int i = N - 1; i >= 0; i--) {
            struct it_response r;
            char want[64];
            cr_assert_eq(it_read_response(c[i], &r, false), 0, "conn %d round %d: %s", i, round,
                         c[i]->err);
            cr_assert_eq(r.status, 200);
            snprintf(want, sizeof(want), "GET /c%d/r%d HTTP/1.1\r\n", i, round);
            cr_assert(strncmp(r.body, want, strlen(want)) == 0, "conn %d got the answer for:\n%s",
                      i, r.body);
            it_response_fini(&r);
        }
    }
    for (int i = 0; i < N; i++) {
        it_conn_close(c[i]);
    }
    it_mtlb_stop(&env, 5000);
}

Test(proxy, http10_request_answered_and_closed)
{
    uint16_t s[1] = {it_echo_start(&env, "b1")};
    start(s, 1);
    struct it_conn *c = connect_good();
    cr_assert_eq(it_conn_sends(c, "GET /old HTTP/1.0\r\nHost: a\r\n\r\n"), 0);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, false), 0, "HTTP/1.0: no response: %s", c->err);
    cr_assert_eq(r.status, 200, "HTTP/1.0: status %d", r.status);
    cr_assert(strncmp(r.body, "GET /old HTTP/1.", 16) == 0, "backend got:\n%s", r.body);
    it_response_fini(&r);
    cr_assert(it_conn_wait_closed(c, 2000), "HTTP/1.0 without keep-alive must be closed");
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}

Test(proxy, dead_server_skipped_for_requests_with_bodies)
{
    uint16_t s[2] = {it_free_port(), it_echo_start(&env, "b1")};
    start(s, 2);
    struct it_conn *c = connect_good();
    for (int i = 0; i < 6; i++) {
        uint64_t n = 200000 + (uint64_t)i;
        char head[160];
        snprintf(head, sizeof(head),
                 "POST /body HTTP/1.1\r\nHost: a\r\nContent-Length: %llu\r\n\r\n",
                 (unsigned long long)n);
        cr_assert_eq(it_conn_sends(c, head), 0);
        uint64_t h = send_body(c, n, false);
        struct it_response r;
        cr_assert_eq(it_read_response(c, &r, false), 0, "POST %d: %s", i, c->err);
        cr_assert_eq(r.status, 200, "POST %d with one server down: status %d", i, r.status);
        unsigned long long bytes = 0, fnv = 0;
        cr_assert(it_echo_body_stats(r.body, &bytes, &fnv));
        cr_assert_eq(bytes, n, "POST %d: backend got %llu of %llu bytes", i, bytes,
                     (unsigned long long)n);
        cr_assert_eq(fnv, h, "POST %d: body corrupted on the retry", i);
        it_response_fini(&r);
    }
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}

Test(proxy, deep_pipelining_keeps_order)
{
    enum { N = 50 };
    start_two();
    struct it_conn *c = connect_good();
    char *all = malloc(N * 64);
    size_t off = 0;
    for (int i = 0; i < N; i++) {
        off += (size_t)sprintf(all + off, "GET /pipe/%d HTTP/1.1\r\nHost: a\r\n\r\n", i);
    }
    cr_assert_eq(it_conn_send(c, all, off), 0);
    free(all);
    for (int i = 0; i < N; i++) {
        struct it_response r;
        char want[64];
        cr_assert_eq(it_read_response(c, &r, false), 0, "response %d of %d: %s", i, N, c->err);
        cr_assert_eq(r.status, 200, "response %d: status %d", i, r.status);
        snprintf(want, sizeof(want), "GET /pipe/%d HTTP/1.1\r\n", i);
        cr_assert(strncmp(r.body, want, strlen(want)) == 0, "response %d is for:\n%.40s", i,
                  r.body);
        it_response_fini(&r);
    }
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}

/* Clients that disappear mid-exchange: waiting for the backend, mid-download, mid-upload. */
Test(proxy, clients_vanishing_mid_exchange)
{
    uint16_t s[1] = {it_echo_start(&env, "b1")};
    start(s, 1);
    struct it_conn *c = connect_good();
    cr_assert_eq(it_conn_sends(c, "GET /sleep/300 HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    it_conn_close(c);

    c = connect_good();
    cr_assert_eq(it_conn_sends(c, "GET /size/67108864 HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    char buf[65536];
    size_t got = 0;
    while (got < (1u << 20)) {
        ssize_t n = it_conn_recv_some(c, buf, sizeof(buf));
        cr_assert_gt(n, 0, "download stopped after %zu bytes: %s", got, c->err);
        got += (size_t)n;
    }
    it_conn_close(c);

    c = connect_good();
    cr_assert_eq(
        it_conn_sends(c, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000\r\n\r\n"), 0);
    send_body(c, 3000000, false);
    it_conn_close(c);

    usleep(500 * 1000); /* let the backend side of all three finish or time out */
    it_mtlb_assert_alive(&env);
    struct it_response r;
    it_get(env.port, &good, "/after", &r);
    cr_assert_eq(r.status, 200, "after vanished clients: status %d", r.status);
    it_response_fini(&r);
    it_mtlb_stop(&env, 5000);
}

/* A client that pauses while reading a large response holds the backend connection back on
 * mtlb's buffers: that is back-pressure, not a backend timeout. The pause (1.5 s) is longer
 * than backend_response (1 s) and shorter than client_body (2 s); the body is larger than
 * every socket buffer on the way, so the backend really is kept waiting. */
Test(proxy, pausing_reader_is_not_a_backend_timeout)
{
    start_two();
    struct it_conn *c = connect_good();
    const size_t total = 48u << 20;
    char req[128];
    snprintf(req, sizeof(req), "GET /size/%zu HTTP/1.1\r\nHost: localhost\r\n\r\n", total);
    cr_assert_eq(it_conn_sends(c, req), 0);
    it_conn_timeout(c, 5000);
    static char buf[256 * 1024];
    size_t got = 0;
    ssize_t n = 1;
    while (got < (1u << 20) && n > 0) {
        n = it_conn_recv_some(c, buf, sizeof(buf));
        got += n > 0 ? (size_t)n : 0;
    }
    usleep(1500 * 1000);
    while (got < total && n > 0) {
        n = it_conn_recv_some(c, buf, sizeof(buf));
        got += n > 0 ? (size_t)n : 0;
    }
    cr_assert_geq(got, total, "download cut after %zu of %zu bytes", got, total);
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}
