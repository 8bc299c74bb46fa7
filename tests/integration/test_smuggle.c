/* Integration: request smuggling as an attacker tries it against the request-body splice
 * (splice_req.c) and the copy path beside it, on a plain `http: allow` listener (the same
 * transport path as kTLS natively). A body's bytes never become a request mtlb parses: not
 * when the backend answers before the body is read (an early 413), not when the body is
 * shorter than declared, not at the splice threshold; Content-Length spellings either get 400
 * or reach the backend canonical; a request pipelined behind a body has its forged identity
 * stripped. HTTP/2 with prior knowledge on the same listener strips forgeries as HTTP/1.1. */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
    cr_assert_eq(it_write_config(&env, &cfg), 0);
    char *text = it_read_file(env.config, NULL);
    cr_assert_not_null(text);
    cr_assert_eq(strncmp(text, "listeners:\n", 11), 0, "%s", text);
    plain_port = it_free_port();
    FILE *f = fopen(env.config, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "listeners:\n  - bind: \"127.0.0.1:%u\"\n    backend: app\n    tls: false\n"
            "    http: allow\n%s%s",
            plain_port, keys, text + 11);
    cr_assert_eq(fclose(f), 0);
    free(text);
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

/* POST /early with a body of len smuggled requests; the head first, then the body (as much as
 * mtlb takes). The client sees at most one answer (413) and then the close. */
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
    char all[1 << 14];
    size_t got = 0;
    ssize_t n;
    double t0 = it_now();
    while (got < sizeof(all) - 1 &&
           (n = it_conn_recv_some(c, all + got, sizeof(all) - 1 - got)) > 0) {
        got += (size_t)n;
    }
    all[got] = '\0';
    cr_assert_lt(it_now() - t0, 2.9, "len %zu: the connection stayed open", len);
    if (got > 0) { /* a reset after unread body bytes may overtake the answer */
        cr_assert_eq(strncmp(all, "HTTP/1.1 413 ", 13), 0, "len %zu: got\n%s", len, all);
    }
    cr_assert_null(strstr(all + (got > 0), "HTTP/1."), "len %zu: a second answer:\n%s", len, all);
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
    cr_assert_eq(be_count("GET /ok "), 3);
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
