/* Integration: HTTP/2 on the client side. Real clients (curl --http2, h2load and h2c, the
 * nghttp2 test client in h2c.c) against the real mtlb and mtlb-echo backends: ALPN, identity
 * headers per stream, bodies and trailers both ways, resets, backend failures per stream, 421,
 * limits, GOAWAY on shutdown, idle and rapid reset. Output formats: `h2c --help`. */
#include "harness.h"

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

#define GOOD_DN "/C=PL/O=mtlb Test/CN=good-client"
#define MIB (1024ULL * 1024ULL)
#define H2_LIMITS "{max_header_bytes: 16384, max_headers: 100}"

static struct it_env env;

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(h2, .init = setup, .fini = teardown, .timeout = 240);

/* ---- starting mtlb ---- */

static void start_cfg(struct it_config *cfg)
{
    if (cfg->n_servers == 0) {
        cfg->servers[0] = it_echo_start(&env, "b1");
        cfg->n_servers = 1;
    }
    it_mtlb_start(&env, cfg);
}

/* One domain (api.example.com, localhost) in the given client-auth mode, one backend. */
static void start_mode(const char *mode)
{
    struct it_config cfg = {.n_domains = 1};
    cfg.domains[0].mode = mode;
    start_cfg(&cfg);
}

/* ---- running clients ---- */

struct h2_out {
    int rc;
    char *out, *err;
};

static void h2_out_fini(struct h2_out *o)
{
    free(o->out);
    free(o->err);
}

/* Runs h2c against the listener with the NULL-terminated extra arguments. */
static void h2c_run(struct h2_out *o, int timeout_ms, ...)
{
    char *argv[64];
    size_t n = 0;
    static char port[16];
    snprintf(port, sizeof(port), "%u", env.port);
    argv[n++] = getenv("MTLB_H2C");
    cr_assert(argv[0] != NULL, "MTLB_H2C is not set (run via meson)");
    argv[n++] = "--port";
    argv[n++] = port;
    va_list ap;
    va_start(ap, timeout_ms);
    for (char *a = va_arg(ap, char *); a != NULL && n < 62; a = va_arg(ap, char *)) {
        argv[n++] = a;
    }
    va_end(ap);
    argv[n] = NULL;
    o->rc = it_run(&env, argv, &o->out, &o->err, timeout_ms + 5000);
    cr_assert(o->out != NULL && o->err != NULL);
}

static char *good_cert(void)
{
    return (char *)it_pki("client/good.crt");
}

static char *good_key(void)
{
    return (char *)it_pki("client/good.key");
}

/* One h2c stream line. */
struct h2s {
    int id, status, trailers;
    unsigned long long bytes, fnv, sent;
    char reset[48], state[16], path[256];
};

/* The n-th (0-based) stream line whose path is `path` (NULL: any). */
static bool h2_stream(const char *out, const char *path, size_t nth, struct h2s *s)
{
    for (const char *l = out; l != NULL && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, "stream ", 7) != 0) {
            continue;
        }
        int k = sscanf(l,
                       "stream %d status=%d bytes=%llu fnv=%llx sent=%llu trailers=%d reset=%47s "
                       "state=%15s path=%255s",
                       &s->id, &s->status, &s->bytes, &s->fnv, &s->sent, &s->trailers, s->reset,
                       s->state, s->path);
        cr_assert_eq(k, 9, "unparsable h2c line: %.200s", l);
        if ((path == NULL || strcmp(s->path, path) == 0) && nth-- == 0) {
            return true;
        }
    }
    return false;
}

static void get_stream(const struct h2_out *o, const char *path, size_t nth, struct h2s *s)
{
    cr_assert(h2_stream(o->out, path, nth, s), "no stream line #%zu for %s; h2c (rc %d):\n%s%s",
              nth, path ? path : "(any)", o->rc, o->out, o->err);
}

static size_t count_lines(const char *out, const char *prefix)
{
    size_t n = 0, len = strlen(prefix);
    for (const char *l = out; l != NULL && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        n += strncmp(l, prefix, len) == 0;
    }
    return n;
}

/* The response body of stream id as printed by --print-body, lines rejoined with CRLF. */
static char *h2_body(const char *out, int id)
{
    char prefix[32];
    int plen = snprintf(prefix, sizeof(prefix), "body %d| ", id);
    size_t cap = strlen(out) + 64, n = 0;
    char *b = calloc(1, cap);
    for (const char *l = out; l != NULL && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, prefix, (size_t)plen) == 0) {
            const char *nl = strchr(l, '\n');
            size_t len = nl ? (size_t)(nl - l) - (size_t)plen : strlen(l + plen);
            memcpy(b + n, l + plen, len);
            memcpy(b + n + len, "\r\n", 2);
            n += len + 2;
        }
    }
    return b;
}

static void assert_header(const char *echoed, const char *name, const char *want)
{
    char v[512];
    cr_assert_eq(it_header_count(echoed, name), 1, "expected one %s; backend got:\n%s", name,
                 echoed);
    it_header_get(echoed, name, v, sizeof(v));
    cr_assert_str_eq(v, want, "%s; backend got:\n%s", name, echoed);
}

/* FNV-1a 64 of the echo tool's pattern (byte i = 'a' + i % 26) of n bytes. */
static unsigned long long pattern_fnv(unsigned long long n)
{
    char block[26 * 1024];
    for (size_t i = 0; i < sizeof(block); i++) {
        block[i] = (char)('a' + i % 26);
    }
    uint64_t h = IT_FNV_INIT;
    for (unsigned long long off = 0; off < n;) {
        size_t take = n - off < sizeof(block) ? (size_t)(n - off) : sizeof(block);
        h = it_fnv1a64(h, block, take);
        off += take;
    }
    return h;
}

static void expect_ok(const struct h2_out *o, const char *path, unsigned long long bytes)
{
    struct h2s s;
    get_stream(o, path, 0, &s);
    cr_assert_eq(s.status, 200, "%s: status %d\n%s", path, s.status, o->out);
    cr_assert_str_eq(s.reset, "-", "%s: reset %s\n%s", path, s.reset, o->out);
    cr_assert_eq(s.bytes, bytes, "%s: %llu bytes, want %llu", path, s.bytes, bytes);
    cr_assert_eq(s.fnv, pattern_fnv(bytes), "%s: body differs from the pattern", path);
}

/* curl --http2 GET; returns curl's exit code, *out gets the body then "\nHTTPVER=<v>". */
static int curl_h2(const char *flag, bool with_cert, const char *path, char **out)
{
    char url[128], resolve[96];
    snprintf(url, sizeof(url), "https://api.example.com:%u%s", env.port, path);
    snprintf(resolve, sizeof(resolve), "api.example.com:%u:127.0.0.1", env.port);
    char *argv[20] = {"/usr/bin/curl", "-sS",   "-k", (char *)flag,
                      "--resolve",     resolve, "-w", "\nHTTPVER=%{http_version}\n",
                      "--max-time",    "10",    url,  NULL};
    if (with_cert) {
        argv[11] = "--cert";
        argv[12] = good_cert();
        argv[13] = "--key";
        argv[14] = good_key();
        argv[15] = NULL;
    }
    char *err = NULL;
    int rc = it_run(&env, argv, out, &err, 15000);
    free(err);
    return rc;
}

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
    struct it_config cfg = {0};
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

static void fresh_connection_works(void)
{
    struct h2_out o;
    h2c_run(&o, 5000, "--cert", good_cert(), "--key", good_key(), "--stream", "path=/size/1234",
            NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    expect_ok(&o, "/size/1234", 1234);
    h2_out_fini(&o);
}

/* Later streams on the connection, each with a body: any backend connection left with stale
 * bytes of a reset stream would garble them. */
#define AFTER_RESET "path=/after,body=5000,n=6,after"

static void expect_after_reset(const struct h2_out *o)
{
    for (size_t i = 0; i < 6; i++) {
        struct h2s s;
        get_stream(o, "/after", i, &s);
        cr_assert_eq(s.status, 200, "stream %d after the reset: %d\n%s", s.id, s.status, o->out);
        char *b = h2_body(o->out, s.id);
        cr_assert(strncmp(b, "POST /after HTTP/1.1\r\n", 22) == 0, "backend got:\n%s", b);
        unsigned long long bytes = 0, fnv = 0;
        cr_assert(it_echo_body_stats(b, &bytes, &fnv), "%s", b);
        cr_assert(bytes == 5000 && fnv == pattern_fnv(5000), "stream %d: body garbled", s.id);
        free(b);
    }
}

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

/* ---- backend failures stay on their stream ---- */

Test(h2, backend_failure_affects_only_its_stream)
{
    struct it_config cfg = {0};
    start_cfg(&cfg);
    struct h2_out o;
    h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--stream", "path=/drop",
            "--stream", "path=/garbage", "--stream", "path=/sleep/300", "--stream",
            "path=/size/100000", "--stream", "path=/size/10,after", NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    struct h2s s;
    get_stream(&o, "/drop", 0, &s);
    cr_assert_eq(s.status, 502, "/drop: %d\n%s", s.status, o.out);
    get_stream(&o, "/garbage", 0, &s);
    cr_assert_eq(s.status, 502, "/garbage: %d\n%s", s.status, o.out);
    get_stream(&o, "/sleep/300", 0, &s);
    cr_assert_eq(s.status, 200, "%s", o.out);
    expect_ok(&o, "/size/100000", 100000);
    expect_ok(&o, "/size/10", 10);
    cr_assert_null(strstr(o.out, "goaway last_stream_id"), "%s", o.out);
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

Test(h2, backend_timeout_is_504_on_its_stream)
{
    struct it_config cfg = {0}; /* backend_response: 1s */
    start_cfg(&cfg);
    struct h2_out o;
    h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--stream", "path=/sleep/3000",
            "--stream", "path=/size/1000", "--stream", "path=/size/2000,after", NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    struct h2s s;
    get_stream(&o, "/sleep/3000", 0, &s);
    cr_assert_eq(s.status, 504, "/sleep/3000: %d\n%s", s.status, o.out);
    expect_ok(&o, "/size/1000", 1000);
    expect_ok(&o, "/size/2000", 2000);
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

Test(h2, no_backend_available_is_503_per_stream)
{
    struct it_config cfg = {.n_servers = 1};
    cfg.servers[0] = it_free_port(); /* nobody listens there */
    start_cfg(&cfg);
    struct h2_out o;
    h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--stream", "path=/a,n=3",
            "--stream", "path=/b,after", NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    for (size_t i = 0; i < 3; i++) {
        struct h2s s;
        get_stream(&o, "/a", i, &s);
        cr_assert_eq(s.status, 503, "%s", o.out);
    }
    struct h2s s;
    get_stream(&o, "/b", 0, &s);
    cr_assert_eq(s.status, 503, "the connection must carry on after 503s:\n%s", o.out);
    cr_assert_null(strstr(o.out, "goaway last_stream_id"), "%s", o.out);
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

/* An answer before the request body is complete (here 503: nobody listens) is followed by
 * RST_STREAM(NO_ERROR), so the client stops uploading and the stream does not linger
 * half-open (RFC 9113 section 8.1). Only the stream's first window was taken. */
Test(h2, early_answer_stops_the_upload)
{
    struct it_config cfg = {.n_servers = 1};
    cfg.servers[0] = it_free_port();
    start_cfg(&cfg);
    struct h2_out o;
    h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--stream",
            "path=/up,body=3000000", "--stream", "path=/next,after", NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    struct h2s s;
    get_stream(&o, "/up", 0, &s);
    cr_assert_eq(s.status, 503, "%s", o.out);
    cr_assert_str_eq(s.reset, "NO_ERROR/peer", "%s", o.out);
    cr_assert(s.sent <= 65535, "the client sent %llu bytes past its window", s.sent);
    get_stream(&o, "/next", 0, &s);
    cr_assert_eq(s.status, 503, "the connection must carry on:\n%s", o.out);
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

/* A stream whose client stops sending its body is answered 408 after client_body, alone:
 * the other streams of the connection carry on. */
Test(h2, stalled_upload_times_out_on_its_stream)
{
    struct it_config cfg = {.timeouts = "{handshake: 2s, client_header: 2s, client_body: 1s, "
                                        "client_idle: 10s, backend_connect: 1s, "
                                        "backend_response: 5s, backend_idle: 10s, drain: 2s}"};
    start_cfg(&cfg);
    struct h2_out o;
    double t0 = it_now();
    h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--stream",
            "path=/stall,body=100000,stall-send=5000", "--stream", "path=/sleep/1500", NULL);
    double took = it_now() - t0;
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    struct h2s s;
    get_stream(&o, "/stall", 0, &s);
    cr_assert_eq(s.status, 408, "%s", o.out);
    cr_assert_str_eq(s.reset, "NO_ERROR/peer", "%s", o.out);
    get_stream(&o, "/sleep/1500", 0, &s);
    cr_assert_eq(s.status, 200, "%s", o.out);
    cr_assert(took < 8, "took %.1f s", took);
    cr_assert(it_count_lines(env.err_log,
                             (const char *const[]){"event=client_timeout", "stream=1", NULL}) >= 1,
              "no client_timeout log line for the stream");
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

/* ---- 421 ---- */

/* A connection verified under other.example.com's truststore must not carry a stream for
 * api.example.com, whose truststore would have refused that certificate. */
Test(h2, authority_of_a_differently_verified_domain_is_misdirected)
{
    struct it_config cfg = {.n_domains = 2};
    cfg.domains[0] = (struct it_domain){.names = {"api.example.com", "localhost"},
                                        .mode = "mandatory",
                                        .truststore = "trust/full.pem"};
    cfg.domains[1] = (struct it_domain){.names = {"other.example.com"},
                                        .cert = "server/other.crt",
                                        .key = "server/other.key",
                                        .mode = "mandatory",
                                        .truststore = "trust/other.pem"};
    start_cfg(&cfg);
    struct h2_out o;
    h2c_run(&o, 10000, "--print-body", "--sni", "other.example.com", "--cert",
            (char *)it_pki("client/other-chain.pem"), "--key", (char *)it_pki("client/other.key"),
            "--stream", "path=/mis,authority=api.example.com", "--stream",
            "path=/mis2,authority=localhost:8443", "--stream",
            "path=/same,authority=other.example.com", "--stream",
            "path=/same2,authority=other.example.com:8443", NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    static const struct {
        const char *path;
        int status;
    } want[] = {{"/mis", 421}, {"/mis2", 421}, {"/same", 200}, {"/same2", 200}};
    for (size_t i = 0; i < 4; i++) {
        struct h2s s;
        get_stream(&o, want[i].path, 0, &s);
        cr_assert_eq(s.status, want[i].status, "%s: %d, want %d\n%s", want[i].path, s.status,
                     want[i].status, o.out);
        char *b = h2_body(o.out, s.id);
        if (want[i].status == 421) {
            cr_assert_null(strstr(b, "X-SSL-Client-DN"),
                           "a misdirected stream reached the "
                           "backend:\n%s",
                           b);
        } else {
            assert_header(b, "X-SSL-Client-Verify", "SUCCESS");
        }
        free(b);
    }
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

/* ---- limits ---- */

static const char *settings_line(const char *out)
{
    const char *s = strstr(out, "settings ");
    cr_assert_not_null(s, "no SETTINGS from the server:\n%s", out);
    return s;
}

Test(h2, advertises_max_concurrent_streams)
{
    struct it_config cfg = {0};
    start_cfg(&cfg);
    struct h2_out o;
    h2c_run(&o, 5000, "--cert", good_cert(), "--key", good_key(), NULL);
    cr_assert_eq(o.rc, 0, "%s", o.out);
    const char *s = settings_line(o.out);
    cr_assert(strstr(s, " max_concurrent_streams=100") != NULL &&
                  strstr(s, " max_concurrent_streams=100") < strchr(s, '\n'),
              "default must be 100:\n%s", o.out);
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

Test(h2, configured_max_concurrent_streams_is_honoured)
{
    struct it_config cfg = {.limits = "{max_header_bytes: 16384, max_headers: 100, "
                                      "h2_max_concurrent_streams: 7}"};
    start_cfg(&cfg);
    struct h2_out o;
    h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--stream",
            "path=/size/3000,n=40", NULL);
    cr_assert_eq(o.rc, 0, "%s", o.out);
    const char *s = settings_line(o.out);
    cr_assert(strstr(s, " max_concurrent_streams=7") != NULL &&
                  strstr(s, " max_concurrent_streams=7") < strchr(s, '\n'),
              "%s", o.out);
    for (size_t i = 0; i < 40; i++) {
        struct h2s st;
        get_stream(&o, "/size/3000", i, &st);
        cr_assert_eq(st.status, 200, "%s", o.out);
        cr_assert_eq(st.bytes, 3000);
    }
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

/* A header list over limits.max_header_bytes never reaches the backend: 431, a stream reset or
 * a GOAWAY; mtlb lives on and a header list under the limit passes. */
Test(h2, header_list_too_large_is_refused)
{
    struct it_config cfg = {.limits = H2_LIMITS};
    start_cfg(&cfg);
    struct h2_out o;
    h2c_run(&o, 5000, "--print-body", "--cert", good_cert(), "--key", good_key(), "--stream",
            "path=/big,big-header=20000", NULL);
    struct h2s s;
    /* Refused like an HTTP/1.1 head that is too large: 431 on that stream only. */
    bool have = h2_stream(o.out, "/big", 0, &s);
    cr_assert(have && s.status == 431, "an oversized header list was not answered 431:\n%s%s",
              o.out, o.err);
    cr_assert_null(strstr(o.out, "goaway "), "the connection must survive:\n%s", o.out);
    cr_assert_null(strstr(o.out, "x-big: xxx"), "the header reached the backend");
    h2_out_fini(&o);
    it_mtlb_assert_alive(&env);
    h2c_run(&o, 5000, "--print-body", "--cert", good_cert(), "--key", good_key(), "--stream",
            "path=/medium,big-header=8000", NULL);
    cr_assert_eq(o.rc, 0, "%s", o.out);
    get_stream(&o, "/medium", 0, &s);
    cr_assert_eq(s.status, 200, "a header list under the limit: %d\n%s", s.status, o.out);
    char *b = h2_body(o.out, s.id);
    char v[9000];
    cr_assert(it_header_get(b, "x-big", v, sizeof(v)) && strlen(v) == 8000, "%.300s", b);
    free(b);
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

/* ---- connection lifetime ---- */

/* h2c in the background, stdout to a file; returns its pid. */
static pid_t h2c_spawn(const char *out_path, char *const extra[])
{
    char *argv[32];
    size_t n = 0;
    static char port[16];
    snprintf(port, sizeof(port), "%u", env.port);
    argv[n++] = getenv("MTLB_H2C");
    argv[n++] = "--port";
    argv[n++] = port;
    for (size_t i = 0; extra[i] != NULL && n < 31; i++) {
        argv[n++] = extra[i];
    }
    argv[n] = NULL;
    pid_t pid = fork();
    cr_assert(pid != -1);
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd == -1 || dup2(fd, 1) == -1 || dup2(fd, 2) == -1) {
            _exit(126);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static int h2c_reap(pid_t pid, int timeout_ms)
{
    double deadline = it_now() + timeout_ms / 1000.0;
    int st;
    while (it_now() < deadline) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    cr_assert_fail("h2c did not finish within %d ms", timeout_ms);
    return -1;
}

Test(h2, sigterm_sends_goaway_and_finishes_streams)
{
    struct it_config cfg = {.timeouts = "{handshake: 2s, client_header: 2s, client_body: 2s, "
                                        "client_idle: 5s, backend_connect: 1s, "
                                        "backend_response: 5s, backend_idle: 5s, drain: 5s}"};
    start_cfg(&cfg);
    char out_path[320];
    snprintf(out_path, sizeof(out_path), "%s/h2c-term.out", env.dir);
    char *args[] = {"--cert",   good_cert(),        "--key", good_key(), "--timeout", "10000",
                    "--stream", "path=/sleep/1500", NULL};
    pid_t pid = h2c_spawn(out_path, args);
    const char *opened[] = {"open 1 ", NULL};
    cr_assert_eq(it_wait_lines(out_path, opened, 1, 3000), 1, "h2c did not open its stream");
    usleep(300 * 1000); /* the request is at the backend, which sleeps */
    double t0 = it_now();
    kill(env.mtlb, SIGTERM);
    int rc = h2c_reap(pid, 10000);
    char *out = it_read_file(out_path, NULL);
    cr_assert_eq(rc, 0, "h2c exit %d:\n%s", rc, out);
    cr_assert(strstr(out, "goaway last_stream_id=") != NULL, "no GOAWAY:\n%s", out);
    cr_assert(strstr(out, "error=NO_ERROR") != NULL, "%s", out);
    struct h2s s;
    cr_assert(h2_stream(out, "/sleep/1500", 0, &s), "%s", out);
    cr_assert_eq(s.status, 200, "the in-flight stream must complete:\n%s", out);
    cr_assert_str_eq(s.reset, "-", "%s", out);
    free(out);
    it_mtlb_wait(&env, 6000);
    cr_assert(it_now() - t0 < 6.0);
}

Test(h2, idle_connection_gets_goaway_then_close)
{
    struct it_config cfg = {.timeouts = "{handshake: 2s, client_header: 2s, client_body: 2s, "
                                        "client_idle: 1s, backend_connect: 1s, "
                                        "backend_response: 1s, backend_idle: 5s, drain: 2s}"};
    start_cfg(&cfg);
    struct h2_out o;
    double t0 = it_now();
    h2c_run(&o, 8000, "--cert", good_cert(), "--key", good_key(), "--linger", "6000", NULL);
    double took = it_now() - t0;
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    struct h2s s;
    get_stream(&o, "/", 0, &s);
    cr_assert_eq(s.status, 200, "%s", o.out);
    cr_assert(strstr(o.out, "goaway last_stream_id=1 ") != NULL, "no GOAWAY before close:\n%s",
              o.out);
    cr_assert(strstr(o.out, " peer_closed=1 ") != NULL, "mtlb did not close:\n%s", o.out);
    cr_assert(took < 4.5, "closed after %.1f s; client_idle is 1 s", took);
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

/* CVE-2023-44487: streams opened and reset at once, thousands of them. mtlb ends that
 * connection with a GOAWAY carrying an error, stays up, and serves everyone else. */
Test(h2, rapid_reset_is_cut_off)
{
    struct it_config cfg = {0};
    start_cfg(&cfg);
    struct h2_out o;
    h2c_run(&o, 15000, "--cert", good_cert(), "--key", good_key(), "--rapid-reset", "20000",
            "--linger", "3000", NULL);
    const char *g = strstr(o.out, "goaway last_stream_id=");
    cr_assert_not_null(g, "no GOAWAY after a rapid reset (h2c exit %d):\n%s%s", o.rc, o.out, o.err);
    cr_assert(strncmp(strstr(g, "error="), "error=NO_ERROR", 14) != 0,
              "GOAWAY without an error code:\n%s", o.out);
    /* ENHANCE_YOUR_CALM from mtlb's own frame budget, or INTERNAL_ERROR from nghttp2's
     * stream-reset limiter, whichever trips first (a slow machine spreads the flood over
     * more than one budget second). */
    cr_assert(strstr(g, "error=ENHANCE_YOUR_CALM") != NULL ||
                  strstr(g, "error=INTERNAL_ERROR") != NULL,
              "%s", o.out);
    cr_assert(strstr(o.out, " peer_closed=1 ") != NULL, "connection not closed:\n%s", o.out);
    h2_out_fini(&o);
    it_mtlb_assert_alive(&env);
    fresh_connection_works();
    char *out = NULL;
    cr_assert_eq(curl_h2("--http1.1", true, "/still-here", &out), 0, "%s", out);
    cr_assert(strncmp(out, "GET /still-here HTTP/1.1\r\n", 26) == 0, "%s", out);
    free(out);
    it_mtlb_stop(&env, 5000);
}
