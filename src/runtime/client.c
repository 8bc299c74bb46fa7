/* The HTTP/1.1 protocol of a client connection (mtlb_h1_proto): reading request heads,
 * forwarding request bodies, keep-alive and pipelining, its timeouts. The authority, route and
 * rewrite shared with HTTP/2 are routing.c's. Bytes come and go through the transport
 * (transport.h); response relay lives in response.c. Everything here is non-blocking. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mtlb/access.h"
#include "mtlb/authority.h"
#include "mtlb/body_limit.h"
#include "mtlb/client_bufs.h"
#include "mtlb/client_types.h"
#include "mtlb/config.h"
#include "mtlb/exchange.h"
#include "mtlb/h1.h"
#include "mtlb/h1_client.h"
#include "mtlb/ktls.h"
#include "mtlb/log.h"
#include "mtlb/loop.h"
#include "mtlb/pool_set.h"
#include "mtlb/rewrite.h"
#include "mtlb/snapshot.h"
#include "mtlb/tls.h"
#include "mtlb/transport.h"
#include "mtlb/worker_types.h"

/* The request's body limit: its route's, else its listener's (mtlb_client_prepare). */
static uint64_t body_limit(const struct mtlb_client *c)
{
    return c->body_limit;
}

/* Moves body bytes that are in rx into the request being forwarded, following the framing.
 * -EBADMSG: bad chunked framing; -EFBIG: the decoded body went over the limit, and none of
 * the bytes that crossed it were given to the backend. */
static int take_body(struct mtlb_client *c)
{
    uint32_t start = c->head_len + c->req_fwd;
    uint32_t avail = c->rx.len - start;

    if (c->req_body_done || avail == 0) {
        return 0;
    }
    if (c->req.body == MTLB_BODY_LENGTH) {
        uint32_t take = avail < c->req_body_left ? avail : (uint32_t)c->req_body_left;
        c->req_fwd += take;
        c->rec->bytes_in += take;
        c->req_body_left -= take;
        c->req_body_done = c->req_body_left == 0;
        return 0;
    }
    /* The body is rewritten in place into canonical framing (the output never outgrows the
     * input); what it gave back is closed up, so rx stays "head | body to send | unread". */
    bool done = false;
    size_t out = 0;
    const struct mtlb_config *cfg = c->ps->snap->cfg;
    struct mtlb_trailer_rules rules = {&cfg->header_policy, &cfg->id_headers};
    ssize_t n = mtlb_h1_chunked_relay(
        &c->req_ck, c->rx.data + start, avail, &out, &done,
        rules.policy->forward_trailers ? mtlb_rewrite_trailer_filter_rules : NULL, &rules);
    if (n < 0) {
        return -EBADMSG;
    }
    if (mtlb_body_limit_check(body_limit(c), c->req_ck.body_bytes) != 0) {
        return -EFBIG;
    }
    c->rec->bytes_in += (uint64_t)n; /* as received: the chunked coding included */
    if ((size_t)n > out) {
        memmove(c->rx.data + start + out, c->rx.data + start + n, avail - (size_t)n);
        c->rx.len -= (uint32_t)((size_t)n - out);
    }
    c->req_fwd += (uint32_t)out;
    c->req_body_done = done;
    return 0;
}

/* take_body's result as the status to answer with (0: go on). */
static int take_body_status(struct mtlb_client *c)
{
    int rc = take_body(c);
    return rc == 0 ? 0 : rc == -EFBIG ? 413 : 400;
}

/* The connection's per-exchange state, fresh for the request just read. */
static void exchange_state_reset(struct mtlb_client *c)
{
    c->state = MTLB_C_EXCHANGE;
    c->h1_served = true;
    c->req_fwd = c->req_sent = c->up_head_sent = 0;
    c->resp_head_done = c->resp_done = false;
    c->resp_bytes = 0;
    c->status = 0;
    c->req_body_done = c->req.body == MTLB_BODY_NONE;
    c->req_body_left = c->req.body == MTLB_BODY_LENGTH ? c->req.content_length : 0;
    c->req_spl_plan = false;
    mtlb_h1_chunked_init(&c->req_ck);
}

static void exchange_begin(struct mtlb_client *c, size_t pool)
{
    const struct mtlb_exchange_req er = {
        .method = c->req.method,
        .expect_continue = c->req.expect_continue,
        .headers = c->hdrs,
        .max_headers = c->snap->cfg->limits.max_headers, /* c->hdrs' size */
        .rec = c->rec,
        .conn_id = c->id,
    };
    mtlb_exchange_begin(&c->ex, c->w, c->ps, pool, &er);
}

static void start_request(struct mtlb_client *c)
{
    struct mtlb_worker *w = c->w;
    /* The request's backend pools are those of the worker's current snapshot, also on a
     * connection accepted before a reload. */
    mtlb_pool_set_take(w, &c->ps);

    exchange_state_reset(c);
    w->ctr.requests++;
    mtlb_access_rec_start(c->rec, w, &c->req);
    size_t pool = 0;
    size_t len = 0;
    /* A redirect listener (tls: false, http: redirect; the connection's own setting) answers
     * every request itself: no route, no backend. */
    const struct mtlb_listener_cfg *own = &c->snap->cfg->listeners[c->listener];
    bool redirect = own->plain && own->plain_http == MTLB_PLAIN_REDIRECT;
    struct mtlb_authority_request ar = {0};
    int status = redirect ? mtlb_client_authority(c, &c->req, &ar)
                          : mtlb_client_prepare(c, &c->req, c->ps->snap, c->rec, c->up_head,
                                                c->up_head_cap, &pool, &len, &c->body_limit);
    exchange_begin(c, pool);
    if (status == 403 || status == 404) {
        mtlb_client_refuse(c, status);
        return;
    }
    if (status != 0) {
        mtlb_client_fail(c, status);
        return;
    }
    if (redirect) {
        mtlb_client_redirect(c, &ar, own->https_port);
        return;
    }
    c->up_head_len = (uint32_t)len;
    /* A declared length over the limit is refused before any backend is chosen. */
    status = c->req.body == MTLB_BODY_LENGTH
                 ? mtlb_body_limit_check(body_limit(c), c->req.content_length)
                 : 0;
    if (status == 0) {
        status = take_body_status(c);
    }
    if (status != 0) {
        mtlb_client_fail(c, status);
        return;
    }
    /* Only a request that is whole in rx can be sent again to another server. */
    c->req_retryable = c->req_body_done;
    mtlb_client_req_splice_plan(c);
    if (c->req_body_done) {
        mtlb_timer_disarm(&c->timer);
    } else {
        mtlb_timer_arm(w, &c->timer, MTLB_T_CLIENT_BODY);
    }
    mtlb_exchange_start(&c->ex);
}

/* Whether the head must be parsed now. A head arriving in small reads is searched for its end
 * once (mtlb_h1_head_end resumes where it stopped) and parsed only where the parser can decide
 * something new (HAProxy's "at most twice"): on the first bytes (a garbage request line is
 * refused at once), until the request target is known when a SP arrives (so that a head
 * refused later still names its request), where the head may end, and at the size limit. */
static bool head_parse_due(struct mtlb_client *c, uint32_t limit)
{
    size_t from = c->head_scanned;
    size_t scanned = from;

    if (from == 0 || c->rx.len >= limit) {
        c->head_scanned = c->rx.len;
        return true;
    }
    bool end = mtlb_h1_head_end(c->rx.data, c->rx.len, &scanned) != MTLB_INCOMPLETE;
    c->head_scanned = (uint32_t)scanned;
    return end ||
           (c->req.target.len == 0 && memchr(c->rx.data + from, ' ', scanned - from) != NULL);
}

/* HTTP/2 with prior knowledge (RFC 9113 section 3.3) on a plain listener with http: allow:
 * its preface reads as the request line "PRI * HTTP/2.0", refused by the HTTP/1.1 parser. As
 * the connection's first bytes it turns the connection into the protocol the worker named in
 * c->h2_prior, which reads the preface from rx. A listener that does not allow HTTP/2 (a redirect
 * listener) names mtlb_prior_refuse_proto there, which answers SETTINGS and GOAWAY
 * (HTTP_1_1_REQUIRED) and closes. */
static bool h2_prior_knowledge(struct mtlb_client *c)
{
    static const char pri[] = "PRI * HTTP/2.0\r\n";

    if (c->h2_prior == NULL || c->h1_served || c->rx.len < sizeof(pri) - 1 ||
        memcmp(c->rx.data, pri, sizeof(pri) - 1) != 0) {
        return false;
    }
    mtlb_client_switch_proto(c, c->h2_prior);
    return true;
}

/* Parses the head in rx into c->req: its slices point into rx, its headers into c->hdrs. */
static int parse_head(struct mtlb_client *c)
{
    memset(&c->req, 0, sizeof(c->req));
    c->req.headers = c->hdrs;
    c->req.max_headers = c->snap->cfg->limits.max_headers;
    return mtlb_h1_parse_request(c->rx.data, c->rx.len, &c->req);
}

static void read_head(struct mtlb_client *c)
{
    /* The connection's own limits: its buffers were sized by them. */
    const struct mtlb_limits_cfg *lim = &c->snap->cfg->limits;
    bool had_bytes = c->rx.len > 0;

    if (!mtlb_client_read_plain(c)) {
        return;
    }
    if (c->rx.len == 0) {
        return;
    }
    if (!had_bytes) {
        c->started_ms = c->w->now_ms; /* the request's first byte: its duration starts */
        c->started_us = c->w->now_us;
        c->resp_bytes = 0;
        c->head_scanned = 0;
        if (c->timer.kind == MTLB_T_CLIENT_IDLE) {
            mtlb_timer_arm(c->w, &c->timer, MTLB_T_CLIENT_HEADER);
        }
    }
    if (!head_parse_due(c, lim->max_header_bytes)) {
        return; /* no end yet, and under the limit: what the last parse said still holds */
    }
    int rc = parse_head(c);
    if (rc > 0) {
        c->head_len = (uint32_t)rc;
        c->head_scanned = 0; /* bytes after this head (pipelined) start a new one */
        if (c->head_len > lim->max_header_bytes) {
            mtlb_client_fail(c, 431);
            return;
        }
        start_request(c);
    } else if (rc == MTLB_INCOMPLETE) {
        if (c->rx.len >= lim->max_header_bytes) {
            mtlb_client_fail(c, 431);
        }
    } else if (!h2_prior_knowledge(c)) {
        static struct mtlb_ratelimit rl;
        mtlb_log_rl(&rl, 10, MTLB_LOG_INFO,
                    "conn=%llu peer=%s event=bad_request status=%d offset=%zu reason=\"%s\"",
                    (unsigned long long)c->id, c->ip, c->req.error_status, c->req.error_offset,
                    c->req.error_reason ? c->req.error_reason : "invalid");
        mtlb_client_fail(c, c->req.error_status ? c->req.error_status : 400);
    }
}

/* Reads more request body from the client once the previous window went to the backend. */
static void pump_body(struct mtlb_client *c)
{
    if (c->req_body_done || !mtlb_exchange_can_send(&c->ex)) {
        return;
    }
    if (c->req_sent < c->req_fwd) {
        return; /* the upstream side sends what it has first */
    }
    if (mtlb_client_req_splice_try(c)) {
        return; /* the rest of the body goes by splice (splice_req.c) */
    }
    if (!mtlb_client_read_plain(c)) {
        return;
    }
    int status = take_body_status(c);
    if (status != 0) {
        /* 413 while no response has started; once one has, mtlb_client_fail closes. */
        mtlb_client_fail(c, status);
        return;
    }
    if (c->req_fwd > c->req_sent) {
        mtlb_exchange_send(&c->ex);
    }
}

static void h1_on_timeout(struct mtlb_client *c)
{
    static struct mtlb_ratelimit rl;

    if (c->state == MTLB_C_HEAD && c->rx.len == 0) {
        mtlb_client_abort(c); /* idle keep-alive or no first request: just close */
    } else if (c->state == MTLB_C_HEAD) {
        mtlb_log_rl(&rl, 10, MTLB_LOG_INFO, "conn=%llu peer=%s event=client_timeout phase=header",
                    (unsigned long long)c->id, c->ip);
        /* A head parked while it waited (client_bufs.h) comes back unparsed: parse it again so
         * that the 408's access line still names the request. */
        if (mtlb_client_bufs_take(c) != 0) {
            mtlb_client_abort(c);
            return;
        }
        if (c->head_scanned == 0) {
            c->head_scanned = c->rx.len;
            (void)parse_head(c);
        }
        mtlb_client_fail(c, 408);
    } else {
        mtlb_log_rl(&rl, 10, MTLB_LOG_INFO, "conn=%llu peer=%s event=client_timeout phase=body",
                    (unsigned long long)c->id, c->ip);
        mtlb_client_fail(c, 408);
    }
}

static int h1_start(struct mtlb_client *c)
{
    mtlb_exchange_init(&c->ex, &mtlb_client_exchange_ops, c);
    c->state = MTLB_C_HEAD;
    mtlb_timer_arm(c->w, &c->timer, MTLB_T_CLIENT_HEADER);
    return 0;
}

static void h1_on_input(struct mtlb_client *c)
{
    if (c->state == MTLB_C_HEAD) {
        read_head(c);
    } else if (c->state == MTLB_C_EXCHANGE) {
        pump_body(c);
        if (!c->dead && c->state == MTLB_C_EXCHANGE) {
            mtlb_client_on_upstream_data(c);
        }
    } else {
        mtlb_client_on_upstream_data(c); /* CLOSING: the rest of the last response */
    }
}

/* A client is timed while it sends its body and while a response waits for it to read: one
 * that stops reading is timed out like one that stops sending. */
static void h1_on_progress(struct mtlb_client *c, bool sent)
{
    if (c->state != MTLB_C_EXCHANGE) {
        return;
    }
    if (!c->req_body_done || (sent && c->tout.len > 0)) {
        mtlb_timer_arm(c->w, &c->timer, MTLB_T_CLIENT_BODY);
    } else if (sent && c->timer.kind == MTLB_T_CLIENT_BODY) {
        mtlb_timer_disarm(&c->timer);
    }
}

static bool h1_idle(const struct mtlb_client *c)
{
    return c->state == MTLB_C_HEAD && c->rx.len == 0 && c->ex.up == NULL;
}

/* Once the whole request is in, the client is not read again until its response is complete:
 * pipelined requests wait in the socket, and an idle connection never has a read pending into
 * its (returnable) buffers. */
static bool h1_wants_input(const struct mtlb_client *c)
{
    /* A body planned for splice is not read either: a read would take its bytes. */
    return !(c->state == MTLB_C_EXCHANGE &&
             (c->req_body_done || mtlb_client_req_splice_owns_input(c)));
}

static bool h1_park(struct mtlb_client *c)
{
    return c->state == MTLB_C_HEAD && c->ex.up == NULL;
}

static bool h1_peer_closed(struct mtlb_client *c)
{
    if (c->state != MTLB_C_EXCHANGE) {
        return false;
    }
    if (!c->req_body_done) {
        mtlb_client_abort(c); /* the request can never be completed */
        return true;
    }
    c->close_after = true; /* the response finishes first */
    return true;
}

/* Aborted: the backend connection goes too, never back to the pool. */
static void h1_free(struct mtlb_client *c)
{
    mtlb_client_splice_stop(c);
    mtlb_exchange_finish(&c->ex, false);
}

const struct mtlb_proto_ops mtlb_h1_proto = {
    .start = h1_start,
    .on_input = h1_on_input,
    .on_progress = h1_on_progress,
    .on_timeout = h1_on_timeout,
    .shutdown = NULL,
    .idle = h1_idle,
    .wants_input = h1_wants_input,
    .park = h1_park,
    .peer_closed = h1_peer_closed,
    .free = h1_free,
};
