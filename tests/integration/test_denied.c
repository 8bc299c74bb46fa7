/* Integration: mtlb_requests_denied_total{listener,reason}. An optional-mode listener with
 * routes /admin/ (require verify: SUCCESS), /partner/ (require subject: CN=nobody) and
 * /inner/ (deny: 127.0.0.1/32): every reason's series is there at 0 from the start; a request
 * without a certificate to /admin/ moves verify, the good certificate to /partner/ moves
 * subject, the good certificate to /admin/ (200) moves nothing, /inner/ moves address; the
 * same over HTTP/2, and the access log's "denied" says the same. Run with MTLB_IT_IO=epoll
 * too. */
#include "h2_util.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint16_t admin_port;

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(denied, .init = setup, .fini = teardown, .timeout = 90);

static const char *const reasons[] = {"verify",      "subject", "issuer", "san",
                                      "fingerprint", "serial",  "address"};
#define N_REASONS (sizeof(reasons) / sizeof(reasons[0]))

static void start_denied(void)
{
    struct it_config cfg = {.n_domains = 1};
    cfg.domains[0].mode = "optional";
    cfg.listener_backend =
        "app\n"
        "    routes:\n"
        "      - {path_prefix: /admin/, backend: app, name: admin, require: {verify: SUCCESS}}\n"
        "      - {path_prefix: /partner/, backend: app, name: partner, require: {subject: "
        "\"CN=nobody\"}}\n"
        "      - {path_prefix: /inner/, backend: app, name: inner, deny: [127.0.0.1/32]}\n"
        "      - {path_prefix: /small/, backend: app, name: small, limits: {max_body_bytes: 8}}";
    admin_port = it_free_port();
    cfg.admin_port = admin_port;
    start_cfg(&cfg);
    for (int i = 0; i < 250 && !it_port_accepts(admin_port); i++) {
        usleep(20000);
    }
    cr_assert(it_port_accepts(admin_port), "no admin listener");
}

/* The six counters of the listener, in reasons[] order (-1: a series is absent). */
static void scrape(double v[N_REASONS])
{
    char *text = NULL, series[200];
    cr_assert_eq(it_admin_req(admin_port, "GET", "/metrics", 3000, &text), 200);
    for (size_t r = 0; r < N_REASONS; r++) {
        snprintf(series, sizeof(series),
                 "mtlb_requests_denied_total{listener=\"127.0.0.1:%u\",reason=\"%s\"}", env.port,
                 reasons[r]);
        v[r] = it_prom_value(text, series);
    }
    free(text);
}

/* Waits (the scrape sums threads' counters) until verify, subject and address read as
 * wanted, then checks every reason exactly. */
static void expect_counts3(double verify, double subject, double address)
{
    double v[N_REASONS], want[N_REASONS] = {verify, subject, 0, 0, 0, 0, address};
    for (int i = 0; i < 50; i++) {
        scrape(v);
        if (v[0] >= verify && v[1] >= subject && v[6] >= address) {
            break;
        }
        usleep(20000);
    }
    for (size_t r = 0; r < N_REASONS; r++) {
        cr_assert_eq(v[r], want[r], "%s: %g, want %g", reasons[r], v[r], want[r]);
    }
}

static void expect_counts(double verify, double subject)
{
    expect_counts3(verify, subject, 0);
}

/* GET path over HTTP/1.1, with the good certificate or none: the status. */
static int get1(bool cert, const char *path)
{
    struct it_tls_opts o = {0};
    struct it_response r;

    if (cert) {
        o.cert = "client/good.crt";
        o.key = "client/good.key";
    }
    it_get(env.port, &o, path, &r);
    int st = r.status;
    it_response_fini(&r);
    return st;
}

/* The same over HTTP/2 (one stream). */
static int get2(bool cert, const char *path)
{
    struct h2_out o;
    struct h2s s;
    char spec[128];

    snprintf(spec, sizeof(spec), "path=%s", path);
    if (cert) {
        h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--stream", spec, NULL);
    } else {
        h2c_run(&o, 10000, "--stream", spec, NULL);
    }
    cr_assert_eq(o.rc, 0, "h2c: %s %s", o.out, o.err);
    get_stream(&o, path, 0, &s);
    h2_out_fini(&o);
    return s.status;
}

/* The access log's line for path over proto with status has "denied":denied, or (denied
 * NULL) no "denied" field. */
static void expect_log(const char *path, const char *proto, int status, const char *denied)
{
    char p[128], pr[64], st[32], d[64];
    snprintf(p, sizeof(p), "\"path\":\"%s\"", path);
    snprintf(pr, sizeof(pr), "\"proto\":\"%s\"", proto);
    snprintf(st, sizeof(st), "\"status\":%d", status);
    snprintf(d, sizeof(d), "\"denied\":\"%s\"", denied != NULL ? denied : "");
    const char *needles[] = {p, pr, st, NULL};
    char *line = it_wait_line(env.out_log, needles);
    if (denied != NULL) {
        cr_assert_not_null(strstr(line, d), "%s", line);
    } else {
        cr_assert_null(strstr(line, "\"denied\""), "%s", line);
    }
    free(line);
}

Test(denied, every_reason_is_there_at_zero_from_the_start)
{
    start_denied();
    expect_counts(0, 0);
}

Test(denied, http1_refusals_count_by_reason)
{
    start_denied();
    expect_counts(0, 0);
    cr_assert_eq(get1(false, "/admin/a"), 403);
    expect_counts(1, 0);
    cr_assert_eq(get1(true, "/partner/p"), 403);
    expect_counts(1, 1);
    cr_assert_eq(get1(true, "/admin/ok"), 200);
    cr_assert_eq(get1(false, "/public"), 200);
    expect_counts(1, 1);
    expect_log("/admin/a", "http/1.1", 403, "verify");
    expect_log("/partner/p", "http/1.1", 403, "subject");
    expect_log("/admin/ok", "http/1.1", 200, NULL);
}

Test(denied, http2_refusals_count_by_reason)
{
    start_denied();
    cr_assert_eq(get2(false, "/admin/a2"), 403);
    expect_counts(1, 0);
    cr_assert_eq(get2(true, "/partner/p2"), 403);
    expect_counts(1, 1);
    cr_assert_eq(get2(true, "/admin/ok2"), 200);
    cr_assert_eq(get2(false, "/public2"), 200);
    expect_counts(1, 1);
    /* both protocols add to the same series */
    cr_assert_eq(get1(false, "/admin/a1"), 403);
    cr_assert_eq(get2(true, "/partner/p3"), 403);
    expect_counts(2, 2);
    expect_log("/admin/a2", "h2", 403, "verify");
    expect_log("/partner/p2", "h2", 403, "subject");
    expect_log("/admin/ok2", "h2", 200, NULL);
}

/* A route's deny list refuses by address: its own reason, over both protocols. */
Test(denied, route_address_lists_count_as_address)
{
    start_denied();
    cr_assert_eq(get1(true, "/inner/1"), 403);
    expect_counts3(0, 0, 1);
    cr_assert_eq(get2(true, "/inner/2"), 403);
    expect_counts3(0, 0, 2);
    expect_log("/inner/1", "http/1.1", 403, "address");
    expect_log("/inner/2", "h2", 403, "address");
}

/* A refused request's body is never read as a request: the body below holds a whole
 * "GET /smuggled" request, and a proper "GET /second" follows it on the same connection. After
 * the refusal mtlb either closes or answers /second; the backend never sees /smuggled (a front
 * proxy that shares connections between users would otherwise let one user's body run as a
 * request), whatever the refusal (403 require, 403 address, 413 limit) and the framing.
 * Returns whether the connection was kept for /second. */
static bool refused_body_is_not_a_request(const char *target, int status, bool chunked)
{
    static const char smug[] = "GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n";
    char req[1024];
    if (chunked) {
        snprintf(req, sizeof(req),
                 "POST %s HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "%zx\r\n%s\r\n0\r\n\r\n",
                 target, strlen(smug), smug);
    } else {
        snprintf(req, sizeof(req),
                 "POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: %zu\r\n\r\n%s", target,
                 strlen(smug), smug);
    }
    strncat(req, "GET /second HTTP/1.1\r\nHost: localhost\r\n\r\n", sizeof(req) - strlen(req) - 1);
    char err[256];
    struct it_conn *c = it_tls_connect(env.port, &(struct it_tls_opts){0}, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    it_conn_timeout(c, 3000);
    cr_assert_eq(it_conn_sends(c, req), 0);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s: %s", target, c->err);
    cr_expect_eq(r.status, status, "%s: status %d", target, r.status);
    it_response_fini(&r);
    bool kept = it_read_response(c, &r, false) == 0;
    if (kept) {
        cr_expect_eq(r.status, 200, "%s: the next request is /second", target);
        cr_expect(strstr(r.body, "GET /second ") != NULL, "%s: %s", target, r.body);
        cr_expect(strstr(r.body, "smuggled") == NULL, "%s: %s", target, r.body);
        it_response_fini(&r);
        cr_expect(it_read_response(c, &r, false) != 0, "%s: a third response", target);
    }
    it_conn_close(c);
    return kept;
}

Test(denied, a_refused_body_never_runs_as_a_request)
{
    start_denied();
    int kept = 0;
    for (int chunked = 0; chunked < 2; chunked++) {
        kept += refused_body_is_not_a_request("/admin/x", 403, chunked);
        kept += refused_body_is_not_a_request("/inner/x", 403, chunked);
        kept += refused_body_is_not_a_request("/small/x", 413, chunked);
    }
    cr_log_info("connections kept after the refusal: %d of 6", kept);
    usleep(200000); /* the access log is flushed in batches */
    size_t len = 0;
    char *log = it_read_file(env.out_log, &len);
    cr_expect(log == NULL || strstr(log, "smuggled") == NULL, "%s", log);
    free(log);
}

/* A refused request without a body leaves the connection open: the next request on it is
 * served (a client with no right to /admin/ keeps its connection for what it may reach), and a
 * HEAD gets the 403 head without a body. */
Test(denied, a_refusal_without_a_body_keeps_the_connection)
{
    start_denied();
    char err[256];
    struct it_conn *c = it_tls_connect(env.port, &(struct it_tls_opts){0}, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    it_conn_timeout(c, 3000);
    static const char *const seq[] = {"GET /admin/x", "HEAD /admin/x", "GET /inner/y", "GET /ok"};
    static const int want[] = {403, 403, 403, 200};
    for (size_t i = 0; i < 4; i++) {
        char req[128];
        snprintf(req, sizeof(req), "%s HTTP/1.1\r\nHost: localhost\r\n\r\n", seq[i]);
        cr_assert_eq(it_conn_sends(c, req), 0);
        struct it_response r;
        cr_assert_eq(it_read_response(c, &r, i == 1), 0, "%s: %s", seq[i], c->err);
        cr_expect_eq(r.status, want[i], "%s: %d", seq[i], r.status);
        cr_expect(strstr(r.head, "Connection: close") == NULL, "%s: %s", seq[i], r.head);
        if (i == 0) {
            cr_expect_str_eq(r.body, "Forbidden\n");
        }
        it_response_fini(&r);
    }
    /* Connection: close from the client is honoured */
    cr_assert_eq(it_conn_sends(c, "GET /admin/x HTTP/1.1\r\nHost: localhost\r\n"
                                  "Connection: close\r\n\r\n"),
                 0);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
    cr_expect_eq(r.status, 403);
    cr_expect(strstr(r.head, "Connection: close") != NULL, "%s", r.head);
    it_response_fini(&r);
    cr_expect(it_conn_wait_closed(c, 3000));
    it_conn_close(c);
}
