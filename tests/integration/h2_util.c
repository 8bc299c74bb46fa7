/* Helpers shared by the HTTP/2 integration suites (test_h2.c, test_h2_limits.c): starting
 * mtlb, running h2c and curl, and reading h2c's output (format: `h2c --help`). */
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

struct it_env env;

/* ---- starting mtlb ---- */

void start_cfg(struct it_config *cfg)
{
    if (cfg->n_servers == 0) {
        cfg->servers[0] = it_echo_start(&env, "b1");
        cfg->n_servers = 1;
    }
    it_mtlb_start(&env, cfg);
}

/* One domain (api.example.com, localhost) in the given client-auth mode, one backend. */
void start_mode(const char *mode)
{
    struct it_config cfg = {.n_domains = 1};
    cfg.domains[0].mode = mode;
    start_cfg(&cfg);
}

void start_two_domains(const char *first_mode)
{
    struct it_config cfg = {.n_domains = 2};
    cfg.domains[0] = (struct it_domain){.names = {"api.example.com", "localhost"},
                                        .mode = first_mode,
                                        .truststore = "trust/full.pem"};
    cfg.domains[1] = (struct it_domain){.names = {"other.example.com"},
                                        .cert = "server/other.crt",
                                        .key = "server/other.key",
                                        .mode = "mandatory",
                                        .truststore = "trust/other.pem"};
    start_cfg(&cfg);
}

/* ---- running clients ---- */

void h2_out_fini(struct h2_out *o)
{
    free(o->out);
    free(o->err);
}

/* Runs h2c against the listener with the NULL-terminated extra arguments. */
void h2c_run(struct h2_out *o, int timeout_ms, ...)
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

char *good_cert(void)
{
    return (char *)it_pki("client/good.crt");
}

char *good_key(void)
{
    return (char *)it_pki("client/good.key");
}

/* The n-th (0-based) stream line whose path is `path` (NULL: any). */
bool h2_stream(const char *out, const char *path, size_t nth, struct h2s *s)
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

void get_stream(const struct h2_out *o, const char *path, size_t nth, struct h2s *s)
{
    cr_assert(h2_stream(o->out, path, nth, s), "no stream line #%zu for %s; h2c (rc %d):\n%s%s",
              nth, path ? path : "(any)", o->rc, o->out, o->err);
}

size_t count_lines(const char *out, const char *prefix)
{
    size_t n = 0, len = strlen(prefix);
    for (const char *l = out; l != NULL && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        n += strncmp(l, prefix, len) == 0;
    }
    return n;
}

/* The response body of stream id as printed by --print-body, lines rejoined with CRLF. */
char *h2_body(const char *out, int id)
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

void assert_header(const char *echoed, const char *name, const char *want)
{
    char v[512];
    cr_assert_eq(it_header_count(echoed, name), 1, "expected one %s; backend got:\n%s", name,
                 echoed);
    it_header_get(echoed, name, v, sizeof(v));
    cr_assert_str_eq(v, want, "%s; backend got:\n%s", name, echoed);
}

/* FNV-1a 64 of the echo tool's pattern (byte i = 'a' + i % 26) of n bytes. */
unsigned long long pattern_fnv(unsigned long long n)
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

void expect_ok(const struct h2_out *o, const char *path, unsigned long long bytes)
{
    struct h2s s;
    get_stream(o, path, 0, &s);
    cr_assert_eq(s.status, 200, "%s: status %d\n%s", path, s.status, o->out);
    cr_assert_str_eq(s.reset, "-", "%s: reset %s\n%s", path, s.reset, o->out);
    cr_assert_eq(s.bytes, bytes, "%s: %llu bytes, want %llu", path, s.bytes, bytes);
    cr_assert_eq(s.fnv, pattern_fnv(bytes), "%s: body differs from the pattern", path);
}

/* curl --http2 GET; returns curl's exit code, *out gets the body then "\nHTTPVER=<v>". */
int curl_h2(const char *flag, bool with_cert, const char *path, char **out)
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

void fresh_connection_works(void)
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
void expect_after_reset(const struct h2_out *o)
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
