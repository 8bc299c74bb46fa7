/* Helpers shared by the HTTP/2 integration suites: the suite's environment, starting mtlb,
 * running the h2c test client and curl --http2, and reading h2c's output lines. */
#ifndef MTLB_IT_H2_UTIL_H
#define MTLB_IT_H2_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "harness.h"

#define GOOD_DN "/C=PL/O=mtlb Test/CN=good-client"
#define MIB (1024ULL * 1024ULL)
#define H2_LIMITS "{max_header_bytes: 16384, max_headers: 100}"
/* Six streams opened once every earlier stream closed. */
#define AFTER_RESET "path=/after,body=5000,n=6,after"

extern struct it_env env; /* the current test's environment (suite init/fini) */

/* mtlb with cfg (one mtlb-echo backend started when cfg names none). */
void start_cfg(struct it_config *cfg);
/* One domain (api.example.com, localhost) in the given client-auth mode, one backend. */
void start_mode(const char *mode);
/* Two domains: api.example.com and localhost (first_mode, trust/full.pem) and
 * other.example.com (mandatory, trust/other.pem, its own certificate), one backend. */
void start_two_domains(const char *first_mode);

struct h2_out {
    int rc;
    char *out, *err;
};
void h2_out_fini(struct h2_out *o);
/* Runs h2c against the listener with the NULL-terminated extra arguments. */
void h2c_run(struct h2_out *o, int timeout_ms, ...);
char *good_cert(void);
char *good_key(void);

/* One h2c stream line. */
struct h2s {
    int id, status, trailers;
    unsigned long long bytes, fnv, sent;
    char reset[48], state[16], path[256];
};
/* The n-th (0-based) stream line whose path is `path` (NULL: any); false when absent. */
bool h2_stream(const char *out, const char *path, size_t nth, struct h2s *s);
/* The same, failing the test when absent. */
void get_stream(const struct h2_out *o, const char *path, size_t nth, struct h2s *s);
size_t count_lines(const char *out, const char *prefix);
/* Stream id's body lines (h2c --print-body), joined; malloc'd. */
char *h2_body(const char *out, int id);
void assert_header(const char *echoed, const char *name, const char *want);
/* FNV-1a of the first n bytes of mtlb-echo's /size pattern. */
unsigned long long pattern_fnv(unsigned long long n);
/* The stream got 200 with exactly `bytes` bytes of the pattern. */
void expect_ok(const struct h2_out *o, const char *path, unsigned long long bytes);
/* curl with `flag` (--http2, --http1.1...) to path; returns curl's exit code. */
int curl_h2(const char *flag, bool with_cert, const char *path, char **out);
/* A fresh connection is served (after something was done to another). */
void fresh_connection_works(void);
/* The AFTER_RESET streams all succeeded. */
void expect_after_reset(const struct h2_out *o);

#endif
