/* Integration: faults mtlb must live through. Descriptors running out at accept (EMFILE, the
 * limit lowered with prlimit on the running process), a backend that resets its connection in
 * the middle of a response, a backend that writes a body after a HEAD response, or answers with
 * ambiguous or broken framing followed by more bytes (never read as the next request's response,
 * HTTP/1.1 and HTTP/2), an access log on a full disk (/dev/full). In each case mtlb logs
 * the fault, answers what it can, and keeps serving (HTTP/1.1 and HTTP/2). */
#include "h2_util.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(faults, .init = setup, .fini = teardown, .timeout = 90);

static const struct it_tls_opts good = {
    .cert = "client/good.crt", .key = "client/good.key", .sni = "localhost"};

static void start_optional(uint16_t server, const char *access_log)
{
    struct it_config cfg = {.n_domains = 1, .access_log = access_log};
    cfg.domains[0] =
        (struct it_domain){.names = {"api.example.com", "localhost"}, .mode = "optional"};
    if (server != 0) {
        cfg.n_servers = 1;
        cfg.servers[0] = server;
    }
    start_cfg(&cfg);
}

static void expect_get(const char *path, const char *body)
{
    struct it_response r;
    it_get(env.port, &good, path, &r);
    cr_assert_eq(r.status, 200, "%s: %d", path, r.status);
    if (body != NULL) {
        cr_assert_str_eq(r.body, body);
    }
    it_response_fini(&r);
}

static void expect_h2_get(const char *path, unsigned long long bytes)
{
    struct h2_out o;
    char stream[96];
    snprintf(stream, sizeof(stream), "path=%s", path);
    h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--stream", stream, NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    struct h2s s;
    get_stream(&o, path, 0, &s);
    cr_assert_eq(s.status, 200, "%s", o.out);
    cr_assert_eq(s.bytes, bytes, "%s", o.out);
    h2_out_fini(&o);
}

/* ---- descriptors run out ---- */

static size_t open_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    size_t n = 0;
    cr_assert_not_null(d);
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

/* utime + stime of pid, in clock ticks (100 per second). */
static long cpu_ticks(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    char *s = it_read_file(path, NULL);
    cr_assert_not_null(s);
    const char *p = strrchr(s, ')');
    unsigned long ut = 0, st = 0;
    cr_assert_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st), 2);
    free(s);
    return (long)(ut + st);
}

/* mtlb's limit lowered to 6 descriptors above what it holds, 24 connections held open: the
 * accepts past the limit fail with EMFILE (logged, rate-limited); once the clients go, mtlb
 * serves again without a restart. */
Test(faults, descriptors_run_out_at_accept)
{
    start_optional(0, NULL);
    expect_get("/before", NULL);
    size_t base = open_fds(env.mtlb);
    struct rlimit rl = {.rlim_cur = base + 6, .rlim_max = base + 6};
    cr_assert_eq(prlimit(env.mtlb, RLIMIT_NOFILE, &rl, NULL), 0);

    struct it_conn *held[24];
    for (size_t i = 0; i < 24; i++) {
        held[i] = it_tcp_connect(env.port);
        cr_assert_not_null(held[i]);
    }
    const char *needles[] = {"event=accept_failed", "Too many open files", NULL};
    cr_assert_geq(it_wait_lines(env.err_log, needles, 1, 5000), 1, "no accept_failed line");
    it_mtlb_assert_alive(&env);
    cr_assert_leq(open_fds(env.mtlb), base + 6);
    /* The acceptor rests its listeners while the backlog cannot be accepted (it spun at about
     * 30 % of a core on them before): ticks are 1/100 s, over one second. */
    long t0 = cpu_ticks(env.mtlb);
    usleep(1000000);
    long spent = cpu_ticks(env.mtlb) - t0;
    cr_log_info("mtlb CPU while at the descriptor limit: %ld%%", spent);
    cr_expect_leq(spent, 10, "mtlb spins at the descriptor limit: %ld%% of a core", spent);
    for (size_t i = 0; i < 24; i++) {
        it_conn_close(held[i]);
    }
    /* The backlog drains (each of those handshakes ends at its client's close). */
    double deadline = it_now() + 10.0;
    while (open_fds(env.mtlb) > base + 2 && it_now() < deadline) {
        usleep(20000);
    }
    expect_get("/after", NULL);
    expect_h2_get("/size/1234", 1234);
    it_mtlb_assert_alive(&env);
    cr_assert_eq(it_mtlb_stop(&env, 5000), 0);
}

/* ---- a backend that resets mid-response ---- */

/* /reset: a 200 head announcing 1 MB, 16 KiB of it, then an RST (SO_LINGER 0). Anything else:
 * "ok" and a close. */
struct resetter {
    int fd;
    uint16_t port;
    atomic_bool stop;
    atomic_uint resets;
    pthread_t thread;
    void (*serve)(struct resetter *r, int c); /* one accepted connection */
};

static void resetter_serve(struct resetter *r, int c)
{
    char req[4096];
    size_t n = 0;
    while (n < sizeof(req) - 1) {
        ssize_t k = recv(c, req + n, sizeof(req) - 1 - n, 0);
        if (k <= 0) {
            return;
        }
        n += (size_t)k;
        req[n] = '\0';
        if (strstr(req, "\r\n\r\n") != NULL) {
            break;
        }
    }
    if (strncmp(req, "GET /reset", 10) == 0) {
        static char part[16384 + 128];
        int h = snprintf(part, sizeof(part), "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n");
        memset(part + h, 'r', 16384);
        (void)!send(c, part, (size_t)h + 16384, MSG_NOSIGNAL);
        usleep(50000); /* the part reaches mtlb, and the client, before the reset */
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        atomic_fetch_add(&r->resets, 1);
        return;
    }
    const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    (void)!send(c, ok, sizeof(ok) - 1, MSG_NOSIGNAL);
}

/* The backend's thread: one connection at a time, each given to r->serve. */
static void *resetter_main(void *arg)
{
    struct resetter *r = arg;
    while (!atomic_load(&r->stop)) {
        struct pollfd p = {.fd = r->fd, .events = POLLIN};
        if (poll(&p, 1, 100) != 1) {
            continue;
        }
        int c = accept(r->fd, NULL, NULL);
        if (c == -1) {
            continue;
        }
        struct timeval tv = {.tv_sec = 2};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        r->serve(r, c);
        close(c);
    }
    return NULL;
}

static void resetter_start(struct resetter *r, void (*serve)(struct resetter *r, int c))
{
    r->serve = serve;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    r->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_neq(r->fd, -1);
    cr_assert_eq(bind(r->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(r->fd, 64), 0);
    cr_assert_eq(getsockname(r->fd, (struct sockaddr *)&a, &len), 0);
    r->port = ntohs(a.sin_port);
    atomic_init(&r->stop, false);
    atomic_init(&r->resets, 0);
    cr_assert_eq(pthread_create(&r->thread, NULL, resetter_main, r), 0);
}

static void resetter_stop(struct resetter *r)
{
    atomic_store(&r->stop, true);
    pthread_join(r->thread, NULL);
    close(r->fd);
}

Test(faults, backend_reset_mid_response_http1)
{
    struct resetter r;
    resetter_start(&r, resetter_serve);
    start_optional(r.port, NULL);

    char err[256] = "";
    struct it_conn *c = it_tls_connect(env.port, &good, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    it_conn_timeout(c, 5000);
    cr_assert_eq(it_conn_sends(c, "GET /reset HTTP/1.1\r\nHost: localhost\r\n\r\n"), 0);
    struct it_response resp;
    /* The head and part of the body went out: the client can only be cut off, short. */
    cr_assert_neq(it_read_response(c, &resp, false), 0, "a 1 MB body cannot have arrived");
    cr_assert(c->eof, "mtlb closes the connection: %s", c->err);
    cr_assert_geq(c->bytes_received, 16384, "the part before the reset was forwarded");
    cr_assert_lt(c->bytes_received, 1000000);
    it_conn_close(c);
    cr_assert_eq(atomic_load(&r.resets), 1);

    it_mtlb_assert_alive(&env);
    expect_get("/fine", "ok");
    it_mtlb_assert_alive(&env);
    cr_assert_eq(it_mtlb_stop(&env, 5000), 0);
    resetter_stop(&r);
}

Test(faults, backend_reset_mid_response_http2)
{
    struct resetter r;
    resetter_start(&r, resetter_serve);
    start_optional(r.port, NULL);

    /* The reset stream ends with a reset; the connection and its other streams go on. */
    struct h2_out o;
    h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--stream", "path=/reset",
            "--stream", "path=/fine", NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    struct h2s s;
    get_stream(&o, "/reset", 0, &s);
    cr_assert_str_neq(s.reset, "-", "the cut stream is reset: %s", o.out);
    cr_assert_lt(s.bytes, 1000000, "%s", o.out);
    get_stream(&o, "/fine", 0, &s);
    cr_assert_eq(s.status, 200, "%s", o.out);
    cr_assert_eq(s.bytes, 2, "%s", o.out);
    cr_assert_null(strstr(o.out, "goaway last_stream_id"), "one stream's reset ends nothing else");
    h2_out_fini(&o);
    cr_assert_eq(atomic_load(&r.resets), 1);

    it_mtlb_assert_alive(&env);
    expect_h2_get("/fine", 2);
    cr_assert_eq(it_mtlb_stop(&env, 5000), 0);
    resetter_stop(&r);
}

/* ---- a backend that writes a body after a HEAD response ---- */

/* Keep-alive: HEAD gets a head announcing the length of INJECTED, then, 100 ms later, INJECTED
 * itself anyway (a backend that writes bodies for HEAD, late). Anything else: "ok". */
#define INJECTED "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\npwned!"

/* Reads from c until req (n bytes so far, room for cap) holds a whole request head; returns
 * its length, or 0 when the peer closed or the head does not fit. These backends get bodiless
 * requests only. */
static size_t next_head(int c, char *req, size_t cap, size_t *n)
{
    for (;;) {
        char *end = memmem(req, *n, "\r\n\r\n", 4);
        if (end != NULL) {
            return (size_t)(end + 4 - req);
        }
        ssize_t k = *n < cap ? recv(c, req + *n, cap - *n, 0) : -1;
        if (k <= 0) {
            return 0;
        }
        *n += (size_t)k;
    }
}

/* Drops the head next_head found (used bytes), keeping what a pipelining client sent after. */
static void drop_head(char *req, size_t *n, size_t used)
{
    memmove(req, req + used, *n - used);
    *n -= used;
}

static void late_body_serve(struct resetter *r, int c)
{
    char req[4096];
    size_t n = 0;
    for (size_t used; (used = next_head(c, req, sizeof(req), &n)) != 0;) {
        bool head = n >= 5 && memcmp(req, "HEAD ", 5) == 0;
        drop_head(req, &n, used);
        char out[128];
        int h = snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
                         head ? sizeof(INJECTED) - 1 : 2, head ? "" : "ok");
        (void)!send(c, out, (size_t)h, MSG_NOSIGNAL);
        if (head) {
            usleep(100000); /* after mtlb took the response as complete */
            (void)!send(c, INJECTED, sizeof(INJECTED) - 1, MSG_NOSIGNAL);
            atomic_fetch_add(&r->resets, 1); /* the late bytes are on their way */
        }
    }
}

/* Bytes that arrive on a pooled backend connection after its response was complete belong to
 * no request: the next request must never get them as its response (whoever made the backend
 * write them would answer another client). The pooled connection is dropped instead. */
Test(faults, late_bytes_on_a_pooled_connection_never_answer_the_next_request)
{
    struct resetter r;
    resetter_start(&r, late_body_serve);
    start_optional(r.port, NULL);

    char err[256] = "";
    struct it_conn *c = it_tls_connect(env.port, &good, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    it_conn_timeout(c, 5000);
    struct it_response resp;
    cr_assert_eq(it_conn_sends(c, "HEAD /h HTTP/1.1\r\nHost: localhost\r\n\r\n"), 0);
    cr_assert_eq(it_read_response(c, &resp, true), 0, "HEAD: %s", c->err);
    cr_assert_eq(resp.status, 200);
    it_response_fini(&resp);
    /* Only once the late bytes were sent (a loaded machine may delay the backend's thread):
     * the request must not race them, the test is about bytes already waiting. */
    double deadline = it_now() + 5.0;
    while (atomic_load(&r.resets) == 0 && it_now() < deadline) {
        usleep(10000);
    }
    cr_assert_eq(atomic_load(&r.resets), 1, "the backend never sent its late bytes");
    usleep(100000);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(it_conn_sends(c, "GET /g HTTP/1.1\r\nHost: localhost\r\n\r\n"), 0);
        cr_assert_eq(it_read_response(c, &resp, false), 0, "GET %d: %s", i, c->err);
        cr_assert_eq(resp.status, 200);
        cr_assert_str_eq(resp.body, "ok", "GET %d got the bytes left on a pooled connection", i);
        it_response_fini(&resp);
    }
    it_conn_close(c);
    it_mtlb_assert_alive(&env);
    cr_assert_eq(it_mtlb_stop(&env, 5000), 0);
    resetter_stop(&r);
}

/* ---- a backend whose response framing is wrong or ambiguous ---- */

/* Heads (and bodies) a broken or hostile backend may answer with, each followed by INJECTED:
 * whatever mtlb makes of the first, the bytes after it belong to no request, so they must never
 * become the next request's response (another client's answer, or one that whoever controls
 * the backend's output wrote). Sent in one write (mtlb sees them with the response) and, in a
 * second round, INJECTED 100 ms later (the connection may be idle in the pool by then). */
static const char *const bad_framing[] = {
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", /* a complete answer, then more */
    "HTTP/1.1 204 No Content\r\n\r\n",
    "HTTP/1.1 304 Not Modified\r\nContent-Length: 6\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n", /* to HEAD: INJECTED looks like its body */
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n",
    "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000002\r\nok\r\n0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nok\n0\n\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;a=\"\r\n0\r\n\r\n\"\r\nok\r\n0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", /* then more */
};
#define N_BAD (sizeof(bad_framing) / sizeof(bad_framing[0]))
#define HEAD_CASE 5

/* /f/N: bad_framing[N] and INJECTED in one write; /l/N: INJECTED 100 ms after bad_framing[N]
 * (r->resets counts those sent); anything else: "ok", kept alive. */
static void framing_serve(struct resetter *r, int c)
{
    char req[4096];
    size_t n = 0;
    for (size_t used; (used = next_head(c, req, sizeof(req), &n)) != 0;) {
        char out[512], kind = 0;
        const char *path = memchr(req, ' ', n);
        unsigned i = 0;
        bool bad = path != NULL && sscanf(path, " /%c/%u ", &kind, &i) == 2 && i < N_BAD &&
                   (kind == 'f' || kind == 'l');
        int h = snprintf(out, sizeof(out), "%s%s",
                         bad ? bad_framing[i] : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                         bad && kind == 'f' ? INJECTED : "");
        drop_head(req, &n, used);
        (void)!send(c, out, (size_t)h, MSG_NOSIGNAL);
        if (bad && kind == 'l') {
            usleep(100000);
            (void)!send(c, INJECTED, sizeof(INJECTED) - 1, MSG_NOSIGNAL);
            atomic_fetch_add(&r->resets, 1);
        }
    }
}

/* One worker, so that every request of the test meets the same pool of backend connections. */
static void start_one_worker(uint16_t server)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = 1};
    cfg.domains[0] =
        (struct it_domain){.names = {"api.example.com", "localhost"}, .mode = "optional"};
    cfg.servers[0] = server;
    cr_assert_eq(it_write_config(&env, &cfg), 0);
    char *text = it_read_file(env.config, NULL);
    char *w = text != NULL ? strstr(text, "workers: 2") : NULL;
    cr_assert_not_null(w, "no 'workers: 2' in the config:\n%s", text);
    w[9] = '1';
    FILE *f = fopen(env.config, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fputs(text, f) >= 0 && fclose(f) == 0, true);
    free(text);
    it_mtlb_launch(&env);
    it_mtlb_wait_ports(&env, &env.port, 1);
}

/* Sends "/kind/i" (HEAD for HEAD_CASE) on *c, reads whatever comes, then GET /g must get "ok";
 * *c is replaced when mtlb closed it. */
static void framing_round(struct resetter *r, struct it_conn **c, char kind, unsigned i)
{
    char err[256] = "", req[128], conn[32] = "";
    struct it_response resp;
    unsigned late = atomic_load(&r->resets);

    snprintf(req, sizeof(req), "%s /%c/%u HTTP/1.1\r\nHost: localhost\r\n\r\n",
             i == HEAD_CASE ? "HEAD" : "GET", kind, i);
    cr_assert_eq(it_conn_sends(*c, req), 0);
    /* Its answer may be a 502, the backend's, or a close: never INJECTED. */
    int rc = it_read_response(*c, &resp, i == HEAD_CASE);
    if (rc == 0) {
        cr_assert(resp.body == NULL || strstr(resp.body, "pwned") == NULL, "%c/%u: %s", kind, i,
                  resp.body);
        it_header_get(resp.head, "Connection", conn, sizeof(conn));
        it_response_fini(&resp);
    }
    if (rc != 0 || strcmp(conn, "close") == 0) {
        it_conn_close(*c); /* mtlb closed it: the next request on a new connection */
        *c = it_tls_connect(env.port, &good, err, sizeof(err));
        cr_assert_not_null(*c, "%s", err);
        it_conn_timeout(*c, 5000);
    }
    if (kind == 'l') { /* the late bytes are waiting before the next request is sent */
        double deadline = it_now() + 5.0;
        while (atomic_load(&r->resets) == late && it_now() < deadline) {
            usleep(10000);
        }
        cr_assert_eq(atomic_load(&r->resets), late + 1, "%c/%u: no late bytes sent", kind, i);
        usleep(100000);
    }
    cr_assert_eq(it_conn_sends(*c, "GET /g HTTP/1.1\r\nHost: localhost\r\n\r\n"), 0);
    cr_assert_eq(it_read_response(*c, &resp, false), 0, "after %c/%u: %s", kind, i, (*c)->err);
    cr_assert_eq(resp.status, 200, "after %c/%u: %d", kind, i, resp.status);
    cr_assert_str_eq(resp.body, "ok", "after %c/%u the next request got the bytes left", kind, i);
    it_response_fini(&resp);
}

Test(faults, bad_backend_framing_never_answers_the_next_request_http1)
{
    struct resetter r;
    resetter_start(&r, framing_serve);
    start_one_worker(r.port);

    char err[256] = "";
    struct it_conn *c = it_tls_connect(env.port, &good, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    it_conn_timeout(c, 5000);
    for (unsigned i = 0; i < N_BAD; i++) {
        framing_round(&r, &c, 'f', i);
        framing_round(&r, &c, 'l', i);
    }
    it_conn_close(c);
    it_mtlb_assert_alive(&env);
    cr_assert_eq(it_mtlb_stop(&env, 5000), 0);
    resetter_stop(&r);
}

/* The same over HTTP/2: each case on a stream, then a stream for /g, one at a time. */
Test(faults, bad_backend_framing_never_answers_the_next_request_http2)
{
    struct resetter r;
    resetter_start(&r, framing_serve);
    start_one_worker(r.port);

    char specs[2 * N_BAD][2][64];
    char *argv[14 + 8 * N_BAD];
    char port[16];
    size_t a = 0;
    snprintf(port, sizeof(port), "%u", env.port);
    argv[a++] = getenv("MTLB_H2C");
    cr_assert_not_null(argv[0], "MTLB_H2C is not set (run via meson)");
    argv[a++] = "--port";
    argv[a++] = port;
    argv[a++] = "--timeout";
    argv[a++] = "30000";
    argv[a++] = "--cert";
    argv[a++] = good_cert();
    argv[a++] = "--key";
    argv[a++] = good_key();
    argv[a++] = "--print-body";
    for (unsigned k = 0; k < 2 * N_BAD; k++) {
        unsigned i = k / 2;
        bool late = k % 2 == 1; /* /g waits 300 ms: the late bytes are there before it */
        snprintf(specs[k][0], sizeof(specs[k][0]), "path=/%c/%u,method=%s,after", late ? 'l' : 'f',
                 i, i == HEAD_CASE ? "HEAD" : "GET");
        snprintf(specs[k][1], sizeof(specs[k][1]), "path=/g%u,after%s", k,
                 late ? ",delay=300" : "");
        argv[a++] = "--stream";
        argv[a++] = specs[k][0];
        argv[a++] = "--stream";
        argv[a++] = specs[k][1];
    }
    argv[a] = NULL;
    struct h2_out o;
    o.rc = it_run(&env, argv, &o.out, &o.err, 35000);
    cr_assert(o.out != NULL && o.err != NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    cr_assert_null(strstr(o.out, "pwned"), "INJECTED reached a client:\n%s", o.out);
    for (unsigned i = 0; i < 2 * N_BAD; i++) {
        char path[16];
        snprintf(path, sizeof(path), "/g%u", i);
        struct h2s s;
        get_stream(&o, path, 0, &s);
        cr_assert_eq(s.status, 200, "after case %u:\n%s", i, o.out);
        cr_assert_eq(s.bytes, 2, "after case %u the next stream got the bytes left:\n%s", i, o.out);
    }
    h2_out_fini(&o);
    it_mtlb_assert_alive(&env);
    cr_assert_eq(it_mtlb_stop(&env, 5000), 0);
    resetter_stop(&r);
}

/* ---- access log on a full disk ---- */

/* Every write to /dev/full fails with ENOSPC: the requests are answered all the same, mtlb says
 * so in its error log (rate-limited), and it stops cleanly. */
Test(faults, access_log_on_a_full_disk)
{
    start_optional(0, "/dev/full");
    for (int i = 0; i < 3; i++) {
        expect_get("/size/100", NULL);
        expect_h2_get("/size/100", 100);
    }
    /* The access log is flushed by each worker at least once a second. */
    const char *needles[] = {"event=access_log_write_failed", "No space left on device", NULL};
    cr_assert_geq(it_wait_lines(env.err_log, needles, 1, 5000), 1,
                  "no access_log_write_failed line");
    expect_get("/size/100", NULL);
    it_mtlb_assert_alive(&env);
    cr_assert_eq(it_mtlb_stop(&env, 5000), 0);
}
