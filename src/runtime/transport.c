/* A client connection's transport on a worker: reads from the ring (with kTLS, each read's
 * record type from its control message), TLS input and output through OpenSSL's ring BIO or
 * the kernel, sends, the buffer block, close_notify and the close paths, and the connection's
 * life from handoff to grave. It runs the protocol chosen once by ALPN through its ops table
 * (transport.h) and never looks into HTTP/1.1 or HTTP/2 state itself. Worker thread only. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/tls.h>
#include <openssl/err.h>

#include "mtlb/access.h"
#include "mtlb/buf.h"
#include "mtlb/client_bufs.h"
#include "mtlb/client_types.h"
#include "mtlb/exchange.h"
#include "mtlb/identity.h"
#include "mtlb/io.h"
#include "mtlb/ktls.h"
#include "mtlb/log.h"
#include "mtlb/loop.h"
#include "mtlb/pool_set.h"
#include "mtlb/server.h"
#include "mtlb/snapshot.h"
#include "mtlb/tls.h"
#include "mtlb/transport.h"
#include "mtlb/worker_types.h"

/* Ring completions and the timer, set when the worker takes the connection. */
static void on_recv(struct mtlb_op *op, int res);
static void on_send(struct mtlb_op *op, int res);
static void on_timeout(struct mtlb_timer *t);

static void client_release(struct mtlb_client *c)
{
    struct mtlb_worker *w = c->w;

    mtlb_timer_disarm(&c->timer);
    if (c->next != NULL) {
        c->prev->next = c->next;
        c->next->prev = c->prev;
        w->n_clients--;
    }
    atomic_fetch_sub(&w->srv->live_conns, 1);
    c->next = c->prev = NULL;
    c->grave_next = w->grave_clients;
    w->grave_clients = c;
}

/* Frees a client that is on no ring: used by the acceptor and at the end of a close. */
void mtlb_client_free(struct mtlb_client *c)
{
    if (c->fd >= 0) {
        close(c->fd);
    }
    SSL_free(c->ssl);
    mtlb_identity_fini(&c->identity);
    mtlb_tls_conn_info_fini(&c->tls_info);
    mtlb_client_bufs_free(c);
    mtlb_exchange_fini(&c->ex); /* no connection left by now: frees the tried set */
    mtlb_pool_set_drop(c->ps);  /* set only on the worker, which is the thread freeing it then */
    mtlb_snapshot_put(c->snap);
    free(c);
}

static void maybe_release(struct mtlb_client *c)
{
    if (c->dead && c->pending == 0) {
        client_release(c);
    }
}

void mtlb_client_hold(struct mtlb_client *c, bool hold)
{
    if (hold) {
        c->pending++;
        return;
    }
    c->pending--;
    maybe_release(c);
}

/* Ends the connection now: no more output; the protocol drops its state (HTTP/1.1 its backend
 * connection, HTTP/2 its session). */
void mtlb_client_abort(struct mtlb_client *c)
{
    if (c->dead) {
        return;
    }
    c->dead = true;
    mtlb_timer_disarm(&c->timer);
    if (c->proto != NULL && c->proto->free != NULL) {
        c->proto->free(c);
    }
    /* Completes any recv/send still in flight so that their CQEs release us. */
    shutdown(c->fd, SHUT_RDWR);
    maybe_release(c);
}

void mtlb_client_start(struct mtlb_worker *w, struct mtlb_client *c,
                       const struct mtlb_proto_ops *proto)
{
    c->w = w;
    c->next = w->clients.next;
    c->prev = &w->clients;
    w->clients.next->prev = c;
    w->clients.next = c;
    w->n_clients++;
    w->ctr.accepted++;
    w->ctr.transport[c->transport]++;
    mtlb_counter_add(&w->stats->conn_opened[c->listener * MTLB_TRANSPORT_COUNT + c->transport], 1);
    mtlb_timer_init(&c->timer, on_timeout);
    c->recv_op.done = on_recv;
    c->send_op.done = on_send;
    c->proto = proto;
    if (w->stopping || c->proto->start(c) != 0) {
        mtlb_client_abort(c);
        return;
    }
    mtlb_client_pump(c);
}

void mtlb_client_switch_proto(struct mtlb_client *c, const struct mtlb_proto_ops *proto)
{
    if (c->proto->free != NULL) {
        c->proto->free(c);
    }
    c->proto = proto;
    if (c->proto->start(c) != 0) {
        mtlb_client_abort(c);
        return;
    }
    c->proto->on_input(c);
}

/* kTLS both ways: the kernel's plaintext lands in tin (as ciphertext does for userspace TLS,
 * so rx is only ever moved by this thread while no read targets it); the cmsg says when a
 * read met a control record (alert, KeyUpdate) instead of application data. */
static void post_recvmsg(struct mtlb_client *c)
{
    struct mtlb_buf *b = &c->tin;

    if (c->block == NULL) {
        c->riov.iov_base = c->idle_buf;
        c->riov.iov_len = sizeof(c->idle_buf);
        c->idle_recv = true;
    } else {
        mtlb_buf_compact(b);
        if (b->len == b->cap) {
            return; /* backpressure: rx has not taken what we have */
        }
        c->riov.iov_base = b->data + b->len;
        c->riov.iov_len = b->cap - b->len;
    }
    memset(&c->rmsg, 0, sizeof(c->rmsg));
    c->rmsg.msg_iov = &c->riov;
    c->rmsg.msg_iovlen = 1;
    c->rmsg.msg_control = c->rcmsg.buf;
    c->rmsg.msg_controllen = sizeof(c->rcmsg.buf);
    mtlb_io_recvmsg(c->w->io, c->fd, &c->rmsg, mtlb_op_ud(&c->recv_op));
    c->recv_pending = true;
    c->pending++;
}

static void post_recv(struct mtlb_client *c)
{
    struct mtlb_buf *b = &c->tin;

    if (c->recv_pending || c->dead || c->eof) {
        return;
    }
    if (c->proto->wants_input != NULL && !c->proto->wants_input(c)) {
        return;
    }
    /* Nothing left to do but the last response is still being sent (or the session tickets
     * that a request's first bytes released, the head not yet whole): read once that send
     * completes, into idle_buf, after the buffers went back. A read posted now would land in
     * the block and pin it for as long as the connection stays idle (HTTP/2 connections did:
     * about 0.3 blocks of 160 KiB each) or its client takes to send the next line. */
    if (c->send_pending && mtlb_client_bufs_parkable_after_send(c) && c->proto->park(c)) {
        return;
    }
    if (c->transport == MTLB_TRANSPORT_KTLS) {
        post_recvmsg(c);
        return;
    }
    if (c->block == NULL) {
        mtlb_io_recv(c->w->io, c->fd, c->idle_buf, sizeof(c->idle_buf), mtlb_op_ud(&c->recv_op));
        c->idle_recv = true;
        c->recv_pending = true;
        c->pending++;
        return;
    }
    mtlb_buf_compact(b);
    uint32_t space = b->cap - b->len;
    if (space == 0) {
        return; /* OpenSSL has not consumed what we have: backpressure */
    }
    mtlb_io_recv(c->w->io, c->fd, b->data + b->len, space, mtlb_op_ud(&c->recv_op));
    c->recv_pending = true;
    c->pending++;
}

void mtlb_client_flush(struct mtlb_client *c)
{
    struct mtlb_buf *b = &c->tout;

    if (c->send_pending || c->dead || b->len == 0) {
        return;
    }
    mtlb_io_send(c->w->io, c->fd, b->data + b->off, b->len, mtlb_op_ud(&c->send_op));
    c->send_pending = true;
    c->pending++;
}

/* A kTLS read that met a control record: handled here, without OpenSSL (the connection has
 * none, acceptor_hs.c). Returns true when it was application data. */
static bool ktls_data(struct mtlb_client *c, int res)
{
    static struct mtlb_ratelimit rl;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&c->rmsg);

    if (c->rmsg.msg_flags & MSG_CTRUNC) {
        mtlb_client_abort(c);
        return false;
    }
    if (cm == NULL || cm->cmsg_level != SOL_TLS || cm->cmsg_type != TLS_GET_RECORD_TYPE) {
        return true;
    }
    unsigned char type = *CMSG_DATA(cm), alert;
    const unsigned char *p = (const unsigned char *)c->tin.data + c->tin.off + c->tin.len;
    enum mtlb_ktls_ctl what = mtlb_ktls_classify(type, p, (size_t)res, &alert);
    if (what == MTLB_KTLS_DATA) {
        return true;
    }
    c->eof = true; /* nothing after this record can be read */
    if (what == MTLB_KTLS_PEER_CLOSED) {
        mtlb_client_close_gracefully(c); /* close_notify */
    } else if (what == MTLB_KTLS_KEY_UPDATE) {
        /* This kernel cannot take a new receive key, so the connection ends here, cleanly,
         * before a record under the new key could be misread. */
        mtlb_log_rl(&rl, 5, MTLB_LOG_INFO, "conn=%llu event=ktls_key_update action=close",
                    (unsigned long long)c->id);
        mtlb_client_close_gracefully(c);
    } else {
        bool answer = what == MTLB_KTLS_UNEXPECTED;
        mtlb_log_rl(&rl, 5, MTLB_LOG_INFO,
                    "conn=%llu event=ktls_control_record type=%u detail=%u action=%s",
                    (unsigned long long)c->id, type, res >= 2 ? p[1] : (res == 1 ? p[0] : 0),
                    answer ? "alert_close" : "close");
        if (answer) { /* best effort: the connection ends either way */
            mtlb_ktls_send_alert(c->fd, MTLB_TLS_ALERT_FATAL, alert);
        }
        mtlb_client_abort(c);
    }
    return false;
}

static void on_recv(struct mtlb_op *op, int res)
{
    struct mtlb_client *c = mtlb_container_of(op, struct mtlb_client, recv_op);

    c->pending--;
    c->recv_pending = false;
    if (c->dead) {
        maybe_release(c);
        return;
    }
    if (c->park_cancel) {
        c->park_cancel = false;
        if (res == -ECANCELED) {
            mtlb_client_pump(c); /* gives the block back and reads into idle_buf */
            return;
        }
    }
    if (c->idle_recv) {
        /* The first bytes after an idle period: take buffers and move them into tin, where
         * they would have landed had the connection kept its buffers. */
        c->idle_recv = false;
        if (res > 0) {
            if (mtlb_client_bufs_take(c) != 0) {
                mtlb_client_abort(c);
                return;
            }
            memcpy(c->tin.data + c->tin.off + c->tin.len, c->idle_buf, (size_t)res);
        }
    }
    if (res == -EAGAIN || res == -EINTR) {
        /* io_uring can complete a kTLS recvmsg with EAGAIN when poll saw bytes but the
         * record is not whole yet: simply read again. */
        mtlb_client_pump(c);
        return;
    }
    if (c->transport == MTLB_TRANSPORT_KTLS && res == -EKEYEXPIRED) {
        c->eof = true; /* the kernel paused after a KeyUpdate: end cleanly */
        mtlb_client_close_gracefully(c);
        return;
    }
    if (c->transport == MTLB_TRANSPORT_KTLS && res > 0 && !ktls_data(c, res)) {
        return;
    }
    if (res <= 0) {
        /* A reset or EOF from the transport: there is nobody left to answer. */
        if (res < 0) {
            static struct mtlb_ratelimit rl;
            mtlb_log_rl(&rl, 5, MTLB_LOG_DEBUG, "conn=%llu event=client_recv_error error=\"%s\"",
                        (unsigned long long)c->id, strerror(-res));
        }
        c->eof = true;
        if (res < 0 || c->state != MTLB_C_CLOSING) {
            mtlb_client_abort(c);
        }
        return;
    }
    c->tin.len += (uint32_t)res;
    if (c->proto->on_progress != NULL) {
        c->proto->on_progress(c, false);
    }
    mtlb_client_pump(c);
}

static void on_send(struct mtlb_op *op, int res)
{
    struct mtlb_client *c = mtlb_container_of(op, struct mtlb_client, send_op);

    c->pending--;
    c->send_pending = false;
    if (c->dead) {
        maybe_release(c);
        return;
    }
    if (res < 0) {
        mtlb_client_abort(c);
        return;
    }
    c->tout.off += (uint32_t)res;
    c->tout.len -= (uint32_t)res;
    if (c->tout.len == 0) {
        c->tout.off = 0;
    }
    if (c->proto->on_progress != NULL) {
        c->proto->on_progress(c, true);
    }
    mtlb_client_pump(c);
}

/* The client's first bytes after its handshake: it uses the connection, so now it gets the
 * tickets the handshake left out (mtlb_tls_new_conn). They go into tout ahead of any answer
 * to those bytes. Returns false after aborting the connection. */
static bool send_tickets(struct mtlb_client *c)
{
    unsigned n = c->tickets_owed;

    c->tickets_owed = 0;
    if (mtlb_tls_send_tickets(c->ssl, n) < 0) {
        mtlb_log(MTLB_LOG_DEBUG, "conn=%llu event=tls_error reason=\"session ticket\"",
                 (unsigned long long)c->id);
        mtlb_client_abort(c);
        return false;
    }
    return true;
}

/* Reads plaintext into rx until OpenSSL has nothing more or rx is full. Returns false when the
 * connection was closed. */
bool mtlb_client_read_plain(struct mtlb_client *c)
{
    struct mtlb_buf *rx = &c->rx;

    if (c->transport == MTLB_TRANSPORT_KTLS || c->transport == MTLB_TRANSPORT_PLAIN) {
        /* Plaintext from the kernel (or from the wire, with no TLS). tin.off only moves
         * forward here: a recvmsg may be writing behind tin.off + tin.len (post_recvmsg
         * compacts before it posts). */
        uint32_t n = c->tin.len < rx->cap - rx->len ? c->tin.len : rx->cap - rx->len;
        memcpy(rx->data + rx->len, c->tin.data + c->tin.off, n);
        rx->len += n;
        c->tin.off += n;
        c->tin.len -= n;
        return true;
    }
    while (rx->len < rx->cap) {
        mtlb_tls_err_reset();
        int n = SSL_read(c->ssl, rx->data + rx->len, (int)(rx->cap - rx->len));
        if (n > 0) {
            rx->len += (uint32_t)n;
            if (c->tickets_owed > 0 && !send_tickets(c)) {
                return false;
            }
            continue;
        }
        int err = SSL_get_error(c->ssl, n);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            return true;
        }
        if (err == SSL_ERROR_ZERO_RETURN && c->proto->idle(c)) {
            /* close_notify between requests: answer with ours and close. */
            mtlb_client_close_gracefully(c);
            return false;
        }
        if (err != SSL_ERROR_ZERO_RETURN) {
            static struct mtlb_ratelimit rl;
            char why[256], q[300];
            mtlb_log_rl(
                &rl, 10, MTLB_LOG_INFO, "conn=%llu event=tls_error reason=%s",
                (unsigned long long)c->id,
                mtlb_log_quote(mtlb_tls_error_string(c->ssl, why, sizeof(why)), q, sizeof(q)));
        }
        mtlb_client_abort(c);
        return false;
    }
    return true;
}

void mtlb_client_pump(struct mtlb_client *c)
{
    if (c->dead) {
        return;
    }
    if (mtlb_client_bufs_take(c) != 0) {
        mtlb_client_abort(c);
        return;
    }
    c->proto->on_input(c);
    if (c->dead) {
        return;
    }
    mtlb_client_flush(c);
    if (c->state != MTLB_C_CLOSING) {
        mtlb_client_bufs_give(c);
        if (mtlb_client_bufs_pinned_by_read(c)) {
            /* on_recv parks it once the read is cancelled (or takes its bytes) */
            c->park_cancel = true;
            mtlb_io_cancel(c->w->io, mtlb_op_ud(&c->recv_op));
        }
        post_recv(c);
    }
}

/* A closing connection that stops reading is cut; otherwise the protocol decides. */
static void on_timeout(struct mtlb_timer *t)
{
    struct mtlb_client *c = mtlb_container_of(t, struct mtlb_client, timer);

    if (c->state == MTLB_C_CLOSING) {
        mtlb_client_abort(c);
        return;
    }
    c->proto->on_timeout(c);
}

/* During a drain: announce the end (HTTP/2 GOAWAY), close what is idle, or everything when
 * forced. */
void mtlb_client_drain(struct mtlb_client *c, bool force)
{
    if (c->dead) {
        return;
    }
    if (!force && c->state != MTLB_C_CLOSING && c->proto->shutdown != NULL) {
        c->proto->shutdown(c); /* HTTP/2: GOAWAY once; it closes when its streams end */
    }
    if (!c->dead && (force || c->proto->idle(c))) {
        mtlb_client_abort(c);
    }
}

#define TLS_CHUNK MTLB_TLS_CHUNK
#define RECORD_SLACK 256 /* TLS record overhead plus room for a pending control record */

static uint32_t tout_space(struct mtlb_client *c)
{
    struct mtlb_buf *b = &c->tout;
    if (!c->send_pending) {
        mtlb_buf_compact(b);
    }
    return b->cap - b->off - b->len;
}

/* Writes plaintext through TLS into tout. Returns bytes taken, 0 when tout is full, or -1
 * after aborting the connection. */
int mtlb_client_tls_put(struct mtlb_client *c, const char *p, uint32_t len)
{
    if (len > TLS_CHUNK) {
        len = TLS_CHUNK;
    }
    if (c->transport != MTLB_TRANSPORT_USERSPACE) {
        /* The kernel encrypts, or nobody does (plain): tout carries plaintext. */
        uint32_t space = tout_space(c);
        uint32_t n = len < space ? len : space;
        memcpy(c->tout.data + c->tout.off + c->tout.len, p, n);
        c->tout.len += n;
        return (int)n;
    }
    if (tout_space(c) < len + RECORD_SLACK) {
        return 0;
    }
    mtlb_tls_err_reset();
    int n = SSL_write(c->ssl, p, (int)len);
    if (n > 0) {
        return n;
    }
    int err = SSL_get_error(c->ssl, n);
    if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
        return 0;
    }
    mtlb_client_abort(c);
    return -1;
}

void mtlb_client_begin_close(struct mtlb_client *c)
{
    c->state = MTLB_C_CLOSING;
    mtlb_timer_arm(c->w, &c->timer, MTLB_T_CLIENT_BODY);
}

/* Queues close_notify once everything else is in tout, then closes after the last send. */
void mtlb_client_finish_close(struct mtlb_client *c)
{
    if (c->resp_head_off < c->up_head_len) {
        return;
    }
    if (!c->shut_sent) {
        /* With kTLS, OpenSSL writes close_notify straight to the socket: only after
         * everything queued before it has left, or it would overtake the response. */
        if (c->transport != MTLB_TRANSPORT_USERSPACE && (c->send_pending || c->tout.len > 0)) {
            mtlb_client_flush(c);
            return;
        }
        c->shut_sent = true;
        if (c->transport == MTLB_TRANSPORT_KTLS) { /* no SSL any more: the kernel sends it */
            mtlb_ktls_send_alert(c->fd, MTLB_TLS_ALERT_WARNING, MTLB_TLS_ALERT_CLOSE_NOTIFY);
        } else if (c->ssl != NULL) { /* the plain transport has no close_notify to send */
            ERR_clear_error();
            SSL_shutdown(c->ssl);
        }
    }
    mtlb_client_flush(c);
    if (!c->send_pending && c->tout.len == 0) {
        mtlb_client_abort(c);
    }
}

void mtlb_client_close_now(struct mtlb_client *c)
{
    mtlb_client_begin_close(c);
    mtlb_client_finish_close(c);
}

/* The peer will send nothing more (close_notify, or a kTLS key we cannot follow): finish
 * what is in flight, answer with close_notify, close. */
void mtlb_client_close_gracefully(struct mtlb_client *c)
{
    if (c->dead || c->state == MTLB_C_CLOSING) {
        return;
    }
    if (mtlb_client_bufs_take(c) != 0) {
        mtlb_client_abort(c);
        return;
    }
    if (c->proto->peer_closed != NULL && c->proto->peer_closed(c)) {
        return; /* the protocol finishes what is in flight first */
    }
    c->up_head_len = c->resp_head_off = 0;
    mtlb_client_begin_close(c);
    mtlb_client_finish_close(c);
}
