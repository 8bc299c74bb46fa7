/* Unit tests for request routing (src/http/route.c): the path normalization every bypass
 * trick must go through (dot segments, percent-encodings of unreserved characters, encoded
 * slashes hiding dot segments), first-match-wins over the compiled trie, hosts, patterns and
 * the target rewrite. Inputs sit against a guard page: any over-read crashes. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "guard_page.h"
#include "mtlb/route.h"

struct norm_case {
    char in[64];
    char out[64]; /* "" when refused */
};

ParameterizedTestParameters(route, normalize)
{
    static struct norm_case cases[] = {
        {"/", "/"},
        {"", "/"},
        {"/orders/x", "/orders/x"},
        {"/admin/../orders/", "/orders/"},
        {"/orders/../admin/", "/admin/"},
        {"/%61dmin/", "/admin/"},
        {"/%41DMIN/", "/ADMIN/"},
        {"/./admin/", "/admin/"},
        {"/a/./b/.", "/a/b/"},
        {"/a/b/..", "/a/"},
        {"/a/b/../..", "/"},
        {"/..", "/"},
        {"/../../admin", "/admin"},
        {"/.", "/"},
        {"//admin", "//admin"},
        {"/a//b/", "/a//b/"},
        {"/a//..", "/a/"},
        {"/%2e%2e/admin/", "/admin/"},
        {"/x/%2E%2E/admin/", "/admin/"},
        {"/x/.%2e/admin", "/admin"},
        {"/%2e/admin", "/admin"},
        {"/a%2fb", "/a%2Fb"},
        {"/a%2Fb/c", "/a%2Fb/c"},
        {"/%7e%5f%2d", "/~_-"},
        {"/%25", "/%25"},
        {"/%2541dmin", "/%2541dmin"},
        {"/a...", "/a..."},
        {"/...", "/..."},
        /* refused: not origin form, bad encodings, encoded slashes around dot segments */
        {"admin", ""},
        {"*", ""},
        {"/a%", ""},
        {"/a%4", ""},
        {"/a%zz", ""},
        {"/a b", ""},
        {"/a#b", ""},
        {"/a\x01", ""},
        {"/x/..%2Fadmin", ""},
        {"/x/..%2fadmin", ""},
        {"/x/%2E%2E%2Fadmin", ""},
        {"/x/%2F..", ""},
        {"/x/..%5Cadmin", ""},
        {"/x/..\\admin", ""},
        {"/x/.%2F", ""},
        /* a dot segment with parameters: servlet containers drop them and climb */
        {"/public/..;/admin/", ""},
        {"/public/..;x=1/admin/", ""},
        {"/.;/admin/", ""},
        {"/public/%2e%2e;/admin/", ""},
    };
    return cr_make_param_array(struct norm_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct norm_case *c, route, normalize)
{
    struct guarded g;
    char out[128];
    const char *in = guard_copy(&g, c->in, strlen(c->in));
    ssize_t n = mtlb_route_normalize(in, strlen(c->in), out, sizeof(out));

    if (c->out[0] == '\0') {
        cr_expect_eq(n, -EINVAL, "%s: %zd", c->in, n);
    } else {
        cr_assert_geq(n, 0, "%s refused", c->in);
        cr_expect_eq((size_t)n, strlen(c->out), "%s -> %.*s", c->in, (int)n, out);
        cr_expect(memcmp(out, c->out, (size_t)n) == 0, "%s -> %.*s", c->in, (int)n, out);
    }
    guard_free(&g);
}

Test(route, normalize_never_overflows)
{
    char out[8];

    cr_expect_eq(mtlb_route_normalize("/abcdefghij", 11, out, sizeof(out)), -ENOSPC);
    cr_expect_eq(mtlb_route_normalize("/abc", 4, out, 0), -ENOSPC);
}

/* ---- a table of routes ---- */

static struct mtlb_backend_cfg backends[] = {
    {.name = "default"}, {.name = "orders"},   {.name = "admin"},
    {.name = "billing"}, {.name = "app-shop"},
};

#define R(k, p, h, pool)                                                                           \
    {                                                                                              \
        .kind = (k), .path = (p), .host = (h), .backend_index = (pool)                             \
    }

static struct mtlb_routes *compile(struct mtlb_route_cfg *r, size_t n)
{
    struct mtlb_routes *rt = NULL;

    cr_assert_eq(mtlb_route_compile(r, n, backends, 5, &rt), 0);
    return rt;
}

static int route_of(struct mtlb_routes *rt, const char *host, const char *target,
                    struct mtlb_route_result *res, char *buf, size_t cap)
{
    struct mtlb_slice t = {target, strlen(target)};

    cr_assert_leq(mtlb_route_buf_size(rt, t.len), cap);
    return mtlb_route_match(rt, host, t, false, 0, buf, cap, res);
}

Test(route, first_match_wins_in_configuration_order)
{
    struct mtlb_route_cfg r[] = {
        R(MTLB_ROUTE_PREFIX, "/orders/special/", NULL, 3),
        R(MTLB_ROUTE_PREFIX, "/orders/", NULL, 1),
        R(MTLB_ROUTE_EXACT, "/orders/special/x", NULL, 2), /* shadowed by routes[0] */
        R(MTLB_ROUTE_EXACT, "/admin", NULL, 2),
        R(MTLB_ROUTE_PREFIX, "/", NULL, 4),
    };
    struct mtlb_routes *rt = compile(r, 5);
    struct mtlb_route_result res;
    char buf[512];
    static const struct {
        const char *target;
        int route;
        size_t pool;
    } cases[] = {
        {"/orders/special/x", 0, 3},
        {"/orders/1?a=b", 1, 1},
        {"/orders", 1, 1},
        {"/admin", 3, 2},
        {"/admin/", 4, 4},
        {"/admin?x", 3, 2},
        {"/orders;p=1/x", 1, 1},
        {"//orders//x", 1, 1},
        {"/orders;jsessionid=1", 1, 1},
        {"/admin;x", 3, 2},
        {"/x/../admin", 3, 2},
        {"/%61dmin", 3, 2},
        {"/orders/specia", 1, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_expect_eq(route_of(rt, "a.test", cases[i].target, &res, buf, sizeof(buf)), 0);
        cr_expect_eq(res.route, cases[i].route, "%s: route %d", cases[i].target, res.route);
        cr_expect_eq(res.pool, cases[i].pool, "%s: pool %zu", cases[i].target, res.pool);
        cr_expect(!res.rewritten);
    }
    mtlb_route_destroy(rt);
}

Test(route, a_later_shorter_prefix_does_not_win_over_an_earlier_longer_one)
{
    struct mtlb_route_cfg r[] = {
        R(MTLB_ROUTE_PREFIX, "/a/", NULL, 1),
        R(MTLB_ROUTE_PREFIX, "/a/b/", NULL, 2),
        R(MTLB_ROUTE_PREFIX, "/", NULL, 3),
    };
    struct mtlb_routes *rt = compile(r, 3);
    struct mtlb_route_result res;
    char buf[256];

    route_of(rt, "", "/a/b/c", &res, buf, sizeof(buf));
    cr_expect_eq(res.route, 0);
    route_of(rt, "", "/b", &res, buf, sizeof(buf));
    cr_expect_eq(res.route, 2);
    mtlb_route_destroy(rt);
}

Test(route, no_match_takes_the_default_pool_or_404)
{
    struct mtlb_route_cfg r[] = {R(MTLB_ROUTE_PREFIX, "/orders/", NULL, 1)};
    struct mtlb_routes *rt = compile(r, 1);
    struct mtlb_route_result res;
    char buf[256];
    struct mtlb_slice t = {"/other", 6};

    cr_expect_eq(mtlb_route_match(rt, "", t, false, 3, buf, sizeof(buf), &res), 0);
    cr_expect_eq(res.pool, 3);
    cr_expect_eq(res.route, -1);
    cr_expect_eq(mtlb_route_match(rt, "", t, false, MTLB_ROUTE_NO_POOL, buf, sizeof(buf), &res),
                 404);
    cr_expect_str_eq(res.reason, "no_route");
    /* "*" (OPTIONS) matches no route */
    t = (struct mtlb_slice){"*", 1};
    cr_expect_eq(mtlb_route_match(rt, "", t, false, 3, buf, sizeof(buf), &res), 0);
    cr_expect_eq(res.pool, 3);
    /* no routes at all: the default, never a parse of the target */
    t = (struct mtlb_slice){"/a%zz", 5};
    cr_expect_eq(mtlb_route_match(NULL, "", t, false, 2, buf, sizeof(buf), &res), 0);
    cr_expect_eq(res.pool, 2);
    mtlb_route_destroy(rt);
}

Test(route, a_target_that_is_not_origin_form_gets_400)
{
    struct mtlb_route_cfg r[] = {R(MTLB_ROUTE_PREFIX, "/", NULL, 1)};
    struct mtlb_routes *rt = compile(r, 1);
    struct mtlb_route_result res;
    char buf[256];
    static const char *const bad[] = {"/a%zz", "/x/..%2Fadmin", "/a b", "x/y"};

    for (size_t i = 0; i < 4; i++) {
        cr_expect_eq(route_of(rt, "", bad[i], &res, buf, sizeof(buf)), 400, "%s", bad[i]);
    }
    mtlb_route_destroy(rt);
}

/* "/admin%2Fx" is "/admin/x" to a backend that decodes slashes: when that reading picks
 * another rule than the bytes sent, the request is refused; when it picks the same, it passes. */
Test(route, an_encoded_slash_that_would_change_the_rule_gets_400)
{
    struct mtlb_route_cfg r[] = {
        R(MTLB_ROUTE_PREFIX, "/admin/", NULL, 2),
        R(MTLB_ROUTE_PREFIX, "/repos/", NULL, 1),
    };
    struct mtlb_routes *rt = compile(r, 2);
    struct mtlb_route_result res;
    char buf[512];
    static const char *const refused[] = {"/admin%2Fx",    "/admin%5Cx",       "/admin\\x",
                                          "/admin%2fx",    "%2Fadmin/x",       "/x%2F..%2F",
                                          "/;b%2Fadmin/x", "/admin%2F%2Fx?q=1"};
    static const char *const passed[] = {"/repos/group%2Fproject", "/admin/a%2Fb", "/other%2Fpath",
                                         "/repos%2Fx%2F..%2F..%2Fy"};

    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        cr_expect_eq(route_of(rt, "", refused[i], &res, buf, sizeof(buf)), 400, "%s: %d route %d",
                     refused[i], res.status, res.route);
    }
    for (size_t i = 0; i < sizeof(passed) / sizeof(passed[0]) - 1; i++) {
        cr_expect_eq(route_of(rt, "", passed[i], &res, buf, sizeof(buf)), 0, "%s", passed[i]);
    }
    route_of(rt, "", "/repos/group%2Fproject", &res, buf, sizeof(buf));
    cr_expect_eq(res.route, 1);
    route_of(rt, "", "/other%2Fpath", &res, buf, sizeof(buf));
    cr_expect_eq(res.route, -1, "no rule either way: the default pool");
    /* a hidden climb is refused whatever the rules say */
    cr_expect_eq(route_of(rt, "", passed[3], &res, buf, sizeof(buf)), 400);
    mtlb_route_destroy(rt);
}

Test(route, hosts_exact_and_wildcard)
{
    struct mtlb_route_cfg r[] = {
        R(MTLB_ROUTE_PREFIX, "/", "api.test", 1),
        R(MTLB_ROUTE_PREFIX, "/", "*.shop.test", 3),
        R(MTLB_ROUTE_PREFIX, "/admin/", NULL, 2),
    };
    struct mtlb_routes *rt = compile(r, 3);
    struct mtlb_route_result res;
    char buf[256];

    route_of(rt, "api.test", "/admin/", &res, buf, sizeof(buf));
    cr_expect_eq(res.route, 0);
    route_of(rt, "eu.shop.test", "/admin/", &res, buf, sizeof(buf));
    cr_expect_eq(res.route, 1);
    route_of(rt, "a.eu.shop.test", "/admin/", &res, buf, sizeof(buf));
    cr_expect_eq(res.route, 2, "one label only");
    route_of(rt, "shop.test", "/admin/", &res, buf, sizeof(buf));
    cr_expect_eq(res.route, 2);
    cr_expect_eq(route_of(rt, "other.test", "/x", &res, buf, sizeof(buf)), 0);
    cr_expect_eq(res.route, -1);
    mtlb_route_destroy(rt);
}

struct rw_case {
    int kind;
    char path[32];
    bool strip;
    char prefix[16]; /* "" none */
    char target[64];
    char out[64]; /* "" not rewritten */
};

ParameterizedTestParameters(route, rewrite)
{
    static struct rw_case cases[] = {
        {MTLB_ROUTE_PREFIX, "/orders/", true, "", "/orders/x", "/x"},
        {MTLB_ROUTE_PREFIX, "/orders/", true, "", "/orders/", "/"},
        {MTLB_ROUTE_PREFIX, "/orders/", true, "", "/orders/x/y?q=1&r", "/x/y?q=1&r"},
        {MTLB_ROUTE_PREFIX, "/orders", true, "", "/orders/x", "/x"},
        {MTLB_ROUTE_PREFIX, "/orders", true, "", "/orders", "/"},
        {MTLB_ROUTE_PREFIX, "/orders", true, "", "/ordersx", "/x"},
        {MTLB_ROUTE_PREFIX, "/orders/", false, "/api/", "/orders/x", "/api/x"},
        {MTLB_ROUTE_PREFIX, "/orders/", false, "/api/", "/orders/", "/api/"},
        {MTLB_ROUTE_PREFIX, "/orders", false, "/api/", "/orders/x?y", "/api/x?y"},
        {MTLB_ROUTE_PREFIX, "/orders/", false, "/api", "/orders/x", "/apix"},
        {MTLB_ROUTE_EXACT, "/old", false, "/new", "/old?a", "/new?a"},
        /* the rest is sent normalized when rewritten, unchanged otherwise */
        {MTLB_ROUTE_PREFIX, "/orders/", true, "", "/orders/a/../%62?%61", "/b?%61"},
        {MTLB_ROUTE_PREFIX, "/orders/", false, "", "/orders/a/../%62?%61", ""},
        {MTLB_ROUTE_PATTERN, "/{app}/", false, "/", "/shop/x/y", "/x/y"},
        {MTLB_ROUTE_PATTERN, "/{app}/", true, "", "/shop/", "/"},
        {MTLB_ROUTE_PATTERN, "/v1/{app}", false, "/in/", "/v1/shop/x", "/in/x"},
        {MTLB_ROUTE_PATTERN, "/v1/{app}", false, "", "/v1/shop/x", ""},
        /* matched on the key (parameters out, "//" merged); the rest keeps its own bytes */
        {MTLB_ROUTE_PREFIX, "/orders/", true, "", "/orders", "/"},
        {MTLB_ROUTE_PREFIX, "/orders/", true, "", "/orders;s=1/x;y//z", "/x;y//z"},
        {MTLB_ROUTE_PREFIX, "/orders/", true, "", "//orders//x", "/x"},
        {MTLB_ROUTE_PREFIX, "/orders/", false, "/api/", "/orders/;p/x", "/api/;p/x"},
        {MTLB_ROUTE_PATTERN, "/{app}/", false, "/", "/shop;v=2/x", "/x"},
    };
    return cr_make_param_array(struct rw_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct rw_case *c, route, rewrite)
{
    struct mtlb_route_cfg r = {.kind = c->kind,
                               .path = c->path,
                               .backend = "app-{app}",
                               .backend_index =
                                   c->kind == MTLB_ROUTE_PATTERN ? MTLB_ROUTE_NO_POOL : 1,
                               .strip_prefix = c->strip,
                               .rewrite_prefix = c->prefix[0] ? c->prefix : NULL};
    struct mtlb_routes *rt = compile(&r, 1);
    struct mtlb_route_result res;
    char buf[512];
    struct guarded g;
    const char *t = guard_copy(&g, c->target, strlen(c->target));

    cr_assert_eq(mtlb_route_match(rt, "", (struct mtlb_slice){t, strlen(c->target)}, false,
                                  MTLB_ROUTE_NO_POOL, buf, sizeof(buf), &res),
                 0, "%s: %d", c->target, res.status);
    cr_expect_eq(res.route, 0);
    if (c->out[0] == '\0') {
        cr_expect(!res.rewritten, "%s rewritten", c->target);
    } else {
        cr_assert(res.rewritten, "%s not rewritten", c->target);
        cr_expect(res.target.len == strlen(c->out) &&
                      memcmp(res.target.p, c->out, res.target.len) == 0,
                  "%s -> %.*s", c->target, (int)res.target.len, res.target.p);
    }
    if (c->kind == MTLB_ROUTE_PATTERN) {
        cr_expect_eq(res.pool, 4, "app-shop");
    }
    guard_free(&g);
    mtlb_route_destroy(rt);
}

Test(route, a_pattern_names_a_pool_that_must_exist)
{
    struct mtlb_route_cfg r[] = {
        {.kind = MTLB_ROUTE_PATTERN,
         .path = "/{app}/",
         .backend = "{app}",
         .backend_index = MTLB_ROUTE_NO_POOL},
    };
    struct mtlb_routes *rt = compile(r, 1);
    struct mtlb_route_result res;
    char buf[256];

    cr_expect_eq(route_of(rt, "", "/billing/x", &res, buf, sizeof(buf)), 0);
    cr_expect_eq(res.pool, 3);
    cr_expect_eq(route_of(rt, "", "/nosuch/x", &res, buf, sizeof(buf)), 404);
    cr_expect_str_eq(res.reason, "unknown_pool");
    cr_expect_str_eq(res.pool_name, "nosuch");
    /* "//" is one slash, and a final segment is one without its slash */
    cr_expect_eq(route_of(rt, "", "//x", &res, buf, sizeof(buf)), 404);
    cr_expect_str_eq(res.pool_name, "x");
    cr_expect_eq(route_of(rt, "", "/billing", &res, buf, sizeof(buf)), 0);
    cr_expect_eq(res.pool, 3);
    cr_expect_eq(route_of(rt, "", "//billing;v=1//x", &res, buf, sizeof(buf)), 0);
    cr_expect_eq(res.pool, 3);
    /* no segment: no match (the default pool, 0 here) */
    cr_expect_eq(route_of(rt, "", "/", &res, buf, sizeof(buf)), 0);
    cr_expect_eq(res.route, -1);
    cr_expect_eq(route_of(rt, "", "/%62illing/", &res, buf, sizeof(buf)), 0);
    cr_expect_eq(res.pool, 3);
    mtlb_route_destroy(rt);
}

Test(route, check_path)
{
    char why[256];
    struct mtlb_route_cfg ok[] = {
        {.kind = MTLB_ROUTE_PREFIX, .path = "/a/"},
        {.kind = MTLB_ROUTE_PATTERN, .path = "/{app}/"},
        {.kind = MTLB_ROUTE_PATTERN, .path = "/v1/{app_1}"},
    };
    struct mtlb_route_cfg bad[] = {
        {.kind = MTLB_ROUTE_PREFIX, .path = "a/"},
        {.kind = MTLB_ROUTE_PREFIX, .path = "/a/../b"},
        {.kind = MTLB_ROUTE_PREFIX, .path = "/%61"},
        {.kind = MTLB_ROUTE_PREFIX, .path = "/{app}/"},
        {.kind = MTLB_ROUTE_PATTERN, .path = "/a/"},
        {.kind = MTLB_ROUTE_PATTERN, .path = "/x{app}/"},
        {.kind = MTLB_ROUTE_PATTERN, .path = "/{app}x"},
        {.kind = MTLB_ROUTE_PATTERN, .path = "/{a}/{b}/"},
        {.kind = MTLB_ROUTE_PATTERN, .path = "/{}/"},
    };
    for (size_t i = 0; i < 3; i++) {
        cr_expect_eq(mtlb_route_check_path(&ok[i], why, sizeof(why)), 0, "%s: %s", ok[i].path, why);
    }
    for (size_t i = 0; i < 9; i++) {
        cr_expect_eq(mtlb_route_check_path(&bad[i], why, sizeof(why)), -EINVAL, "%s", bad[i].path);
    }
    mtlb_route_check_path(&bad[1], why, sizeof(why));
    cr_expect(strstr(why, "write /b") != NULL, "%s", why);
}

static void count_warn(void *arg, size_t i, const char *msg)
{
    size_t *seen = arg;

    (void)msg;
    seen[i]++;
}

Test(route, lint_unreachable_and_overlapping)
{
    struct mtlb_route_cfg r[] = {
        R(MTLB_ROUTE_PREFIX, "/a/", NULL, 1),
        R(MTLB_ROUTE_PREFIX, "/a/b/", NULL, 1), /* unreachable */
        R(MTLB_ROUTE_EXACT, "/x", NULL, 1),
        R(MTLB_ROUTE_EXACT, "/x", NULL, 2), /* duplicate */
        R(MTLB_ROUTE_PREFIX, "/c/d/", NULL, 1),
        R(MTLB_ROUTE_PREFIX, "/c/", NULL, 1), /* overlaps */
        R(MTLB_ROUTE_PREFIX, "/h/", "h.test", 1),
        R(MTLB_ROUTE_PREFIX, "/h/x", "g.test", 1), /* other host: fine */
        R(MTLB_ROUTE_EXACT, "/y", NULL, 1),
    };
    size_t seen[9] = {0};

    cr_expect_eq(mtlb_route_lint(r, 9, count_warn, seen), 3);
    cr_expect_eq(seen[1], 1);
    cr_expect_eq(seen[3], 1);
    cr_expect_eq(seen[5], 1);
    cr_expect_eq(seen[7], 0);
}

Test(route, cost_does_not_scan_every_rule)
{
    /* 1000 prefixes: matching still walks the path's bytes only (checked by result here; the
     * bench row measures the cost). */
    static struct mtlb_route_cfg r[1000];
    static char paths[1000][16];
    for (size_t i = 0; i < 1000; i++) {
        snprintf(paths[i], sizeof(paths[i]), "/app%zu/", i);
        r[i] = (struct mtlb_route_cfg)R(MTLB_ROUTE_PREFIX, paths[i], NULL, i % 5);
    }
    struct mtlb_routes *rt = compile(r, 1000);
    struct mtlb_route_result res;
    char buf[256];

    route_of(rt, "", "/app999/x", &res, buf, sizeof(buf));
    cr_expect_eq(res.route, 999);
    route_of(rt, "", "/app99/x", &res, buf, sizeof(buf));
    cr_expect_eq(res.route, 99);
    mtlb_route_destroy(rt);
}
