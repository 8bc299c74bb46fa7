/* The exchange with a backend, once for HTTP/1.1 and HTTP/2: server choice and connection
 * (through upstream.c), the request bytes its owner fills in, the response head rules (1xx,
 * 101, oversized, unparsable), the retry rule, timeouts, EOF and resets, the 5xx decisions,
 * access-record timings, stats and passive health. It owns the upstream connection's events
 * (struct mtlb_upstream_ops) and reports up to its owner through struct mtlb_exchange_ops;
 * how a response is written to the client is the owner's business. Worker thread only. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mtlb/access.h"
#include "mtlb/balance.h"
#include "mtlb/buf.h"
#include "mtlb/exchange.h"
#include "mtlb/h1.h"
#include "mtlb/health.h"
#include "mtlb/log.h"
#include "mtlb/retry.h"
#include "mtlb/snapshot.h"
#include "mtlb/stats_hooks.h"
#include "mtlb/upstream.h"
#include "mtlb/worker_types.h"

static const struct mtlb_upstream_ops up_ops;

void mtlb_exchange_init(struct mtlb_exchange *ex, const struct mtlb_exchange_ops *ops, void *owner)
{
    memset(ex, 0, sizeof(*ex));
    ex->ops = ops;
    ex->owner = owner;
}

void mtlb_exchange_fini(struct mtlb_exchange *ex)
{
    mtlb_exchange_finish(ex, false);
    mtlb_rr_skip_fini(&ex->tried);
}

void mtlb_exchange_begin(struct mtlb_exchange *ex, struct mtlb_worker *w, struct mtlb_pool_set *ps,
                         size_t pool, const struct mtlb_exchange_req *req)
{
    ex->w = w;
    ex->ps = ps;
    ex->pool = pool;
    ex->req = *req;
    ex->is_head = req->method.len == 4 && memcmp(req->method.p, "HEAD", 4) == 0;
    ex->up_error = MTLB_UPE_NONE;
    ex->head_done = ex->up_eof = false;
    /* Out of memory: only the first 64 servers are remembered, as before. */
    (void)mtlb_rr_skip_reset(&ex->tried, ps->snap->cfg->backends[pool].n_servers);
}

const char *mtlb_exchange_upstream_name(const struct mtlb_exchange *ex)
{
    return ex->up != NULL ? mtlb_upstream_name(ex->up) : "-";
}

struct mtlb_buf *mtlb_exchange_rbuf(struct mtlb_exchange *ex)
{
    return ex->up != NULL ? &ex->up->rbuf : NULL;
}

bool mtlb_exchange_can_send(const struct mtlb_exchange *ex)
{
    return ex->up != NULL && !ex->up->connecting && !ex->up->send_pending;
}

/* Rate-limited warning with the exchange's connection (and stream) and upstream. */
static void ex_log(const struct mtlb_exchange *ex, struct mtlb_ratelimit *rl, const char *event,
                   const char *what)
{
    char stream[24] = "";
    if (ex->req.stream_id > 0) {
        snprintf(stream, sizeof(stream), " stream=%d", ex->req.stream_id);
    }
    mtlb_log_rl(rl, 10, MTLB_LOG_WARN, "conn=%llu%s event=%s upstream=%s%s",
                (unsigned long long)ex->req.conn_id, stream, event, mtlb_exchange_upstream_name(ex),
                what);
}

void mtlb_exchange_finish(struct mtlb_exchange *ex, bool reusable)
{
    struct mtlb_upstream *u = ex->up;

    if (u == NULL) {
        return;
    }
    ex->up = NULL;
    mtlb_rr_end(&u->ps->pools[u->pool].rr, u->server);
    mtlb_upstream_release(u, reusable && u->rbuf.len == 0 && !ex->up_eof &&
                                 ex->ops->request_done(ex->owner));
}

static void fail(struct mtlb_exchange *ex, int status)
{
    mtlb_exchange_finish(ex, false);
    ex->ops->fail(ex->owner, status);
}

/* A connection was attached: its timings start over (a retry's replace the failed
 * attempt's). A pooled connection took no time to connect. */
static void rec_attach(struct mtlb_exchange *ex)
{
    struct mtlb_access_rec *r = ex->req.rec;

    r->up_connect_us = ex->up->connecting ? -1 : 0;
    r->up_sent_at = 0;
    r->up_response_us = -1;
}

static void ready(struct mtlb_exchange *ex)
{
    ex->ops->restart(ex->owner);
    mtlb_exchange_recv(ex);
    mtlb_exchange_send(ex);
}

void mtlb_exchange_start(struct mtlb_exchange *ex)
{
    int rc = mtlb_upstream_acquire(ex->w, ex->ps, ex->pool, &ex->tried, &up_ops, ex, &ex->up);
    if (rc != 0) {
        ex->up = NULL;
        if (ex->up_error == MTLB_UPE_NONE) {
            ex->up_error = MTLB_UPE_NO_SERVER_UP;
        }
        ex->ops->fail(ex->owner, 503);
        return;
    }
    /* In flight on that server until mtlb_exchange_finish (least_requests' load). */
    mtlb_rr_begin(&ex->up->ps->pools[ex->up->pool].rr, ex->up->server);
    ex->up_eof = false;
    rec_attach(ex);
    if (!ex->up->connecting) {
        ready(ex);
    }
}

void mtlb_exchange_send(struct mtlb_exchange *ex)
{
    if (ex->up != NULL) {
        (void)mtlb_upstream_send(ex->up);
    }
}

void mtlb_exchange_recv(struct mtlb_exchange *ex)
{
    struct mtlb_upstream *u = ex->up;

    if (u == NULL) {
        return;
    }
    int rc = mtlb_upstream_recv(u);
    if (rc == 0 && !u->send_pending) {
        /* The owner has not taken what we have: backpressure. A slow reader is timed by the
         * owner's timer; the backend is not to blame meanwhile. */
        mtlb_upstream_wait(u, false);
    } else if (rc == 1 && !u->send_pending && ex->ops->request_done(ex->owner)) {
        mtlb_upstream_wait(u, true);
    }
}

/* Drops the failed connection and sends the request again, as the retry rule allowed: the
 * next server in turn (the same one again after a stale pooled connection), or 503. */
static void retry(struct mtlb_exchange *ex)
{
    if (ex->up->reused) {
        mtlb_rr_skip_clear(&ex->tried, ex->up->server);
    }
    mtlb_exchange_finish(ex, false);
    mtlb_exchange_start(ex);
}

/* Connecting to the chosen server failed or timed out: nothing was sent. */
static void connect_failed(struct mtlb_exchange *ex, int err, const char *reason)
{
    struct mtlb_upstream *u = ex->up;
    struct mtlb_worker *w = ex->w;
    static struct mtlb_ratelimit rl;
    char what[96];

    w->ctr.upstream_fail++;
    mtlb_stats_connect_failed(w, u->ps->snap, u->pool, u->server);
    if (mtlb_rr_fail(&u->ps->pools[u->pool].rr, u->server, w->now_ms)) {
        mtlb_health_passive(w, u->ps->snap, u->pool, u->server, true, reason);
    }
    snprintf(what, sizeof(what), " error=\"%s\"", strerror(-err));
    ex_log(ex, &rl, "upstream_connect_failed", what);
    ex->up_error = MTLB_UPE_CONNECT_FAILED;
    if (mtlb_retry_allowed(ex->req.method, MTLB_RETRY_CONNECT_FAILED,
                           ex->ops->held(ex->owner, false))) {
        retry(ex);
    } else {
        fail(ex, 502);
    }
}

static void up_connected(void *p, int res)
{
    struct mtlb_exchange *ex = p;
    struct mtlb_upstream *u = ex->up;

    if (res < 0) {
        connect_failed(ex, res, strerror(-res));
        return;
    }
    mtlb_rr_ok(&u->ps->pools[u->pool].rr, u->server);
    mtlb_health_passive(ex->w, u->ps->snap, u->pool, u->server, false, "connected");
    ex->req.rec->up_connect_us = (int64_t)(mtlb_now_us() - u->connect_at);
    ready(ex);
}

static int up_fill(void *p, struct iovec *iov, int max)
{
    struct mtlb_exchange *ex = p;
    int n = ex->ops->fill(ex->owner, iov, max);

    if (n > 0 && ex->req.rec->up_sent_at == 0) {
        ex->req.rec->up_sent_at = mtlb_now_us(); /* the request head's first write */
    } else if (n == 0 && ex->ops->request_done(ex->owner)) {
        mtlb_upstream_wait(ex->up, true);
    }
    return n;
}

/* The connection ended or failed (err 0 = EOF, or a send's or read's -errno). */
static void on_eof(struct mtlb_exchange *ex, int err)
{
    static struct mtlb_ratelimit rl;
    char what[32];

    snprintf(what, sizeof(what), " error=%d", -err);
    if (ex->head_done) {
        ex->up_eof = true;
        if (err == 0 && ex->resp.body == MTLB_BODY_UNTIL_CLOSE) {
            ex->ops->data(ex->owner); /* the body ends here */
            return;
        }
        ex_log(ex, &rl, "upstream_truncated", what);
        ex->up_error = MTLB_UPE_RESET;
        ex->ops->truncated(ex->owner);
        return;
    }
    /* The request goes again only when the rule says a second copy is harmless. */
    ex->up_error = MTLB_UPE_RESET;
    if (mtlb_retry_allowed(ex->req.method, mtlb_upstream_stage(ex->up),
                           ex->ops->held(ex->owner, false))) {
        retry(ex);
        return;
    }
    ex_log(ex, &rl, "upstream_error", what);
    fail(ex, 502);
}

void mtlb_exchange_body_ended(struct mtlb_exchange *ex, int err)
{
    if (ex->up != NULL) {
        on_eof(ex, err);
    }
}

static void up_sent(void *p, int res)
{
    struct mtlb_exchange *ex = p;

    if (res < 0) {
        on_eof(ex, res);
        return;
    }
    int more = ex->ops->sent(ex->owner, (uint32_t)res);
    if (more > 0) {
        mtlb_exchange_send(ex);
    } else if (more == 0) {
        ex->up->requests++;
        mtlb_upstream_wait(ex->up, true);
    } else {
        /* Waiting for the client's next body bytes: the owner's timer runs, not ours. */
        mtlb_upstream_wait(ex->up, false);
        if (ex->ops->more_body != NULL) {
            ex->ops->more_body(ex->owner);
        }
    }
}

static void bad_response(struct mtlb_exchange *ex, const char *why)
{
    static struct mtlb_ratelimit rl;
    char what[128];

    snprintf(what, sizeof(what), " reason=\"%s\"", why);
    ex_log(ex, &rl, "bad_response", what);
    ex->up_error = MTLB_UPE_BAD_RESPONSE;
    fail(ex, 502);
}

/* A final response head was parsed (rc bytes): account for it and hand it to the owner. */
static int final_head(struct mtlb_exchange *ex, int rc)
{
    struct mtlb_upstream *u = ex->up;

    ex->up_error = MTLB_UPE_NONE; /* the backend answered: its status is its own */
    mtlb_stats_backend(ex->w, u->ps->snap, u->pool, u->server, ex->resp.status);
    mtlb_access_rec_response(ex->req.rec, mtlb_now_us());
    u->rbuf.off += (uint32_t)rc;
    u->rbuf.len -= (uint32_t)rc;
    ex->head_done = true;
    int hr = ex->ops->head(ex->owner, &ex->resp);
    if (hr == -EBADMSG) {
        ex->head_done = false;
        bad_response(ex, "head does not map to the client's protocol");
    }
    return hr == 0 ? 0 : -1;
}

/* Looks for the final response head in rbuf: 1xx skipped (a 100 relayed when the owner asked
 * for it), 101 refused. 0 when done, 1 when more bytes are needed, -1 after a failure. */
static int parse_head(struct mtlb_exchange *ex)
{
    struct mtlb_buf *b = &ex->up->rbuf;

    for (;;) {
        memset(&ex->resp, 0, sizeof(ex->resp));
        ex->resp.headers = ex->req.headers;
        ex->resp.max_headers = ex->req.max_headers;
        int rc = mtlb_h1_parse_response(b->data + b->off, b->len, ex->is_head, &ex->resp);
        if (rc == MTLB_INCOMPLETE) {
            if (b->off + b->len == b->cap) {
                bad_response(ex, "head too large");
                return -1;
            }
            return 1;
        }
        if (rc < 0 || ex->resp.status == 101) {
            bad_response(ex, ex->resp.error_reason ? ex->resp.error_reason : "upgrade refused");
            return -1;
        }
        if (ex->resp.status >= 200) {
            return final_head(ex, rc);
        }
        b->off += (uint32_t)rc;
        b->len -= (uint32_t)rc;
        if (ex->resp.status == 100 && ex->req.expect_continue && ex->ops->interim != NULL &&
            ex->ops->interim(ex->owner, 100) < 0) {
            return -1;
        }
    }
}

static void up_received(void *p, int res)
{
    struct mtlb_exchange *ex = p;

    if (res <= 0) {
        on_eof(ex, res);
        return;
    }
    if (!ex->head_done) {
        int rc = parse_head(ex);
        if (rc > 0) {
            mtlb_exchange_recv(ex);
        }
        if (rc != 0) {
            return;
        }
    }
    ex->ops->data(ex->owner);
}

static void up_timeout(void *p)
{
    struct mtlb_exchange *ex = p;
    static struct mtlb_ratelimit rl;

    if (ex->up->connecting) {
        connect_failed(ex, -ETIMEDOUT, "connect timeout");
        return;
    }
    ex_log(ex, &rl, "upstream_timeout", "");
    ex->up_error = MTLB_UPE_TIMEOUT;
    fail(ex, 504);
}

static const struct mtlb_upstream_ops up_ops = {
    .fill = up_fill,
    .connected = up_connected,
    .sent = up_sent,
    .received = up_received,
    .timeout = up_timeout,
};
