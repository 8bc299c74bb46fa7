/* Integration: what an operator does to a running mtlb. SIGUSR1 reopens the access log after
 * logrotate renamed it (the next lines go to a new file at the configured path, none are lost),
 * SIGUSR2 and SIGHUP are logged and change nothing (the process keeps serving). */
#include "harness.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

TestSuite(ops, .init = setup, .fini = teardown, .timeout = 60);

static const struct it_tls_opts good = {.cert = "client/good.crt", .key = "client/good.key"};

static void get_ok(const char *path)
{
    struct it_response resp;
    it_get(env.port, &good, path, &resp);
    cr_assert_eq(resp.status, 200, "GET %s", path);
    it_response_fini(&resp);
}

static struct it_config one_backend(void)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = 1};
    cfg.servers[0] = it_echo_start(&env, "b1");
    return cfg;
}

Test(ops, sigusr1_reopens_the_access_log_after_rotation)
{
    char log[300], rotated[310];
    snprintf(log, sizeof(log), "%s/access.log", env.dir);
    snprintf(rotated, sizeof(rotated), "%s.1", log);
    struct it_config cfg = one_backend();
    cfg.access_log = log;
    it_mtlb_start(&env, &cfg);

    get_ok("/before-rotation");
    const char *before[] = {"\"path\":\"/before-rotation\"", NULL};
    cr_assert_eq(it_wait_lines(log, before, 1, 3000), 1, "first line in access.log");

    cr_assert(rename(log, rotated) == 0); /* what logrotate does */
    kill(env.mtlb, SIGUSR1);
    const char *reopened[] = {"event=logs_reopened", "access.log", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, reopened, 1, 3000), 1, "reopen logged");
    get_ok("/after-rotation");

    const char *after[] = {"\"path\":\"/after-rotation\"", NULL};
    cr_assert_eq(it_wait_lines(log, after, 1, 3000), 1,
                 "the line after SIGUSR1 goes to a new file at the configured path");
    cr_assert_eq(it_count_lines(rotated, after), 0, "nothing more goes to the rotated file");
    cr_assert_eq(it_count_lines(rotated, before), 1, "the rotated file keeps its line");
    it_mtlb_assert_alive(&env);
}

Test(ops, sigusr1_with_access_log_on_stdout_is_harmless)
{
    struct it_config cfg = one_backend();
    it_mtlb_start(&env, &cfg);
    kill(env.mtlb, SIGUSR1);
    const char *reopened[] = {"event=logs_reopened", "access_log=none", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, reopened, 1, 3000), 1);
    get_ok("/");
    it_mtlb_assert_alive(&env);
}

Test(ops, sigusr1_reopen_failure_keeps_the_old_file)
{
    char dir[300], log[320];
    snprintf(dir, sizeof(dir), "%s/logs", env.dir);
    cr_assert(mkdir(dir, 0755) == 0);
    snprintf(log, sizeof(log), "%s/access.log", dir);
    struct it_config cfg = one_backend();
    cfg.access_log = log;
    it_mtlb_start(&env, &cfg);
    get_ok("/one");

    /* The directory disappears (a bad rotation): reopen fails, lines go on to the open file. */
    char moved[330];
    snprintf(moved, sizeof(moved), "%s.gone", dir);
    cr_assert(rename(dir, moved) == 0);
    kill(env.mtlb, SIGUSR1);
    const char *failed[] = {"level=error", "event=logs_reopen_failed", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, failed, 1, 3000), 1, "the failure is logged");
    get_ok("/two");
    char old[350];
    snprintf(old, sizeof(old), "%s/access.log", moved);
    const char *two[] = {"\"path\":\"/two\"", NULL};
    cr_assert_eq(it_wait_lines(old, two, 1, 3000), 1, "no line is lost");
    it_mtlb_assert_alive(&env);
}

/* SIGHUP reloads (test_reload.c covers what it changes); neither signal stops mtlb. */
Test(ops, sigusr2_and_sighup_do_not_stop_mtlb)
{
    struct it_config cfg = one_backend();
    it_mtlb_start(&env, &cfg);
    kill(env.mtlb, SIGUSR2);
    kill(env.mtlb, SIGHUP);
    const char *usr2[] = {"event=signal_ignored", "signal=SIGUSR2", NULL};
    const char *hup[] = {"event=reloaded", "generation=2", "trigger=signal", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, usr2, 1, 3000), 1);
    cr_assert_eq(it_wait_lines(env.err_log, hup, 1, 3000), 1);
    get_ok("/");
    it_mtlb_assert_alive(&env);
    int st = it_mtlb_stop(&env, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "SIGTERM still exits 0 (0x%x)", st);
}

/* The access-log line of a request whose URL (or DN) does not fit is cut, never dropped. */
static void expect_truncated_line(const char *marker)
{
    const char *needles[] = {marker, "\"status\":200", "\"truncated\":true",
                             "\"dn\":\"/C=PL/O=mtlb Test/CN=good-client\"", NULL};
    cr_assert_eq(it_wait_lines(env.out_log, needles, 1, 3000), 1,
                 "one access-log line, cut and marked, with the identity");
}

Test(ops, long_url_gets_a_truncated_access_line_http1)
{
    struct it_config cfg = one_backend();
    it_mtlb_start(&env, &cfg);
    char path[6001] = "/long1-";
    memset(path + 7, 'a', sizeof(path) - 8);
    path[sizeof(path) - 1] = '\0';
    char req[6100];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path);
    struct it_exchange x;
    it_tls_exchange(env.port, &good, req, &x);
    cr_assert(x.outcome == IT_OK && x.resp.status == 200, "%s", x.detail);
    it_exchange_fini(&x);
    expect_truncated_line("\"path\":\"/long1-aaaa");
}

Test(ops, long_url_gets_a_truncated_access_line_h2)
{
    struct it_config cfg = one_backend();
    it_mtlb_start(&env, &cfg);
    char spec[6100] = "path=/long2-";
    size_t at = strlen(spec);
    memset(spec + at, 'b', 6000);
    spec[at + 6000] = '\0';
    char port[8];
    snprintf(port, sizeof(port), "%u", env.port);
    char *argv[] = {getenv("MTLB_H2C"),
                    "--port",
                    port,
                    "--cert",
                    (char *)it_pki("client/good.crt"),
                    "--key",
                    (char *)it_pki("client/good.key"),
                    "--stream",
                    spec,
                    NULL};
    cr_assert_not_null(argv[0], "MTLB_H2C is not set");
    char *out = NULL, *err = NULL;
    int rc = it_run(&env, argv, &out, &err, 10000);
    cr_assert_eq(rc, 0, "h2c: %s %s", out, err);
    cr_assert_not_null(strstr(out, "status=200"), "%s", out);
    free(out);
    free(err);
    expect_truncated_line("\"path\":\"/long2-bbbb");
}

/* `mtlb -t` refuses what would fail at start, naming the file and the reason. */
static void expect_t_refuses(const struct it_config *cfg, const char *n1, const char *n2)
{
    cr_assert_eq(it_write_config(&env, cfg), 0);
    char *argv[] = {getenv("MTLB_BIN"), "-t", "-c", env.config, NULL};
    char *out = NULL, *err = NULL;
    int rc = it_run(&env, argv, &out, &err, 10000);
    cr_assert_eq(rc, 1, "mtlb -t must exit 1, got %d; stderr:\n%s", rc, err);
    cr_assert_not_null(strstr(err, n1), "stderr must name '%s':\n%s", n1, err);
    cr_assert_not_null(strstr(err, n2), "stderr must name '%s':\n%s", n2, err);
    cr_assert_not_null(strstr(err, "mtlb.yaml"), "stderr must name the file:\n%s", err);
    free(out);
    free(err);
}

Test(ops, t_refuses_an_access_log_in_a_missing_directory)
{
    char log[320];
    snprintf(log, sizeof(log), "%s/no-such-dir/access.log", env.dir);
    struct it_config cfg = {.n_domains = 1, .n_servers = 1, .servers = {9}, .access_log = log};
    expect_t_refuses(&cfg, "log.access_log", "does not exist");
}

Test(ops, t_refuses_an_access_log_that_is_a_directory)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = 1, .servers = {9}, .access_log = env.dir};
    expect_t_refuses(&cfg, "log.access_log", "is a directory");
}

Test(ops, start_names_the_access_log_problem)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = 1, .servers = {9}, .access_log = env.dir};
    cr_assert_eq(it_write_config(&env, &cfg), 0);
    char *argv[] = {getenv("MTLB_BIN"), "-c", env.config, NULL};
    char *out = NULL, *err = NULL;
    int rc = it_run(&env, argv, &out, &err, 10000);
    cr_assert_eq(rc, 1, "start must fail, got %d", rc);
    cr_assert_not_null(strstr(err, "log.access_log"), "%s", err);
    cr_assert_not_null(strstr(err, "Is a directory"), "the reason: %s", err);
    free(out);
    free(err);
}

/* ---- audit fields of refused requests ---- */

static long long field(const char *line, const char *key)
{
    char k[64];
    snprintf(k, sizeof(k), "\"%s\":", key);
    const char *at = strstr(line, k);
    cr_assert_not_null(at, "no %s in %s", key, line);
    return strtoll(at + strlen(k), NULL, 10);
}

/* Sends raw bytes on a TLS connection and reads until the close. */
static void send_raw(const char *bytes)
{
    char err[256];
    struct it_conn *c = it_tls_connect(env.port, &good, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    it_conn_sends(c, bytes);
    it_conn_wait_closed(c, 5000);
    it_conn_close(c);
}

Test(ops, refusal_while_parsing_names_method_path_and_its_own_bytes)
{
    struct it_config cfg = one_backend();
    it_mtlb_start(&env, &cfg);
    /* A good request with a large answer, then a pipelined one with a broken header. */
    send_raw("GET /size/50000 HTTP/1.1\r\nHost: localhost\r\n\r\n"
             "GET /refused-path HTTP/1.1\r\nHost: localhost\r\nBad Header: x\r\n\r\n");
    const char *n[] = {"\"status\":400", NULL};
    char *line = it_wait_line(env.out_log, n);
    cr_assert_not_null(strstr(line, "\"method\":\"GET\""), "%s", line);
    cr_assert_not_null(strstr(line, "\"path\":\"/refused-path\""), "%s", line);
    long long bytes = field(line, "bytes");
    cr_assert(bytes > 0 && bytes < 1000, "the 400 page's bytes, not the previous answer's: %s",
              line);
    cr_assert_lt(field(line, "duration_ms"), 5000, "not the host's uptime: %s", line);
    free(line);
}

Test(ops, header_timeout_is_logged_with_its_own_duration)
{
    struct it_config cfg = one_backend();
    cfg.timeouts = "{client_header: 1s}";
    it_mtlb_start(&env, &cfg);
    char err[256];
    struct it_conn *c = it_tls_connect(env.port, &good, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    it_conn_sends(c, "GET /slow-head HTTP/1.1\r\nHost: loc");
    it_conn_wait_closed(c, 5000);
    it_conn_close(c);
    const char *n[] = {"\"status\":408", NULL};
    char *line = it_wait_line(env.out_log, n);
    cr_assert_not_null(strstr(line, "\"path\":\"/slow-head\""), "%s", line);
    long long d = field(line, "duration_ms");
    cr_assert(d >= 500 && d < 5000, "about client_header (1 s), got %lld: %s", d, line);
    cr_assert_gt(field(line, "bytes"), 0, "%s", line);
    free(line);
}

Test(ops, own_503_logs_the_bytes_it_sent_http1_and_h2)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = 1, .servers = {it_free_port()}};
    it_mtlb_start(&env, &cfg);
    struct it_exchange x;
    it_tls_exchange(env.port, &good, "GET /down1 HTTP/1.1\r\nHost: localhost\r\n\r\n", &x);
    cr_assert(x.outcome == IT_OK, "%s", x.detail);
    cr_assert(x.resp.status == 502 || x.resp.status == 503, "status %d", x.resp.status);
    it_exchange_fini(&x);
    const char *n1[] = {"\"path\":\"/down1\"", NULL};
    char *line = it_wait_line(env.out_log, n1);
    cr_assert_gt(field(line, "bytes"), 0, "%s", line);
    free(line);

    char port[8];
    snprintf(port, sizeof(port), "%u", env.port);
    char *argv[] = {getenv("MTLB_H2C"),
                    "--port",
                    port,
                    "--cert",
                    (char *)it_pki("client/good.crt"),
                    "--key",
                    (char *)it_pki("client/good.key"),
                    "--stream",
                    "path=/down2",
                    NULL};
    char *out = NULL, *err = NULL;
    cr_assert_eq(it_run(&env, argv, &out, &err, 10000), 0, "h2c: %s %s", out, err);
    free(out);
    free(err);
    const char *n2[] = {"\"path\":\"/down2\"", NULL};
    line = it_wait_line(env.out_log, n2);
    cr_assert_gt(field(line, "bytes"), 0, "%s", line);
    free(line);
}

/* ---- refusal log lines: warn, one each, with peer and domain ---- */

Test(ops, listening_line_names_every_domain_mode)
{
    struct it_config cfg = one_backend();
    cfg.n_domains = 2;
    cfg.domains[0] = (struct it_domain){.names = {"api.example.com", "localhost"}};
    cfg.domains[1] = (struct it_domain){.names = {"other.example.com"},
                                        .cert = "server/other.crt",
                                        .key = "server/other.key",
                                        .mode = "optional",
                                        .truststore = "trust/other.pem"};
    it_mtlb_start(&env, &cfg);
    const char *n[] = {"event=listening",
                       "modes=api.example.com:mandatory,other.example.com:optional", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, n, 1, 3000), 1);
}

Test(ops, handshake_timeout_and_garbage_are_warned_with_peer_and_domain)
{
    struct it_config cfg = one_backend();
    cfg.timeouts = "{handshake: 500ms}";
    it_mtlb_start(&env, &cfg);
    struct it_conn *silent = it_tcp_connect(env.port);
    struct it_conn *garbage = it_tcp_connect(env.port);
    it_conn_sends(garbage, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    const char *t[] = {"level=warn", "event=handshake_timeout",
                       "peer=127.0.0.1:", "domain=api.example.com", NULL};
    const char *g[] = {"level=warn", "event=handshake_failed",
                       "peer=127.0.0.1:", "domain=api.example.com", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, t, 1, 3000), 1, "handshake timeout at warn");
    cr_assert_geq(it_wait_lines(env.err_log, g, 1, 3000), 1, "a non-TLS client at warn");
    /* it_mtlb_start's port probes (connect, close) are not refusals: nothing at warn. */
    const char *eof[] = {"level=warn", "unexpected eof", NULL};
    cr_assert_eq(it_count_lines(env.err_log, eof), 0, "a TCP probe is not warned about:\n%s",
                 it_read_file(env.err_log, NULL));
    it_conn_close(silent);
    it_conn_close(garbage);
}

/* Each thread's kernel name says its role (top -H, ps -L, perf), while the main thread keeps
 * the process's name, so that pidof mtlb and pkill -x mtlb still find it. */
static bool has_thread_named(pid_t pid, const char *want)
{
    char path[300], comm[32];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    cr_assert(d != NULL, "%s", path);
    bool found = false;
    for (struct dirent *e; !found && (e = readdir(d)) != NULL;) {
        snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", (int)pid, e->d_name);
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            if (fgets(comm, sizeof(comm), f) != NULL) {
                comm[strcspn(comm, "\n")] = '\0';
                found = strcmp(comm, want) == 0;
            }
            fclose(f);
        }
    }
    closedir(d);
    return found;
}

Test(ops, threads_are_named_by_role_and_the_process_keeps_its_name)
{
    struct it_config cfg = one_backend();
    it_mtlb_start(&env, &cfg);
    get_ok("/");
    cr_assert(has_thread_named(env.mtlb, "mtlb"), "the main thread is still mtlb");
    cr_assert(has_thread_named(env.mtlb, "worker-0"));
    cr_assert(has_thread_named(env.mtlb, "acceptor-0"));
}
