/* Config of listeners[].routes and domains[].backend (src/config/config_routes.c): what is
 * read, pools resolved (patterns left to match time), every refusal with file:line:col and
 * key, and equality for reload summaries. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mtlb/config.h"
#include "mtlb/config_diff.h"

#define DOC(listener_extra, domain_extra)                                                          \
    "listeners:\n"                                                                                 \
    "  - bind: \":1\"\n" listener_extra "    domains:\n"                                           \
    "      - {names: [a.b], certificate: c, key: k" domain_extra "}\n"                             \
    "backends:\n"                                                                                  \
    "  - {name: app, servers: [\"127.0.0.1:1\"]}\n"                                                \
    "  - {name: orders, servers: [\"127.0.0.1:2\"]}\n"

static int parse(const char *yaml, struct mtlb_config **cfg, char *err, size_t errlen)
{
    return mtlb_config_parse(yaml, strlen(yaml), "mtlb.yaml", "/etc/mtlb", cfg, err, errlen);
}

Test(config_routes, reads_routes_and_resolves_pools)
{
    static const char doc[] = DOC(
        "    routes:\n"
        "      - {path_prefix: /orders/, backend: orders, strip_prefix: true, name: o}\n"
        "      - {path_exact: /x, host: API.Example.com, backend: app, rewrite_prefix: /y}\n"
        "      - {path_pattern: \"/{app}/\", backend: \"svc-{app}\", require: {verify: SUCCESS}}\n",
        ", backend: orders");
    struct mtlb_config *cfg = NULL;
    char err[512] = "";

    cr_assert_eq(parse(doc, &cfg, err, sizeof(err)), 0, "%s", err);
    const struct mtlb_listener_cfg *l = &cfg->listeners[0];
    cr_expect_null(l->backend);
    cr_expect_eq(l->backend_index, MTLB_ROUTE_NO_POOL);
    cr_expect_eq(l->domains[0].backend_index, 1);
    cr_assert_eq(l->n_routes, 3);
    cr_expect_eq(l->routes[0].kind, MTLB_ROUTE_PREFIX);
    cr_expect_eq(l->routes[0].backend_index, 1);
    cr_expect(l->routes[0].strip_prefix);
    cr_expect_str_eq(l->routes[0].name, "o");
    cr_expect_eq(l->routes[0].line, 4);
    cr_expect_eq(l->routes[1].kind, MTLB_ROUTE_EXACT);
    cr_expect_str_eq(l->routes[1].host, "api.example.com");
    cr_expect_str_eq(l->routes[1].rewrite_prefix, "/y");
    cr_expect_eq(l->routes[1].backend_index, 0);
    cr_expect_eq(l->routes[2].kind, MTLB_ROUTE_PATTERN);
    cr_expect_eq(l->routes[2].backend_index, MTLB_ROUTE_NO_POOL);
    cr_expect(l->routes[2].has_require);
    cr_expect(!l->routes[0].has_require);
    mtlb_config_destroy(cfg);
}

struct bad_case {
    char yaml[700];
    char msg[300];
};

ParameterizedTestParameters(config_routes, rejects)
{
    static struct bad_case cases[] = {
        {DOC("    backend: nosuch\n", ""), "mtlb.yaml:3:14: listeners[0].backend: unknown backend "
                                           "\"nosuch\""},
        {DOC("    routes: [{path_prefix: /a/, backend: nosuch}]\n", ""),
         "mtlb.yaml:3:42: listeners[0].routes[0].backend: unknown backend \"nosuch\""},
        {DOC("    backend: app\n", ", backend: nosuch"),
         "mtlb.yaml:5:57: listeners[0].domains[0].backend: unknown backend \"nosuch\""},
        {DOC("", ""), "mtlb.yaml:2:5: listeners[0].backend: missing required key"},
        {DOC("    routes: [{backend: app}]\n", ""),
         "mtlb.yaml:3:14: listeners[0].routes[0]: needs one of path_prefix, path_exact, "
         "path_pattern"},
        {DOC("    routes: [{path_prefix: /a/, path_exact: /a, backend: app}]\n", ""),
         "mtlb.yaml:3:45: listeners[0].routes[0].path_exact: only one of path_prefix, "
         "path_exact, path_pattern"},
        {DOC("    routes: [{path_prefix: /a/../b, backend: app}]\n", ""),
         "mtlb.yaml:3:28: listeners[0].routes[0].path_prefix: is not in normalized form: "
         "write /b"},
        {DOC("    routes: [{path_prefix: a/, backend: app}]\n", ""),
         "mtlb.yaml:3:28: listeners[0].routes[0].path_prefix: must start with /"},
        {DOC("    routes: [{path_pattern: /a/, backend: app}]\n", ""),
         "mtlb.yaml:3:29: listeners[0].routes[0].path_pattern: needs exactly one {name} "
         "segment (name: letters, digits, _), after a / and followed by / or the end, as "
         "\"/{app}/\""},
        {DOC("    routes: [{path_pattern: \"/{app}/\", backend: \"{svc}\"}]\n", ""),
         "mtlb.yaml:3:49: listeners[0].routes[0].backend: a {name} in backend must be the one "
         "of path_pattern (/{app}/)"},
        {DOC("    routes: [{path_prefix: /a/, backend: app, strip_prefix: true, rewrite_prefix: "
             "/b/}]\n",
             ""),
         "mtlb.yaml:3:14: listeners[0].routes[0]: strip_prefix and rewrite_prefix exclude each "
         "other"},
        {DOC("    routes: [{path_prefix: /a/, backend: app, rewrite_prefix: b}]\n", ""),
         "mtlb.yaml:3:63: listeners[0].routes[0].rewrite_prefix: must start with /"},
        {DOC("    routes: [{path_prefix: /a/, backend: app, host: \"a b\"}]\n", ""),
         "mtlb.yaml:3:53: listeners[0].routes[0].host: expected a host name or *.domain, got "
         "\"a b\""},
        {DOC("    routes: [{path_prefix: /a/, backend: app, bogus: 1}]\n", ""),
         "mtlb.yaml:3:47: listeners[0].routes[0].bogus: unknown key (expected one of "
         "path_prefix, path_exact, path_pattern, host, backend, strip_prefix, rewrite_prefix, "
         "name, require, limits, allow, deny)"},
    };
    return cr_make_param_array(struct bad_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_case *c, config_routes, rejects)
{
    struct mtlb_config *cfg = NULL;
    char err[512] = "";

    cr_expect_eq(parse(c->yaml, &cfg, err, sizeof(err)), -EINVAL);
    cr_expect_str_eq(err, c->msg);
    cr_expect_null(cfg);
}

Test(config_routes, diff_names_changed_routes)
{
    struct mtlb_config *a = NULL, *b = NULL, *c = NULL;
    char err[512] = "", sum[256];

    cr_assert_eq(
        parse(DOC("    backend: app\n    routes: [{path_prefix: /a/, backend: app}]\n", ""), &a,
              err, sizeof(err)),
        0, "%s", err);
    cr_assert_eq(
        parse(DOC("    backend: app\n    routes: [{path_prefix: /b/, backend: app}]\n", ""), &b,
              err, sizeof(err)),
        0, "%s", err);
    cr_assert_eq(
        parse(DOC("    backend: app\n    routes: [{path_prefix: /a/, backend: app}]\n", ""), &c,
              err, sizeof(err)),
        0, "%s", err);
    mtlb_config_diff_summary(a, b, sum, sizeof(sum));
    cr_expect_str_eq(sum, "routes:~listeners[0]");
    mtlb_config_diff_summary(a, c, sum, sizeof(sum));
    cr_expect_str_eq(sum, "");
    mtlb_config_destroy(a);
    mtlb_config_destroy(b);
    mtlb_config_destroy(c);
}

Test(config_routes, a_route_body_limit_overrides_the_listener_s)
{
    static const char doc[] = DOC(
        "    limits: {max_body_bytes: 1m}\n"
        "    routes:\n"
        "      - {path_prefix: /up/, backend: orders, limits: {max_body_bytes: 8g}}\n"
        "      - {path_prefix: /free/, backend: orders, limits: {max_body_bytes: unlimited}}\n"
        "      - {path_prefix: /small/, backend: orders, limits: {max_body_bytes: 10}}\n"
        "      - {path_prefix: /same/, backend: orders}\n",
        "");
    struct mtlb_config *cfg = NULL;
    char err[512] = "";

    cr_assert_eq(parse(doc, &cfg, err, sizeof(err)), 0, "%s", err);
    const struct mtlb_listener_cfg *l = &cfg->listeners[0];
    cr_expect_eq(l->max_body_bytes, 1u << 20);
    cr_expect_eq(l->routes[0].max_body_bytes, 8ull << 30);
    cr_expect_eq(l->routes[1].max_body_bytes, 0, "unlimited is 0 once merged");
    cr_expect_eq(l->routes[2].max_body_bytes, 10);
    cr_expect_eq(l->routes[3].max_body_bytes, 1u << 20, "inherited from the listener");
    mtlb_config_destroy(cfg);
}
