/* Integration: HTTP/2 on the client side, part 1. Real clients (curl --http2, h2load and h2c,
 * the nghttp2 test client in h2c.c) against the real mtlb and mtlb-echo backends: ALPN,
 * identity headers per stream, load, bodies and trailers both ways, stream resets. Part 2
 * (test_h2_limits.c): backend failures per stream, 421, limits, connection lifetime. */
#include "h2_util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(h2, .init = setup, .fini = teardown, .timeout = 240);

/* ---- ALPN and identity ---- */

static void curl_case(bool with_cert, const char *want_verify)
{
    char *out = NULL;
    int rc = curl_h2("--http2", with_cert, "/who", &out);
    if (want_verify == NULL) {
        cr_assert_neq(rc, 0, "curl without a certificate succeeded on a mandatory listener:\n%s",
                      out);
        cr_assert_null(strstr(out, "X-SSL-Client-Verify"), "a request reached the backend");
        free(out);
        return;
    }
    cr_assert_eq(rc, 0, "curl exit %d:\n%s", rc, out);
    cr_assert(strstr(out, "\nHTTPVER=2\n") != NULL, "not HTTP/2:\n%s", out);
    cr_assert(strncmp(out, "GET /who HTTP/1.1\r\n", 19) == 0, "backend got:\n%s", out);
    assert_header(out, "X-SSL-Client-Verify", want_verify);
    assert_header(out, "X-Forwarded-Proto", "https");
    assert_header(out, "X-Forwarded-For", "127.0.0.1");
    assert_header(out, "X-Real-IP", "127.0.0.1");
    char host[64];
    snprintf(host, sizeof(host), "api.example.com:%u", env.port);
    assert_header(out, "Host", host); /* :authority became Host */
    if (strcmp(want_verify, "SUCCESS") == 0) {
        assert_header(out, "X-SSL-Client-DN", GOOD_DN);
        assert_header(out, "X-SSL-Client-Serial", "1001");
    }
    free(out);
}

Test(h2, curl_mandatory_listener)
{
    start_mode("mandatory");
    curl_case(true, "SUCCESS");
    curl_case(false, NULL);
    it_mtlb_stop(&env, 5000);
}

Test(h2, curl_optional_listener)
{
    start_mode("optional");
    curl_case(true, "SUCCESS");
    curl_case(false, "NONE");
    it_mtlb_stop(&env, 5000);
}

Test(h2, curl_off_listener)
{
    start_mode("off");
    curl_case(true, "NONE"); /* no certificate is requested, so none is presented */
    curl_case(false, "NONE");
    it_mtlb_stop(&env, 5000);
}

Test(h2, alpn_http11_only_listener_falls_back)
{
    struct it_config cfg = {.alpn = "[http/1.1]"};
    start_cfg(&cfg);
    char *out = NULL;
    int rc = curl_h2("--http2", true, "/fallback", &out);
    cr_assert_eq(rc, 0, "curl exit %d:\n%s", rc, out);
    cr_assert(strstr(out, "\nHTTPVER=1.1\n") != NULL, "expected HTTP/1.1:\n%s", out);
    assert_header(out, "X-SSL-Client-Verify", "SUCCESS");
    free(out);
    /* A client that offers only h2 gets no h2. */
    struct h2_out o;
    h2c_run(&o, 5000, "--cert", good_cert(), "--key", good_key(), NULL);
    cr_assert_eq(o.rc, 1, "h2c exit %d (want 1: no h2):\n%s", o.rc, o.out);
    cr_assert_null(strstr(o.out, "connected alpn=h2"), "%s", o.out);
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

Test(h2, default_alpn_prefers_h2_and_keeps_http11)
{
    start_mode("mandatory");
    char *out = NULL;
    cr_assert_eq(curl_h2("--http1.1", true, "/h1", &out), 0, "%s", out);
    cr_assert(strstr(out, "\nHTTPVER=1.1\n") != NULL, "expected HTTP/1.1:\n%s", out);
    free(out);
    struct h2_out o;
    h2c_run(&o, 5000, "--offer-h1", "--cert", good_cert(), "--key", good_key(), NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    cr_assert(strstr(o.out, "connected alpn=h2 ") != NULL, "%s", o.out);
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

/* Identity and forwarding headers come from mtlb only, whatever the h2 client sends. */
Test(h2, forged_identity_headers_never_reach_the_backend)
{
    start_mode("optional");
    struct h2_out o;
    h2c_run(&o, 5000, "--print-body", "--stream",
            "path=/forged,header=x-ssl-client-verify:SUCCESS,header=x-forwarded-for:6.6.6.6,"
            "header=x-ssl-client-dn:/CN=evil,header=x-real-ip:6.6.6.6,"
            "header=x-ssl-issuer:/CN=evil,header=x-ssl-client-serial:66,"
            "header=x-forwarded-proto:gopher",
            NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    struct h2s s;
    get_stream(&o, "/forged", 0, &s);
    cr_assert_eq(s.status, 200, "%s", o.out);
    char *b = h2_body(o.out, s.id);
    assert_header(b, "X-SSL-Client-Verify", "NONE");
    assert_header(b, "X-Forwarded-For", "127.0.0.1");
    assert_header(b, "X-Real-IP", "127.0.0.1");
    assert_header(b, "X-Forwarded-Proto", "https");
    cr_assert_eq(it_header_count(b, "X-SSL-Client-DN"), 0, "%s", b);
    cr_assert_eq(it_header_count(b, "X-SSL-Issuer"), 0, "%s", b);
    cr_assert_eq(it_header_count(b, "X-SSL-Client-Serial"), 0, "%s", b);
    cr_assert_null(strstr(b, "6.6.6.6"), "%s", b);
    cr_assert_null(strstr(b, "evil"), "%s", b);
    free(b);
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

/* Every stream is one request with the connection's identity; one access-log line each. */
Test(h2, streams_carry_identity_and_are_logged)
{
    start_mode("mandatory");
    struct h2_out o;
    h2c_run(&o, 5000, "--print-body", "--cert", good_cert(), "--key", good_key(), "--authority",
            "api.example.com", "--stream", "path=/log/a", "--stream", "path=/log/b", "--stream",
            "path=/log/c", NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    static const char *const paths[] = {"/log/a", "/log/b", "/log/c"};
    for (size_t i = 0; i < 3; i++) {
        struct h2s s;
        get_stream(&o, paths[i], 0, &s);
        cr_assert_eq(s.status, 200, "%s", o.out);
        char *b = h2_body(o.out, s.id);
        char line[64];
        snprintf(line, sizeof(line), "GET %s HTTP/1.1\r\n", paths[i]);
        cr_assert(strncmp(b, line, strlen(line)) == 0, "backend got:\n%s", b);
        assert_header(b, "Host", "api.example.com");
        assert_header(b, "X-SSL-Client-Verify", "SUCCESS");
        assert_header(b, "X-SSL-Client-DN", GOOD_DN);
        free(b);
        char path_field[64];
        snprintf(path_field, sizeof(path_field), "\"path\":\"%s\"", paths[i]);
        const char *needles[] = {path_field, "\"status\":200", "\"verify\":\"SUCCESS\"", NULL};
        cr_assert_eq(it_wait_lines(env.out_log, needles, 1, 3000), 1,
                     "no access-log line for %s:\n%s", paths[i], it_read_file(env.out_log, NULL));
    }
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

/* ---- load ---- */

static void h2load_case(const char *n, const char *c, const char *m, long want)
{
    char url[96];
    snprintf(url, sizeof(url), "https://localhost:%u/", env.port);
    char *argv[] = {"/usr/bin/h2load", "-n", (char *)n, "-c", (char *)c, "-m",
                    (char *)m,         url,  NULL};
    char *out = NULL, *err = NULL;
    int rc = it_run(&env, argv, &out, &err, 240000);
    cr_assert_eq(rc, 0, "h2load exit %d:\n%s%s", rc, out, err);
    long total, started, done, succeeded, failed, errored, timeout, s2xx;
    const char *r = strstr(out, "requests: ");
    cr_assert_not_null(r, "%s", out);
    cr_assert_eq(sscanf(r,
                        "requests: %ld total, %ld started, %ld done, %ld succeeded, %ld failed, "
                        "%ld errored, %ld timeout",
                        &total, &started, &done, &succeeded, &failed, &errored, &timeout),
                 7, "%s", out);
    const char *sc = strstr(out, "status codes: ");
    cr_assert_not_null(sc, "%s", out);
    cr_assert_eq(sscanf(sc, "status codes: %ld 2xx", &s2xx), 1, "%s", out);
    cr_assert(strstr(out, "Application protocol: h2") != NULL, "not h2:\n%s", out);
    cr_assert_eq(failed, 0, "%s", out);
    cr_assert_eq(errored, 0, "%s", out);
    cr_assert_eq(timeout, 0, "%s", out);
    cr_assert_eq(succeeded, want, "%s", out);
    cr_assert_eq(s2xx, want, "%s", out);
    free(out);
    free(err);
}

/* Thousands of streams at once mean thousands of backend connects: the suite's 1 s backend
 * timeouts are for failure cases, not for a loaded (or sanitized) machine. */
#define H2LOAD_TIMEOUTS                                                                            \
    "{handshake: 5s, client_header: 5s, client_body: 10s, client_idle: 10s, "                      \
    "backend_connect: 5s, backend_response: 10s, backend_idle: 10s, drain: 5s}"

Test(h2, h2load_multiplexed)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = 2, .timeouts = H2LOAD_TIMEOUTS};
    cfg.domains[0].mode = "optional";
    cfg.servers[0] = it_echo_start(&env, "b1");
    cfg.servers[1] = it_echo_start(&env, "b2");
    start_cfg(&cfg);
    h2load_case("20000", "16", "32", 20000);
    it_mtlb_assert_alive(&env);
    it_mtlb_stop(&env, 10000);
}

/* The acceptance run of the issue (about 5 s here, 7 s under ASan). */
Test(h2, h2load_acceptance_full)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = 2, .timeouts = H2LOAD_TIMEOUTS};
    cfg.domains[0].mode = "optional";
    cfg.servers[0] = it_echo_start(&env, "b1");
    cfg.servers[1] = it_echo_start(&env, "b2");
    start_cfg(&cfg);
    h2load_case("100000", "64", "32", 100000);
    it_mtlb_stop(&env, 10000);
}

/* ---- bodies ---- */

/* The echo body of an upload: the backend saw exactly the bytes sent, with or without
 * content-length (then chunked to the backend). */
static void expect_upload(const struct h2_out *o, const char *path, unsigned long long n,
                          bool chunked)
{
    struct h2s s;
    get_stream(o, path, 0, &s);
    cr_assert_eq(s.status, 200, "%s: status %d\n%.3000s", path, s.status, o->out);
    cr_assert_eq(s.sent, n, "%s: sent %llu", path, s.sent);
    char *b = h2_body(o->out, s.id);
    unsigned long long bytes = 0, fnv = 0;
    cr_assert(it_echo_body_stats(b, &bytes, &fnv), "%s: no echo stats in:\n%s", path, b);
    cr_assert_eq(bytes, n, "%s: backend got %llu body bytes, want %llu", path, bytes, n);
    cr_assert_eq(fnv, pattern_fnv(n), "%s: backend got other bytes", path);
    if (chunked) {
        assert_header(b, "Transfer-Encoding", "chunked");
        cr_assert_eq(it_header_count(b, "Content-Length"), 0, "%s", b);
    } else {
        char cl[32];
        snprintf(cl, sizeof(cl), "%llu", n);
        assert_header(b, "Content-Length", cl);
    }
    free(b);
}

Test(h2, bodies_byte_exact_both_ways)
{
    struct it_config cfg = {.timeouts = "{handshake: 2s, client_header: 2s, client_body: 10s, "
                                        "client_idle: 10s, backend_connect: 1s, "
                                        "backend_response: 10s, backend_idle: 10s, drain: 2s}"};
    start_cfg(&cfg);
    char up_cl[64], up_chunked[64], down[64], down_chunked[64];
    snprintf(up_cl, sizeof(up_cl), "path=/up/cl,body=%llu", 16 * MIB);
    snprintf(up_chunked, sizeof(up_chunked), "path=/up/chunked,body=%llu,no-cl", 16 * MIB);
    snprintf(down, sizeof(down), "path=/size/%llu", 32 * MIB);
    snprintf(down_chunked, sizeof(down_chunked), "path=/chunked/%llu", 3 * MIB + 777);
    struct h2_out o;
    h2c_run(&o, 60000, "--print-body", "--cert", good_cert(), "--key", good_key(), "--stream",
            up_cl, "--stream", up_chunked, "--stream", down, "--stream", down_chunked, NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%.4000s%s", o.rc, o.out, o.err);
    expect_upload(&o, "/up/cl", 16 * MIB, false);
    expect_upload(&o, "/up/chunked", 16 * MIB, true);
    char path[64];
    snprintf(path, sizeof(path), "/size/%llu", 32 * MIB);
    struct h2s s;
    get_stream(&o, path, 0, &s);
    cr_assert_eq(s.status, 200);
    cr_assert_eq(s.bytes, 32 * MIB, "download: %llu bytes", s.bytes);
    /* Only the first 256 KiB of a body are printed; the fnv covers all of it. */
    cr_assert_eq(s.fnv, pattern_fnv(32 * MIB), "download differs from the pattern");
    snprintf(path, sizeof(path), "/chunked/%llu", 3 * MIB + 777);
    get_stream(&o, path, 0, &s);
    cr_assert_eq(s.status, 200);
    cr_assert_eq(s.bytes, 3 * MIB + 777);
    cr_assert_eq(s.fnv, pattern_fnv(3 * MIB + 777), "chunked download differs");
    h2_out_fini(&o);
    /* Response headers: framing of a chunked backend response does not leak into h2. */
    h2c_run(&o, 10000, "--all-headers", "--cert", good_cert(), "--key", good_key(), "--stream",
            "path=/chunked/5000", "--stream", "path=/size/5000", NULL);
    cr_assert_eq(o.rc, 0, "%s", o.out);
    cr_assert_null(strstr(o.out, "transfer-encoding"), "%s", o.out);
    cr_assert_null(strstr(o.out, ": keep-alive"), "%s", o.out);
    get_stream(&o, "/size/5000", 0, &s);
    char want[64];
    snprintf(want, sizeof(want), "header %d content-length: 5000\n", s.id);
    cr_assert(strstr(o.out, want) != NULL, "content-length must be kept:\n%s", o.out);
    snprintf(want, sizeof(want), "header %d x-backend: b1\n", s.id);
    cr_assert(strstr(o.out, want) != NULL, "names lowercased, values kept:\n%s", o.out);
    expect_ok(&o, "/chunked/5000", 5000);
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

/* More streams than SETTINGS_MAX_CONCURRENT_STREAMS, each with a body, over two backends. */
Test(h2, many_concurrent_streams_with_bodies)
{
    struct it_config cfg = {.n_servers = 2};
    cfg.servers[0] = it_echo_start(&env, "b1");
    cfg.servers[1] = it_echo_start(&env, "b2");
    start_cfg(&cfg);
    struct h2_out o;
    h2c_run(&o, 30000, "--print-body", "--show-header", "x-backend", "--cert", good_cert(), "--key",
            good_key(), "--stream", "path=/many,body=30011,n=150", NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%.3000s%s", o.rc, o.out, o.err);
    for (size_t i = 0; i < 150; i++) {
        struct h2s s;
        get_stream(&o, "/many", i, &s);
        cr_assert_eq(s.status, 200, "stream %d: status %d", s.id, s.status);
        char *b = h2_body(o.out, s.id);
        unsigned long long bytes = 0, fnv = 0;
        cr_assert(it_echo_body_stats(b, &bytes, &fnv), "stream %d:\n%s", s.id, b);
        cr_assert_eq(bytes, 30011);
        cr_assert_eq(fnv, pattern_fnv(30011), "stream %d: backend got other bytes", s.id);
        free(b);
    }
    cr_assert_eq(count_lines(o.out, "stream "), 150);
    size_t b1 = 0, b2 = 0;
    for (const char *p = o.out; (p = strstr(p, " x-backend: ")) != NULL; p++) {
        b1 += strncmp(p + 12, "b1\n", 3) == 0;
        b2 += strncmp(p + 12, "b2\n", 3) == 0;
    }
    cr_assert_eq(b1 + b2, 150, "x-backend lines: %zu + %zu", b1, b2);
    cr_assert(b1 >= 50 && b2 >= 50, "round robin: b1 %zu, b2 %zu", b1, b2);
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

Test(h2, trailers_both_directions)
{
    struct it_config cfg = {.headers = "request_trailers: forward"};
    start_cfg(&cfg);
    struct h2_out o;
    h2c_run(&o, 10000, "--print-body", "--cert", good_cert(), "--key", good_key(), "--stream",
            "path=/echo-trailers,body=70000,no-cl,trailer=x-req-trailer:hello,"
            "trailer=x-checksum:abc123",
            "--stream", "path=/trailers/50000", NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    expect_upload(&o, "/echo-trailers", 70000, true);
    struct h2s s;
    get_stream(&o, "/echo-trailers", 0, &s);
    char *b = h2_body(o.out, s.id);
    cr_assert(strcasestr(b, "\r\ntrailer: x-req-trailer: hello\r\n") != NULL,
              "request trailer did not reach the backend:\n%s", b);
    cr_assert(strcasestr(b, "\r\ntrailer: x-checksum: abc123\r\n") != NULL, "%s", b);
    free(b);
    expect_ok(&o, "/trailers/50000", 50000);
    get_stream(&o, "/trailers/50000", 0, &s);
    cr_assert_eq(s.trailers, 2, "want 2 response trailers:\n%s", o.out);
    char want[96];
    snprintf(want, sizeof(want), "trailer %d x-body-bytes: 50000\n", s.id);
    cr_assert(strstr(o.out, want) != NULL, "%s", o.out);
    snprintf(want, sizeof(want), "trailer %d x-body-fnv1a64: %016llx\n", s.id, pattern_fnv(50000));
    cr_assert(strstr(o.out, want) != NULL, "%s", o.out);
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

/* ---- resets ---- */

Test(h2, reset_mid_download_leaves_connection_working)
{
    struct it_config cfg = {0};
    start_cfg(&cfg);
    struct h2_out o;
    char big[64];
    snprintf(big, sizeof(big), "path=/size/%llu,reset-recv=200000", 64 * MIB);
    h2c_run(&o, 20000, "--print-body", "--cert", good_cert(), "--key", good_key(), "--stream", big,
            "--stream", "path=/size/2000000", "--stream", AFTER_RESET, NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    struct h2s s;
    char path[64];
    snprintf(path, sizeof(path), "/size/%llu", 64 * MIB);
    get_stream(&o, path, 0, &s);
    cr_assert_str_eq(s.reset, "CANCEL/local", "%s", o.out);
    cr_assert(s.bytes >= 200000 && s.bytes < 64 * MIB, "%llu bytes", s.bytes);
    expect_ok(&o, "/size/2000000", 2000000);
    expect_after_reset(&o);
    cr_assert_null(strstr(o.out, "goaway last_stream_id"),
                   "a stream reset must not end the connection");
    it_mtlb_assert_alive(&env);
    h2_out_fini(&o);
    fresh_connection_works();
    it_mtlb_stop(&env, 5000);
}

Test(h2, reset_mid_upload_leaves_connection_working)
{
    struct it_config cfg = {0};
    start_cfg(&cfg);
    struct h2_out o;
    char big[96];
    snprintf(big, sizeof(big), "path=/up/reset,body=%llu,reset-send=300000", 16 * MIB);
    h2c_run(&o, 20000, "--print-body", "--cert", good_cert(), "--key", good_key(), "--stream", big,
            "--stream", "path=/up/whole,body=1000000", "--stream", AFTER_RESET, NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    struct h2s s;
    get_stream(&o, "/up/reset", 0, &s);
    cr_assert_str_eq(s.reset, "CANCEL/local", "%s", o.out);
    cr_assert_eq(s.sent, 300000);
    expect_upload(&o, "/up/whole", 1000000, false);
    expect_after_reset(&o);
    cr_assert_null(strstr(o.out, "goaway last_stream_id"),
                   "a stream reset must not end the connection");
    it_mtlb_assert_alive(&env);
    h2_out_fini(&o);
    fresh_connection_works();
    it_mtlb_stop(&env, 5000);
}
