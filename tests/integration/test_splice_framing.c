/* Integration: a backend's framing around a response body that mtlb would splice (plain allow
 * listener, include/mtlb/splice.h). The splice asks for exactly the Content-Length still to
 * come, so bytes a backend writes past it stay in the backend socket, never in rbuf where the
 * copy path sees them: only the pooled connection's check before reuse (upstream_pool.c,
 * idle_alive) keeps them from answering the next request. Also: heads with a large length
 * and no body (HEAD, 304) are never spliced, a 204's length never reaches the client (either
 * protocol), and a body cut short closes the client. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

TestSuite(splice_framing, .init = setup, .fini = teardown, .timeout = 120);

#define BODY 65536 /* over MTLB_SPLICE_MIN_BODY after the first read */
#define INJECTED "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\npwned!"

/* The backend: per request path, "/over" answers BODY bytes and INJECTED in one write,
 * "/over-late" INJECTED 100 ms after the body, "/head" (to HEAD) and "/304" a head announcing
 * BODY bytes then INJECTED, "/204" a 204 announcing BODY bytes, "/short" half the body then a
 * close; anything else "ok". */
static int be_fd;
static uint16_t be_port;
static atomic_int be_late; /* late INJECTED writes done */

static void be_answer(int fd, const char *path)
{
    static __thread char out[BODY + 256];
    const char *status = strncmp(path, "/304", 4) == 0   ? "304 Not Modified"
                         : strncmp(path, "/204", 4) == 0 ? "204 No Content"
                                                         : "200 OK";
    bool body = strncmp(path, "/over", 5) == 0 || strncmp(path, "/short", 6) == 0;
    int n = snprintf(out, 256, "HTTP/1.1 %s\r\nContent-Length: %d\r\n\r\n", status, BODY);
    size_t len = (size_t)n;

    if (strncmp(path, "/ok", 3) == 0) {
        len = (size_t)snprintf(out, 256, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    } else if (body) {
        memset(out + len, 'b', strncmp(path, "/short", 6) == 0 ? BODY / 2 : BODY);
        len += strncmp(path, "/short", 6) == 0 ? BODY / 2 : BODY;
    }
    bool now = strcmp(path, "/over") == 0 || strncmp(path, "/head", 5) == 0 ||
               strncmp(path, "/304", 4) == 0;
    if (now) {
        memcpy(out + len, INJECTED, sizeof(INJECTED) - 1);
        len += sizeof(INJECTED) - 1;
    }
    (void)!send(fd, out, len, MSG_NOSIGNAL);
    if (strncmp(path, "/over-late", 10) == 0) {
        usleep(100000); /* after mtlb took the response as complete */
        (void)!send(fd, INJECTED, sizeof(INJECTED) - 1, MSG_NOSIGNAL);
        atomic_fetch_add(&be_late, 1);
    } else if (strncmp(path, "/short", 6) == 0) {
        usleep(100000);
        shutdown(fd, SHUT_RDWR);
    }
}

static void *be_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char req[4096];
    size_t n = 0;

    for (;;) {
        char *end = memmem(req, n, "\r\n\r\n", 4);
        if (end == NULL) {
            ssize_t k = n < sizeof(req) ? recv(fd, req + n, sizeof(req) - n, 0) : -1;
            if (k <= 0) {
                break;
            }
            n += (size_t)k;
            continue;
        }
        char path[64] = "";
        (void)sscanf(req, "%*s %63s", path);
        size_t used = (size_t)(end + 4 - req);
        memmove(req, req + used, n - used);
        n -= used;
        be_answer(fd, path);
    }
    close(fd);
    return NULL;
}

static void *be_accept(void *arg)
{
    (void)arg;
    int fd;
    while ((fd = accept(be_fd, NULL, NULL)) >= 0) {
        pthread_t t;
        pthread_create(&t, NULL, be_conn, (void *)(intptr_t)fd);
        pthread_detach(t);
    }
    return NULL;
}

/* The backend, then mtlb with a plain allow listener first; admin on admin_port. */
static void start(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    pthread_t t;

    be_fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_neq(be_fd, -1);
    cr_assert_eq(bind(be_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(be_fd, 64), 0);
    cr_assert_eq(getsockname(be_fd, (struct sockaddr *)&a, &al), 0);
    be_port = ntohs(a.sin_port);
    cr_assert_eq(pthread_create(&t, NULL, be_accept, NULL), 0);
    pthread_detach(t);

    struct it_config cfg = {.n_domains = 1, .n_servers = 1};
    cfg.domains[0].mode = "optional";
    cfg.servers[0] = be_port;
    admin_port = it_free_port();
    cfg.admin_port = admin_port;
    plain_port = it_free_port();
    it_write_config_plain_first(&env, &cfg, plain_port, "    http: allow\n");
    it_mtlb_launch(&env);
    it_mtlb_wait_ports(&env, (uint16_t[]){env.port, plain_port, admin_port}, 3);
}

static double metric(const char *series)
{
    double v = it_admin_metric(admin_port, series);
    cr_assert_geq(v, 0, "%s absent", series);
    return v;
}

/* method path on c: the response's status and, unless head_only, its whole body. */
static void expect(struct it_conn *c, const char *method, const char *path, int status,
                   size_t body_len)
{
    char req[128];
    struct it_response r;
    snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: a\r\n\r\n", method, path);
    cr_assert_eq(it_conn_sends(c, req), 0);
    cr_assert_eq(it_read_response(c, &r, strcmp(method, "HEAD") == 0 || status == 304), 0,
                 "%s %s: %s", method, path, c->err);
    cr_assert_eq(r.status, status, "%s %s: %s", method, path, r.head);
    if (strcmp(method, "HEAD") != 0 && status != 304) {
        cr_assert_eq(r.body_len, body_len, "%s %s", method, path);
        cr_assert_null(memmem(r.body, r.body_len, "pwned", 5), "%s %s got INJECTED", method, path);
    }
    it_response_fini(&r);
}

/* Two requests after: each must get its own "ok", never the bytes the backend left behind. */
static void expect_in_step(struct it_conn *c, const char *after)
{
    for (int i = 0; i < 2; i++) {
        char req[64];
        struct it_response r;
        snprintf(req, sizeof(req), "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n");
        cr_assert_eq(it_conn_sends(c, req), 0);
        cr_assert_eq(it_read_response(c, &r, false), 0, "after %s, GET %d: %s", after, i, c->err);
        cr_assert_eq(r.status, 200, "after %s: %s", after, r.head);
        cr_assert_eq(r.body_len, 2, "after %s, GET %d got the bytes left behind", after, i);
        cr_assert_eq(memcmp(r.body, "ok", 2), 0, "after %s, GET %d", after, i);
        it_response_fini(&r);
    }
}

Test(splice_framing, bytes_past_a_spliced_body_never_answer_the_next_request)
{
    start();
    struct it_conn *c = it_tcp_connect(plain_port);
    it_conn_timeout(c, 5000);
    expect(c, "GET", "/over", 200, BODY);
    cr_assert_eq(metric("mtlb_spliced_bodies_total"), 1, "the body was not spliced");
    expect_in_step(c, "/over");
    expect(c, "GET", "/over-late", 200, BODY);
    double deadline = it_now() + 5.0;
    while (atomic_load(&be_late) == 0 && it_now() < deadline) {
        usleep(10000);
    }
    cr_assert_eq(atomic_load(&be_late), 1, "the backend never sent its late bytes");
    usleep(100000);
    expect_in_step(c, "/over-late");
    cr_assert_eq(metric("mtlb_spliced_bodies_total"), 2, "the late body was not spliced");
    it_conn_close(c);
    it_mtlb_assert_alive(&env);
    cr_assert_eq(it_mtlb_stop(&env, 5000), 0);
}

Test(splice_framing, large_length_without_a_body_is_never_spliced)
{
    start();
    struct it_conn *c = it_tcp_connect(plain_port);
    it_conn_timeout(c, 5000);
    expect(c, "HEAD", "/head", 200, 0);
    expect_in_step(c, "HEAD");
    expect(c, "GET", "/304", 304, 0);
    expect_in_step(c, "304");
    cr_assert_eq(metric("mtlb_spliced_bodies_total"), 0);
    it_conn_close(c);
    it_mtlb_assert_alive(&env);
    cr_assert_eq(it_mtlb_stop(&env, 5000), 0);
}

Test(splice_framing, spliced_body_cut_short_closes_the_client)
{
    start();
    struct it_conn *c = it_tcp_connect(plain_port);
    it_conn_timeout(c, 5000);
    cr_assert_eq(it_conn_sends(c, "GET /short HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, true), 0, "%s", c->err);
    cr_assert_eq(r.status, 200, "%s", r.head);
    it_response_fini(&r);
    char buf[65536];
    size_t got = 0;
    ssize_t k;
    while ((k = it_conn_recv_some(c, buf, sizeof(buf))) > 0) {
        got += (size_t)k;
    }
    cr_assert_lt(got, BODY, "a truncated body arrived as complete (%zu bytes)", got);
    cr_assert_eq(k, 0, "no close after the truncated body (timed out)");
    cr_assert_eq(metric("mtlb_spliced_bodies_total"), 1, "the body was not spliced");
    it_conn_close(c);
    /* A new connection is served: the truncated exchange cost only its own client. */
    c = it_tcp_connect(plain_port);
    it_conn_timeout(c, 5000);
    expect_in_step(c, "/short");
    it_conn_close(c);
    it_mtlb_assert_alive(&env);
    cr_assert_eq(it_mtlb_stop(&env, 5000), 0);
}

/* A 204 has no body and must say no length (RFC 9110 8.6): forwarded, an HTTP/1.1 client or
 * proxy that framed by it would read the next response as its body, and nghttp2 clients reset
 * the stream (PROTOCOL_ERROR). */
Test(splice_framing, no_length_on_a_204_either_protocol)
{
    start();
    struct it_conn *c = it_tcp_connect(plain_port);
    it_conn_timeout(c, 5000);
    cr_assert_eq(it_conn_sends(c, "GET /204 HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, true), 0, "%s", c->err);
    cr_assert_eq(r.status, 204, "%s", r.head);
    cr_assert_null(strcasestr(r.head, "content-length"), "a 204 with a length:\n%s", r.head);
    it_response_fini(&r);
    expect_in_step(c, "204");
    it_conn_close(c);
    char *out = NULL;
    int rc = curl_h2("--http2", false, "/204", &out);
    cr_assert_eq(rc, 0, "curl --http2 exit %d:\n%s", rc, out != NULL ? out : "");
    cr_assert_not_null(strstr(out, "HTTPVER=2"), "%s", out);
    free(out);
    it_mtlb_assert_alive(&env);
    cr_assert_eq(it_mtlb_stop(&env, 5000), 0);
}
