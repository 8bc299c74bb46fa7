/* The worker's pools of idle keep-alive backend connections, per pool set and server: which
 * server a request goes to next (round robin, the active checks' verdict), an idle connection
 * of it that is still quiet or a new one, and the return of a finished one to its pool. Opens
 * and closes through upstream.c; never reads or writes a connection itself. Worker thread. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "mtlb/balance.h"
#include "mtlb/config.h"
#include "mtlb/log.h"
#include "mtlb/loop.h"
#include "mtlb/pool_set.h"
#include "mtlb/server.h"
#include "mtlb/snapshot.h"
#include "mtlb/upstream.h"
#include "mtlb/upstream_tls.h"
#include "mtlb/worker_types.h"
#include "upstream_int.h"

void mtlb_upstream_release(struct mtlb_upstream *u, bool reusable)
{
    struct mtlb_worker *w = u->w;

    /* A TLS connection with bytes still in its layer is not between two responses. */
    if (u->tls != NULL && mtlb_up_tls_buffered(u->tls)) {
        reusable = false;
    }
    if (!reusable || u->dead || w->stopping || u->pending > 0 || u->ps != w->ps) {
        mtlb_upstream_close(u);
        return;
    }
    u->ops = NULL;
    u->owner = NULL;
    mtlb_upstream_rbuf_give(u); /* nothing is in it, and no read is pending */
    struct mtlb_upstream **head = &u->ps->pools[u->pool].idle[u->server];
    u->pool_prev = NULL;
    u->pool_next = *head;
    if (*head != NULL) {
        (*head)->pool_prev = u;
    }
    *head = u;
    mtlb_timer_arm(w, &u->timer, MTLB_T_UP_IDLE);
}

/* Has the backend closed (or written on) this idle connection? A non-blocking peek takes
 * nothing and tells: EAGAIN is the only answer of a connection still good to use. */
static bool idle_alive(const struct mtlb_upstream *u)
{
    char byte;
    ssize_t n = recv(u->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* Takes server idx's most recent idle connection that is still quiet. Every one is looked at,
 * whatever the request: bytes waiting on an idle connection belong to no request (a backend
 * that wrote a body after a HEAD response, or past its Content-Length, later than the
 * response itself), and the next request would read them as its own response, another
 * client's answer written by whoever made the backend send them. One the backend closed is
 * dropped too, rather than risked. */
static struct mtlb_upstream *take_idle(struct mtlb_pool_rt *pr, int idx)
{
    struct mtlb_upstream *u;

    while ((u = pr->idle[idx]) != NULL) {
        mtlb_upstream_unlink(u);
        mtlb_timer_disarm(&u->timer);
        if (idle_alive(u)) {
            return u;
        }
        mtlb_upstream_close(u);
    }
    return NULL;
}

/* The active checks' verdict, read lock-free, into this worker's round robin. */
static void sync_checks(struct mtlb_pool_set *ps, size_t pool)
{
    const struct mtlb_backend_cfg *b = &ps->snap->cfg->backends[pool];
    struct mtlb_server_health *sh = ps->snap->health[pool];

    if (!b->health.enabled) {
        return;
    }
    for (size_t s = 0; s < b->n_servers; s++) {
        mtlb_rr_sync(&ps->pools[pool].rr, s,
                     atomic_load_explicit(&sh[s].down, memory_order_relaxed),
                     atomic_load_explicit(&sh[s].gen, memory_order_relaxed));
    }
}

static void log_panic(const struct mtlb_pool_set *ps, size_t pool, int idx)
{
    static struct mtlb_ratelimit rl;
    mtlb_log_rl(&rl, 1, MTLB_LOG_WARN,
                "event=pool_panic pool=%s server=%s reason=\"every server is marked down; "
                "trying one anyway\"",
                ps->snap->cfg->backends[pool].name, ps->snap->backend_addrs[pool][idx].text);
}

/* Round robin over the servers not in *tried: an idle pooled connection or a new one. */
static int acquire(struct mtlb_worker *w, struct mtlb_pool_set *ps, size_t pool,
                   struct mtlb_rr_skip *tried, struct mtlb_upstream **out)
{
    struct mtlb_pool_rt *pr = &ps->pools[pool];

    sync_checks(ps, pool);
    for (;;) {
        uint64_t panics = pr->rr.panics;
        int idx = mtlb_rr_next_skip(&pr->rr, w->now_ms, tried);
        if (idx < 0) {
            return idx;
        }
        if (pr->rr.panics != panics) {
            log_panic(ps, pool, idx);
        }
        mtlb_rr_skip_set(tried, (size_t)idx);
        struct mtlb_upstream *u = take_idle(pr, idx);
        if (u != NULL && mtlb_upstream_rbuf_take(u) != 0) {
            mtlb_upstream_close(u);
            u = NULL;
        }
        if (u != NULL) {
            u->reused = true;
            w->ctr.upstream_reuses++;
            *out = u;
            return 0;
        }
        int rc = mtlb_upstream_connect(w, ps, pool, (size_t)idx, out);
        if (rc == 0) {
            return 0;
        }
        /* Out of sockets or memory: try the next server, then give up with 503. */
        static struct mtlb_ratelimit rl;
        mtlb_log_rl(&rl, 1, MTLB_LOG_ERROR, "event=upstream_socket_failed error=\"%s\"",
                    strerror(-rc));
    }
}

int mtlb_upstream_acquire(struct mtlb_worker *w, struct mtlb_pool_set *ps, size_t pool,
                          struct mtlb_rr_skip *tried, const struct mtlb_upstream_ops *ops,
                          void *owner, struct mtlb_upstream **out)
{
    struct mtlb_upstream *u = NULL;
    int rc = acquire(w, ps, pool, tried, &u);

    if (rc == 0) {
        u->sent = 0;
        u->got_response = false;
        u->ops = ops;
        u->owner = owner;
        *out = u;
    }
    return rc;
}

void mtlb_upstream_close_idle(struct mtlb_pool_set *ps)
{
    const struct mtlb_config *cfg = ps->snap->cfg;

    for (size_t p = 0; p < cfg->n_backends; p++) {
        for (size_t s = 0; s < cfg->backends[p].n_servers; s++) {
            while (ps->pools[p].idle[s] != NULL) {
                mtlb_upstream_close(ps->pools[p].idle[s]);
            }
        }
    }
}

void mtlb_upstream_close_idle_all(struct mtlb_worker *w)
{
    if (w->ps != NULL) {
        mtlb_upstream_close_idle(w->ps);
    }
}
