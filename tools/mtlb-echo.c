/* mtlb-echo: the HTTP/1.1 backend of the demo, the integration tests and the benchmarks.
 * Owns its listening sockets and one epoll loop per thread (SO_REUSEPORT); heads are parsed with
 * mtlb_h1_parse_request and chunked bodies delimited with mtlb_h1_chunked_scan. Answers in
 * order on keep-alive connections; the routes are listed in usage(). */
#include <errno.h>
#include <inttypes.h>
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
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "mtlb/h1.h"

#define IN_CAP (64 * 1024)   /* request head limit and read size */
#define OUT_MIN (16 * 1024)  /* initial response buffer; grows for large echoed heads */
#define OUT_HIGH (32 * 1024) /* stop answering pipelined requests above this much pending */
#define MAX_HEADERS 128
#define PATTERN_LEN (64 * 1024)
#define STREAM_IOVS 16
#define LINGER_MS 2000
#define FNV_BASIS 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL
#define TRAILERS_CAP 1024 /* request trailer bytes kept for /echo-trailers */

/* 'a' + i % 26 for i < PATTERN_LEN + 26: any body offset maps to a contiguous slice. */
static char pattern[PATTERN_LEN + 26];
/* Requests read in full by this process, /received excluded (all threads). */
static atomic_uint_fast64_t received;

enum route {
    R_ECHO,
    R_ECHO_TRAILERS,
    R_ECHO_RAW,
    R_SIZE,
    R_CHUNKED,
    R_TRAILERS,
    R_STATUS,
    R_CLOSE,
    R_SLEEP,
    R_GARBAGE,
    R_DROP,
    R_DROP_REUSED,
    R_IDLE_CLOSE,
    R_RECEIVED
};

enum conn_state {
    ST_HEAD,    /* waiting for (or parsing) the next request head */
    ST_BODY,    /* consuming a request body */
    ST_SLEEP,   /* /sleep: response deferred until the deadline */
    ST_STREAM,  /* response body being generated (size, chunked) */
    ST_CLOSING, /* flush what is queued, then shut down */
    ST_LINGER,  /* write side shut; discard input until EOF or deadline */
};

enum step { STEP_PROGRESS, STEP_NEED_INPUT, STEP_WAIT };

/* Decodes a chunked body that mtlb_h1_chunked_scan has already validated, so it may be lax. */
enum dechunk_state { DC_SIZE, DC_EXT, DC_DATA, DC_DATA_END, DC_TRAILER };

struct request {
    enum route route;
    uint64_t arg;
    bool head_method;
    bool keep_alive;
    bool http10;
    bool slept;
    enum mtlb_h1_body body;
    uint64_t body_left; /* MTLB_BODY_LENGTH: bytes still to read */
    struct mtlb_h1_chunked scan;
    enum dechunk_state dc;
    uint64_t dc_left;
    uint64_t body_bytes;
    uint64_t fnv;
    const char *head; /* the head as received: in the input buffer or in `saved` */
    size_t head_len;
    bool pinned; /* head still lives in the input buffer */
    /* /echo-trailers: trailer section received (with its final CRLF); /echo-raw: the body
     * bytes as received, framing included */
    size_t trailers_len;
    char trailers[TRAILERS_CAP];
};

struct worker;

struct conn {
    struct worker *w;
    int fd;
    enum conn_state state;
    bool readable, writable;
    bool rdhup; /* the peer's FIN (or an error) was reported: read until EOF */
    char *in;
    size_t in_start, in_len; /* unconsumed input is in[in_start..in_len) */
    char *out;
    size_t out_cap, out_off, out_len; /* queued output is out[out_off..out_len) */
    char *saved;                      /* copy of a head whose body is being read */
    struct request req;
    uint64_t served;                  /* requests read in full on this connection */
    uint64_t stream_left, stream_pos; /* response body bytes still to generate */
    bool stream_chunked, stream_last_chunk;
    bool stream_trailers; /* /trailers: the last chunk carries X-Body-Bytes/-Fnv1a64 */
    uint64_t stream_fnv;
    enum conn_state after_stream;
    uint64_t deadline;
    struct conn *tprev, *tnext; /* timer list; on it iff deadline != 0 */
    struct conn *free_next;
};

struct worker {
    int ep, lfd;
    const char *name;
    size_t name_len;
    struct conn *free_list;
    struct conn *timers;
    pthread_t tid;
    struct mtlb_h1_header hdrs[MAX_HEADERS];
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t fnv1a(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char)p[i]) * FNV_PRIME;
    }
    return h;
}

/* ---- timers: a short unsorted list, only /sleep and lingering closes use it ---- */

static void timer_set(struct conn *c, uint64_t deadline)
{
    struct worker *w = c->w;
    if (c->deadline == 0) {
        c->tprev = NULL;
        c->tnext = w->timers;
        if (w->timers) {
            w->timers->tprev = c;
        }
        w->timers = c;
    }
    c->deadline = deadline;
}

static void timer_clear(struct conn *c)
{
    if (c->deadline == 0) {
        return;
    }
    if (c->tprev) {
        c->tprev->tnext = c->tnext;
    } else {
        c->w->timers = c->tnext;
    }
    if (c->tnext) {
        c->tnext->tprev = c->tprev;
    }
    c->deadline = 0;
}

/* ---- output buffer ---- */

static bool out_reserve(struct conn *c, size_t need)
{
    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
    }
    if (c->out_cap - c->out_len >= need) {
        return true;
    }
    if (c->out_off > 0) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    size_t cap = c->out_cap;
    while (cap - c->out_len < need) {
        cap *= 2;
    }
    if (cap != c->out_cap) {
        char *p = realloc(c->out, cap);
        if (p == NULL) {
            return false;
        }
        c->out = p;
        c->out_cap = cap;
    }
    return true;
}

/* The put helpers rely on a prior out_reserve covering everything they append. */
static void put_mem(struct conn *c, const void *p, size_t n)
{
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

static void put_str(struct conn *c, const char *s)
{
    put_mem(c, s, strlen(s));
}

static size_t fmt_u64(char *dst, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++) {
        dst[i] = tmp[n - 1 - i];
    }
    return n;
}

static void put_u64(struct conn *c, uint64_t v)
{
    c->out_len += fmt_u64(c->out + c->out_len, v);
}

static const char *reason_phrase(int status)
{
    static const struct {
        int status;
        const char *text;
    } table[] = {
        {200, "OK"},
        {201, "Created"},
        {204, "No Content"},
        {301, "Moved Permanently"},
        {302, "Found"},
        {304, "Not Modified"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {408, "Request Timeout"},
        {413, "Content Too Large"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
    };
    for (size_t i = 0; i < MTLB_ARRAY_LEN(table); i++) {
        if (table[i].status == status) {
            return table[i].text;
        }
    }
    return "Status";
}

/* Status line, X-Backend and the connection header; the caller adds framing and the end. */
static void put_status(struct conn *c, int status, bool close)
{
    put_str(c, "HTTP/1.1 ");
    put_u64(c, (uint64_t)status);
    put_str(c, " ");
    put_str(c, reason_phrase(status));
    put_str(c, "\r\nX-Backend: ");
    put_mem(c, c->w->name, c->w->name_len);
    put_str(c, "\r\n");
    if (close) {
        put_str(c, "Connection: close\r\n");
    } else if (c->req.http10) {
        put_str(c, "Connection: keep-alive\r\n");
    }
}

static void put_length(struct conn *c, uint64_t n)
{
    put_str(c, "Content-Length: ");
    put_u64(c, n);
    put_str(c, "\r\n");
}

/* A 4xx answer to a request that could not be parsed; the connection closes after it. */
static void queue_error(struct conn *c, int status, const char *reason)
{
    size_t rlen = strlen(reason);
    c->req.http10 = false;
    if (!out_reserve(c, 512 + c->w->name_len + rlen)) {
        c->state = ST_CLOSING;
        return;
    }
    put_status(c, status, true);
    put_str(c, "Content-Type: text/plain\r\n");
    put_length(c, 13 + rlen + 1);
    put_str(c, "\r\nbad request: ");
    put_mem(c, reason, rlen);
    put_str(c, "\n");
    c->state = ST_CLOSING;
}

/* ---- routing ---- */

static bool parse_num(const char *p, const char *end, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (p == end) {
        return false;
    }
    for (; p < end; p++) {
        if (*p < '0' || *p > '9' || v > (max - (uint64_t)(*p - '0')) / 10) {
            return false;
        }
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = v;
    return true;
}

static bool has_prefix(const char *p, const char *end, const char *prefix, const char **rest)
{
    size_t n = strlen(prefix);
    if ((size_t)(end - p) < n || memcmp(p, prefix, n) != 0) {
        return false;
    }
    *rest = p + n;
    return true;
}

static bool is_path(const char *p, const char *end, const char *path)
{
    return (size_t)(end - p) == strlen(path) && memcmp(p, path, (size_t)(end - p)) == 0;
}

/* MTLB_ECHO_DELAY_MS: every plain echo waits this long, as /sleep does (a slow backend for
 * the balancing tests); 0 or unset: none. Read once in main. */
static uint64_t echo_delay_ms;

/* Sets req->route and req->arg from the target's path. Returns false on a bad number. */
static bool route_request(struct request *req, struct mtlb_slice target)
{
    const char *p = target.p, *end = target.p + target.len, *q, *num;
    if (p < end && *p != '/' && (q = memmem(p, target.len, "://", 3)) != NULL) {
        p = memchr(q + 3, '/', (size_t)(end - q - 3)); /* absolute-form */
        p = p ? p : end;
    }
    q = memchr(p, '?', (size_t)(end - p));
    end = q ? q : end;
    req->route = R_ECHO;
    req->arg = 0;
    if (has_prefix(p, end, "/size/", &num)) {
        req->route = R_SIZE;
        return parse_num(num, end, UINT64_C(1) << 50, &req->arg);
    }
    if (has_prefix(p, end, "/chunked/", &num)) {
        req->route = req->http10 ? R_SIZE : R_CHUNKED; /* no chunked coding in HTTP/1.0 */
        return parse_num(num, end, UINT64_C(1) << 50, &req->arg);
    }
    if (has_prefix(p, end, "/trailers/", &num)) {
        req->route = req->http10 ? R_SIZE : R_TRAILERS;
        return parse_num(num, end, UINT64_C(1) << 50, &req->arg);
    }
    if (has_prefix(p, end, "/status/", &num)) {
        req->route = R_STATUS;
        return parse_num(num, end, 599, &req->arg) && req->arg >= 200;
    }
    if (has_prefix(p, end, "/sleep/", &num)) {
        req->route = R_SLEEP;
        return parse_num(num, end, 3600 * 1000, &req->arg);
    }
    if (is_path(p, end, "/close")) {
        req->route = R_CLOSE;
    } else if (is_path(p, end, "/garbage")) {
        req->route = R_GARBAGE;
    } else if (is_path(p, end, "/drop")) {
        req->route = R_DROP;
    } else if (is_path(p, end, "/drop-reused")) {
        req->route = R_DROP_REUSED;
    } else if (is_path(p, end, "/idle-close")) {
        req->route = R_IDLE_CLOSE;
    } else if (is_path(p, end, "/received")) {
        req->route = R_RECEIVED;
    } else if (is_path(p, end, "/echo-trailers")) {
        req->route = R_ECHO_TRAILERS;
    } else if (is_path(p, end, "/echo-raw")) {
        req->route = R_ECHO_RAW;
    } else if (echo_delay_ms > 0) {
        req->route = R_SLEEP;
        req->arg = echo_delay_ms;
    }
    return true;
}

/* ---- responses ---- */

/* /echo-trailers: each request trailer line as "trailer: NAME: VALUE\r\n" into out. */
static size_t format_trailers(const struct request *r, char *out)
{
    size_t n = 0, len = r->trailers_len >= 2 ? r->trailers_len - 2 : 0; /* not the empty line */
    const char *p = r->trailers, *end = r->trailers + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl + 1 : end;
        memcpy(out + n, "trailer: ", 9);
        memcpy(out + n + 9, p, (size_t)(stop - p));
        n += 9 + (size_t)(stop - p);
        p = stop;
    }
    return n;
}

static void respond_echo(struct conn *c, bool close)
{
    struct request *r = &c->req;
    char digits[24];
    /* Each trailer line gains at most 9 bytes and is at least 3 bytes long. */
    char trailers[TRAILERS_CAP * 4];
    size_t nt = r->route == R_ECHO_TRAILERS ? format_trailers(r, trailers) : 0;
    if (r->route == R_ECHO_RAW) {
        memcpy(trailers, "raw-body:\r\n", 11);
        memcpy(trailers + 11, r->trailers, r->trailers_len);
        nt = 11 + r->trailers_len;
    }
    size_t nd = fmt_u64(digits, r->body_bytes);
    size_t trailer = 12 + nd + 2 + 14 + 16 + 2 + nt;
    char fnv[17];
    snprintf(fnv, sizeof(fnv), "%016" PRIx64, r->fnv);
    put_status(c, 200, close);
    put_str(c, "Content-Type: text/plain\r\n");
    put_length(c, r->head_len + trailer);
    put_str(c, "\r\n");
    if (r->head_method) {
        return;
    }
    put_mem(c, r->head, r->head_len);
    put_str(c, "body-bytes: ");
    put_mem(c, digits, nd);
    put_str(c, "\r\nbody-fnv1a64: ");
    put_mem(c, fnv, 16);
    put_str(c, "\r\n");
    put_mem(c, trailers, nt);
}

static void respond_stream(struct conn *c, bool close)
{
    struct request *r = &c->req;
    put_status(c, 200, close);
    put_str(c, "Content-Type: application/octet-stream\r\n");
    if (r->route == R_CHUNKED || r->route == R_TRAILERS) {
        put_str(c, "Transfer-Encoding: chunked\r\n\r\n");
    } else {
        put_length(c, r->arg);
        put_str(c, "\r\n");
    }
    if (r->head_method) {
        return;
    }
    c->stream_left = r->arg;
    c->stream_pos = 0;
    c->stream_chunked = r->route == R_CHUNKED || r->route == R_TRAILERS;
    c->stream_trailers = r->route == R_TRAILERS;
    c->stream_fnv = FNV_BASIS;
    c->stream_last_chunk = c->stream_chunked;
    c->after_stream = close ? ST_CLOSING : ST_HEAD;
    c->state = ST_STREAM;
}

/* Builds the answer to a fully received request and releases its head. */
static enum step respond(struct conn *c)
{
    struct request *r = &c->req;
    bool close = !r->keep_alive || r->route == R_CLOSE;
    if (!r->slept) {
        c->served++;
        if (r->route != R_RECEIVED) {
            atomic_fetch_add(&received, 1);
        }
    }
    if (r->route == R_SLEEP && !r->slept) {
        r->slept = true;
        c->state = ST_SLEEP;
        /* +1: now_ms() truncates, so a deadline of now + MS could fire up to 1 ms early; it also
         * keeps 0 free to mean "no timer". */
        timer_set(c, now_ms() + r->arg + 1);
        return STEP_WAIT;
    }
    if (!out_reserve(c, 512 + c->w->name_len + r->head_len + sizeof(r->trailers) * 4)) {
        c->state = ST_CLOSING;
        return STEP_PROGRESS;
    }
    c->state = close ? ST_CLOSING : ST_HEAD;
    switch (r->route) {
    case R_SIZE:
    case R_CHUNKED:
    case R_TRAILERS:
        respond_stream(c, close);
        break;
    case R_STATUS:
        put_status(c, (int)r->arg, close);
        if (r->arg != 204) {
            put_length(c, 0);
        }
        put_str(c, "\r\n");
        break;
    case R_CLOSE:
        put_status(c, 200, true);
        put_str(c, "Content-Type: text/plain\r\nContent-Length: 4\r\n\r\n");
        put_str(c, r->head_method ? "" : "bye\n");
        break;
    case R_GARBAGE:
        put_str(c, "this is not http\r\n\r\n");
        c->state = ST_CLOSING;
        break;
    case R_DROP:
        c->state = ST_CLOSING;
        break;
    case R_RECEIVED: {
        char digits[24];
        size_t nd = fmt_u64(digits, (uint64_t)atomic_load(&received));
        put_status(c, 200, close);
        put_str(c, "Content-Type: text/plain\r\n");
        put_length(c, nd + 1);
        put_str(c, "\r\n");
        put_mem(c, digits, r->head_method ? 0 : nd);
        put_str(c, r->head_method ? "" : "\n");
        break;
    }
    case R_IDLE_CLOSE:
        respond_echo(c, false);
        c->state = ST_CLOSING; /* answered as kept alive, then closed like an idle timeout */
        break;
    case R_DROP_REUSED:
        if (c->served > 1) {
            c->state = ST_CLOSING; /* a kept-alive connection: read, then close unanswered */
            break;
        }
        respond_echo(c, close);
        break;
    default:
        respond_echo(c, close);
        break;
    }
    if (r->pinned) {
        c->in_start += (size_t)(r->head + r->head_len - (c->in + c->in_start));
        r->pinned = false;
    }
    return STEP_PROGRESS;
}

/* ---- request bodies ---- */

static void dechunk(struct request *r, const char *p, size_t n)
{
    const char *end = p + n;
    while (p < end) {
        switch (r->dc) {
        case DC_SIZE:
            if ((*p >= '0' && *p <= '9') || ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'f')) {
                int d = *p <= '9' ? *p - '0' : (*p | 0x20) - 'a' + 10;
                r->dc_left = r->dc_left * 16 + (uint64_t)d;
                p++;
                break;
            }
            r->dc = DC_EXT;
            /* fall through */
        case DC_EXT:
            if (*p++ == '\n') {
                r->dc = r->dc_left ? DC_DATA : DC_TRAILER;
            }
            break;
        case DC_DATA: {
            size_t take = (size_t)end - (size_t)p;
            take = take < r->dc_left ? take : (size_t)r->dc_left;
            r->fnv = fnv1a(r->fnv, p, take);
            r->body_bytes += take;
            r->dc_left -= take;
            p += take;
            r->dc = r->dc_left ? DC_DATA : DC_DATA_END;
            break;
        }
        case DC_DATA_END:
            if (*p++ == '\n') {
                r->dc = DC_SIZE;
            }
            break;
        case DC_TRAILER: {
            size_t room = sizeof(r->trailers) - r->trailers_len, take = (size_t)(end - p);
            take = take < room ? take : room;
            if (r->route == R_ECHO_TRAILERS) {
                memcpy(r->trailers + r->trailers_len, p, take);
                r->trailers_len += take;
            }
            return;
        }
        }
    }
}

/* /echo-raw: the body bytes as they arrived, up to TRAILERS_CAP. */
static void capture_raw(struct request *r, const char *p, size_t n)
{
    size_t take = n < TRAILERS_CAP - r->trailers_len ? n : TRAILERS_CAP - r->trailers_len;
    if (r->route == R_ECHO_RAW) {
        memcpy(r->trailers + r->trailers_len, p, take);
        r->trailers_len += take;
    }
}

static enum step read_body(struct conn *c)
{
    struct request *r = &c->req;
    const char *p = c->in + c->in_start;
    size_t avail = c->in_len - c->in_start;
    bool done = false;
    if (avail == 0) {
        return STEP_NEED_INPUT;
    }
    if (r->body == MTLB_BODY_LENGTH) {
        size_t take = avail < r->body_left ? avail : (size_t)r->body_left;
        r->fnv = fnv1a(r->fnv, p, take);
        r->body_bytes += take;
        r->body_left -= take;
        c->in_start += take;
        capture_raw(r, p, take);
        done = r->body_left == 0;
    } else {
        ssize_t n = mtlb_h1_chunked_scan(&r->scan, p, avail, &done);
        if (n < 0) {
            queue_error(c, 400, "invalid chunked body");
            return STEP_PROGRESS;
        }
        dechunk(r, p, (size_t)n);
        c->in_start += (size_t)n;
        capture_raw(r, p, (size_t)n);
    }
    return done ? respond(c) : STEP_PROGRESS;
}

/* ---- request heads ---- */

static void request_init(struct request *r, const struct mtlb_h1_message *m, const char *head,
                         size_t len)
{
    r->head_method = m->method.len == 4 && memcmp(m->method.p, "HEAD", 4) == 0;
    r->keep_alive = m->keep_alive;
    r->http10 = m->minor_version == 0;
    r->slept = false;
    r->body = m->body;
    r->body_left = m->content_length;
    mtlb_h1_chunked_init(&r->scan);
    r->dc = DC_SIZE;
    r->dc_left = 0;
    r->body_bytes = 0;
    r->fnv = FNV_BASIS;
    r->trailers_len = 0;
    /* The parser skips empty lines before the request line; they are not part of the head. */
    r->head = m->method.p;
    r->head_len = len - (size_t)(m->method.p - head);
    r->pinned = true;
}

static enum step read_head(struct conn *c)
{
    struct mtlb_h1_message m = {.headers = c->w->hdrs, .max_headers = MAX_HEADERS};
    const char *p = c->in + c->in_start;
    size_t avail = c->in_len - c->in_start;
    if (avail == 0) {
        return STEP_NEED_INPUT;
    }
    int n = mtlb_h1_parse_request(p, avail, &m);
    if (n == MTLB_INCOMPLETE) {
        if (avail >= IN_CAP) {
            queue_error(c, 431, "request head too large");
            return STEP_PROGRESS;
        }
        return STEP_NEED_INPUT;
    }
    if (n < 0) {
        queue_error(c, m.error_status ? m.error_status : 400,
                    m.error_reason ? m.error_reason : "malformed request");
        return STEP_PROGRESS;
    }
    request_init(&c->req, &m, p, (size_t)n);
    if (!route_request(&c->req, m.target)) {
        queue_error(c, 400, "bad number in path");
        return STEP_PROGRESS;
    }
    if (m.body == MTLB_BODY_NONE || (m.body == MTLB_BODY_LENGTH && m.content_length == 0)) {
        return respond(c);
    }
    if (c->saved == NULL && (c->saved = malloc(IN_CAP)) == NULL) {
        c->state = ST_CLOSING;
        return STEP_PROGRESS;
    }
    memcpy(c->saved, c->req.head, c->req.head_len);
    c->req.head = c->saved;
    c->req.pinned = false;
    c->in_start += (size_t)n;
    if (m.expect_continue && out_reserve(c, 32)) {
        put_str(c, "HTTP/1.1 100 Continue\r\n\r\n");
    }
    c->state = ST_BODY;
    return STEP_PROGRESS;
}

/* ---- socket I/O ---- */

static void stream_refill_chunked(struct conn *c)
{
    static const char hexd[] = "0123456789abcdef";
    while (c->out_len - c->out_off < OUT_HIGH && (c->stream_left || c->stream_last_chunk)) {
        size_t n = c->stream_left < 1000 ? (size_t)c->stream_left : 1000;
        if (!out_reserve(c, n + 96)) {
            return;
        }
        if (n == 0) {
            put_str(c, "0\r\n");
            if (c->stream_trailers) {
                char fnv[17];
                snprintf(fnv, sizeof(fnv), "%016" PRIx64, c->stream_fnv);
                put_str(c, "X-Body-Bytes: ");
                put_u64(c, c->stream_pos);
                put_str(c, "\r\nX-Body-Fnv1a64: ");
                put_mem(c, fnv, 16);
                put_str(c, "\r\n");
            }
            put_str(c, "\r\n");
            c->stream_last_chunk = false;
            return;
        }
        char size[8];
        size_t len = 0;
        for (int shift = 8; shift >= 0; shift -= 4) {
            if ((n >> shift) || len || shift == 0) {
                size[len++] = hexd[(n >> shift) & 15];
            }
        }
        put_mem(c, size, len);
        put_str(c, "\r\n");
        put_mem(c, pattern + c->stream_pos % 26, n);
        put_str(c, "\r\n");
        if (c->stream_trailers) {
            c->stream_fnv = fnv1a(c->stream_fnv, pattern + c->stream_pos % 26, n);
        }
        c->stream_pos += n;
        c->stream_left -= n;
    }
}

/* Queued bytes plus, for /size, pattern slices. */
static int build_iov(struct conn *c, struct iovec *iov)
{
    int n = 0;
    if (c->out_len > c->out_off) {
        iov[n++] = (struct iovec){c->out + c->out_off, c->out_len - c->out_off};
    }
    uint64_t left = c->stream_chunked ? 0 : c->stream_left, pos = c->stream_pos;
    while (left && n < STREAM_IOVS + 1) {
        size_t len = left < PATTERN_LEN ? (size_t)left : PATTERN_LEN;
        iov[n++] = (struct iovec){pattern + pos % 26, len};
        left -= len;
        pos += len;
    }
    return n;
}

/* Writes until everything is out or the socket is full. 0 or -1 on a fatal error. */
static int conn_flush(struct conn *c)
{
    struct iovec iov[STREAM_IOVS + 1];
    while (c->writable) {
        if (c->stream_chunked) {
            stream_refill_chunked(c);
        }
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)build_iov(c, iov)};
        if (mh.msg_iovlen == 0) {
            break;
        }
        ssize_t k = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        if (k == -1) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN) {
                c->writable = false;
                break;
            }
            return -1;
        }
        size_t from_out = c->out_len - c->out_off;
        from_out = (size_t)k < from_out ? (size_t)k : from_out;
        c->out_off += from_out;
        c->stream_left -= (uint64_t)k - from_out;
        c->stream_pos += (uint64_t)k - from_out;
    }
    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
    }
    return 0;
}

/* Reads what fits. 1 data, 0 nothing now, -1 EOF or error. */
static int conn_read(struct conn *c)
{
    if (c->in_start == c->in_len) {
        c->in_start = c->in_len = 0;
    } else if (c->in_len == IN_CAP && c->in_start > 0) {
        memmove(c->in, c->in + c->in_start, c->in_len - c->in_start);
        c->in_len -= c->in_start;
        c->in_start = 0;
    }
    for (;;) {
        size_t space = IN_CAP - c->in_len;
        ssize_t n = read(c->fd, c->in + c->in_len, space);
        if (n > 0) {
            c->in_len += (size_t)n;
            /* Edge-triggered: a short read drained the socket, and anything arriving later
             * raises a new edge. Skipping the read that would say EAGAIN saves a syscall per
             * request (the bench runs this backend on the load generator's core). */
            if ((size_t)n < space && !c->rdhup) {
                c->readable = false;
            }
            return 1;
        }
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n == -1 && errno == EAGAIN) {
            c->readable = false;
            return 0;
        }
        return -1;
    }
}

/* ---- connection lifecycle ---- */

static void conn_close(struct conn *c)
{
    timer_clear(c);
    close(c->fd);
    c->fd = -1;
    c->free_next = c->w->free_list;
    c->w->free_list = c;
}

static void conn_open(struct worker *w, int fd)
{
    struct conn *c = w->free_list;
    if (c != NULL) {
        w->free_list = c->free_next;
    } else {
        c = calloc(1, sizeof(*c));
        if (c == NULL || (c->in = malloc(IN_CAP)) == NULL || (c->out = malloc(OUT_MIN)) == NULL) {
            if (c != NULL) {
                free(c->in);
            }
            free(c);
            close(fd);
            return;
        }
        c->out_cap = OUT_MIN;
        c->w = w;
    }
    c->fd = fd;
    c->state = ST_HEAD;
    c->readable = c->writable = true;
    c->rdhup = false;
    c->in_start = c->in_len = c->out_off = c->out_len = 0;
    c->stream_left = 0;
    c->served = 0;
    c->stream_chunked = c->stream_last_chunk = c->stream_trailers = false;
    c->req.pinned = false;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
        conn_close(c);
    }
}

/* Answers every complete request that is buffered, as long as output is not backing up. */
static enum step conn_steps(struct conn *c)
{
    enum step s = STEP_PROGRESS;
    while (s == STEP_PROGRESS && c->out_len - c->out_off < OUT_HIGH) {
        if (c->state == ST_HEAD) {
            s = read_head(c);
        } else if (c->state == ST_BODY) {
            s = read_body(c);
        } else {
            return STEP_WAIT;
        }
    }
    return s;
}

/* Discards input after our write side is shut, so that the close does not reset the stream. */
static void conn_linger(struct conn *c)
{
    int r;
    while ((r = conn_read(c)) > 0) {
        c->in_start = c->in_len;
    }
    if (r < 0) {
        conn_close(c);
    }
}

/* Drives one connection as far as its socket allows. */
static void conn_run(struct conn *c)
{
    for (;;) {
        enum step s = conn_steps(c);
        if (conn_flush(c) == -1) {
            conn_close(c);
            return;
        }
        bool pending = c->out_len > c->out_off || c->stream_left || c->stream_last_chunk;
        if (pending) {
            return; /* socket full: EPOLLOUT resumes */
        }
        if (c->state == ST_STREAM) {
            c->state = c->after_stream;
            continue;
        }
        if (c->state == ST_CLOSING) {
            shutdown(c->fd, SHUT_WR);
            c->state = ST_LINGER;
            timer_set(c, now_ms() + LINGER_MS);
        }
        if (c->state == ST_LINGER) {
            conn_linger(c);
            return;
        }
        if (s == STEP_PROGRESS) {
            continue; /* stopped at the output high-water mark, which has drained */
        }
        if (s != STEP_NEED_INPUT || !c->readable) {
            return;
        }
        int r = conn_read(c);
        if (r < 0) {
            if (c->state == ST_HEAD && c->in_start == c->in_len) {
                conn_close(c); /* peer is done and nothing is owed */
                return;
            }
            c->state = ST_CLOSING;
        } else if (r == 0) {
            return;
        }
    }
}

static void timers_expire(struct worker *w)
{
    uint64_t now = now_ms();
    struct conn *c = w->timers, *next;
    for (; c != NULL; c = next) {
        next = c->tnext;
        if (c->deadline > now) {
            continue;
        }
        timer_clear(c);
        if (c->state == ST_LINGER) {
            conn_close(c);
            continue;
        }
        /* /sleep is over: answer it, then carry on with pipelined requests. */
        respond(c);
        conn_run(c);
        next = w->timers; /* conn_run may have changed the list */
    }
}

static int timers_timeout(struct worker *w)
{
    uint64_t now = now_ms(), min = UINT64_MAX;
    for (struct conn *c = w->timers; c != NULL; c = c->tnext) {
        min = c->deadline < min ? c->deadline : min;
    }
    if (min == UINT64_MAX) {
        return -1;
    }
    return min <= now ? 0 : (int)(min - now);
}

static void accept_all(struct worker *w)
{
    for (;;) {
        int fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            if (errno == EMFILE || errno == ENFILE) {
                usleep(1000); /* out of descriptors: let closes catch up */
            }
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        conn_open(w, fd);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(w->ep, evs, (int)MTLB_ARRAY_LEN(evs), timers_timeout(w));
        if (n == -1 && errno != EINTR) {
            perror("mtlb-echo: epoll_wait");
            exit(1);
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c == NULL) {
                accept_all(w);
                continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                c->readable = true;
            }
            if (evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                c->rdhup = true;
            }
            if (evs[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
                c->writable = true;
            }
            conn_run(c);
        }
        timers_expire(w);
    }
    return NULL;
}

/* ---- start-up ---- */

static void usage(FILE *f)
{
    fprintf(f, "usage: mtlb-echo --listen HOST:PORT --name NAME [--threads N]\n"
               "HTTP/1.1 test backend; every response carries X-Backend: NAME.\n"
               "  /size/N      N bytes, byte i = 'a' + i %% 26\n"
               "  /chunked/N   the same bytes, chunked in chunks of 1000\n"
               "  /trailers/N  as /chunked/N, then trailers X-Body-Bytes and X-Body-Fnv1a64\n"
               "  /status/NNN  that status (200-599), empty body\n"
               "  /close       \"bye\\n\", then close\n"
               "  /sleep/MS    echo after MS milliseconds\n"
               "  /garbage     \"this is not http\", then close\n"
               "  /drop        close without an answer\n"
               "  /drop-reused as /drop when an earlier request came on the same connection,\n"
               "               else as \"other\" (a backend that dies on a kept-alive request)\n"
               "  /idle-close  echo without Connection: close, then close the connection\n"
               "  /received    the number of requests read in full so far, /received excluded\n"
               "  /echo-trailers  echo, plus a \"trailer: NAME: VALUE\" line per request trailer\n"
               "  /echo-raw    echo, plus \"raw-body:\" and the first 1024 body bytes as received\n"
               "               (framing included)\n"
               "  other        the request head as received, then body-bytes and body-fnv1a64\n"
               "               (after MTLB_ECHO_DELAY_MS milliseconds when that is set)\n");
}

static int listen_on(const struct sockaddr *sa, socklen_t len)
{
    int one = 1;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1 ||
        bind(fd, sa, len) == -1 || listen(fd, 4096) == -1) {
        if (fd != -1) {
            close(fd);
        }
        return -1;
    }
    return fd;
}

/* Resolves HOST:PORT or [V6]:PORT into *ss. */
static int parse_addr(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (colon == NULL || (size_t)(colon - spec) >= sizeof(host)) {
        return -1;
    }
    const char *h = spec;
    size_t hl = (size_t)(colon - spec);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) {
        return -1;
    }
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

static void format_addr(int fd, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[NI_MAXHOST], port[NI_MAXSERV];
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
                NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(buf, len, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

/* Binds one SO_REUSEPORT socket per thread; port 0 picks a port shared by all of them. */
static int open_workers(struct worker *ws, int n, const char *listen_spec, const char *name)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (parse_addr(listen_spec, &ss, &len) == -1) {
        fprintf(stderr, "mtlb-echo: cannot resolve listen address %s\n", listen_spec);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        struct worker *w = &ws[i];
        w->name = name;
        w->name_len = strlen(name);
        w->lfd = listen_on((struct sockaddr *)&ss, len);
        if (w->lfd == -1) {
            fprintf(stderr, "mtlb-echo: cannot listen on %s: %s\n", listen_spec, strerror(errno));
            return -1;
        }
        socklen_t sl = sizeof(ss);
        getsockname(w->lfd, (struct sockaddr *)&ss, &sl);
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
        if (w->ep == -1 || epoll_ctl(w->ep, EPOLL_CTL_ADD, w->lfd, &ev) == -1) {
            perror("mtlb-echo: epoll");
            return -1;
        }
    }
    return 0;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    const char *listen_spec = NULL, *name = NULL;
    long threads = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
            listen_spec = argv[++i];
        } else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
            name = argv[++i];
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = strtol(argv[++i], NULL, 10);
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (listen_spec == NULL || name == NULL || threads < 1 || threads > 256) {
        usage(stderr);
        return 2;
    }
    for (size_t i = 0; i < sizeof(pattern); i++) {
        pattern[i] = (char)('a' + i % 26);
    }
    const char *delay = getenv("MTLB_ECHO_DELAY_MS");
    echo_delay_ms = delay != NULL ? strtoull(delay, NULL, 10) : 0;
    raise_fd_limit();
    signal(SIGPIPE, SIG_IGN);
    struct worker *ws = calloc((size_t)threads, sizeof(*ws));
    if (ws == NULL || open_workers(ws, (int)threads, listen_spec, name) == -1) {
        return 1;
    }
    /* Workers inherit a mask without SIGTERM/SIGINT; the main thread waits for them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    for (long i = 0; i < threads; i++) {
        if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]) != 0) {
            fprintf(stderr, "mtlb-echo: cannot start thread\n");
            return 1;
        }
    }
    char addr[NI_MAXHOST + NI_MAXSERV + 4];
    format_addr(ws[0].lfd, addr, sizeof(addr));
    fprintf(stderr, "mtlb-echo %s listening on %s\n", name, addr);
    int sig;
    sigwait(&set, &sig);
    _exit(0);
}
