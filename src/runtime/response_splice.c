/* The HTTP/1.1 response relay's zero-copy path: once the head and the body bytes that came
 * with it have left tout, the rest of a Content-Length body goes from the backend socket to
 * the client socket by splice (splice.h), never through rbuf or tout. It owns the decision's
 * inputs, the timers and the accounting while the relay runs, and what a failure means for
 * the exchange; the relay itself knows neither the client nor the exchange. */
#include <errno.h>
#include <string.h>

#include "mtlb/client_types.h"
#include "mtlb/exchange.h"
#include "mtlb/h1_client.h"
#include "mtlb/log.h"
#include "mtlb/loop.h"
#include "mtlb/snapshot.h"
#include "mtlb/splice.h"
#include "mtlb/stats.h"
#include "mtlb/transport.h"
#include "mtlb/upstream.h"
#include "mtlb/worker_types.h"

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

bool mtlb_client_splice_body(struct mtlb_client *c)
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
    int rc = mtlb_splice_start(&c->spl, c->w->io, &c->w->pipes, u->fd, c->fd, c->resp_body_left,
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

void mtlb_client_splice_stop(struct mtlb_client *c)
{
    mtlb_splice_stop(&c->spl);
}
