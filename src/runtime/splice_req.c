/* Zero-copy request bodies: the rest of an HTTP/1.1 Content-Length request body goes from the
 * client socket to the backend socket by splice (splice.h's relay), never through rx. mtlb
 * still reads, parses and rewrites the head and copies the body bytes that came with it; the
 * relay is then asked for exactly the bytes the framing still promises, so a pipelined next
 * request stays in the client socket for mtlb to parse. Here: the plan (decided when the head
 * is read, so that no client read is posted that could take body bytes first), the start once
 * everything read has gone to the backend, the timers and accounting while the relay runs, and
 * what a failure means for the exchange. Worker thread only. */
#include <errno.h>
#include <string.h>

#include "mtlb/client_types.h"
#include "mtlb/config.h"
#include "mtlb/exchange.h"
#include "mtlb/h1_client.h"
#include "mtlb/log.h"
#include "mtlb/snapshot.h"
#include "mtlb/splice.h"
#include "mtlb/stats.h"
#include "mtlb/transport.h"
#include "mtlb/upstream.h"
#include "mtlb/worker_types.h"

/* splice.h's rule on what is known when the head was read. `Expect: 100-continue` keeps the
 * copy path: its client waits for the backend's 100 before it sends the body, and that
 * interim answer is relayed by the read path this plan turns off. */
void mtlb_client_req_splice_plan(struct mtlb_client *c)
{
    const struct mtlb_listener_cfg *l = &c->snap->cfg->listeners[c->listener];

    /* The backend's TLS is not known yet (mtlb_client_req_splice_try checks it): false here. */
    c->req_spl_plan = mtlb_splice_wanted(!l->no_splice, c->transport, false,
                                         c->req.body == MTLB_BODY_LENGTH && !c->req.expect_continue,
                                         c->req_body_done ? 0 : c->req_body_left);
}

static void rs_moved(void *owner, uint32_t n)
{
    struct mtlb_client *c = owner;

    c->rec->bytes_in += n;
    c->req_body_left -= n;
    if (c->req_spl_up != NULL) {
        c->req_spl_up->sent += n; /* the retry rule's "written" (never resent: not held) */
    }
    mtlb_counter_add(&c->w->stats->spliced_req_bytes, n);
}

/* The client is timed while the relay waits for its bytes (client_body, as the copy path),
 * the backend while it waits for the backend to take them. */
static void rs_waiting(void *owner, bool on_in)
{
    struct mtlb_client *c = owner;

    if (c->dead || c->state != MTLB_C_EXCHANGE || c->req_spl_up == NULL ||
        c->ex.up != c->req_spl_up) {
        return;
    }
    mtlb_upstream_wait(c->req_spl_up, !on_in);
    if (on_in) {
        mtlb_timer_arm(c->w, &c->timer, MTLB_T_CLIENT_BODY);
    } else if (c->resp_head_off == c->up_head_len && c->tout.len == 0) {
        mtlb_timer_disarm(&c->timer); /* unless a response to the client is in progress */
    }
}

/* The whole body reached the backend: the exchange goes on as after the copy path's last
 * send (the backend is timed for its answer), and the response side is driven again. */
static void rs_complete(struct mtlb_client *c)
{
    struct mtlb_upstream *u = c->ex.up;

    c->req_body_left = 0;
    c->req_body_done = true;
    if (u != NULL) {
        u->requests++;
        mtlb_upstream_wait(u, true);
    }
    if (c->resp_head_off == c->up_head_len && c->tout.len == 0) {
        mtlb_timer_disarm(&c->timer);
    }
    mtlb_client_pump(c);
}

static void rs_failed(struct mtlb_client *c, int res, bool in_side)
{
    static struct mtlb_ratelimit rl;

    if (in_side) {
        /* The client left, reset, or (kTLS) sent a control record, which splice refuses
         * (-EINVAL): the body cannot be completed, and the backend connection, holding part
         * of it, is closed, never pooled (h1_free). */
        mtlb_log_rl(&rl, 10, MTLB_LOG_INFO,
                    "conn=%llu peer=%s event=client_body_aborted error=\"%s\" left=%llu",
                    (unsigned long long)c->id, c->ip,
                    res == -EPIPE ? "end of stream" : strerror(-res),
                    (unsigned long long)c->req_body_left);
        mtlb_client_abort(c);
        return;
    }
    /* The backend stopped taking the body: 502, or a close once a response has started (the
     * exchange's rule for a failed send; a partly sent body is never resent). */
    mtlb_exchange_body_ended(&c->ex, res == -EPIPE ? -ECONNRESET : res);
    if (!c->dead && c->state == MTLB_C_EXCHANGE) {
        mtlb_client_abort(c);
    }
}

static void rs_done(void *owner, int res, bool in_side)
{
    struct mtlb_client *c = owner;
    struct mtlb_upstream *u = c->req_spl_up;

    c->req_spl_up = NULL;
    mtlb_upstream_hold(u, false);
    /* Stopped (-ECANCELED), or the exchange ended meanwhile (an early answer, a timeout):
     * whoever ended it decided what happens to c. */
    if (!c->dead && c->state == MTLB_C_EXCHANGE && c->ex.up == u && res != -ECANCELED) {
        if (res == 0) {
            rs_complete(c);
        } else {
            rs_failed(c, res, in_side);
        }
    }
    mtlb_client_hold(c, false); /* last: c may go to the graveyard here */
}

static const struct mtlb_splice_ops rs_ops = {
    .moved = rs_moved,
    .waiting = rs_waiting,
    .done = rs_done,
};

bool mtlb_client_req_splice_try(struct mtlb_client *c)
{
    struct mtlb_upstream *u = c->ex.up;

    if (c->req_spl.active) {
        return true;
    }
    if (!c->req_spl_plan || c->req_body_done) {
        return false;
    }
    if (c->recv_pending) {
        return true; /* its bytes come first (through the copy path); then this again */
    }
    /* Only from a clean point: nothing read is left in tin or rx, and everything taken
     * (head, body bytes that came with it) has reached the backend. */
    if (c->tin.len > 0 || c->rx.len != c->head_len + c->req_fwd || c->req_sent < c->req_fwd ||
        u == NULL || u->connecting || u->send_pending || c->up_head_sent < c->up_head_len) {
        return false;
    }
    c->req_spl_plan = false; /* decided now, either way */
    /* FILL: a kTLS client's socket hands over one record per splice (splice.h). */
    if (u->tls != NULL || mtlb_splice_start(&c->req_spl, c->w->io, &c->w->pipes, c->fd, u->fd,
                                            c->req_body_left, MTLB_SPLICE_FILL, &rs_ops, c) != 0) {
        return false; /* an HTTPS backend, or no pipe (fd limit): the copy path reads on */
    }
    mtlb_counter_add(&c->w->stats->spliced_req_bodies, 1);
    c->req_spl_up = u;
    mtlb_upstream_hold(u, true);
    mtlb_client_hold(c, true);
    return true;
}

void mtlb_client_req_splice_stop(struct mtlb_client *c)
{
    c->req_spl_plan = false;
    mtlb_splice_stop(&c->req_spl);
}

bool mtlb_client_req_splice_owns_input(const struct mtlb_client *c)
{
    return c->req_spl_plan || c->req_spl.active;
}
