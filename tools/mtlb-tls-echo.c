/* mtlb-tls-echo: an HTTPS/1.1 backend for the tests of HTTPS to backends (and for trying the
 * feature by hand). One blocking thread per connection; keep-alive; answers every request
 * with 200, headers that tell what the TLS session looked like from this side (resumed,
 * client certificate subject, SNI, ALPN, connection serial) and the request body echoed
 * back byte for byte (Content-Length or chunked requests). Not a production server. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define HEAD_CAP (64 * 1024)
#define BODY_MAX (64u * 1024 * 1024)

static atomic_uint conn_serial;
static const char *name = "tls-echo";

struct conn {
    SSL *ssl;
    int fd;
    unsigned serial;
    char buf[HEAD_CAP];
    size_t len; /* bytes read and not consumed, from buf[0] */
    int end;    /* SSL_get_error of the read that ended the connection, 0 before */
};

/* Reads more into c->buf: bytes read, 0 at EOF or error. */
static size_t fill(struct conn *c)
{
    if (c->len == sizeof(c->buf)) {
        return 0;
    }
    int n = SSL_read(c->ssl, c->buf + c->len, (int)(sizeof(c->buf) - c->len));
    if (n <= 0) {
        c->end = SSL_get_error(c->ssl, n);
        return 0;
    }
    c->len += (size_t)n;
    return (size_t)n;
}

static void consume(struct conn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Appends up to want bytes (from what is buffered, then the socket) to body. */
static bool read_exact(struct conn *c, char *dst, size_t want)
{
    while (want > 0) {
        if (c->len == 0 && fill(c) == 0) {
            return false;
        }
        size_t n = c->len < want ? c->len : want;
        memcpy(dst, c->buf, n);
        consume(c, n);
        dst += n;
        want -= n;
    }
    return true;
}

/* One CRLF-terminated line (without it) into line; false at EOF or when too long. */
static bool read_line(struct conn *c, char *line, size_t cap)
{
    for (;;) {
        char *nl = memmem(c->buf, c->len, "\r\n", 2);
        if (nl != NULL) {
            size_t n = (size_t)(nl - c->buf);
            if (n >= cap) {
                return false;
            }
            memcpy(line, c->buf, n);
            line[n] = '\0';
            consume(c, n + 2);
            return true;
        }
        if (fill(c) == 0) {
            return false;
        }
    }
}

static bool read_chunked(struct conn *c, char **body, size_t *len)
{
    char line[256];

    for (;;) {
        if (!read_line(c, line, sizeof(line))) {
            return false;
        }
        size_t n = strtoul(line, NULL, 16);
        if (n == 0) {
            break;
        }
        if (*len + n > BODY_MAX) {
            return false;
        }
        char *grown = realloc(*body, *len + n);
        if (grown == NULL) {
            return false;
        }
        *body = grown;
        if (!read_exact(c, *body + *len, n) || !read_line(c, line, sizeof(line))) {
            return false;
        }
        *len += n;
    }
    do { /* trailers, up to the empty line */
        if (!read_line(c, line, sizeof(line))) {
            return false;
        }
    } while (line[0] != '\0');
    return true;
}

/* The value of header `h` in head (lines after the first), copied into out. */
static bool header(const char *head, const char *h, char *out, size_t cap)
{
    size_t hl = strlen(h);

    for (const char *p = strstr(head, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, h, hl) == 0 && p[2 + hl] == ':') {
            const char *v = p + 3 + hl;
            while (*v == ' ') {
                v++;
            }
            size_t n = strcspn(v, "\r");
            n = n < cap - 1 ? n : cap - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return true;
        }
    }
    return false;
}

static bool write_all(SSL *ssl, const char *p, size_t n)
{
    while (n > 0) {
        int w = SSL_write(ssl, p, n > (1 << 20) ? 1 << 20 : (int)n);
        if (w <= 0) {
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static bool respond(struct conn *c, unsigned nreq, const char *body, size_t len, bool close)
{
    char subject[256] = "-", head[1024];
    X509 *peer = SSL_get1_peer_certificate(c->ssl);
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;
    const char *sni = SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);

    if (peer != NULL) {
        X509_NAME_oneline(X509_get_subject_name(peer), subject, sizeof(subject));
        X509_free(peer);
    }
    SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nX-Backend: %s\r\n"
                     "X-Conn: %u\r\nX-Request-N: %u\r\nX-Resumed: %d\r\n"
                     "X-Client-Subject: %s\r\nX-SNI: %s\r\nX-ALPN: %.*s\r\n"
                     "X-TLS-Version: %s\r\n%s\r\n",
                     len, name, c->serial, nreq, SSL_session_reused(c->ssl), subject,
                     sni != NULL ? sni : "-", alpn_len > 0 ? (int)alpn_len : 1,
                     alpn_len > 0 ? (const char *)alpn : "-", SSL_get_version(c->ssl),
                     close ? "Connection: close\r\n" : "");
    return write_all(c->ssl, head, (size_t)n) && write_all(c->ssl, body, len);
}

/* One request: false when the connection is to end. */
static bool serve_one(struct conn *c, unsigned nreq)
{
    char head[8192], v[64];
    size_t hl = 0;
    char *end;

    while ((end = memmem(c->buf, c->len, "\r\n\r\n", 4)) == NULL) {
        if (fill(c) == 0) {
            return false;
        }
    }
    hl = (size_t)(end - c->buf) + 4;
    if (hl >= sizeof(head)) {
        return false;
    }
    memcpy(head, c->buf, hl);
    head[hl] = '\0';
    consume(c, hl);
    char *body = NULL;
    size_t len = 0;
    bool ok = true;
    if (header(head, "Transfer-Encoding", v, sizeof(v)) && strcasecmp(v, "chunked") == 0) {
        ok = read_chunked(c, &body, &len);
    } else if (header(head, "Content-Length", v, sizeof(v))) {
        len = strtoul(v, NULL, 10);
        body = len > 0 && len <= BODY_MAX ? malloc(len) : NULL;
        ok = len == 0 || (body != NULL && read_exact(c, body, len));
    }
    /* A target under /close ends the connection after its response (a test makes mtlb
     * reconnect, and so resume, that way). */
    bool close = (header(head, "Connection", v, sizeof(v)) && strcasecmp(v, "close") == 0) ||
                 strstr(head, " /close") == strchr(head, ' ');
    ok = ok && respond(c, nreq, body != NULL ? body : "", len, close);
    free(body);
    return ok && !close;
}

static void *serve(void *arg)
{
    struct conn *c = arg;

    if (SSL_accept(c->ssl) == 1) {
        for (unsigned n = 1; serve_one(c, n); n++) {
        }
        /* How the peer ended, for tests of orderly closes */
        if (c->end != 0) {
            printf("%s: peer closed: %s\n", name,
                   c->end == SSL_ERROR_ZERO_RETURN ? "close_notify" : "without close_notify");
            fflush(stdout);
        }
        SSL_shutdown(c->ssl);
    } else {
        unsigned long e = ERR_get_error();
        fprintf(stderr, "%s: handshake failed: %s\n", name,
                e != 0 ? ERR_reason_error_string(e) : "connection closed");
    }
    ERR_clear_error();
    SSL_free(c->ssl);
    close(c->fd);
    free(c);
    return NULL;
}

static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    for (unsigned i = 0; i < inlen; i += 1u + in[i]) {
        if (in[i] == 8 && i + 9 <= inlen && memcmp(in + i + 1, "http/1.1", 8) == 0) {
            *out = in + i + 1;
            *outlen = 8;
            return SSL_TLSEXT_ERR_OK;
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

static SSL_CTX *make_ctx(const char *cert, const char *key, const char *ca, const char *maxv)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    static const unsigned char sid[] = "mtlb-tls-echo";

    if (ctx == NULL || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        return NULL;
    }
    SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
    if (maxv != NULL && strcmp(maxv, "TLS1.2") == 0) {
        SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    }
    if (ca != NULL) {
        if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
            return NULL;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        SSL_CTX_set_client_CA_list(ctx, SSL_load_client_CA_file(ca));
    }
    return ctx;
}

static int listen_on(const char *spec)
{
    char host[256];
    const char *colon = strrchr(spec, ':');

    if (colon == NULL || (size_t)(colon - spec) >= sizeof(host)) {
        return -1;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) {
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd == -1 || bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 || listen(fd, 128) == -1) {
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: mtlb-tls-echo --listen HOST:PORT --cert FILE --key FILE [--ca FILE]\n"
               "                     [--name NAME] [--max-version TLS1.2]\n"
               "  --ca FILE: require a client certificate issued by a CA in FILE\n"
               "Answers every request with 200 and the request body; X-Conn, X-Request-N,\n"
               "X-Resumed, X-Client-Subject, X-SNI, X-ALPN and X-TLS-Version describe the\n"
               "connection as this server saw it. A target under /close closes the connection\n"
               "after its response.\n");
}

int main(int argc, char **argv)
{
    const char *listen_spec = NULL, *cert = NULL, *key = NULL, *ca = NULL, *maxv = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (v == NULL) {
            usage(stderr);
            return 2;
        }
        if (strcmp(a, "--listen") == 0) {
            listen_spec = v;
        } else if (strcmp(a, "--cert") == 0) {
            cert = v;
        } else if (strcmp(a, "--key") == 0) {
            key = v;
        } else if (strcmp(a, "--ca") == 0) {
            ca = v;
        } else if (strcmp(a, "--name") == 0) {
            name = v;
        } else if (strcmp(a, "--max-version") == 0) {
            maxv = v;
        } else {
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (listen_spec == NULL || cert == NULL || key == NULL) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    SSL_CTX *ctx = make_ctx(cert, key, ca, maxv);
    if (ctx == NULL) {
        fprintf(stderr, "%s: cannot load %s / %s%s%s\n", name, cert, key, ca ? " / " : "",
                ca ? ca : "");
        return 1;
    }
    int lfd = listen_on(listen_spec);
    if (lfd == -1) {
        fprintf(stderr, "%s: cannot listen on %s: %s\n", name, listen_spec, strerror(errno));
        return 1;
    }
    printf("%s: listening on %s\n", name, listen_spec);
    fflush(stdout);
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd == -1) {
            continue;
        }
        struct conn *c = malloc(sizeof(*c));
        pthread_t t;
        if (c == NULL || (c->ssl = SSL_new(ctx)) == NULL) {
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->len = 0;
        c->serial = atomic_fetch_add(&conn_serial, 1) + 1;
        SSL_set_fd(c->ssl, fd);
        if (pthread_create(&t, NULL, serve, c) != 0) {
            SSL_free(c->ssl);
            close(fd);
            free(c);
            continue;
        }
        pthread_detach(t);
    }
}
