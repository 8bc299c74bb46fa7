/* One HTTP/2 stream's exchange with a backend: the request head rewritten as for HTTP/1.1
 * (same stripped and added headers), the body relayed from the stream's flow-control window
 * (chunk-encoded when the client gave no length, with its trailers), the response head mapped
 * to HTTP/2, the body decoded from its HTTP/1.1 framing into DATA frames, trailers, retries,
 * per-stream errors (502/503/504) and timers. Worker thread only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtlb/log.h"
#include "mtlb/rewrite.h"
#include "mtlb/runtime.h"

#define TRAILER_CAP (16 * 1024)
/* A whole request body up to this size stays buffered after it was written, so that the
 * request can be resent (the retry rule); the default 100 streams hold at most 400 KiB of the
 * 1 MiB connection window while they wait for their answers. */
#define HOLD_MAX 4096
#define RBUF_HEAD_CAP (32 * 1024)

static struct mtlb_client *owner(struct mtlb_h2_stream *s)
{
    return mtlb_h2_conn_owner(s->conn);
}

static const char *upstream_name(const struct mtlb_h2x *x)
{
    const struct mtlb_upstream *u = x->up;
    return u ? mtlb_upstream_name(u) : "-";
}

static void log_exchange(struct mtlb_h2x *x)
{
    struct mtlb_slice m = {x->method, strlen(x->method)};
    struct mtlb_slice p = {x->path ? x->path : "", x->path ? strlen(x->path) : 0};
    if (x->s != NULL) {
        x->rec.bytes_in = x->s->body_total;
    }
    mtlb_stats_exchange(x->c->w, x->c->listener, MTLB_STATS_H2, x->status, x->started_us);
    mtlb_access_log_line(x->c, x->status, x->resp_bytes, x->started_ms, x->up, m, p, "h2",
                         x->up_error, &x->rec);
}

/* The backend side of the exchange is over: keep the connection when it is clean. */
static void release_up(struct mtlb_h2x *x, bool reusable)
{
    struct mtlb_upstream *u = x->up;

    if (u != NULL) {
        x->up = NULL;
        mtlb_upstream_release(u, reusable && x->keepalive && x->req_done && u->rbuf.len == 0 &&
                                     !x->up_eof);
    }
}

bool mtlb_h2x_body_kept(const struct mtlb_h2x *x)
{
    return !x->dropped && x->s != NULL && x->s->end_stream && x->s->body_len <= HOLD_MAX;
}

/* The request will not be resent any more: give a held body back to the client's window. */
static void drop_held(struct mtlb_h2x *x)
{
    if (x->held > 0 && x->s != NULL) {
        mtlb_h2_consume(x->s, x->held);
        x->dropped = true;
        mtlb_h2c_kick(x->c);
    }
    x->held = 0;
}

/* Waiting on the client (its body, or its window for our response): the stream's timer. */
static void touch(struct mtlb_h2x *x)
{
    mtlb_timer_arm(x->c->w, &x->timer, MTLB_T_H2_STREAM);
}

/* Answers the stream with an error page, or resets it when a response is already out. */
static void fail(struct mtlb_h2x *x, int status)
{
    x->c->w->ctr.responses_err++;
    x->status = status;
    if (!x->resp_started) {
        x->resp_bytes = strlen(mtlb_http_status_text(status)) + 1; /* the error page's body */
    }
    log_exchange(x);
    drop_held(x);
    release_up(x, false);
    mtlb_timer_disarm(&x->timer);
    x->resp_done = true;
    if (x->s == NULL) {
        return;
    }
    x->s->discard = true;
    if (x->resp_started) {
        mtlb_h2_reset(x->s, NGHTTP2_INTERNAL_ERROR);
    } else {
        x->resp_started = true;
        mtlb_h2_respond_error(x->s, status);
    }
}

static void send_to(struct mtlb_h2x *x)
{
    if (x->up != NULL && !x->up->connecting) {
        mtlb_upstream_send(x->up);
    }
}

static void start_upstream(struct mtlb_h2x *x)
{
    if (mtlb_upstream_acquire_x(x->c->w, x) != 0) {
        fail(x, 503);
    } else if (!x->up->connecting) {
        mtlb_h2x_on_upstream_ready(x);
    }
}

/* One allocation per stream: the exchange, its rewritten head and its path (for the log). */
static void on_timeout(struct mtlb_timer *t); /* the stream waited too long on its client */

static struct mtlb_h2x *x_new(struct mtlb_h2_stream *s, const char *head, size_t head_len)
{
    size_t path_len = s->msg.target.len < 2048 ? s->msg.target.len : 2048;
    struct mtlb_h2x *x = malloc(sizeof(*x) + head_len + path_len + 1);

    if (x == NULL) {
        return NULL;
    }
    memset(x, 0, sizeof(*x));
    x->head = (char *)(x + 1);
    memcpy(x->head, head, head_len);
    x->head_len = (uint32_t)head_len;
    x->path = x->head + head_len;
    memcpy(x->path, s->msg.target.p, path_len);
    x->path[path_len] = '\0';
    size_t ml =
        s->msg.method.len < sizeof(x->method) - 1 ? s->msg.method.len : sizeof(x->method) - 1;
    memcpy(x->method, s->msg.method.p, ml);
    x->is_head = strcmp(x->method, "HEAD") == 0;
    mtlb_timer_init(&x->timer, on_timeout);
    return x;
}

static void on_request(struct mtlb_h2_stream *s)
{
    struct mtlb_client *c = owner(s);
    struct mtlb_worker *w = c->w;
    struct mtlb_authority_request ar = {0}; /* filled by mtlb_client_authority */
    struct mtlb_rewrite_req rw = mtlb_client_rewrite_req(c, &ar);
    struct mtlb_access_rec rec;

    mtlb_access_rec_start(&rec, w, &s->msg); /* the same request id rule as HTTP/1.1 */
    rw.request_id = rec.request_id;
    /* The same authority rule as HTTP/1.1; the rewrite below needs its result. */
    int status = mtlb_client_authority(c, &s->msg, &ar);
    /* The connection's head buffer is free scratch on an HTTP/2 connection. */
    ssize_t n = status == 0 ? mtlb_rewrite_request(&s->msg, &rw, c->up_head, c->up_head_cap) : 0;
    struct mtlb_h2x *x = x_new(s, c->up_head, n > 0 ? (size_t)n : 0);

    if (x == NULL) {
        mtlb_h2_reset(s, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    s->user = x;
    x->c = c;
    x->s = s;
    x->rec = rec;
    /* The stream's backend pools: the worker's current snapshot, for its whole life. */
    mtlb_pool_set_take(w, &x->ps);
    x->pool = x->ps->snap->cfg->listeners[c->listener].backend_index;
    x->started_ms = w->now_ms;
    x->started_us = w->now_us;
    w->ctr.requests++;
    if (status != 0) {
        fail(x, status);
        return;
    }
    if (n < 0) {
        fail(x, mtlb_rewrite_status(n));
        return;
    }
    x->chunked = s->msg.body == MTLB_BODY_CHUNKED;
    if (!s->end_stream) {
        touch(x);
    }
    start_upstream(x);
}

static void on_body(struct mtlb_h2_stream *s)
{
    struct mtlb_h2x *x = s->user;

    if (x == NULL || x->resp_done) {
        return;
    }
    if (!s->end_stream) {
        touch(x);
    } else if (!x->resp_started) {
        mtlb_timer_disarm(&x->timer); /* the backend's timers run from here */
    }
    send_to(x);
}

static void on_close(struct mtlb_h2_stream *s, uint32_t code)
{
    struct mtlb_h2x *x = s->user;

    (void)code;
    x->rec.bytes_in = s->body_total;
    x->s = NULL;
    if (!x->resp_done) {
        x->status = 499; /* the client went away first (nginx's convention) */
        log_exchange(x);
    }
    release_up(x, false);
    mtlb_timer_disarm(&x->timer);
    free(x->trailer_buf);
    mtlb_pool_set_drop(x->ps);
    free(x); /* head and path live in the same block */
}

/* ---- request towards the backend ---- */

/* Lays out the next unit to send: [head][chunk-size line][body bytes][CRLF][last chunk]. */
static bool prepare_unit(struct mtlb_h2x *x)
{
    struct mtlb_h2_stream *s = x->s;

    if (s == NULL || x->req_done) {
        return false;
    }
    bool end = s->end_stream;
    x->data_len = s->body_len;
    x->pre_len = x->suf_len = x->tail_len = 0;
    if (x->chunked && x->data_len > 0) {
        x->pre_len = (uint32_t)snprintf(x->pre, sizeof(x->pre), "%x\r\n", x->data_len);
        x->suf = "\r\n";
        x->suf_len = 2;
    }
    if (x->chunked && end) {
        x->tail = s->trailers ? s->trailers : "0\r\n\r\n";
        x->tail_len = s->trailers ? (uint32_t)s->trailers_len : 5;
    }
    x->unit_last = end;
    x->unit_len =
        (x->head_in_unit ? x->head_len : 0) + x->pre_len + x->data_len + x->suf_len + x->tail_len;
    x->unit_sent = 0;
    if (x->unit_len == 0 && end) {
        x->req_done = true;
        if (x->up != NULL) {
            mtlb_timer_arm(x->c->w, &x->up->timer, MTLB_T_UP_RESPONSE);
        }
    }
    return x->unit_len > 0;
}

int mtlb_h2x_send_iov(struct mtlb_h2x *x, struct iovec *iov)
{
    if (x->unit_len == 0 && !prepare_unit(x)) {
        return 0;
    }
    const struct {
        const char *p;
        uint32_t len;
    } seg[] = {
        {x->head, x->head_in_unit ? x->head_len : 0},
        {x->pre, x->pre_len},
        {x->s ? x->s->body : NULL, x->data_len},
        {x->suf, x->suf_len},
        {x->tail, x->tail_len},
    };
    uint32_t skip = x->unit_sent;
    int n = 0;
    for (size_t i = 0; i < sizeof(seg) / sizeof(seg[0]); i++) {
        if (skip >= seg[i].len) {
            skip -= seg[i].len;
            continue;
        }
        iov[n].iov_base = (void *)(uintptr_t)(seg[i].p + skip);
        iov[n].iov_len = seg[i].len - skip;
        skip = 0;
        n++;
    }
    return n;
}

bool mtlb_h2x_sent(struct mtlb_h2x *x, uint32_t n)
{
    x->unit_sent += n;
    if (x->unit_sent < x->unit_len) {
        return true;
    }
    x->unit_len = 0;
    x->head_in_unit = false;
    if (x->data_len > 0 && x->s != NULL) {
        if (x->unit_last && !x->dropped && !x->resp_started && x->data_len <= HOLD_MAX) {
            x->held = x->data_len; /* the whole body, kept until the answer starts */
        } else {
            mtlb_h2_consume(x->s, x->data_len); /* reopens the client's window */
            x->dropped = true;
            mtlb_h2c_kick(x->c);
        }
    }
    x->data_len = 0;
    if (x->unit_last) {
        x->req_done = true;
        return false;
    }
    return prepare_unit(x);
}

void mtlb_h2x_on_upstream_ready(struct mtlb_h2x *x)
{
    x->unit_len = 0;
    x->head_in_unit = true;
    x->req_done = false;
    mtlb_upstream_recv(x->up);
    mtlb_upstream_send(x->up);
}

/* May the request go again after its connection failed at `stage`? The rule shared with
 * HTTP/1.1; the body is held until a unit carrying body bytes has been written. */
static bool may_retry(const struct mtlb_h2x *x, enum mtlb_retry_stage stage)
{
    struct mtlb_slice m = {x->method, strlen(x->method)};
    return mtlb_retry_allowed(m, stage, !x->dropped);
}

/* Sends the request again on another connection, as the retry rule allowed: the next server
 * in turn (the same one again after a stale pooled connection), or 503. */
static void retry(struct mtlb_h2x *x)
{
    if (x->up->reused && x->up->server < 64) {
        x->skip_mask &= ~(1ULL << x->up->server);
    }
    release_up(x, false);
    start_upstream(x);
    mtlb_h2c_kick(x->c);
}

void mtlb_h2x_upstream_failed(struct mtlb_h2x *x, int err)
{
    static struct mtlb_ratelimit rl;

    mtlb_log_rl(&rl, 10, MTLB_LOG_WARN,
                "conn=%llu stream=%d event=upstream_connect_failed upstream=%s error=\"%s\"",
                (unsigned long long)x->c->id, x->s ? x->s->id : 0, upstream_name(x),
                strerror(-err));
    x->up_error = MTLB_UPE_CONNECT_FAILED;
    if (may_retry(x, MTLB_RETRY_CONNECT_FAILED)) {
        retry(x);
    } else {
        fail(x, 502);
        mtlb_h2c_kick(x->c);
    }
}

void mtlb_h2x_upstream_timeout(struct mtlb_h2x *x)
{
    static struct mtlb_ratelimit rl;

    mtlb_log_rl(&rl, 10, MTLB_LOG_WARN, "conn=%llu stream=%d event=upstream_timeout upstream=%s",
                (unsigned long long)x->c->id, x->s ? x->s->id : 0, upstream_name(x));
    struct mtlb_client *c = x->c;
    x->up_error = MTLB_UPE_TIMEOUT;
    fail(x, 504);
    mtlb_h2c_kick(c);
}

static void on_timeout(struct mtlb_timer *t)
{
    struct mtlb_h2x *x = mtlb_container_of(t, struct mtlb_h2x, timer);
    static struct mtlb_ratelimit rl;
    struct mtlb_client *c = x->c;

    mtlb_log_rl(&rl, 10, MTLB_LOG_INFO, "conn=%llu peer=%s stream=%d event=client_timeout",
                (unsigned long long)c->id, c->ip, x->s ? x->s->id : 0);
    fail(x, 408);
    mtlb_h2c_kick(c);
}

/* ---- response from the backend ---- */

/* The exchange with the backend is complete (the stream may still be sending). */
static void exchange_done(struct mtlb_h2x *x)
{
    x->resp_done = true;
    log_exchange(x);
    if (x->s != NULL && !x->req_done) {
        x->s->discard = true; /* the backend answered early: the rest of the body is moot */
    }
    release_up(x, true);
    mtlb_timer_disarm(&x->timer);
}

static void bad_response(struct mtlb_h2x *x, const char *why)
{
    static struct mtlb_ratelimit rl;
    mtlb_log_rl(&rl, 10, MTLB_LOG_WARN,
                "conn=%llu stream=%d event=bad_response upstream=%s reason=\"%s\"",
                (unsigned long long)x->c->id, x->s ? x->s->id : 0, upstream_name(x), why);
    x->up_error = MTLB_UPE_BAD_RESPONSE;
    fail(x, 502);
}

/* Looks for the final response head in rbuf (1xx skipped) and submits it. 0 when done,
 * 1 when more bytes are needed, -1 after a failure. */
static int parse_head(struct mtlb_h2x *x)
{
    struct mtlb_upstream *u = x->up;
    struct mtlb_client *c = x->c;
    struct mtlb_worker *w = c->w;
    struct mtlb_h1_message resp;

    for (;;) {
        memset(&resp, 0, sizeof(resp));
        resp.headers = c->hdrs;
        resp.max_headers = c->snap->cfg->limits.max_headers; /* c->hdrs' size */
        int rc = mtlb_h1_parse_response(u->rbuf.data + u->rbuf.off, u->rbuf.len, x->is_head, &resp);
        if (rc == MTLB_INCOMPLETE) {
            if (u->rbuf.off + u->rbuf.len == u->rbuf.cap) {
                bad_response(x, "head too large");
                return -1;
            }
            mtlb_upstream_recv(u);
            return 1;
        }
        if (rc < 0 || resp.status == 101) {
            bad_response(x, resp.error_reason ? resp.error_reason : "upgrade refused");
            return -1;
        }
        if (resp.status < 200) {
            u->rbuf.off += (uint32_t)rc;
            u->rbuf.len -= (uint32_t)rc;
            continue;
        }
        ssize_t n = mtlb_h2_response_nv(&resp, w->h2_nva, (size_t)resp.max_headers + 2,
                                        w->h2_scratch, RBUF_HEAD_CAP + 64);
        if (n < 0) {
            bad_response(x, "head does not map to HTTP/2");
            return -1;
        }
        x->status = resp.status;
        mtlb_stats_backend(w, u->ps->snap, u->pool, u->server, x->status);
        mtlb_access_rec_response(&x->rec, mtlb_now_us());
        x->up_error = MTLB_UPE_NONE; /* the backend answered: its status is its own */
        x->resp_body = resp.body;
        x->resp_left = resp.content_length;
        x->keepalive = resp.keep_alive && resp.body != MTLB_BODY_UNTIL_CLOSE;
        mtlb_h1_chunked_init(&x->ck);
        u->rbuf.off += (uint32_t)rc;
        u->rbuf.len -= (uint32_t)rc;
        x->resp_started = true;
        drop_held(x);
        if (mtlb_h2_respond(x->s, w->h2_nva, (size_t)n, resp.body != MTLB_BODY_NONE) != 0) {
            fail(x, 502);
            return -1;
        }
        if (resp.body == MTLB_BODY_NONE) {
            exchange_done(x);
        }
        return 0;
    }
}

void mtlb_h2x_on_upstream_data(struct mtlb_h2x *x)
{
    struct mtlb_client *c = x->c;

    if (x->s == NULL || x->resp_done) {
        return;
    }
    if (!x->resp_started) {
        parse_head(x);
    } else {
        mtlb_h2_resume(x->s);
    }
    mtlb_h2c_kick(c);
}

void mtlb_h2x_on_upstream_eof(struct mtlb_h2x *x, int err)
{
    static struct mtlb_ratelimit rl;
    struct mtlb_client *c = x->c;
    struct mtlb_upstream *u = x->up;

    if (x->resp_started) {
        x->up_eof = true;
        if (err == 0 && x->resp_body == MTLB_BODY_UNTIL_CLOSE) {
            mtlb_h2_resume(x->s);
            mtlb_h2c_kick(c);
            return;
        }
        mtlb_log_rl(&rl, 10, MTLB_LOG_WARN,
                    "conn=%llu stream=%d event=upstream_truncated upstream=%s error=%d",
                    (unsigned long long)c->id, x->s ? x->s->id : 0, upstream_name(x), -err);
        x->up_error = MTLB_UPE_RESET;
        fail(x, 502);
        mtlb_h2c_kick(c);
        return;
    }
    x->up_error = MTLB_UPE_RESET;
    if (may_retry(x, mtlb_upstream_stage(u))) {
        retry(x);
        return;
    }
    mtlb_log_rl(&rl, 10, MTLB_LOG_WARN,
                "conn=%llu stream=%d event=upstream_error upstream=%s error=%d",
                (unsigned long long)c->id, x->s ? x->s->id : 0, upstream_name(x), -err);
    fail(x, 502);
    mtlb_h2c_kick(c);
}

/* Backend trailers (chunked trailer section) become HTTP/2 trailers. */
static int submit_trailers(struct mtlb_h2x *x)
{
    struct mtlb_worker *w = x->c->w;
    ssize_t n = mtlb_h2_trailer_nv(x->trailer_buf, x->trailer_len, w->h2_nva,
                                   (size_t)x->c->snap->cfg->limits.max_headers + 2, w->h2_scratch,
                                   RBUF_HEAD_CAP + 64);
    if (n <= 0 || mtlb_h2_submit_trailers(x->s, w->h2_nva, (size_t)n) != 0) {
        return 0; /* none left after filtering, or too many: trailers may be dropped */
    }
    return MTLB_H2_TRAILERS;
}

static int keep_trailer(struct mtlb_h2x *x, const char *p, size_t n)
{
    if (x->trailer_len + n > TRAILER_CAP) {
        return -EMSGSIZE;
    }
    if (x->trailer_buf == NULL && (x->trailer_buf = malloc(TRAILER_CAP)) == NULL) {
        return -ENOMEM;
    }
    memcpy(x->trailer_buf + x->trailer_len, p, n);
    x->trailer_len += n;
    return 0;
}

/* Decodes chunked body bytes from rbuf into buf. Returns bytes written or -EBADMSG. */
static ssize_t read_chunked(struct mtlb_h2x *x, uint8_t *buf, size_t len, int *flags)
{
    struct mtlb_buf *b = &x->up->rbuf;
    size_t out = 0;

    while (out < len && !(*flags & MTLB_H2_EOF)) {
        size_t dlen = 0, tlen = 0;
        bool done = false;
        ssize_t k = mtlb_h1_chunked_next(&x->ck, b->data + b->off, b->len, &dlen, &tlen, &done);
        size_t tend = (size_t)k - (done ? 2 : 0); /* trailer lines precede the final CRLF */
        if (k < 0 || (tlen > 0 && keep_trailer(x, b->data + b->off + tend - tlen, tlen) != 0)) {
            return -EBADMSG;
        }
        b->off += (uint32_t)k;
        b->len -= (uint32_t)k;
        if (done) {
            *flags |= MTLB_H2_EOF;
            if (x->trailer_len > 0) {
                *flags |= submit_trailers(x);
            }
            break;
        }
        if (dlen == 0) {
            break;
        }
        size_t n = dlen < len - out ? dlen : len - out;
        memcpy(buf + out, b->data + b->off, n);
        mtlb_h1_chunked_take(&x->ck, n);
        b->off += (uint32_t)n;
        b->len -= (uint32_t)n;
        out += n;
    }
    return (ssize_t)out;
}

static ssize_t read_body(struct mtlb_h2_stream *s, uint8_t *buf, size_t len, int *flags)
{
    struct mtlb_h2x *x = s->user;
    struct mtlb_upstream *u = x->up;
    ssize_t n = 0;

    if (u == NULL) {
        return -EIO;
    }
    struct mtlb_buf *b = &u->rbuf;
    if (x->resp_body == MTLB_BODY_CHUNKED) {
        n = read_chunked(x, buf, len, flags);
        if (n < 0) {
            bad_response(x, "bad chunk");
            return n;
        }
    } else {
        uint64_t want = x->resp_body == MTLB_BODY_LENGTH && x->resp_left < len ? x->resp_left : len;
        n = (ssize_t)(b->len < want ? b->len : want);
        memcpy(buf, b->data + b->off, (size_t)n);
        b->off += (uint32_t)n;
        b->len -= (uint32_t)n;
        x->resp_left -= x->resp_body == MTLB_BODY_LENGTH ? (uint64_t)n : 0;
        if ((x->resp_body == MTLB_BODY_LENGTH && x->resp_left == 0) ||
            (x->resp_body == MTLB_BODY_UNTIL_CLOSE && b->len == 0 && x->up_eof)) {
            *flags |= MTLB_H2_EOF;
        }
    }
    x->resp_bytes += (uint64_t)n;
    if (*flags & MTLB_H2_EOF) {
        if (b->len > 0) {
            x->keepalive = false; /* bytes after the response: out of step */
        }
        exchange_done(x);
        return n;
    }
    mtlb_upstream_recv(u);
    if (n == 0) {
        if (s->end_stream) {
            mtlb_timer_disarm(&x->timer); /* the backend is the one we wait for */
        }
        return -EAGAIN;
    }
    touch(x);
    return n;
}

const struct mtlb_h2_ops mtlb_h2x_ops = {
    .on_request = on_request,
    .on_body = on_body,
    .on_close = on_close,
    .read_body = read_body,
};
