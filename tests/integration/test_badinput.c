/* Integration: hostile and broken clients. Smuggling-prone framing and malformed heads get
 * 400/431 (and a close where the stream can no longer be trusted), non-TLS bytes are dropped,
 * stalled handshakes and half-sent heads time out without starving anyone, and mtlb survives. */
#include "harness.h"

#include <criterion/criterion.h>
#include <sys/resource.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct it_env env;
static const struct it_tls_opts good = {.cert = "client/good.crt", .key = "client/good.key"};

static void setup(void)
{
    it_env_init(&env);
    struct it_config cfg = {.n_domains = 1, .n_servers = 1};
    cfg.servers[0] = it_echo_start(&env, "b1");
    cfg.domains[0].mode = "mandatory";
    it_mtlb_start(&env, &cfg);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(badinput, .init = setup, .fini = teardown, .timeout = 60);

static struct it_conn *connect_good(void)
{
    char err[256];
    struct it_conn *c = it_tls_connect(env.port, &good, err, sizeof(err));
    cr_assert_not_null(c, "handshake failed: %s", err);
    return c;
}

/* mtlb still answers a good request promptly. */
static void assert_serving(void)
{
    it_mtlb_assert_alive(&env);
    struct it_response r;
    double t0 = it_now();
    it_get(env.port, &good, "/still-alive", &r);
    cr_assert_eq(r.status, 200, "after bad input: status %d", r.status);
    cr_assert_lt(it_now() - t0, 2.0, "after bad input: a good request took %.2f s", it_now() - t0);
    it_response_fini(&r);
}

/* Sends raw bytes over TLS and expects status; when must_close, also that mtlb closes. */
static void expect_status(const char *what, const char *req, int status, bool must_close)
{
    struct it_conn *c = connect_good();
    cr_assert_eq(it_conn_sends(c, req), 0, "%s: send: %s", what, c->err);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s: expected %d, got no response: %s", what,
                 status, c->err);
    cr_assert_eq(r.status, status, "%s: expected %d, got %d\n%s", what, status, r.status, r.head);
    if (must_close) {
        cr_assert(it_conn_wait_closed(c, 3000), "%s: connection must be closed after %d", what,
                  status);
    }
    it_response_fini(&r);
    it_conn_close(c);
    assert_serving();
    it_mtlb_stop(&env, 5000);
}

Test(badinput, malformed_request_line_is_400)
{
    expect_status("malformed request line", "GET  /x HTTP/1.1 extra\r\nHost: a\r\n\r\n", 400,
                  false);
}

Test(badinput, garbage_request_line_is_400)
{
    expect_status("request line without version", "HELLO\r\nHost: a\r\n\r\n", 400, false);
}

Test(badinput, space_before_colon_is_400)
{
    expect_status("space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, false);
}

Test(badinput, obs_fold_is_400)
{
    expect_status("obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n", 400, false);
}

Test(badinput, content_length_with_transfer_encoding_is_400_and_closed)
{
    expect_status("CL + TE",
                  "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                  400, true);
}

Test(badinput, two_content_lengths_are_400_and_closed)
{
    expect_status("two Content-Length",
                  "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"
                  "hello!",
                  400, true);
}

Test(badinput, header_block_over_limit_is_431)
{
    size_t n = 20000;
    char *req = malloc(n + 128);
    int off = snprintf(req, 128, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
    memset(req + off, 'x', n);
    strcpy(req + off + n, "\r\n\r\n");
    expect_status("20 KB header block, max_header_bytes 16384", req, 431, false);
    free(req);
}

Test(badinput, too_many_headers_is_431)
{
    char *req = malloc(200 * 16 + 64);
    size_t off = (size_t)sprintf(req, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 150; i++) {
        off += (size_t)sprintf(req + off, "X-H%d: v\r\n", i);
    }
    strcpy(req + off, "\r\n");
    expect_status("150 headers, max_headers 100", req, 431, false);
    free(req);
}

Test(badinput, bad_chunk_size_is_rejected_and_closed)
{
    struct it_conn *c = connect_good();
    cr_assert_eq(it_conn_sends(c, "POST /upload HTTP/1.1\r\nHost: a\r\n"
                                  "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
                 0);
    struct it_response r;
    /* The head may already be on its way to the backend, so a close alone is acceptable. */
    if (it_read_response(c, &r, false) == 0) {
        cr_assert_eq(r.status, 400, "bad chunk size: got %d\n%s%s", r.status, r.head, r.body);
        it_response_fini(&r);
        cr_assert(it_conn_wait_closed(c, 3000), "bad chunk size: connection left open");
    } else {
        cr_assert(c->eof, "bad chunk size: neither 400 nor close: %s", c->err);
    }
    it_conn_close(c);
    assert_serving();
    it_mtlb_stop(&env, 5000);
}

/* Non-TLS bytes on the TLS port: dropped, and never an HTTP success. */
static void expect_dropped(const char *what, const void *data, size_t n)
{
    struct it_conn *c = it_tcp_connect(env.port);
    it_conn_send(c, data, n); /* may fail if mtlb already closed */
    cr_assert(it_conn_wait_closed(c, 3000), "%s: connection not dropped within 3 s", what);
    it_conn_close(c);
    assert_serving();
}

Test(badinput, plain_http_on_tls_port_is_dropped)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    struct it_conn *c = it_tcp_connect(env.port);
    cr_assert_eq(it_conn_sends(c, req), 0);
    struct it_response r;
    if (it_read_response(c, &r, false) == 0) {
        cr_assert(r.status >= 400, "plain HTTP on the TLS port got status %d", r.status);
        it_response_fini(&r);
    }
    cr_assert(it_conn_wait_closed(c, 3000) || c->eof, "plain HTTP: connection not dropped");
    it_conn_close(c);
    expect_dropped("plain HTTP", req, sizeof(req) - 1);
    it_mtlb_stop(&env, 5000);
}

Test(badinput, random_garbage_is_dropped)
{
    unsigned char junk[4096];
    srand(42);
    for (size_t i = 0; i < sizeof(junk); i++) {
        junk[i] = (unsigned char)rand();
    }
    expect_dropped("random bytes", junk, sizeof(junk));
    /* A TLS record header announcing a huge ClientHello, then nothing. */
    static const unsigned char hello[] = {0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0x00, 0xff, 0xfb};
    expect_dropped("truncated ClientHello", hello, sizeof(hello));
    it_mtlb_stop(&env, 5000);
}

Test(badinput, stalled_handshakes_do_not_starve_clients, .timeout = 60)
{
    /* The product promise: a thousand stalled handshakes must not delay a good client. */
    enum { N = 1000 };
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    cr_assert_geq(rl.rlim_cur, (rlim_t)N + 64, "this test needs %d descriptors", N + 64);
    struct it_conn *idle[N];
    for (int i = 0; i < N; i++) {
        idle[i] = it_tcp_connect(env.port);
    }
    double t0 = it_now();
    struct it_response r;
    it_get(env.port, &good, "/", &r);
    double dt = it_now() - t0;
    cr_assert_eq(r.status, 200);
    cr_assert_lt(dt, 2.0, "a good client waited %.2f s behind %d stalled handshakes", dt, N);
    it_response_fini(&r);
    /* handshake timeout is 2 s: every stalled connection is closed soon after. */
    for (int i = 0; i < N; i++) {
        double left = t0 + 6.0 - it_now();
        cr_assert(it_conn_wait_closed(idle[i], left > 0 ? (int)(left * 1000) : 1),
                  "stalled handshake %d still open 6 s later (handshake timeout 2 s)", i);
        it_conn_close(idle[i]);
    }
    assert_serving();
    it_mtlb_stop(&env, 5000);
}

Test(badinput, half_sent_head_times_out)
{
    struct it_conn *slow = connect_good();
    cr_assert_eq(it_conn_sends(slow, "GET / HTTP/1.1\r\nHost: a\r\nX-Partial: "), 0);
    double t0 = it_now();
    /* Others are served while it stalls. */
    assert_serving();
    struct it_response r;
    if (it_read_response(slow, &r, false) == 0) {
        cr_assert_eq(r.status, 408, "stalled head answered with %d", r.status);
        it_response_fini(&r);
    }
    cr_assert(it_conn_wait_closed(slow, 6000) || slow->eof, "stalled head never closed");
    double dt = it_now() - t0;
    cr_assert(dt > 1.5 && dt < 4.5, "stalled head closed after %.2f s, client_header is 2 s", dt);
    it_conn_close(slow);
    assert_serving();
    it_mtlb_stop(&env, 5000);
}

/* Trickles bytes through fn(i) every 250 ms until mtlb closes, at most 12 s; returns the
 * seconds it took. A deadline that each byte pushed back would keep the connection open. */
static double trickle_until_closed(struct it_conn *c, const char *(*fn)(int, size_t *))
{
    double t0 = it_now();
    for (int i = 0; it_now() - t0 < 12.0; i++) {
        size_t n;
        const char *p = fn(i, &n);
        if (it_conn_send(c, p, n) != 0 || it_conn_wait_closed(c, 250)) {
            break;
        }
    }
    return it_now() - t0;
}

static const char *hello_byte(int i, size_t *n)
{
    /* a TLS handshake record header announcing 512 bytes, then one byte at a time */
    static const char hdr[] = {0x16, 0x03, 0x01, 0x02, 0x00};
    *n = 1;
    return i < 5 ? hdr + i : "\x01";
}

static const char *header_line(int i, size_t *n)
{
    static char line[64];
    int len = i == 0 ? snprintf(line, sizeof(line), "GET / HTTP/1.1\r\nHost: a\r\n")
                     : snprintf(line, sizeof(line), "X-Slow-%d: 1\r\n", i);
    *n = (size_t)len;
    return line;
}

/* Flood suite (bench/flood) behaviour: a ClientHello sent one byte at a time is cut off at
 * the handshake deadline (2 s here), counted from accept, not from the last byte. */
Test(badinput, slow_client_hello_is_cut_at_the_handshake_deadline)
{
    struct it_conn *c = it_tcp_connect(env.port);
    double dt = trickle_until_closed(c, hello_byte);
    cr_assert_lt(dt, 8.0, "a byte-by-byte ClientHello was still open after %.1f s", dt);
    it_conn_close(c);
    assert_serving();
    it_mtlb_stop(&env, 5000);
}

/* Slowloris: a request head sent one header line at a time gets 408 and is closed at the
 * client_header deadline (2 s here), counted from its first byte. */
Test(badinput, header_by_header_head_is_cut_at_the_client_header_deadline)
{
    struct it_conn *c = connect_good();
    double dt = trickle_until_closed(c, header_line);
    cr_assert_lt(dt, 8.0, "a header-by-header head was still open after %.1f s", dt);
    it_conn_close(c);
    assert_serving();
    it_mtlb_stop(&env, 5000);
}

Test(badinput, stalled_body_times_out)
{
    struct it_conn *slow = connect_good();
    cr_assert_eq(it_conn_sends(slow, "POST /upload HTTP/1.1\r\nHost: a\r\n"
                                     "Content-Length: 100\r\n\r\nonly ten.."),
                 0);
    double t0 = it_now();
    struct it_response r;
    if (it_read_response(slow, &r, false) == 0) {
        cr_assert(r.status == 408 || r.status == 400 || r.status == 502 || r.status == 504,
                  "stalled body answered with %d", r.status);
        it_response_fini(&r);
    }
    cr_assert(it_conn_wait_closed(slow, 6000) || slow->eof, "stalled body never closed");
    double dt = it_now() - t0;
    cr_assert(dt > 0.8 && dt < 4.5, "stalled body closed after %.2f s, client_body is 2 s", dt);
    it_conn_close(slow);
    assert_serving();
    it_mtlb_stop(&env, 5000);
}

/* More framing a proxy must not guess at (RFC 9112 sections 6.1-6.3, 7.1): each gets a 400
 * and, since the body length is unknown, a closed connection. */
struct framing_case {
    const char *what;
    const char *req;
    int also; /* another acceptable status (RFC 9112 6.1 allows 501 for unknown codings) */
};

static const struct framing_case framing[] = {
    {"Transfer-Encoding without final chunked",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nxxxx", 501},
    {"Transfer-Encoding chunked twice in a list",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 0},
    {"negative Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\nhello", 0},
    {"Content-Length with junk", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5x\r\n\r\nhello",
     0},
    {"Content-Length list with different values",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\nhello!", 0},
    {"Content-Length too large for 64 bits",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\nhello", 0},
    {"chunk size overflowing 64 bits",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     "10000000000000005\r\nhello\r\n0\r\n\r\n",
     0},
    {"bare LF in the head", "GET / HTTP/1.1\nHost: a\n\n", 0},
    {"control character in a header value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\001b\r\n\r\n", 0},
};

#define N_FRAMING (sizeof(framing) / sizeof(framing[0]))
static size_t framing_index[N_FRAMING];

ParameterizedTestParameters(badinput, framing)
{
    for (size_t i = 0; i < N_FRAMING; i++) {
        framing_index[i] = i;
    }
    return cr_make_param_array(size_t, framing_index, N_FRAMING);
}

ParameterizedTest(size_t *i, badinput, framing)
{
    const struct framing_case *f = &framing[*i];
    struct it_conn *c = connect_good();
    cr_assert_eq(it_conn_sends(c, f->req), 0, "%s: send: %s", f->what, c->err);
    struct it_response r;
    /* Whatever mtlb already forwarded, the client must never see a success. */
    if (it_read_response(c, &r, false) == 0) {
        cr_assert(r.status == 400 || (f->also != 0 && r.status == f->also),
                  "%s: expected 400, got %d\n%s%s", f->what, r.status, r.head, r.body);
        it_response_fini(&r);
        cr_assert(it_conn_wait_closed(c, 3000), "%s: connection left open after 400", f->what);
    } else {
        cr_assert(c->eof, "%s: neither a 400 nor a close: %s", f->what, c->err);
    }
    it_conn_close(c);
    assert_serving();
    it_mtlb_stop(&env, 5000);
}

/* ---- heads cut short: parked outside the connection's buffer block ---- */

/* A head that arrives in pieces is kept aside between them (up to 2 KiB; larger ones keep their
 * buffers) and must come back whole: sent line by line with pauses in which mtlb parks it, then
 * a 3 KiB field that takes it past the parking size, then its end. The backend echoes the
 * head it received. */
Test(badinput, head_in_pieces_is_forwarded_whole)
{
    struct it_conn *c = connect_good();
    static const char *const pieces[] = {"GET /in-pieces HTTP/1.1\r\n", "Host: a\r\n",
                                         "X-Piece-1: one\r\n", "X-Piece-2: two\r\n"};
    for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
        cr_assert_eq(it_conn_sends(c, pieces[i]), 0, "%s", c->err);
        usleep(150 * 1000);
    }
    char big[3100];
    memset(big, 'v', sizeof(big));
    memcpy(big, "X-Big: ", 7);
    memcpy(big + sizeof(big) - 3, "\r\n", 3);
    cr_assert_eq(it_conn_send(c, big, 1500), 0);
    usleep(150 * 1000);
    cr_assert_eq(it_conn_sends(c, big + 1500), 0);
    usleep(150 * 1000);
    cr_assert_eq(it_conn_sends(c, "X-Last: 3\r\n\r\n"), 0);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
    cr_assert_eq(r.status, 200);
    cr_assert_not_null(strstr(r.body, "GET /in-pieces HTTP/1.1\r\n"), "%s", r.body);
    cr_assert_not_null(strstr(r.body, "X-Piece-1: one\r\nX-Piece-2: two\r\nX-Big: vvv"));
    cr_assert_not_null(strstr(r.body, "vvv\r\nX-Last: 3\r\n"));
    it_response_fini(&r);
    /* The connection goes on: the next request, whole. */
    cr_assert_eq(it_conn_sends(c, "GET /next HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
    cr_assert_eq(r.status, 200);
    cr_assert_not_null(strstr(r.body, "GET /next HTTP/1.1\r\n"));
    it_response_fini(&r);
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}

/* A head parked while it stalls is parsed again at the deadline: its 408 access line still
 * names the request. */
Test(badinput, stalled_parked_head_408_names_its_request)
{
    struct it_conn *c = connect_good();
    cr_assert_eq(it_conn_sends(c, "GET /parked-408 HTTP/1.1\r\nHost: a\r\n"), 0);
    usleep(300 * 1000); /* the session tickets go out, then the head is parked */
    cr_assert_eq(it_conn_sends(c, "X-Partial: 1\r\n"), 0);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
    cr_assert_eq(r.status, 408);
    it_response_fini(&r);
    const char *needles[] = {"\"status\":408", "\"path\":\"/parked-408\"", NULL};
    free(it_wait_line(env.out_log, needles));
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}

static long mtlb_rss_kib(void)
{
    return it_mtlb_rss_kib(&env);
}

enum { MEM_CONNS = 300 };

/* Opens n connections; each makes one request (idle) or leaves its head cut short after two
 * lines sent apart (slow: what a slowloris client holds), then waits. */
static void open_conns(struct it_conn **cs, int n, bool slow)
{
    for (int i = 0; i < n; i++) {
        cs[i] = connect_good();
        it_conn_timeout(cs[i], 10000);
        cr_assert_eq(it_conn_sends(cs[i], "GET /mem HTTP/1.1\r\nHost: a\r\n"), 0);
        if (!slow) {
            struct it_response r;
            cr_assert_eq(it_conn_sends(cs[i], "\r\n"), 0);
            cr_assert_eq(it_read_response(cs[i], &r, false), 0, "%s", cs[i]->err);
            it_response_fini(&r);
        }
    }
    usleep(200 * 1000);
    for (int i = 0; slow && i < n; i++) { /* after the session tickets went out */
        cr_assert_eq(it_conn_sends(cs[i], "X-Slow: 1\r\n"), 0);
    }
    usleep(500 * 1000);
}

/* KiB of mtlb's RSS per connection that n new connections of the kind add. */
static double rss_per_conn(bool slow, struct it_conn **cs)
{
    long before = mtlb_rss_kib();
    open_conns(cs, MEM_CONNS, slow);
    return (double)(mtlb_rss_kib() - before) / MEM_CONNS;
}

static void close_conns(struct it_conn **cs, int n)
{
    for (int i = 0; i < n; i++) {
        it_conn_close(cs[i]);
    }
}

static void setup_long_header(void)
{
    it_env_init(&env);
    struct it_config cfg = {.n_domains = 1, .n_servers = 1};
    cfg.servers[0] = it_echo_start(&env, "b1");
    cfg.domains[0].mode = "mandatory";
    cfg.timeouts = "{handshake: 10s, client_header: 60s, client_body: 10s, client_idle: 60s, "
                   "backend_connect: 1s, backend_response: 1s, backend_idle: 5s, drain: 2s}";
    it_mtlb_start(&env, &cfg);
}

/* A connection in the middle of a small request head holds its TLS state and its struct, as
 * an idle keep-alive connection does, not the buffer block of a request in flight: that block
 * kept three or four touched pages (12 KiB) resident per slow connection. The RSS growth of
 * 300 slow connections is compared with that of 300 idle ones in the same mtlb, both after
 * 300 idle ones; measured 36 KiB against 24 per connection before the change, about the same
 * after (bench/mem-parts, leaf-slow). ASan's quarantine makes RSS meaningless. */
Test(badinput_mem, slow_heads_cost_what_idle_connections_cost, .init = setup_long_header,
     .fini = teardown, .timeout = 180)
{
    static struct it_conn *warm[MEM_CONNS], *slow_cs[MEM_CONNS], *idle_cs[MEM_CONNS];
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    cr_assert_geq(rl.rlim_cur, (rlim_t)3 * MEM_CONNS + 64);
    /* All stay open, so neither kind reuses memory the other freed; the first batch takes up
     * the worker's pools and what the allocator held from start-up. */
    open_conns(warm, MEM_CONNS, false);
    double slow = rss_per_conn(true, slow_cs);
    double idle = rss_per_conn(false, idle_cs);
    cr_log_info("RSS per connection: idle %.1f KiB, slow head %.1f KiB", idle, slow);
    /* the heads are alive and whole: one finishes */
    struct it_response r;
    cr_assert_eq(it_conn_sends(slow_cs[0], "\r\n"), 0);
    cr_assert_eq(it_read_response(slow_cs[0], &r, false), 0, "%s", slow_cs[0]->err);
    cr_assert_eq(r.status, 200);
    cr_assert_not_null(strstr(r.body, "Host: a\r\nX-Slow: 1\r\n"));
    it_response_fini(&r);
    close_conns(warm, MEM_CONNS);
    close_conns(slow_cs, MEM_CONNS);
    close_conns(idle_cs, MEM_CONNS);
#ifndef IT_ASAN
    cr_assert_lt(slow - idle, 6.0, "a slow head costs %.1f KiB of RSS, an idle connection %.1f",
                 slow, idle);
#endif
    it_mtlb_stop(&env, 5000);
}
