/* h2c: the HTTP/2 test client of the integration tests. One TLS connection (ALPN h2) driven by
 * an nghttp2 client session in memory-API style over a non-blocking socket and poll. Opens the
 * streams described on the command line, optionally resets some of them part-way, and prints
 * one line per stream and per connection event (see usage()). Test tool: no mtlb code. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "h2c.h"

#define OUT_HIGH (256 * 1024)
#define BODY_PRINT_MAX (256 * 1024)

static struct h2c_opts opts;
static struct h2c_stream *streams;
static size_t n_streams;
static nghttp2_session *session;
static int next_group;  /* groups below this one have been submitted */
static double group_at; /* when next_group may open (its delay), 0 before it is ready */
static bool goaway_seen, peer_closed, conn_broken, settings_seen;
static char broken_why[256];

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 0x100000001b3ULL;
    }
    return h;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sb_reserve(struct h2c_sb *sb, size_t n)
{
    if (sb->len + n + 1 > sb->cap) {
        sb->cap = (sb->len + n + 1) * 2;
        sb->p = realloc(sb->p, sb->cap);
        if (sb->p == NULL) {
            abort();
        }
    }
}

/* Appends raw bytes (may contain NULs); keeps a NUL after them for printing. */
static void sb_mem(struct h2c_sb *sb, const void *p, size_t n)
{
    sb_reserve(sb, n);
    memcpy(sb->p + sb->len, p, n);
    sb->len += n;
    sb->p[sb->len] = '\0';
}

static void sb_add(struct h2c_sb *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct h2c_sb *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    sb_reserve(sb, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(sb->p + sb->len, sb->cap - sb->len, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

static struct h2c_stream *find_stream(int32_t id)
{
    for (size_t i = 0; i < n_streams; i++) {
        if (streams[i].id == id) {
            return &streams[i];
        }
    }
    return NULL;
}

static bool show_header(const uint8_t *name, size_t len)
{
    if (opts.all_headers) {
        return true;
    }
    for (size_t i = 0; i < opts.n_show; i++) {
        if (strlen(opts.show[i]) == len &&
            strncasecmp(opts.show[i], (const char *)name, len) == 0) {
            return true;
        }
    }
    return false;
}

/* ---- output ---- */

static void print_stream(struct h2c_stream *s, const char *state)
{
    char reset[48] = "-";
    if (s->reset_by_peer || s->reset_sent || s->error != 0) {
        snprintf(reset, sizeof(reset), "%s/%s", nghttp2_http2_strerror(s->error),
                 s->reset_by_peer ? "peer" : (s->reset_sent ? "local" : "conn"));
    }
    printf("stream %d status=%d bytes=%" PRIu64 " fnv=%016" PRIx64 " sent=%" PRIu64
           " trailers=%d reset=%s state=%s path=%s\n",
           s->id, s->status, s->rbytes, s->fnv, s->sent, s->n_trailers, reset, state, s->sp->path);
    if (s->lines.len > 0) {
        fputs(s->lines.p, stdout);
    }
    if (opts.print_body && s->body.len > 0) {
        char *line = s->body.p;
        while (line != NULL && *line != '\0') {
            char *nl = strchr(line, '\n');
            int n = nl ? (int)(nl - line) : (int)strlen(line);
            if (n > 0 && line[n - 1] == '\r') {
                n--;
            }
            printf("body %d| %.*s\n", s->id, n, line);
            line = nl ? nl + 1 : NULL;
        }
    }
    fflush(stdout);
}

static void print_settings(const nghttp2_settings *f)
{
    static const char *const names[] = {"",
                                        "header_table_size",
                                        "enable_push",
                                        "max_concurrent_streams",
                                        "initial_window_size",
                                        "max_frame_size",
                                        "max_header_list_size"};
    printf("settings");
    for (size_t i = 0; i < f->niv; i++) {
        int32_t id = f->iv[i].settings_id;
        if (id >= 1 && id <= 6) {
            printf(" %s=%u", names[id], f->iv[i].value);
        } else {
            printf(" id%d=%u", id, f->iv[i].value);
        }
    }
    printf("\n");
    fflush(stdout);
}

/* ---- nghttp2 callbacks ---- */

/* H2C_TRACE=1 in the environment: every frame on stderr. */
static void trace(const char *dir, const nghttp2_frame *f)
{
    static int on = -1;
    if (on == -1) {
        on = getenv("H2C_TRACE") != NULL;
    }
    if (on) {
        fprintf(stderr, "%.3f %s type=%u stream=%d len=%zu flags=0x%x\n", now_ms() / 1e3, dir,
                f->hd.type, f->hd.stream_id, f->hd.length, f->hd.flags);
    }
}

static int on_frame_recv(nghttp2_session *ss, const nghttp2_frame *f, void *ud)
{
    (void)ss;
    (void)ud;
    trace("recv", f);
    struct h2c_stream *s = find_stream(f->hd.stream_id);
    if (f->hd.type == NGHTTP2_SETTINGS && !(f->hd.flags & NGHTTP2_FLAG_ACK)) {
        settings_seen = true;
        print_settings(&f->settings);
    } else if (f->hd.type == NGHTTP2_GOAWAY) {
        goaway_seen = true;
        printf("goaway last_stream_id=%d error=%s(0x%x)\n", f->goaway.last_stream_id,
               nghttp2_http2_strerror(f->goaway.error_code), f->goaway.error_code);
        fflush(stdout);
    } else if (f->hd.type == NGHTTP2_RST_STREAM && s != NULL) {
        s->reset_by_peer = true;
    }
    return 0;
}

static int on_frame_send(nghttp2_session *ss, const nghttp2_frame *f, void *ud)
{
    (void)ss;
    (void)ud;
    trace("send", f);
    struct h2c_stream *s = find_stream(f->hd.stream_id);
    if (f->hd.type == NGHTTP2_HEADERS && s != NULL && !s->opened) {
        s->opened = true;
        printf("open %d path=%s\n", s->id, s->sp->path);
        fflush(stdout);
    }
    return 0;
}

static int on_begin_headers(nghttp2_session *ss, const nghttp2_frame *f, void *ud)
{
    (void)ss;
    (void)ud;
    struct h2c_stream *s = find_stream(f->hd.stream_id);
    if (s != NULL && s->status >= 200) {
        s->in_trailers = true;
    }
    return 0;
}

static int on_header(nghttp2_session *ss, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    (void)ss;
    (void)flags;
    (void)ud;
    struct h2c_stream *s = find_stream(f->hd.stream_id);
    if (s == NULL) {
        return 0;
    }
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        s->status = atoi((const char *)value);
    }
    if (s->in_trailers) {
        s->n_trailers++;
        sb_add(&s->lines, "trailer %d %.*s: %.*s\n", s->id, (int)namelen, name, (int)valuelen,
               value);
    } else if (show_header(name, namelen)) {
        sb_add(&s->lines, "header %d %.*s: %.*s\n", s->id, (int)namelen, name, (int)valuelen,
               value);
    }
    return 0;
}

static int on_data(nghttp2_session *ss, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                   void *ud)
{
    (void)ss;
    (void)flags;
    (void)ud;
    struct h2c_stream *s = find_stream(id);
    if (s == NULL) {
        return 0;
    }
    s->rbytes += len;
    s->fnv = fnv1a(s->fnv, data, len);
    if (opts.print_body && s->body.len < BODY_PRINT_MAX) {
        sb_mem(&s->body, data, len);
    }
    if (s->sp->reset_recv >= 0 && s->rbytes >= (uint64_t)s->sp->reset_recv) {
        s->want_reset = true;
    }
    return 0;
}

static int on_stream_close(nghttp2_session *ss, int32_t id, uint32_t error, void *ud)
{
    (void)ss;
    (void)ud;
    struct h2c_stream *s = find_stream(id);
    if (s == NULL || s->closed) {
        return 0;
    }
    s->closed = true;
    s->error = error;
    print_stream(s, "closed");
    return 0;
}

/* Request body: byte i is 'a' + i % 26; trailers (if any) go after the last byte. */
static ssize_t read_body(nghttp2_session *ss, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *ud)
{
    (void)src;
    (void)ud;
    struct h2c_stream *s = find_stream(id);
    if (s == NULL) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    uint64_t limit = s->sp->body;
    if (s->sp->reset_send >= 0 && (uint64_t)s->sp->reset_send < limit) {
        limit = (uint64_t)s->sp->reset_send;
    }
    if (s->sp->stall_send >= 0 && s->sent >= (uint64_t)s->sp->stall_send) {
        return NGHTTP2_ERR_DEFERRED; /* a client that stops sending mid-body */
    }
    if (s->sent >= limit && limit < s->sp->body) {
        s->want_reset = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    size_t n = limit - s->sent < len ? (size_t)(limit - s->sent) : len;
    for (size_t i = 0; i < n; i++) {
        buf[i] = (uint8_t)('a' + (s->sent + i) % 26);
    }
    s->sent += n;
    if (s->sent == s->sp->body) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (s->sp->n_trailers > 0) {
            nghttp2_nv nv[H2C_MAX_HDRS];
            for (size_t i = 0; i < s->sp->n_trailers; i++) {
                nv[i] = s->sp->trailers[i];
            }
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            nghttp2_submit_trailer(ss, id, nv, s->sp->n_trailers);
        }
    }
    return (ssize_t)n;
}

/* ---- streams ---- */

static nghttp2_nv make_nv(const char *name, const char *value)
{
    nghttp2_nv nv = {(uint8_t *)name, (uint8_t *)value, strlen(name), strlen(value),
                     NGHTTP2_NV_FLAG_NONE};
    return nv;
}

static int submit_stream(struct h2c_stream *s)
{
    const struct h2c_spec *sp = s->sp;
    nghttp2_nv nv[H2C_MAX_HDRS + 8];
    size_t n = 0;
    bool with_body = sp->body > 0 || sp->n_trailers > 0;
    const char *method = sp->method ? sp->method : (with_body ? "POST" : "GET");
    nv[n++] = make_nv(":method", method);
    nv[n++] = make_nv(":scheme", "https");
    if (!sp->no_authority) {
        nv[n++] = make_nv(":authority", sp->authority ? sp->authority : opts.authority);
    }
    nv[n++] = make_nv(":path", sp->path);
    if (with_body && !sp->no_cl) {
        snprintf(s->cl, sizeof(s->cl), "%" PRIu64, sp->body);
        nv[n++] = make_nv("content-length", s->cl);
    }
    if (sp->n_trailers > 0) {
        nv[n++] = make_nv("te", "trailers");
    }
    for (size_t i = 0; i < sp->n_hdrs; i++) {
        nv[n++] = sp->hdrs[i];
    }
    if (sp->big_header > 0) {
        nv[n++] = make_nv("x-big", sp->big_value);
    }
    nghttp2_data_provider dp = {.read_callback = read_body};
    int32_t id = nghttp2_submit_request(session, NULL, nv, n, with_body ? &dp : NULL, s);
    if (id < 0) {
        printf("submit failed path=%s: %s\n", sp->path, nghttp2_strerror(id));
        s->closed = true;
        return -1;
    }
    s->id = id;
    return 0;
}

/* Submits the next group once every stream of the earlier groups has closed. */
static bool submit_ready(void)
{
    bool submitted = false;
    for (;;) {
        bool any = false, earlier_open = false;
        for (size_t i = 0; i < n_streams; i++) {
            if (streams[i].group < next_group && !streams[i].closed) {
                earlier_open = true;
            }
            any |= streams[i].group == next_group;
        }
        /* Streams wait for the server's SETTINGS, so they respect its stream limit. */
        if (!any || earlier_open || goaway_seen || !settings_seen) {
            return submitted;
        }
        if (group_at == 0) {
            uint64_t delay = 0;
            for (size_t i = 0; i < n_streams; i++) {
                if (streams[i].group == next_group && streams[i].sp->delay_ms > delay) {
                    delay = streams[i].sp->delay_ms;
                }
            }
            group_at = now_ms() + (double)delay;
        }
        if (now_ms() < group_at) {
            return submitted; /* run() wakes up at group_at */
        }
        for (size_t i = 0; i < n_streams; i++) {
            if (streams[i].group == next_group) {
                submit_stream(&streams[i]);
            }
        }
        submitted = true;
        next_group++;
        group_at = 0;
    }
}

static void process_resets(void)
{
    for (size_t i = 0; i < n_streams; i++) {
        struct h2c_stream *s = &streams[i];
        if (s->want_reset && !s->reset_sent && !s->closed && s->id > 0) {
            s->reset_sent = true;
            nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
        }
    }
}

static bool all_closed(void)
{
    for (size_t i = 0; i < n_streams; i++) {
        if (!streams[i].closed) {
            return false;
        }
    }
    return true;
}

/* ---- connection ---- */

static void broken(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void broken(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(broken_why, sizeof(broken_why), fmt, ap);
    va_end(ap);
    conn_broken = true;
}

/* Moves nghttp2 output into out and out to the socket. false when the connection is gone. */
/* Moves the session's output into out (up to OUT_HIGH pending) without writing it. */
static bool fill_out(struct h2c_sb *out, size_t out_off)
{
    while (out->len - out_off < OUT_HIGH) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(session, &data);
        if (n < 0) {
            broken("nghttp2_session_mem_send: %s", nghttp2_strerror((int)n));
            return false;
        }
        if (n == 0) {
            break;
        }
        sb_mem(out, data, (size_t)n);
    }
    return true;
}

static bool pump_out(SSL *ssl, struct h2c_sb *out, size_t *out_off)
{
    for (;;) {
        if (!fill_out(out, *out_off)) {
            return false;
        }
        if (*out_off == out->len) {
            out->len = *out_off = 0;
            return true;
        }
        int w = SSL_write(ssl, out->p + *out_off, (int)(out->len - *out_off));
        if (w <= 0) {
            int e = SSL_get_error(ssl, w);
            if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
                return true;
            }
            broken("SSL_write failed (ssl error %d, %s)", e, strerror(errno));
            return false;
        }
        *out_off += (size_t)w;
    }
}

/* Reads everything available into the session. false on EOF or error. */
static bool pump_in(SSL *ssl)
{
    uint8_t buf[64 * 1024];
    for (;;) {
        int r = SSL_read(ssl, buf, sizeof(buf));
        if (r <= 0) {
            int e = SSL_get_error(ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                return true;
            }
            peer_closed = true;
            if (e != SSL_ERROR_ZERO_RETURN && e != SSL_ERROR_SYSCALL) {
                broken("SSL_read failed (ssl error %d)", e);
            }
            return false;
        }
        ssize_t n = nghttp2_session_mem_recv(session, buf, (size_t)r);
        if (n < 0) {
            broken("nghttp2_session_mem_recv: %s", nghttp2_strerror((int)n));
            return false;
        }
    }
}

/* The rapid-reset attack: HEADERS then RST_STREAM, count times, as fast as the socket takes. */
static void rapid_reset(SSL *ssl, struct h2c_sb *out, size_t *out_off, struct pollfd *pfd)
{
    static const struct h2c_spec rr = {
        .path = "/", .reset_recv = -1, .reset_send = -1, .stall_send = -1};
    long done = 0;
    while (done < opts.rapid_reset && !goaway_seen && !peer_closed && !conn_broken) {
        nghttp2_nv nv[4] = {make_nv(":method", "GET"), make_nv(":scheme", "https"),
                            make_nv(":authority", opts.authority), make_nv(":path", rr.path)};
        int32_t id = nghttp2_submit_request(session, NULL, nv, 4, NULL, NULL);
        if (id < 0) {
            break;
        }
        /* HEADERS must be on the wire (in out) before RST_STREAM is queued, or nghttp2 simply
         * drops the request. With --rapid-reset-batch the pairs collect in out and go in one
         * write (one TLS record), as a real attacker sends them. */
        bool flush = opts.rapid_reset_batch <= 1 || (done + 1) % opts.rapid_reset_batch == 0 ||
                     done + 1 == opts.rapid_reset;
        if (!(flush ? pump_out(ssl, out, out_off) : fill_out(out, *out_off))) {
            break;
        }
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
        done++;
        if (!(flush ? pump_out(ssl, out, out_off) : fill_out(out, *out_off))) {
            break;
        }
        if (poll(pfd, 1, 0) > 0 && (pfd->revents & (POLLIN | POLLHUP | POLLERR))) {
            pump_in(ssl);
        }
    }
    printf("rapid-reset sent=%ld\n", done);
    fflush(stdout);
}

/* Writes one frame, reading what comes meanwhile; false once mtlb said GOAWAY or closed. */
static bool write_frame(SSL *ssl, const uint8_t *f, int len, struct pollfd *pfd)
{
    while (!goaway_seen && !peer_closed && !conn_broken) {
        int w = SSL_write(ssl, f, len);
        if (w == len) {
            return true;
        }
        int e = SSL_get_error(ssl, w);
        if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) {
            return false;
        }
        pfd->events = POLLIN | POLLOUT;
        if (poll(pfd, 1, 100) > 0 && (pfd->revents & (POLLIN | POLLHUP | POLLERR))) {
            pump_in(ssl);
        }
    }
    return false;
}

/* The CONTINUATION flood (CVE-2024-27316 and kin): HEADERS on stream 1 without END_HEADERS,
 * then CONTINUATION frames of one 1,000-byte field each, never ending the header block. */
static void continuation_flood(SSL *ssl, struct h2c_sb *out, size_t *out_off, struct pollfd *pfd)
{
    static const uint8_t head[] = {0,    0,    14,  1,   0x1, 0,   0,   0,   1,   0x82, 0x87, 0x84,
                                   0x01, 0x09, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's',  't',  '\0'};
    uint8_t f[9 + 1010] = {
        0x00, 0x03, 0xf2, 9,   0,   0,    0,    0,   1, 0x00,
        0x05, 'x',  'p',  'a', 'd', 0x7f, 0xe9, 0x06}; /* "xpad": 1000 bytes (7-bit prefix 127 +
                                                          873) */
    long done = 0;
    memset(f + 18, 'a', sizeof(f) - 18);
    if (pump_out(ssl, out, out_off) && write_frame(ssl, head, sizeof(head) - 1, pfd)) {
        while (done < opts.continuation_flood && write_frame(ssl, f, (int)sizeof(f), pfd)) {
            done++;
            pfd->events = POLLIN;
            if (poll(pfd, 1, 0) > 0 && (pfd->revents & (POLLIN | POLLHUP | POLLERR))) {
                pump_in(ssl);
            }
        }
    }
    printf("continuation-flood sent=%ld\n", done);
    fflush(stdout);
}

static int tcp_connect(void)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", opts.port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(opts.host, port, &hints, &ai) != 0) {
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd != -1 && connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd != -1) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct timeval tv = {.tv_sec = opts.timeout_ms / 1000,
                             .tv_usec = (opts.timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    return fd;
}

/* --proxy-header: the hex bytes, sent in one write before the handshake. */
static bool send_proxy_header(int fd)
{
    unsigned char b[2048];
    size_t n = 0;
    for (const char *p = opts.proxy_hex; p != NULL && p[0] != '\0' && p[1] != '\0'; p += 2) {
        unsigned v = 0;
        if (n == sizeof(b) || sscanf(p, "%2x", &v) != 1) {
            return false;
        }
        b[n++] = (unsigned char)v;
    }
    return n == 0 || send(fd, b, n, MSG_NOSIGNAL) == (ssize_t)n;
}

static SSL *tls_connect(int fd, SSL_CTX **ctxp)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    *ctxp = ctx;
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
    static const unsigned char h2[] = "\x02h2";
    static const unsigned char h2_h1[] = "\x02h2\x08http/1.1";
    if (opts.tls12) {
        SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    }
    if (opts.offer_h1) {
        SSL_CTX_set_alpn_protos(ctx, h2_h1, sizeof(h2_h1) - 1);
    } else {
        SSL_CTX_set_alpn_protos(ctx, h2, sizeof(h2) - 1);
    }
    if (opts.cert != NULL && (SSL_CTX_use_certificate_chain_file(ctx, opts.cert) != 1 ||
                              SSL_CTX_use_PrivateKey_file(ctx, opts.key, SSL_FILETYPE_PEM) != 1)) {
        fprintf(stderr, "h2c: cannot load %s / %s\n", opts.cert, opts.key);
        exit(2);
    }
    SSL *ssl = SSL_new(ctx);
    if (opts.sni != NULL) {
        SSL_set_tlsext_host_name(ssl, opts.sni);
    }
    BIO *saved = opts.session != NULL ? BIO_new_file(opts.session, "r") : NULL;
    if (saved != NULL) {
        SSL_SESSION *sess = PEM_read_bio_SSL_SESSION(saved, NULL, NULL, NULL);
        if (sess == NULL || SSL_set_session(ssl, sess) != 1) {
            fprintf(stderr, "h2c: %s holds no usable TLS session\n", opts.session);
            exit(2);
        }
        SSL_SESSION_free(sess);
        BIO_free(saved);
    }
    ERR_clear_error();
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
        unsigned long e = ERR_peek_last_error();
        printf("handshake failed: %s\n", e ? ERR_reason_error_string(e) : "connection closed");
        return NULL;
    }
    /* TLS 1.3 reports a refused client certificate only with the first read. */
    return ssl;
}

static bool handshake_and_alpn(SSL *ssl)
{
    const unsigned char *alpn;
    unsigned int alpn_len;
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
    printf("connected alpn=%.*s tls=%s resumed=%d\n", alpn_len ? (int)alpn_len : 1,
           alpn_len ? (const char *)alpn : "-", SSL_get_version(ssl), SSL_session_reused(ssl));
    fflush(stdout);
    return alpn_len == 2 && memcmp(alpn, "h2", 2) == 0;
}

static void session_open(void)
{
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_client_new(&session, cb, NULL);
    nghttp2_session_callbacks_del(cb);
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                   {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, opts.window}};
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, iv, 2);
    nghttp2_session_set_local_window_size(session, NGHTTP2_FLAG_NONE, 0, 1 << 30);
}

/* Runs the session until it is done, the peer closes, or the deadline. 0, 3 (timeout), 4. */
static int run(SSL *ssl, int fd)
{
    struct h2c_sb out = {0};
    size_t out_off = 0;
    struct pollfd pfd = {.fd = fd};
    double deadline = now_ms() + opts.timeout_ms, linger_until = 0;
    if (opts.rapid_reset > 0) {
        rapid_reset(ssl, &out, &out_off, &pfd);
    }
    if (opts.continuation_flood > 0) {
        continuation_flood(ssl, &out, &out_off, &pfd);
    }
    int rc = 0;
    while (!conn_broken && !peer_closed) {
        submit_ready();
        process_resets();
        if (!pump_out(ssl, &out, &out_off)) {
            break;
        }
        if (submit_ready()) {
            continue; /* sending closed the last stream of a group (RST_STREAM) */
        }
        bool done = all_closed() && out.len == out_off;
        if (done && linger_until == 0) {
            linger_until = now_ms() + opts.linger_ms;
        }
        if (done && (now_ms() >= linger_until || !nghttp2_session_want_read(session))) {
            break;
        }
        double t = now_ms();
        if (t >= deadline) {
            rc = 3;
            break;
        }
        double until = done && linger_until < deadline ? linger_until : deadline;
        until = group_at > t && group_at < until ? group_at : until;
        pfd.events = (short)(POLLIN | (out.len > out_off ? POLLOUT : 0));
        if (SSL_pending(ssl) == 0 && poll(&pfd, 1, (int)(until - t) + 1) == 0) {
            continue;
        }
        pump_in(ssl);
    }
    free(out.p);
    return rc;
}

/* After a failed write the server may still have sent a GOAWAY (the usual way it ends a
 * connection it is closing): read what is left for a moment so it is reported. */
static void drain_after_error(SSL *ssl, int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    double until = now_ms() + 1000;
    ERR_clear_error();
    while (!peer_closed && now_ms() < until && poll(&pfd, 1, 100) >= 0) {
        if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) && !pump_in(ssl)) {
            break;
        }
    }
}

static int finish(int rc)
{
    size_t closed = 0, ok = 0, reset = 0;
    for (size_t i = 0; i < n_streams; i++) {
        struct h2c_stream *s = &streams[i];
        if (!s->closed) {
            print_stream(s, s->id > 0 ? "open" : "unsent");
            continue;
        }
        closed++;
        ok += s->error == 0 && !s->reset_sent && !s->reset_by_peer;
        reset += s->error != 0 || s->reset_sent || s->reset_by_peer;
    }
    if (rc == 0 && conn_broken && !goaway_seen) {
        rc = 4;
    }
    if (rc == 0 && peer_closed && !goaway_seen && closed < n_streams) {
        rc = 4;
        snprintf(broken_why, sizeof(broken_why), "peer closed without GOAWAY");
    }
    if (conn_broken || rc == 4) {
        printf("error %s\n", broken_why);
    }
    printf("end streams=%zu closed=%zu ok=%zu reset=%zu goaway=%d peer_closed=%d timeout=%d "
           "exit=%d\n",
           n_streams, closed, ok, reset, goaway_seen, peer_closed, rc == 3, rc);
    fflush(stdout);
    return rc;
}

/* --session: the session as it stands after the run (TLS 1.3 tickets follow the handshake). */
static void save_session(SSL *ssl)
{
    SSL_SESSION *sess = SSL_get1_session(ssl);
    BIO *out = opts.session != NULL && sess != NULL ? BIO_new_file(opts.session, "w") : NULL;

    if (out != NULL) {
        PEM_write_bio_SSL_SESSION(out, sess);
        BIO_free(out);
    }
    SSL_SESSION_free(sess);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (h2c_parse_args(argc, argv, &opts, &streams, &n_streams) != 0) {
        return 2;
    }
    int fd = tcp_connect();
    if (fd == -1 || !send_proxy_header(fd)) {
        printf("connect failed: %s\n", strerror(errno));
        return 1;
    }
    SSL_CTX *ctx;
    SSL *ssl = tls_connect(fd, &ctx);
    if (ssl == NULL || !handshake_and_alpn(ssl)) {
        if (ssl != NULL) {
            printf("no h2: server did not select h2\n");
        }
        return 1;
    }
    SSL_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    session_open();
    int rc = run(ssl, fd);
    if (conn_broken && !peer_closed) {
        drain_after_error(ssl, fd);
    }
    rc = finish(rc);
    save_session(ssl);
    if (!peer_closed && !conn_broken) {
        nghttp2_session_terminate_session(session, NGHTTP2_NO_ERROR);
        struct h2c_sb out = {0};
        size_t off = 0;
        pump_out(ssl, &out, &off);
        free(out.p);
        SSL_shutdown(ssl);
    }
    nghttp2_session_del(session);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    return rc;
}
