/* Integration: configuration reload (SIGHUP and POST /reload). A truststore change admits the
 * newly trusted client and refuses the one whose CA went, also when it offers a session or
 * ticket from before (TLS 1.2 and 1.3) or on a connection opened before (421), while an
 * unchanged domain keeps resuming; a changed
 * backend list takes the next request of a keep-alive HTTP/1.1 or HTTP/2 connection opened
 * before; a broken configuration or a bind change changes nothing and says why (log line,
 * 422, metrics); /metrics and /config follow the new generation. */
#include "h2_util.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(reload, .init = setup, .fini = teardown, .timeout = 90);

#define REQ "GET /r HTTP/1.1\r\nHost: localhost\r\n\r\n"

static const struct it_tls_opts good = {.cert = "client/good.crt", .key = "client/good.key"};
static const struct it_tls_opts other = {.cert = "client/other.crt", .key = "client/other.key"};
static uint16_t admin_port;

/* ---- helpers ---- */

/* One domain (mandatory, truststore `trust`), pool "app" on the given echo ports. */
static struct it_config config(const char *trust, const uint16_t *ports, size_t n)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = n, .admin_port = admin_port};
    cfg.domains[0] =
        (struct it_domain){.names = {"api.example.com", "localhost"}, .truststore = trust};
    for (size_t i = 0; i < n; i++) {
        cfg.servers[i] = ports[i];
    }
    return cfg;
}

static int admin_req(const char *method, const char *path, char **body)
{
    return it_admin_req(admin_port, method, path, 10000, body);
}

/* The value of the series written exactly as `series`, -1 when absent. */
static double metric(const char *series)
{
    char *text = NULL;

    cr_assert_eq(admin_req("GET", "/metrics", &text), 200);
    double v = it_prom_value(text, series);
    free(text);
    return v;
}

/* Rewrites the configuration and sends SIGHUP; waits for the line of generation `gen`. */
static void reload_to(const struct it_config *cfg, unsigned gen)
{
    char g[32];
    snprintf(g, sizeof(g), "generation=%u", gen);
    const char *ok[] = {"event=reloaded", g, "trigger=signal", NULL};
    cr_assert_eq(it_write_config(&env, cfg), 0);
    kill(env.mtlb, SIGHUP);
    cr_assert_eq(it_wait_lines(env.err_log, ok, 1, 10000), 1, "no event=reloaded %s", g);
}

static void exchange(const struct it_tls_opts *o, struct it_exchange *x)
{
    it_tls_exchange(env.port, o, REQ, x);
}

static void expect_served(const struct it_tls_opts *o, const char *what)
{
    struct it_exchange x;
    exchange(o, &x);
    cr_assert(x.outcome == IT_OK && x.resp.status == 200, "%s: %s (%d)", what, x.detail,
              x.resp.status);
    it_exchange_fini(&x);
}

static void expect_refused(const struct it_tls_opts *o, const char *what)
{
    struct it_exchange x;
    exchange(o, &x);
    cr_assert(x.outcome != IT_OK, "%s: served (status %d)", what, x.resp.status);
    cr_assert(!x.reused, "%s: resumed", what);
    it_exchange_fini(&x);
}

/* A session of `good` for version v (TLS 1.2: by ticket, or by session id with no_ticket). */
static SSL_SESSION *session_of(int v, bool no_ticket)
{
    struct it_tls_opts o = good;
    struct it_exchange x;
    o.version = v;
    o.no_ticket = no_ticket;
    exchange(&o, &x);
    cr_assert(x.outcome == IT_OK && x.session != NULL, "first handshake: %s", x.detail);
    SSL_SESSION *s = x.session;
    x.session = NULL;
    it_exchange_fini(&x);
    /* It resumes before any reload, or the test below proves nothing. */
    o.session = s;
    exchange(&o, &x);
    cr_assert(x.outcome == IT_OK && x.reused, "resumption before the reload: %s", x.detail);
    it_exchange_fini(&x);
    return s;
}

static void resume(SSL_SESSION *s, int v, bool no_ticket, struct it_exchange *x)
{
    struct it_tls_opts o = good;
    o.version = v;
    o.no_ticket = no_ticket;
    o.session = s;
    exchange(&o, x);
}

/* The X-Backend of one request on an open connection. */
static void backend_of(struct it_conn *c, char *out, size_t cap)
{
    struct it_response r;
    cr_assert_eq(it_conn_sends(c, REQ), 0);
    cr_assert_eq(it_read_response(c, &r, false), 0, "keep-alive request: %s", c->err);
    cr_assert_eq(r.status, 200);
    cr_assert(it_header_get(r.head, "X-Backend", out, cap), "%s", r.head);
    it_response_fini(&r);
}

/* ---- trust ---- */

Test(reload, truststore_change_admits_new_ca_and_refuses_removed_one_also_by_resumption)
{
    admin_port = it_free_port();
    uint16_t b = it_echo_start(&env, "b1");
    struct it_config cfg = config("trust/full.pem", &b, 1);
    it_mtlb_start(&env, &cfg);
    expect_served(&good, "good client before");
    expect_refused(&other, "other client before");
    SSL_SESSION *s13 = session_of(TLS1_3_VERSION, false);
    SSL_SESSION *s12 = session_of(TLS1_2_VERSION, false);
    SSL_SESSION *s12id = session_of(TLS1_2_VERSION, true);

    cfg = config("trust/other.pem", &b, 1);
    reload_to(&cfg, 2);
    expect_served(&other, "other client after its CA was added");
    expect_refused(&good, "good client after its CA was removed");
    const struct {
        SSL_SESSION *s;
        int v;
        bool no_ticket;
        const char *what;
    } cases[] = {{s13, TLS1_3_VERSION, false, "TLS 1.3 ticket"},
                 {s12, TLS1_2_VERSION, false, "TLS 1.2 ticket"},
                 {s12id, TLS1_2_VERSION, true, "TLS 1.2 session id"}};
    for (size_t i = 0; i < 3; i++) {
        struct it_exchange x;
        resume(cases[i].s, cases[i].v, cases[i].no_ticket, &x);
        cr_assert(!x.reused, "%s from before the reload was resumed", cases[i].what);
        cr_assert(x.outcome != IT_OK, "%s: the removed CA's client was served (%d)", cases[i].what,
                  x.resp.status);
        it_exchange_fini(&x);
        SSL_SESSION_free(cases[i].s);
    }
    /* HTTP/2: the newly trusted client, on a new connection. */
    struct h2_out o;
    h2c_run(&o, 5000, "--cert", (char *)it_pki("client/other.crt"), "--key",
            (char *)it_pki("client/other.key"), NULL);
    struct h2s st;
    get_stream(&o, "/", 0, &st);
    cr_assert_eq(st.status, 200, "h2 with the new CA: %s", o.out);
    h2_out_fini(&o);
    it_mtlb_assert_alive(&env);
}

Test(reload, unchanged_trust_keeps_resuming_after_a_reload)
{
    admin_port = it_free_port();
    uint16_t b[2] = {it_echo_start(&env, "b1"), it_echo_start(&env, "b2")};
    struct it_config cfg = config("trust/full.pem", b, 1);
    it_mtlb_start(&env, &cfg);
    SSL_SESSION *s13 = session_of(TLS1_3_VERSION, false);
    SSL_SESSION *s12 = session_of(TLS1_2_VERSION, false);

    cfg = config("trust/full.pem", b + 1, 1); /* only the backend changes */
    reload_to(&cfg, 2);
    SSL_SESSION *ss[] = {s13, s12};
    int vs[] = {TLS1_3_VERSION, TLS1_2_VERSION};
    for (size_t i = 0; i < 2; i++) {
        struct it_exchange x;
        resume(ss[i], vs[i], false, &x);
        cr_assert(x.outcome == IT_OK && x.resp.status == 200, "%s", x.detail);
        cr_assert(x.reused, "TLS %s ticket from before the reload: not resumed",
                  i == 0 ? "1.3" : "1.2");
        char v[64];
        cr_assert(it_header_get(x.resp.head, "X-Backend", v, sizeof(v)));
        cr_assert_str_eq(v, "b2");
        it_exchange_fini(&x);
        SSL_SESSION_free(ss[i]);
    }
}

/* A reload that changes how a domain verifies clients (here the truststore file replaced in
 * place, as a CA removal or a CRL update is rolled out; the configuration text is the same)
 * makes the verdict of every connection opened before it stale: its next request is answered
 * 421 (a new connection, verified under the new trust, is the way on), never served with the
 * old SUCCESS. HTTP/1.1 keep-alive and HTTP/2 alike. */
Test(reload, trust_change_refuses_the_next_request_of_open_connections)
{
    admin_port = it_free_port();
    uint16_t b = it_echo_start(&env, "b1");
    const char *trust = it_copy_pki(&env, "trust/full.pem", "trust.pem");
    char path[400];
    snprintf(path, sizeof(path), "%s", trust);
    struct it_config cfg = config(path, &b, 1);
    it_mtlb_start(&env, &cfg);
    char err[256];
    struct it_conn *c = it_tls_connect(env.port, &good, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    it_conn_timeout(c, 5000);
    struct it_response r;
    cr_assert_eq(it_conn_sends(c, REQ), 0);
    cr_assert_eq(it_read_response(c, &r, false), 0, "before the reload: %s", c->err);
    cr_assert_eq(r.status, 200);
    it_response_fini(&r);

    /* HTTP/2: a stream before the reload, one after it on the same connection. */
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        usleep(700 * 1000);
        it_copy_pki(&env, "trust/other.pem", "trust.pem"); /* the good client's CA is gone */
        kill(env.mtlb, SIGHUP);
        _exit(0);
    }
    struct h2_out o;
    h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--stream", "path=/a",
            "--stream", "path=/b,after,delay=2000", NULL);
    int st = 0;
    waitpid(pid, &st, 0);
    const char *ok[] = {"event=reloaded", "generation=2", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, ok, 1, 5000), 1, "no reload");
    cr_assert_eq(count_lines(o.out, "connected "), 1, "%s", o.out);
    struct h2s a, bb;
    get_stream(&o, "/a", 0, &a);
    cr_assert_eq(a.status, 200, "before the reload: %s", o.out);
    get_stream(&o, "/b", 0, &bb);
    cr_assert_eq(bb.status, 421, "HTTP/2 stream after the trust changed: %s", o.out);
    /* No later stream could be served: the connection is ended, as HTTP/1.1's is. */
    cr_assert_not_null(strstr(o.out, "goaway last_stream_id=3 error=NO_ERROR"),
                       "HTTP/2 connection told to go away after the 421: %s", o.out);
    h2_out_fini(&o);

    /* HTTP/1.1: the keep-alive connection from before the reload. */
    cr_assert_eq(it_conn_sends(c, REQ), 0);
    cr_assert_eq(it_read_response(c, &r, false), 0, "after the reload: %s", c->err);
    cr_assert_eq(r.status, 421, "HTTP/1.1 request after the trust changed:\n%s", r.head);
    it_response_fini(&r);
    it_conn_close(c);
    expect_refused(&good, "new connection of the removed CA's client");
    expect_served(&other, "new connection of the newly trusted client");
    it_mtlb_assert_alive(&env);
}

/* ---- backends and open connections ---- */

Test(reload, keepalive_http1_connection_goes_to_the_new_backend)
{
    admin_port = it_free_port();
    uint16_t b[2] = {it_echo_start(&env, "b1"), it_echo_start(&env, "b2")};
    struct it_config cfg = config("trust/full.pem", b, 1);
    it_mtlb_start(&env, &cfg);
    char err[256], v[64];
    struct it_conn *c = it_tls_connect(env.port, &good, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    it_conn_timeout(c, 5000);
    for (int i = 0; i < 3; i++) {
        backend_of(c, v, sizeof(v));
        cr_assert_str_eq(v, "b1", "before the reload");
    }
    cfg = config("trust/full.pem", b + 1, 1);
    reload_to(&cfg, 2);
    for (int i = 0; i < 3; i++) {
        backend_of(c, v, sizeof(v));
        cr_assert_str_eq(v, "b2", "request %d after the reload, same connection", i);
    }
    /* Back again: the first snapshot's pool name comes back with another server list. */
    cfg = config("trust/full.pem", b, 2);
    reload_to(&cfg, 3);
    backend_of(c, v, sizeof(v));
    cr_assert(strcmp(v, "b1") == 0 || strcmp(v, "b2") == 0, "%s", v);
    it_conn_close(c); /* the last user of generations 1 and 2 goes (ASan: no leak) */
    expect_served(&good, "new connection");
    it_mtlb_assert_alive(&env);
    cr_assert_eq(WEXITSTATUS(it_mtlb_stop(&env, 5000)), 0);
}

Test(reload, keepalive_http2_connection_goes_to_the_new_backend)
{
    admin_port = it_free_port();
    uint16_t b[2] = {it_echo_start(&env, "b1"), it_echo_start(&env, "b2")};
    struct it_config cfg = config("trust/full.pem", b, 1);
    it_mtlb_start(&env, &cfg);
    struct it_config next = config("trust/full.pem", b + 1, 1);
    cr_assert_eq(it_write_config(&env, &cfg), 0);
    /* The reload happens while the h2c connection waits between its streams. */
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        usleep(700 * 1000);
        it_write_config(&env, &next);
        kill(env.mtlb, SIGHUP);
        _exit(0);
    }
    struct h2_out o;
    h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--show-header", "x-backend",
            "--stream", "path=/a,n=2", "--stream", "path=/b,n=2,after,delay=2000", NULL);
    int st = 0;
    waitpid(pid, &st, 0);
    cr_assert_eq(o.rc, 0, "h2c: %s %s", o.out, o.err);
    cr_assert_eq(count_lines(o.out, "connected "), 1, "%s", o.out);
    const char *ok[] = {"event=reloaded", "generation=2", NULL};
    cr_assert_eq(it_count_lines(env.err_log, ok), 1, "the reload happened during the run");
    for (size_t i = 0; i < 2; i++) {
        struct h2s a, bb;
        get_stream(&o, "/a", i, &a);
        get_stream(&o, "/b", i, &bb);
        cr_assert_eq(a.status, 200, "%s", o.out);
        cr_assert_eq(bb.status, 200, "%s", o.out);
        char want_a[64], want_b[64];
        snprintf(want_a, sizeof(want_a), "header %d x-backend: b1", a.id);
        snprintf(want_b, sizeof(want_b), "header %d x-backend: b2", bb.id);
        cr_assert(strstr(o.out, want_a) != NULL, "stream %d before: %s", a.id, o.out);
        cr_assert(strstr(o.out, want_b) != NULL, "stream %d after: %s", bb.id, o.out);
    }
    h2_out_fini(&o);
    it_mtlb_assert_alive(&env);
}

/* ---- refused reloads ---- */

static void expect_unchanged(const char *file_hint, double failed)
{
    /* The line first: SIGHUP is handled asynchronously. */
    const char *line[] = {"level=error", "event=reload_failed", file_hint, NULL};
    cr_assert_eq(it_wait_lines(env.err_log, line, 1, 5000), 1, "reload_failed naming %s",
                 file_hint);
    cr_assert_eq(metric("mtlb_config_generation"), 1, "generation unchanged");
    cr_assert_eq(metric("mtlb_config_reloads_total{result=\"failed\"}"), failed);
    cr_assert_eq(metric("mtlb_config_reloads_total{result=\"ok\"}"), 0);
    expect_served(&good, "old configuration still serves");
    expect_refused(&other, "old truststore still refuses");
}

Test(reload, broken_configuration_changes_nothing)
{
    admin_port = it_free_port();
    uint16_t b = it_echo_start(&env, "b1");
    struct it_config cfg = config("trust/full.pem", &b, 1);
    it_mtlb_start(&env, &cfg);
    char *m0 = NULL;
    cr_assert_eq(admin_req("GET", "/config", &m0), 200);

    /* 1: YAML syntax error, by SIGHUP */
    FILE *f = fopen(env.config, "w");
    cr_assert_not_null(f);
    fputs("listeners:\n  - bind: \"127.0.0.1:1\"\n    domains: [\n", f);
    fclose(f);
    kill(env.mtlb, SIGHUP);
    char hint[400];
    snprintf(hint, sizeof(hint), "error=\"%s:", env.config);
    expect_unchanged(hint, 1);

    /* 2: a missing certificate file, by POST /reload: 422 with the reason */
    struct it_config bad = config("trust/other.pem", &b, 1);
    bad.domains[0].cert = "server/missing.crt";
    cr_assert_eq(it_write_config(&env, &bad), 0);
    char *body = NULL;
    cr_assert_eq(admin_req("POST", "/reload", &body), 422);
    cr_assert(strstr(body, "missing.crt") != NULL, "%s", body);
    free(body);
    expect_unchanged("missing.crt", 2);

    /* 3: an unknown key */
    bad = config("trust/other.pem", &b, 1);
    bad.tls = "{no_such_key: 1}";
    cr_assert_eq(it_write_config(&env, &bad), 0);
    kill(env.mtlb, SIGHUP);
    expect_unchanged("no_such_key", 3);

    char *m1 = NULL;
    cr_assert_eq(admin_req("GET", "/config", &m1), 200);
    cr_assert_str_eq(m1, m0, "/config unchanged");
    free(m0);
    free(m1);
    it_mtlb_assert_alive(&env);
}

Test(reload, bind_change_needs_a_restart)
{
    admin_port = it_free_port();
    uint16_t b = it_echo_start(&env, "b1");
    struct it_config cfg = config("trust/other.pem", &b, 1);
    it_mtlb_start(&env, &cfg);
    uint16_t old_port = env.port;
    env.port = it_free_port(); /* it_write_config binds the listener to env.port */
    cfg = config("trust/full.pem", &b, 1);
    cr_assert_eq(it_write_config(&env, &cfg), 0);
    env.port = old_port;
    char *body = NULL;
    cr_assert_eq(admin_req("POST", "/reload", &body), 422);
    cr_assert(strstr(body, "restart needed: listeners[0].bind changed") != NULL, "%s", body);
    free(body);
    const char *line[] = {"event=reload_failed", "restart needed", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, line, 1, 3000), 1);
    cr_assert_eq(metric("mtlb_config_generation"), 1);
    /* Nothing of the new file applied: the truststore is still other.pem. */
    expect_refused(&good, "truststore unchanged");
    expect_served(&other, "served on the old port");
}

/* ---- POST /reload, /metrics, /config ---- */

Test(reload, post_reload_metrics_and_config_follow)
{
    admin_port = it_free_port();
    uint16_t b[2] = {it_echo_start(&env, "b1"), it_echo_start(&env, "b2")};
    struct it_config cfg = config("trust/full.pem", b, 1);
    it_mtlb_start(&env, &cfg);
    cr_assert_eq(metric("mtlb_config_generation"), 1);
    cr_assert_eq(metric("mtlb_config_reloads_total{result=\"ok\"}"), 0);
    double t0 = metric("mtlb_config_last_reload_success_timestamp_seconds");
    cr_assert(t0 > 1.5e9, "start counts as a success: %f", t0);
    char s1[128], s2[128];
    snprintf(s1, sizeof(s1), "mtlb_backend_up{backend=\"app\",server=\"127.0.0.1:%u\"}", b[0]);
    snprintf(s2, sizeof(s2), "mtlb_backend_up{backend=\"app\",server=\"127.0.0.1:%u\"}", b[1]);
    cr_assert_eq(metric(s1), 1);
    cr_assert_eq(metric(s2), -1);

    cfg = config("trust/full.pem", b + 1, 1);
    cr_assert_eq(it_write_config(&env, &cfg), 0);
    char *body = NULL;
    cr_assert_eq(admin_req("POST", "/reload", &body), 200);
    cr_assert_str_eq(body, "{\"generation\":2}\n");
    free(body);
    const char *line[] = {"level=info",    "event=reloaded", "generation=2",
                          "trigger=admin", "pools:~app",     NULL};
    cr_assert_eq(it_wait_lines(env.err_log, line, 1, 3000), 1);
    cr_assert_eq(metric("mtlb_config_generation"), 2);
    cr_assert_eq(metric("mtlb_config_reloads_total{result=\"ok\"}"), 1);
    cr_assert_eq(metric("mtlb_config_reloads_total{result=\"failed\"}"), 0);
    cr_assert_eq(metric(s1), -1, "a removed server has no mtlb_backend_up");
    cr_assert_eq(metric(s2), 1);
    char *cfgtext = NULL, want[64];
    cr_assert_eq(admin_req("GET", "/config", &cfgtext), 200);
    snprintf(want, sizeof(want), "127.0.0.1:%u", b[1]);
    cr_assert(strstr(cfgtext, want) != NULL, "/config shows the new server:\n%s", cfgtext);
    snprintf(want, sizeof(want), "127.0.0.1:%u", b[0]);
    cr_assert(strstr(cfgtext, want) == NULL, "/config still shows the old server:\n%s", cfgtext);
    free(cfgtext);
    expect_served(&good, "after POST /reload");
    char s2req[160];
    snprintf(s2req, sizeof(s2req),
             "mtlb_backend_requests_total{backend=\"app\",server=\"127.0.0.1:%u\",code=\"200\"}",
             b[1]);
    for (int i = 0; i < 50 && metric(s2req) < 1; i++) {
        usleep(20000);
    }
    cr_assert_eq(metric(s2req), 1, "counted under the new server's slot");
    cr_assert_eq(admin_req("GET", "/reload", NULL), 405);
}

/* A domain added by a reload with another truststore cannot be reached on a connection that
 * was verified for the first domain before (421), while that domain itself still can. */
Test(reload, domain_added_by_reload_is_misdirected_on_an_old_connection)
{
    admin_port = it_free_port();
    uint16_t b = it_echo_start(&env, "b1");
    struct it_config cfg = config("trust/full.pem", &b, 1);
    it_mtlb_start(&env, &cfg);
    char err[256];
    struct it_conn *c = it_tls_connect(env.port, &good, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    it_conn_timeout(c, 5000);
    cfg.n_domains = 2;
    cfg.domains[1] = (struct it_domain){.names = {"other.example.com"},
                                        .cert = "server/other.crt",
                                        .key = "server/other.key",
                                        .truststore = "trust/other.pem"};
    reload_to(&cfg, 2);
    const char *hosts[] = {"other.example.com", "localhost"};
    const int want[] = {421, 200};
    for (size_t i = 0; i < 2; i++) {
        char req[160];
        struct it_response r;
        snprintf(req, sizeof(req), "GET /m HTTP/1.1\r\nHost: %s\r\n\r\n", hosts[i]);
        cr_assert_eq(it_conn_sends(c, req), 0);
        cr_assert_eq(it_read_response(c, &r, false), 0, "%s: %s", hosts[i], c->err);
        cr_assert_eq(r.status, want[i], "Host %s on the old connection", hosts[i]);
        bool close = it_header_count(r.head, "Connection") > 0;
        it_response_fini(&r);
        if (close) {
            it_conn_close(c);
            c = it_tls_connect(env.port, &good, err, sizeof(err));
            cr_assert_not_null(c, "%s", err);
            it_conn_timeout(c, 5000);
        }
    }
    it_conn_close(c);
}

/* The active checks follow the new server list: a server added by a reload is probed (it goes
 * down when killed), the removed one no longer is. */
Test(reload, health_checks_follow_the_new_pool)
{
    admin_port = it_free_port();
    uint16_t b[2] = {it_echo_start(&env, "b1"), it_echo_start(&env, "b2")};
    struct it_config cfg = config("trust/full.pem", b, 1);
    cfg.backend_extra = "health: {path: /healthz, interval: 200ms, timeout: 100ms, fall: 1}";
    it_mtlb_start(&env, &cfg);
    cfg = config("trust/full.pem", b + 1, 1);
    cfg.backend_extra = "health: {path: /healthz, interval: 200ms, timeout: 100ms, fall: 1}";
    reload_to(&cfg, 2);
    it_echo_kill(&env, 1);
    char addr[64];
    snprintf(addr, sizeof(addr), "server=127.0.0.1:%u", b[1]);
    const char *down[] = {"event=server_down", addr, "check=active", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, down, 1, 5000), 1, "the new server is checked");
    it_echo_kill(&env, 0);
    snprintf(addr, sizeof(addr), "server=127.0.0.1:%u", b[0]);
    const char *gone[] = {"event=server_down", addr, NULL};
    usleep(800 * 1000);
    cr_assert_eq(it_count_lines(env.err_log, gone), 0, "the removed server is not checked");
    cr_assert_eq(admin_req("GET", "/readyz", NULL), 503, "the pool has no server up");
}

/* A shorter timeout applies to timers armed after the reload, even on a worker whose timer
 * list still holds entries armed before it with later deadlines (the list stays sorted). */
Test(reload, shorter_idle_timeout_applies_after_the_reload)
{
    admin_port = it_free_port();
    uint16_t b = it_echo_start(&env, "b1");
    struct it_config cfg = config("trust/full.pem", &b, 1);
    cfg.timeouts = "{client_idle: 20s, drain: 2s}";
    it_mtlb_start(&env, &cfg);
    /* One idle connection on each of the two workers, their idle timers 20 s out. */
    struct it_conn *old[2];
    char err[256], v[64];
    for (int i = 0; i < 2; i++) {
        old[i] = it_tls_connect(env.port, &good, err, sizeof(err));
        cr_assert_not_null(old[i], "%s", err);
        it_conn_timeout(old[i], 5000);
        backend_of(old[i], v, sizeof(v));
    }
    cfg.timeouts = "{client_idle: 1s, drain: 2s}";
    reload_to(&cfg, 2);
    struct it_conn *c = it_tls_connect(env.port, &good, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    it_conn_timeout(c, 5000);
    backend_of(c, v, sizeof(v));
    double t0 = it_now();
    cr_assert(it_conn_wait_closed(c, 4000), "the new idle connection stayed open");
    cr_assert(it_now() - t0 < 2.5, "closed after %.1f s, not after about 1 s", it_now() - t0);
    it_conn_close(c);
    for (int i = 0; i < 2; i++) {
        backend_of(old[i], v, sizeof(v)); /* still open: armed with 20 s; now re-armed */
        cr_assert(it_conn_wait_closed(old[i], 4000), "old connection %d: new timeout", i);
        it_conn_close(old[i]);
    }
}
