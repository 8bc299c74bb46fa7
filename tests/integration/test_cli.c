/* Integration: the command line. `mtlb -t -c FILE` accepts a good configuration and refuses bad
 * ones (missing or mismatched keys, bad truststores, YAML errors, unknown backends) with a
 * message naming the file and the problem, and warns about an expired server certificate;
 * --version, -h; SIGTERM exits 0. The worker I/O backend: io: epoll serves, the start line names
 * the backend, io: auto falls back to epoll where seccomp blocks io_uring and io: uring then
 * refuses to start. */
#include "harness.h"

#include <criterion/criterion.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/io_uring.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static struct it_env env;

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 60);

static void expect_refused(const struct it_config *cfg, const char *const *needles,
                           const char *what)
{
    struct it_run_result r = it_mtlb_check(&env, cfg);
    cr_assert_eq(r.rc, 1, "%s: mtlb -t must exit 1, got %d; stderr:\n%s", what, r.rc, r.err);
    for (size_t i = 0; needles[i] != NULL; i++) {
        cr_assert_not_null(strcasestr(r.err, needles[i]),
                           "%s: stderr must mention '%s'; it was:\n%s", what, needles[i], r.err);
    }
    it_run_result_fini(&r);
}

static struct it_config base(void)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = 1, .servers = {9}};
    cfg.domains[0].mode = "mandatory";
    cfg.domains[0].crl = "ca/crl.pem";
    return cfg;
}

Test(cli, valid_config_passes)
{
    struct it_config cfg = base();
    cfg.n_domains = 2;
    cfg.domains[1] = (struct it_domain){.names = {"other.example.com"},
                                        .cert = "server/other.crt",
                                        .key = "server/other.key",
                                        .mode = "optional",
                                        .truststore = "trust/other.pem"};
    struct it_run_result r = it_mtlb_check(&env, &cfg);
    cr_assert_eq(r.rc, 0, "valid config rejected (%d):\n%s", r.rc, r.err);
    it_run_result_fini(&r);
}

Test(cli, rsa_certificate_and_off_mode_pass)
{
    struct it_config cfg = base();
    cfg.domains[0] =
        (struct it_domain){.cert = "server/rsa.crt", .key = "server/rsa.key", .mode = "off"};
    struct it_run_result r = it_mtlb_check(&env, &cfg);
    cr_assert_eq(r.rc, 0, "valid config rejected (%d):\n%s", r.rc, r.err);
    it_run_result_fini(&r);
}

Test(cli, missing_certificate_named)
{
    struct it_config cfg = base();
    char missing[400];
    snprintf(missing, sizeof(missing), "%s/no-such-server.crt", env.dir);
    cfg.domains[0].cert = missing;
    const char *needles[] = {"no-such-server.crt", NULL};
    expect_refused(&cfg, needles, "missing certificate");
}

Test(cli, mismatched_key_named)
{
    struct it_config cfg = base();
    cfg.domains[0].key = "server/mismatch.key";
    struct it_run_result r = it_mtlb_check(&env, &cfg);
    cr_assert_eq(r.rc, 1, "key mismatch: exit %d; stderr:\n%s", r.rc, r.err);
    cr_assert(strstr(r.err, "mismatch.key") != NULL || strstr(r.err, "api.crt") != NULL,
              "key mismatch: stderr must name the key or certificate:\n%s", r.err);
    it_run_result_fini(&r);
}

/* An expired server certificate is served (issue 10 item 7): -t warns, naming it, and
 * exits 0 (tests/integration/test_tlsops.c covers the start and the log lines). */
Test(cli, expired_server_certificate_named)
{
    struct it_config cfg = base();
    cfg.domains[0].cert = it_copy_pki(&env, "server/expired.crt", "srv.crt");
    cfg.domains[0].key = it_copy_pki(&env, "server/expired.key", "srv.key");
    struct it_run_result r = it_mtlb_check(&env, &cfg);
    cr_assert_eq(r.rc, 0, "expired server certificate: exit %d; stderr:\n%s", r.rc, r.err);
    cr_assert_not_null(strstr(r.err, "mtlb: warning: "), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "srv.crt: expired on"), "%s", r.err);
    it_run_result_fini(&r);
}

Test(cli, truststore_with_non_certificate_named)
{
    struct it_config cfg = base();
    cfg.domains[0].truststore = "trust/bad-entry.pem";
    const char *needles[] = {"bad-entry.pem", NULL};
    expect_refused(&cfg, needles, "truststore with a private key entry");
}

Test(cli, truststore_with_corrupt_certificate_named)
{
    struct it_config cfg = base();
    cfg.domains[0].truststore = "trust/corrupt-entry.pem";
    const char *needles[] = {"corrupt-entry.pem", NULL};
    expect_refused(&cfg, needles, "truststore with a corrupt certificate");
}

Test(cli, missing_truststore_named)
{
    struct it_config cfg = base();
    char missing[400];
    snprintf(missing, sizeof(missing), "%s/no-such-trust.pem", env.dir);
    cfg.domains[0].truststore = missing;
    const char *needles[] = {"no-such-trust.pem", NULL};
    expect_refused(&cfg, needles, "missing truststore");
}

Test(cli, unknown_backend_refused)
{
    struct it_config cfg = base();
    cfg.listener_backend = "nosuchpool";
    const char *needles[] = {"nosuchpool", NULL};
    expect_refused(&cfg, needles, "unknown backend");
}

Test(cli, yaml_syntax_error_has_file_and_line)
{
    FILE *f = fopen(env.config, "w");
    cr_assert_not_null(f);
    fputs("listeners:\n"
          "  - bind: \"127.0.0.1:8443\"\n"
          "    backend: app: oops\n"
          "backends:\n"
          "  - name: app\n"
          "    servers: [\"127.0.0.1:9\"]\n",
          f);
    fclose(f);
    struct it_run_result r = it_mtlb_run(&env, "-t", "-c", env.config);
    cr_assert_eq(r.rc, 1, "YAML error: exit %d; stderr:\n%s", r.rc, r.err);
    char want[400];
    snprintf(want, sizeof(want), "%s:3", env.config);
    cr_assert_not_null(strstr(r.err, want), "YAML error: stderr must contain '%s':\n%s", want,
                       r.err);
    it_run_result_fini(&r);
}

Test(cli, missing_config_file_named)
{
    char missing[400];
    snprintf(missing, sizeof(missing), "%s/absent.yaml", env.dir);
    struct it_run_result r = it_mtlb_run(&env, "-t", "-c", missing);
    cr_assert_eq(r.rc, 1, "missing config: exit %d; stderr:\n%s", r.rc, r.err);
    cr_assert_not_null(strstr(r.err, "absent.yaml"), "stderr must name the file:\n%s", r.err);
    it_run_result_fini(&r);
}

Test(cli, bad_certificate_stops_startup)
{
    struct it_config cfg = base();
    cfg.domains[0].key = "server/mismatch.key";
    cr_assert_eq(it_write_config(&env, &cfg), 0);
    struct it_run_result r = it_mtlb_run(&env, "-c", env.config, NULL);
    cr_assert_neq(r.rc, 0, "mtlb started with a mismatched key (exit %d)", r.rc);
    cr_assert_neq(r.rc, -1, "mtlb kept running (or crashed) with a mismatched key");
    cr_assert(strstr(r.err, "mismatch.key") != NULL || strstr(r.err, "api.crt") != NULL,
              "start-up error must name the file:\n%s", r.err);
    it_run_result_fini(&r);
}

Test(cli, version_printed)
{
    struct it_run_result r = it_mtlb_run(&env, "--version", NULL, NULL);
    cr_assert_eq(r.rc, 0, "--version exit %d", r.rc);
    char all[2048];
    snprintf(all, sizeof(all), "%s%s", r.out, r.err);
    bool digits = false;
    for (const char *p = all; *p != '\0' && !digits; p++) {
        digits = p[0] >= '0' && p[0] <= '9' && p[1] == '.' && p[2] >= '0' && p[2] <= '9';
    }
    cr_assert(digits, "--version printed no version number: '%s'", all);
    it_run_result_fini(&r);
}

Test(cli, help_exits_zero)
{
    struct it_run_result r = it_mtlb_run(&env, "-h", NULL, NULL);
    cr_assert_eq(r.rc, 0, "-h exit %d", r.rc);
    char all[4096];
    snprintf(all, sizeof(all), "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(all, "-c"), "-h does not describe -c: '%s'", all);
    it_run_result_fini(&r);
}

Test(cli, sigterm_exits_cleanly)
{
    struct it_config cfg = base();
    cfg.servers[0] = it_echo_start(&env, "b1");
    it_mtlb_start(&env, &cfg);
    struct it_response resp;
    struct it_tls_opts good = {.cert = "client/good.crt", .key = "client/good.key"};
    it_get(env.port, &good, "/", &resp);
    cr_assert_eq(resp.status, 200);
    it_response_fini(&resp);
    double t0 = it_now();
    int st = it_mtlb_stop(&env, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "SIGTERM must lead to a clean exit 0 (status 0x%x)", st);
    cr_assert_lt(it_now() - t0, 3.0, "exit took longer than drain (2 s)");
}

Test(cli, sigterm_finishes_inflight_request)
{
    struct it_config cfg = base();
    cfg.servers[0] = it_echo_start(&env, "b1");
    it_mtlb_start(&env, &cfg);
    struct it_tls_opts good = {.cert = "client/good.crt", .key = "client/good.key"};
    char err[256];
    struct it_conn *c = it_tls_connect(env.port, &good, err, sizeof(err));
    cr_assert_not_null(c, "handshake: %s", err);
    cr_assert_eq(it_conn_sends(c, "GET /sleep/800 HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    usleep(200 * 1000); /* the request is at the backend now */
    kill(env.mtlb, SIGTERM);
    double t0 = it_now();
    while (it_port_accepts(env.port) && it_now() - t0 < 1.0) {
        usleep(20 * 1000);
    }
    cr_assert(!it_port_accepts(env.port), "still accepting connections 1 s after SIGTERM");
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, false), 0, "in-flight request lost on SIGTERM: %s",
                 c->err);
    cr_assert_eq(r.status, 200, "in-flight request during drain: status %d", r.status);
    it_response_fini(&r);
    it_conn_close(c);
    int st = it_mtlb_wait(&env, 4000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "drain must end in exit 0 (status 0x%x)", st);
}

/* ---- worker I/O backend ---- */

/* Whether this process may set up an io_uring (kernel.io_uring_disabled, seccomp ...). */
static bool io_uring_allowed(void)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    long fd = syscall(__NR_io_uring_setup, 4, &p);
    if (fd >= 0) {
        close((int)fd);
    }
    return fd >= 0;
}

/* A few requests on a few connections, all answered by the backend. */
static void serve_some(void)
{
    struct it_tls_opts good = {.cert = "client/good.crt", .key = "client/good.key"};
    for (int i = 0; i < 3; i++) {
        struct it_response resp;
        it_get(env.port, &good, "/", &resp);
        cr_assert_eq(resp.status, 200, "request %d: status %d", i, resp.status);
        it_response_fini(&resp);
    }
}

static void expect_line(const char *a, const char *b, const char *what)
{
    const char *needles[] = {a, b, NULL};
    cr_assert_eq(it_wait_lines(env.err_log, needles, 1, 3000), 1,
                 "%s: no line with '%s' and '%s' in mtlb's log", what, a, b ? b : "");
}

static void stop_clean(void)
{
    int st = it_mtlb_stop(&env, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status 0x%x", st);
}

Test(cli, io_epoll_serves_and_is_logged)
{
    struct it_config cfg = base();
    cfg.io = "epoll";
    cfg.servers[0] = it_echo_start(&env, "b1");
    it_mtlb_start(&env, &cfg);
    serve_some();
    expect_line("event=started", "io=epoll", "io: epoll");
    const char *fallback[] = {"event=io_fallback", NULL};
    cr_assert_eq(it_count_lines(env.err_log, fallback), 0, "io: epoll is no fallback");
    stop_clean();
}

Test(cli, io_auto_logs_the_backend_it_runs)
{
    struct it_config cfg = base();
    cfg.io = "auto";
    cfg.servers[0] = it_echo_start(&env, "b1");
    it_mtlb_start(&env, &cfg);
    serve_some();
    if (io_uring_allowed()) {
        expect_line("event=started", "io=io_uring", "io: auto with io_uring allowed");
    } else {
        expect_line("event=started", "io=epoll", "io: auto without io_uring");
        expect_line("event=io_fallback", "io_uring unavailable", "io: auto without io_uring");
    }
    stop_clean();
}

Test(cli, io_auto_falls_back_when_seccomp_blocks_io_uring)
{
    struct it_config cfg = base();
    cfg.io = "auto";
    cfg.servers[0] = it_echo_start(&env, "b1");
    env.block_io_uring = true;
    it_mtlb_start(&env, &cfg);
    serve_some();
    expect_line("event=io_fallback", "reason=\"io_uring unavailable: Operation not permitted\"",
                "fallback");
    expect_line("level=warn", "event=io_fallback", "fallback is a warning");
    expect_line("event=started", "io=epoll", "fallback");
    stop_clean();
}

Test(cli, io_uring_refused_when_seccomp_blocks_it)
{
    struct it_config cfg = base();
    cfg.io = "uring";
    cfg.servers[0] = it_echo_start(&env, "b1");
    env.block_io_uring = true;
    cr_assert_eq(it_write_config(&env, &cfg), 0);
    struct it_run_result r = it_mtlb_run(&env, "-c", env.config, NULL);
    cr_assert_eq(r.rc, 1, "io: uring without io_uring must refuse to start (exit %d); stderr:\n%s",
                 r.rc, r.err);
    cr_assert_not_null(strstr(r.err, "io_uring setup failed: Operation not permitted"),
                       "stderr: %s", r.err);
    cr_assert_not_null(strstr(r.err, "io: epoll"), "no hint at io: epoll; stderr: %s", r.err);
    it_run_result_fini(&r);
}

/* Whether this kernel takes the TLS ULP, asked the same way mtlb asks (an established
 * loopback TCP connection), so the test knows which behaviour to demand. */
static bool kernel_has_tls_ulp(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0), s = -1;
    bool ok = bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, 1) == 0 &&
              getsockname(l, (struct sockaddr *)&a, &alen) == 0 &&
              connect(c, (struct sockaddr *)&a, sizeof(a)) == 0 &&
              (s = accept(l, NULL, NULL)) >= 0 &&
              setsockopt(s, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) == 0;
    close(l);
    close(c);
    if (s >= 0) {
        close(s);
    }
    return ok;
}

/* ktls: on is a promise: without the kernel's TLS ULP mtlb must refuse to start (and -t must
 * say so); with it, the configuration is valid. ktls: off is valid everywhere. */
Test(cli, ktls_on_needs_the_kernel_tls_ulp)
{
    struct it_config cfg = base();
    cfg.ktls = "on";
    struct it_run_result r = it_mtlb_check(&env, &cfg);
    if (kernel_has_tls_ulp()) {
        cr_assert_eq(r.rc, 0, "ktls: on with a TLS-capable kernel must pass -t:\n%s", r.err);
    } else {
        cr_assert_eq(r.rc, 1, "ktls: on without kernel TLS must fail -t, got %d", r.rc);
        cr_assert_not_null(strstr(r.err, "ktls: on"), "stderr must name the setting:\n%s", r.err);
        cr_assert_not_null(strcasestr(r.err, "TLS ULP"), "stderr must say why:\n%s", r.err);
    }
    it_run_result_fini(&r);
    cfg.ktls = "off";
    r = it_mtlb_check(&env, &cfg);
    cr_assert_eq(r.rc, 0, "ktls: off must always pass -t:\n%s", r.err);
    it_run_result_fini(&r);
}
