/* The response half of an exchange: parsing the backend's head, relaying head and body to
 * the client through TLS with bounded buffers, error pages, retries on a fresh connection,
 * and what happens when an exchange ends (keep-alive, pipelining, close). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#include "mtlb/log.h"
#include "mtlb/rewrite.h"
#include "mtlb/runtime.h"
#include "mtlb/transport.h"

#define TLS_CHUNK MTLB_TLS_CHUNK

/* Relays what can be relayed now: the pending head, then known body bytes. */
static int write_out(struct mtlb_client *c)
{
    struct mtlb_upstream *u = c->up;

    /* A small response goes out as one TLS record: the body bytes already known join the
     * head in up_head (one SSL_write, one AES-GCM pass, instead of two). */
    uint32_t head_left = c->up_head_len - c->resp_head_off;
    if (head_left > 0 && u != NULL && c->resp_ready > 0 && head_left + c->resp_ready <= TLS_CHUNK &&
        c->up_head_len + c->resp_ready <= c->up_head_cap) {
        uint32_t n = c->resp_ready;
        memcpy(c->up_head + c->up_head_len, u->rbuf.data + u->rbuf.off, n);
        c->up_head_len += n;
        u->rbuf.off += n;
        u->rbuf.len -= n;
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
        } else if (u != NULL && c->resp_ready > 0) {
            p = u->rbuf.data + u->rbuf.off;
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
            u->rbuf.off += (uint32_t)n;
            u->rbuf.len -= (uint32_t)n;
            c->resp_ready -= (uint32_t)n;
            c->resp_bytes += (uint64_t)n;
        }
    }
    /* Rewinding under a pending recv would misplace the bytes it is writing. */
    if (u != NULL && u->rbuf.len == 0 && !u->recv_pending) {
        u->rbuf.off = 0;
    }
    return 0;
}

/* Classifies new bytes in rbuf as body (resp_ready) following the response framing. */
static int scan_body(struct mtlb_client *c)
{
    struct mtlb_upstream *u = c->up;
    uint32_t avail = u->rbuf.len - c->resp_ready;

    if (c->resp_framed || avail == 0) {
        goto tail;
    }
    switch (c->resp.body) {
    case MTLB_BODY_LENGTH: {
        uint32_t take = avail < c->resp_body_left ? avail : (uint32_t)c->resp_body_left;
        c->resp_ready += take;
        c->resp_body_left -= take;
        c->resp_framed = c->resp_body_left == 0;
        break;
    }
    case MTLB_BODY_CHUNKED: {
        bool done = false;
        ssize_t n = mtlb_h1_chunked_scan(&c->resp_ck, u->rbuf.data + u->rbuf.off + c->resp_ready,
                                         avail, &done);
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
    if (c->resp_framed && u->rbuf.len > c->resp_ready) {
        /* Bytes after the end of the response: the connection is out of step, never reuse. */
        c->resp_keepalive = false;
        u->rbuf.len = c->resp_ready;
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
    if (c->up != NULL) {
        mtlb_upstream_release(c->up, false);
        c->up = NULL;
    }
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

/* Looks for the final response head in rbuf, relaying 100 Continue on the way. */
static int parse_head(struct mtlb_client *c)
{
    struct mtlb_upstream *u = c->up;
    struct mtlb_worker *w = c->w;
    bool is_head = c->req.method.len == 4 && memcmp(c->req.method.p, "HEAD", 4) == 0;

    for (;;) {
        memset(&c->resp, 0, sizeof(c->resp));
        c->resp.headers = c->hdrs;
        c->resp.max_headers = c->snap->cfg->limits.max_headers; /* c->hdrs' size */
        int rc = mtlb_h1_parse_response(u->rbuf.data + u->rbuf.off, u->rbuf.len, is_head, &c->resp);
        if (rc == MTLB_INCOMPLETE) {
            if (u->rbuf.off + u->rbuf.len == u->rbuf.cap) {
                c->up_error = MTLB_UPE_BAD_RESPONSE;
                mtlb_client_fail(c, 502);
                return -1;
            }
            return 1;
        }
        if (rc < 0 || c->resp.status == 101) {
            static struct mtlb_ratelimit rl;
            mtlb_log_rl(&rl, 10, MTLB_LOG_WARN,
                        "conn=%llu event=bad_response upstream=%s reason=\"%s\"",
                        (unsigned long long)c->id, mtlb_upstream_name(u),
                        c->resp.error_reason ? c->resp.error_reason : "upgrade refused");
            c->up_error = MTLB_UPE_BAD_RESPONSE;
            mtlb_client_fail(c, 502);
            return -1;
        }
        if (c->resp.status >= 100 && c->resp.status < 200) {
            u->rbuf.off += (uint32_t)rc;
            u->rbuf.len -= (uint32_t)rc;
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            if (c->resp.status == 100 && c->req.expect_continue &&
                mtlb_client_tls_put(c, cont, sizeof(cont) - 1) < 0) {
                return -1;
            }
            continue;
        }
        bool close_client = !c->req.keep_alive || w->stopping ||
                            c->resp.body == MTLB_BODY_UNTIL_CLOSE || !c->req_body_done;
        ssize_t n = mtlb_rewrite_response(&c->resp, close_client, c->up_head, c->up_head_cap);
        if (n < 0) {
            c->up_error = MTLB_UPE_BAD_RESPONSE;
            mtlb_client_fail(c, 502);
            return -1;
        }
        c->up_error = MTLB_UPE_NONE; /* the backend answered: its status is its own */
        c->close_after = close_client;
        c->resp_keepalive = c->resp.keep_alive && c->resp.body != MTLB_BODY_UNTIL_CLOSE;
        c->up_head_len = (uint32_t)n;
        c->resp_head_off = 0;
        c->resp_head_done = c->resp_started = true;
        c->status = c->resp.status;
        mtlb_stats_backend(w, u->ps->snap, u->pool, u->server, c->status);
        mtlb_access_rec_response(&c->rec, mtlb_now_us());
        c->resp_ready = 0;
        c->resp_framed = c->resp.body == MTLB_BODY_NONE;
        c->resp_body_left = c->resp.body == MTLB_BODY_LENGTH ? c->resp.content_length : 0;
        mtlb_h1_chunked_init(&c->resp_ck);
        u->rbuf.off += (uint32_t)rc;
        u->rbuf.len -= (uint32_t)rc;
        return 0;
    }
}

void mtlb_client_exchange_done(struct mtlb_client *c)
{
    struct mtlb_upstream *u = c->up;

    mtlb_access_log_exchange(c);
    c->up = NULL;
    c->up_error = MTLB_UPE_NONE;
    if (u != NULL) {
        mtlb_upstream_release(u, c->resp_keepalive && c->req_body_done && u->rbuf.len == 0);
    }
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
    c->resp_started = c->resp_head_done = false;
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

/* Drives the response side: head, body, completion, and the next backend read. */
void mtlb_client_on_upstream_data(struct mtlb_client *c)
{
    struct mtlb_upstream *u = c->up;

    if (c->state == MTLB_C_CLOSING) {
        if (write_out(c) == 0) {
            mtlb_client_finish_close(c);
        }
        return;
    }
    if (u == NULL || c->state != MTLB_C_EXCHANGE) {
        return;
    }
    if (!c->resp_head_done) {
        if (u->connecting || parse_head(c) != 0) {
            if (!c->dead && c->up != NULL && !c->up->connecting) {
                mtlb_upstream_recv(c->up);
            }
            return;
        }
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
    mtlb_upstream_recv(u);
    mtlb_client_flush(c);
}

void mtlb_client_on_upstream_ready(struct mtlb_client *c)
{
    c->up_head_sent = 0;
    c->req_sent = 0;
    mtlb_upstream_recv(c->up);
    mtlb_upstream_send(c->up);
}

/* Drops c's backend connection and sends the request again on another, as the retry rule
 * allowed: the next server in turn (the same one again after a stale pooled connection), or
 * 503 when none is left. */
static void retry(struct mtlb_client *c)
{
    struct mtlb_upstream *u = c->up;
    size_t pool = u->pool;

    if (u->reused && u->server < 64) {
        c->skip_mask &= ~(1ULL << u->server);
    }
    c->up = NULL;
    mtlb_upstream_release(u, false);
    if (mtlb_upstream_acquire(c->w, c, pool) != 0) {
        mtlb_client_fail(c, 503);
    } else if (!c->up->connecting) {
        mtlb_client_on_upstream_ready(c);
    }
}

/* The backend connection ended or failed (err 0 = EOF). */
void mtlb_client_on_upstream_eof(struct mtlb_client *c, int err)
{
    struct mtlb_upstream *u = c->up;
    static struct mtlb_ratelimit rl;

    if (c->resp_head_done) {
        if (err == 0 && c->resp.body == MTLB_BODY_UNTIL_CLOSE) {
            c->resp_framed = true;
            c->resp_keepalive = false;
            mtlb_client_on_upstream_data(c);
            return;
        }
        mtlb_log_rl(&rl, 10, MTLB_LOG_WARN,
                    "conn=%llu event=upstream_truncated upstream=%s error=%d",
                    (unsigned long long)c->id, mtlb_upstream_name(u), -err);
        mtlb_client_abort(c);
        return;
    }
    /* The request goes again only when the rule says a second copy is harmless: rx still
     * holds the whole request when req_retryable. */
    c->up_error = MTLB_UPE_RESET;
    if (mtlb_retry_allowed(c->req.method, mtlb_upstream_stage(u), c->req_retryable)) {
        retry(c);
        return;
    }
    mtlb_log_rl(&rl, 10, MTLB_LOG_WARN, "conn=%llu event=upstream_error upstream=%s error=%d",
                (unsigned long long)c->id, mtlb_upstream_name(u), -err);
    mtlb_client_fail(c, 502);
}

/* Connecting to the chosen server failed (refused, unreachable, timed out): nothing was
 * sent, so the request moves on to the next server. */
void mtlb_client_upstream_failed(struct mtlb_client *c, int err, bool server_fault)
{
    struct mtlb_upstream *u = c->up;
    static struct mtlb_ratelimit rl;

    (void)server_fault;
    mtlb_log_rl(&rl, 10, MTLB_LOG_WARN,
                "conn=%llu event=upstream_connect_failed upstream=%s error=\"%s\"",
                (unsigned long long)c->id, mtlb_upstream_name(u), strerror(-err));
    c->up_error = MTLB_UPE_CONNECT_FAILED;
    if (mtlb_retry_allowed(c->req.method, MTLB_RETRY_CONNECT_FAILED, c->req_retryable)) {
        retry(c);
    } else {
        mtlb_client_fail(c, 502);
    }
}
