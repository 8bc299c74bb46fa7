/* Integration: the edge policy and routes on a plain HTTP listener (tls: false), combinations
 * that each feature's own suite does not cover. http: allow behind a PROXY header: the
 * header's address reaches X-Forwarded-For, X-Real-IP and the access log, over HTTP/1.1 and
 * HTTP/2 with prior knowledge, with X-Forwarded-Proto: http and X-SSL-Client-Verify: NONE;
 * a deny list closes at accept; http: redirect behind PROXY still answers 301; routes
 * (strip_prefix to a second pool) work as on TLS listeners and a require: refuses with 403
 * (counted in mtlb_requests_denied_total). Run with MTLB_IT_IO=epoll too. */
#include "h2_util.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static uint16_t plain_port, admin_port;

static void setup(void)
{
    it_env_init(&env);
    plain_port = 0;
    admin_port = 0;
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(edge_plain, .init = setup, .fini = teardown, .timeout = 90);

#define PROXY_LOCAL "    proxy_protocol: true\n    proxy_protocol_from: [127.0.0.1/32]\n"
#define V1(src) "PROXY TCP4 " src " 127.0.0.1 40000 80\r\n"

static char pool_extra[160];

/* The harness's TLS listener (optional mode, pool app = echo "b-app", pool orders = echo
 * "b-orders", an admin listener) with a plain listener first: `keys` are its YAML lines after
 * tls: false. Starts mtlb and waits for the three ports. */
static void start_plain(const char *keys)
{
    struct it_config cfg = {.n_domains = 1};
    cfg.domains[0].mode = "optional";
    cfg.servers[0] = it_echo_start(&env, "b-app");
    cfg.n_servers = 1;
    uint16_t orders = it_echo_start(&env, "b-orders");
    snprintf(pool_extra, sizeof(pool_extra),
             "health: null\n  - name: orders\n    servers: [\"127.0.0.1:%u\"]", orders);
    cfg.backend_extra = pool_extra;
    admin_port = it_free_port();
    cfg.admin_port = admin_port;
    plain_port = it_free_port();
    it_write_config_plain_first(&env, &cfg, plain_port, keys);

    it_mtlb_launch(&env);
    /* The admin port only: a probe of a PROXY or deny listener would be a refusal. */
    it_mtlb_wait_ports(&env, (uint16_t[]){admin_port, env.port}, 2);
}

static int tcp_plain(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(plain_port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(fd >= 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "connect: %s", strerror(errno));
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
    cr_assert_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n, "send: %s", strerror(errno));
}

/* Everything the peer sends until it closes (or 5 s pass), NUL-terminated; malloc'd. */
static char *read_all(int fd, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = calloc(1, cap + 1);
    ssize_t k;
    while (n < cap && (k = recv(fd, buf + n, cap - n, 0)) > 0) {
        n += (size_t)k;
    }
    *len = n;
    return buf;
}

/* One HTTP/1.1 request with Connection: close after `pre` (a PROXY header or ""): the status
 * and the response (head and body, malloc'd) in *resp. */
static int h1_plain(const char *pre, const char *path, char **resp)
{
    char req[512];
    size_t n;
    snprintf(req, sizeof(req),
             "%sGET %s HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n", pre, path);
    int fd = tcp_plain();
    send_all(fd, req, strlen(req));
    *resp = read_all(fd, &n);
    close(fd);
    int status = 0;
    if (sscanf(*resp, "HTTP/1.1 %d ", &status) != 1) {
        status = -1;
    }
    return status;
}

/* The peer closes (EOF or reset) within ms without having sent one byte. */
static void expect_closed_silent(int fd, int ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    cr_assert_eq(poll(&pfd, 1, ms), 1, "mtlb did not close the connection within %d ms", ms);
    char b[64];
    ssize_t n = recv(fd, b, sizeof(b), 0);
    cr_assert(n == 0 || (n == -1 && errno == ECONNRESET), "mtlb sent %zd bytes (errno %d)", n,
              errno);
    close(fd);
}

/* ---- a hand-made HTTP/2 client with prior knowledge (no TLS, so no h2c) ---- */

static size_t frame(uint8_t *out, uint8_t type, uint8_t flags, uint32_t stream, const void *p,
                    size_t n)
{
    out[0] = (uint8_t)(n >> 16);
    out[1] = (uint8_t)(n >> 8);
    out[2] = (uint8_t)n;
    out[3] = type;
    out[4] = flags;
    out[5] = (uint8_t)(stream >> 24);
    out[6] = (uint8_t)(stream >> 16);
    out[7] = (uint8_t)(stream >> 8);
    out[8] = (uint8_t)stream;
    memcpy(out + 9, p, n);
    return 9 + n;
}

/* HPACK literal without indexing, name from the static table (index < 15), raw string. */
static size_t literal(uint8_t *out, uint8_t index, const char *v)
{
    size_t n = strlen(v);
    out[0] = index;
    out[1] = (uint8_t)n;
    memcpy(out + 2, v, n);
    return 2 + n;
}

/* GET path on stream 1 after `pre`: the DATA of stream 1 (the echoed request head), malloc'd,
 * "" when none came. *status_200: the response HEADERS began with the static :status 200. */
static char *h2_plain(const char *pre, const char *path, bool *status_200)
{
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    uint8_t out[1024], block[256];
    size_t n = 0, b = 0;

    memcpy(out, pre, strlen(pre));
    n += strlen(pre);
    memcpy(out + n, preface, sizeof(preface) - 1);
    n += sizeof(preface) - 1;
    n += frame(out + n, 4, 0, 0, "", 0); /* SETTINGS */
    block[b++] = 0x82;                   /* :method GET */
    block[b++] = 0x86;                   /* :scheme http */
    b += literal(block + b, 4, path);    /* :path */
    b += literal(block + b, 1, "api.example.com");
    n += frame(out + n, 1, 0x5, 1, block, b); /* HEADERS, END_STREAM | END_HEADERS */
    int fd = tcp_plain();
    send_all(fd, out, n);

    size_t cap = 1 << 16, dlen = 0, have = 0;
    char *data = calloc(1, cap + 1);
    uint8_t *in = malloc(1 << 17);
    bool done = false;
    *status_200 = false;
    while (!done) {
        ssize_t k = recv(fd, in + have, (1 << 17) - have, 0);
        if (k <= 0) {
            break;
        }
        have += (size_t)k;
        while (have >= 9) {
            size_t len = ((size_t)in[0] << 16) | ((size_t)in[1] << 8) | in[2];
            uint8_t type = in[3], flags = in[4];
            uint32_t sid = ((uint32_t)(in[5] & 0x7f) << 24) | ((uint32_t)in[6] << 16) |
                           ((uint32_t)in[7] << 8) | in[8];
            if (have < 9 + len) {
                break;
            }
            const uint8_t *p = in + 9;
            size_t pl = len;
            if ((type == 0 || type == 1) && (flags & 0x8) && pl > 0) { /* PADDED */
                pl = pl - 1 >= p[0] ? pl - 1 - p[0] : 0;
                p++;
            }
            if (type == 1 && (flags & 0x20) && pl >= 5) { /* PRIORITY */
                p += 5;
                pl -= 5;
            }
            if (type == 4 && !(flags & 0x1)) {
                uint8_t ack[9];
                send_all(fd, ack, frame(ack, 4, 0x1, 0, "", 0));
            }
            if (type == 1 && sid == 1 && pl > 0) {
                *status_200 = p[0] == 0x88;
            }
            if (type == 0 && sid == 1 && dlen + pl <= cap) {
                memcpy(data + dlen, p, pl);
                dlen += pl;
            }
            if (((type == 0 || type == 1) && sid == 1 && (flags & 0x1)) || type == 7 ||
                (type == 3 && sid == 1)) {
                done = true; /* END_STREAM, GOAWAY or RST_STREAM */
            }
            memmove(in, in + 9 + len, have - 9 - len);
            have -= 9 + len;
        }
    }
    free(in);
    close(fd);
    data[dlen] = '\0';
    return data;
}

static void expect_plain_identity(const char *echoed, const char *ip)
{
    cr_assert_not_null(echoed);
    assert_header(echoed, "X-Forwarded-For", ip);
    assert_header(echoed, "X-Real-IP", ip);
    assert_header(echoed, "X-Forwarded-Proto", "http");
    assert_header(echoed, "X-SSL-Client-Verify", "NONE");
}

static void expect_access(const char *path, const char *proto, const char *client)
{
    char p[128], pr[64], c[80];
    snprintf(p, sizeof(p), "\"path\":\"%s\"", path);
    snprintf(pr, sizeof(pr), "\"proto\":\"%s\"", proto);
    snprintf(c, sizeof(c), "\"client\":\"%s\"", client);
    free(it_wait_line(env.out_log,
                      (const char *const[]){p, pr, c, "\"transport\":\"plain\"", NULL}));
}

static double metric(const char *series)
{
    return it_admin_metric(admin_port, series);
}

/* ---- PROXY protocol on a plain listener ---- */

Test(edge_plain, proxy_address_reaches_the_backend_over_http1_and_h2)
{
    char *resp;
    bool ok200;

    start_plain("    http: allow\n" PROXY_LOCAL);
    cr_assert_eq(h1_plain(V1("203.0.113.7"), "/who1", &resp), 200, "%s", resp);
    char *body = strstr(resp, "\r\n\r\n");
    cr_assert_not_null(body);
    expect_plain_identity(body + 4, "203.0.113.7");
    free(resp);
    expect_access("/who1", "http/1.1", "203.0.113.7");

    char *echoed = h2_plain(V1("203.0.113.7"), "/who2", &ok200);
    cr_assert(ok200, "HTTP/2 status is not 200: %s", echoed);
    cr_assert_eq(strncmp(echoed, "GET /who2 HTTP/1.1\r\n", 20), 0, "%s", echoed);
    expect_plain_identity(echoed, "203.0.113.7");
    free(echoed);
    expect_access("/who2", "h2", "203.0.113.7");

    /* without the header: closed, over either protocol */
    int fd = tcp_plain();
    send_all(fd, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27);
    expect_closed_silent(fd, 2000);
    echoed = h2_plain("", "/who3", &ok200);
    cr_assert_str_eq(echoed, "", "served without a PROXY header: %s", echoed);
    free(echoed);
    char series[200];
    snprintf(series, sizeof(series),
             "mtlb_connections_refused_total{listener=\"127.0.0.1:%u\",reason=\"proxy_invalid\"}",
             plain_port);
    cr_assert_geq(metric(series), 2.0);
    it_mtlb_assert_alive(&env);
}

Test(edge_plain, deny_list_closes_a_plain_connection_at_accept)
{
    start_plain("    http: allow\n    deny: [127.0.0.1/32]\n");
    for (int i = 0; i < 2; i++) {
        int fd = tcp_plain();
        expect_closed_silent(fd, 1000); /* before any byte was sent: at accept */
    }
    int fd = tcp_plain();
    send(fd, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27, MSG_NOSIGNAL);
    expect_closed_silent(fd, 1000);
    char series[200];
    snprintf(series, sizeof(series),
             "mtlb_connections_refused_total{listener=\"127.0.0.1:%u\",reason=\"acl\"}",
             plain_port);
    cr_assert_geq(metric(series), 3.0);
    /* the TLS listener of the same process has no list */
    struct it_tls_opts good = {.cert = "client/good.crt", .key = "client/good.key"};
    struct it_response r;
    it_get(env.port, &good, "/", &r);
    cr_assert_eq(r.status, 200);
    it_response_fini(&r);
}

Test(edge_plain, redirect_behind_proxy_still_redirects)
{
    char *resp, loc[256] = "";

    start_plain("    http: redirect\n" PROXY_LOCAL);
    cr_assert_eq(h1_plain(V1("203.0.113.7"), "/r?x=1", &resp), 301, "%s", resp);
    cr_assert(it_header_get(resp, "Location", loc, sizeof(loc)), "%s", resp);
    cr_assert_str_eq(loc, "https://api.example.com/r?x=1");
    free(resp);
    expect_access("/r?x=1", "http/1.1", "203.0.113.7");
    /* the PROXY rule holds for a redirect listener too */
    int fd = tcp_plain();
    send_all(fd, "GET /r HTTP/1.1\r\nHost: a\r\n\r\n", 28);
    expect_closed_silent(fd, 2000);
}

/* ---- routes on a plain listener ---- */

#define PLAIN_ROUTES                                                                               \
    "    http: allow\n"                                                                            \
    "    routes:\n"                                                                                \
    "      - {path_prefix: /orders/, backend: orders, strip_prefix: true, name: orders}\n"         \
    "      - {path_prefix: /admin/, backend: orders, name: admin, require: {verify: SUCCESS}}\n"

/* curl with prior knowledge: "STATUS=N" and the body in *out. */
static int curl_h2c(const char *path, char **out)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", plain_port, path);
    char *argv[] = {"/usr/bin/curl",
                    "-sS",
                    "--http2-prior-knowledge",
                    "-i",
                    "-w",
                    "\nSTATUS=%{http_code}\n",
                    "--max-time",
                    "10",
                    url,
                    NULL};
    char *err = NULL;
    int rc = it_run(&env, argv, out, &err, 15000);
    free(err);
    return rc;
}

Test(edge_plain, routes_strip_prefix_and_require_on_a_plain_listener)
{
    char *resp;
    char be[64] = "";

    start_plain(PLAIN_ROUTES);
    /* HTTP/1.1 */
    cr_assert_eq(h1_plain("", "/orders/x?a=1", &resp), 200, "%s", resp);
    cr_assert(it_header_get(resp, "X-Backend", be, sizeof(be)), "%s", resp);
    cr_assert_str_eq(be, "b-orders");
    cr_assert_not_null(strstr(resp, "\r\n\r\nGET /x?a=1 HTTP/1.1\r\n"), "%s", resp);
    free(resp);
    cr_assert_eq(h1_plain("", "/other", &resp), 200, "%s", resp);
    cr_assert(it_header_get(resp, "X-Backend", be, sizeof(be)), "%s", resp);
    cr_assert_str_eq(be, "b-app");
    free(resp);
    cr_assert_eq(h1_plain("", "/admin/x", &resp), 403, "%s", resp);
    free(resp);
    /* HTTP/2 with prior knowledge */
    char *out = NULL;
    cr_assert_eq(curl_h2c("/orders/y", &out), 0, "%s", out);
    cr_assert_not_null(strstr(out, "STATUS=200"), "%s", out);
    cr_assert_not_null(strstr(out, "x-backend: b-orders"), "%s", out);
    cr_assert_not_null(strstr(out, "GET /y HTTP/1.1\r\n"), "%s", out);
    free(out);
    cr_assert_eq(curl_h2c("/admin/y", &out), 0, "%s", out);
    cr_assert_not_null(strstr(out, "STATUS=403"), "%s", out);
    free(out);

    const char *h1[] = {"\"route\":\"admin\"",    "\"denied\":\"verify\"",   "\"status\":403",
                        "\"proto\":\"http/1.1\"", "\"transport\":\"plain\"", NULL};
    cr_assert_eq(it_wait_lines(env.out_log, h1, 1, 5000), 1, "access log: h1 denied");
    const char *h2[] = {"\"route\":\"admin\"", "\"denied\":\"verify\"",   "\"status\":403",
                        "\"proto\":\"h2\"",    "\"transport\":\"plain\"", NULL};
    cr_assert_eq(it_wait_lines(env.out_log, h2, 1, 5000), 1, "access log: h2 denied");
    char series[200];
    snprintf(series, sizeof(series),
             "mtlb_requests_denied_total{listener=\"127.0.0.1:%u\",reason=\"verify\"}", plain_port);
    cr_assert_eq(metric(series), 2.0);
    snprintf(series, sizeof(series),
             "mtlb_requests_denied_total{listener=\"127.0.0.1:%u\",reason=\"verify\"}", env.port);
    cr_assert_eq(metric(series), 0.0, "the TLS listener has its own series");
}
