/* Client connections on a worker: reading request heads, forwarding request bodies, and the
 * connection lifecycle (keep-alive, pipelining, timeouts, close). All TLS goes through the
 * ring BIO, so every function here is non-blocking. Response relay lives in response.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/tls.h>
#include <openssl/err.h>

#include "mtlb/log.h"
#include "mtlb/rewrite.h"
#include "mtlb/runtime.h"

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
    free(c->block);
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

bool mtlb_client_idle(const struct mtlb_client *c)
{
    return c->state == MTLB_C_HEAD && c->rx.len == 0 && c->ex.up == NULL;
}

/* Ends the connection now: no more output, backend connection discarded. */
void mtlb_client_abort(struct mtlb_client *c)
{
    if (c->dead) {
        return;
    }
    c->dead = true;
    mtlb_timer_disarm(&c->timer);
    if (c->h2 != NULL) {
        mtlb_h2c_free(c);
    }
    mtlb_exchange_finish(&c->ex, false);
    /* Completes any recv/send still in flight so that their CQEs release us. */
    shutdown(c->fd, SHUT_RDWR);
    maybe_release(c);
}

void mtlb_client_start(struct mtlb_worker *w, struct mtlb_client *c)
{
    c->w = w;
    mtlb_exchange_init(&c->ex, &mtlb_client_exchange_ops, c);
    c->next = w->clients.next;
    c->prev = &w->clients;
    w->clients.next->prev = c;
    w->clients.next = c;
    w->n_clients++;
    w->ctr.accepted++;
    w->ctr.transport[c->transport]++;
    mtlb_counter_add(&w->stats->conn_opened[c->listener * MTLB_TRANSPORT_COUNT + c->transport], 1);
    c->timer.kind = -1;
    mtlb_access_rec_reset(&c->rec);
    if (w->stopping) {
        mtlb_client_abort(c);
        return;
    }
    c->state = MTLB_C_HEAD;
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
    if (alpn_len == 2 && memcmp(alpn, "h2", 2) == 0) {
        if (mtlb_h2c_start(c) != 0) {
            mtlb_client_abort(c);
            return;
        }
    } else {
        mtlb_timer_arm(w, &c->timer, MTLB_T_CLIENT_HEADER);
    }
    mtlb_client_pump(c);
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
    mtlb_io_recvmsg(c->w->io, c->fd, &c->rmsg, (uint64_t)(uintptr_t)c | MTLB_OP_CLIENT_RECV);
    c->recv_pending = true;
    c->pending++;
}

static void post_recv(struct mtlb_client *c)
{
    struct mtlb_buf *b = &c->tin;

    if (c->recv_pending || c->dead || c->eof) {
        return;
    }
    /* Once the whole request is in, the client is not read again until its response is
     * complete: pipelined requests wait in the socket, and an idle connection never has a
     * read pending into its (returnable) buffers. */
    if (c->state == MTLB_C_EXCHANGE && c->req_body_done) {
        return;
    }
    /* Idle but the last response is still being sent: read once that send completes, into
     * idle_buf, after the buffers went back. */
    if (c->state == MTLB_C_HEAD && c->rx.len == 0 && c->tin.len == 0 && c->send_pending) {
        return;
    }
    if (c->transport == MTLB_TRANSPORT_KTLS) {
        post_recvmsg(c);
        return;
    }
    if (c->block == NULL) {
        mtlb_io_recv(c->w->io, c->fd, c->idle_buf, sizeof(c->idle_buf),
                     (uint64_t)(uintptr_t)c | MTLB_OP_CLIENT_RECV);
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
    mtlb_io_recv(c->w->io, c->fd, b->data + b->len, space,
                 (uint64_t)(uintptr_t)c | MTLB_OP_CLIENT_RECV);
    c->recv_pending = true;
    c->pending++;
}

void mtlb_client_flush(struct mtlb_client *c)
{
    struct mtlb_buf *b = &c->tout;

    if (c->send_pending || c->dead || b->len == 0) {
        return;
    }
    mtlb_io_send(c->w->io, c->fd, b->data + b->off, b->len,
                 (uint64_t)(uintptr_t)c | MTLB_OP_CLIENT_SEND);
    c->send_pending = true;
    c->pending++;
}

/* A kTLS read that met a control record. Returns true when it was application data. */
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
    unsigned char type = *CMSG_DATA(cm);
    const unsigned char *p = (const unsigned char *)c->tin.data + c->tin.off + c->tin.len;
    if (type == 23) {
        return true;
    }
    c->eof = true; /* nothing after this record can be read */
    if (type == 21 && res >= 2 && p[1] == 0) {
        mtlb_client_close_gracefully(c); /* close_notify */
    } else if (type == 22 && res >= 1 && p[0] == 24) {
        /* KeyUpdate: this kernel cannot take a new receive key, so the connection ends here,
         * cleanly, before a record under the new key could be misread. */
        mtlb_log_rl(&rl, 5, MTLB_LOG_INFO, "conn=%llu event=ktls_key_update action=close",
                    (unsigned long long)c->id);
        mtlb_client_close_gracefully(c);
    } else {
        mtlb_log_rl(&rl, 5, MTLB_LOG_INFO,
                    "conn=%llu event=ktls_control_record type=%u detail=%u action=abort",
                    (unsigned long long)c->id, type, res >= 2 ? p[1] : 0);
        mtlb_client_abort(c);
    }
    return false;
}

void mtlb_client_on_recv(struct mtlb_client *c, int res)
{
    c->pending--;
    c->recv_pending = false;
    if (c->dead) {
        maybe_release(c);
        return;
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
    if (c->state == MTLB_C_EXCHANGE && !c->req_body_done) {
        mtlb_timer_arm(c->w, &c->timer, MTLB_T_CLIENT_BODY);
    }
    mtlb_client_pump(c);
}

void mtlb_client_on_send(struct mtlb_client *c, int res)
{
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
    /* A client that stops reading a response is timed out like one that stops sending. */
    if (c->state == MTLB_C_EXCHANGE && (c->tout.len > 0 || !c->req_body_done)) {
        mtlb_timer_arm(c->w, &c->timer, MTLB_T_CLIENT_BODY);
    } else if (c->state == MTLB_C_EXCHANGE && c->timer.kind == MTLB_T_CLIENT_BODY) {
        mtlb_timer_disarm(&c->timer);
    }
    mtlb_client_pump(c);
}

/* Reads plaintext into rx until OpenSSL has nothing more or rx is full. Returns false when the
 * connection was closed. */
bool mtlb_client_read_plain(struct mtlb_client *c)
{
    struct mtlb_buf *rx = &c->rx;

    if (c->transport == MTLB_TRANSPORT_KTLS) {
        /* Plaintext from the kernel. tin.off only moves forward here: a recvmsg may be
         * writing behind tin.off + tin.len (post_recvmsg compacts before it posts). */
        uint32_t n = c->tin.len < rx->cap - rx->len ? c->tin.len : rx->cap - rx->len;
        memcpy(rx->data + rx->len, c->tin.data + c->tin.off, n);
        rx->len += n;
        c->tin.off += n;
        c->tin.len -= n;
        return true;
    }
    while (rx->len < rx->cap) {
        ERR_clear_error();
        int n = SSL_read(c->ssl, rx->data + rx->len, (int)(rx->cap - rx->len));
        if (n > 0) {
            rx->len += (uint32_t)n;
            continue;
        }
        int err = SSL_get_error(c->ssl, n);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            return true;
        }
        if (err == SSL_ERROR_ZERO_RETURN && c->state == MTLB_C_HEAD && rx->len == 0) {
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

/* Moves body bytes that are in rx into the request being forwarded, following the framing. */
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
        c->rec.bytes_in += take;
        c->req_body_left -= take;
        c->req_body_done = c->req_body_left == 0;
        return 0;
    }
    /* The body is rewritten in place into canonical framing (the output never outgrows the
     * input); what it gave back is closed up, so rx stays "head | body to send | unread". */
    bool done = false;
    size_t out = 0;
    const struct mtlb_header_policy *p = &c->ps->snap->cfg->header_policy;
    ssize_t n =
        mtlb_h1_chunked_relay(&c->req_ck, c->rx.data + start, avail, &out, &done,
                              p->forward_trailers ? mtlb_rewrite_trailer_filter : NULL, (void *)p);
    if (n < 0) {
        return -EBADMSG;
    }
    c->rec.bytes_in += (uint64_t)n; /* as received: the chunked coding included */
    if ((size_t)n > out) {
        memmove(c->rx.data + start + out, c->rx.data + start + n, avail - (size_t)n);
        c->rx.len -= (uint32_t)((size_t)n - out);
    }
    c->req_fwd += (uint32_t)out;
    c->req_body_done = done;
    return 0;
}

/* A request whose authority names another domain of this listener, one that verifies clients
 * differently from the domain the handshake chose by SNI, would reach that domain's backend
 * with a certificate its policy never saw: 421 Misdirected Request (RFC 9110 15.5.20). The
 * authority checked is the one the backend is sent (rewrite.c writes ar's Host and target). */
int mtlb_client_authority(const struct mtlb_client *c, const struct mtlb_h1_message *req,
                          struct mtlb_authority_request *ar)
{
    const struct mtlb_tls_listener *tl = &c->snap->tls[c->listener]; /* the handshake's */
    const struct mtlb_tls_listener *now = &c->w->snap->tls[c->listener];

    if (mtlb_authority_from_request(req, ar) != 0) {
        return 400;
    }
    if (mtlb_tls_misdirected_since(tl, c->tls_info.domain, now, ar->authority.host)) {
        tl = now; /* for the line below: the domain the name has now */
    } else if (!mtlb_tls_misdirected(tl, c->tls_info.domain, ar->authority.host)) {
        return 0;
    }
    /* A refusal: one warn line (HTTP/1.1 and HTTP/2 both come here), rate-limited. */
    static struct mtlb_ratelimit rl;
    int other = mtlb_tls_match_domain(tl, ar->authority.host);
    const struct mtlb_domain_cfg *sni = c->snap->tls[c->listener].domains[c->tls_info.domain].cfg;
    const struct mtlb_domain_cfg *named = other >= 0 ? tl->domains[other].cfg : NULL;
    char port[16] = "";
    if (ar->authority.port >= 0) {
        snprintf(port, sizeof(port), ":%d", ar->authority.port);
    }
    mtlb_log_rl(&rl, 10, MTLB_LOG_WARN,
                "conn=%llu peer=%s domain=%s event=misdirected_request status=421 "
                "authority=%s%s authority_domain=%s reason=\"the authority names another domain "
                "of this listener, one that verifies client certificates differently\"",
                (unsigned long long)c->id, c->tls_info.peer[0] ? c->tls_info.peer : "-",
                sni->n_names > 0 ? sni->names[0] : "-", ar->authority.host, port,
                named != NULL && named->n_names > 0 ? named->names[0] : "-");
    return 421;
}

struct mtlb_rewrite_req mtlb_client_rewrite_req(const struct mtlb_client *c,
                                                const struct mtlb_authority_request *ar)
{
    return (struct mtlb_rewrite_req){.identity = &c->identity,
                                     .client_ip = c->ip,
                                     .proto = "https",
                                     .policy = &c->w->snap->cfg->header_policy,
                                     .target = ar};
}

static void start_request(struct mtlb_client *c)
{
    struct mtlb_worker *w = c->w;
    /* The request's backend pools are those of the worker's current snapshot, also on a
     * connection accepted before a reload. */
    mtlb_pool_set_take(w, &c->ps);
    const struct mtlb_listener_cfg *lc = &c->ps->snap->cfg->listeners[c->listener];
    struct mtlb_authority_request ar = {0}; /* filled by mtlb_client_authority */
    struct mtlb_rewrite_req rw = mtlb_client_rewrite_req(c, &ar);

    c->state = MTLB_C_EXCHANGE;
    c->req_fwd = c->req_sent = c->up_head_sent = 0;
    c->resp_head_done = c->resp_done = false;
    c->resp_bytes = 0;
    c->status = 0;
    c->req_body_done = c->req.body == MTLB_BODY_NONE;
    c->req_body_left = c->req.body == MTLB_BODY_LENGTH ? c->req.content_length : 0;
    mtlb_h1_chunked_init(&c->req_ck);
    w->ctr.requests++;
    mtlb_access_rec_start(&c->rec, w, &c->req);
    rw.request_id = c->rec.request_id;
    const struct mtlb_exchange_req er = {
        .method = c->req.method,
        .expect_continue = c->req.expect_continue,
        .headers = c->hdrs,
        .max_headers = c->snap->cfg->limits.max_headers, /* c->hdrs' size */
        .rec = &c->rec,
        .conn_id = c->id,
    };
    mtlb_exchange_begin(&c->ex, w, c->ps, lc->backend_index, &er);

    int status = mtlb_client_authority(c, &c->req, &ar);
    if (status != 0) {
        mtlb_client_fail(c, status);
        return;
    }
    ssize_t n = mtlb_rewrite_request(&c->req, &rw, c->up_head, c->up_head_cap);
    if (n < 0) {
        mtlb_client_fail(c, mtlb_rewrite_status(n));
        return;
    }
    c->up_head_len = (uint32_t)n;
    if (take_body(c) != 0) {
        mtlb_client_fail(c, 400);
        return;
    }
    /* Only a request that is whole in rx can be sent again to another server. */
    c->req_retryable = c->req_body_done;
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
    memset(&c->req, 0, sizeof(c->req));
    c->req.headers = c->hdrs;
    c->req.max_headers = lim->max_headers;
    int rc = mtlb_h1_parse_request(c->rx.data, c->rx.len, &c->req);
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
    } else {
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
    if (!mtlb_client_read_plain(c)) {
        return;
    }
    if (take_body(c) != 0) {
        mtlb_client_fail(c, 400);
        return;
    }
    if (c->req_fwd > c->req_sent) {
        mtlb_exchange_send(&c->ex);
    }
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
    if (c->state == MTLB_C_H2) {
        mtlb_h2c_pump(c);
    } else if (c->state == MTLB_C_HEAD) {
        read_head(c);
    } else if (c->state == MTLB_C_EXCHANGE) {
        pump_body(c);
        if (!c->dead && c->state == MTLB_C_EXCHANGE) {
            mtlb_client_on_upstream_data(c);
        }
    } else {
        mtlb_client_on_upstream_data(c); /* CLOSING: the rest of the last response */
    }
    if (c->dead) {
        return;
    }
    mtlb_client_flush(c);
    if (c->state != MTLB_C_CLOSING) {
        mtlb_client_bufs_give(c);
        post_recv(c);
    }
}

/* Called by the upstream side when a send completed: drop sent body bytes from rx so the
 * window can refill, and note when the whole request is out. */
void mtlb_client_request_sent(struct mtlb_client *c)
{
    if (c->req_sent == c->req_fwd && !c->req_body_done && !c->req_retryable) {
        uint32_t body_start = c->head_len;
        uint32_t tail = c->rx.len - body_start - c->req_fwd;
        memmove(c->rx.data + body_start, c->rx.data + body_start + c->req_fwd, tail);
        c->rx.len -= c->req_fwd;
        c->req_fwd = c->req_sent = 0;
    }
}

void mtlb_client_on_timeout(struct mtlb_client *c)
{
    static struct mtlb_ratelimit rl;

    switch (c->state) {
    case MTLB_C_H2:
        mtlb_h2c_on_timeout(c);
        break;
    case MTLB_C_HEAD:
        if (c->rx.len == 0) {
            mtlb_client_abort(c); /* idle keep-alive or no first request: just close */
        } else {
            mtlb_log_rl(&rl, 10, MTLB_LOG_INFO,
                        "conn=%llu peer=%s event=client_timeout phase=header",
                        (unsigned long long)c->id, c->ip);
            mtlb_client_fail(c, 408);
        }
        break;
    case MTLB_C_EXCHANGE:
        mtlb_log_rl(&rl, 10, MTLB_LOG_INFO, "conn=%llu peer=%s event=client_timeout phase=body",
                    (unsigned long long)c->id, c->ip);
        mtlb_client_fail(c, 408);
        break;
    default:
        mtlb_client_abort(c);
        break;
    }
}
