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
