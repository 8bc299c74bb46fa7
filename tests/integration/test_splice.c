/* Integration: response and request bodies moved by splice (include/mtlb/splice.h,
 * src/runtime/splice_req.c). Natively the kernel
 * has no kTLS, so these run on a plain (tls: false, http: allow) listener, whose transport
 * takes the same path: a large Content-Length body arrives byte for byte and is counted in
 * mtlb_spliced_bytes_total and the access log; `splice: false`, chunked bodies and userspace
 * TLS keep the copy path; a client that leaves mid-body leaves mtlb serving; a backend that
 * dies mid-body closes the client before the promised length. The kTLS path itself is proved
 * in the VM (scripts/ktls-vm-test). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "harness.h"

static struct it_env env;
static uint16_t plain_port, admin_port;

static void start_cfg(const char *keys, struct it_config *cfgp);

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(splice, .init = setup, .fini = teardown, .timeout = 120);

/* One echo backend, the suite's TLS listener and a plain allow listener first, whose extra
 * YAML lines are `keys`; admin on admin_port. */
static void start(const char *keys)
{
    struct it_config cfg = {.n_domains = 1};
    start_cfg(keys, &cfg);
}

static void start_cfg(const char *keys, struct it_config *cfgp)
{
    struct it_config cfg = *cfgp;
    cfg.domains[0].mode = "optional";
    cfg.servers[0] = it_echo_start(&env, "b1");
    cfg.n_servers = 1;
    admin_port = it_free_port();
    cfg.admin_port = admin_port;
    plain_port = it_free_port();
    char lines[1024];
    cr_assert_lt(snprintf(lines, sizeof(lines), "    http: allow\n%s", keys), (int)sizeof(lines));
    it_write_config_plain_first(&env, &cfg, plain_port, lines);
    char *argv[] = {getenv("MTLB_BIN"), "-c", env.config, NULL};
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int o = open(env.out_log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int e = open(env.err_log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (o == -1 || e == -1 || dup2(o, 1) == -1 || dup2(e, 2) == -1) {
            _exit(126);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    env.mtlb = pid;
    double deadline = it_now() + 10.0;
    while (!(it_port_accepts(env.port) && it_port_accepts(plain_port) &&
             it_port_accepts(admin_port))) {
        cr_assert(it_now() < deadline, "mtlb did not start; stderr:\n%s",
                  it_read_file(env.err_log, NULL));
        usleep(20000);
    }
}

static double metric(const char *series)
{
    double v = it_admin_metric(admin_port, series);
    cr_assert_geq(v, 0, "%s absent", series);
    return v;
}

/* mtlb-echo's /size/N body: byte i is 'a' + i % 26. */
static bool pattern_ok(const char *p, size_t n, size_t off)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != (char)('a' + (off + i) % 26)) {
            return false;
        }
    }
    return true;
}

/* GET path on c; reads the head and then the body by hand, checking the pattern. Returns
 * the body bytes received before the connection ended or want was reached. */
static size_t get_body(struct it_conn *c, const char *path, size_t want, bool *pattern)
{
    char req[256], buf[65536];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", path);
    cr_assert_eq(it_conn_sends(c, req), 0);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, true), 0, "no head: %s", c->err);
    cr_assert_eq(r.status, 200, "%s", r.head);
    it_response_fini(&r);
    size_t got = 0;
    *pattern = true;
    while (got < want) {
        size_t ask = want - got < sizeof(buf) ? want - got : sizeof(buf);
        ssize_t n = it_conn_recv_some(c, buf, ask);
        if (n <= 0) {
            break;
        }
        *pattern = *pattern && pattern_ok(buf, (size_t)n, got);
        got += (size_t)n;
    }
    return got;
}

/* Reads until the connection ends (or the timeout): the byte count. */
static size_t get_body_rest(struct it_conn *c, size_t max)
{
    char buf[65536];
    size_t got = 0;
    while (got < max) {
        ssize_t n = it_conn_recv_some(c, buf, sizeof(buf));
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    return got;
}

static void download(uint16_t port, size_t size, bool keep_alive_again)
{
    char path[64];
    bool pattern = false;
    snprintf(path, sizeof(path), "/size/%zu", size);
    struct it_conn *c = it_tcp_connect(port);
    it_conn_timeout(c, 20000);
    cr_assert_eq(get_body(c, path, size, &pattern), size);
    cr_assert(pattern, "body differs from the backend's");
    if (keep_alive_again) {
        /* The connection is in step after the spliced body: a second answer on it. */
        cr_assert_eq(get_body(c, "/size/100", 100, &pattern), 100);
        cr_assert(pattern);
    }
    it_conn_close(c);
}

Test(splice, large_body_moves_by_splice_byte_for_byte)
{
    start("");
    size_t size = 16u << 20;
    download(plain_port, size, true);
    double bytes = metric("mtlb_spliced_bytes_total");
    /* All but what came with the head in the first read (rbuf is 32 KiB). */
    cr_assert(bytes > (double)(size - 65536) && bytes <= (double)size, "spliced %g", bytes);
    cr_assert_eq(metric("mtlb_spliced_bodies_total"), 1);
    /* The access log counts every body byte, spliced or copied. */
    char want[64];
    snprintf(want, sizeof(want), "\"bytes\":%zu,", size);
    const char *needles[] = {want, "\"path\":\"/size/16777216\"", NULL};
    cr_assert_eq(it_wait_lines(env.out_log, needles, 1, 3000), 1);
    it_mtlb_stop(&env, 5000);
}

Test(splice, small_chunked_tls_and_switched_off_keep_the_copy_path)
{
    start("    splice: false\n");
    download(plain_port, 4u << 20, false);
    cr_assert_eq(metric("mtlb_spliced_bytes_total"), 0);
    it_mtlb_stop(&env, 5000);

    start("");
    download(plain_port, 20000, false); /* under MTLB_SPLICE_MIN_BODY */
    struct it_conn *c = it_tcp_connect(plain_port);
    it_conn_timeout(c, 10000);
    cr_assert_eq(it_conn_sends(c, "GET /chunked/3000000 HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
    cr_assert_eq(r.body_len, 3000000);
    it_response_fini(&r);
    it_conn_close(c);
    /* The TLS listener: userspace TLS here (no kTLS in this kernel). */
    struct it_tls_opts o = {.cert = "client/good.crt", .key = "client/good.key"};
    it_get(env.port, &o, "/size/3000000", &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, 3000000);
    it_response_fini(&r);
    cr_assert_eq(metric("mtlb_spliced_bytes_total"), 0);
    it_mtlb_stop(&env, 5000);
}

Test(splice, client_leaving_mid_body_leaves_mtlb_serving)
{
    start("");
    for (int i = 0; i < 3; i++) {
        struct it_conn *c = it_tcp_connect(plain_port);
        it_conn_timeout(c, 10000);
        bool pattern = false;
        cr_assert_eq(get_body(c, "/size/268435456", 1u << 20, &pattern), 1u << 20);
        cr_assert(pattern);
        it_conn_close(c); /* with unread bytes: a reset */
    }
    download(plain_port, 8u << 20, true);
    it_mtlb_assert_alive(&env);
    cr_assert_eq(metric("mtlb_spliced_bodies_total"), 4);
    it_mtlb_stop(&env, 5000);
}

Test(splice, backend_dying_mid_body_closes_the_client)
{
    start("");
    struct it_conn *c = it_tcp_connect(plain_port);
    it_conn_timeout(c, 10000);
    bool pattern = false;
    size_t size = 1u << 30;
    cr_assert_eq(get_body(c, "/size/1073741824", 1u << 20, &pattern), 1u << 20);
    it_echo_kill(&env, 0);
    /* What is still buffered arrives, then the close: never the promised length. */
    size_t rest = get_body_rest(c, size);
    cr_assert_lt(rest + (1u << 20), size);
    cr_assert(c->eof, "connection not closed: %s", c->err);
    it_conn_close(c);
    const char *needles[] = {"event=upstream_truncated", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, needles, 1, 3000), 1);
    cr_assert_eq(metric("mtlb_spliced_bodies_total"), 1);
    it_mtlb_assert_alive(&env);
    it_mtlb_stop(&env, 5000);
}

/* ---- request bodies (client -> backend, splice_req.c) ---- */

/* Upload bytes: byte i = (i * 7 + i / 4096) % 251, not the response pattern. */
static void up_fill(char *p, size_t n, size_t off)
{
    for (size_t i = 0; i < n; i++) {
        size_t k = off + i;
        p[i] = (char)((k * 7 + k / 4096) % 251);
    }
}

static uint64_t fnv(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ULL;
    }
    return h;
}

static void post_head(struct it_conn *c, const char *path, size_t len, const char *extra)
{
    char head[512];
    snprintf(head, sizeof(head), "POST %s HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n%s\r\n",
             path, len, extra);
    cr_assert_eq(it_conn_sends(c, head), 0, "%s", c->err);
}

/* Sends body bytes [off, off + n) of the upload; their FNV-1a folded into *h. -1 on error. */
static int send_body(struct it_conn *c, size_t off, size_t n, uint64_t *h)
{
    static char buf[256 * 1024];
    while (n > 0) {
        size_t k = n < sizeof(buf) ? n : sizeof(buf);
        up_fill(buf, k, off);
        *h = fnv(*h, buf, k);
        if (it_conn_send(c, buf, k) != 0) {
            return -1;
        }
        off += k;
        n -= k;
    }
    return 0;
}

/* The echo backend's account of the body it received: body-bytes and body-fnv1a64. */
static void assert_echoed_body(const struct it_response *r, size_t len, uint64_t h)
{
    char want[96];
    cr_assert_eq(r->status, 200, "%s", r->head);
    snprintf(want, sizeof(want), "body-bytes: %zu\r\nbody-fnv1a64: %016llx\r\n", len,
             (unsigned long long)h);
    cr_assert_not_null(strstr(r->body, want), "backend got other bytes; wanted %s, echo:\n%s", want,
                       r->body);
}

/* POST of len bytes on c; asserts the backend received exactly them. */
static void upload(struct it_conn *c, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    post_head(c, "/up", len, "");
    cr_assert_eq(send_body(c, 0, len, &h), 0, "%s", c->err);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
    assert_echoed_body(&r, len, h);
    it_response_fini(&r);
}

Test(splice, large_upload_moves_by_splice_byte_for_byte)
{
    start("");
    size_t size = 16u << 20;
    struct it_conn *c = it_tcp_connect(plain_port);
    it_conn_timeout(c, 20000);
    upload(c, size);
    upload(c, 1000); /* the connection is in step after the spliced body */
    it_conn_close(c);
    double bytes = metric("mtlb_spliced_request_bytes_total");
    /* All but what came with the head in the first read. */
    cr_assert(bytes > (double)(size - 65536) && bytes <= (double)size, "spliced %g", bytes);
    cr_assert_eq(metric("mtlb_spliced_request_bodies_total"), 1);
    cr_assert_eq(metric("mtlb_spliced_bodies_total"), 0); /* the echo is short */
    /* The access log counts every body byte, spliced or copied. */
    char want[64];
    snprintf(want, sizeof(want), "\"bytes_in\":%zu", size);
    const char *needles[] = {want, "\"path\":\"/up\"", NULL};
    cr_assert_eq(it_wait_lines(env.out_log, needles, 1, 3000), 1);
    it_mtlb_stop(&env, 5000);
}

/* The spliced body ends exactly at Content-Length: the request pipelined right behind it, in
 * the same write, is parsed by mtlb (its forged identity header stripped), never passed raw. */
Test(splice, request_pipelined_after_a_spliced_body_is_parsed_by_mtlb)
{
    start("");
    size_t size = 1u << 20;
    uint64_t h = 0xcbf29ce484222325ULL;
    struct it_conn *c = it_tcp_connect(plain_port);
    it_conn_timeout(c, 20000);
    post_head(c, "/first", size, "");
    usleep(100000); /* the head alone first: the body is still to come when mtlb plans */
    cr_assert_eq(send_body(c, 0, size - 100, &h), 0);
    static char tail[100 + 256];
    up_fill(tail, 100, size - 100);
    h = fnv(h, tail, 100);
    int n = snprintf(tail + 100, 256,
                     "GET /second HTTP/1.1\r\nHost: a\r\nX-SSL-Client-Verify: SUCCESS\r\n"
                     "X-SSL-Client-DN: CN=forged\r\n\r\n");
    cr_assert_eq(it_conn_send(c, tail, 100 + (size_t)n), 0);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
    assert_echoed_body(&r, size, h);
    it_response_fini(&r);
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
    cr_assert_eq(r.status, 200, "%s", r.head);
    cr_assert_not_null(strstr(r.body, "GET /second HTTP/1.1\r\n"), "%s", r.body);
    cr_assert_null(strstr(r.body, "SUCCESS"), "forged header reached the backend:\n%s", r.body);
    cr_assert_null(strstr(r.body, "forged"), "forged header reached the backend:\n%s", r.body);
    it_response_fini(&r);
    it_conn_close(c);
    cr_assert_eq(metric("mtlb_spliced_request_bodies_total"), 1);
    it_mtlb_stop(&env, 5000);
}

Test(splice, small_chunked_expect_and_switched_off_uploads_are_copied)
{
    start("    splice: false\n");
    struct it_conn *c = it_tcp_connect(plain_port);
    it_conn_timeout(c, 20000);
    upload(c, 4u << 20);
    it_conn_close(c);
    cr_assert_eq(metric("mtlb_spliced_request_bodies_total"), 0);
    cr_assert_eq(metric("mtlb_spliced_request_bytes_total"), 0);
    it_mtlb_stop(&env, 5000);

    start("");
    c = it_tcp_connect(plain_port);
    it_conn_timeout(c, 20000);
    upload(c, 20000); /* under MTLB_SPLICE_MIN_BODY */
    /* Chunked: the copy path decodes and re-frames it. */
    cr_assert_eq(it_conn_sends(c, "POST /up HTTP/1.1\r\nHost: a\r\n"
                                  "Transfer-Encoding: chunked\r\n\r\n"),
                 0);
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t total = 0;
    for (int i = 0; i < 40; i++) {
        cr_assert_eq(it_conn_sends(c, "10000\r\n"), 0);
        cr_assert_eq(send_body(c, total, 0x10000, &h), 0);
        cr_assert_eq(it_conn_sends(c, "\r\n"), 0);
        total += 0x10000;
    }
    cr_assert_eq(it_conn_sends(c, "0\r\n\r\n"), 0);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
    assert_echoed_body(&r, total, h);
    it_response_fini(&r);
    /* Expect: 100-continue keeps the copy path (the client waits for the backend's 100,
     * which the read path relays), and the 100 goes out at once: a client that waits for it
     * without a deadline must not be left to the client_body timeout's 408. */
    h = 0xcbf29ce484222325ULL;
    post_head(c, "/up", 4u << 20, "Expect: 100-continue\r\n");
    double t0 = it_now();
    cr_assert_eq(it_read_response(c, &r, true), 0, "%s", c->err);
    cr_assert_eq(r.status, 100, "%s", r.head);
    cr_assert_lt(it_now() - t0, 1.5, "100 Continue after %.2f s", it_now() - t0);
    it_response_fini(&r);
    cr_assert_eq(send_body(c, 0, 4u << 20, &h), 0, "%s", c->err);
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
    assert_echoed_body(&r, 4u << 20, h);
    it_response_fini(&r);
    it_conn_close(c);
    cr_assert_eq(metric("mtlb_spliced_request_bodies_total"), 0);
    it_mtlb_stop(&env, 5000);
}

Test(splice, client_leaving_mid_upload_closes_the_backend_connection)
{
    start("");
    for (int i = 0; i < 3; i++) {
        uint64_t h = 0;
        struct it_conn *c = it_tcp_connect(plain_port);
        it_conn_timeout(c, 10000);
        post_head(c, "/up", 64u << 20, "");
        usleep(50000);
        cr_assert_eq(send_body(c, 0, 2u << 20, &h), 0);
        usleep(100000);
        it_conn_close(c);
    }
    const char *needles[] = {"event=client_body_aborted", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, needles, 3, 3000), 3);
    /* Had a backend connection holding part of a body gone back to the pool, the next
     * request on it would be read as the rest of that body. */
    for (int i = 0; i < 4; i++) {
        struct it_conn *c = it_tcp_connect(plain_port);
        it_conn_timeout(c, 10000);
        upload(c, 100000);
        it_conn_close(c);
    }
    it_mtlb_assert_alive(&env);
    cr_assert_eq(metric("mtlb_spliced_request_bodies_total"), 7);
    it_mtlb_stop(&env, 5000);
}

Test(splice, backend_dying_mid_upload_answers_502_or_closes)
{
    start("");
    uint64_t h = 0;
    struct it_conn *c = it_tcp_connect(plain_port);
    it_conn_timeout(c, 10000);
    post_head(c, "/up", 256u << 20, "");
    usleep(50000);
    cr_assert_eq(send_body(c, 0, 2u << 20, &h), 0);
    it_echo_kill(&env, 0);
    /* Sending goes on until mtlb answers and closes. */
    (void)send_body(c, 2u << 20, 64u << 20, &h);
    struct it_response r;
    if (it_read_response(c, &r, false) == 0) {
        cr_assert_eq(r.status, 502, "%s", r.head);
        it_response_fini(&r);
    } /* else the close overtook the page (a reset after unread body bytes) */
    it_conn_close(c);
    const char *needles[] = {"event=upstream_error", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, needles, 1, 3000), 1);
    cr_assert_eq(metric("mtlb_spliced_request_bodies_total"), 1);
    it_mtlb_assert_alive(&env);
    it_mtlb_stop(&env, 5000);
}

/* The body limit is decided on Content-Length before any byte moves; a client that stalls in
 * the middle of a spliced body is timed out (client_body, 2 s here) with 408. */
Test(splice, body_limit_and_stalled_upload_hold)
{
    start("    limits:\n      max_body_bytes: 1m\n");
    struct it_conn *c = it_tcp_connect(plain_port);
    it_conn_timeout(c, 10000);
    post_head(c, "/up", (1u << 20) + 1, "");
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
    cr_assert_eq(r.status, 413, "%s", r.head);
    it_response_fini(&r);
    it_conn_close(c);

    uint64_t h = 0;
    c = it_tcp_connect(plain_port);
    it_conn_timeout(c, 10000);
    post_head(c, "/up", 1u << 20, "");
    usleep(50000);
    cr_assert_eq(send_body(c, 0, 300000, &h), 0);
    double t0 = it_now();
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
    cr_assert_eq(r.status, 408, "%s", r.head);
    cr_assert(it_now() - t0 > 1.0, "408 after %.2f s", it_now() - t0);
    it_response_fini(&r);
    it_conn_close(c);
    const char *needles[] = {"event=client_timeout phase=body", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, needles, 1, 3000), 1);
    cr_assert_eq(metric("mtlb_spliced_request_bodies_total"), 1);
    it_mtlb_assert_alive(&env);
    it_mtlb_stop(&env, 5000);
}
