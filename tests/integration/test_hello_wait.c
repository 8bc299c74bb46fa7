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
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct it_env env;

/* Two domains (SNI picks the certificate), ALPN h2 and http/1.1, and the handshake deadline
 * given: long for the byte-by-byte ClientHellos (a loaded machine stretches their pauses),
 * short where the deadline itself is under test. */
static void start(const char *handshake)
{
    char timeouts[256];
    struct it_config cfg = {.n_domains = 2, .n_servers = 1};
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
