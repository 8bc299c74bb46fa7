/* The HTTP/1.1 side of an exchange (the backend rules are exchange.c's): the request bytes
 * handed to the exchange, the response head rewritten for the client, head and body relayed
 * through TLS with bounded buffers, error pages, and what happens when an exchange ends
 * (keep-alive, pipelining, close). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#include "mtlb/access.h"
#include "mtlb/buf.h"
#include "mtlb/client_bufs.h"
#include "mtlb/client_types.h"
#include "mtlb/exchange.h"
#include "mtlb/h1.h"
#include "mtlb/h1_client.h"
#include "mtlb/log.h"
#include "mtlb/loop.h"
#include "mtlb/rewrite.h"
#include "mtlb/stats.h"
#include "mtlb/splice.h"
#include "mtlb/snapshot.h"
#include "mtlb/transport.h"
#include "mtlb/upstream.h"
#include "mtlb/worker_types.h"

#define TLS_CHUNK MTLB_TLS_CHUNK

/* Relays what can be relayed now: the pending head, then known body bytes. */
static int write_out(struct mtlb_client *c)
{
    struct mtlb_buf *rb = mtlb_exchange_rbuf(&c->ex);

    /* A small response goes out as one TLS record: the body bytes already known join the
     * head in up_head (one SSL_write, one AES-GCM pass, instead of two). */
    uint32_t head_left = c->up_head_len - c->resp_head_off;
    if (head_left > 0 && rb != NULL && c->resp_ready > 0 &&
        head_left + c->resp_ready <= TLS_CHUNK &&
        c->up_head_len + c->resp_ready <= c->up_head_cap) {
        uint32_t n = c->resp_ready;
        memcpy(c->up_head + c->up_head_len, rb->data + rb->off, n);
        c->up_head_len += n;
        rb->off += n;
        rb->len -= n;
        c->resp_ready = 0;
        c->resp_bytes += n;
    }
    for (;;) {
        const char *p;
        uint32_t len;
        bool head = c->resp_head_off < c->up_head_len;
        if (head) {
            p = c->up_head + c->resp_head_off;
            len = c->up_head_len - c->resp_head_off;
        } else if (rb != NULL && c->resp_ready > 0) {
            p = rb->data + rb->off;
            len = c->resp_ready;
        } else {
            break;
        }
        int n = mtlb_client_tls_put(c, p, len);
        if (n < 0) {
            return -1;
        }
        if (n == 0) {
            break;
        }
        if (head) {
            c->resp_head_off += (uint32_t)n;
        } else {
            rb->off += (uint32_t)n;
            rb->len -= (uint32_t)n;
            c->resp_ready -= (uint32_t)n;
            c->resp_bytes += (uint64_t)n;
        }
    }
    /* Rewinding under a pending recv would misplace the bytes it is writing. */
    if (rb != NULL && rb->len == 0 && !c->ex.up->recv_pending) {
        rb->off = 0;
    }
    return 0;
}

/* Classifies new bytes in rbuf as body (resp_ready) following the response framing. */
static int scan_body(struct mtlb_client *c)
{
    struct mtlb_buf *rb = mtlb_exchange_rbuf(&c->ex);
    uint32_t avail = rb->len - c->resp_ready;

    if (c->resp_framed || avail == 0) {
        goto tail;
    }
    switch (c->ex.resp.body) {
    case MTLB_BODY_LENGTH: {
        uint32_t take = avail < c->resp_body_left ? avail : (uint32_t)c->resp_body_left;
        c->resp_ready += take;
        c->resp_body_left -= take;
        c->resp_framed = c->resp_body_left == 0;
        break;
    }
    case MTLB_BODY_CHUNKED: {
        bool done = false;
        ssize_t n =
            mtlb_h1_chunked_scan(&c->resp_ck, rb->data + rb->off + c->resp_ready, avail, &done);
        if (n < 0) {
            return -EBADMSG;
        }
        c->resp_ready += (uint32_t)n;
        c->resp_framed = done;
        break;
    }
    default:
        c->resp_ready += avail;
        break;
    }
tail:
    if (c->resp_framed && rb->len > c->resp_ready) {
        /* Bytes after the end of the response: the connection is out of step, never reuse. */
        c->resp_keepalive = false;
        rb->len = c->resp_ready;
    }
    return 0;
}

void mtlb_client_fail(struct mtlb_client *c, int status)
{
    if (c->dead || c->state == MTLB_C_CLOSING) {
        return;
    }
    if (mtlb_client_bufs_take(c) != 0) {
        mtlb_client_abort(c);
        return;
    }
    c->w->ctr.responses_err++;
    mtlb_client_req_splice_stop(c); /* the rest of the body is not wanted now */
    mtlb_exchange_finish(&c->ex, false);
    c->status = status;
    const char *text = mtlb_http_status_text(status);
    int n = 0;
    if (!c->resp_started) {
        n = snprintf(c->up_head, c->up_head_cap,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s\n",
                     status, text, strlen(text) + 1, text);
        c->resp_bytes = (uint64_t)n; /* what the client gets for this request: the page */
    }
    if (c->state == MTLB_C_EXCHANGE || status != 408 || c->rx.len > 0) {
        mtlb_access_log_exchange(c);
    }
    if (c->resp_started) {
        /* Part of a response is already out: the only honest signal left is the close. */
        mtlb_client_abort(c);
        return;
    }
    c->up_head_len = (uint32_t)n;
    c->resp_head_off = 0;
    c->resp_started = true;
    mtlb_client_begin_close(c);
    if (write_out(c) == 0) {
        mtlb_client_finish_close(c);
    }
}

static bool is_head(const struct mtlb_client *c)
{
    return c->req.method.len == 4 && memcmp(c->req.method.p, "HEAD", 4) == 0;
}

/* Sends mtlb's own complete response, the n bytes in up_head (body_len of them the body), and
 * ends the exchange as a backend's response would (close_after decides what follows). */
static void send_local(struct mtlb_client *c, int status, int n, size_t body_len)
{
    mtlb_timer_disarm(&c->timer); /* re-armed by the sends while the client reads slowly */
    c->status = status;
    c->up_head_len = (uint32_t)n;
    c->resp_head_off = 0;
    c->resp_started = c->resp_local = true;
    c->resp_bytes = body_len;
    mtlb_client_on_upstream_data(c);
}

void mtlb_client_refuse(struct mtlb_client *c, int status)
{
    const char *text = mtlb_http_status_text(status);
    bool head = is_head(c);

    if (c->dead || c->state == MTLB_C_CLOSING || c->resp_started) {
        mtlb_client_fail(c, status); /* it knows what is left to do in those states */
        return;
    }
    c->w->ctr.responses_err++;
    /* A body is not read: closing after the answer keeps the connection in step. */
    c->close_after = c->close_after || !c->req.keep_alive || !c->req_body_done;
    int n = snprintf(c->up_head, c->up_head_cap,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n"
                     "%s%s",
                     status, text, strlen(text) + 1, c->close_after ? "Connection: close\r\n" : "",
                     head ? "" : text, head ? "" : "\n");
    if (n < 0 || (uint32_t)n >= c->up_head_cap) {
        mtlb_client_fail(c, status);
        return;
    }
    send_local(c, status, n, head ? 0 : strlen(text) + 1);
}

void mtlb_client_redirect(struct mtlb_client *c, const struct mtlb_authority_request *ar,
                          uint16_t https_port)
{
    static const char body[] = "Moved Permanently\n";
    const struct mtlb_authority *au = &ar->authority;
    bool head = is_head(c);
    char port[8] = "";

    /* Only a validated name is ever sent back: without one (HTTP/1.0 and no Host) there is
     * nowhere to redirect to, and "*" names no resource. */
    if (au->host_len == 0 || (!ar->slash && (ar->target.len == 0 || ar->target.p[0] != '/'))) {
        mtlb_client_fail(c, 400);
        return;
    }
    if (https_port != 443) {
        snprintf(port, sizeof(port), ":%u", (unsigned)https_port);
    }
    /* A body is not read: closing after the answer keeps the connection in step. */
    c->close_after = c->close_after || !c->req.keep_alive || !c->req_body_done;
    int n =
        snprintf(c->up_head, c->up_head_cap,
                 "HTTP/1.1 301 Moved Permanently\r\nLocation: https://%s%s%s%.*s\r\n"
                 "Content-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n%s",
                 au->host, port, ar->slash ? "/" : "", (int)ar->target.len, ar->target.p,
                 sizeof(body) - 1, c->close_after ? "Connection: close\r\n" : "", head ? "" : body);
    if (n < 0 || (uint32_t)n >= c->up_head_cap) {
        mtlb_client_fail(c, 431); /* a target near the head limit: the Location would not fit */
        return;
    }
    send_local(c, 301, n, head ? 0 : sizeof(body) - 1);
}

/* The backend's final head, rewritten for the client (the exchange checked it). */
static int h1_head(void *owner, const struct mtlb_h1_message *resp)
{
    struct mtlb_client *c = owner;
    bool close_client = !c->req.keep_alive || c->w->stopping ||
                        resp->body == MTLB_BODY_UNTIL_CLOSE || !c->req_body_done;
    ssize_t n = mtlb_rewrite_response(resp, close_client, c->up_head, c->up_head_cap);

    if (n < 0) {
        return -EBADMSG;
    }
    c->close_after = close_client;
    c->resp_keepalive = resp->keep_alive && resp->body != MTLB_BODY_UNTIL_CLOSE;
    c->up_head_len = (uint32_t)n;
    c->resp_head_off = 0;
    c->resp_head_done = c->resp_started = true;
    c->status = resp->status;
    c->resp_ready = 0;
    c->resp_framed = resp->body == MTLB_BODY_NONE;
    c->resp_body_left = resp->body == MTLB_BODY_LENGTH ? resp->content_length : 0;
    mtlb_h1_chunked_init(&c->resp_ck);
    return 0;
}

static int h1_interim(void *owner, int status)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

    (void)status; /* only a 100 the client asked for comes here */
    if (mtlb_client_tls_put(owner, cont, sizeof(cont) - 1) < 0) {
        return -1;
    }
    /* Out now: its client waits for it before sending the body, and nothing else would
     * send tout until the client_body timeout's 408. */
    mtlb_client_flush(owner);
    return 0;
}

void mtlb_client_splice_stop(struct mtlb_client *c)
{
    mtlb_splice_stop(&c->spl);
    mtlb_client_req_splice_stop(c);
}

void mtlb_client_exchange_done(struct mtlb_client *c)
{
    mtlb_access_log_exchange(c);
    mtlb_exchange_finish(&c->ex, c->resp_keepalive);
    c->ex.up_error = MTLB_UPE_NONE;
    if (c->close_after || c->w->stopping) {
        mtlb_client_begin_close(c);
        mtlb_client_finish_close(c);
        return;
    }
    /* Drop this request's head and body from rx; a pipelined request may follow. */
    uint32_t used = c->head_len + c->req_fwd;
    memmove(c->rx.data, c->rx.data + used, c->rx.len - used);
    c->rx.len -= used;
    c->head_len = c->req_fwd = 0;
    c->resp_started = c->resp_head_done = c->resp_local = false;
    c->up_head_len = c->resp_head_off = 0;
    c->state = MTLB_C_HEAD;
    /* A pipelined request's clock starts when mtlb turns to it; an idle connection's at the
     * first byte (read_head). */
    c->started_ms = c->w->now_ms;
    c->started_us = c->w->now_us;
    c->resp_bytes = 0;
    mtlb_timer_arm(c->w, &c->timer, c->rx.len ? MTLB_T_CLIENT_HEADER : MTLB_T_CLIENT_IDLE);
    mtlb_client_pump(c);
}

/* ---- the zero-copy path: once the head and the body bytes that came with it have left tout,
 * the rest of a Content-Length body goes from the backend socket to the client socket by
 * splice (splice.h), never through rbuf or tout. Here: the rule's inputs, the timers and the
 * accounting while the relay runs, and what a failure means for the exchange. ---- */

static void spl_moved(void *owner, uint32_t n)
{
    struct mtlb_client *c = owner;

    c->resp_bytes += n;
    mtlb_counter_add(&c->w->stats->spliced_bytes, n);
}

/* The backend is timed while the relay waits for its bytes, the client while it waits for
 * the client to take them (as the copy path's two timers). */
static void spl_waiting(void *owner, bool on_in)
{
    struct mtlb_client *c = owner;

    if (c->dead || c->spl_up == NULL || c->ex.up != c->spl_up) {
        return;
    }
    mtlb_upstream_wait(c->spl_up, on_in);
    if (on_in) {
        mtlb_timer_disarm(&c->timer);
    } else {
        mtlb_timer_arm(c->w, &c->timer, MTLB_T_CLIENT_BODY);
    }
}

static void spl_failed(struct mtlb_client *c, int res, bool in_side)
{
    static struct mtlb_ratelimit rl;

    if (in_side) {
        /* The framing promised more: the exchange's truncated path closes the client. */
        mtlb_exchange_body_ended(&c->ex, res == -EPIPE ? 0 : res);
        if (!c->dead) {
            mtlb_client_abort(c);
        }
        return;
    }
    mtlb_log_rl(&rl, 5, MTLB_LOG_DEBUG, "conn=%llu event=client_send_error error=\"%s\"",
                (unsigned long long)c->id, strerror(-res));
    mtlb_client_abort(c);
}

static void spl_done(void *owner, int res, bool in_side)
{
    struct mtlb_client *c = owner;
    struct mtlb_upstream *u = c->spl_up;

    c->spl_up = NULL;
    mtlb_upstream_hold(u, false);
    if (!c->dead) {
        if (res == 0) {
            c->resp_body_left = 0;
            c->resp_framed = true;
            mtlb_timer_disarm(&c->timer);
            mtlb_client_exchange_done(c);
        } else {
            spl_failed(c, res, in_side);
        }
    }
    mtlb_client_hold(c, false); /* last: c may go to the graveyard here */
}

static const struct mtlb_splice_ops spl_ops = {
    .moved = spl_moved,
    .waiting = spl_waiting,
    .done = spl_done,
};

/* Does the rest of this response's body qualify (splice.h's rule, on what c knows)? */
static bool wanted(const struct mtlb_client *c, const struct mtlb_upstream *u)
{
    const struct mtlb_listener_cfg *l = &c->snap->cfg->listeners[c->listener];

    return mtlb_splice_wanted(!l->no_splice, c->transport, u->tls != NULL,
                              c->ex.resp.body == MTLB_BODY_LENGTH && !c->resp_framed,
                              c->resp_body_left) &&
           c->req_body_done && c->state == MTLB_C_EXCHANGE && !c->resp_local;
}

/* The rest of the body by splice: true while that path owns it (started, or waiting for tout
 * to drain first), false to relay it through rbuf. */
static bool splice_body(struct mtlb_client *c)
{
    struct mtlb_upstream *u = c->ex.up;

    if (c->spl.active) {
        return true; /* the relay drives the body until it ends */
    }
    /* Only from a clean point: rbuf relayed and empty, no backend read in flight. */
    if (u == NULL || u->recv_pending || u->rbuf.len > 0 || c->resp_ready > 0 ||
        c->resp_head_off < c->up_head_len || !wanted(c, u)) {
        return false;
    }
    if (c->send_pending || c->tout.len > 0) {
        /* The spliced bytes must follow what tout holds; meanwhile only the client is timed. */
        mtlb_upstream_wait(u, false);
        mtlb_client_flush(c);
        return true;
    }
    /* No MTLB_SPLICE_FILL: the client's kTLS socket is the destination (splice.h). */
    int rc = mtlb_splice_start(&c->spl, c->w->io, &c->w->pipes, u->fd, c->fd, c->resp_body_left, 0,
                               &spl_ops, c);
    if (rc != 0) {
        return false; /* no pipe (fd limit): the copy path still works */
    }
    mtlb_counter_add(&c->w->stats->spliced_bodies, 1);
    c->spl_up = u;
    mtlb_upstream_hold(u, true);
    mtlb_client_hold(c, true);
    return true;
}

/* Drives the response side: head, body, completion, and the next backend read. */
void mtlb_client_on_upstream_data(struct mtlb_client *c)
{
    struct mtlb_upstream *u = c->ex.up;

    if (c->state == MTLB_C_CLOSING) {
        if (write_out(c) == 0) {
            mtlb_client_finish_close(c);
        }
        return;
    }
    if (c->resp_local && c->state == MTLB_C_EXCHANGE) {
        if (write_out(c) == 0 && c->resp_head_off == c->up_head_len) {
            mtlb_client_exchange_done(c);
        }
        return;
    }
    if (u == NULL || c->state != MTLB_C_EXCHANGE || c->spl.active) {
        return;
    }
    if (!c->resp_head_done) {
        if (!u->connecting) {
            mtlb_exchange_recv(&c->ex); /* the exchange reads the head */
        }
        return;
    }
    if (scan_body(c) != 0) {
        static struct mtlb_ratelimit rl;
        mtlb_log_rl(&rl, 10, MTLB_LOG_WARN, "conn=%llu event=bad_response reason=\"bad chunk\"",
                    (unsigned long long)c->id);
        mtlb_client_abort(c);
        return;
    }
    if (write_out(c) != 0) {
        return;
    }
    if (c->resp_framed && c->resp_ready == 0 && c->resp_head_off == c->up_head_len) {
        mtlb_client_exchange_done(c);
        return;
    }
    if (splice_body(c)) {
        return;
    }
    mtlb_exchange_recv(&c->ex);
    mtlb_client_flush(c);
}

/* ---- the exchange's view of an HTTP/1.1 request (struct mtlb_exchange_ops) ---- */

/* The rewritten head, then the body bytes of rx not yet sent. */
static int h1_fill(void *owner, struct iovec *iov, int max)
{
    struct mtlb_client *c = owner;
    int n = 0;

    if (c->up_head_sent < c->up_head_len && n < max) {
        iov[n].iov_base = c->up_head + c->up_head_sent;
        iov[n].iov_len = c->up_head_len - c->up_head_sent;
        n++;
    }
    if (c->req_sent < c->req_fwd && n < max) {
        iov[n].iov_base = c->rx.data + c->head_len + c->req_sent;
        iov[n].iov_len = c->req_fwd - c->req_sent;
        n++;
    }
    return n;
}

/* A send of the whole window completed: drop the sent body bytes from rx so the window can
 * refill (unless the request must stay whole for a resend). */
static void request_sent(struct mtlb_client *c)
{
    if (c->req_sent == c->req_fwd && !c->req_body_done && !c->req_retryable) {
        uint32_t body_start = c->head_len;
        uint32_t tail = c->rx.len - body_start - c->req_fwd;
        memmove(c->rx.data + body_start, c->rx.data + body_start + c->req_fwd, tail);
        c->rx.len -= c->req_fwd;
        c->req_fwd = c->req_sent = 0;
    }
}

static int h1_sent(void *owner, uint32_t n)
{
    struct mtlb_client *c = owner;
    uint32_t head = c->up_head_len - c->up_head_sent;
    uint32_t h = n < head ? n : head;

    c->up_head_sent += h;
    c->req_sent += n - h;
    if (c->up_head_sent < c->up_head_len || c->req_sent < c->req_fwd) {
        return 1;
    }
    request_sent(c);
    return c->req_body_done ? 0 : -1;
}

static bool h1_request_done(void *owner)
{
    return ((struct mtlb_client *)owner)->req_body_done;
}

/* rx still holds the whole request when req_retryable. */
static bool h1_held(void *owner, bool after_write)
{
    (void)after_write;
    return ((struct mtlb_client *)owner)->req_retryable;
}

static void h1_restart(void *owner)
{
    struct mtlb_client *c = owner;
    c->up_head_sent = 0;
    c->req_sent = 0;
}

static void h1_more_body(void *owner)
{
    mtlb_client_pump(owner);
}

static void h1_data(void *owner)
{
    struct mtlb_client *c = owner;

    if (c->ex.up_eof) {
        c->resp_framed = true; /* an until-close body ends at the backend's EOF */
        c->resp_keepalive = false;
    }
    mtlb_client_on_upstream_data(c);
}

static void h1_fail(void *owner, int status)
{
    mtlb_client_fail(owner, status);
}

static void h1_truncated(void *owner)
{
    mtlb_client_abort(owner);
}

const struct mtlb_exchange_ops mtlb_client_exchange_ops = {
    .fill = h1_fill,
    .sent = h1_sent,
    .request_done = h1_request_done,
    .held = h1_held,
    .restart = h1_restart,
    .more_body = h1_more_body,
    .interim = h1_interim,
    .head = h1_head,
    .data = h1_data,
    .fail = h1_fail,
    .truncated = h1_truncated,
};
