/* Integration: the listening side. A listener's port belongs to one mtlb: a second mtlb (or any
 * socket with SO_REUSEPORT) cannot bind it, while the acceptor threads of one mtlb share one
 * socket. A refused client reads the refusal: mtlb sends the alert, shuts its write side and
 * drains the client's bytes before closing (lingering close), bounded in time and bytes. */
#include "harness.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static struct it_env env;
static struct it_env other; /* a second instance's directory, when a test needs one */
static const struct it_tls_opts good = {.cert = "client/good.crt", .key = "client/good.key"};

static void setup(void)
{
    it_env_init(&env);
    memset(&other, 0, sizeof(other));
}

static void teardown(void)
{
    if (other.dir[0] != '\0') {
        it_env_fini(&other);
    }
    it_env_fini(&env);
}

TestSuite(listen, .init = setup, .fini = teardown, .timeout = 90);

static struct it_config base(const char *mode)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = 1};
    cfg.servers[0] = it_echo_start(&env, "b1");
    cfg.domains[0].mode = mode;
    return cfg;
}

static void serve_some(int n, const char *what)
{
    for (int i = 0; i < n; i++) {
        struct it_response r;
        it_get(env.port, &good, "/", &r);
        cr_assert_eq(r.status, 200, "%s: request %d: status %d", what, i, r.status);
        it_response_fini(&r);
    }
}

/* Listening TCP sockets on port in this network namespace (/proc/net/tcp, state 0A). */
static int listening_sockets(uint16_t port)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    cr_assert_not_null(f, "cannot read /proc/net/tcp");
    char line[512], local[16];
    int n = 0;
    snprintf(local, sizeof(local), ":%04X ", port);
    while (fgets(line, sizeof(line), f) != NULL) {
        char *at = strstr(line, local);
        n += at != NULL && at < line + 30 && strncmp(at + 20, "0A ", 3) == 0;
    }
    fclose(f);
    return n;
}

/* ---- one port, one process ---- */

/* A stale or test instance without client_auth on the same address must not start: if it
 * did, the kernel would give it a share of the clients of the mandatory listener. */
Test(listen, second_instance_on_the_port_fails)
{
    struct it_config cfg = base("mandatory");
    it_mtlb_start(&env, &cfg);
    serve_some(1, "first instance");

    it_env_init(&other);
    other.port = env.port;
    struct it_config open_cfg = cfg;
    open_cfg.domains[0].mode = "off";
    cr_assert_eq(it_write_config(&other, &open_cfg), 0);
    char *argv[] = {getenv("MTLB_BIN"), "-c", other.config, NULL};
    char *out = NULL, *err = NULL;
    int rc = it_run(&other, argv, &out, &err, 3000);
    cr_assert_eq(rc, 1, "a second mtlb on port %u must exit 1 at start (got %d%s); stderr:\n%s",
                 env.port, rc, rc == -1 ? ": it kept running" : "", err ? err : "");
    char addr[64], where[400];
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", env.port);
    snprintf(where, sizeof(where), "%s:2", other.config);
    cr_assert_not_null(strcasestr(err, "address already in use"), "stderr:\n%s", err);
    cr_assert_not_null(strstr(err, addr), "stderr must name the bind address %s:\n%s", addr, err);
    cr_assert_not_null(strstr(err, where), "stderr must name the config line %s:\n%s", where, err);
    free(out);
    free(err);

    /* mtlb -t never binds: it passes while the port is taken. */
    char *targv[] = {getenv("MTLB_BIN"), "-t", "-c", other.config, NULL};
    rc = it_run(&other, targv, &out, &err, 10000);
    cr_assert_eq(rc, 0, "mtlb -t must not bind (exit %d):\n%s", rc, err ? err : "");
    free(out);
    free(err);

    it_mtlb_assert_alive(&env);
    serve_some(10, "first instance after the second failed");
    cr_assert_eq(listening_sockets(env.port), 1, "one listening socket on the port");
}

/* Any process of the same user could join an SO_REUSEPORT group; mtlb's socket has none. */
Test(listen, foreign_reuseport_socket_cannot_join)
{
    struct it_config cfg = base("mandatory");
    it_mtlb_start(&env, &cfg);
    const uint32_t hosts[] = {htonl(INADDR_LOOPBACK), htonl(INADDR_ANY)};
    for (size_t i = 0; i < 2; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        cr_assert(fd != -1);
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
        struct sockaddr_in sa = {
            .sin_family = AF_INET, .sin_port = htons(env.port), .sin_addr.s_addr = hosts[i]};
        int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        int e = errno;
        if (rc == 0) {
            rc = listen(fd, 16);
            e = errno;
        }
        close(fd);
        cr_assert(rc == -1 && e == EADDRINUSE,
                  "a foreign SO_REUSEPORT socket on %s:%u must fail with EADDRINUSE (rc %d: %s)",
                  i == 0 ? "127.0.0.1" : "0.0.0.0", env.port, rc, rc ? strerror(e) : "bound");
    }
    serve_some(3, "after the foreign bind attempts");
}

/* k client processes, m exchanges each, at the same time; returns the responses with 200. */
static int burst(int k, int m)
{
    pid_t pids[16];
    for (int i = 0; i < k; i++) {
        pids[i] = fork();
        cr_assert(pids[i] != -1);
        if (pids[i] == 0) {
            int ok = 0;
            for (int j = 0; j < m; j++) {
                struct it_exchange x;
                it_tls_exchange(env.port, &good, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", &x);
                ok += x.outcome == IT_OK && x.resp.status == 200;
                it_exchange_fini(&x);
            }
            _exit(ok);
        }
    }
    int total = 0;
    for (int i = 0; i < k; i++) {
        int st;
        waitpid(pids[i], &st, 0);
        total += WIFEXITED(st) ? WEXITSTATUS(st) : 0;
    }
    return total;
}

Test(listen, two_acceptors_share_one_socket)
{
    struct it_config cfg = base("mandatory");
    cfg.acceptors = 2;
    it_mtlb_start(&env, &cfg);
    cr_assert_eq(listening_sockets(env.port), 1, "acceptors share one listening socket");
    const char *a0[] = {"thread=acceptor-0", "event=handshake_done", NULL};
    const char *a1[] = {"thread=acceptor-1", "event=handshake_done", NULL};
    int served = 0, tried = 0;
    /* Which thread the kernel wakes depends on which one is idle: bursts until both took
     * some (a handful is plenty on any machine). */
    for (int round = 0; round < 8; round++) {
        served += burst(6, 8);
        tried += 6 * 8;
        if (it_wait_lines(env.err_log, a0, 1, 500) > 0 && it_wait_lines(env.err_log, a1, 1, 500)) {
            break;
        }
    }
    cr_assert_eq(served, tried, "%d of %d exchanges served with two acceptors", served, tried);
    cr_assert_gt(it_count_lines(env.err_log, a0), 0, "acceptor-0 never completed a handshake");
    cr_assert_gt(it_count_lines(env.err_log, a1), 0, "acceptor-1 never completed a handshake");
}

/* ---- the refused client reads its refusal ---- */

#define H1_REQUEST "GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: refused\r\n\r\n"
/* What an HTTP/2 client writes right after its handshake: the preface and SETTINGS. */
static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                                 "\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x64";

/* A TLS 1.3 client without a certificate: the handshake completes on its side, it writes its
 * first bytes at once, then reads. Returns the alert it read (-1: none) and leaves the
 * connection open in *keep when keep is not NULL. */
static int refused_tls13(bool h2, char *why, size_t whylen, struct it_conn **keep)
{
    struct it_tls_opts o = {.version = TLS1_3_VERSION};
    char err[256];
    struct it_conn *c = it_tls_connect(env.port, &o, err, sizeof(err));
    if (c == NULL) {
        snprintf(why, whylen, "handshake: %s", err);
        return strstr(err, "alert 116 ") != NULL ? 116 : -1;
    }
    /* A real client reports a failed write (reset) and never reads: that counts as a miss,
     * even where this kernel would still hand over the alert queued before the reset. */
    int w = h2 ? it_conn_send(c, h2_preface, sizeof(h2_preface) - 1) : it_conn_sends(c, H1_REQUEST);
    int alert = -1;
    if (w != 0) {
        snprintf(why, whylen, "write: %s", c->err);
    } else {
        char buf[256];
        ssize_t n = it_conn_recv_some(c, buf, sizeof(buf));
        alert = n < 0 ? c->alert_received : -1;
        snprintf(why, whylen, "read %zd: %s", n, c->err);
    }
    if (keep != NULL) {
        *keep = c;
    } else {
        it_conn_close(c);
    }
    return alert;
}

static void expect_tls13_alerts(void)
{
    char whys[10][300];
    int got = 0;
    for (int i = 0; i < 10; i++) {
        got += refused_tls13(i % 2 == 1, whys[i], sizeof(whys[i]), NULL) ==
               SSL_AD_CERTIFICATE_REQUIRED;
    }
    cr_assert_geq(got, 9,
                  "only %d of 10 refused TLS 1.3 clients read certificate_required; e.g.\n%s\n%s",
                  got, whys[0], whys[1]);
}

Test(listen, tls13_refused_clients_read_certificate_required)
{
    struct it_config cfg = base("mandatory");
    it_mtlb_start(&env, &cfg);
    expect_tls13_alerts();
    serve_some(2, "after the refusals");
}

Test(listen, tls13_refusals_with_two_acceptors)
{
    struct it_config cfg = base("mandatory");
    cfg.acceptors = 2;
    it_mtlb_start(&env, &cfg);
    expect_tls13_alerts();
}

/* TLS 1.2: the refusal comes inside the handshake, while the client's last flight is still
 * unread; the client must get the alert and then an orderly end of stream, not a reset. */
Test(listen, tls12_refused_clients_read_the_alert)
{
    struct it_config cfg = base("mandatory");
    it_mtlb_start(&env, &cfg);
    int got = 0;
    char detail[400] = "";
    for (int i = 0; i < 10; i++) {
        struct it_tls_opts o = {.version = TLS1_2_VERSION};
        bool ok = false;
        struct it_conn *c = it_tls_open(env.port, &o, &ok);
        char b;
        it_conn_timeout(c, 3000);
        ssize_t n = ok ? 1 : recv(c->fd, &b, 1, 0);
        int e = errno;
        bool good_end = !ok && c->alert_received == SSL_AD_HANDSHAKE_FAILURE && n == 0;
        if (!good_end) {
            snprintf(detail, sizeof(detail), "handshake %s, %s; then recv %zd (%s)",
                     ok ? "completed" : "failed", c->err, n, n < 0 ? strerror(e) : "-");
        }
        got += good_end;
        it_conn_close(c);
    }
    cr_assert_geq(got, 9,
                  "only %d of 10 refused TLS 1.2 clients read handshake_failure and then EOF: %s",
                  got, detail);
}

/* ---- lingering is bounded ---- */

static int fd_count(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    cr_assert_not_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

/* Refused clients that never close cost mtlb their fds for the linger time only (2 s). */
Test(listen, silent_refused_clients_are_let_go)
{
    struct it_config cfg = base("mandatory");
    it_mtlb_start(&env, &cfg);
    serve_some(1, "warm-up");
    int before = fd_count(env.mtlb);
    struct it_conn *kept[8];
    char why[300];
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(refused_tls13(false, why, sizeof(why), &kept[i]), SSL_AD_CERTIFICATE_REQUIRED,
                     "refused client %d: %s", i, why);
    }
    double t0 = it_now();
    int now = fd_count(env.mtlb);
    while (now > before && it_now() - t0 < 5.0) {
        usleep(100 * 1000);
        now = fd_count(env.mtlb);
    }
    cr_assert_leq(now, before, "mtlb holds %d fds (%d before) 5 s after 8 silent refusals", now,
                  before);
    for (int i = 0; i < 8; i++) {
        it_conn_close(kept[i]);
    }
    serve_some(2, "after the silent refusals");
}

/* A refused client that keeps sending is cut off after a bounded number of bytes (64 KiB),
 * not read for the whole linger time. */
Test(listen, lingering_reads_a_bounded_number_of_bytes)
{
    struct it_config cfg = base("mandatory");
    it_mtlb_start(&env, &cfg);
    struct it_conn *c = NULL;
    char why[300];
    cr_assert_eq(refused_tls13(false, why, sizeof(why), &c), SSL_AD_CERTIFICATE_REQUIRED, "%s",
                 why);
    static char junk[65536];
    memset(junk, 'x', sizeof(junk));
    it_conn_timeout(c, 5000);
    double t0 = it_now();
    size_t sent = 0;
    while (sent < 64u * 1024 * 1024 && it_now() - t0 < 10.0) {
        ssize_t w = send(c->fd, junk, sizeof(junk), MSG_NOSIGNAL);
        if (w <= 0) {
            break;
        }
        sent += (size_t)w;
    }
    double took = it_now() - t0;
    cr_assert_lt(sent, 64u * 1024 * 1024, "mtlb read 64 MiB from a refused client");
    cr_assert_lt(took, 1.0, "the refused sender was cut off only after %.1f s", took);
    it_conn_close(c);
    serve_some(1, "after the sender");
}

/* Lingering connections keep their max_connections places: a flood of refused clients holds
 * at most max_connections fds, and each for the linger time only. */
Test(listen, lingering_counts_against_max_connections)
{
    struct it_config cfg = base("mandatory");
    cfg.limits = "{max_header_bytes: 16384, max_headers: 100, max_connections: 3}";
    it_mtlb_start(&env, &cfg);
    struct it_conn *kept[3];
    char why[300];
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(refused_tls13(false, why, sizeof(why), &kept[i]), SSL_AD_CERTIFICATE_REQUIRED,
                     "refused client %d: %s", i, why);
    }
    struct it_exchange x;
    it_tls_exchange(env.port, &good, H1_REQUEST, &x);
    cr_assert_neq(x.outcome, IT_OK, "a 4th connection was served while 3 refusals lingered");
    it_exchange_fini(&x);
    const char *refused[] = {"event=connection_refused", "max_connections", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, refused, 1, 2000), 1, "no max_connections refusal");
    usleep(2500 * 1000);
    serve_some(2, "after the lingering closes ended");
    for (int i = 0; i < 3; i++) {
        it_conn_close(kept[i]);
    }
}
