/* Integration-test harness, network side: TCP and OpenSSL client connections with a buffered
 * reader, HTTP/1.1 response parsing (Content-Length, chunked, until close), header lookup and
 * the classification of a TLS exchange (response, refused in the handshake, refused after it). */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define IT_IO_TIMEOUT_MS 5000
#define IT_MAX_HEAD (1024 * 1024)

uint64_t it_fnv1a64(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

void it_conn_timeout(struct it_conn *c, int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static struct it_conn *conn_new(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(fd != -1, "socket: %s", strerror(errno));
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect to port %u: %s", port,
              strerror(errno));
    struct it_conn *c = calloc(1, sizeof(*c));
    c->fd = fd;
    c->cap = 65536;
    c->buf = malloc(c->cap);
    c->alert_received = -1;
    it_conn_timeout(c, IT_IO_TIMEOUT_MS);
    return c;
}

struct it_conn *it_tcp_connect(uint16_t port)
{
    return conn_new(port);
}

void it_conn_close(struct it_conn *c)
{
    if (c == NULL) {
        return;
    }
    if (c->ssl != NULL && SSL_is_init_finished(c->ssl)) {
        /* A close_notify keeps the session resumable (SSL_free of an unshut connection marks
         * it not resumable); on a broken connection this fails harmlessly. */
        ERR_clear_error();
        SSL_shutdown(c->ssl);
        ERR_clear_error();
    }
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    close(c->fd);
    free(c->buf);
    free(c);
}

/* Records what the server sent: a CertificateRequest, alerts. */
static void msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
    (void)version;
    (void)ssl;
    struct it_conn *c = arg;
    const unsigned char *b = buf;
    if (write_p || len < 1) {
        return;
    }
    if (content_type == SSL3_RT_HANDSHAKE && b[0] == SSL3_MT_CERTIFICATE_REQUEST) {
        c->cert_requested = true;
    } else if (content_type == SSL3_RT_ALERT && len >= 2) {
        c->alert_received = b[1];
    }
}

static void ssl_error_text(struct it_conn *c, const char *what, int ret)
{
    int e = SSL_get_error(c->ssl, ret);
    int saved = errno;
    char q[160] = "";
    unsigned long code = ERR_get_error();
    if (code != 0) {
        ERR_error_string_n(code, q, sizeof(q));
    }
    ERR_clear_error();
    c->last_err = e;
    snprintf(c->err, sizeof(c->err), "%s: SSL error %d errno %d (%s) %s alert %d (%s)", what, e,
             saved, strerror(saved), q, c->alert_received,
             c->alert_received >= 0 ? SSL_alert_desc_string_long(c->alert_received) : "-");
}

static SSL_CTX *client_ctx(const struct it_tls_opts *o)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    cr_assert(ctx != NULL);
    cr_assert(SSL_CTX_load_verify_locations(ctx, it_pki("ca/root.crt"), NULL) == 1,
              "cannot load %s", it_pki("ca/root.crt"));
    /* The server chain is checked after the handshake (server_verified), so that a failed
     * handshake is always the server's refusal, never the client's. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    if (o->version != 0) {
        SSL_CTX_set_min_proto_version(ctx, o->version);
        SSL_CTX_set_max_proto_version(ctx, o->version);
    }
    if (o->cert != NULL) {
        cr_assert(SSL_CTX_use_certificate_chain_file(ctx, it_pki(o->cert)) == 1,
                  "cannot load client certificate %s", it_pki(o->cert));
        cr_assert(SSL_CTX_use_PrivateKey_file(ctx, it_pki(o->key), SSL_FILETYPE_PEM) == 1,
                  "cannot load client key %s", it_pki(o->key));
    }
    if (o->no_ticket) {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    }
    SSL_CTX_set_msg_callback(ctx, msg_cb);
    return ctx;
}

static void record_server(struct it_conn *c, const char *host)
{
    c->server_verified = SSL_get_verify_result(c->ssl) == X509_V_OK;
    X509 *peer = SSL_get1_peer_certificate(c->ssl);
    if (peer != NULL) {
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, c->server_cn,
                                  sizeof(c->server_cn));
        /* The certificate must also be the one for the name we asked for. */
        if (X509_check_host(peer, host, 0, 0, NULL) != 1 && X509_check_ip_asc(peer, host, 0) != 1) {
            c->server_verified = false;
        }
        X509_free(peer);
    }
}

struct it_conn *it_tls_open(uint16_t port, const struct it_tls_opts *o, bool *ok)
{
    struct it_conn *c = conn_new(port);
    c->ctx = client_ctx(o);
    c->ssl = SSL_new(c->ctx);
    SSL_set_msg_callback_arg(c->ssl, c);
    SSL_set_fd(c->ssl, c->fd);
    if (o->sni != NULL) {
        SSL_set_tlsext_host_name(c->ssl, o->sni);
    }
    if (o->session != NULL) {
        cr_assert_eq(SSL_set_session(c->ssl, o->session), 1);
    }
    ERR_clear_error();
    int r = SSL_connect(c->ssl);
    *ok = r == 1;
    if (!*ok) {
        ssl_error_text(c, "SSL_connect", r);
    }
    /* Even a refused handshake shows which certificate the server presented. */
    record_server(c, o->sni != NULL ? o->sni : "localhost");
    return c;
}

struct it_conn *it_tls_connect(uint16_t port, const struct it_tls_opts *o, char *err, size_t errlen)
{
    bool ok;
    struct it_conn *c = it_tls_open(port, o, &ok);
    if (!ok) {
        snprintf(err, errlen, "%s", c->err);
        it_conn_close(c);
        return NULL;
    }
    return c;
}

int it_conn_send(struct it_conn *c, const void *p, size_t n)
{
    const char *s = p;
    while (n > 0) {
        ssize_t w;
        if (c->ssl != NULL) {
            ERR_clear_error();
            int r = SSL_write(c->ssl, s, n > (1 << 30) ? 1 << 30 : (int)n);
            if (r <= 0) {
                ssl_error_text(c, "SSL_write", r);
                return -1;
            }
            w = r;
        } else {
            w = send(c->fd, s, n, MSG_NOSIGNAL);
            if (w == -1) {
                c->last_err = errno;
                snprintf(c->err, sizeof(c->err), "send: %s", strerror(errno));
                return -1;
            }
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

int it_conn_sends(struct it_conn *c, const char *s)
{
    return it_conn_send(c, s, strlen(s));
}

/* Reads more into the buffer. Returns bytes read, 0 at EOF, -1 on error or timeout. */
static ssize_t fill(struct it_conn *c)
{
    if (c->rpos > 0 && c->rpos == c->rlen) {
        c->rpos = c->rlen = 0;
    }
    if (c->rlen == c->cap) {
        if (c->rpos > c->cap / 2) {
            memmove(c->buf, c->buf + c->rpos, c->rlen - c->rpos);
            c->rlen -= c->rpos;
            c->rpos = 0;
        } else {
            c->cap *= 2;
            c->buf = realloc(c->buf, c->cap);
        }
    }
    if (c->eof) {
        return 0;
    }
    ssize_t n;
    if (c->ssl != NULL) {
        ERR_clear_error();
        int r = SSL_read(c->ssl, c->buf + c->rlen, (int)(c->cap - c->rlen));
        if (r <= 0) {
            int saved = errno;
            int e = SSL_get_error(c->ssl, r);
            bool timeout = (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_SYSCALL) &&
                           (saved == EAGAIN || saved == EWOULDBLOCK);
            errno = saved;
            ssl_error_text(c, timeout ? "SSL_read timeout" : "SSL_read", r);
            if (timeout) {
                c->last_err = -EAGAIN;
                return -1;
            }
            c->eof = true;
            return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
        }
        n = r;
    } else {
        n = recv(c->fd, c->buf + c->rlen, c->cap - c->rlen, 0);
        if (n <= 0) {
            int saved = errno;
            c->last_err = n == 0 ? 0 : (saved == EAGAIN || saved == EWOULDBLOCK) ? -EAGAIN : saved;
            snprintf(c->err, sizeof(c->err), "recv: %s", n == 0 ? "EOF" : strerror(saved));
            if (c->last_err != -EAGAIN) {
                c->eof = true;
            }
            return n == 0 ? 0 : -1;
        }
    }
    c->rlen += (size_t)n;
    c->bytes_received += (size_t)n;
    return n;
}

ssize_t it_conn_recv_some(struct it_conn *c, void *p, size_t n)
{
    if (c->rpos == c->rlen) {
        ssize_t r = fill(c);
        if (r <= 0) {
            return r;
        }
    }
    size_t take = c->rlen - c->rpos < n ? c->rlen - c->rpos : n;
    memcpy(p, c->buf + c->rpos, take);
    c->rpos += take;
    return (ssize_t)take;
}

/* Finds "\r\n" from the read position; returns the line length (without CRLF) or -1. */
static ssize_t read_line(struct it_conn *c)
{
    for (;;) {
        char *p = memmem(c->buf + c->rpos, c->rlen - c->rpos, "\r\n", 2);
        if (p != NULL) {
            return p - (c->buf + c->rpos);
        }
        if (c->rlen - c->rpos > 65536 || fill(c) <= 0) {
            return -1;
        }
    }
}

static int read_exact(struct it_conn *c, char *dst, size_t n)
{
    while (n > 0) {
        if (c->rpos == c->rlen && fill(c) <= 0) {
            return -1;
        }
        size_t take = c->rlen - c->rpos < n ? c->rlen - c->rpos : n;
        memcpy(dst, c->buf + c->rpos, take);
        c->rpos += take;
        dst += take;
        n -= take;
    }
    return 0;
}

static void body_reserve(struct it_response *r, size_t *cap, size_t extra)
{
    if (r->body_len + extra + 1 > *cap) {
        while (r->body_len + extra + 1 > *cap) {
            *cap = *cap ? *cap * 2 : 4096;
        }
        r->body = realloc(r->body, *cap);
    }
}

static int read_chunked(struct it_conn *c, struct it_response *r)
{
    size_t cap = 0;
    body_reserve(r, &cap, 0);
    for (;;) {
        ssize_t len = read_line(c);
        if (len < 0) {
            return -1;
        }
        char *end;
        unsigned long long size = strtoull(c->buf + c->rpos, &end, 16);
        if (end == c->buf + c->rpos) {
            snprintf(c->err, sizeof(c->err), "bad chunk size line");
            return -1;
        }
        c->rpos += (size_t)len + 2;
        if (size == 0) {
            break;
        }
        body_reserve(r, &cap, size);
        char crlf[2];
        if (read_exact(c, r->body + r->body_len, size) != 0 || read_exact(c, crlf, 2) != 0) {
            return -1;
        }
        r->body_len += size;
        if (memcmp(crlf, "\r\n", 2) != 0) {
            snprintf(c->err, sizeof(c->err), "chunk not followed by CRLF");
            return -1;
        }
    }
    for (;;) { /* trailers up to the empty line */
        ssize_t len = read_line(c);
        if (len < 0) {
            return -1;
        }
        c->rpos += (size_t)len + 2;
        if (len == 0) {
            return 0;
        }
    }
}

static int read_body(struct it_conn *c, struct it_response *r, bool head_only)
{
    char v[64];
    if (head_only || r->status / 100 == 1 || r->status == 204 || r->status == 304) {
        r->body = calloc(1, 1);
        return 0;
    }
    if (it_header_get(r->head, "Transfer-Encoding", v, sizeof(v))) {
        if (strcasestr(v, "chunked") == NULL) {
            snprintf(c->err, sizeof(c->err), "unsupported Transfer-Encoding %s", v);
            return -1;
        }
        return read_chunked(c, r);
    }
    if (it_header_get(r->head, "Content-Length", v, sizeof(v))) {
        size_t n = strtoull(v, NULL, 10);
        r->body = malloc(n + 1);
        if (read_exact(c, r->body, n) != 0) {
            return -1;
        }
        r->body_len = n;
        return 0;
    }
    size_t cap = 0;
    body_reserve(r, &cap, 0);
    for (;;) { /* delimited by close */
        size_t avail = c->rlen - c->rpos;
        body_reserve(r, &cap, avail);
        memcpy(r->body + r->body_len, c->buf + c->rpos, avail);
        r->body_len += avail;
        c->rpos += avail;
        ssize_t n = fill(c);
        if (n == 0) {
            return 0;
        }
        if (n < 0) {
            return c->eof ? 0 : -1;
        }
    }
}

int it_read_response(struct it_conn *c, struct it_response *r, bool head_only)
{
    memset(r, 0, sizeof(*r));
    r->status = -1;
    char *end;
    while ((end = memmem(c->buf + c->rpos, c->rlen - c->rpos, "\r\n\r\n", 4)) == NULL) {
        if (c->rlen - c->rpos > IT_MAX_HEAD || fill(c) <= 0) {
            return -1;
        }
    }
    r->head_len = (size_t)(end + 4 - (c->buf + c->rpos));
    r->head = malloc(r->head_len + 1);
    memcpy(r->head, c->buf + c->rpos, r->head_len);
    r->head[r->head_len] = '\0';
    c->rpos += r->head_len;
    if (sscanf(r->head, "HTTP/1.%*1[01] %3d", &r->status) != 1) {
        snprintf(c->err, sizeof(c->err), "bad status line");
        return -1;
    }
    if (read_body(c, r, head_only) != 0) {
        return -1;
    }
    r->body[r->body_len] = '\0';
    return 0;
}

void it_response_fini(struct it_response *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

bool it_conn_wait_closed(struct it_conn *c, int timeout_ms)
{
    double deadline = it_now() + timeout_ms / 1000.0;
    c->rpos = c->rlen = 0;
    while (!c->eof) {
        double left = deadline - it_now();
        if (left <= 0) {
            return false;
        }
        it_conn_timeout(c, (int)(left * 1000) + 1);
        ssize_t n = fill(c);
        c->rpos = c->rlen = 0;
        if (n < 0 && c->last_err == -EAGAIN) {
            return false;
        }
    }
    return true;
}

const char *it_outcome_name(enum it_outcome o)
{
    static const char *const names[] = {"response", "handshake failed", "read failed",
                                        "partial response", "timeout"};
    return names[o];
}

void it_tls_exchange(uint16_t port, const struct it_tls_opts *o, const char *request,
                     struct it_exchange *x)
{
    memset(x, 0, sizeof(*x));
    bool ok;
    struct it_conn *c = it_tls_open(port, o, &ok);
    if (!ok) {
        x->outcome = IT_HANDSHAKE_FAILED;
    } else {
        /* A TLS 1.3 server may refuse the certificate only after our handshake completed:
         * the write can then fail and the read reports the alert. */
        it_conn_sends(c, request);
        if (it_read_response(c, &x->resp, false) == 0) {
            x->outcome = IT_OK;
        } else if (c->bytes_received > 0) {
            x->outcome = IT_PARTIAL;
        } else {
            x->outcome = c->last_err == -EAGAIN ? IT_TIMEOUT : IT_READ_FAILED;
        }
    }
    snprintf(x->detail, sizeof(x->detail), "%s (%zu bytes received): %s",
             it_outcome_name(x->outcome), c->bytes_received, c->err);
    x->cert_requested = c->cert_requested;
    x->alert_received = c->alert_received;
    x->server_verified = c->server_verified;
    if (c->ssl != NULL && x->outcome == IT_OK) {
        x->reused = SSL_session_reused(c->ssl) == 1;
        x->session = SSL_get1_session(c->ssl);
    }
    memcpy(x->server_cn, c->server_cn, sizeof(x->server_cn));
    it_conn_close(c);
}

void it_exchange_fini(struct it_exchange *x)
{
    it_response_fini(&x->resp);
    SSL_SESSION_free(x->session);
    x->session = NULL;
}

void it_get(uint16_t port, const struct it_tls_opts *o, const char *path, struct it_response *r)
{
    char req[512];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path);
    struct it_exchange x;
    it_tls_exchange(port, o, req, &x);
    cr_assert(x.outcome == IT_OK, "GET %s: expected a response, got %s", path, x.detail);
    SSL_SESSION_free(x.session); /* the caller keeps the response only */
    *r = x.resp;
}

/* Walks "Name: value" lines after the start line; calls back for each match of name. */
static const char *header_find(const char *head, const char *name, const char *from, size_t *vlen)
{
    size_t nlen = strlen(name);
    const char *p = from ? from : strstr(head, "\r\n");
    while (p != NULL && p[0] == '\r' && p[1] == '\n' && p[2] != '\r' && p[2] != '\0') {
        const char *line = p + 2;
        const char *eol = strstr(line, "\r\n");
        if (eol == NULL) {
            return NULL;
        }
        if ((size_t)(eol - line) > nlen && strncasecmp(line, name, nlen) == 0 &&
            line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ' || *v == '\t') {
                v++;
            }
            const char *ve = eol;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) {
                ve--;
            }
            *vlen = (size_t)(ve - v);
            return v;
        }
        p = eol;
    }
    return NULL;
}

size_t it_header_count(const char *head, const char *name)
{
    size_t n = 0, vlen;
    const char *v = header_find(head, name, NULL, &vlen);
    while (v != NULL) {
        n++;
        v = header_find(head, name, strstr(v, "\r\n"), &vlen);
    }
    return n;
}

bool it_header_get(const char *head, const char *name, char *out, size_t cap)
{
    size_t vlen;
    const char *v = header_find(head, name, NULL, &vlen);
    if (v == NULL) {
        return false;
    }
    snprintf(out, cap, "%.*s", (int)vlen, v);
    return true;
}

bool it_echo_body_stats(const char *body, unsigned long long *bytes, unsigned long long *fnv)
{
    const char *end = strstr(body, "\r\n\r\n");
    if (end == NULL) {
        return false;
    }
    return sscanf(end + 4, "body-bytes: %llu\r\nbody-fnv1a64: %llx", bytes, fnv) == 2;
}

int it_admin_req(unsigned port, const char *method, const char *path, int timeout_ms, char **body)
{
    struct it_conn *c = it_tcp_connect((uint16_t)port);
    char req[512];
    struct it_response r;

    cr_assert_not_null(c, "connect to the admin port %u", port);
    it_conn_timeout(c, timeout_ms);
    snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", method, path);
    cr_assert_eq(it_conn_sends(c, req), 0);
    cr_assert_eq(it_read_response(c, &r, strcmp(method, "HEAD") == 0), 0, "%s %s: %s", method, path,
                 c->err);
    int status = r.status;
    if (body != NULL) {
        *body = strdup(r.body ? r.body : "");
    }
    cr_assert(strstr(r.head, "Connection: close\r\n") != NULL);
    it_response_fini(&r);
    it_conn_close(c);
    return status;
}

double it_prom_value(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ') {
            return strtod(p + n + 1, NULL);
        }
    }
    return -1;
}

double it_admin_metric(unsigned port, const char *series)
{
    char *text = NULL;
    cr_assert_eq(it_admin_req(port, "GET", "/metrics", 3000, &text), 200);
    double v = it_prom_value(text, series);
    free(text);
    return v;
}
