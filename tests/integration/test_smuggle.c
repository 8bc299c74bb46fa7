/* Integration: request smuggling as an attacker tries it against the request-body splice
 * (splice_req.c) and the copy path beside it, on a plain `http: allow` listener (the same
 * transport path as kTLS natively). A body's bytes never become a request mtlb parses: not
 * when the backend answers before the body is read (an early 413), not when the body is
 * shorter than declared, not at the splice threshold; Content-Length spellings either get 400
 * or reach the backend canonical; a request pipelined behind a body has its forged identity
 * stripped. (HTTP/2 with prior knowledge and Upgrade: h2c on this listener: test_prior.c.) */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "h2_util.h"
#include "harness.h"

static uint16_t plain_port, admin_port;

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(smuggle, .init = setup, .fini = teardown, .timeout = 120);

/* mtlb with a plain allow listener first (its extra YAML lines `keys`) before the suite's TLS
 * listener; the pool is the one backend on port `backend`. */
static void start(uint16_t backend, const char *keys)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = 1};
    cfg.domains[0].mode = "optional";
    cfg.servers[0] = backend;
    admin_port = it_free_port();
    cfg.admin_port = admin_port;
    plain_port = it_free_port();
    char lines[1024];
    cr_assert_lt(snprintf(lines, sizeof(lines), "    http: allow\n%s", keys), (int)sizeof(lines));
    it_write_config_plain_first(&env, &cfg, plain_port, lines);
    it_mtlb_launch(&env);
    it_mtlb_wait_ports(&env, (uint16_t[]){env.port, plain_port, admin_port}, 3);
}

/* ---- a backend that answers before it reads the body ---- */

/* Every connection: read a head and record it; "/early..." is answered 413 at once (then, in
 * close mode, the connection is closed; else the declared body is read and dropped, as a
 * keep-alive server does); any other path reads its body first and answers 200 "ok". */
struct early_be {
    int lfd;
    uint16_t port;
    bool close_mode;
    pthread_mutex_t mu;
    char heads[1 << 16];
    size_t heads_len;
};

static struct early_be be;

static ssize_t be_read_head(int fd, char *buf, size_t cap, size_t *have)
{
    while (true) {
        char *e = memmem(buf, *have, "\r\n\r\n", 4);
        if (e != NULL) {
            return e + 4 - buf;
        }
        if (*have == cap) {
            return -1;
        }
        ssize_t n = read(fd, buf + *have, cap - *have);
        if (n <= 0) {
            return -1;
        }
        *have += (size_t)n;
    }
}

/* Drops `left` body bytes, those already in buf[off, have) first. */
static bool be_skip(int fd, char *buf, size_t cap, size_t *have, size_t off, unsigned long left)
{
    size_t in = *have - off < left ? *have - off : left;
    memmove(buf, buf + off + in, *have - off - in);
    *have -= off + in;
    left -= in;
    while (left > 0) {
        ssize_t n = read(fd, buf, left < cap ? left : cap);
        if (n <= 0) {
            return false;
        }
        left -= (unsigned long)n;
    }
    return true;
}

static void *be_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    static __thread char buf[1 << 16];
    size_t have = 0;
    ssize_t hl;

    while ((hl = be_read_head(fd, buf, sizeof(buf), &have)) > 0) {
        pthread_mutex_lock(&be.mu);
        size_t k = (size_t)hl < sizeof(be.heads) - be.heads_len ? (size_t)hl
                                                                : sizeof(be.heads) - be.heads_len;
        memcpy(be.heads + be.heads_len, buf, k);
        be.heads_len += k;
        pthread_mutex_unlock(&be.mu);
        const char *cl = memmem(buf, (size_t)hl, "Content-Length: ", 16);
        unsigned long len = cl != NULL ? strtoul(cl + 16, NULL, 10) : 0;
        if (strncmp(buf, "POST /early", 11) == 0) {
            /* "/early-late": the answer comes once 64 KiB of the body arrived (a splice runs) */
            unsigned long pre =
                strncmp(buf, "POST /early-late", 16) == 0 && len > 65536 ? 65536 : 0;
            if (pre > 0 && !be_skip(fd, buf, sizeof(buf), &have, (size_t)hl, pre)) {
                break;
            }
            size_t off = pre > 0 ? 0 : (size_t)hl;
            len -= pre;
            const char *a = be.close_mode
                                ? "HTTP/1.1 413 Payload Too Large\r\nContent-Length: "
                                  "0\r\nConnection: close\r\n\r\n"
                                : "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n";
            if (write(fd, a, strlen(a)) < 0 || be.close_mode) {
                break;
            }
            if (!be_skip(fd, buf, sizeof(buf), &have, off, len)) {
                break;
            }
            continue;
        }
        if (!be_skip(fd, buf, sizeof(buf), &have, (size_t)hl, len)) {
            break;
        }
        const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
        if (write(fd, ok, strlen(ok)) < 0) {
            break;
        }
    }
    shutdown(fd, SHUT_WR);
    char sink[4096];
    while (read(fd, sink, sizeof(sink)) > 0) {
    }
    close(fd);
    return NULL;
}

static void *be_accept(void *arg)
{
    (void)arg;
    int fd;
    while ((fd = accept(be.lfd, NULL, NULL)) >= 0) {
        pthread_t t;
        pthread_create(&t, NULL, be_conn, (void *)(intptr_t)fd);
        pthread_detach(t);
    }
    return NULL;
}

static void be_start(bool close_mode)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    pthread_t t;

    memset(&be, 0, sizeof(be));
    pthread_mutex_init(&be.mu, NULL);
    be.close_mode = close_mode;
    be.lfd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_neq(be.lfd, -1);
    cr_assert_eq(bind(be.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(be.lfd, 64), 0);
    cr_assert_eq(getsockname(be.lfd, (struct sockaddr *)&a, &al), 0);
    be.port = ntohs(a.sin_port);
    cr_assert_eq(pthread_create(&t, NULL, be_accept, NULL), 0);
    pthread_detach(t);
}

static size_t be_count(const char *needle)
{
    size_t n = 0;
    pthread_mutex_lock(&be.mu);
    for (const char *p = be.heads;
         (p = memmem(p, be.heads_len - (size_t)(p - be.heads), needle, strlen(needle))) != NULL;
         p++) {
        n++;
    }
    pthread_mutex_unlock(&be.mu);
    return n;
}

/* A body made of requests, each 128 bytes (so a cut at any 4 KiB boundary starts one), with
 * a forged identity: parsed as a request, it would reach the backend or draw a 2nd answer. */
static void smuggled_fill(char *p, size_t n)
{
    static const char unit[] = "GET /smuggled HTTP/1.1\r\nHost: a\r\nX-SSL-Client-Verify: SUCCESS"
                               "\r\nX-Pad: ";
    char one[129];
    size_t k = sizeof(unit) - 1;
    memcpy(one, unit, k);
    memset(one + k, 'p', 128 - k - 4);
    memcpy(one + 124, "\r\n\r\n", 4);
    for (size_t i = 0; i < n; i++) {
        p[i] = one[i % 128];
    }
}

/* POST path with a body of len smuggled requests; the head first, then the body (as much as
 * mtlb takes). The client sees one answer (413) or a reset; after a 413 that says close, the
 * close and nothing else; after one that does not (the whole body was read meanwhile), the
 * connection is in step: a GET /ok on it is answered 200 by the backend. */
static void early_answer_case(const char *path, size_t len, bool expect)
{
    char head[256];
    static char body[1 << 20];

    struct it_conn *c = it_tcp_connect(plain_port);
    it_conn_timeout(c, 3000);
    snprintf(head, sizeof(head), "POST %s HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n%s\r\n",
             path, len, expect ? "Expect: 100-continue\r\n" : "");
    cr_assert_eq(it_conn_sends(c, head), 0);
    usleep(150000); /* the backend's answer is on its way before the body */
    cr_assert_leq(len, sizeof(body));
    smuggled_fill(body, len);
    for (size_t off = 0; off < len; off += 4096) {
        if (it_conn_send(c, body + off, len - off < 4096 ? len - off : 4096) != 0) {
            break; /* mtlb closed: what it read of the body is all it will ever read */
        }
    }
    struct it_response r;
    if (it_read_response(c, &r, false) != 0) {
        /* a reset after unread body bytes may overtake the answer */
        cr_assert(c->eof || c->last_err != 0, "%s len %zu: neither answer nor close: %s", path, len,
                  c->err);
        it_conn_close(c);
        return;
    }
    cr_assert_eq(r.status, 413, "%s len %zu: %s", path, len, r.head);
    char v[64] = "";
    bool closes = it_header_get(r.head, "Connection", v, sizeof(v)) && strcasecmp(v, "close") == 0;
    it_response_fini(&r);
    if (closes) {
        char rest[1 << 14];
        size_t got = 0;
        ssize_t n;
        double t0 = it_now();
        while (got < sizeof(rest) - 1 &&
               (n = it_conn_recv_some(c, rest + got, sizeof(rest) - 1 - got)) > 0) {
            got += (size_t)n;
        }
        rest[got] = '\0';
        cr_assert_lt(it_now() - t0, 2.9, "%s len %zu: open after 'Connection: close'", path, len);
        cr_assert_null(strstr(rest, "HTTP/1."), "%s len %zu: a second answer:\n%s", path, len,
                       rest);
    } else {
        cr_assert_eq(it_conn_sends(c, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
        cr_assert_eq(it_read_response(c, &r, false), 0, "%s len %zu: %s", path, len, c->err);
        cr_assert_eq(r.status, 200, "%s len %zu: out of step: %s%s", path, len, r.head, r.body);
        cr_assert_str_eq(r.body, "ok\n", "%s len %zu", path, len);
        it_response_fini(&r);
    }
    it_conn_close(c);
}

static void early_answer_round(bool close_mode)
{
    be_start(close_mode);
    start(be.port, "");
    early_answer_case("/early", 1u << 20, false);      /* before the splice starts */
    early_answer_case("/early-late", 1u << 20, false); /* while the splice runs */
    early_answer_case("/early", 20000, false);         /* copied */
    early_answer_case("/early", 1u << 20, true); /* Expect: answered early, body sent anyway */
    /* The pool is in step: a backend connection holding part of a body was not reused. */
    for (int i = 0; i < 3; i++) {
        struct it_conn *c = it_tcp_connect(plain_port);
        it_conn_timeout(c, 5000);
        cr_assert_eq(it_conn_sends(c, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
        struct it_response r;
        cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
        cr_assert_eq(r.status, 200, "%s", r.head);
        it_response_fini(&r);
        it_conn_close(c);
    }
    usleep(200000);
    cr_assert_eq(be_count("POST /early"), 4);
    cr_assert_eq(be_count("/smuggled"), 0, "a body byte was parsed as a request:\n%.*s",
                 (int)be.heads_len, be.heads);
    cr_assert_geq(be_count("GET /ok "), 3);
    char *m = NULL;
    cr_assert_eq(it_admin_req(admin_port, "GET", "/metrics", 3000, &m), 200);
    double spliced = it_prom_value(m, "mtlb_spliced_request_bodies_total");
    free(m);
    cr_assert_geq(spliced, 1, "no body was spliced: the splice path went untested");
    const char *needles[] = {"\"path\":\"/smuggled\"", NULL};
    cr_assert_eq(it_count_lines(env.out_log, needles), 0);
    it_mtlb_assert_alive(&env);
    it_mtlb_stop(&env, 5000);
}

Test(smuggle, early_answer_keep_alive_backend_never_turns_the_body_into_requests)
{
    early_answer_round(false);
}

Test(smuggle, early_answer_closing_backend_never_turns_the_body_into_requests)
{
    early_answer_round(true);
}

/* HTTP/2 to an HTTP/1.1 backend: the backend answers 413 before the 1 MiB body; mtlb drops
 * the rest of the stream's body, and the backend connection, which still expects it, is
 * never reused (had it been, the next request would be read as that body and never answered,
 * or the rest of the body would arrive as requests). */
Test(smuggle, early_answer_over_h2_keeps_the_pool_in_step)
{
    be_start(false);
    start(be.port, "");
    for (int i = 0; i < 3; i++) {
        struct h2_out o;
        struct h2s s;
        h2c_run(&o, 15000, "--cert", good_cert(), "--key", good_key(), "--stream",
                "path=/early,method=POST,body=1048576", "--stream", "path=/ok,after", NULL);
        cr_assert(h2_stream(o.out, "/early", 0, &s), "%s%s", o.out, o.err);
        cr_assert(s.status == 413 || (s.status == 0 && strcmp(s.reset, "-") != 0), "%s", o.out);
        get_stream(&o, "/ok", 0, &s);
        cr_assert_eq(s.status, 200, "the next stream after an early answer:\n%s%s", o.out, o.err);
        h2_out_fini(&o);
        struct it_conn *c = it_tcp_connect(plain_port);
        it_conn_timeout(c, 5000);
        cr_assert_eq(it_conn_sends(c, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
        struct it_response r;
        cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
        cr_assert_eq(r.status, 200, "%s", r.head);
        it_response_fini(&r);
        it_conn_close(c);
    }
    cr_assert_eq(be_count("POST /early"), 3);
    cr_assert_eq(be_count("GET /ok "), 6);
    it_mtlb_assert_alive(&env);
    it_mtlb_stop(&env, 5000);
}

/* ---- framing spellings, the splice threshold, a short body ---- */

static uint64_t body_fill(char *p, size_t n)
{
    uint64_t h = IT_FNV_INIT;
    for (size_t i = 0; i < n; i++) {
        p[i] = (char)('A' + (i * 7 + i / 4096) % 26);
    }
    return it_fnv1a64(h, p, n);
}

#define SECOND                                                                                     \
    "GET /second HTTP/1.1\r\nHost: a\r\nX-SSL-Client-Verify: SUCCESS\r\n"                          \
    "X_SSL_Client_DN: /CN=forged\r\nX-Forwarded-Proto: https\r\nX-Real-IP: 10.6.6.6\r\n\r\n"

/* The echo of a request whose body was len bytes hashing to h, framed canonically; then the
 * pipelined SECOND, its forgeries stripped. */
static void assert_in_step(struct it_conn *c, const char *what, size_t len, uint64_t h)
{
    struct it_response r;
    char want[96];
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s: %s", what, c->err);
    cr_assert_eq(r.status, 200, "%s: %s", what, r.head);
    snprintf(want, sizeof(want), "\r\nContent-Length: %zu\r\n", len);
    cr_assert_not_null(strstr(r.body, want), "%s: backend framing:\n%s", what, r.body);
    cr_assert_eq(it_header_count(strstr(r.body, "\r\n") + 2, "Content-Length"), 1, "%s:\n%s", what,
                 r.body);
    cr_assert_null(strcasestr(r.body, "Transfer-Encoding"), "%s:\n%s", what, r.body);
    /* a CGI-style backend reads "_" as "-": no second framing in that spelling either */
    cr_assert_null(strcasestr(r.body, "Content_Length"), "%s:\n%s", what, r.body);
    cr_assert_null(strcasestr(r.body, "Transfer_Encoding"), "%s:\n%s", what, r.body);
    snprintf(want, sizeof(want), "body-bytes: %zu\r\nbody-fnv1a64: %016llx\r\n", len,
             (unsigned long long)h);
    cr_assert_not_null(strstr(r.body, want), "%s: backend got other bytes:\n%s", what, r.body);
    it_response_fini(&r);
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s: second: %s", what, c->err);
    cr_assert_eq(r.status, 200, "%s: %s", what, r.head);
    cr_assert_not_null(strstr(r.body, "GET /second HTTP/1.1\r\n"), "%s:\n%s", what, r.body);
    cr_assert_null(strstr(r.body, "SUCCESS"), "%s: forged verify:\n%s", what, r.body);
    cr_assert_null(strstr(r.body, "forged"), "%s: forged DN:\n%s", what, r.body);
    cr_assert_null(strstr(r.body, "10.6.6.6"), "%s: forged address:\n%s", what, r.body);
    cr_assert_null(strstr(r.body, "https"), "%s: forged proto:\n%s", what, r.body);
    it_response_fini(&r);
}

struct cl_case {
    const char *framing; /* header lines; %zu is the body length */
    char want;           /* 'R': 400 and the close; 'E': that, or accepted in step */
};

static const struct cl_case cl_cases[] = {
    {"Content-Length: +%zu\r\n", 'R'},
    {"Content-Length: -%zu\r\n", 'R'},
    {"Content-Length: 0x%zu\r\n", 'R'},
    {"Content-Length: %zu.0\r\n", 'R'},
    {"Content-Length: %zu\r\nContent-Length: 1%zu\r\n", 'R'},
    {"Content-Length: %zu, 1%zu\r\n", 'R'},
    {"Content-Length: %zu\r\nTransfer-Encoding: chunked\r\n", 'R'},
    {"Transfer-Encoding: chunked\r\nContent-Length: %zu\r\n", 'R'},
    {"Content-Length: %zu\r\nTransfer-Encoding: identity\r\n", 'R'},
    {"Content-Length: 18446744073709551616%zu\r\n", 'R'},
    {"Content-Length: %zu %zu\r\n", 'R'},
    {"Content_Length: 1%zu\r\nContent-Length: %zu\r\n", 'E'},
    {"Content-Length:  \t%zu \t\r\n", 'E'},
    {"Content-Length: 000%zu\r\n", 'E'},
    {"content-LENGTH: %zu\r\n", 'E'},
    {"Transfer_Encoding: chunked\r\nContent-Length: %zu\r\n", 'E'},
    {"Content-Length: %zu\r\nContent-Length: %zu\r\n", 'E'},
    {"Content-Length: %zu, %zu\r\n", 'E'},
};

/* The head alone first (so mtlb plans the splice on it), then the body and SECOND. */
static void cl_expect(const struct cl_case *t, size_t len, const char *body, uint64_t h)
{
    char head[512], framing[256], what[300];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral" /* the table's own formats */
    snprintf(framing, sizeof(framing), t->framing, len, len);
#pragma GCC diagnostic pop
    snprintf(what, sizeof(what), "framing [%s]", framing);
    snprintf(head, sizeof(head), "POST /up HTTP/1.1\r\nHost: a\r\n%s\r\n", framing);
    struct it_conn *c = it_tcp_connect(plain_port);
    it_conn_timeout(c, 600);
    cr_assert_eq(it_conn_sends(c, head), 0);
    struct it_response r;
    if (it_read_response(c, &r, false) == 0) {
        cr_assert_eq(r.status, 400, "%s: %s", what, r.head);
        it_response_fini(&r);
        cr_assert(it_conn_wait_closed(c, 3000), "%s: open after the 400", what);
        it_conn_close(c);
        return;
    }
    cr_assert_eq(c->bytes_received, 0, "%s: a partial answer: %s", what, c->err);
    cr_assert_eq(t->want, 'E', "%s: accepted (no 400 within 0.6 s)", what);
    it_conn_timeout(c, 10000);
    cr_assert_eq(it_conn_send(c, body, len), 0, "%s", what);
    cr_assert_eq(it_conn_sends(c, SECOND), 0, "%s", what);
    assert_in_step(c, what, len, h);
    it_conn_close(c);
}

Test(smuggle, content_length_spellings_are_refused_or_canonical)
{
    static char body[40000];
    uint64_t h = body_fill(body, sizeof(body));
    start(it_echo_start(&env, "b1"), "");
    for (size_t i = 0; i < sizeof(cl_cases) / sizeof(cl_cases[0]); i++) {
        cl_expect(&cl_cases[i], sizeof(body), body, h);
    }
    it_mtlb_assert_alive(&env);
    it_mtlb_stop(&env, 5000);
}

/* 32 KiB is where splicing starts: one byte under, at and over it, with SECOND in the same
 * write as the body's end and (second round) in the same write as the whole request. */
Test(smuggle, bodies_at_the_splice_threshold_stay_in_step)
{
    static char req[(1 << 16) + 1024];
    start(it_echo_start(&env, "b1"), "");
    for (int whole = 0; whole < 2; whole++) {
        for (size_t len = 32767; len <= 32769; len++) {
            char what[64];
            snprintf(what, sizeof(what), "len %zu whole %d", len, whole);
            int n = snprintf(req, 256,
                             "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n", len);
            uint64_t h = body_fill(req + n, len);
            memcpy(req + (size_t)n + len, SECOND, sizeof(SECOND) - 1);
            size_t total = (size_t)n + len + sizeof(SECOND) - 1;
            struct it_conn *c = it_tcp_connect(plain_port);
            it_conn_timeout(c, 10000);
            size_t first = whole ? total : (size_t)n;
            cr_assert_eq(it_conn_send(c, req, first), 0);
            if (!whole) {
                usleep(100000);
                cr_assert_eq(it_conn_send(c, req + first, total - first), 0);
            }
            assert_in_step(c, what, len, h);
            it_conn_close(c);
        }
    }
    it_mtlb_assert_alive(&env);
    it_mtlb_stop(&env, 5000);
}

/* A body shorter than declared, then a request: those bytes are body, never a request; the
 * client is timed out (408, close) and nothing is answered for the "request". */
Test(smuggle, short_body_then_a_request_is_body_and_times_out)
{
    static char body[50000];
    start(it_echo_start(&env, "b1"), "");
    smuggled_fill(body, sizeof(body));
    struct it_conn *c = it_tcp_connect(plain_port);
    it_conn_timeout(c, 6000);
    cr_assert_eq(it_conn_sends(c, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n"),
                 0);
    usleep(100000);
    cr_assert_eq(it_conn_send(c, body, sizeof(body)), 0);
    cr_assert_eq(it_conn_sends(c, SECOND), 0);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
    cr_assert_eq(r.status, 408, "%s", r.head);
    it_response_fini(&r);
    cr_assert(it_conn_wait_closed(c, 3000));
    it_conn_close(c);
    const char *second[] = {"\"path\":\"/second\"", NULL};
    const char *smuggled[] = {"\"path\":\"/smuggled\"", NULL};
    usleep(200000);
    cr_assert_eq(it_count_lines(env.out_log, second), 0);
    cr_assert_eq(it_count_lines(env.out_log, smuggled), 0);
    it_mtlb_assert_alive(&env);
    it_mtlb_stop(&env, 5000);
}

/* A route's body limit holds for a body that would be spliced: one byte over is 413 before
 * any byte moves (and the close), the limit itself passes whole and in step. */
Test(smuggle, route_body_limit_holds_for_spliced_bodies)
{
    static char req[(1 << 16) + 1024];
    start(it_echo_start(&env, "b1"),
          "    routes:\n"
          "      - {path_prefix: /small/, backend: app, limits: {max_body_bytes: 64k}}\n");
    struct it_conn *c = it_tcp_connect(plain_port);
    it_conn_timeout(c, 5000);
    cr_assert_eq(
        it_conn_sends(c, "POST /small/x HTTP/1.1\r\nHost: a\r\nContent-Length: 65537\r\n\r\n"), 0);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
    cr_assert_eq(r.status, 413, "%s", r.head);
    it_response_fini(&r);
    cr_assert(it_conn_wait_closed(c, 3000), "open after the 413");
    it_conn_close(c);

    int n =
        snprintf(req, 256, "POST /small/x HTTP/1.1\r\nHost: a\r\nContent-Length: 65536\r\n\r\n");
    uint64_t h = body_fill(req + n, 65536);
    memcpy(req + (size_t)n + 65536, SECOND, sizeof(SECOND) - 1);
    c = it_tcp_connect(plain_port);
    it_conn_timeout(c, 10000);
    cr_assert_eq(it_conn_send(c, req, (size_t)n), 0);
    usleep(100000);
    cr_assert_eq(it_conn_send(c, req + n, 65536 + sizeof(SECOND) - 1), 0);
    assert_in_step(c, "at the route limit", 65536, h);
    it_conn_close(c);
    char *m = NULL;
    cr_assert_eq(it_admin_req(admin_port, "GET", "/metrics", 3000, &m), 200);
    double spliced = it_prom_value(m, "mtlb_spliced_request_bodies_total");
    free(m);
    cr_assert_eq(spliced, 1, "the body at the limit was not spliced (%g)", spliced);
    it_mtlb_assert_alive(&env);
    it_mtlb_stop(&env, 5000);
}
