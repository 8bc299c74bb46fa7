/* Integration: HTTPS to backends (README "HTTPS to backends"). mtlb-tls-echo backends with the
 * test PKI's backend/ certificates: a verified backend over kept-alive connections, a wrong CA
 * and a wrong name refused (5xx and a log line naming the server), mtlb's client certificate
 * seen by the backend, session resumption on reconnect, the next server after a TLS failure,
 * 1 MiB bodies both ways, and the configuration's errors. HTTP/1.1 and HTTP/2 clients; the
 * meson epoll variant runs the same on the epoll I/O backend. */
#include "h2_util.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define EDGE_DN "/C=PL/O=mtlb Backends/CN=mtlb-edge"
#define TLS_FULL                                                                                   \
    "tls: {ca: backend/ca.crt, sni: orders.internal, certificate: backend/edge.crt, key: "         \
    "backend/edge.key}"

static const struct it_tls_opts good = {.cert = "client/good.crt", .key = "client/good.key"};
static char backend_extra[1024];

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(backend_tls, .init = setup, .fini = teardown, .timeout = 90);

static const char *tls_echo_path(void)
{
    static char path[512];
    const char *p = getenv("MTLB_TLS_ECHO");
    if (p != NULL) {
        return p;
    }
    const char *echo = getenv("MTLB_ECHO");
    cr_assert_not_null(echo, "MTLB_ECHO is not set (run via meson)");
    snprintf(path, sizeof(path), "%s", echo);
    char *slash = strrchr(path, '/');
    snprintf(slash != NULL ? slash + 1 : path, sizeof(path) - 64, "mtlb-tls-echo");
    return path;
}

/* Starts an mtlb-tls-echo backend (cert/key PKI-relative; ca: require a client certificate
 * from it, NULL: none) and waits for it to listen. The harness reaps it with the others. */
static uint16_t tls_echo_start_v(const char *name, const char *cert, const char *key,
                                 const char *ca, const char *max_version)
{
    char listen[32], log[320], c[300], k[300], a[300];
    uint16_t port = it_free_port();

    cr_assert(env.n_echo < IT_MAX_ECHO);
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
    snprintf(log, sizeof(log), "%s/tls-echo-%s.log", env.dir, name);
    snprintf(c, sizeof(c), "%s", it_pki(cert));
    snprintf(k, sizeof(k), "%s", it_pki(key));
    snprintf(a, sizeof(a), "%s", ca != NULL ? it_pki(ca) : "");
    char *argv[16] = {(char *)tls_echo_path(),
                      "--listen",
                      listen,
                      "--name",
                      (char *)name,
                      "--cert",
                      c,
                      "--key",
                      k};
    size_t n = 9;
    if (ca != NULL) {
        argv[n++] = "--ca";
        argv[n++] = a;
    }
    if (max_version != NULL) {
        argv[n++] = "--max-version";
        argv[n++] = (char *)max_version;
    }
    argv[n] = NULL;
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    env.echo[env.n_echo] = pid;
    env.echo_port[env.n_echo++] = port;
    const char *ready[] = {"listening on", NULL};
    cr_assert_eq(it_wait_lines(log, ready, 1, 10000), 1, "%s did not start", name);
    return port;
}

static uint16_t tls_echo_start(const char *name, const char *cert, const char *key, const char *ca)
{
    return tls_echo_start_v(name, cert, key, ca, NULL);
}

/* The orders backend (requires a client certificate from the backend CA). */
static uint16_t orders(void)
{
    return tls_echo_start("orders", "backend/orders.crt", "backend/orders.key", "backend/ca.crt");
}

/* One pool of `ports` with backends[].tls = tls (YAML; backend/ and ca/ paths are made
 * PKI-absolute, since the config lives in the test's directory). */
static void make_cfg(struct it_config *cfg, const uint16_t *ports, size_t n, const char *tls)
{
    char *out = backend_extra;
    size_t cap = sizeof(backend_extra);
    const char *pki = it_pki("");

    *cfg = (struct it_config){.n_servers = n};
    for (const char *p = tls; *p != '\0' && cap > 1;) {
        if (strncmp(p, "backend/", 8) == 0 || strncmp(p, "ca/", 3) == 0) {
            int w = snprintf(out, cap, "%s", pki);
            out += w;
            cap -= (size_t)w;
        }
        *out++ = *p++;
        cap--;
    }
    *out = '\0';
    memcpy(cfg->servers, ports, n * sizeof(*ports));
    cfg->backend_extra = backend_extra;
}

static void start_with(const uint16_t *ports, size_t n, const char *tls)
{
    struct it_config cfg;
    make_cfg(&cfg, ports, n, tls);
    it_mtlb_start(&env, &cfg);
}

/* One GET on c; the response's header `name` into v. */
static int get_on(struct it_conn *c, const char *path, struct it_response *r)
{
    char req[256];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path);
    cr_assert_eq(it_conn_sends(c, req), 0);
    cr_assert_eq(it_read_response(c, r, false), 0, "%s: %s", path, c->err);
    return r->status;
}

static void hdr(const struct it_response *r, const char *name, char *v, size_t cap)
{
    cr_assert(it_header_get(r->head, name, v, cap), "no %s in:\n%s", name, r->head);
}

static void expect_tls_failed_line(uint16_t port, const char *reason)
{
    char up[64];
    snprintf(up, sizeof(up), "upstream=127.0.0.1:%u", port);
    const char *needles[] = {"event=upstream_tls_failed", up, reason, NULL};
    cr_assert_geq(it_wait_lines(env.err_log, needles, 1, 5000), 1,
                  "no upstream_tls_failed line for %s with %s", up, reason);
}

/* ---- verified backend, keep-alive, client certificate ---- */

Test(backend_tls, h1_verified_backend_over_one_kept_alive_connection)
{
    uint16_t port = orders();
    start_with(&port, 1, TLS_FULL);
    char err[256], v[256];
    struct it_conn *c = it_tls_connect(env.port, &good, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    struct it_response a, b;
    cr_assert_eq(get_on(c, "/a", &a), 200);
    cr_assert_eq(get_on(c, "/b", &b), 200);
    hdr(&a, "X-Conn", v, sizeof(v));
    char conn[256];
    memcpy(conn, v, sizeof(conn));
    hdr(&b, "X-Conn", v, sizeof(v));
    cr_assert_str_eq(v, conn, "the second request did not reuse the pooled connection");
    hdr(&b, "X-Request-N", v, sizeof(v));
    cr_assert_str_eq(v, "2");
    hdr(&a, "X-SNI", v, sizeof(v));
    cr_assert_str_eq(v, "orders.internal");
    hdr(&a, "X-ALPN", v, sizeof(v));
    cr_assert_str_eq(v, "http/1.1");
    hdr(&a, "X-Client-Subject", v, sizeof(v));
    cr_assert_str_eq(v, EDGE_DN, "the backend saw client certificate %s", v);
    it_response_fini(&a);
    it_response_fini(&b);
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}

/* A pooled backend connection that mtlb closes (here: idle past backend_idle) ends with a
 * close_notify, so the backend sees an orderly close, not a truncation. */
Test(backend_tls, idle_pooled_connection_ends_with_close_notify)
{
    uint16_t port = orders();
    struct it_config cfg;
    make_cfg(&cfg, &port, 1, TLS_FULL);
    cfg.timeouts = "{handshake: 2s, client_header: 2s, client_body: 2s, client_idle: 5s, "
                   "backend_connect: 1s, backend_response: 1s, backend_idle: 1s, drain: 2s}";
    it_mtlb_start(&env, &cfg);
    char err[256], log[320];
    struct it_conn *c = it_tls_connect(env.port, &good, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    struct it_response a;
    cr_assert_eq(get_on(c, "/a", &a), 200);
    it_response_fini(&a);
    snprintf(log, sizeof(log), "%s/tls-echo-orders.log", env.dir);
    const char *orderly[] = {"orders: peer closed: close_notify", NULL};
    cr_expect_eq(it_wait_lines(log, orderly, 1, 5000), 1, "no close_notify seen by the backend");
    const char *cut[] = {"without close_notify", NULL};
    cr_expect_eq(it_count_lines(log, cut), 0, "a truncated close");
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}

Test(backend_tls, h2_verified_backend_over_one_kept_alive_connection)
{
    uint16_t port = orders();
    start_with(&port, 1, TLS_FULL);
    struct h2_out o;
    h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--show-header", "x-conn",
            "--show-header", "x-client-subject", "--show-header", "x-request-n", "--stream",
            "path=/a", "--stream", "path=/b,after", NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    struct h2s a, b;
    get_stream(&o, "/a", 0, &a);
    get_stream(&o, "/b", 0, &b);
    cr_assert_eq(a.status, 200, "%s", o.out);
    cr_assert_eq(b.status, 200, "%s", o.out);
    char want[160];
    snprintf(want, sizeof(want), "header %d x-client-subject: " EDGE_DN "\n", a.id);
    cr_assert_not_null(strstr(o.out, want), "%s", o.out);
    snprintf(want, sizeof(want), "header %d x-request-n: 2\n", b.id);
    cr_assert_not_null(strstr(o.out, want), "the second stream did not reuse it:\n%s", o.out);
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

/* verify: false with no ca: served, and the start says so. */
Test(backend_tls, verify_false_is_served_and_warned)
{
    uint16_t port = tls_echo_start("plainca", "backend/orders.crt", "backend/orders.key", NULL);
    start_with(&port, 1, "tls: {verify: false}");
    const char *needles[] = {"event=backend_tls_unverified", "backend=app", NULL};
    free(it_wait_line(env.err_log, needles));
    struct it_response r;
    it_get(env.port, &good, "/x", &r);
    cr_assert_eq(r.status, 200);
    char v[256];
    hdr(&r, "X-Client-Subject", v, sizeof(v));
    cr_assert_str_eq(v, "-");
    it_response_fini(&r);
    it_mtlb_stop(&env, 5000);
}

/* No sni: the server's IP literal is verified against the certificate's IP SAN, no SNI. */
Test(backend_tls, ip_literal_verified_by_ip_san_without_sni)
{
    uint16_t port = orders();
    start_with(&port, 1,
               "tls: {ca: backend/ca.crt, certificate: backend/edge.crt, key: backend/edge.key}");
    struct it_response r;
    it_get(env.port, &good, "/x", &r);
    cr_assert_eq(r.status, 200, "%s", r.head);
    char v[256];
    hdr(&r, "X-SNI", v, sizeof(v));
    cr_assert_str_eq(v, "-");
    it_response_fini(&r);
    it_mtlb_stop(&env, 5000);
}

/* ---- refusals: each is a failed connect (5xx) with a line naming the server ---- */

static void expect_refused_h1_h2(uint16_t port, const char *reason)
{
    struct it_response r;
    it_get(env.port, &good, "/x", &r);
    cr_assert(r.status == 502 || r.status == 503, "status %d", r.status);
    it_response_fini(&r);
    expect_tls_failed_line(port, reason);
    struct h2_out o;
    h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--stream", "path=/y", NULL);
    struct h2s s;
    get_stream(&o, "/y", 0, &s);
    cr_assert(s.status == 502 || s.status == 503, "h2 status %d\n%s", s.status, o.out);
    h2_out_fini(&o);
}

Test(backend_tls, wrong_ca_refused)
{
    uint16_t port = orders();
    start_with(&port, 1,
               "tls: {ca: ca/root.crt, sni: orders.internal, certificate: backend/edge.crt, key: "
               "backend/edge.key}");
    expect_refused_h1_h2(port, "certificate verify failed");
    it_mtlb_stop(&env, 5000);
}

Test(backend_tls, name_mismatch_refused)
{
    uint16_t port = orders();
    start_with(&port, 1,
               "tls: {ca: backend/ca.crt, sni: billing.internal, certificate: backend/edge.crt, "
               "key: backend/edge.key}");
    expect_refused_h1_h2(port, "hostname mismatch");
    it_mtlb_stop(&env, 5000);
}

/* A backend that requires a client certificate refuses mtlb without one. */
Test(backend_tls, backend_requiring_a_client_certificate_refuses_none)
{
    uint16_t port = orders();
    start_with(&port, 1, "tls: {ca: backend/ca.crt, sni: orders.internal}");
    struct it_response r;
    it_get(env.port, &good, "/x", &r);
    cr_assert(r.status == 502 || r.status == 503, "status %d", r.status);
    it_response_fini(&r);
    it_mtlb_stop(&env, 5000);
}

/* ---- resumption, fallback ---- */

Test(backend_tls, h1_reconnect_resumes_the_session)
{
    uint16_t port = orders();
    start_with(&port, 1, TLS_FULL);
    char err[256], v[64], first[64];
    struct it_conn *c = it_tls_connect(env.port, &good, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    struct it_response a, b;
    /* /close: the backend ends its connection after answering; the next request reconnects. */
    cr_assert_eq(get_on(c, "/close", &a), 200);
    cr_assert_eq(get_on(c, "/again", &b), 200);
    hdr(&a, "X-Resumed", v, sizeof(v));
    cr_assert_str_eq(v, "0");
    hdr(&a, "X-Conn", first, sizeof(first));
    hdr(&b, "X-Conn", v, sizeof(v));
    cr_assert_str_neq(v, first, "no reconnect happened");
    hdr(&b, "X-Resumed", v, sizeof(v));
    cr_assert_str_eq(v, "1", "the reconnect did not resume the session");
    it_response_fini(&a);
    it_response_fini(&b);
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}

/* TLS 1.2 backends resume too (the session arrives with the handshake, not after it). */
Test(backend_tls, tls12_backend_reconnect_resumes)
{
    uint16_t port = tls_echo_start_v("orders12", "backend/orders.crt", "backend/orders.key",
                                     "backend/ca.crt", "TLS1.2");
    start_with(&port, 1, TLS_FULL);
    char err[256], v[64];
    struct it_conn *c = it_tls_connect(env.port, &good, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    struct it_response a, b;
    cr_assert_eq(get_on(c, "/close", &a), 200);
    cr_assert_eq(get_on(c, "/again", &b), 200);
    hdr(&a, "X-TLS-Version", v, sizeof(v));
    cr_assert_str_eq(v, "TLSv1.2");
    hdr(&b, "X-Resumed", v, sizeof(v));
    cr_assert_str_eq(v, "1", "the TLS 1.2 reconnect did not resume");
    it_response_fini(&a);
    it_response_fini(&b);
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}

Test(backend_tls, h2_reconnect_resumes_the_session)
{
    uint16_t port = orders();
    start_with(&port, 1, TLS_FULL);
    struct h2_out o;
    h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--show-header", "x-resumed",
            "--stream", "path=/close", "--stream", "path=/again,after", NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    struct h2s a, b;
    get_stream(&o, "/close", 0, &a);
    get_stream(&o, "/again", 0, &b);
    cr_assert_eq(b.status, 200, "%s", o.out);
    char want[96];
    snprintf(want, sizeof(want), "header %d x-resumed: 1\n", b.id);
    cr_assert_not_null(strstr(o.out, want), "the reconnect did not resume:\n%s", o.out);
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

/* One server presents a certificate of another CA: every request lands on the other. */
Test(backend_tls, next_server_after_a_tls_failure)
{
    uint16_t ports[2];
    ports[0] = tls_echo_start("wrong", "server/api.crt", "server/api.key", NULL);
    ports[1] = orders();
    start_with(ports, 2, TLS_FULL);
    for (int i = 0; i < 4; i++) {
        struct it_exchange x;
        it_tls_exchange(env.port, &good,
                        "POST /p HTTP/1.1\r\nHost: localhost\r\n"
                        "Content-Length: 3\r\n\r\nabc",
                        &x);
        cr_assert_eq(x.outcome, IT_OK, "POST %d: %s", i, x.detail);
        cr_assert_eq(x.resp.status, 200, "POST %d: %d", i, x.resp.status);
        char v[64];
        cr_assert(it_header_get(x.resp.head, "X-Backend", v, sizeof(v)));
        cr_assert_str_eq(v, "orders");
        cr_assert_str_eq(x.resp.body, "abc");
        it_exchange_fini(&x);
    }
    expect_tls_failed_line(ports[0], "certificate verify failed");
    struct h2_out o;
    h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--stream",
            "path=/p,method=POST,body=1000,n=4", NULL);
    for (size_t i = 0; i < 4; i++) {
        struct h2s s;
        get_stream(&o, "/p", i, &s);
        cr_assert_eq(s.status, 200, "h2 POST %zu: %d\n%s", i, s.status, o.out);
    }
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

/* ---- 1 MiB both ways, byte for byte ---- */

Test(backend_tls, h1_large_bodies_both_ways)
{
    uint16_t port = orders();
    start_with(&port, 1, TLS_FULL);
    size_t n = 1024 * 1024;
    char *body = malloc(n), head[160];
    for (size_t i = 0; i < n; i++) {
        body[i] = (char)(i * 7919 % 251);
    }
    char err[256];
    struct it_conn *c = it_tls_connect(env.port, &good, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    it_conn_timeout(c, 20000);
    for (int round = 0; round < 2; round++) {
        snprintf(head, sizeof(head),
                 "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: %zu\r\n\r\n", n);
        cr_assert_eq(it_conn_sends(c, head), 0);
        cr_assert_eq(it_conn_send(c, body, n), 0);
        struct it_response r;
        cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
        cr_assert_eq(r.status, 200);
        cr_assert_eq(r.body_len, n, "echoed %zu bytes of %zu", r.body_len, n);
        cr_assert(memcmp(r.body, body, n) == 0, "the echoed body differs");
        it_response_fini(&r);
    }
    it_conn_close(c);
    free(body);
    it_mtlb_stop(&env, 5000);
}

Test(backend_tls, h2_large_bodies_both_ways)
{
    uint16_t port = orders();
    start_with(&port, 1, TLS_FULL);
    struct h2_out o;
    h2c_run(&o, 20000, "--cert", good_cert(), "--key", good_key(), "--stream",
            "path=/echo,method=POST,body=1048576", "--stream",
            "path=/echo2,method=POST,body=1048576,no-cl,after", NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    const char *paths[] = {"/echo", "/echo2"};
    for (size_t i = 0; i < 2; i++) {
        struct h2s s;
        get_stream(&o, paths[i], 0, &s);
        cr_assert_eq(s.status, 200, "%s", o.out);
        cr_assert_eq(s.bytes, MIB, "%s: %llu bytes", paths[i], s.bytes);
        cr_assert_eq(s.fnv, pattern_fnv(MIB), "%s: the echoed body differs", paths[i]);
    }
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

/* ---- configuration ---- */

static void expect_check_error(const char *tls, const char *what)
{
    uint16_t port = it_free_port();
    struct it_config cfg = {.n_servers = 1, .servers = {port}};
    snprintf(backend_extra, sizeof(backend_extra), "%s", tls);
    cfg.backend_extra = backend_extra;
    struct it_run_result r = it_mtlb_check(&env, &cfg);
    cr_assert_neq(r.rc, 0, "mtlb -t accepted %s", tls);
    cr_assert_not_null(strstr(r.err, what), "mtlb -t on %s:\n%s", tls, r.err);
    cr_assert_not_null(strstr(r.err, env.config), "no file name in:\n%s", r.err);
    it_run_result_fini(&r);
}

Test(backend_tls, check_reports_tls_errors_with_their_place)
{
    expect_check_error("tls: {sni: orders.internal}", "ca is required");
    expect_check_error("tls: {ca: /nonexistent/ca.pem}", "/nonexistent/ca.pem");
    char bad[600];
    snprintf(bad, sizeof(bad), "tls: {ca: %s, certificate: %s}", it_pki("backend/ca.crt"),
             it_pki("backend/edge.crt"));
    expect_check_error(bad, "certificate and key go together");
    snprintf(bad, sizeof(bad), "tls: {ca: %s, certificate: %s, key: %s}", it_pki("backend/ca.crt"),
             it_pki("backend/edge.crt"), it_pki("backend/orders.key"));
    expect_check_error(bad, "does not match");
    snprintf(bad, sizeof(bad), "tls: {ca: %s, ciphers: NOT-A-CIPHER}", it_pki("backend/ca.crt"));
    expect_check_error(bad, "tls.ciphers");
}

/* ---- health checks speak HTTPS too, verified as requests are ---- */

Test(backend_tls, health_checks_use_tls_and_verify)
{
    uint16_t ports[2];
    ports[0] = tls_echo_start("wrong", "server/api.crt", "server/api.key", NULL);
    ports[1] = orders();
    start_with(ports, 2,
               TLS_FULL "\n    health: {path: /healthz, interval: 200ms, timeout: 200ms, rise: 1, "
                        "fall: 1}");
    char up[64];
    snprintf(up, sizeof(up), "server=127.0.0.1:%u", ports[0]);
    const char *down[] = {"event=server_down", up, "check=active", "tls: certificate verify failed",
                          NULL};
    cr_assert_geq(it_wait_lines(env.err_log, down, 1, 3000), 1, "no active server_down for %s", up);
    /* The good server is never marked down: its probes shake hands and get a status. */
    snprintf(up, sizeof(up), "server=127.0.0.1:%u", ports[1]);
    const char *good_down[] = {"event=server_down", up, NULL};
    usleep(600 * 1000);
    cr_assert_eq(it_count_lines(env.err_log, good_down), 0, "the TLS server was marked down");
    struct it_response r;
    it_get(env.port, &good, "/x", &r);
    cr_assert_eq(r.status, 200);
    it_response_fini(&r);
    it_mtlb_stop(&env, 5000);
}

/* The contexts belong to the snapshot: a reload that fixes the CA takes effect. */
Test(backend_tls, reload_rebuilds_the_contexts)
{
    uint16_t port = orders();
    start_with(&port, 1,
               "tls: {ca: ca/root.crt, sni: orders.internal, certificate: backend/edge.crt, key: "
               "backend/edge.key}");
    struct it_response r;
    it_get(env.port, &good, "/x", &r);
    cr_assert(r.status == 502 || r.status == 503, "status %d", r.status);
    it_response_fini(&r);
    struct it_config cfg;
    make_cfg(&cfg, &port, 1, TLS_FULL);
    cr_assert_eq(it_write_config(&env, &cfg), 0);
    kill(env.mtlb, SIGHUP);
    const char *ok[] = {"event=reloaded", "generation=2", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, ok, 1, 10000), 1, "no event=reloaded");
    it_get(env.port, &good, "/x", &r);
    cr_assert_eq(r.status, 200, "after the reload: %d", r.status);
    it_response_fini(&r);
    it_mtlb_stop(&env, 5000);
}

/* A plain-HTTP backend behind tls: (a common slip) fails at once, named, not after a timeout. */
Test(backend_tls, plain_backend_behind_tls_is_refused_at_once)
{
    uint16_t port = it_echo_start(&env, "plain");
    start_with(&port, 1, TLS_FULL);
    double t0 = it_now();
    struct it_response r;
    it_get(env.port, &good, "/x", &r);
    cr_assert(r.status == 502 || r.status == 503, "status %d", r.status);
    cr_assert_lt(it_now() - t0, 2.0, "took %.1f s", it_now() - t0);
    it_response_fini(&r);
    expect_tls_failed_line(port, "reason=");
    it_mtlb_stop(&env, 5000);
}
