/* Integration: listeners[].routes over HTTP/1.1 and HTTP/2 (one routing function serves both):
 * two pools told apart by mtlb-echo's X-Backend, the target the backend sees (strip_prefix,
 * rewrite_prefix, byte-for-byte otherwise), {app} patterns and an unknown pool (404 and a log
 * line), domains[].backend chosen by SNI, bypass spellings that must not slip past a rule, no
 * default pool (404), and a reload that swaps the routes. Run with MTLB_IT_IO=epoll too. */
#include "h2_util.h"
#include "harness.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct it_tls_opts good = {.cert = "client/good.crt", .key = "client/good.key"};

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(routes, .init = setup, .fini = teardown, .timeout = 90);

/* The listener's default pool and routes (YAML spliced after `backend:`). */
#define ROUTES                                                                                     \
    "app\n"                                                                                        \
    "    routes:\n"                                                                                \
    "      - {path_prefix: /orders/, backend: orders, strip_prefix: true, name: orders}\n"         \
    "      - {path_prefix: /billing/, backend: orders, rewrite_prefix: /api/}\n"                   \
    "      - {path_prefix: /admin/, backend: orders, name: admin}\n"                               \
    "      - {path_pattern: \"/p/{app}/\", backend: \"{app}\", rewrite_prefix: /}\n"

static char extra[128];

/* Pools app (echo "b-app") and orders (echo "b-orders"); listener_backend as given. */
static void start_routes(const char *listener_backend, struct it_config *cfg)
{
    cfg->servers[0] = it_echo_start(&env, "b-app");
    cfg->n_servers = 1;
    uint16_t orders = it_echo_start(&env, "b-orders");
    /* a second pool, spliced after the first one's servers (a null key counts as absent) */
    snprintf(extra, sizeof(extra),
             "health: null\n  - name: orders\n    servers: [\"127.0.0.1:%u\"]", orders);
    cfg->backend_extra = extra;
    cfg->listener_backend = listener_backend;
    if (cfg->n_domains == 0) {
        cfg->n_domains = 1;
    }
    it_mtlb_start(&env, cfg);
}

/* GET target over HTTP/1.1 with Host: localhost: the status, X-Backend and the request line
 * the backend saw (the first line of mtlb-echo's body). */
static int get1(const char *sni, const char *target, char *be, char *line, size_t cap)
{
    struct it_tls_opts o = good;
    char err[256], req[512];
    struct it_response r;

    o.sni = sni;
    struct it_conn *c = it_tls_connect(env.port, &o, err, sizeof(err));
    cr_assert_not_null(c, "handshake failed: %s", err);
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", target);
    cr_assert_eq(it_conn_sends(c, req), 0);
    cr_assert_eq(it_read_response(c, &r, false), 0, "GET %s: no response: %s", target, c->err);
    be[0] = line[0] = '\0';
    it_header_get(r.head, "X-Backend", be, cap);
    if (r.body != NULL) {
        size_t n = strcspn(r.body, "\r\n");
        snprintf(line, cap, "%.*s", (int)(n < cap ? n : cap - 1), r.body);
    }
    int status = r.status;
    it_response_fini(&r);
    it_conn_close(c);
    return status;
}

static void expect1(const char *target, int status, const char *be, const char *line)
{
    char b[128], l[256];
    int s = get1(NULL, target, b, l, sizeof(l));

    cr_expect_eq(s, status, "%s: status %d", target, s);
    if (be != NULL) {
        cr_expect_str_eq(b, be, "%s: X-Backend %s", target, b);
    }
    if (line != NULL) {
        cr_expect_str_eq(l, line, "%s: backend saw %s", target, l);
    }
}

/* The same over HTTP/2: one stream; its status, X-Backend and the backend's request line. */
static void expect2(const char *target, int status, const char *be, const char *line)
{
    struct h2_out o;
    char spec[300];
    struct h2s s;

    snprintf(spec, sizeof(spec), "path=%s", target);
    h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--show-header", "x-backend",
            "--print-body", "--stream", spec, NULL);
    cr_assert_eq(o.rc, 0, "h2c: %s %s", o.out, o.err);
    cr_assert(h2_stream(o.out, NULL, 0, &s), "no stream line: %s", o.out);
    cr_expect_eq(s.status, status, "h2 %s: status %d", target, s.status);
    if (be != NULL) {
        char want[160];
        snprintf(want, sizeof(want), "header %d x-backend: %s", s.id, be);
        cr_expect(strstr(o.out, want) != NULL, "h2 %s: no '%s' in %s", target, want, o.out);
    }
    if (line != NULL) {
        char *body = h2_body(o.out, s.id);
        cr_expect(strncmp(body, line, strlen(line)) == 0 &&
                      strchr("\r\n", body[strlen(line)]) != NULL,
                  "h2 %s: backend saw %s", target, body);
        free(body);
    }
    h2_out_fini(&o);
}

static void both(const char *target, int status, const char *be, const char *line1,
                 const char *line2)
{
    expect1(target, status, be, line1);
    expect2(target, status, be, line2);
}

Test(routes, two_pools_strip_and_rewrite)
{
    struct it_config cfg = {0};
    start_routes(ROUTES, &cfg);

    both("/orders/x?a=1", 200, "b-orders", "GET /x?a=1 HTTP/1.1", "GET /x?a=1 HTTP/1.1");
    both("/billing/inv/7", 200, "b-orders", "GET /api/inv/7 HTTP/1.1", "GET /api/inv/7 HTTP/1.1");
    both("/other/%7Ex", 200, "b-app", "GET /other/%7Ex HTTP/1.1", "GET /other/%7Ex HTTP/1.1");
    both("/ordersx", 200, "b-app", "GET /ordersx HTTP/1.1", "GET /ordersx HTTP/1.1");
    const char *line[] = {"\"route\":\"orders\"", "\"path\":\"/orders/x?a=1\"", NULL};
    cr_expect_eq(it_wait_lines(env.out_log, line, 2, 5000), 2, "access log route field");
}

Test(routes, pattern_names_the_pool_and_an_unknown_one_is_404)
{
    struct it_config cfg = {0};
    start_routes(ROUTES, &cfg);

    both("/p/orders/z?q", 200, "b-orders", "GET /z?q HTTP/1.1", "GET /z?q HTTP/1.1");
    both("/p/app/z", 200, "b-app", "GET /z HTTP/1.1", "GET /z HTTP/1.1");
    both("/p/nosuch/z", 404, NULL, NULL, NULL);
    const char *warn[] = {"event=route_unknown_pool", "pool=\"nosuch\"", NULL};
    cr_expect_geq(it_wait_lines(env.err_log, warn, 1, 5000), 1, "no log line for the pool");
}

Test(routes, bypass_spellings_do_not_slip_past_a_rule)
{
    struct it_config cfg = {0};
    start_routes(ROUTES, &cfg);

    /* each reaches the /admin/ rule (pool orders); the backend gets the bytes sent */
    static const char *const same[] = {"/admin/../admin/x", "/x/../admin/x",
                                       "/%61dmin/x",        "/./admin/x",
                                       "/%2e/admin/x",      "/x/%2E%2E/admin/x",
                                       "//admin/x",         "/admin//x",
                                       "/admin;x=1/y",      "/admin",
                                       "/admin?q",          "/admin;jsessionid=1",
                                       "///%61dmin;a;b//x"};
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        char want[128];
        snprintf(want, sizeof(want), "GET %s HTTP/1.1", same[i]);
        expect1(same[i], 200, "b-orders", want);
        expect2(same[i], 200, "b-orders", NULL);
    }
    /* and the other way round: /admin/../orders/ is an orders request */
    /* an encoded slash that changes no rule passes as sent (an ID such as "a%2Fb") */
    both("/admin/a%2Fb", 200, "b-orders", "GET /admin/a%2Fb HTTP/1.1", NULL);
    both("/admin/../orders/y", 200, "b-orders", "GET /y HTTP/1.1", "GET /y HTTP/1.1");
    /* encoded slashes that would hide a dot segment or choose another rule, bad escapes: 400 */
    static const char *const refused[] = {"/x/..%2Fadmin/", "/x/..%5cadmin/", "/a%zz",
                                          "/public/..;/admin/x", "/.;/admin/x",
                                          "/p/%2e%2e;x/admin/",
                                          /* "/admin/x" to a backend that decodes slashes, but
                                           * the default pool's request as sent */
                                          "/admin%2Fx", "/admin%5cx", "/;a%2Fadmin/x"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        both(refused[i], 400, NULL, NULL, NULL);
    }
}

Test(routes, no_default_pool_is_404)
{
    struct it_config cfg = {0};
    start_routes("null\n    routes:\n      - {path_exact: /only, backend: orders}", &cfg);

    both("/only", 200, "b-orders", "GET /only HTTP/1.1", "GET /only HTTP/1.1");
    both("/only/", 404, NULL, NULL, NULL);
    both("/", 404, NULL, NULL, NULL);
}

Test(routes, domain_backend_by_sni)
{
    struct it_config cfg = {.n_domains = 2};
    cfg.domains[1].names[0] = "other.example.com";
    cfg.domains[1].cert = "server/other.crt";
    cfg.domains[1].key = "server/other.key";
    cfg.domains[1].tls = "{}\n        backend: orders";
    start_routes("app\n    routes:\n      - {path_prefix: /pinned/, backend: app}", &cfg);

    char be[64], line[256];
    cr_expect_eq(get1("api.example.com", "/x", be, line, sizeof(be)), 200);
    cr_expect_str_eq(be, "b-app");
    cr_expect_eq(get1("other.example.com", "/x", be, line, sizeof(be)), 200);
    cr_expect_str_eq(be, "b-orders", "the domain's pool");
    cr_expect_eq(get1("other.example.com", "/pinned/x", be, line, sizeof(be)), 200);
    cr_expect_str_eq(be, "b-app", "a route wins over the domain's pool");
    /* HTTP/2: the same choice */
    struct h2_out o;
    h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--sni", "other.example.com",
            "--show-header", "x-backend", "--stream", "path=/x", "--stream", "path=/pinned/x",
            NULL);
    cr_assert_eq(o.rc, 0, "h2c: %s %s", o.out, o.err);
    struct h2s s1, s2;
    get_stream(&o, "/x", 0, &s1);
    get_stream(&o, "/pinned/x", 0, &s2);
    char want[64];
    snprintf(want, sizeof(want), "header %d x-backend: b-orders", s1.id);
    cr_expect(strstr(o.out, want) != NULL, "%s", o.out);
    snprintf(want, sizeof(want), "header %d x-backend: b-app", s2.id);
    cr_expect(strstr(o.out, want) != NULL, "%s", o.out);
    h2_out_fini(&o);
}

Test(routes, reload_swaps_the_routes)
{
    struct it_config cfg = {0};
    start_routes(ROUTES, &cfg);
    both("/orders/x", 200, "b-orders", "GET /x HTTP/1.1", "GET /x HTTP/1.1");

    cfg.listener_backend = "app\n    routes:\n      - {path_prefix: /new/, backend: orders}";
    cr_assert_eq(it_write_config(&env, &cfg), 0);
    kill(env.mtlb, SIGHUP);
    const char *ok[] = {"event=reloaded", "generation=2", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, ok, 1, 10000), 1, "no reload");
    const char *diff[] = {"event=reloaded", "routes", NULL};
    cr_expect_eq(it_count_lines(env.err_log, diff), 1, "changed= names the routes");
    both("/orders/x", 200, "b-app", "GET /orders/x HTTP/1.1", "GET /orders/x HTTP/1.1");
    both("/new/x", 200, "b-orders", "GET /new/x HTTP/1.1", "GET /new/x HTTP/1.1");
}

/* A SAN policy added by a reload judges connections made before it: their SANs were kept at
 * the handshake even though no header or rule asked for them then (they were 403 before). */
Test(routes, a_san_require_added_by_reload_admits_older_connections)
{
    struct it_config cfg = {0};
    start_routes("app", &cfg);
    static const struct it_tls_opts san = {.cert = "client/san.crt", .key = "client/san.key"};
    char err[256];
    struct it_conn *c = it_tls_connect(env.port, &san, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    it_conn_timeout(c, 5000);
    static const char req[] = "GET /admin/x HTTP/1.1\r\nHost: localhost\r\n\r\n";
    struct it_response r;
    cr_assert_eq(it_conn_sends(c, req), 0);
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
    cr_expect_eq(r.status, 200);
    it_response_fini(&r);

    cfg.listener_backend = "app\n    routes:\n"
                           "      - {path_prefix: /admin/, backend: orders, require: {san_dns: "
                           "[san-client.example]}}\n"
                           "      - {path_prefix: /other/, backend: orders, require: {san_dns: "
                           "[other.example]}}";
    cr_assert_eq(it_write_config(&env, &cfg), 0);
    kill(env.mtlb, SIGHUP);
    const char *ok[] = {"event=reloaded", "generation=2", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, ok, 1, 10000), 1, "no reload");
    cr_assert_eq(it_conn_sends(c, req), 0);
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
    cr_expect_eq(r.status, 200, "the SAN matches: %d", r.status);
    cr_expect(strstr(r.head, "b-orders") != NULL, "%s", r.head);
    it_response_fini(&r);
    cr_assert_eq(it_conn_sends(c, "GET /other/x HTTP/1.1\r\nHost: localhost\r\n\r\n"), 0);
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
    cr_expect_eq(r.status, 403, "another SAN: %d", r.status);
    it_response_fini(&r);
    it_conn_close(c);
}

Test(routes, require_refuses_with_403_and_says_why)
{
    struct it_config cfg = {0};
    start_routes("app\n"
                 "    routes:\n"
                 "      - {path_prefix: /admin/, backend: orders, require: {subject: "
                 "\"CN=good-client$\"}}\n"
                 "      - {path_prefix: /partner/, backend: orders, name: partner, require: "
                 "{subject: \"CN=partner-x$\"}}",
                 &cfg);

    both("/admin/x", 200, "b-orders", "GET /admin/x HTTP/1.1", "GET /admin/x HTTP/1.1");
    both("/partner/x", 403, NULL, NULL, NULL);
    /* the normalized path is what require guards */
    both("/x/../partner/x", 403, NULL, NULL, NULL);
    both("/%70artner/x", 403, NULL, NULL, NULL);
    const char *denied[] = {"\"route\":\"partner\"", "\"denied\":\"subject\"", "\"status\":403",
                            NULL};
    cr_expect_eq(it_wait_lines(env.out_log, denied, 6, 5000), 6, "access log denied");
}

Test(routes, check_warns_about_unreachable_and_overlapping_routes)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = 1, .servers = {it_free_port()}};
    cfg.listener_backend = "app\n"
                           "    routes:\n"
                           "      - {path_prefix: /a/, backend: app}\n"
                           "      - {path_prefix: /a/b/, backend: app}\n"
                           "      - {path_exact: /x, backend: app}\n"
                           "      - {path_exact: /x, backend: app}\n"
                           "      - {path_prefix: /c/d/, backend: app}\n"
                           "      - {path_prefix: /c/, backend: app}\n"
                           "      - {path_prefix: /e/, backend: app}";
    struct it_run_result r = it_mtlb_check(&env, &cfg);

    cr_expect_eq(r.rc, 0, "warnings are not errors: %s", r.err);
    cr_expect(strstr(r.err, ":6: listeners[0].routes[1] (/a/b/): unreachable") != NULL, "%s",
              r.err);
    cr_expect(strstr(r.err, ":8: listeners[0].routes[3] (/x): unreachable") != NULL, "%s", r.err);
    cr_expect(strstr(r.err, ":10: listeners[0].routes[5] (/c/): overlaps routes[4]") != NULL, "%s",
              r.err);
    cr_expect(strstr(r.err, "routes[6]") == NULL, "%s", r.err);
    cr_expect(strstr(r.out, "with 3 warnings") != NULL, "%s", r.out);
    it_run_result_fini(&r);
}

Test(routes, check_names_an_unknown_pool_with_file_and_line)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = 1, .servers = {it_free_port()}};
    cfg.listener_backend = "app\n"
                           "    routes:\n"
                           "      - {path_prefix: /a/, backend: nosuch}";
    struct it_run_result r = it_mtlb_check(&env, &cfg);

    cr_expect_eq(r.rc, 1);
    cr_expect(strstr(r.err, ":5:") != NULL && strstr(r.err, "listeners[0].routes[0].backend") &&
                  strstr(r.err, "unknown backend \"nosuch\""),
              "%s", r.err);
    it_run_result_fini(&r);
}

/* POST of n body bytes over HTTP/1.1 (Content-Length) and over HTTP/2 (with and without a
 * content-length): the status each gets. */
static int post1(const char *target, size_t n)
{
    char err[256], req[256];
    struct it_response r;
    struct it_conn *c = it_tls_connect(env.port, &good, err, sizeof(err));

    cr_assert_not_null(c, "handshake failed: %s", err);
    snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: %zu\r\n\r\n",
             target, n);
    cr_assert_eq(it_conn_sends(c, req), 0);
    char *body = malloc(n + 1);
    memset(body, 'a', n);
    body[n] = '\0';
    it_conn_sends(c, body); /* refused bodies may meet a closed connection */
    free(body);
    cr_assert_eq(it_read_response(c, &r, false), 0, "POST %s: no response: %s", target, c->err);
    int status = r.status;
    it_response_fini(&r);
    it_conn_close(c);
    return status;
}

static int post2(const char *target, size_t n, bool no_cl)
{
    struct h2_out o;
    char spec[300];
    struct h2s s;

    snprintf(spec, sizeof(spec), "path=%s,method=POST,body=%zu%s", target, n,
             no_cl ? ",no-cl" : "");
    h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--stream", spec, NULL);
    cr_assert(h2_stream(o.out, NULL, 0, &s), "no stream line: %s %s", o.out, o.err);
    h2_out_fini(&o);
    return s.status;
}

Test(routes, a_route_body_limit_overrides_the_listener_s)
{
    struct it_config cfg = {0};
    start_routes(
        "app\n"
        "    limits: {max_body_bytes: 100}\n"
        "    routes:\n"
        "      - {path_prefix: /small/, backend: orders, limits: {max_body_bytes: 10}}\n"
        "      - {path_prefix: /big/, backend: orders, limits: {max_body_bytes: unlimited}}\n",
        &cfg);

    static const struct {
        const char *target;
        size_t n;
        int status;
    } cases[] = {
        {"/small/x", 10, 200}, {"/small/x", 11, 413}, {"/big/x", 5000, 200},
        {"/other", 100, 200},  {"/other", 101, 413},  {"//small;p/x", 11, 413},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *t = cases[i].target;
        size_t n = cases[i].n;
        cr_expect_eq(post1(t, n), cases[i].status, "h1 POST %s %zu", t, n);
        cr_expect_eq(post2(t, n, false), cases[i].status, "h2 POST %s %zu", t, n);
        cr_expect_eq(post2(t, n, true), cases[i].status, "h2 POST %s %zu no-cl", t, n);
    }
}

Test(routes, route_allow_and_deny_lists_refuse_with_403)
{
    struct it_config cfg = {0};
    start_routes("app\n"
                 "    routes:\n"
                 "      - {path_prefix: /in/, backend: orders, allow: [\"127.0.0.0/8\", \"::1\"]}\n"
                 "      - {path_prefix: /out/, backend: orders, allow: [10.0.0.0/8]}\n"
                 "      - {path_prefix: /no/, backend: orders, name: no, deny: [127.0.0.1]}\n"
                 "      - {path_prefix: /both/, backend: orders, allow: [127.0.0.0/8],\n"
                 "         deny: [127.0.0.1/32]}\n",
                 &cfg);

    both("/in/x", 200, "b-orders", NULL, NULL);
    both("/out/x", 403, NULL, NULL, NULL);
    both("/no/x", 403, NULL, NULL, NULL);
    both("//no;x/y", 403, NULL, NULL, NULL);
    both("/both/x", 403, NULL, NULL, NULL);
    both("/other", 200, "b-app", NULL, NULL);
    const char *line[] = {"\"route\":\"no\"", "\"denied\":\"address\"", "\"status\":403", NULL};
    cr_expect_geq(it_wait_lines(env.out_log, line, 4, 5000), 4, "access log denied address");
}

/* Unnamed routes are labelled in the access log by their index, one digit or more (the label
 * is written by hand, not by snprintf, as it is on every routed request). */
Test(routes, access_log_labels_unnamed_routes_by_index)
{
    static char rules[1024];
    size_t n = (size_t)snprintf(rules, sizeof(rules), "app\n    routes:\n");
    for (int i = 0; i < 12; i++) {
        n += (size_t)snprintf(rules + n, sizeof(rules) - n,
                              "      - {path_prefix: /r%d/, backend: orders}\n", i);
    }
    struct it_config cfg = {0};
    start_routes(rules, &cfg);

    expect1("/r10/x", 200, "b-orders", "GET /r10/x HTTP/1.1");
    expect1("/r0/y", 200, "b-orders", "GET /r0/y HTTP/1.1");
    expect2("/r11/z", 200, "b-orders", "GET /r11/z HTTP/1.1");
    expect1("/none", 200, "b-app", "GET /none HTTP/1.1");
    const char *ten[] = {"\"route\":\"10\"", "\"path\":\"/r10/x\"", NULL};
    const char *zero[] = {"\"route\":\"0\"", "\"path\":\"/r0/y\"", NULL};
    const char *eleven[] = {"\"route\":\"11\"", "\"path\":\"/r11/z\"", NULL};
    const char *none[] = {"\"path\":\"/none\"", NULL};
    cr_expect_eq(it_wait_lines(env.out_log, ten, 1, 5000), 1, "route 10 labelled \"10\"");
    cr_expect_eq(it_wait_lines(env.out_log, zero, 1, 5000), 1, "route 0 labelled \"0\"");
    cr_expect_eq(it_wait_lines(env.out_log, eleven, 1, 5000), 1, "route 11 (h2) labelled \"11\"");
    cr_expect_eq(it_wait_lines(env.out_log, none, 1, 5000), 1, "the unrouted request logged");
    const char *none_routed[] = {"\"path\":\"/none\"", "\"route\"", NULL};
    cr_expect_eq(it_count_lines(env.out_log, none_routed), 0, "an unrouted request has no label");
}
