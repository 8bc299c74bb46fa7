/* One HTTP/2 stream's exchange with a backend: the request head rewritten as for HTTP/1.1
 * (same stripped and added headers), the body relayed from the stream's flow-control window
 * (chunk-encoded when the client gave no length, with its trailers), the response head mapped
 * to HTTP/2, the body decoded from its HTTP/1.1 framing into DATA frames (chunks and trailers:
 * h2_chunked.c), the stream's error answers and its client-side timer. The backend rules (retries,
 * head checks, 502/503/504) are exchange.c's, reached through x->ex. Worker thread only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h2_chunked.h"
#include "mtlb/access.h"
#include "mtlb/body_limit.h"
#include "mtlb/authority.h"
#include "mtlb/buf.h"
#include "mtlb/client_types.h"
#include "mtlb/exchange.h"
#include "mtlb/h1.h"
#include "mtlb/h1_client.h"
#include "mtlb/h2.h"
#include "mtlb/h2_output.h"
#include "mtlb/h2_stream.h"
#include "mtlb/h2map.h"
#include "mtlb/log.h"
#include "mtlb/loop.h"
#include "mtlb/pool_set.h"
#include "mtlb/rewrite.h"
#include "mtlb/snapshot.h"
#include "mtlb/stats.h"
#include "mtlb/stats_hooks.h"
#include "mtlb/worker_types.h"

/* A whole request body up to this size stays buffered after it was written, so that the
 * request can be resent (the retry rule); the default 100 streams hold at most 400 KiB of the
 * 1 MiB connection window while they wait for their answers. */
#define HOLD_MAX 4096

static const struct mtlb_exchange_ops h2x_exchange_ops;

static struct mtlb_client *owner(struct mtlb_h2_stream *s)
{
    return mtlb_h2_conn_owner(s->conn);
}

static const char *upstream_name(const struct mtlb_h2x *x)
{
    return mtlb_exchange_upstream_name(&x->ex);
}

static void log_exchange(struct mtlb_h2x *x)
{
    struct mtlb_slice m = {x->method, strlen(x->method)};
    struct mtlb_slice p = {x->path ? x->path : "", x->path ? strlen(x->path) : 0};
    if (x->s != NULL) {
        x->rec.bytes_in = x->s->body_total;
    }
    mtlb_stats_exchange(x->c->w, x->c->listener, MTLB_STATS_H2, x->status, x->started_us);
    mtlb_access_log_line(x->c, x->status, x->resp_bytes, x->started_ms, x->ex.up, m, p, "h2",
                         x->ex.up_error, &x->rec);
}

/* The backend side of the exchange is over: keep the connection when it is clean. */
static void release_up(struct mtlb_h2x *x, bool reusable)
{
    mtlb_exchange_finish(&x->ex, reusable && x->keepalive);
}

/* Will x's whole request body still be buffered after it was written (none given back yet,
 * all of it received, small enough to keep)? Then a reused connection may be risked. */
static bool body_kept(const struct mtlb_h2x *x)
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

/* The stream's body limit: its route's, else its listener's (mtlb_client_prepare). */
static uint64_t body_limit(const struct mtlb_h2x *x)
{
    return x->body_limit;
}

static void send_to(struct mtlb_h2x *x)
{
    mtlb_exchange_send(&x->ex);
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
    mtlb_timer_init(&x->timer, on_timeout);
    return x;
}

/* The stream's exchange begins: counted and timed from here, its backend still to choose. */
static void x_begin(struct mtlb_h2x *x, struct mtlb_worker *w, size_t pool)
{
    struct mtlb_client *c = x->c;
    const struct mtlb_exchange_req er = {
        .method = {x->method, strlen(x->method)},
        .headers = c->hdrs,
        .max_headers = c->snap->cfg->limits.max_headers, /* c->hdrs' size */
        .rec = &x->rec,
        .conn_id = c->id,
        .stream_id = x->s->id,
    };
    mtlb_exchange_init(&x->ex, &h2x_exchange_ops, x);
    mtlb_exchange_begin(&x->ex, w, x->ps, pool, &er);
    x->started_ms = w->now_ms;
    x->started_us = w->now_us;
    w->ctr.requests++;
}

/* The backend connection waits for the end of this read batch (mtlb_h2x_start_pending): a
 * client that opens and resets streams in a loop (CVE-2023-44487) would otherwise cost a
 * backend connect (and a TIME_WAIT port) per stream. */
static void pending_push(struct mtlb_h2x *x)
{
    x->start_pending = true;
    x->pend_next = x->c->h2_pending;
    x->c->h2_pending = x;
}

static void on_request(struct mtlb_h2_stream *s)
{
    struct mtlb_client *c = owner(s);
    struct mtlb_worker *w = c->w;
    struct mtlb_access_rec rec;
    struct mtlb_pool_set *ps = NULL;
    size_t pool = 0;
    size_t n = 0;
    uint64_t limit = 0;

    /* The stream's backend pools: the worker's current snapshot, for its whole life. */
    mtlb_pool_set_take(w, &ps);
    mtlb_access_rec_start(&rec, w, &s->msg); /* the same request id rule as HTTP/1.1 */
    /* The same authority, route and rewrite as HTTP/1.1, into the connection's head buffer
     * (free scratch on an HTTP/2 connection). */
    int status = mtlb_client_prepare(c, &s->msg, ps->snap, &rec, c->up_head, c->up_head_cap, &pool,
                                     &n, &limit);
    struct mtlb_h2x *x = x_new(s, c->up_head, n);

    if (x == NULL) {
        mtlb_pool_set_drop(ps);
        mtlb_h2_reset(s, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    s->user = x;
    x->c = c;
    x->s = s;
    x->rec = rec;
    x->ps = ps;
    x->body_limit = limit;
    x_begin(x, w, pool);
    if (status != 0) {
        fail(x, status);
        if (status == 421 && mtlb_client_trust_stale(c)) {
            /* No later stream can be served: GOAWAY tells the client to reconnect, as
             * HTTP/1.1's close does. Sent with this batch's output. */
            mtlb_h2_conn_shutdown(c->h2);
        }
        return;
    }
    x->chunked = s->msg.body == MTLB_BODY_CHUNKED;
    /* The HTTP/1.1 rule: a declared length over the limit never reaches a backend. */
    status = s->msg.body == MTLB_BODY_LENGTH
                 ? mtlb_body_limit_check(body_limit(x), s->msg.content_length)
                 : 0;
    if (status != 0) {
        fail(x, status);
        return;
    }
    if (!s->end_stream) {
        touch(x);
    }
    pending_push(x);
}

void mtlb_h2x_start_pending(struct mtlb_client *c)
{
    /* Oldest (the list's tail) first, as the streams came. Each is unlinked before it starts
     * and the list is walked again after: a start may answer its stream or another one, and
     * a closed stream unlinks itself (at most h2_max_concurrent_streams are pending). */
    while (c->h2_pending != NULL) {
        struct mtlb_h2x **pp = &c->h2_pending;
        while ((*pp)->pend_next != NULL) {
            pp = &(*pp)->pend_next;
        }
        struct mtlb_h2x *x = *pp;
        *pp = NULL;
        x->start_pending = false;
        if (x->s != NULL && !x->resp_done) {
            mtlb_exchange_start(&x->ex);
        }
    }
}

static void pending_unlink(struct mtlb_h2x *x)
{
    struct mtlb_h2x **pp = &x->c->h2_pending;
    while (*pp != NULL && *pp != x) {
        pp = &(*pp)->pend_next;
    }
    if (*pp == x) {
        *pp = x->pend_next;
    }
}

static void on_body(struct mtlb_h2_stream *s)
{
    struct mtlb_h2x *x = s->user;

    if (x == NULL || x->resp_done) {
        return;
    }
    /* DATA past the limit: 413, or a reset once the response has started (fail decides); the
     * bytes that crossed it are never sent on. */
    int status = mtlb_body_limit_check(body_limit(x), s->body_total);
    if (status != 0) {
        fail(x, status);
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
    if (x->start_pending) {
        pending_unlink(x);
    }
    x->rec.bytes_in = s->body_total;
    x->s = NULL;
    if (!x->resp_done) {
        x->status = 499; /* the client went away first (nginx's convention) */
        log_exchange(x);
    }
    mtlb_exchange_fini(&x->ex);
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
        x->req_done = true; /* the exchange runs the backend's timer from here */
    }
    return x->unit_len > 0;
}

/* ---- the exchange's view of the stream (struct mtlb_exchange_ops) ---- */

static int h2_fill(void *owner, struct iovec *iov, int max)
{
    struct mtlb_h2x *x = owner;

    (void)max; /* at most the five parts of a unit */
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

static int h2_sent(void *owner, uint32_t n)
{
    struct mtlb_h2x *x = owner;

    x->unit_sent += n;
    if (x->unit_sent < x->unit_len) {
        return 1;
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
        return 0;
    }
    if (prepare_unit(x)) {
        return 1;
    }
    return x->req_done ? 0 : -1;
}

static void h2_restart(void *owner)
{
    struct mtlb_h2x *x = owner;

    x->unit_len = 0;
    x->head_in_unit = true;
    x->req_done = false;
}

static bool h2_request_done(void *owner)
{
    return ((struct mtlb_h2x *)owner)->req_done;
}

/* The body is held until a unit carrying body bytes has been written and given back. */
static bool h2_held(void *owner, bool after_write)
{
    struct mtlb_h2x *x = owner;
    return after_write ? body_kept(x) : !x->dropped;
}

static void h2_fail(void *owner, int status)
{
    struct mtlb_h2x *x = owner;
    struct mtlb_client *c = x->c;

    fail(x, status);
    mtlb_h2c_kick(c);
}

static void h2_truncated(void *owner)
{
    h2_fail(owner, 502);
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
    x->ex.up_error = MTLB_UPE_BAD_RESPONSE;
    fail(x, 502);
}

/* The final response head (checked by the exchange) as HTTP/2 HEADERS. */
static int h2_head(void *owner, const struct mtlb_h1_message *resp)
{
    struct mtlb_h2x *x = owner;
    struct mtlb_worker *w = x->c->w;

    if (x->s == NULL) {
        return -EIO;
    }
    ssize_t n = mtlb_h2_response_nv(resp, w->h2_nva, (size_t)resp->max_headers + 2, w->h2_scratch,
                                    MTLB_H2_SCRATCH_CAP);
    if (n < 0) {
        return -EBADMSG;
    }
    x->status = resp->status;
    x->resp_left = resp->content_length;
    x->keepalive = resp->keep_alive && resp->body != MTLB_BODY_UNTIL_CLOSE;
    mtlb_h1_chunked_init(&x->ck);
    x->resp_started = true;
    drop_held(x);
    if (mtlb_h2_respond(x->s, w->h2_nva, (size_t)n, resp->body != MTLB_BODY_NONE) != 0) {
        fail(x, 502);
        return -EIO;
    }
    if (resp->body == MTLB_BODY_NONE) {
        exchange_done(x);
    }
    return 0;
}

/* Response bytes arrived, or an until-close body ended: nghttp2 asks read_body again. */
static void h2_data(void *owner)
{
    struct mtlb_h2x *x = owner;

    if (x->s != NULL && !x->resp_done && x->resp_started) {
        mtlb_h2_resume(x->s);
    }
    mtlb_h2c_kick(x->c);
}

static ssize_t read_body(struct mtlb_h2_stream *s, uint8_t *buf, size_t len, int *flags)
{
    struct mtlb_h2x *x = s->user;
    struct mtlb_buf *b = mtlb_exchange_rbuf(&x->ex);
    enum mtlb_h1_body body = x->ex.resp.body;
    ssize_t n = 0;

    if (b == NULL) {
        return -EIO;
    }
    if (body == MTLB_BODY_CHUNKED) {
        n = mtlb_h2_chunked_read(x, b, buf, len, flags);
        if (n < 0) {
            bad_response(x, "bad chunk");
            return n;
        }
    } else {
        uint64_t want = body == MTLB_BODY_LENGTH && x->resp_left < len ? x->resp_left : len;
        n = (ssize_t)(b->len < want ? b->len : want);
        memcpy(buf, b->data + b->off, (size_t)n);
        b->off += (uint32_t)n;
        b->len -= (uint32_t)n;
        x->resp_left -= body == MTLB_BODY_LENGTH ? (uint64_t)n : 0;
        if ((body == MTLB_BODY_LENGTH && x->resp_left == 0) ||
            (body == MTLB_BODY_UNTIL_CLOSE && b->len == 0 && x->ex.up_eof)) {
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
    mtlb_exchange_recv(&x->ex);
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

static const struct mtlb_exchange_ops h2x_exchange_ops = {
    .fill = h2_fill,
    .sent = h2_sent,
    .request_done = h2_request_done,
    .held = h2_held,
    .restart = h2_restart,
    .head = h2_head,
    .data = h2_data,
    .fail = h2_fail,
    .truncated = h2_truncated,
};
