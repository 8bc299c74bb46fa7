/* libFuzzer target for request routing (src/http/route.c, route_path.c). Beyond "does not
 * crash": normalization never needs more than len + 1 bytes, is idempotent, leaves no dot
 * segment and starts with "/"; matching a fixed table answers 0, 400 or 404 and a rewritten
 * target stays inside the buffer, starts with "/" and keeps the query. A violated property
 * aborts. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtlb/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool has_dot_segment(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '/') {
            continue;
        }
        size_t e = i + 1;
        while (e < n && p[e] != '/') {
            e++;
        }
        size_t l = e - i - 1;
        if ((l == 1 && p[i + 1] == '.') || (l == 2 && p[i + 1] == '.' && p[i + 2] == '.')) {
            return true;
        }
    }
    return false;
}

static void check_normalize(const char *in, size_t len)
{
    char *out = malloc(len + 1);
    char *again = malloc(len + 1);
    ssize_t n = mtlb_route_normalize(in, len, out, len + 1);

    CHECK(n != -ENOSPC);
    if (n >= 0) {
        CHECK(n >= 1 && (size_t)n <= len + 1 && out[0] == '/');
        CHECK(!has_dot_segment(out, (size_t)n));
        ssize_t m = mtlb_route_normalize(out, (size_t)n, again, len + 1);
        CHECK(m == n && memcmp(out, again, (size_t)n) == 0);
    }
    free(out);
    free(again);
}

static struct mtlb_backend_cfg pools[] = {{.name = "app"}, {.name = "orders"}};

static void check_match(const char *in, size_t len)
{
    static struct mtlb_route_cfg r[] = {
        {.kind = MTLB_ROUTE_PREFIX, .path = "/orders/", .backend_index = 1, .strip_prefix = true},
        {.kind = MTLB_ROUTE_EXACT, .path = "/x", .backend_index = 0, .rewrite_prefix = "/y/z"},
        {.kind = MTLB_ROUTE_PATTERN,
         .path = "/p/{app}/",
         .backend = "{app}",
         .backend_index = MTLB_ROUTE_NO_POOL,
         .rewrite_prefix = "/"},
        {.kind = MTLB_ROUTE_PREFIX, .path = "/h/", .host = "*.example.com", .backend_index = 1},
    };
    struct mtlb_routes *rt = NULL;
    CHECK(mtlb_route_compile(r, 4, pools, 2, &rt) == 0);
    size_t cap = mtlb_route_buf_size(rt, len);
    char *buf = malloc(cap);
    struct mtlb_route_result res;
    int st = mtlb_route_match(rt, "a.example.com", (struct mtlb_slice){in, len}, false,
                              MTLB_ROUTE_NO_POOL, buf, cap, &res);
    CHECK(st == 0 || st == 400 || st == 404);
    CHECK(st != 0 || res.pool < 2);
    if (st == 0 && res.rewritten) {
        CHECK(res.target.p >= buf && res.target.p + res.target.len <= buf + cap);
        CHECK(res.target.len >= 1 && res.target.p[0] == '/');
        const char *q = memchr(in, '?', len);
        if (q != NULL) {
            size_t ql = len - (size_t)(q - in);
            CHECK(res.target.len >= ql && memcmp(res.target.p + res.target.len - ql, q, ql) == 0);
        }
    }
    free(buf);
    mtlb_route_destroy(rt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly size bytes, so ASan sees any over-read */
    char *in = malloc(size ? size : 1);
    memcpy(in, data, size);
    const char *q = memchr(in, '?', size);
    check_normalize(in, q != NULL ? (size_t)(q - in) : size);
    check_match(in, size);
    free(in);
    return 0;
}
