/* One connection from a worker to a backend server: connect, the TLS layer's I/O for an HTTPS
 * backend, sendmsg of the bytes the owner fills in, response reads, close, and the names of the
 * failure reasons. Events go up to the owner through its struct mtlb_upstream_ops; policy
 * (retries, status codes, passive health) is the exchange's, the idle pools upstream_pool.c's.
 * A connection belongs to the pool set it was made under. Worker thread. */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mtlb/buf.h"
#include "mtlb/config.h"
#include "mtlb/exchange.h"
#include "mtlb/io.h"
#include "mtlb/log.h"
#include "mtlb/loop.h"
#include "mtlb/pool_set.h"
#include "mtlb/retry.h"
#include "mtlb/server.h"
#include "mtlb/snapshot.h"
#include "mtlb/upstream.h"
#include "mtlb/upstream_tls.h"
#include "mtlb/worker_types.h"
#include "upstream_int.h"

#define RBUF_CAP (32 * 1024)
/* As many warm spares as client blocks (blocks.c): with 64 keep-alive clients on one worker a
 * loop turn can end dozens of exchanges at once, and a cache of 8 can turn that into a
 * free() and a malloc() of 32 KiB per request. */
#define MAX_SPARE_RBUFS 64

/* The receive buffer is held only while the connection serves an exchange: an idle pooled
 * connection gives it back to the worker's spares (as idle clients give their block). */
int mtlb_upstream_rbuf_take(struct mtlb_upstream *u)
{
    struct mtlb_worker *w = u->w;

    if (u->rbuf.data != NULL) {
        return 0;
    }
    if (w->spare_rbufs != NULL) {
        u->rbuf.data = w->spare_rbufs;
        memcpy(&w->spare_rbufs, u->rbuf.data, sizeof(void *));
        w->n_spare_rbufs--;
        u->rbuf.cap = RBUF_CAP;
        u->rbuf.off = u->rbuf.len = 0;
        return 0;
    }
    return mtlb_buf_init(&u->rbuf, RBUF_CAP);
}

void mtlb_upstream_rbuf_give(struct mtlb_upstream *u)
{
    struct mtlb_worker *w = u->w;
    char *b = u->rbuf.data;

    if (b == NULL) {
        return;
    }
    u->rbuf = (struct mtlb_buf){0};
    if (w->n_spare_rbufs >= MAX_SPARE_RBUFS) {
        free(b);
        return;
    }
    memcpy(b, &w->spare_rbufs, sizeof(void *));
    w->spare_rbufs = b;
    w->n_spare_rbufs++;
}

void mtlb_upstream_spares_free(struct mtlb_worker *w)
{
    while (w->spare_rbufs != NULL) {
        void *b = w->spare_rbufs;
        memcpy(&w->spare_rbufs, b, sizeof(void *));
        free(b);
    }
    w->n_spare_rbufs = 0;
}

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
    if (u->tls != NULL) {
        mtlb_up_tls_fini(u->tls);
        free(u->tls);
    }
    mtlb_upstream_rbuf_give(u);
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

void mtlb_upstream_hold(struct mtlb_upstream *u, bool hold)
{
    if (hold) {
        u->pending++;
        return;
    }
    u->pending--;
    maybe_free(u);
}

void mtlb_upstream_unlink(struct mtlb_upstream *u)
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

void mtlb_upstream_close(struct mtlb_upstream *u)
{
    if (u->dead) {
        return;
    }
    u->dead = true;
    u->ops = NULL;
    u->owner = NULL;
    mtlb_timer_disarm(&u->timer);
    mtlb_upstream_unlink(u);
    if (u->connecting && !u->handshaking) {
        mtlb_io_cancel(u->w->io, mtlb_op_ud(&u->connect_op));
    }
    if (u->tls != NULL && !u->send_pending && !u->connecting && !u->handshaking &&
        mtlb_up_tls_close_notify(u->tls)) {
        /* One small record on an idle socket: a non-blocking write, best effort (a backend
         * that stopped reading simply misses it). */
        const struct mtlb_buf *o = &u->tls->out;
        (void)send(u->fd, o->data + o->off, o->len, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    shutdown(u->fd, SHUT_RDWR);
    maybe_free(u);
}

/* HTTPS backends: the connection's TLS layer, offering the server's last session. */
static int tls_new(struct mtlb_upstream *u, struct mtlb_pool_set *ps, size_t pool, size_t server)
{
    /* No contexts at all: a snapshot made without backend TLS (unit tests build their own). */
    const struct mtlb_backend_tls *bt =
        ps->snap->backend_tls != NULL ? &ps->snap->backend_tls[pool] : NULL;

    if (bt == NULL || bt->ctx == NULL) {
        return 0;
    }
    u->tls = malloc(sizeof(*u->tls));
    if (u->tls == NULL ||
        mtlb_up_tls_init(u->tls, bt, ps->snap->cfg->backends[pool].servers[server].host,
                         &ps->pools[pool].sessions[server]) != 0) {
        free(u->tls);
        u->tls = NULL;
        return -ENOMEM;
    }
    return 0;
}

int mtlb_upstream_connect(struct mtlb_worker *w, struct mtlb_pool_set *ps, size_t pool,
                          size_t server, struct mtlb_upstream **out)
{
    const struct mtlb_addr *a = mtlb_snapshot_addr(ps->snap, pool, server);
    struct mtlb_upstream *u = calloc(1, sizeof(*u));

    if (u == NULL) {
        return -ENOMEM;
    }
    u->w = w;
    if (mtlb_upstream_rbuf_take(u) != 0) {
        free(u);
        return -ENOMEM;
    }
    u->fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (u->fd == -1) {
        int err = -errno;
        mtlb_upstream_rbuf_give(u);
        free(u);
        return err;
    }
    int one = 1;
    setsockopt(u->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (tls_new(u, ps, pool, server) != 0) {
        close(u->fd);
        mtlb_upstream_rbuf_give(u);
        free(u);
        return -ENOMEM;
    }
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

/* ---- the TLS layer's I/O: the ring moves its ciphertext buffers (upstream_tls.h) ---- */

/* Sends what the TLS layer queued, unless a send is in flight (it continues from there). */
static void tls_flush(struct mtlb_upstream *u)
{
    struct mtlb_buf *b = &u->tls->out;

    if (u->send_pending || u->dead || b->len == 0) {
        return;
    }
    mtlb_io_send(u->w->io, u->fd, b->data + b->off, b->len, mtlb_op_ud(&u->send_op));
    u->send_pending = true;
    u->pending++;
}

/* Reads ciphertext from the socket (nothing buffered: the TLS layer needs more). */
static void tls_read(struct mtlb_upstream *u)
{
    struct mtlb_buf *b = &u->tls->in;

    if (u->recv_pending || u->dead) {
        return;
    }
    mtlb_buf_compact(b);
    mtlb_io_recv(u->w->io, u->fd, b->data + b->len, b->cap - b->len, mtlb_op_ud(&u->recv_op));
    u->recv_pending = true;
    u->pending++;
}

/* A TLS failure during the handshake is a failed connect: the owner moves on to the next
 * server with the same backoff as a refused connect. The line names the server and why
 * (the verify result when the certificate was refused). */
static void tls_failed(struct mtlb_upstream *u)
{
    static struct mtlb_ratelimit rl;
    char q[200];

    mtlb_log_rl(&rl, 10, MTLB_LOG_WARN,
                "event=upstream_tls_failed backend=%s upstream=%s reason=%s",
                u->ps->snap->cfg->backends[u->pool].name, mtlb_upstream_name(u),
                mtlb_log_quote(u->tls->why, q, sizeof(q)));
    u->handshaking = false;
    u->connecting = false;
    mtlb_timer_disarm(&u->timer);
    u->ops->connected(u->owner, -EPROTO);
}

static void tls_handshake(struct mtlb_upstream *u)
{
    int rc = mtlb_up_tls_handshake(u->tls);

    if (rc == MTLB_UPT_ERR) {
        tls_failed(u);
        return;
    }
    tls_flush(u);
    if (rc != 1) {
        tls_read(u);
        return;
    }
    u->handshaking = false;
    u->connecting = false;
    mtlb_timer_disarm(&u->timer);
    mtlb_log(MTLB_LOG_DEBUG, "event=upstream_tls_up upstream=%s version=%s resumed=%d",
             mtlb_upstream_name(u), SSL_get_version(u->tls->ssl), SSL_session_reused(u->tls->ssl));
    u->ops->connected(u->owner, 0);
}

static bool tls_send(struct mtlb_upstream *u)
{
    struct mtlb_up_tls *t = u->tls;

    if (t->out.len == 0) {
        int n = u->ops->fill(u->owner, u->iov, (int)MTLB_ARRAY_LEN(u->iov));
        if (n <= 0) {
            return false;
        }
        t->report = mtlb_up_tls_encrypt(t, u->iov, n);
    }
    tls_flush(u);
    return u->send_pending;
}

static void tls_on_send(struct mtlb_upstream *u, int res)
{
    struct mtlb_up_tls *t = u->tls;

    if (res < 0) {
        /* Records with request bytes were handed to the kernel: they count as written. */
        u->sent += t->report;
        t->report = 0;
        if (u->handshaking) {
            snprintf(t->why, sizeof(t->why), "send: %s", strerror(-res));
            tls_failed(u);
        } else if (u->owner != NULL) {
            u->ops->sent(u->owner, res);
        }
        return;
    }
    t->out.off += (uint32_t)res;
    t->out.len -= (uint32_t)res;
    if (t->out.len > 0) {
        tls_flush(u);
        return;
    }
    t->out.off = 0;
    uint32_t rep = t->report;
    t->report = 0;
    if (u->handshaking || u->owner == NULL) {
        return;
    }
    if (rep > 0) {
        u->sent += rep;
        u->ops->sent(u->owner, (int)rep);
    } else {
        (void)mtlb_upstream_send(u); /* a flush of the layer's own records: the request next */
    }
}

/* The owner wants response bytes: from what the TLS layer holds already (through a zero
 * timeout, so that the owner hears of them from the loop, never from inside this call), or
 * from the socket. */
static void tls_recv(struct mtlb_upstream *u)
{
    struct mtlb_up_tls *t = u->tls;

    if (!mtlb_up_tls_buffered(t) && !t->eof) {
        tls_read(u);
        return;
    }
    mtlb_io_timeout(u->w->io, &t->now, mtlb_op_ud(&u->recv_op));
    u->deferred = true;
    u->recv_pending = true;
    u->pending++;
}

static void tls_on_recv(struct mtlb_upstream *u, int res)
{
    struct mtlb_up_tls *t = u->tls;

    if (u->deferred) {
        u->deferred = false;
        res = 0; /* the zero timeout's -ETIME: no new ciphertext, and no end either */
    } else if (res > 0) {
        t->in.len += (uint32_t)res;
    } else if (res == 0) {
        t->eof = true;
    } else if (u->handshaking) {
        snprintf(t->why, sizeof(t->why), "recv: %s", strerror(-res));
        tls_failed(u);
        return;
    }
    if (u->handshaking) {
        tls_handshake(u);
        return;
    }
    if (u->owner == NULL) {
        mtlb_upstream_close(u); /* data or EOF on an idle pooled connection */
        return;
    }
    if (res < 0) {
        u->ops->received(u->owner, res);
        return;
    }
    int n = mtlb_up_tls_decrypt(t, &u->rbuf);
    tls_flush(u); /* a reply the layer owes (KeyUpdate) */
    if (n > 0) {
        u->got_response = true;
        u->ops->received(u->owner, n);
    } else if (n == MTLB_UPT_WANT && !t->eof) {
        tls_read(u);
    } else if (n == MTLB_UPT_ERR) {
        static struct mtlb_ratelimit rl;
        char q[200];
        mtlb_log_rl(&rl, 10, MTLB_LOG_WARN, "event=upstream_tls_error upstream=%s reason=%s",
                    mtlb_upstream_name(u), mtlb_log_quote(t->why, q, sizeof(q)));
        u->ops->received(u->owner, -EPROTO);
    } else {
        u->ops->received(u->owner, 0); /* close_notify, or the socket's end */
    }
}

static void on_connect(struct mtlb_op *op, int res)
{
    struct mtlb_upstream *u = mtlb_container_of(op, struct mtlb_upstream, connect_op);

    u->pending--;
    if (u->dead) {
        u->connecting = false;
        maybe_free(u);
        return;
    }
    if (u->tls != NULL && res == 0) {
        u->handshaking = true; /* still connecting: the connect timer keeps running */
        tls_handshake(u);
        return;
    }
    u->connecting = false;
    mtlb_timer_disarm(&u->timer);
    u->ops->connected(u->owner, res);
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

bool mtlb_upstream_send(struct mtlb_upstream *u)
{
    if (u->send_pending || u->dead || u->connecting || u->owner == NULL) {
        return false;
    }
    if (u->tls != NULL) {
        bool started = tls_send(u);
        if (started) {
            mtlb_timer_arm(u->w, &u->timer, MTLB_T_UP_RESPONSE);
        }
        return started;
    }
    int n = u->ops->fill(u->owner, u->iov, (int)MTLB_ARRAY_LEN(u->iov));
    if (n <= 0) {
        return false;
    }
    memset(&u->msg, 0, sizeof(u->msg));
    u->msg.msg_iov = u->iov;
    u->msg.msg_iovlen = (size_t)n;
    mtlb_io_sendmsg(u->w->io, u->fd, &u->msg, mtlb_op_ud(&u->send_op));
    u->send_pending = true;
    u->pending++;
    /* A backend that stops reading the request is as stuck as one that stops answering. */
    mtlb_timer_arm(u->w, &u->timer, MTLB_T_UP_RESPONSE);
    return true;
}

void mtlb_upstream_wait(struct mtlb_upstream *u, bool waiting)
{
    if (waiting) {
        mtlb_timer_arm(u->w, &u->timer, MTLB_T_UP_RESPONSE);
    } else {
        mtlb_timer_disarm(&u->timer);
    }
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
    if (u->tls != NULL) {
        tls_on_send(u, res);
        return;
    }
    if (res > 0) {
        u->sent += (uint64_t)res;
    }
    u->ops->sent(u->owner, res);
}

int mtlb_upstream_recv(struct mtlb_upstream *u)
{
    struct mtlb_buf *b = &u->rbuf;

    if (u->recv_pending || u->dead || u->connecting || mtlb_upstream_rbuf_take(u) != 0) {
        return -1;
    }
    mtlb_buf_compact(b);
    uint32_t space = b->cap - b->off - b->len;
    if (space == 0) {
        return 0;
    }
    if (u->tls != NULL) {
        tls_recv(u);
        return 1;
    }
    mtlb_io_recv(u->w->io, u->fd, b->data + b->off + b->len, space, mtlb_op_ud(&u->recv_op));
    u->recv_pending = true;
    u->pending++;
    return 1;
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
    if (u->tls != NULL) {
        tls_on_recv(u, res);
        return;
    }
    if (u->owner == NULL) {
        mtlb_upstream_close(u); /* data or EOF on an idle pooled connection */
        return;
    }
    if (res > 0) {
        u->got_response = true;
        u->rbuf.len += (uint32_t)res;
    }
    u->ops->received(u->owner, res);
}

static void on_timeout(struct mtlb_timer *t)
{
    struct mtlb_upstream *u = mtlb_container_of(t, struct mtlb_upstream, timer);

    if (u->owner == NULL) {
        mtlb_upstream_close(u); /* idle too long in the pool */
        return;
    }
    u->ops->timeout(u->owner);
}
