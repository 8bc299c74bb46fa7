/* Integration: response bodies moved by splice (include/mtlb/splice.h). Natively the kernel
 * has no kTLS, so these run on a plain (tls: false, http: allow) listener, whose transport
 * takes the same path: a large Content-Length body arrives byte for byte and is counted in
 * mtlb_spliced_bytes_total and the access log; `splice: false`, chunked bodies and userspace
 * TLS keep the copy path; a client that leaves mid-body leaves mtlb serving; a backend that
 * dies mid-body closes the client before the promised length. The kTLS path itself is proved
 * in the VM (scripts/ktls-vm-test). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "harness.h"

static struct it_env env;
static uint16_t plain_port, admin_port;

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(splice, .init = setup, .fini = teardown, .timeout = 120);

/* One echo backend, the suite's TLS listener and a plain allow listener first, whose extra
 * YAML lines are `keys`; admin on admin_port. */
static void start(const char *keys)
{
    struct it_config cfg = {.n_domains = 1};
    cfg.domains[0].mode = "optional";
    cfg.servers[0] = it_echo_start(&env, "b1");
    cfg.n_servers = 1;
    admin_port = it_free_port();
    cfg.admin_port = admin_port;
    cr_assert_eq(it_write_config(&env, &cfg), 0);
    char *text = it_read_file(env.config, NULL);
    cr_assert_not_null(text);
    plain_port = it_free_port();
    FILE *f = fopen(env.config, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "listeners:\n  - bind: \"127.0.0.1:%u\"\n    backend: app\n    tls: false\n"
            "    http: allow\n%s%s",
            plain_port, keys, text + 11);
    cr_assert_eq(fclose(f), 0);
    free(text);
    char *argv[] = {getenv("MTLB_BIN"), "-c", env.config, NULL};
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int o = open(env.out_log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int e = open(env.err_log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (o == -1 || e == -1 || dup2(o, 1) == -1 || dup2(e, 2) == -1) {
            _exit(126);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    env.mtlb = pid;
    double deadline = it_now() + 10.0;
    while (!(it_port_accepts(env.port) && it_port_accepts(plain_port) &&
             it_port_accepts(admin_port))) {
        cr_assert(it_now() < deadline, "mtlb did not start; stderr:\n%s",
                  it_read_file(env.err_log, NULL));
        usleep(20000);
    }
}

static double metric(const char *series)
{
    char *body = NULL;
    cr_assert_eq(it_admin_req(admin_port, "GET", "/metrics", 3000, &body), 200);
    double v = it_prom_value(body, series);
    free(body);
    cr_assert_geq(v, 0, "%s absent", series);
    return v;
}

/* mtlb-echo's /size/N body: byte i is 'a' + i % 26. */
static bool pattern_ok(const char *p, size_t n, size_t off)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != (char)('a' + (off + i) % 26)) {
            return false;
        }
    }
    return true;
}

/* GET path on c; reads the head and then the body by hand, checking the pattern. Returns
 * the body bytes received before the connection ended or want was reached. */
static size_t get_body(struct it_conn *c, const char *path, size_t want, bool *pattern)
{
    char req[256], buf[65536];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", path);
    cr_assert_eq(it_conn_sends(c, req), 0);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, true), 0, "no head: %s", c->err);
    cr_assert_eq(r.status, 200, "%s", r.head);
    it_response_fini(&r);
    size_t got = 0;
    *pattern = true;
    while (got < want) {
        size_t ask = want - got < sizeof(buf) ? want - got : sizeof(buf);
        ssize_t n = it_conn_recv_some(c, buf, ask);
        if (n <= 0) {
            break;
        }
        *pattern = *pattern && pattern_ok(buf, (size_t)n, got);
        got += (size_t)n;
    }
    return got;
}

/* Reads until the connection ends (or the timeout): the byte count. */
static size_t get_body_rest(struct it_conn *c, size_t max)
{
    char buf[65536];
    size_t got = 0;
    while (got < max) {
        ssize_t n = it_conn_recv_some(c, buf, sizeof(buf));
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    return got;
}

static void download(uint16_t port, size_t size, bool keep_alive_again)
{
    char path[64];
    bool pattern = false;
    snprintf(path, sizeof(path), "/size/%zu", size);
    struct it_conn *c = it_tcp_connect(port);
    it_conn_timeout(c, 20000);
    cr_assert_eq(get_body(c, path, size, &pattern), size);
    cr_assert(pattern, "body differs from the backend's");
    if (keep_alive_again) {
        /* The connection is in step after the spliced body: a second answer on it. */
        cr_assert_eq(get_body(c, "/size/100", 100, &pattern), 100);
        cr_assert(pattern);
    }
    it_conn_close(c);
}

Test(splice, large_body_moves_by_splice_byte_for_byte)
{
    start("");
    size_t size = 16u << 20;
    download(plain_port, size, true);
    double bytes = metric("mtlb_spliced_bytes_total");
    /* All but what came with the head in the first read (rbuf is 32 KiB). */
    cr_assert(bytes > (double)(size - 65536) && bytes <= (double)size, "spliced %g", bytes);
    cr_assert_eq(metric("mtlb_spliced_bodies_total"), 1);
    /* The access log counts every body byte, spliced or copied. */
    char want[64];
    snprintf(want, sizeof(want), "\"bytes\":%zu,", size);
    const char *needles[] = {want, "\"path\":\"/size/16777216\"", NULL};
    cr_assert_eq(it_wait_lines(env.out_log, needles, 1, 3000), 1);
    it_mtlb_stop(&env, 5000);
}

Test(splice, small_chunked_tls_and_switched_off_keep_the_copy_path)
{
    start("    splice: false\n");
    download(plain_port, 4u << 20, false);
    cr_assert_eq(metric("mtlb_spliced_bytes_total"), 0);
    it_mtlb_stop(&env, 5000);

    start("");
    download(plain_port, 20000, false); /* under MTLB_SPLICE_MIN_BODY */
    struct it_conn *c = it_tcp_connect(plain_port);
    it_conn_timeout(c, 10000);
    cr_assert_eq(it_conn_sends(c, "GET /chunked/3000000 HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
    cr_assert_eq(r.body_len, 3000000);
    it_response_fini(&r);
    it_conn_close(c);
    /* The TLS listener: userspace TLS here (no kTLS in this kernel). */
    struct it_tls_opts o = {.cert = "client/good.crt", .key = "client/good.key"};
    it_get(env.port, &o, "/size/3000000", &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.body_len, 3000000);
    it_response_fini(&r);
    cr_assert_eq(metric("mtlb_spliced_bytes_total"), 0);
    it_mtlb_stop(&env, 5000);
}

Test(splice, client_leaving_mid_body_leaves_mtlb_serving)
{
    start("");
    for (int i = 0; i < 3; i++) {
        struct it_conn *c = it_tcp_connect(plain_port);
        it_conn_timeout(c, 10000);
        bool pattern = false;
        cr_assert_eq(get_body(c, "/size/268435456", 1u << 20, &pattern), 1u << 20);
        cr_assert(pattern);
        it_conn_close(c); /* with unread bytes: a reset */
    }
    download(plain_port, 8u << 20, true);
    it_mtlb_assert_alive(&env);
    cr_assert_eq(metric("mtlb_spliced_bodies_total"), 4);
    it_mtlb_stop(&env, 5000);
}

Test(splice, backend_dying_mid_body_closes_the_client)
{
    start("");
    struct it_conn *c = it_tcp_connect(plain_port);
    it_conn_timeout(c, 10000);
    bool pattern = false;
    size_t size = 1u << 30;
    cr_assert_eq(get_body(c, "/size/1073741824", 1u << 20, &pattern), 1u << 20);
    it_echo_kill(&env, 0);
    /* What is still buffered arrives, then the close: never the promised length. */
    size_t rest = get_body_rest(c, size);
    cr_assert_lt(rest + (1u << 20), size);
    cr_assert(c->eof, "connection not closed: %s", c->err);
    it_conn_close(c);
    const char *needles[] = {"event=upstream_truncated", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, needles, 1, 3000), 1);
    cr_assert_eq(metric("mtlb_spliced_bodies_total"), 1);
    it_mtlb_assert_alive(&env);
    it_mtlb_stop(&env, 5000);
}
