/* ktls_client: the OpenSSL client of the kernel-TLS VM test (tests/ktls/vm-tests.sh).
 * Owns one TLS connection to mtlb: N keep-alive requests (plain, upload or download with every
 * byte checked), an optional TLS 1.3 KeyUpdate between requests and an optional close_notify.
 * Prints one line of key=value results; exit status 0 when everything asked for succeeded. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stddef.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define BUF_CAP (64 * 1024)
#define CHUNK (16 * 1024)
#define FNV_BASIS 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

/* How the connection ended, as seen by the reader. */
enum end { END_NONE, END_NOTIFY, END_EOF, END_RESET, END_ALERT, END_TIMEOUT, END_ERROR };
static const char *const end_names[] = {"none",  "notify",  "eof",  "reset",
                                        "alert", "timeout", "error"};

struct opts {
    const char *connect, *tls; /* as given */
    const char *host, *port, *sni, *cert, *key, *ca, *tag;
    const char *path;        /* of the plain requests (default /hello) */
    const char *headers_out; /* file for the X-SSL-* fields the backend saw at request 0 */
    int version;
    long requests, key_update_after, renegotiate_after, timeout_ms;
    unsigned long long upload, download;
    bool shutdown, ktls;
};

struct client {
    const struct opts *o;
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
    char buf[BUF_CAP];
    size_t start, len;
    enum end end;
    char alert[64];   /* last alert received from the server */
    char detail[256]; /* first failure, for humans */
    char verify[32];  /* X-SSL-Client-Verify the backend received */
    long done;        /* requests answered correctly */
    bool corrupt;     /* a response carried wrong bytes */
};

static void fail(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct client *c, const char *fmt, ...)
{
    if (c->detail[0] != '\0') {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
    va_end(ap);
    for (char *p = c->detail; *p != '\0'; p++) {
        if (*p == '"' || *p == '\n' || *p == '\r') {
            *p = '\'';
        }
    }
}

static void info_cb(const SSL *ssl, int where, int ret)
{
    if ((where & SSL_CB_READ_ALERT) == SSL_CB_READ_ALERT) {
        struct client *c = SSL_get_app_data(ssl);
        snprintf(c->alert, sizeof(c->alert), "%s", SSL_alert_desc_string_long(ret));
        for (char *p = c->alert; *p != '\0'; p++) {
            if (*p == ' ') {
                *p = '_';
            }
        }
    }
}

/* Classifies a failed SSL_read/SSL_write/SSL_shutdown into c->end. */
static void classify(struct client *c, int r, const char *what)
{
    int err = SSL_get_error(c->ssl, r);
    int sys = errno;
    unsigned long e = ERR_peek_error();
    if (err == SSL_ERROR_ZERO_RETURN) {
        c->end = END_NOTIFY;
    } else if (err == SSL_ERROR_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        c->end = END_EOF;
    } else if (err == SSL_ERROR_SYSCALL && (sys == EAGAIN || sys == EWOULDBLOCK)) {
        c->end = END_TIMEOUT;
    } else if (err == SSL_ERROR_SYSCALL && (sys == ECONNRESET || sys == EPIPE)) {
        c->end = END_RESET;
    } else if (err == SSL_ERROR_SYSCALL && e == 0 && sys == 0) {
        c->end = END_EOF;
    } else if (c->alert[0] != '\0' && strcmp(c->alert, "close_notify") != 0) {
        c->end = END_ALERT;
    } else {
        c->end = END_ERROR;
    }
    char es[160] = "";
    if (e != 0) {
        ERR_error_string_n(e, es, sizeof(es));
    }
    fail(c, "%s: %s (ssl_error=%d errno=%d %s alert=%s)", what, end_names[c->end], err, sys, es,
         c->alert[0] ? c->alert : "-");
    ERR_clear_error();
}

/* Reads more decrypted bytes into the buffer. Returns false once the connection ended. */
static bool fill(struct client *c)
{
    if (c->end != END_NONE) {
        return false;
    }
    if (c->start > 0) {
        memmove(c->buf, c->buf + c->start, c->len - c->start);
        c->len -= c->start;
        c->start = 0;
    }
    if (c->len == sizeof(c->buf)) {
        fail(c, "response head larger than %d bytes", BUF_CAP);
        c->end = END_ERROR;
        return false;
    }
    errno = 0;
    int r = SSL_read(c->ssl, c->buf + c->len, (int)(sizeof(c->buf) - c->len));
    if (r <= 0) {
        classify(c, r, "read");
        return false;
    }
    c->len += (size_t)r;
    return true;
}

static bool send_all(struct client *c, const void *p, size_t n)
{
    if (c->end != END_NONE) {
        return false;
    }
    errno = 0;
    size_t w = 0;
    int r = SSL_write_ex(c->ssl, p, n, &w);
    if (r <= 0 || w != n) {
        classify(c, r, "write");
        return false;
    }
    return true;
}

static uint64_t fnv1a(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= FNV_PRIME;
    }
    return h;
}

/* Fills p with the test pattern for body offsets [off, off + n): 'a' + offset % 26. */
static void pattern(char *p, unsigned long long off, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (char)('a' + (off + i) % 26);
    }
}

/* Value of header name in [p, end) (case-insensitive, at a line start), copied into out. */
static bool header(const char *p, const char *end, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *q = p; q + nl + 1 < end; q++) {
        if ((q == p || q[-1] == '\n') && strncasecmp(q, name, nl) == 0 && q[nl] == ':') {
            const char *v = q + nl + 1;
            while (v < end && *v == ' ') {
                v++;
            }
            size_t n = 0;
            while (v + n < end && v[n] != '\r' && v[n] != '\n' && n + 1 < cap) {
                n++;
            }
            memcpy(out, v, n);
            out[n] = '\0';
            return true;
        }
    }
    return false;
}

/* Reads a response head; returns its status and Content-Length (-1 if absent), or -1. */
static int read_head(struct client *c, long long *clen)
{
    char *eoh;
    while ((eoh = memmem(c->buf + c->start, c->len - c->start, "\r\n\r\n", 4)) == NULL) {
        if (!fill(c)) {
            return -1;
        }
    }
    const char *h = c->buf + c->start;
    int status = 0;
    if (sscanf(h, "HTTP/1.%*d %d", &status) != 1) {
        c->corrupt = true;
        fail(c, "bad status line: %.40s", h);
        return -1;
    }
    char v[32];
    *clen = header(h, eoh + 2, "Content-Length", v, sizeof(v)) ? atoll(v) : -1;
    c->start = (size_t)(eoh + 4 - c->buf);
    return status;
}

/* Reads a whole small body (< BUF_CAP) and leaves it at buf[start, start + n). */
static bool read_small_body(struct client *c, long long n)
{
    if (n < 0 || n >= BUF_CAP) {
        fail(c, "unexpected body length %lld", n);
        return false;
    }
    while (c->len - c->start < (size_t)n) {
        if (!fill(c)) {
            return false;
        }
    }
    return true;
}

/* Writes the X-SSL-* lines of the echoed head [p, end) to the --headers-out file, in order. */
static void save_identity_fields(struct client *c, const char *p, const char *end)
{
    FILE *f = fopen(c->o->headers_out, "w");
    if (f == NULL) {
        fail(c, "cannot write %s", c->o->headers_out);
        return;
    }
    for (const char *q = p; q < end;) {
        const char *eol = memchr(q, '\n', (size_t)(end - q));
        size_t n = (size_t)((eol != NULL ? eol : end) - q);
        if (n >= 6 && strncasecmp(q, "X-SSL-", 6) == 0) {
            fprintf(f, "%.*s\n", (int)(n > 0 && q[n - 1] == '\r' ? n - 1 : n), q);
        }
        q += n + 1;
    }
    fclose(f);
}

/* Plain GET: the backend echoes the head it received; keeps X-SSL-Client-Verify. */
static bool do_plain(struct client *c, long i)
{
    char req[512];
    int n = snprintf(req, sizeof(req), "GET %s?tag=%s&i=%ld HTTP/1.1\r\nHost: %s\r\n\r\n",
                     c->o->path, c->o->tag, i, c->o->sni);
    long long clen;
    if (!send_all(c, req, (size_t)n)) {
        return false;
    }
    int st = read_head(c, &clen);
    if (st < 0 || !read_small_body(c, clen)) {
        return false;
    }
    const char *b = c->buf + c->start;
    char want[64];
    snprintf(want, sizeof(want), "GET %s?tag=%s&i=%ld ", c->o->path, c->o->tag, i);
    if (st != 200 || strncmp(b, want, strlen(want)) != 0) {
        c->corrupt = st == 200;
        fail(c, "request %ld: status %d, body %.40s", i, st, b);
        return false;
    }
    header(b, b + clen, "X-SSL-Client-Verify", c->verify, sizeof(c->verify));
    if (i == 0 && c->o->headers_out != NULL) {
        save_identity_fields(c, b, b + clen);
    }
    c->start += (size_t)clen;
    return true;
}

/* POST of o->upload pattern bytes; the backend answers with their count and FNV-1a. */
static bool do_upload(struct client *c, long i)
{
    char req[512], chunk[CHUNK];
    unsigned long long total = c->o->upload;
    int n = snprintf(req, sizeof(req),
                     "POST /upload?tag=%s&i=%ld HTTP/1.1\r\nHost: %s\r\nContent-Length: %llu\r\n"
                     "Content-Type: application/octet-stream\r\n\r\n",
                     c->o->tag, i, c->o->sni, total);
    if (!send_all(c, req, (size_t)n)) {
        return false;
    }
    uint64_t h = FNV_BASIS;
    for (unsigned long long off = 0; off < total; off += CHUNK) {
        size_t k = total - off < CHUNK ? (size_t)(total - off) : CHUNK;
        pattern(chunk, off, k);
        h = fnv1a(h, chunk, k);
        if (!send_all(c, chunk, k)) {
            return false;
        }
    }
    long long clen;
    int st = read_head(c, &clen);
    if (st < 0 || !read_small_body(c, clen)) {
        return false;
    }
    const char *b = c->buf + c->start;
    char got_n[32] = "", got_h[32] = "", want_n[32], want_h[32];
    header(b, b + clen, "body-bytes", got_n, sizeof(got_n));
    header(b, b + clen, "body-fnv1a64", got_h, sizeof(got_h));
    snprintf(want_n, sizeof(want_n), "%llu", total);
    snprintf(want_h, sizeof(want_h), "%016" PRIx64, h);
    c->start += (size_t)clen;
    if (st != 200 || strcmp(got_n, want_n) != 0 || strcmp(got_h, want_h) != 0) {
        c->corrupt = st == 200;
        fail(c, "upload %ld: status %d, backend got %s bytes fnv %s, sent %s bytes fnv %s", i, st,
             got_n, got_h, want_n, want_h);
        return false;
    }
    return true;
}

/* GET /size/N: checks the length and every byte of the pattern. */
static bool do_download(struct client *c, long i)
{
    char req[512];
    unsigned long long total = c->o->download;
    int n = snprintf(req, sizeof(req), "GET /size/%llu?tag=%s&i=%ld HTTP/1.1\r\nHost: %s\r\n\r\n",
                     total, c->o->tag, i, c->o->sni);
    long long clen;
    if (!send_all(c, req, (size_t)n)) {
        return false;
    }
    int st = read_head(c, &clen);
    if (st != 200 || clen != (long long)total) {
        fail(c, "download %ld: status %d, Content-Length %lld, want %llu", i, st, clen, total);
        return false;
    }
    unsigned long long off = 0;
    while (off < total) {
        if (c->start == c->len && !fill(c)) {
            fail(c, "download %ld: ended after %llu of %llu bytes", i, off, total);
            return false;
        }
        for (; c->start < c->len && off < total; c->start++, off++) {
            if (c->buf[c->start] != (char)('a' + off % 26)) {
                c->corrupt = true;
                fail(c, "download %ld: byte %llu is 0x%02x, want '%c'", i, off,
                     (unsigned char)c->buf[c->start], (char)('a' + off % 26));
                return false;
            }
        }
    }
    return true;
}

static int tcp_connect(const struct opts *o, int *port_out)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(o->host, o->port, &hints, &ai) != 0) {
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd != -1 && connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd != -1) {
        struct timeval tv = {.tv_sec = o->timeout_ms / 1000,
                             .tv_usec = o->timeout_ms % 1000 * 1000};
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        getsockname(fd, (struct sockaddr *)&ss, &sl);
        *port_out = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    return fd;
}

static SSL_CTX *make_ctx(const struct opts *o)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    int v = o->version == 12 ? TLS1_2_VERSION : TLS1_3_VERSION;
    if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, v) ||
        !SSL_CTX_set_max_proto_version(ctx, v)) {
        return NULL;
    }
    if (o->ktls) {
        SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
    }
    if (o->ca != NULL) {
        if (SSL_CTX_load_verify_locations(ctx, o->ca, NULL) != 1) {
            return NULL;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    if (o->cert != NULL &&
        (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1 ||
         SSL_CTX_use_PrivateKey_file(ctx, o->key ? o->key : o->cert, SSL_FILETYPE_PEM) != 1)) {
        return NULL;
    }
    SSL_CTX_set_info_callback(ctx, info_cb);
    return ctx;
}

/* Sends a KeyUpdate (not requesting one back). Returns false if it could not be sent. */
static bool key_update(struct client *c)
{
    errno = 0;
    if (SSL_key_update(c->ssl, SSL_KEY_UPDATE_NOT_REQUESTED) != 1) {
        fail(c, "SSL_key_update refused");
        return false;
    }
    int r = SSL_do_handshake(c->ssl);
    if (r != 1) {
        classify(c, r, "key_update");
        return false;
    }
    /* A server that closes on KeyUpdate does so at once: read its close before writing, so a
     * write into a closed socket does not hide the close_notify. */
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    if (poll(&p, 1, 1000) == 1 && c->start == c->len) {
        fill(c);
    }
    return true;
}

/* Starts a TLS 1.2 renegotiation (a ClientHello inside the connection), which a server that
 * refuses it answers with an alert. Returns "alert" (c->alert names it), "accepted",
 * "refused" (the client would not send it) or how the connection ended otherwise. */
static const char *renegotiate(struct client *c)
{
    if (SSL_renegotiate(c->ssl) != 1) {
        return "refused";
    }
    errno = 0;
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        return "accepted";
    }
    classify(c, r, "renegotiate");
    return end_names[c->end];
}

/* Sends close_notify and waits for the server's. Returns "notify", "eof", ... */
static const char *close_tls(struct client *c)
{
    if (c->end != END_NONE) {
        return "already-closed";
    }
    int r = SSL_shutdown(c->ssl);
    if (r == 1) {
        return "notify";
    }
    if (r < 0) {
        classify(c, r, "shutdown");
        return end_names[c->end];
    }
    /* Application data still in flight is an error here: every response was read. */
    char b[256];
    errno = 0;
    r = SSL_read(c->ssl, b, sizeof(b));
    if (r > 0) {
        fail(c, "shutdown: %d bytes of data after the last response", r);
        return "data";
    }
    classify(c, r, "shutdown");
    return end_names[c->end];
}

static bool run_request(struct client *c, long i)
{
    if (c->o->upload > 0 && !do_upload(c, i)) {
        return false;
    }
    if (c->o->download > 0 && !do_download(c, i)) {
        return false;
    }
    if (c->o->upload == 0 && c->o->download == 0 && !do_plain(c, i)) {
        return false;
    }
    c->done++;
    return true;
}

/* Runs the requests; returns the KeyUpdate outcome ("-" if none was asked for). A
 * renegotiation (--renegotiate-after) ends them; its outcome goes to *reneg. */
static const char *run_requests(struct client *c, const char **reneg)
{
    const char *ku = "-";
    long after = c->o->key_update_after;
    for (long i = 0; i < c->o->requests; i++) {
        if (c->o->renegotiate_after > 0 && i == c->o->renegotiate_after) {
            *reneg = renegotiate(c);
            break;
        }
        if (after > 0 && i == after) {
            ku = key_update(c) ? "sent" : "send-failed";
        }
        if (!run_request(c, i)) {
            break;
        }
    }
    if (after > 0 && strcmp(ku, "sent") == 0) {
        if (c->corrupt) {
            ku = "corrupt";
        } else if (c->done == c->o->requests) {
            ku = "continued";
        } else if (c->done == after && c->end == END_NOTIFY) {
            ku = "closed_notify";
        } else if (c->done == after) {
            ku = c->end == END_EOF ? "closed_eof" : c->end == END_ALERT ? "closed_alert" : "failed";
        } else {
            ku = "failed";
        }
    }
    return ku;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: ktls_client --connect HOST:PORT --tls 1.2|1.3 [--sni NAME] [--ca FILE]\n"
               "  [--cert CHAIN --key KEY] [--requests N] [--upload BYTES] [--download BYTES]\n"
               "  [--key-update-after K] [--shutdown] [--tag TAG] [--timeout-ms MS] [--ktls]\n"
               "  [--path P] [--headers-out FILE] [--renegotiate-after K (TLS 1.2)]\n"
               "Prints one line: result=ok|fail version cipher local_port requests_done verify\n"
               "keyupdate=-|continued|closed_notify|closed_eof|closed_alert|corrupt|failed\n"
               "close=-|notify|eof|reset|alert|... reneg=-|alert|accepted|... end alert\n"
               "corrupt detail. With --renegotiate-after K, result=ok means K requests were\n"
               "served and the renegotiation was answered with an alert.\n");
}

/* Command-line options: each sets one field of struct opts, by kind. */
enum opt_kind { OK_STR, OK_LONG, OK_ULL, OK_FLAG };
static const struct opt_def {
    const char *name;
    enum opt_kind kind;
    size_t off;
} opt_defs[] = {
    {"connect", OK_STR, offsetof(struct opts, connect)},
    {"tls", OK_STR, offsetof(struct opts, tls)},
    {"sni", OK_STR, offsetof(struct opts, sni)},
    {"ca", OK_STR, offsetof(struct opts, ca)},
    {"cert", OK_STR, offsetof(struct opts, cert)},
    {"key", OK_STR, offsetof(struct opts, key)},
    {"tag", OK_STR, offsetof(struct opts, tag)},
    {"path", OK_STR, offsetof(struct opts, path)},
    {"headers-out", OK_STR, offsetof(struct opts, headers_out)},
    {"renegotiate-after", OK_LONG, offsetof(struct opts, renegotiate_after)},
    {"requests", OK_LONG, offsetof(struct opts, requests)},
    {"key-update-after", OK_LONG, offsetof(struct opts, key_update_after)},
    {"timeout-ms", OK_LONG, offsetof(struct opts, timeout_ms)},
    {"upload", OK_ULL, offsetof(struct opts, upload)},
    {"download", OK_ULL, offsetof(struct opts, download)},
    {"shutdown", OK_FLAG, offsetof(struct opts, shutdown)},
    {"ktls", OK_FLAG, offsetof(struct opts, ktls)},
};
#define N_OPTS (sizeof(opt_defs) / sizeof(opt_defs[0]))

static int parse_opts(int argc, char **argv, struct opts *o)
{
    struct option lo[N_OPTS + 2] = {{"help", 0, 0, 'h'}};
    for (size_t i = 0; i < N_OPTS; i++) {
        lo[i + 1] = (struct option){opt_defs[i].name, opt_defs[i].kind != OK_FLAG, 0, (int)i};
    }
    int opt;
    while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        if (opt == 'h') {
            usage(stdout);
            exit(0);
        }
        if (opt < 0 || (size_t)opt >= N_OPTS) {
            return -1;
        }
        char *field = (char *)o + opt_defs[opt].off;
        switch (opt_defs[opt].kind) {
        case OK_STR:
            *(const char **)(void *)field = optarg;
            break;
        case OK_LONG:
            *(long *)(void *)field = atol(optarg);
            break;
        case OK_ULL:
            *(unsigned long long *)(void *)field = strtoull(optarg, NULL, 10);
            break;
        case OK_FLAG:
            *(bool *)field = true;
            break;
        }
    }
    static char host[256];
    const char *colon = o->connect ? strrchr(o->connect, ':') : NULL;
    if (colon == NULL || (size_t)(colon - o->connect) >= sizeof(host) || o->tls == NULL) {
        return -1;
    }
    memcpy(host, o->connect, (size_t)(colon - o->connect));
    o->host = host;
    o->port = colon + 1;
    o->version = strcmp(o->tls, "1.2") == 0 ? 12 : strcmp(o->tls, "1.3") == 0 ? 13 : 0;
    bool ku_ok =
        o->key_update_after == 0 || (o->version == 13 && o->key_update_after < o->requests);
    bool rn_ok = o->renegotiate_after == 0 ||
                 (o->version == 12 && o->renegotiate_after < o->requests && o->shutdown == false);
    return o->version == 0 || o->requests < 1 || !ku_ok || !rn_ok ? -1 : 0;
}

int main(int argc, char **argv)
{
    struct opts o = {
        .sni = "api.example.com", .tag = "-", .path = "/hello", .requests = 1, .timeout_ms = 10000};
    if (parse_opts(argc, argv, &o) != 0) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    static struct client c;
    c.o = &o;
    int port = 0;
    c.fd = tcp_connect(&o, &port);
    c.ctx = c.fd == -1 ? NULL : make_ctx(&o);
    if (c.ctx == NULL) {
        printf("result=fail detail=\"setup: %s\"\n", c.fd == -1 ? strerror(errno) : "SSL_CTX");
        ERR_print_errors_fp(stderr);
        return 1;
    }
    c.ssl = SSL_new(c.ctx);
    SSL_set_app_data(c.ssl, &c);
    SSL_set_fd(c.ssl, c.fd);
    SSL_set_tlsext_host_name(c.ssl, o.sni);
    errno = 0;
    int r = SSL_connect(c.ssl);
    const char *ku = "-", *cl = "-", *rn = "-";
    if (r != 1) {
        classify(&c, r, "handshake");
    } else {
        ku = run_requests(&c, &rn);
        if (o.shutdown) {
            cl = close_tls(&c);
        }
    }
    bool ok = r == 1 && !c.corrupt && (c.done == o.requests || strcmp(ku, "closed_notify") == 0) &&
              (!o.shutdown || strcmp(cl, "notify") == 0);
    if (o.renegotiate_after > 0) {
        ok = r == 1 && !c.corrupt && c.done == o.renegotiate_after && strcmp(rn, "alert") == 0;
    }
    printf("result=%s version=%s cipher=%s local_port=%d requests_done=%ld verify=%s "
           "keyupdate=%s close=%s reneg=%s end=%s alert=%s client_ktls_tx=%d client_ktls_rx=%d "
           "corrupt=%d detail=\"%s\"\n",
           ok ? "ok" : "fail", SSL_get_version(c.ssl), SSL_get_cipher_name(c.ssl), port, c.done,
           c.verify[0] ? c.verify : "-", ku, cl, rn, end_names[c.end], c.alert[0] ? c.alert : "-",
           (int)BIO_get_ktls_send(SSL_get_wbio(c.ssl)), (int)BIO_get_ktls_recv(SSL_get_rbio(c.ssl)),
           c.corrupt, c.detail);
    SSL_free(c.ssl);
    SSL_CTX_free(c.ctx);
    close(c.fd);
    return ok ? 0 : 1;
}
