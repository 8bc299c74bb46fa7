/* Integration: the request body limit (413 on a declared length, a chunked body or HTTP/2
 * DATA over it; a body exactly at it passes byte for byte; the backend never gets more), OCSP
 * stapling from a file, and balancing (weights, least_requests). */
#include "h2_util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const struct it_tls_opts good = {.cert = "client/good.crt", .key = "client/good.key"};
#define LIMIT 1000
#define LIMITS "{max_header_bytes: 16384, max_headers: 100, max_body_bytes: 1000}"

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(limits_balance, .init = setup, .fini = teardown, .timeout = 120);

static void start_limited(uint16_t server)
{
    struct it_config cfg = {.limits = LIMITS};
    if (server != 0) {
        cfg.servers[0] = server;
        cfg.n_servers = 1;
    }
    start_cfg(&cfg);
}

static struct it_conn *connect_good(void)
{
    char err[256];
    struct it_conn *c = it_tls_connect(env.port, &good, err, sizeof(err));
    cr_assert_not_null(c, "handshake failed: %s", err);
    it_conn_timeout(c, 5000);
    return c;
}

static char *pattern(size_t n)
{
    char *p = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        p[i] = (char)('a' + i % 26);
    }
    p[n] = '\0';
    return p;
}

/* POST with Content-Length n; returns the status, and the echoed body stats when 200. */
static int post_length(struct it_conn *c, size_t n, unsigned long long *bytes,
                       unsigned long long *fnv)
{
    char head[256];
    char *body = pattern(n);
    snprintf(head, sizeof(head),
             "POST /up HTTP/1.1\r\nHost: localhost\r\nContent-Length: %zu\r\n\r\n", n);
    cr_assert_eq(it_conn_sends(c, head), 0, "%s", c->err);
    (void)it_conn_send(c, body, n); /* a refused body may meet a closed connection */
    free(body);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, false), 0, "no response: %s", c->err);
    int status = r.status;
    if (status == 200) {
        cr_assert(it_echo_body_stats(r.body, bytes, fnv), "%s", r.body);
    }
    it_response_fini(&r);
    return status;
}

Test(limits_balance, h1_content_length_over_the_limit_is_413_and_no_backend_sees_it)
{
    struct it_sink sink;
    it_sink_open(&sink);
    start_limited(sink.port);
    struct it_conn *c = connect_good();
    cr_expect_eq(post_length(c, LIMIT + 1, NULL, NULL), 413);
    it_conn_close(c);
    size_t conns = 0;
    cr_expect_eq(it_sink_drain(&sink, 300, &conns), 0);
    cr_expect_eq(conns, 0);
    it_sink_close(&sink);
    it_mtlb_stop(&env, 5000);
}

Test(limits_balance, h1_exactly_at_the_limit_passes_byte_exact)
{
    start_limited(0);
    struct it_conn *c = connect_good();
    unsigned long long bytes = 0, fnv = 0;
    cr_assert_eq(post_length(c, LIMIT, &bytes, &fnv), 200);
    char *p = pattern(LIMIT);
    cr_expect_eq(bytes, LIMIT);
    cr_expect_eq(fnv, it_fnv1a64(IT_FNV_INIT, p, LIMIT));
    /* Chunked, exactly at the limit, in three chunks. */
    char req[2048];
    int n = snprintf(req, sizeof(req),
                     "POST /up HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "190\r\n%.400s\r\n190\r\n%.400s\r\nc8\r\n%.200s\r\n0\r\n\r\n",
                     p, p + 400, p + 800);
    cr_assert_eq(it_conn_send(c, req, (size_t)n), 0);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
    cr_assert_eq(r.status, 200, "%s", r.head);
    cr_assert(it_echo_body_stats(r.body, &bytes, &fnv));
    cr_expect_eq(bytes, LIMIT);
    cr_expect_eq(fnv, it_fnv1a64(IT_FNV_INIT, p, LIMIT));
    it_response_fini(&r);
    free(p);
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}

/* Body bytes a backend that never answers received on its first connection: everything after
 * the request head, as mtlb framed it. */
static size_t sink_body_bytes(struct it_sink *s, int wait_ms)
{
    struct pollfd pf = {s->fd, POLLIN, 0};
    cr_assert_eq(poll(&pf, 1, wait_ms), 1, "mtlb never connected to the backend");
    int fd = accept(s->fd, NULL, NULL);
    cr_assert(fd >= 0);
    char buf[16384];
    size_t len = 0;
    struct pollfd rf = {fd, POLLIN, 0};
    while (len < sizeof(buf) && poll(&rf, 1, wait_ms) == 1) {
        ssize_t k = read(fd, buf + len, sizeof(buf) - len);
        if (k <= 0) {
            break;
        }
        len += (size_t)k;
    }
    close(fd);
    char *end = memmem(buf, len, "\r\n\r\n", 4);
    cr_assert_not_null(end, "no request head at the backend");
    return len - (size_t)(end + 4 - buf);
}

Test(limits_balance, h1_chunked_crossing_the_limit_is_413_and_the_backend_gets_at_most_it)
{
    struct it_sink sink;
    it_sink_open(&sink);
    start_limited(sink.port);
    struct it_conn *c = connect_good();
    char *p = pattern(800);
    char req[2048];
    int n = snprintf(req, sizeof(req),
                     "POST /up HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "320\r\n%s\r\n",
                     p);
    cr_assert_eq(it_conn_send(c, req, (size_t)n), 0);
    usleep(300 * 1000); /* the first 800 bytes go to the backend */
    n = snprintf(req, sizeof(req), "190\r\n%.400s\r\n0\r\n\r\n", p);
    (void)it_conn_send(c, req, (size_t)n);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
    cr_expect_eq(r.status, 413, "%s", r.head);
    it_response_fini(&r);
    size_t got = sink_body_bytes(&sink, 1000);
    cr_expect(got >= 800 && got <= LIMIT + 16, "the backend got %zu body bytes", got);
    free(p);
    it_conn_close(c);
    it_sink_close(&sink);
    it_mtlb_stop(&env, 5000);
}

Test(limits_balance, h2_over_the_limit_is_413_with_or_without_content_length)
{
    start_limited(0);
    struct h2_out o;
    h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--print-body", "--stream",
            "path=/cl,body=1001", "--stream", "path=/nocl,body=1001,no-cl", "--stream",
            "path=/big,body=200000,no-cl", "--stream", "path=/at,body=1000,no-cl", "--stream",
            "path=/atcl,body=1000", NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    struct h2s s;
    get_stream(&o, "/cl", 0, &s);
    cr_expect_eq(s.status, 413, "%s", o.out);
    get_stream(&o, "/nocl", 0, &s);
    cr_expect_eq(s.status, 413, "%s", o.out);
    get_stream(&o, "/big", 0, &s);
    cr_expect_eq(s.status, 413, "%s", o.out);
    const char *at[] = {"/at", "/atcl"};
    char *p = pattern(LIMIT);
    for (size_t i = 0; i < 2; i++) {
        get_stream(&o, at[i], 0, &s);
        cr_expect_eq(s.status, 200, "%s: %s", at[i], o.out);
        char *body = h2_body(o.out, s.id);
        unsigned long long bytes = 0, fnv = 0;
        cr_assert(it_echo_body_stats(body, &bytes, &fnv), "%s", body);
        cr_expect_eq(bytes, LIMIT);
        cr_expect_eq(fnv, it_fnv1a64(IT_FNV_INIT, p, LIMIT));
        free(body);
    }
    free(p);
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

/* ---- OCSP stapling ---- */

/* `openssl s_client -status` against the listener; returns its output (malloc'd). */
static char *s_client_status(void)
{
    char port[16];
    snprintf(port, sizeof(port), "127.0.0.1:%u", env.port);
    char *argv[] = {"/bin/sh",
                    "-c",
                    "exec openssl s_client -connect \"$1\" -servername localhost -status "
                    "-CAfile \"$2\" </dev/null",
                    "sh",
                    port,
                    (char *)it_pki("ca/root.crt"),
                    NULL};
    char *out = NULL, *err = NULL;
    int rc = it_run(&env, argv, &out, &err, 10000);
    cr_assert_eq(rc, 0, "s_client exit %d:\n%s%s", rc, out, err);
    free(err);
    return out;
}

static void start_ocsp(const char *cert, const char *extra)
{
    struct it_config cfg = {.n_domains = 1};
    cfg.domains[0] = (struct it_domain){.mode = "off", .cert = cert, .extra = extra};
    start_cfg(&cfg);
}

static char *ocsp_key(const char *path)
{
    static char buf[600];
    snprintf(buf, sizeof(buf), "ocsp_response: \"%s\"", path);
    return buf;
}

Test(limits_balance, ocsp_response_is_stapled_when_the_client_asks)
{
    start_ocsp("server/api-full.pem", ocsp_key(it_pki("server/api.ocsp")));
    char *out = s_client_status();
    cr_expect(strstr(out, "OCSP Response Status: successful") != NULL, "%s", out);
    cr_expect(strstr(out, "Cert Status: good") != NULL, "%s", out);
    cr_expect(strstr(out, "Serial Number: 2001") != NULL, "%s", out);
    free(out);
    it_mtlb_stop(&env, 5000);
}

Test(limits_balance, no_ocsp_response_key_no_staple)
{
    start_ocsp("server/api-full.pem", NULL);
    char *out = s_client_status();
    cr_expect(strstr(out, "OCSP response: no response sent") != NULL, "%s", out);
    cr_expect(strstr(out, "OCSP Response Status") == NULL, "%s", out);
    free(out);
    it_mtlb_stop(&env, 5000);
}

Test(limits_balance, ocsp_response_is_reloaded_with_the_rest)
{
    const char *staple = it_copy_pki(&env, "server/api-soon.ocsp", "staple.der");
    char path[512];
    snprintf(path, sizeof(path), "%s", staple);
    start_ocsp("server/api-full.pem", ocsp_key(path));
    const char *warn[] = {"event=ocsp_response_expiring", "domain=api.example.com", NULL};
    cr_expect_eq(it_wait_lines(env.err_log, warn, 1, 3000), 1, "no ocsp_response_expiring line");
    char *out = s_client_status();
    cr_assert(strstr(out, "OCSP Response Status: successful") != NULL, "%s", out);
    char *before = strstr(out, "Next Update: ");
    cr_assert_not_null(before, "%s", out);
    char next_before[64];
    snprintf(next_before, sizeof(next_before), "%.40s", before);
    free(out);
    /* The file now holds a response that ends in 7 days; SIGHUP. */
    size_t len = 0;
    char *soon = it_read_file(it_pki("server/api.ocsp"), &len);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(soon, 1, len, f), len);
    fclose(f);
    free(soon);
    const char *ok[] = {"event=reloaded", NULL};
    kill(env.mtlb, SIGHUP);
    cr_assert_eq(it_wait_lines(env.err_log, ok, 1, 10000), 1, "no event=reloaded");
    out = s_client_status();
    char *after = strstr(out, "Next Update: ");
    cr_assert_not_null(after, "%s", out);
    cr_expect(strncmp(after, next_before, strlen(next_before)) != 0,
              "the staple did not change: %s", next_before);
    free(out);
    it_mtlb_stop(&env, 5000);
}

/* mtlb -t: a response about another certificate, one signed by another CA and a chain without
 * the issuer are errors
 * naming the key and file; one that ends within a day is a warning. */
Test(limits_balance, check_refuses_a_response_that_does_not_match_and_warns_when_it_ends_soon)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = 1};
    cfg.servers[0] = it_free_port();
    cfg.domains[0] = (struct it_domain){.mode = "off", .cert = "server/api-full.pem"};
    char extra[600];
    snprintf(extra, sizeof(extra), "%s", ocsp_key(it_pki("server/other.ocsp")));
    cfg.domains[0].extra = extra;
    struct it_run_result r = it_mtlb_check(&env, &cfg);
    cr_expect_eq(r.rc, 1, "%s%s", r.out, r.err);
    cr_expect(strstr(r.err, "ocsp_response: ") != NULL &&
                  strstr(r.err, "not about the certificate") != NULL,
              "%s", r.err);
    it_run_result_fini(&r);

    /* about the right certificate, but signed by a CA that did not issue it */
    snprintf(extra, sizeof(extra), "%s", ocsp_key(it_pki("server/api-forged.ocsp")));
    r = it_mtlb_check(&env, &cfg);
    cr_expect_eq(r.rc, 1, "%s%s", r.out, r.err);
    cr_expect(strstr(r.err, "not signed by the issuer") != NULL, "%s", r.err);
    it_run_result_fini(&r);

    cfg.domains[0].cert = "server/api.crt"; /* no issuer after the leaf */
    snprintf(extra, sizeof(extra), "%s", ocsp_key(it_pki("server/api.ocsp")));
    r = it_mtlb_check(&env, &cfg);
    cr_expect_eq(r.rc, 1, "%s%s", r.out, r.err);
    cr_expect(strstr(r.err, "holds no issuer") != NULL, "%s", r.err);
    it_run_result_fini(&r);

    cfg.domains[0].cert = "server/api-full.pem";
    snprintf(extra, sizeof(extra), "%s", ocsp_key(it_pki("ca/root.crt"))); /* not DER OCSP */
    r = it_mtlb_check(&env, &cfg);
    cr_expect_eq(r.rc, 1, "%s%s", r.out, r.err);
    cr_expect(strstr(r.err, "not a DER OCSP response") != NULL, "%s", r.err);
    it_run_result_fini(&r);

    snprintf(extra, sizeof(extra), "%s", ocsp_key(it_pki("server/api-soon.ocsp")));
    r = it_mtlb_check(&env, &cfg);
    cr_expect_eq(r.rc, 0, "%s%s", r.out, r.err);
    cr_expect(strstr(r.err, "mtlb: warning: ") != NULL && strstr(r.err, "within a day") != NULL,
              "%s", r.err);
    it_run_result_fini(&r);

    snprintf(extra, sizeof(extra), "%s", ocsp_key(it_pki("server/api.ocsp")));
    r = it_mtlb_check(&env, &cfg);
    cr_expect_eq(r.rc, 0, "%s%s", r.out, r.err);
    cr_expect(strstr(r.err, "warning") == NULL, "%s", r.err);
    it_run_result_fini(&r);
}

/* ---- balancing ---- */

/* X-Backend of a GET on c; "" when none came. */
static void get_backend(struct it_conn *c, char *be, size_t cap)
{
    struct it_response r;
    be[0] = '\0';
    if (it_conn_sends(c, "GET /w HTTP/1.1\r\nHost: localhost\r\n\r\n") == 0 &&
        it_read_response(c, &r, false) == 0) {
        if (r.status == 200) {
            it_header_get(r.head, "X-Backend", be, cap);
        }
        it_response_fini(&r);
    }
}

static void start_weighted(void)
{
    uint16_t b1 = it_echo_start(&env, "b1"), b2 = it_echo_start(&env, "b2");
    char servers[160];
    snprintf(servers, sizeof(servers),
             "{address: \"127.0.0.1:%u\", weight: 3}, {address: \"127.0.0.1:%u\"}", b1, b2);
    struct it_config cfg = {.n_servers = 2, .servers_yaml = servers};
    start_cfg(&cfg);
}

Test(limits_balance, weights_3_1_split_40_requests_30_10_over_http1)
{
    start_weighted();
    struct it_conn *c = connect_good(); /* one connection: one worker's rotation */
    unsigned b1 = 0, b2 = 0;
    char seq[48] = "";
    for (int i = 0; i < 40; i++) {
        char be[32];
        get_backend(c, be, sizeof(be));
        b1 += strcmp(be, "b1") == 0;
        b2 += strcmp(be, "b2") == 0;
        if (i < 8) {
            seq[i] = strcmp(be, "b1") == 0 ? '1' : '2';
        }
    }
    cr_expect_eq(b1, 30, "b1 %u b2 %u", b1, b2);
    cr_expect_eq(b2, 10, "b1 %u b2 %u", b1, b2);
    /* Smooth: b2 comes once in every four, never after a run of three b1 then b2 b2. */
    cr_expect(strstr(seq, "22") == NULL && strstr(seq, "1111") == NULL, "%s", seq);
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}

Test(limits_balance, weights_3_1_split_40_requests_30_10_over_http2)
{
    start_weighted();
    struct h2_out o;
    h2c_run(&o, 15000, "--cert", good_cert(), "--key", good_key(), "--show-header", "x-backend",
            "--stream", "path=/w,n=40", NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    size_t b1 = 0, b2 = 0;
    for (const char *p = o.out; (p = strstr(p, "x-backend: ")) != NULL; p++) {
        b1 += strncmp(p + 11, "b1", 2) == 0;
        b2 += strncmp(p + 11, "b2", 2) == 0;
    }
    cr_expect_eq(b1, 30, "b1 %zu b2 %zu\n%s", b1, b2, o.out);
    cr_expect_eq(b2, 10, "b1 %zu b2 %zu", b1, b2);
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

struct lr_client {
    pthread_t tid;
    unsigned fast, slow, failed;
};

static void *lr_client_main(void *arg)
{
    struct lr_client *lc = arg;
    char err[256];
    struct it_conn *c = it_tls_connect(env.port, &good, err, sizeof(err));
    if (c == NULL) {
        lc->failed = 5;
        return NULL;
    }
    it_conn_timeout(c, 5000);
    for (int i = 0; i < 5; i++) {
        char be[32];
        get_backend(c, be, sizeof(be));
        lc->fast += strcmp(be, "fast") == 0;
        lc->slow += strcmp(be, "slow") == 0;
        lc->failed += be[0] == '\0';
    }
    it_conn_close(c);
    return NULL;
}

Test(limits_balance, least_requests_sends_more_to_the_fast_backend)
{
    setenv("MTLB_ECHO_DELAY_MS", "300", 1);
    uint16_t slow = it_echo_start(&env, "slow");
    unsetenv("MTLB_ECHO_DELAY_MS");
    uint16_t fast = it_echo_start(&env, "fast");
    struct it_config cfg = {.n_servers = 2, .backend_extra = "balance: least_requests"};
    cfg.servers[0] = slow;
    cfg.servers[1] = fast;
    start_cfg(&cfg);
    /* Eight clients, five requests each, at the same time: while a request waits on the slow
     * backend, the worker's next choices see it in flight there. */
    struct lr_client lc[8];
    memset(lc, 0, sizeof(lc));
    for (size_t i = 0; i < 8; i++) {
        cr_assert_eq(pthread_create(&lc[i].tid, NULL, lr_client_main, &lc[i]), 0);
    }
    unsigned f = 0, s = 0, failed = 0;
    for (size_t i = 0; i < 8; i++) {
        pthread_join(lc[i].tid, NULL);
        f += lc[i].fast;
        s += lc[i].slow;
        failed += lc[i].failed;
    }
    cr_expect_eq(failed, 0);
    /* Round robin sends 20 to each (each worker alternates); least_requests about 32 to the
     * fast one. */
    cr_expect(f >= 26 && f + s == 40, "fast %u slow %u failed %u", f, s, failed);
    it_mtlb_stop(&env, 5000);
}

/* ---- resolve ---- */

/* A host name re-resolved every second: while the answer holds the address in use, requests
 * keep going to it and nothing moves (a changing answer is covered by the unit test, with a
 * scripted lookup: the test machine's resolver cannot be steered from here). */
Test(limits_balance, resolve_keeps_serving_through_lookups)
{
    uint16_t b1 = it_echo_start(&env, "b1");
    char servers[64];
    snprintf(servers, sizeof(servers), "\"localhost:%u\"", b1);
    struct it_config cfg = {
        .n_servers = 1, .servers_yaml = servers, .backend_extra = "resolve: 1s"};
    start_cfg(&cfg);
    struct it_conn *c = connect_good();
    for (int i = 0; i < 3; i++) {
        char be[32];
        get_backend(c, be, sizeof(be));
        cr_expect_str_eq(be, "b1", "request %d", i);
        usleep(1200 * 1000); /* a lookup in between */
    }
    it_conn_close(c);
    const char *failed[] = {"event=backend_resolve_failed", NULL};
    const char *moved[] = {"event=backend_address_changed", NULL};
    const char *looked[] = {"event=backend_resolved", "server=localhost:", "kept=1", NULL};
    cr_expect_geq(it_count_lines(env.err_log, looked), 2, "the names were not looked up again");
    cr_expect_eq(it_count_lines(env.err_log, failed), 0);
    cr_expect_eq(it_count_lines(env.err_log, moved), 0);
    it_mtlb_stop(&env, 5000);
}
