/* Integration: the edge policy of a listener. allow/deny lists refuse a connection at accept,
 * before any TLS byte; the PROXY protocol (v1 and v2) header sets the client address that
 * reaches X-Forwarded-For, X-Real-IP, the access log and the lists, over HTTP/1.1 (a TLS
 * client on a socket that first sent the header, possibly in pieces) and HTTP/2 (h2c
 * --proxy-header); a missing, broken or untrusted header closes the connection. */
#include "h2_util.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static uint16_t admin_port;

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(edge_acl, .init = setup, .fini = teardown, .timeout = 90);

#define TRUST_LOCAL "proxy_protocol: true\n    proxy_protocol_from: [127.0.0.0/8]"

/* mtlb (mandatory mode, an admin listener) with these listener keys. */
static void start(const char *listener_extra)
{
    struct it_config cfg = {.n_domains = 1, .listener_extra = listener_extra};
    cfg.domains[0].mode = "mandatory";
    admin_port = it_free_port();
    cfg.admin_port = admin_port;
    start_cfg(&cfg);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int tcp_to_mtlb(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(env.port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(fd >= 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "connect: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Sends p[0..n) in pieces of `piece` bytes (0: at once), 40 ms apart. */
static void send_pieces(int fd, const void *p, size_t n, size_t piece)
{
    const char *c = p;
    for (size_t off = 0; off < n;) {
        size_t k = piece == 0 || n - off < piece ? n - off : piece;
        cr_assert_eq(send(fd, c + off, k, MSG_NOSIGNAL), (ssize_t)k);
        off += k;
        if (off < n) {
            sleep_ms(40);
        }
    }
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

/* An HTTP/1.1 GET /who over TLS (good client certificate) on fd, after the bytes of hdr were
 * sent in pieces. Returns the echo body (malloc'd: the request head the backend got) or NULL
 * when the handshake or the exchange failed. */
static char *h1_after(const void *hdr, size_t hlen, size_t piece)
{
    int fd = tcp_to_mtlb();
    send_pieces(fd, hdr, hlen, piece);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    cr_assert(ctx != NULL);
    cr_assert_eq(SSL_CTX_use_certificate_chain_file(ctx, good_cert()), 1);
    cr_assert_eq(SSL_CTX_use_PrivateKey_file(ctx, good_key(), SSL_FILETYPE_PEM), 1);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    char *body = NULL;
    if (SSL_connect(ssl) == 1) {
        static const char req[] =
            "GET /who HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        SSL_write(ssl, req, (int)sizeof(req) - 1);
        size_t cap = 1 << 16, len = 0;
        char *buf = calloc(1, cap + 1);
        int n;
        while (len < cap && (n = SSL_read(ssl, buf + len, (int)(cap - len))) > 0) {
            len += (size_t)n;
        }
        char *sep = strstr(buf, "\r\n\r\n");
        if (strncmp(buf, "HTTP/1.1 200", 12) == 0 && sep != NULL) {
            body = strdup(sep + 4);
        }
        free(buf);
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    return body;
}

static void expect_client(const char *echoed, const char *ip)
{
    cr_assert_not_null(echoed, "the request failed");
    assert_header(echoed, "X-Forwarded-For", ip);
    assert_header(echoed, "X-Real-IP", ip);
}

/* The access log's line for a request from ip names it as the client. */
static void expect_access_client(const char *ip)
{
    char c[80];
    snprintf(c, sizeof(c), "\"client\":\"%s\"", ip);
    const char *needles[] = {"\"path\":\"/who\"", c, NULL};
    free(it_wait_line(env.out_log, needles));
}

static char *hex(const void *p, size_t n)
{
    static char out[1024];
    for (size_t i = 0; i < n && 2 * i + 2 < sizeof(out); i++) {
        snprintf(out + 2 * i, 3, "%02x", ((const unsigned char *)p)[i]);
    }
    return out;
}

/* HTTP/2 GET /who after hdr; returns the echo body (malloc'd) or NULL when h2c failed. */
static char *h2_after(const void *hdr, size_t hlen)
{
    struct h2_out o;
    struct h2s s;
    h2c_run(&o, 5000, "--print-body", "--cert", good_cert(), "--key", good_key(), "--proxy-header",
            hex(hdr, hlen), "--stream", "path=/who", NULL);
    char *b = NULL;
    if (o.rc == 0 && h2_stream(o.out, "/who", 0, &s) && s.status == 200) {
        b = h2_body(o.out, s.id);
    }
    h2_out_fini(&o);
    return b;
}

static double refused(const char *reason)
{
    char series[200], *text = NULL;
    snprintf(series, sizeof(series),
             "mtlb_connections_refused_total{listener=\"127.0.0.1:%u\",reason=\"%s\"}", env.port,
             reason);
    cr_assert_eq(it_admin_req(admin_port, "GET", "/metrics", 3000, &text), 200);
    double v = it_prom_value(text, series);
    free(text);
    return v;
}

static void expect_refused_line(const char *reason, const char *client)
{
    char r[64], c[80];
    snprintf(r, sizeof(r), "\"reason\":\"%s\"", reason);
    snprintf(c, sizeof(c), "\"client\":\"%s\"", client != NULL ? client : "");
    const char *needles[] = {"\"event\":\"connection_refused\"", r, client != NULL ? c : NULL,
                             NULL};
    cr_assert_geq(it_wait_lines(env.out_log, needles, 1, 5000), 1,
                  "no connection_refused line "
                  "with %s %s",
                  r, client != NULL ? c : "");
}

/* v2 header: PROXY over TCP with the given source (IPv4 or IPv6 text) and port 40000. */
static size_t v2_header(uint8_t *out, const char *src, bool local)
{
    static const uint8_t sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                    0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
    memcpy(out, sig, 12);
    out[12] = local ? 0x20 : 0x21;
    bool v6 = strchr(src, ':') != NULL;
    size_t al = v6 ? 16 : 4, n = 2 * al + 4 + 7;
    out[13] = v6 ? 0x21 : 0x11;
    out[14] = 0;
    out[15] = (uint8_t)n;
    uint8_t *b = out + 16;
    cr_assert_eq(inet_pton(v6 ? AF_INET6 : AF_INET, src, b), 1);
    inet_pton(v6 ? AF_INET6 : AF_INET, v6 ? "::1" : "127.0.0.1", b + al);
    b[2 * al] = 40000 >> 8;
    b[2 * al + 1] = 40000 & 0xff;
    b[2 * al + 2] = 0x01;
    b[2 * al + 3] = 0xbb;
    memcpy(b + 2 * al + 4, "\x04\x00\x04noop", 7); /* a NOOP TLV, to be skipped */
    return 16 + n;
}

#define V1(src) "PROXY TCP4 " src " 127.0.0.1 40000 443\r\n"

/* ---- allow / deny ---- */

Test(edge_acl, allow_list_refuses_others_at_accept)
{
    start("allow: [10.0.0.0/8, \"2001:db8::/32\"]");
    int fd = tcp_to_mtlb();
    expect_closed_silent(fd, 1000); /* no byte sent: closed at accept, not by a timeout */
    cr_assert_null(h1_after("", 0, 0), "a client outside the allow list was served");
    cr_assert_null(h2_after("", 0));
    cr_assert_geq(refused("acl"), 3.0);
    expect_refused_line("acl", NULL);
    char *text = NULL;
    cr_assert_eq(it_admin_req(admin_port, "GET", "/config", 3000, &text), 200);
    cr_assert(strstr(text, "listeners[0].allow: 10.0.0.0/8 2001:db8::/32\n") != NULL, "%s", text);
    free(text);
    it_mtlb_assert_alive(&env);
}

Test(edge_acl, allow_list_admits_its_addresses)
{
    start("allow: [127.0.0.0/8]");
    char *b = h1_after("", 0, 0);
    expect_client(b, "127.0.0.1");
    free(b);
    b = h2_after("", 0);
    expect_client(b, "127.0.0.1");
    free(b);
}

Test(edge_acl, deny_wins_over_allow)
{
    start("allow: [127.0.0.0/8]\n    deny: [127.0.0.1]");
    expect_closed_silent(tcp_to_mtlb(), 1000);
    cr_assert_null(h1_after("", 0, 0));
    cr_assert_null(h2_after("", 0));
    cr_assert_geq(refused("acl"), 3.0);
}

/* ---- PROXY protocol ---- */

Test(edge_acl, proxy_v1_address_reaches_headers_and_access_log)
{
    start(TRUST_LOCAL);
    char *b = h1_after(V1("192.0.2.77"), strlen(V1("192.0.2.77")), 0);
    expect_client(b, "192.0.2.77");
    free(b);
    expect_access_client("192.0.2.77");
    b = h2_after(V1("192.0.2.78"), strlen(V1("192.0.2.78")));
    expect_client(b, "192.0.2.78");
    free(b);
    expect_access_client("192.0.2.78");
}

Test(edge_acl, proxy_v2_ipv4_and_ipv6_with_tlvs)
{
    uint8_t h[64];
    start(TRUST_LOCAL);
    size_t n = v2_header(h, "198.51.100.9", false);
    char *b = h1_after(h, n, 0);
    expect_client(b, "198.51.100.9");
    free(b);
    n = v2_header(h, "2001:db8::5", false);
    b = h2_after(h, n);
    expect_client(b, "2001:db8::5");
    free(b);
    expect_access_client("2001:db8::5");
    n = v2_header(h, "2001:db8::6", false);
    b = h1_after(h, n, 0);
    expect_client(b, "2001:db8::6");
    free(b);
}

Test(edge_acl, proxy_v2_local_keeps_the_socket_address)
{
    uint8_t h[64];
    start(TRUST_LOCAL);
    size_t n = v2_header(h, "198.51.100.9", true);
    char *b = h1_after(h, n, 0);
    expect_client(b, "127.0.0.1");
    free(b);
    b = h1_after("PROXY UNKNOWN\r\n", 15, 0);
    expect_client(b, "127.0.0.1");
    free(b);
}

Test(edge_acl, proxy_header_split_across_segments)
{
    uint8_t h[64];
    start(TRUST_LOCAL);
    char *b = h1_after(V1("203.0.113.5"), strlen(V1("203.0.113.5")), 5);
    expect_client(b, "203.0.113.5");
    free(b);
    size_t n = v2_header(h, "203.0.113.6", false);
    b = h1_after(h, n, 7);
    expect_client(b, "203.0.113.6");
    free(b);
}

Test(edge_acl, missing_or_garbage_header_is_closed)
{
    start(TRUST_LOCAL);
    cr_assert_null(h1_after("", 0, 0), "a TLS client without a PROXY header was served");
    cr_assert_null(h2_after("", 0));
    int fd = tcp_to_mtlb();
    send_pieces(fd, "GET / HTTP/1.1\r\n\r\n", 18, 0);
    expect_closed_silent(fd, 1000);
    fd = tcp_to_mtlb();
    send_pieces(fd, "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", 30, 0);
    expect_closed_silent(fd, 1000);
    cr_assert_geq(refused("proxy_invalid"), 4.0);
    expect_refused_line("proxy_invalid", NULL);
    /* half a header, then nothing: closed at the handshake deadline (2 s) */
    fd = tcp_to_mtlb();
    send_pieces(fd, "PROXY TCP4 1.2.3.4", 18, 0);
    expect_closed_silent(fd, 4000);
    cr_assert_geq(refused("proxy_timeout"), 1.0);
    it_mtlb_assert_alive(&env);
}

Test(edge_acl, header_from_an_untrusted_source_is_closed)
{
    start("proxy_protocol: true\n    proxy_protocol_from: [10.0.0.0/8]");
    int fd = tcp_to_mtlb();
    expect_closed_silent(fd, 1000); /* at accept, before the header */
    cr_assert_null(h1_after(V1("192.0.2.1"), strlen(V1("192.0.2.1")), 0));
    cr_assert_null(h2_after(V1("192.0.2.1"), strlen(V1("192.0.2.1"))));
    cr_assert_geq(refused("proxy_untrusted"), 3.0);
}

Test(edge_acl, deny_applies_to_the_proxy_address)
{
    uint8_t h[64];
    start(TRUST_LOCAL "\n    deny: [192.0.2.0/24]\n    allow: [192.0.0.0/16, 2001:db8::/32]");
    cr_assert_null(h1_after(V1("192.0.2.5"), strlen(V1("192.0.2.5")), 0));
    cr_assert_null(h2_after(V1("192.0.2.5"), strlen(V1("192.0.2.5"))));
    size_t n = v2_header(h, "192.0.2.6", false);
    cr_assert_null(h1_after(h, n, 0));
    expect_refused_line("acl", "192.0.2.5");
    /* the balancer's own address is not what the lists see: 127.0.0.1 is not allowed */
    char *b = h1_after(V1("192.0.3.1"), strlen(V1("192.0.3.1")), 0);
    expect_client(b, "192.0.3.1");
    free(b);
    n = v2_header(h, "2001:db8::9", false);
    b = h2_after(h, n);
    expect_client(b, "2001:db8::9");
    free(b);
    cr_assert_geq(refused("acl"), 3.0);
}

/* ---- reload ---- */

static void reload_to(const struct it_config *cfg, unsigned gen)
{
    char g[32];
    snprintf(g, sizeof(g), "generation=%u", gen);
    const char *ok[] = {"event=reloaded", g, NULL};
    cr_assert_eq(it_write_config(&env, cfg), 0);
    kill(env.mtlb, SIGHUP);
    cr_assert_eq(it_wait_lines(env.err_log, ok, 1, 10000), 1, "no event=reloaded %s", g);
}

Test(edge_acl, reload_changes_the_policy_for_new_connections)
{
    struct it_config cfg = {.n_domains = 1, .listener_extra = "allow: [10.0.0.0/8]"};
    cfg.domains[0].mode = "mandatory";
    start_cfg(&cfg);
    cr_assert_null(h1_after("", 0, 0));
    cfg.listener_extra = "allow: [127.0.0.0/8]";
    reload_to(&cfg, 2);
    char *b = h1_after("", 0, 0);
    expect_client(b, "127.0.0.1");
    free(b);
    cfg.listener_extra = TRUST_LOCAL;
    reload_to(&cfg, 3);
    cr_assert_null(h1_after("", 0, 0), "no PROXY header after the reload turned it on");
    b = h1_after(V1("192.0.2.44"), strlen(V1("192.0.2.44")), 0);
    expect_client(b, "192.0.2.44");
    free(b);
}
