/* Connections from a worker to backend servers: connect, pooled keep-alive reuse per worker
 * and per server, request sending with sendmsg (rewritten head + body window in one call),
 * response reads, passive health on connect failures, the active checks' verdict fed to the
 * round robin, and the names of the failure reasons. A connection belongs to the pool set it
 * was made under; one that finishes after the worker moved to a newer set is closed instead of
 * pooled. Worker thread only. */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mtlb/log.h"
#include "mtlb/runtime.h"

#define RBUF_CAP (32 * 1024)

/* Ring completions and the timer, set on each new connection. */
static void on_connect(struct mtlb_op *op, int res);
static void on_send(struct mtlb_op *op, int res);
static void on_recv(struct mtlb_op *op, int res);
static void on_timeout(struct mtlb_timer *t);

static void up_free(struct mtlb_upstream *u)
{
    mtlb_timer_disarm(&u->timer);
    u->w->n_upstreams--;
    u->grave_next = u->w->grave_upstreams;
    u->w->grave_upstreams = u;
}

void mtlb_upstream_destroy(struct mtlb_upstream *u)
{
    if (u->fd >= 0) {
        close(u->fd);
    }
    mtlb_buf_fini(&u->rbuf);
    mtlb_pool_set_drop(u->ps);
    free(u);
}

const char *mtlb_upstream_name(const struct mtlb_upstream *u)
{
    return u->ps->snap->backend_addrs[u->pool][u->server].text;
}

static void maybe_free(struct mtlb_upstream *u)
{
    if (u->dead && u->pending == 0) {
        up_free(u);
    }
}

static void pool_unlink(struct mtlb_upstream *u)
{
    struct mtlb_upstream **head = &u->ps->pools[u->pool].idle[u->server];
    if (u->pool_prev != NULL) {
        u->pool_prev->pool_next = u->pool_next;
    } else if (*head == u) {
        *head = u->pool_next;
    }
    if (u->pool_next != NULL) {
        u->pool_next->pool_prev = u->pool_prev;
    }
    u->pool_next = u->pool_prev = NULL;
}

static void up_close(struct mtlb_upstream *u)
{
    if (u->dead) {
        return;
    }
    u->dead = true;
    u->client = NULL;
    u->x = NULL;
    mtlb_timer_disarm(&u->timer);
    pool_unlink(u);
    if (u->connecting) {
        mtlb_io_cancel(u->w->io, mtlb_op_ud(&u->connect_op));
    }
    shutdown(u->fd, SHUT_RDWR);
    maybe_free(u);
}

void mtlb_upstream_release(struct mtlb_upstream *u, bool reusable)
{
    struct mtlb_worker *w = u->w;

    if (!reusable || u->dead || w->stopping || u->pending > 0 || u->ps != w->ps) {
        up_close(u);
        return;
    }
    u->client = NULL;
    u->x = NULL;
    u->rbuf.off = u->rbuf.len = 0;
    struct mtlb_upstream **head = &u->ps->pools[u->pool].idle[u->server];
    u->pool_prev = NULL;
    u->pool_next = *head;
    if (*head != NULL) {
        (*head)->pool_prev = u;
    }
    *head = u;
    mtlb_timer_arm(w, &u->timer, MTLB_T_UP_IDLE);
}

static int up_connect(struct mtlb_worker *w, struct mtlb_pool_set *ps, size_t pool, size_t server,
                      struct mtlb_upstream **out)
{
    const struct mtlb_addr *a = &ps->snap->backend_addrs[pool][server];
    struct mtlb_upstream *u = calloc(1, sizeof(*u));

    if (u == NULL || mtlb_buf_init(&u->rbuf, RBUF_CAP) != 0) {
        free(u);
        return -ENOMEM;
    }
    u->fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (u->fd == -1) {
        int err = -errno;
        mtlb_buf_fini(&u->rbuf);
        free(u);
        return err;
    }
    int one = 1;
    setsockopt(u->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    u->w = w;
    u->ps = ps;
    mtlb_pool_set_hold(ps);
    u->pool = pool;
    u->server = server;
    mtlb_timer_init(&u->timer, on_timeout);
    u->connect_op.done = on_connect;
    u->recv_op.done = on_recv;
    u->send_op.done = on_send;
    u->connecting = true;
    u->connect_at = mtlb_now_us();
    w->n_upstreams++;
    w->ctr.upstream_connects++;
    mtlb_io_connect(w->io, u->fd, (const struct sockaddr *)&a->ss, a->len,
                    mtlb_op_ud(&u->connect_op));
    u->pending++;
    mtlb_timer_arm(w, &u->timer, MTLB_T_UP_CONNECT);
    *out = u;
    return 0;
}

/* Has the backend closed (or written on) this idle connection? A non-blocking peek takes
 * nothing and tells: EAGAIN is the only answer of a connection still good to use. */
static bool idle_alive(const struct mtlb_upstream *u)
{
    char byte;
    ssize_t n = recv(u->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* Takes server idx's most recent idle connection. `careful`: the request could not be sent
 * again if this connection proved stale, so one the backend already closed is dropped. */
static struct mtlb_upstream *take_idle(struct mtlb_pool_rt *pr, int idx, bool careful)
{
    struct mtlb_upstream *u;

    while ((u = pr->idle[idx]) != NULL) {
        pool_unlink(u);
        mtlb_timer_disarm(&u->timer);
        if (!careful || idle_alive(u)) {
            return u;
        }
        up_close(u);
    }
    return NULL;
}

const char *mtlb_upstream_error_name(int e)
{
    static const char *const names[] = {
        [MTLB_UPE_NO_SERVER_UP] = "no_server_up",
        [MTLB_UPE_CONNECT_FAILED] = "connect_failed",
        [MTLB_UPE_TIMEOUT] = "upstream_timeout",
        [MTLB_UPE_RESET] = "upstream_reset",
        [MTLB_UPE_BAD_RESPONSE] = "upstream_bad_response",
    };
    return e > 0 && (size_t)e < MTLB_ARRAY_LEN(names) ? names[e] : NULL;
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

/* Round robin over the servers not in *skip: an idle pooled connection or a new one. */
static int acquire(struct mtlb_worker *w, struct mtlb_pool_set *ps, size_t pool, uint64_t *skip,
                   bool careful, struct mtlb_upstream **out)
{
    struct mtlb_pool_rt *pr = &ps->pools[pool];

    sync_checks(ps, pool);
    for (;;) {
        uint64_t panics = pr->rr.panics;
        int idx = mtlb_rr_next(&pr->rr, w->now_ms, *skip);
        if (idx < 0) {
            return idx;
        }
        if (pr->rr.panics != panics) {
            log_panic(ps, pool, idx);
        }
        if (idx < 64) {
            *skip |= 1ULL << idx;
        }
        struct mtlb_upstream *u = take_idle(pr, idx, careful);
        if (u != NULL) {
            u->reused = true;
            w->ctr.upstream_reuses++;
            *out = u;
            return 0;
        }
        int rc = up_connect(w, ps, pool, (size_t)idx, out);
        if (rc == 0) {
            return 0;
        }
        /* Out of sockets or memory: try the next server, then give up with 503. */
        static struct mtlb_ratelimit rl;
        mtlb_log_rl(&rl, 1, MTLB_LOG_ERROR, "event=upstream_socket_failed error=\"%s\"",
                    strerror(-rc));
    }
}

/* The access record of u's exchange (HTTP/1.1 request or HTTP/2 stream). */
static struct mtlb_access_rec *up_rec(struct mtlb_upstream *u)
{
    return u->x != NULL ? &u->x->rec : &u->client->rec;
}

/* A connection was attached to an exchange: its timings start over (a retry's replace the
 * failed attempt's). A pooled connection took no time to connect. */
static void rec_attach(struct mtlb_upstream *u)
{
    struct mtlb_access_rec *r = up_rec(u);

    r->up_connect_us = u->connecting ? -1 : 0;
    r->up_sent_at = 0;
    r->up_response_us = -1;
}

int mtlb_upstream_acquire(struct mtlb_worker *w, struct mtlb_client *c, size_t pool)
{
    struct mtlb_upstream *u = NULL;
    /* Could the request go again if a reused connection turned out stale? */
    bool resendable =
        mtlb_retry_allowed(c->req.method, MTLB_RETRY_WRITTEN_REUSED, c->req_retryable);
    int rc = acquire(w, c->ps, pool, &c->skip_mask, !resendable, &u);

    if (rc == 0) {
        u->sent = 0;
        u->got_response = false;
        u->client = c;
        c->up = u;
        rec_attach(u);
    } else if (c->up_error == MTLB_UPE_NONE) {
        c->up_error = MTLB_UPE_NO_SERVER_UP;
    }
    return rc;
}

int mtlb_upstream_acquire_x(struct mtlb_worker *w, struct mtlb_h2x *x)
{
    struct mtlb_upstream *u = NULL;
    struct mtlb_slice m = {x->method, strlen(x->method)};
    bool resendable = mtlb_retry_allowed(m, MTLB_RETRY_WRITTEN_REUSED, mtlb_h2x_body_kept(x));
    int rc = acquire(w, x->ps, x->pool, &x->skip_mask, !resendable, &u);

    if (rc == 0) {
        u->sent = 0;
        u->got_response = false;
        u->x = x;
        x->up = u;
        rec_attach(u);
    } else if (x->up_error == MTLB_UPE_NONE) {
        x->up_error = MTLB_UPE_NO_SERVER_UP;
    }
    return rc;
}

static void on_connect(struct mtlb_op *op, int res)
{
    struct mtlb_upstream *u = mtlb_container_of(op, struct mtlb_upstream, connect_op);
    struct mtlb_worker *w = u->w;

    u->pending--;
    u->connecting = false;
    if (u->dead) {
        maybe_free(u);
        return;
    }
    mtlb_timer_disarm(&u->timer);
    if (res < 0) {
        w->ctr.upstream_fail++;
        mtlb_stats_connect_failed(w, u->ps->snap, u->pool, u->server);
        if (mtlb_rr_fail(&u->ps->pools[u->pool].rr, u->server, w->now_ms)) {
            mtlb_health_passive(w, u->ps->snap, u->pool, u->server, true, strerror(-res));
        }
        if (u->x != NULL) {
            mtlb_h2x_upstream_failed(u->x, res);
        } else {
            mtlb_client_upstream_failed(u->client, res, true);
        }
        return;
    }
    mtlb_rr_ok(&u->ps->pools[u->pool].rr, u->server);
    mtlb_health_passive(w, u->ps->snap, u->pool, u->server, false, "connected");
    if (u->x != NULL || u->client != NULL) {
        up_rec(u)->up_connect_us = (int64_t)(mtlb_now_us() - u->connect_at);
    }
    if (u->x != NULL) {
        mtlb_h2x_on_upstream_ready(u->x);
    } else {
        mtlb_client_on_upstream_ready(u->client);
    }
}

enum mtlb_retry_stage mtlb_upstream_stage(const struct mtlb_upstream *u)
{
    if (u->connecting) {
        return MTLB_RETRY_CONNECT_FAILED;
    }
    if (u->got_response) {
        return MTLB_RETRY_RESPONDED;
    }
    if (u->sent == 0 && !u->send_pending) {
        return MTLB_RETRY_NOT_WRITTEN;
    }
    return u->reused ? MTLB_RETRY_WRITTEN_REUSED : MTLB_RETRY_WRITTEN;
}

void mtlb_upstream_send(struct mtlb_upstream *u)
{
    struct mtlb_client *c = u->client;

    if (u->send_pending || u->dead || u->connecting || (c == NULL && u->x == NULL)) {
        return;
    }
    int n = 0;
    if (u->x != NULL) {
        n = mtlb_h2x_send_iov(u->x, u->iov);
    } else if (c->up_head_sent < c->up_head_len) {
        u->iov[n].iov_base = c->up_head + c->up_head_sent;
        u->iov[n].iov_len = c->up_head_len - c->up_head_sent;
        n++;
    }
    if (c != NULL && c->req_sent < c->req_fwd) {
        u->iov[n].iov_base = c->rx.data + c->head_len + c->req_sent;
        u->iov[n].iov_len = c->req_fwd - c->req_sent;
        n++;
    }
    if (n == 0) {
        return;
    }
    struct mtlb_access_rec *r = up_rec(u);
    if (r->up_sent_at == 0) {
        r->up_sent_at = mtlb_now_us(); /* the request head's first write */
    }
    memset(&u->msg, 0, sizeof(u->msg));
    u->msg.msg_iov = u->iov;
    u->msg.msg_iovlen = (size_t)n;
    mtlb_io_sendmsg(u->w->io, u->fd, &u->msg, mtlb_op_ud(&u->send_op));
    u->send_pending = true;
    u->pending++;
    /* A backend that stops reading the request is as stuck as one that stops answering. */
    mtlb_timer_arm(u->w, &u->timer, MTLB_T_UP_RESPONSE);
}

static void on_send(struct mtlb_op *op, int res)
{
    struct mtlb_upstream *u = mtlb_container_of(op, struct mtlb_upstream, send_op);
    u->pending--;
    u->send_pending = false;
    if (u->dead) {
        maybe_free(u);
        return;
    }
    if (res > 0) {
        u->sent += (uint64_t)res;
    }
    struct mtlb_client *c = u->client;
    if (u->x != NULL) {
        if (res < 0) {
            mtlb_h2x_on_upstream_eof(u->x, res);
        } else if (mtlb_h2x_sent(u->x, (uint32_t)res)) {
            mtlb_upstream_send(u);
        } else if (u->x->req_done) {
            u->requests++;
            mtlb_timer_arm(u->w, &u->timer, MTLB_T_UP_RESPONSE);
        } else {
            mtlb_timer_disarm(&u->timer); /* waiting for the client: the stream's timer runs */
        }
        return;
    }
    if (res < 0) {
        mtlb_client_on_upstream_eof(c, res);
        return;
    }
    uint32_t left = (uint32_t)res;
    uint32_t head = c->up_head_len - c->up_head_sent;
    uint32_t h = left < head ? left : head;
    c->up_head_sent += h;
    c->req_sent += left - h;
    if (c->up_head_sent < c->up_head_len || c->req_sent < c->req_fwd) {
        mtlb_upstream_send(u);
        return;
    }
    mtlb_client_request_sent(c);
    if (c->req_body_done) {
        u->requests++;
        mtlb_timer_arm(u->w, &u->timer, MTLB_T_UP_RESPONSE);
        return;
    }
    /* Waiting for the client's next body bytes: its own timer runs, not ours. */
    mtlb_timer_disarm(&u->timer);
    mtlb_client_pump(c);
}

void mtlb_upstream_recv(struct mtlb_upstream *u)
{
    struct mtlb_buf *b = &u->rbuf;

    if (u->recv_pending || u->dead || u->connecting) {
        return;
    }
    mtlb_buf_compact(b);
    uint32_t space = b->cap - b->off - b->len;
    if (space == 0) {
        /* The client has not taken what we have: backpressure. A slow reader is timed by
         * the client's timer; the backend is not to blame meanwhile. */
        if (!u->send_pending) {
            mtlb_timer_disarm(&u->timer);
        }
        return;
    }
    mtlb_io_recv(u->w->io, u->fd, b->data + b->off + b->len, space, mtlb_op_ud(&u->recv_op));
    u->recv_pending = true;
    u->pending++;
    bool sent_all = (u->client != NULL && u->client->req_body_done) || (u->x && u->x->req_done);
    if (sent_all && !u->send_pending) {
        mtlb_timer_arm(u->w, &u->timer, MTLB_T_UP_RESPONSE);
    }
}

static void on_recv(struct mtlb_op *op, int res)
{
    struct mtlb_upstream *u = mtlb_container_of(op, struct mtlb_upstream, recv_op);
    u->pending--;
    u->recv_pending = false;
    if (u->dead) {
        maybe_free(u);
        return;
    }
    struct mtlb_client *c = u->client;
    if (res > 0) {
        u->got_response = true;
    }
    if (u->x != NULL) {
        if (res <= 0) {
            mtlb_h2x_on_upstream_eof(u->x, res);
        } else {
            u->rbuf.len += (uint32_t)res;
            mtlb_h2x_on_upstream_data(u->x);
        }
        return;
    }
    if (c == NULL) {
        up_close(u); /* data or EOF on an idle pooled connection */
        return;
    }
    if (res <= 0) {
        mtlb_client_on_upstream_eof(c, res);
        return;
    }
    u->rbuf.len += (uint32_t)res;
    mtlb_client_on_upstream_data(c);
}

static void on_timeout(struct mtlb_timer *t)
{
    struct mtlb_upstream *u = mtlb_container_of(t, struct mtlb_upstream, timer);
    struct mtlb_worker *w = u->w;
    struct mtlb_client *c = u->client;
    static struct mtlb_ratelimit rl;

    if (c == NULL && u->x == NULL) {
        up_close(u); /* idle too long in the pool */
        return;
    }
    if (u->connecting) {
        w->ctr.upstream_fail++;
        mtlb_stats_connect_failed(w, u->ps->snap, u->pool, u->server);
        if (mtlb_rr_fail(&u->ps->pools[u->pool].rr, u->server, w->now_ms)) {
            mtlb_health_passive(w, u->ps->snap, u->pool, u->server, true, "connect timeout");
        }
        if (u->x != NULL) {
            mtlb_h2x_upstream_failed(u->x, -ETIMEDOUT);
        } else {
            mtlb_client_upstream_failed(c, -ETIMEDOUT, true);
        }
        return;
    }
    if (u->x != NULL) {
        mtlb_h2x_upstream_timeout(u->x);
        return;
    }
    mtlb_log_rl(&rl, 10, MTLB_LOG_WARN, "conn=%llu event=upstream_timeout upstream=%s",
                (unsigned long long)c->id, mtlb_upstream_name(u));
    c->up_error = MTLB_UPE_TIMEOUT;
    mtlb_client_fail(c, 504);
}

void mtlb_upstream_close_idle(struct mtlb_pool_set *ps)
{
    const struct mtlb_config *cfg = ps->snap->cfg;

    for (size_t p = 0; p < cfg->n_backends; p++) {
        for (size_t s = 0; s < cfg->backends[p].n_servers; s++) {
            while (ps->pools[p].idle[s] != NULL) {
                up_close(ps->pools[p].idle[s]);
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
