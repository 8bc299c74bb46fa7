/* Integration: the acceptor makes no SSL until a connection's first TLS record is whole
 * (acceptor_hs.c, hello_step). What a client sees must not change: a silent connection is closed
 * at the handshake deadline, a ClientHello trickled one byte at a time still completes within
 * it with the SNI-chosen certificate and the ALPN-chosen protocol, and a client that closes
 * in the middle of its first record is let go at once, not at the deadline. */
#include "harness.h"

#include <criterion/criterion.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct it_env env;

/* Two domains (SNI picks the certificate), ALPN h2 and http/1.1, and the handshake deadline
 * given: long for the byte-by-byte ClientHellos (a loaded machine stretches their pauses),
 * short where the deadline itself is under test. */
static void start_with(const char *handshake, const char *listener_extra)
{
    char timeouts[256];
    struct it_config cfg = {.n_domains = 2, .n_servers = 1, .listener_extra = listener_extra};
    cfg.servers[0] = it_echo_start(&env, "b1");
    cfg.domains[0] = (struct it_domain){.names = {"api.example.com", "localhost"}};
    cfg.domains[1] = (struct it_domain){.names = {"other.example.com"},
                                        .cert = "server/other.crt",
                                        .key = "server/other.key",
                                        .truststore = "trust/full.pem"};
    snprintf(timeouts, sizeof(timeouts),
             "{handshake: %s, client_header: 2s, client_body: 2s, client_idle: 5s, "
             "backend_connect: 1s, backend_response: 2s, backend_idle: 5s, drain: 2s}",
             handshake);
    cfg.timeouts = timeouts;
    cfg.alpn = "[h2, http/1.1]";
    it_mtlb_start(&env, &cfg);
}

static void start(const char *handshake)
{
    start_with(handshake, NULL);
}

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(hello_wait, .init = setup, .fini = teardown, .timeout = 60);

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A client SSL whose writes land in a memory BIO (so the test chooses how its bytes reach the
 * socket) and whose reads come from the socket. */
static SSL *trickle_client(int fd, const char *sni, const unsigned char *alpn, size_t alpn_len)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    cr_assert_not_null(ctx);
    cr_assert_eq(SSL_CTX_use_certificate_chain_file(ctx, it_pki("client/good.crt")), 1);
    cr_assert_eq(SSL_CTX_use_PrivateKey_file(ctx, it_pki("client/good.key"), SSL_FILETYPE_PEM), 1);
    cr_assert_eq(SSL_CTX_set_alpn_protos(ctx, alpn, (unsigned)alpn_len), 0);
    SSL *ssl = SSL_new(ctx);
    SSL_CTX_free(ctx); /* the SSL holds its reference */
    cr_assert_not_null(ssl);
    SSL_set_tlsext_host_name(ssl, sni);
    SSL_set_bio(ssl, BIO_new_socket(fd, BIO_NOCLOSE), BIO_new(BIO_s_mem()));
    SSL_set_connect_state(ssl);
    return ssl;
}

/* Sends what the SSL wrote so far one byte per TCP segment, pause_ms apart. Returns the count. */
static size_t trickle_out(SSL *ssl, int fd, long pause_ms)
{
    BIO *out = SSL_get_wbio(ssl);
    char *p;
    size_t n = (size_t)BIO_get_mem_data(out, &p);

    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(send(fd, p + i, 1, MSG_NOSIGNAL), 1, "byte %zu of %zu not sent", i, n);
        sleep_ms(pause_ms);
    }
    (void)BIO_reset(out);
    return n;
}

/* The ClientHello goes out one byte at a time; the rest of the handshake as OpenSSL writes
 * it. Returns the SSL after a completed handshake (the test fails otherwise). */
static SSL *trickled_handshake(int fd, const char *sni, const unsigned char *alpn, size_t alpn_len)
{
    SSL *ssl = trickle_client(fd, sni, alpn, alpn_len);

    cr_assert_eq(SSL_do_handshake(ssl), -1, "the client cannot finish before the server speaks");
    size_t hello = trickle_out(ssl, fd, 1);
    cr_assert_gt(hello, 100, "ClientHello of %zu bytes", hello);
    /* From here on the client writes straight to the socket. */
    BIO *sock = BIO_new_socket(fd, BIO_NOCLOSE);
    SSL_set0_wbio(ssl, sock);
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl);
    char err[256] = "";
    ERR_error_string_n(ERR_peek_error(), err, sizeof(err));
    cr_assert_eq(rc, 1, "trickled handshake failed: %d %s", SSL_get_error(ssl, rc), err);
    return ssl;
}

static void server_cn(SSL *ssl, char *cn, size_t len)
{
    X509 *x = SSL_get1_peer_certificate(ssl);
    cr_assert_not_null(x);
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, (int)len);
    X509_free(x);
}

static void expect_alpn(SSL *ssl, const char *want)
{
    const unsigned char *p;
    unsigned n;
    SSL_get0_alpn_selected(ssl, &p, &n);
    cr_assert_eq(n, strlen(want), "ALPN chose \"%.*s\", expected %s", (int)n, p, want);
    cr_assert_eq(memcmp(p, want, n), 0, "ALPN chose \"%.*s\", expected %s", (int)n, p, want);
}

static void close_ssl(SSL *ssl, struct it_conn *c)
{
    SSL_free(ssl);
    it_conn_close(c);
}

Test(hello_wait, byte_by_byte_client_hello_completes_and_sni_picks_the_certificate)
{
    start("30s");
    static const unsigned char h1[] = "\x08http/1.1";
    struct it_conn *c = it_tcp_connect(env.port);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    SSL *ssl = trickled_handshake(c->fd, "other.example.com", h1, sizeof(h1) - 1);
    char cn[128] = "";
    server_cn(ssl, cn, sizeof(cn));
    cr_assert(strstr(cn, "other") != NULL, "SNI other.example.com served CN=%s", cn);
    expect_alpn(ssl, "http/1.1");
    static const char req[] = "GET /hello HTTP/1.1\r\nHost: other.example.com\r\n\r\n";
    cr_assert_eq(SSL_write(ssl, req, (int)sizeof(req) - 1), (int)sizeof(req) - 1);
    char resp[256];
    int n = SSL_read(ssl, resp, (int)sizeof(resp) - 1);
    cr_assert_gt(n, 12, "no response after a trickled handshake");
    resp[n] = '\0';
    cr_assert(strncmp(resp, "HTTP/1.1 200", 12) == 0, "response: %s", resp);
    close_ssl(ssl, c);
}

Test(hello_wait, byte_by_byte_client_hello_gets_h2_by_alpn_on_the_default_domain)
{
    start("30s");
    static const unsigned char both[] = "\x02h2\x08http/1.1";
    struct it_conn *c = it_tcp_connect(env.port);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    SSL *ssl = trickled_handshake(c->fd, "localhost", both, sizeof(both) - 1);
    char cn[128] = "";
    server_cn(ssl, cn, sizeof(cn));
    cr_assert(strstr(cn, "other") == NULL, "SNI localhost served CN=%s", cn);
    expect_alpn(ssl, "h2");
    close_ssl(ssl, c);
}

/* c, connected at t0 to a listener with a 3 s handshake deadline, is closed at about 3 s. */
static void expect_closed_at_deadline(struct it_conn *c, double t0, const char *what)
{
    cr_assert(it_conn_wait_closed(c, 10000), "%s outlived the 3 s deadline", what);
    double dt = it_now() - t0;
    cr_assert(dt > 2.5 && dt < 7.0, "%s closed after %.2f s, deadline 3 s", what, dt);
    it_conn_close(c);
}

Test(hello_wait, silent_connection_is_closed_at_the_handshake_deadline)
{
    start("3s");
    struct it_conn *c = it_tcp_connect(env.port);
    expect_closed_at_deadline(c, it_now(), "a silent connection");
}

/* 200 silent connections reach the deadline together: the acceptor ends them 64 per loop
 * turn (so a worker sharing its CPU is not held up), and every one is still closed near the
 * deadline, while an established client is served meanwhile. */
Test(hello_wait, many_silent_connections_all_end_at_the_deadline)
{
    enum { N = 200 };
    struct it_conn *c[N];
    start("3s");
    double t0 = it_now();
    for (int i = 0; i < N; i++) {
        c[i] = it_tcp_connect(env.port);
    }
    struct it_response resp;
    static const struct it_tls_opts good = {.cert = "client/good.crt", .key = "client/good.key"};
    it_get(env.port, &good, "/", &resp);
    cr_assert_eq(resp.status, 200, "a client with a handshake is served while 200 wait");
    it_response_fini(&resp);
    for (int i = 0; i < N; i++) {
        cr_assert(it_conn_wait_closed(c[i], 10000), "connection %d outlived the deadline", i);
        it_conn_close(c[i]);
    }
    double dt = it_now() - t0;
    cr_assert(dt > 2.5 && dt < 7.0, "the last of %d closed after %.2f s, deadline 3 s", N, dt);
    it_mtlb_assert_alive(&env);
}

/* The record is announced but never completed: the connection waits (without an SSL) and is
 * closed at the deadline, counted from accept. */
Test(hello_wait, incomplete_first_record_is_closed_at_the_handshake_deadline)
{
    start("3s");
    static const unsigned char part[] = {0x16, 0x03, 0x01, 0x01, 0x00,
                                         0x01, 0x00, 0x00, 0xfc, 0x03};
    struct it_conn *c = it_tcp_connect(env.port);
    double t0 = it_now();
    cr_assert_eq(it_conn_send(c, part, sizeof(part)), 0);
    expect_closed_at_deadline(c, t0, "an incomplete ClientHello");
}

/* A close in the middle of the first record is seen at once (a peek cannot tell a close from
 * a pause; the acceptor watches for the peer's FIN), not 30 s later at the deadline. */
Test(hello_wait, close_inside_the_first_record_is_seen_at_once)
{
    start("30s");
    static const unsigned char part[] = {0x16, 0x03, 0x01, 0x01, 0x00,
                                         0x01, 0x00, 0x00, 0xfc, 0x03};
    struct it_conn *c = it_tcp_connect(env.port);
    cr_assert_eq(it_conn_send(c, part, sizeof(part)), 0);
    sleep_ms(200);
    double t0 = it_now();
    cr_assert_eq(shutdown(c->fd, SHUT_WR), 0);
    cr_assert(it_conn_wait_closed(c, 3000), "half-closed mid-record, still open 3 s later");
    cr_assert_lt(it_now() - t0, 3.0);
    it_conn_close(c);
    /* and it is still serving */
    struct it_tls_opts o = {.cert = "client/good.crt", .key = "client/good.key"};
    struct it_response r;
    it_get(env.port, &o, "/", &r);
    cr_assert_eq(r.status, 200);
    it_response_fini(&r);
}

/* ---- attacks on the wait ---- */

/* The ClientHello the SSL wrote (one record), its handshake bytes re-framed as records of at
 * most `piece` bytes, with `pre` (a PROXY header or "") in front. Returns the length. */
static size_t reframed_hello(SSL *ssl, const void *pre, size_t pre_len, size_t piece,
                             unsigned char *out, size_t cap)
{
    char *p;
    cr_assert_eq(SSL_do_handshake(ssl), -1);
    size_t n = (size_t)BIO_get_mem_data(SSL_get_wbio(ssl), &p);
    cr_assert(n > 5 && (unsigned char)p[0] == 0x16 &&
                  n == 5 + ((size_t)(unsigned char)p[3] << 8 | (unsigned char)p[4]),
              "ClientHello of %zu bytes is not one record", n);
    size_t len = pre_len;
    memcpy(out, pre, pre_len);
    for (size_t off = 5; off < n; off += piece) {
        size_t k = n - off < piece ? n - off : piece;
        cr_assert_lt(len + 5 + k, cap);
        unsigned char h[5] = {0x16, 0x03, 0x01, (unsigned char)(k >> 8), (unsigned char)k};
        memcpy(out + len, h, 5);
        memcpy(out + len + 5, p + off, k);
        len += 5 + k;
    }
    (void)BIO_reset(SSL_get_wbio(ssl));
    return len;
}

/* Completes the handshake on the socket and runs GET /who; returns the echo (malloc'd). */
static char *finish_and_get(SSL *ssl, int fd, const char *host)
{
    SSL_set0_wbio(ssl, BIO_new_socket(fd, BIO_NOCLOSE));
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl);
    char err[256] = "";
    ERR_error_string_n(ERR_peek_error(), err, sizeof(err));
    cr_assert_eq(rc, 1, "handshake failed: %d %s", SSL_get_error(ssl, rc), err);
    char req[160];
    int k = snprintf(req, sizeof(req), "GET /who HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                     host);
    cr_assert_eq(SSL_write(ssl, req, k), k);
    size_t cap = 1 << 16, len = 0;
    char *buf = calloc(1, cap + 1);
    int n;
    while (len < cap && (n = SSL_read(ssl, buf + len, (int)(cap - len))) > 0) {
        len += (size_t)n;
    }
    cr_assert(strncmp(buf, "HTTP/1.1 200", 12) == 0, "response: %s", buf);
    return buf;
}

/* A ClientHello split over many records (legal: a handshake message may span records), each
 * record in its own segment: the wait takes the first record only, OpenSSL the rest; SNI in a
 * later record still picks the certificate. */
Test(hello_wait, client_hello_fragmented_across_records_completes)
{
    static unsigned char buf[1 << 15];
    static const unsigned char h1[] = "\x08http/1.1";
    start("30s");
    struct it_conn *c = it_tcp_connect(env.port);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    SSL *ssl = trickle_client(c->fd, "other.example.com", h1, sizeof(h1) - 1);
    size_t n = reframed_hello(ssl, "", 0, 40, buf, sizeof(buf));
    for (size_t off = 0; off < n; off += 45) {
        size_t k = n - off < 45 ? n - off : 45;
        cr_assert_eq(send(c->fd, buf + off, k, MSG_NOSIGNAL), (ssize_t)k);
        sleep_ms(5);
    }
    char *echo = finish_and_get(ssl, c->fd, "other.example.com");
    char cn[128] = "";
    server_cn(ssl, cn, sizeof(cn));
    cr_assert(strstr(cn, "other") != NULL, "SNI other.example.com served CN=%s", cn);
    free(echo);
    close_ssl(ssl, c);
}

/* First bytes that are no ClientHello OpenSSL will take, or a record header claiming more
 * than a plaintext record may hold (2^14): refused at once, not held (with an SSL and its
 * 16 KiB buffer, before the fix for 16385..18432) until the 30 s deadline; mtlb serving. An
 * empty first record is tolerated by OpenSSL and cut at the deadline as any slow hello. */
Test(hello_wait, oversized_sslv2_and_non_tls_first_records_are_refused_at_once)
{
    static unsigned char big[16389 + 16];
    static const struct {
        const char *what;
        const unsigned char *p;
        size_t n;
    } cases[] = {
        {"record of 16385", (const unsigned char *)"\x16\x03\x01\x40\x01\x01\x00", 7},
        {"record of 65535", (const unsigned char *)"\x16\x03\x01\xff\xff\x01\x00", 7},
        /* whole: 2-byte header, type, version, 21 bytes of cipher specs, 16 of challenge */
        {"SSLv2 hello",
         (const unsigned char *)"\x80\x2e\x01\x03\x01\x00\x15\x00\x00\x00\x10"
                                "\x00\x00\x2f\x00\x00\x35\x00\x00\x0a\x01\x00\x80"
                                "\x03\x00\x80\x07\x00\xc0\x00\x00\xff"
                                "0123456789abcdef",
         48},
        {"alert first", (const unsigned char *)"\x15\x03\x01\x00\x02\x02\x28", 7},
        {"plain HTTP", (const unsigned char *)"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27},
        {"whole 16384-byte junk record", big, 16389},
    };
    big[0] = 0x16, big[1] = 0x03, big[2] = 0x01, big[3] = 0x40, big[4] = 0x00;
    memset(big + 5, 0xff, 16384); /* no handshake type: refused once whole */
    start("30s");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct it_conn *c = it_tcp_connect(env.port);
        double t0 = it_now();
        cr_assert_eq(it_conn_send(c, cases[i].p, cases[i].n), 0, "%s", cases[i].what);
        if (strncmp(cases[i].what, "record of", 9) == 0) { /* the clear error: record_overflow */
            unsigned char al[7] = {0};
            it_conn_timeout(c, 5000);
            cr_assert_eq(it_conn_recv_some(c, al, sizeof(al)), 7, "%s: no alert", cases[i].what);
            cr_assert_eq(memcmp(al, "\x15\x03\x01\x00\x02\x02\x16", 7), 0, "%s: not the alert",
                         cases[i].what);
        }
        cr_assert(it_conn_wait_closed(c, 5000), "%s: still open after 5 s", cases[i].what);
        cr_assert_lt(it_now() - t0, 5.0, "%s", cases[i].what);
        it_conn_close(c);
    }
    it_mtlb_assert_alive(&env);
    struct it_tls_opts o = {.cert = "client/good.crt", .key = "client/good.key"};
    struct it_response r;
    it_get(env.port, &o, "/", &r);
    cr_assert_eq(r.status, 200);
    it_response_fini(&r);
}

/* A whole ClientHello, then the client's half-close: the handshake cannot complete, and the
 * connection ends at once (no wait for the deadline), anything sent being TLS. */
Test(hello_wait, half_close_after_a_whole_client_hello_ends_at_once)
{
    static unsigned char buf[1 << 15];
    static const unsigned char h1[] = "\x08http/1.1";
    start("30s");
    for (int piece = 0; piece < 2; piece++) {
        struct it_conn *c = it_tcp_connect(env.port);
        SSL *ssl = trickle_client(c->fd, "localhost", h1, sizeof(h1) - 1);
        size_t n = reframed_hello(ssl, "", 0, piece ? 100 : 16384, buf, sizeof(buf));
        cr_assert_eq(send(c->fd, buf, n, MSG_NOSIGNAL), (ssize_t)n);
        cr_assert_eq(shutdown(c->fd, SHUT_WR), 0);
        double t0 = it_now();
        unsigned char first = 0;
        ssize_t k = recv(c->fd, &first, 1, 0);
        cr_assert(k <= 0 || first == 0x16 || first == 0x15, "non-TLS byte 0x%02x", first);
        cr_assert(it_conn_wait_closed(c, 5000), "half-closed after the hello, still open");
        cr_assert_lt(it_now() - t0, 5.0);
        SSL_free(ssl);
        it_conn_close(c);
    }
    it_mtlb_assert_alive(&env);
}

/* PROXY v1 then the ClientHello in the same segment (the header read must leave the record
 * to the wait), and PROXY v2 then a ClientHello fragmented over records and segments: both
 * complete, and the backend gets the address the header carried. */
Test(hello_wait, proxy_header_then_client_hello_in_any_framing)
{
    static unsigned char buf[1 << 15];
    static const unsigned char h1[] = "\x08http/1.1";
    static const char v1[] = "PROXY TCP4 203.0.113.7 127.0.0.1 40000 443\r\n";
    static const unsigned char v2[] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
                                       0x54, 0x0a, 0x21, 0x11, 0x00, 0x0c, 203,  0,    113,  8,
                                       127,  0,    0,    1,    0x9c, 0x40, 0x01, 0xbb};
    start_with("30s", "proxy_protocol: true\n    proxy_protocol_from: [127.0.0.0/8]");
    for (int round = 0; round < 2; round++) {
        struct it_conn *c = it_tcp_connect(env.port);
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        SSL *ssl = trickle_client(c->fd, "localhost", h1, sizeof(h1) - 1);
        size_t n = round == 0 ? reframed_hello(ssl, v1, sizeof(v1) - 1, 16384, buf, sizeof(buf))
                              : reframed_hello(ssl, v2, sizeof(v2), 30, buf, sizeof(buf));
        size_t seg = round == 0 ? n : 33;
        for (size_t off = 0; off < n; off += seg) {
            size_t k = n - off < seg ? n - off : seg;
            cr_assert_eq(send(c->fd, buf + off, k, MSG_NOSIGNAL), (ssize_t)k);
            sleep_ms(round == 0 ? 0 : 5);
        }
        char *echo = finish_and_get(ssl, c->fd, "localhost");
        const char *want =
            round == 0 ? "X-Forwarded-For: 203.0.113.7\r\n" : "X-Forwarded-For: 203.0.113.8\r\n";
        cr_assert_not_null(strstr(echo, want), "round %d: %s", round, echo);
        free(echo);
        close_ssl(ssl, c);
    }
}

/* The PROXY header, the start of a ClientHello and the client's close in one segment (corked,
 * so the FIN rides on the data): one edge-triggered event carries both the bytes and the
 * close. The close must be seen then (the record goes to OpenSSL, which finds it truncated),
 * not 30 s later at the deadline: no further event would come. */
Test(hello_wait, proxy_header_partial_hello_and_close_in_one_segment_end_at_once)
{
    static const char v1[] = "PROXY TCP4 203.0.113.7 127.0.0.1 40000 443\r\n";
    static const unsigned char part[] = {0x16, 0x03, 0x01, 0x01, 0x00,
                                         0x01, 0x00, 0x00, 0xfc, 0x03};
    unsigned char buf[sizeof(v1) - 1 + sizeof(part)];
    memcpy(buf, v1, sizeof(v1) - 1);
    memcpy(buf + sizeof(v1) - 1, part, sizeof(part));
    start_with("30s", "proxy_protocol: true\n    proxy_protocol_from: [127.0.0.0/8]");
    struct it_conn *c = it_tcp_connect(env.port);
    int one = 1;
    cr_assert_eq(setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one)), 0);
    double t0 = it_now();
    cr_assert_eq(send(c->fd, buf, sizeof(buf), MSG_NOSIGNAL), (ssize_t)sizeof(buf));
    cr_assert_eq(shutdown(c->fd, SHUT_WR), 0); /* sends the corked bytes with the FIN */
    cr_assert(it_conn_wait_closed(c, 5000), "PROXY + partial hello + close: still open after 5 s");
    cr_assert_lt(it_now() - t0, 5.0);
    it_conn_close(c);
}
