/* Integration: backend health (README "Proxying behaviour"). Active checks bring servers back
 * within about one interval of their return; server_down/server_up are logged once per
 * transition, by the checker or (without checks) by the first worker to see it; when every
 * server is marked down one is still tried (panic rule) instead of a 503 from memory; and the
 * access line of a 5xx made by mtlb names its reason. HTTP/1.1 and HTTP/2. */
#include "h2_util.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const struct it_tls_opts good = {.cert = "client/good.crt", .key = "client/good.key"};

#define CHECKS "health: {path: /healthz, interval: 200ms, timeout: 200ms, rise: 1, fall: 1}"

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(health, .init = setup, .fini = teardown, .timeout = 90);

static void sleep_ms(int ms)
{
    usleep((useconds_t)ms * 1000);
}

/* One GET on a new connection (so each may land on another worker); the status, or -1. */
static int get_status(bool h2, const char *path)
{
    if (h2) {
        struct h2_out o;
        struct h2s s;
        char spec[300];
        snprintf(spec, sizeof(spec), "path=%s", path);
        h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--stream", spec, NULL);
        int status = h2_stream(o.out, path, 0, &s) ? s.status : -1;
        h2_out_fini(&o);
        return status;
    }
    char req[300];
    struct it_exchange x;
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path);
    it_tls_exchange(env.port, &good, req, &x);
    int status = x.outcome == IT_OK ? x.resp.status : -1;
    it_exchange_fini(&x);
    return status;
}

/* Lines of the error log with all of the needles. */
static size_t err_lines(const char *event, const char *server)
{
    const char *needles[] = {event, server, NULL};
    return it_count_lines(env.err_log, needles);
}

static void start_two(const char *extra)
{
    struct it_config cfg = {.n_servers = 2, .backend_extra = extra};
    cfg.servers[0] = it_echo_start(&env, "b1");
    cfg.servers[1] = it_echo_start(&env, "b2");
    start_cfg(&cfg);
}

static const char *server_name(size_t i)
{
    static char names[2][32];
    snprintf(names[i], sizeof(names[i]), "server=127.0.0.1:%u ", env.echo_port[i]);
    return names[i];
}

/* (1) The outage: both servers down long enough for the workers' backoff to grow,
 * then back. With checks every 200 ms the pool answers again within about one interval; the
 * old code waited out a backoff of up to 30 s. */
Test(health, recovers_within_an_interval_after_an_outage)
{
    start_two(CHECKS);
    cr_assert_eq(get_status(false, "/warm"), 200);
    it_echo_kill(&env, 0);
    it_echo_kill(&env, 1);
    /* Requests during the outage: each worker's backoff grows (1 s, 2 s, 4 s ...). */
    double until = it_now() + 3.5;
    while (it_now() < until) {
        int st = get_status(false, "/during");
        cr_assert_eq(st, 503, "during the outage: %d", st);
        sleep_ms(100);
    }
    it_echo_restart(&env, 0, "b1");
    it_echo_restart(&env, 1, "b2");
    double back = it_now();
    int st = 0;
    while (it_now() - back < 10.0 && (st = get_status(false, "/after")) != 200) {
        sleep_ms(50);
    }
    double took = it_now() - back;
    cr_assert_eq(st, 200, "no 200 within 10 s of the backends' return");
    cr_assert_lt(took, 3.0, "answered again only after %.2f s", took);
    /* And both servers take traffic again, not only the one a panic choice picked: the other
     * within a few check intervals (its first passing probe marks it up, the next one clears
     * each worker's backoff), so keep asking for up to 3 s. */
    bool seen[2] = {false, false};
    double spread_until = it_now() + 3.0;
    for (int i = 0; !(seen[0] && seen[1]) && (i < 20 || it_now() < spread_until); i++) {
        if (i >= 20) {
            sleep_ms(50);
        }
        struct it_response r;
        it_get(env.port, &good, "/spread", &r);
        char name[16] = "";
        it_header_get(r.head, "X-Backend", name, sizeof(name));
        seen[0] |= strcmp(name, "b1") == 0;
        seen[1] |= strcmp(name, "b2") == 0;
        it_response_fini(&r);
    }
    cr_assert(seen[0] && seen[1], "after recovery: b1 %d, b2 %d", seen[0], seen[1]);
}

/* (2) With checks: one server_down and one server_up per server and transition, from the
 * checker, however many probes fail or pass in between and however many workers there are. */
Test(health, active_transitions_are_logged_once)
{
    start_two(CHECKS);
    it_echo_kill(&env, 1);
    const char *down[] = {"event=server_down", server_name(1), "pool=app", "check=active", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, down, 1, 3000), 1, "no server_down:\n%s",
                 it_read_file(env.err_log, NULL));
    sleep_ms(1000); /* five more failing probes */
    cr_assert_eq(err_lines("event=server_down", server_name(1)), 1);
    it_echo_restart(&env, 1, "b2");
    const char *up[] = {"event=server_up", server_name(1), "pool=app", "check=active", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, up, 1, 3000), 1, "no server_up:\n%s",
                 it_read_file(env.err_log, NULL));
    sleep_ms(1000); /* five more passing probes */
    cr_assert_eq(err_lines("event=server_up", server_name(1)), 1);
    cr_assert_eq(err_lines("event=server_down", server_name(0)), 0);
    cr_assert_eq(err_lines("event=server_up", server_name(0)), 0);
}

/* A probe is a plain HTTP/1.1 GET of the configured path with Host (the server's address) and
 * Connection: close; a status outside expected_status (2xx-3xx by default) is a failure. */
Test(health, probe_is_a_plain_get_and_a_500_fails_it)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    cr_assert(lfd >= 0 && bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
              listen(lfd, 8) == 0 && getsockname(lfd, (struct sockaddr *)&sa, &len) == 0);
    struct it_config cfg = {.n_servers = 1};
    cfg.servers[0] = ntohs(sa.sin_port);
    cfg.backend_extra = "health: {path: \"/healthz?deep=1\", interval: 200ms, timeout: 200ms, "
                        "rise: 1, fall: 1}";
    it_mtlb_start(&env, &cfg);
    struct pollfd p = {lfd, POLLIN, 0};
    cr_assert_eq(poll(&p, 1, 3000), 1, "no probe within 3 s");
    int fd = accept(lfd, NULL, NULL);
    cr_assert(fd >= 0);
    char req[2048] = "";
    size_t got = 0;
    while (got < sizeof(req) - 1 && strstr(req, "\r\n\r\n") == NULL) {
        struct pollfd q = {fd, POLLIN, 0};
        cr_assert_eq(poll(&q, 1, 3000), 1, "probe incomplete: %.*s", (int)got, req);
        ssize_t n = read(fd, req + got, sizeof(req) - 1 - got);
        cr_assert_gt(n, 0, "probe closed early: %.*s", (int)got, req);
        got += (size_t)n;
        req[got] = '\0';
    }
    char host[64];
    snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%u\r\n", cfg.servers[0]);
    cr_assert(strncmp(req, "GET /healthz?deep=1 HTTP/1.1\r\n", 30) == 0, "%s", req);
    cr_assert_not_null(strstr(req, host), "%s", req);
    cr_assert_not_null(strstr(req, "\r\nConnection: close\r\n"), "%s", req);
    const char resp[] = "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n";
    cr_assert_eq(write(fd, resp, sizeof(resp) - 1), (ssize_t)sizeof(resp) - 1);
    close(fd);
    const char *down[] = {"event=server_down", "check=active", "reason=\"status 500\"", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, down, 1, 3000), 1, "no server_down:\n%s",
                 it_read_file(env.err_log, NULL));
    close(lfd);
}

/* (2) Without checks: the first worker whose connect fails logs server_down, the first whose
 * connect succeeds again logs server_up; the other worker's failures log nothing. */
Test(health, passive_transitions_are_logged_once)
{
    start_two(NULL);
    it_echo_kill(&env, 1);
    for (int i = 0; i < 6; i++) {
        get_status(false, "/during"); /* connections alternate between the two workers */
    }
    const char *down[] = {"event=server_down", server_name(1), "check=passive", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, down, 1, 3000), 1, "no server_down:\n%s",
                 it_read_file(env.err_log, NULL));
    it_echo_restart(&env, 1, "b2");
    sleep_ms(2100); /* both workers' first backoff (1 s) is over */
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(get_status(false, "/after"), 200);
    }
    const char *up[] = {"event=server_up", server_name(1), "check=passive", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, up, 1, 3000), 1, "no server_up:\n%s",
                 it_read_file(env.err_log, NULL));
    cr_assert_eq(err_lines("event=server_down", server_name(1)), 1);
    cr_assert_eq(err_lines("event=server_up", server_name(1)), 1);
    cr_assert_eq(err_lines("event=server_down", server_name(0)), 0);
}

/* (3) Panic rule: the only server failed in both workers (backoff 2 s after a second failed
 * trial), then came back. The next request is tried against it and gets 200; the old code
 * answered 503 from memory until the backoff ran out. */
static void panic_case(bool h2)
{
    struct it_config cfg = {0};
    start_cfg(&cfg);
    it_echo_kill(&env, 0);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 2; i++) {
            int st = get_status(h2, "/down");
            cr_assert_eq(st, 503, "while down: %d", st);
        }
        if (round == 0) {
            sleep_ms(1100);
        }
    }
    it_echo_restart(&env, 0, "b1");
    int st = get_status(h2, "/panic");
    cr_assert_eq(st, 200, "the server is back, but got %d", st);
    const char *panic[] = {"event=pool_panic", "pool=app", NULL};
    cr_assert_geq(it_count_lines(env.err_log, panic), 1, "%s", it_read_file(env.err_log, NULL));
}

Test(health, panic_tries_a_down_server_h1)
{
    panic_case(false);
}

Test(health, panic_tries_a_down_server_h2)
{
    panic_case(true);
}

/* (4) The access line of each 5xx mtlb made names why; a backend's own 5xx has no "error". */
struct reason_case {
    char path[32];
    int status;
    char error[32];
    bool kill; /* the only server is down */
    bool h2;
};

static struct reason_case reason_cases[] = {
    {"/x", 503, "connect_failed", true, false},
    {"/drop", 502, "upstream_reset", false, false},
    {"/garbage", 502, "upstream_bad_response", false, false},
    {"/sleep/3000", 504, "upstream_timeout", false, false},
    {"/status/503", 503, "", false, false},
    {"/x", 503, "connect_failed", true, true},
    {"/drop", 502, "upstream_reset", false, true},
    {"/garbage", 502, "upstream_bad_response", false, true},
    {"/sleep/3000", 504, "upstream_timeout", false, true},
    {"/status/503", 503, "", false, true},
};

ParameterizedTestParameters(health, error_reason_in_access_log)
{
    return cr_make_param_array(struct reason_case, reason_cases,
                               sizeof(reason_cases) / sizeof(reason_cases[0]));
}

ParameterizedTest(struct reason_case *k, health, error_reason_in_access_log)
{
    struct it_config cfg = {0};
    start_cfg(&cfg);
    if (k->kill) {
        it_echo_kill(&env, 0);
    }
    int st = get_status(k->h2, k->path);
    cr_assert_eq(st, k->status, "%s: %d", k->path, st);
    char path[64], status[32], error[64];
    snprintf(path, sizeof(path), "\"path\":\"%s\"", k->path);
    snprintf(status, sizeof(status), "\"status\":%d", k->status);
    snprintf(error, sizeof(error), "\"error\":\"%s\"", k->error);
    const char *proto = k->h2 ? "\"proto\":\"h2\"" : "\"proto\":\"http/1.1\"";
    const char *line[] = {path, status, proto, k->error[0] ? error : "\"", NULL};
    cr_assert_eq(it_wait_lines(env.out_log, line, 1, 3000), 1, "no line with %s %s %s:\n%s", path,
                 status, error, it_read_file(env.out_log, NULL));
    const char *any_error[] = {"\"error\":", NULL};
    cr_assert_eq(it_count_lines(env.out_log, any_error), k->error[0] ? 1 : 0, "%s",
                 it_read_file(env.out_log, NULL));
}

/* Success carries no "error", even after a failed first attempt of the same request. */
Test(health, success_after_a_failed_try_has_no_error)
{
    start_two(NULL);
    it_echo_kill(&env, 0);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(get_status(i % 2 == 1, "/ok"), 200);
    }
    const char *ok[] = {"\"path\":\"/ok\"", "\"status\":200", NULL};
    cr_assert_eq(it_wait_lines(env.out_log, ok, 4, 3000), 4, "%s", it_read_file(env.out_log, NULL));
    const char *any_error[] = {"\"error\":", NULL};
    cr_assert_eq(it_count_lines(env.out_log, any_error), 0, "%s", it_read_file(env.out_log, NULL));
}

/* `mtlb -t` validates the health keys: a good block passes, a bad one is refused with the
 * file, line and column of the value. */
Test(health, mtlb_t_checks_the_health_block)
{
    struct it_config cfg = {.n_servers = 1, .backend_extra = CHECKS};
    cfg.servers[0] = it_free_port();
    cr_assert_eq(it_write_config(&env, &cfg), 0);
    char *argv[] = {(char *)getenv("MTLB_BIN"), "-t", "-c", env.config, NULL};
    char *out = NULL, *err = NULL;
    cr_assert_eq(it_run(&env, argv, &out, &err, 10000), 0, "stderr:\n%s", err);
    free(out);
    free(err);
    cfg.backend_extra = "health: {path: /healthz, interval: 1s, timeout: 2s}";
    cr_assert_eq(it_write_config(&env, &cfg), 0);
    cr_assert_eq(it_run(&env, argv, &out, &err, 10000), 1, "stderr:\n%s", err);
    char want[400];
    snprintf(want, sizeof(want), "%s:12:", env.config);
    cr_assert_not_null(strstr(err, want), "%s", err);
    cr_assert_not_null(strstr(err, "backends[0].health: timeout (2000ms) must not exceed "
                                   "interval (1000ms)"),
                       "%s", err);
    free(out);
    free(err);
}
