/* One connection's way through the acceptor, from its accept to its worker: the PROXY header,
 * the wait for a whole first TLS record before any SSL is made (hello_step), the non-blocking
 * handshake, its outcome counted and logged, and the hand-off; a failure ends in a drop or a
 * lingering close. Never accepts, never waits: acceptor.c owns the loop. Acceptor thread. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "acceptor_int.h"
#include "mtlb/acceptor.h"
#include "mtlb/access_hs.h"
#include "mtlb/client_types.h"
#include "mtlb/config.h"
#include "mtlb/edge.h"
#include "mtlb/handoff.h"
#include "mtlb/identity.h"
#include "mtlb/ktls.h"
#include "mtlb/log.h"
#include "mtlb/peer_trim.h"
#include "mtlb/rewrite.h"
#include "mtlb/ring_bio.h"
#include "mtlb/route.h"
#include "mtlb/server.h"
#include "mtlb/snapshot.h"
#include "mtlb/stats.h"
#include "mtlb/tls.h"
#include "mtlb/tls_facts.h"
#include "mtlb/transport.h"
#include "mtlb/worker_types.h"

/* The largest first record waited for whole before the SSL is made: a TLS plaintext record
 * (2^14) and its header. A header announcing more is left to OpenSSL to refuse at once. */
#define HELLO_RECORD_MAX (16384 + 5)

static void hs_unlink(struct mtlb_client *c)
{
    if (c->next != NULL) {
        c->prev->next = c->next;
        c->next->prev = c->prev;
        c->next = c->prev = NULL;
    }
}

void mtlb_acceptor_hs_drop(struct mtlb_acceptor *a, struct mtlb_client *c)
{
    hs_unlink(c);
    epoll_ctl(a->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    atomic_fetch_sub(&a->srv->live_conns, 1);
    mtlb_client_free(c);
}

/* A failed handshake: OpenSSL wrote its alert through the socket BIO. The SSL and the client
 * record go now, the fd lingers (acceptor_linger.c). */
static void hs_linger(struct mtlb_acceptor *a, struct mtlb_client *c)
{
    struct lingerer *lg = mtlb_acceptor_linger_new(c->fd);

    if (lg == NULL) {
        mtlb_acceptor_hs_drop(a, c);
        return;
    }
    hs_unlink(c);
    c->fd = -1;
    mtlb_client_free(c);
    mtlb_acceptor_linger_start(a, lg);
}

/* Counts a handshake's outcome and its client-certificate verdict for /metrics. The domain is
 * the one SNI chose so far (the listener's first before SNI was read). */
static void count_handshake(struct mtlb_acceptor *a, const struct mtlb_client *c, bool ok,
                            bool resumed, int verify, enum mtlb_verify_reason reason)
{
    size_t d = c->snap->domain_slot[c->listener][c->tls_info.domain];

    mtlb_counter_add(&a->stats->handshakes[d * 4 + (ok ? 0 : 2) + (resumed ? 1 : 0)], 1);
    if (verify >= 0) {
        mtlb_counter_add(&a->stats->verify[d * 3 + (size_t)verify], 1);
    }
    if (verify == MTLB_VERIFY_FAILED) {
        mtlb_counter_add(&a->stats->verify_fail[d * MTLB_VR_COUNT + reason], 1);
    }
}

/* A certificate whose opt-in header value is over its limit: every request on the connection
 * is refused with 431 (rewrite.c), and this says why, once per connection. */
static void log_identity_oversize(const struct mtlb_client *c)
{
    static struct mtlb_ratelimit rl;
    unsigned o = c->identity.oversize;

    mtlb_log_rl(&rl, 10, MTLB_LOG_WARN,
                "conn=%llu peer=%s event=identity_header_too_large header=%s limit=%u "
                "reason=\"the client certificate's value for this header is over its limit: "
                "requests on this connection are refused with 431\"",
                (unsigned long long)c->id, c->tls_info.peer[0] ? c->tls_info.peer : "-",
                (o & MTLB_IDENTITY_CERT) != 0 ? "client_cert" : "client_san",
                (o & MTLB_IDENTITY_CERT) != 0 ? MTLB_IDENTITY_CERT_MAX : MTLB_IDENTITY_SAN_MAX);
}

/* The connection is ready for HTTP: to the next worker, round robin. */
static void hand_off(struct mtlb_server *srv, struct mtlb_client *c)
{
    unsigned wi = atomic_fetch_add(&srv->next_worker, 1) % srv->n_workers;
    mtlb_handoff_push(&srv->workers[wi], c);
}

/* Plain or TLS, decided once after the accept: a plain HTTP listener (tls: false) does no TLS
 * work at all. With http: drop the connection is closed here without a byte; otherwise it goes
 * to a worker at once on the plain transport, with no identity (verify NONE). Returns true
 * when it took c (a TLS listener's connection is left to the handshake). */
static bool accept_plain(struct mtlb_acceptor *a, struct mtlb_client *c)
{
    const struct mtlb_listener_cfg *lc = &c->snap->cfg->listeners[c->listener];

    if (!lc->plain) {
        return false;
    }
    if (lc->plain_http == MTLB_PLAIN_DROP) {
        atomic_fetch_sub(&a->srv->live_conns, 1);
        mtlb_client_free(c);
        return true;
    }
    c->transport = MTLB_TRANSPORT_PLAIN;
    mtlb_log(MTLB_LOG_DEBUG, "conn=%llu peer=%s event=accepted transport=plain",
             (unsigned long long)c->id, c->tls_info.peer);
    hand_off(a->srv, c);
    return true;
}

/* True when the client closed (FIN) or reset the connection right after its Finished, with
 * nothing sent after it: a scanner, a health probe, a handshake flood. Bytes waiting (a
 * request, even one followed by a FIN) mean it is still a client to serve. */
static bool peer_left(int fd)
{
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

    return n == 0 || (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* The TLS 1.3 tickets the handshake left out (mtlb_tls_defer_tickets): with kTLS TX, OpenSSL
 * writes them now through the kTLS socket as handshake records, before mtlb takes over the
 * socket, as it wrote them in the handshake before; with userspace TLS the worker sends them
 * with the client's first bytes (transport.c), so a client that leaves gets none. Returns 0 or
 * -EIO. */
static int owe_tickets(struct mtlb_client *c)
{
    unsigned n = mtlb_tls_tickets_owed(c->ssl);

    if (n > 0 && BIO_get_ktls_send(SSL_get_wbio(c->ssl))) {
        /* A fresh socket's send buffer takes them whole; a part left in OpenSSL would be
         * lost once the worker writes to the kTLS socket itself. */
        return mtlb_tls_send_tickets(c->ssl, n) != 0 ? -EIO : 0;
    }
    c->tickets_owed = (uint8_t)n;
    return 0;
}

/* With kTLS both ways OpenSSL is out of the data path: the worker reads and writes the socket
 * and sends its own alerts and close_notify (ktls_control.c), and everything it needs of the
 * handshake was copied into tls_facts and identity. Freeing the SSL here, on the thread that
 * allocated it, returns its session, parsed certificates and record state (most of an idle
 * connection's memory) to this thread's heap, where the next handshake reuses it. */
static void drop_ssl_if_unneeded(struct mtlb_client *c)
{
    if (c->transport != MTLB_TRANSPORT_KTLS) {
        return; /* userspace reads or writes records through OpenSSL */
    }
    mtlb_tls_release(c->ssl);
    c->ssl = NULL;
}

/* The identity in strings, with its opt-in extras, and then the client's intermediates are
 * no longer needed. 0 or -errno. left: the peer is gone (no oversize warning for it). */
static int capture_identity(struct mtlb_client *c, bool left)
{
    const struct mtlb_config *cfg = c->snap->cfg;
    int rc = mtlb_tls_identity(c->ssl, cfg->dn_format, &c->identity);

    if (rc == 0) {
        /* The opt-in extras: the PEM only for a snapshot that sends it; the SANs always (a
         * few dozen bytes), because a reload may add a san_* rule that judges this
         * connection's later requests. */
        rc = mtlb_identity_add_extras(&c->identity, SSL_get0_peer_certificate(c->ssl),
                                      mtlb_rewrite_id_extras(&cfg->id_headers) | MTLB_IDENTITY_SAN);
    }
    if (rc == 0) {
        /* The identity is in strings now: the client's intermediates go (peer_trim.h). */
        mtlb_peer_trim_chain(c->ssl);
    }
    if (rc == 0 && c->identity.oversize != 0 && !left) {
        log_identity_oversize(c);
    }
    return rc;
}

/* The ring BIO over the worker's buffers, for the directions OpenSSL still carries. 0 or
 * -errno. */
static int attach_rings(struct mtlb_client *c)
{
    if (c->transport == MTLB_TRANSPORT_USERSPACE) {
        return mtlb_ring_bio_attach(c->ssl, &c->tin, &c->tout);
    }
    if (c->transport == MTLB_TRANSPORT_KTLS_TX) {
        return mtlb_ring_bio_attach_rx(c->ssl, &c->tin);
    }
    return 0;
}

static void log_ktls_fallback(const struct mtlb_client *c, const char *why)
{
    static struct mtlb_ratelimit rl;
    char q[160];

    mtlb_log_rl(&rl, 5, MTLB_LOG_INFO, "conn=%llu event=ktls_rx_fallback reason=%s",
                (unsigned long long)c->id, mtlb_log_quote(why, q, sizeof(q)));
}

static void hs_done(struct mtlb_acceptor *a, struct mtlb_client *c)
{
    hs_unlink(c);
    epoll_ctl(a->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    bool left = peer_left(c->fd);
    char why[128] = "";
    int rc = left ? 0 : owe_tickets(c);
    c->transport = MTLB_TRANSPORT_USERSPACE;
    if (rc == 0 && !left && c->snap->ktls[c->listener]) {
        c->transport = mtlb_ktls_finish(c->ssl, c->fd, &c->tls_info, why, sizeof(why));
    }
    mtlb_tls_facts_capture(&c->tls_facts, c->ssl);
    rc = rc != 0 ? rc : capture_identity(c, left);
    if (rc == 0 && left) {
        /* Counted as the handshake it was; no worker, no buffers, no tickets. */
        count_handshake(a, c, true, c->tls_facts.resumed, (int)c->identity.verify,
                        mtlb_tls_verify_reason(c->tls_info.first_error));
        mtlb_log(MTLB_LOG_DEBUG, "conn=%llu peer=%s event=handshake_done_peer_left",
                 (unsigned long long)c->id, c->tls_info.peer);
        rc = -ECONNRESET;
    } else if (rc == 0) {
        rc = attach_rings(c);
    }
    if (rc != 0) {
        atomic_fetch_sub(&a->srv->live_conns, 1);
        mtlb_client_free(c);
        return;
    }
    /* optional mode: a refused certificate still completes the handshake (FAILED). */
    count_handshake(a, c, true, c->tls_facts.resumed, (int)c->identity.verify,
                    mtlb_tls_verify_reason(c->tls_info.first_error));
    if (why[0] != '\0') {
        log_ktls_fallback(c, why);
    }
    drop_ssl_if_unneeded(c);
    mtlb_log(MTLB_LOG_DEBUG,
             "conn=%llu peer=%s event=handshake_done version=%s cipher=%s verify=%s transport=%s "
             "ssl=%s",
             (unsigned long long)c->id, c->tls_info.peer, c->tls_facts.version, c->tls_facts.cipher,
             mtlb_identity_verify_word(c->identity.verify), mtlb_transport_name(c->transport),
             c->ssl != NULL ? "kept" : "freed");
    hand_off(a->srv, c);
}

/* The domain the handshake chose by SNI so far (the listener's first until SNI is read). */
static const char *conn_domain(const struct mtlb_client *c)
{
    const struct mtlb_tls_listener *tl = c->tls_info.listener;

    if (tl == NULL || c->tls_info.domain >= tl->n_domains ||
        tl->domains[c->tls_info.domain].cfg->n_names == 0) {
        return "-";
    }
    return tl->domains[c->tls_info.domain].cfg->names[0];
}

/* The access log's line for a handshake that did not complete (rate-limited, access_hs.c). */
static void hs_access_line(struct mtlb_acceptor *a, const struct mtlb_client *c, const char *reason,
                           const char *detail)
{
    const char *sni = c->tls_info.sni;
    const char *domain = conn_domain(c);
    struct mtlb_access_hs hs = {
        .conn = c->id,
        .peer = c->tls_info.peer,
        .sni = sni != NULL ? sni : "",
        .domain = strcmp(domain, "-") == 0 ? "" : domain,
        .reason = reason,
        .subject = c->tls_info.fail_subject,
        .missing_issuer = c->tls_info.missing_issuer,
        .detail = detail,
    };
    mtlb_access_handshake_failed(&a->hs_log, mtlb_now_ms(), &hs);
}

void mtlb_acceptor_hs_step(struct mtlb_acceptor *a, struct mtlb_client *c)
{
    c->hs_started = true;
    ERR_clear_error();
    int rc = SSL_do_handshake(c->ssl);
    if (rc == 1) {
        hs_done(a, c);
        return;
    }
    int err = SSL_get_error(c->ssl, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        struct epoll_event ev = {.events = err == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT,
                                 .data.ptr = c};
        epoll_ctl(a->epfd, EPOLL_CTL_MOD, c->fd, &ev);
        return;
    }
    static struct mtlb_ratelimit rl;
    char why[256], q[300];
    /* A refused certificate (or a missing one) was logged at warn, in detail, by the verify
     * callback already: one line per refusal. Every other failure is this line. */
    int reason = ERR_GET_REASON(ERR_peek_error());
    bool no_cert = reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE;
    bool refused = c->tls_info.first_error != X509_V_OK || no_cert;
    /* A connect and close with no byte sent is a TCP health probe, not a refusal. */
    bool probe =
        reason == SSL_R_UNEXPECTED_EOF_WHILE_READING && BIO_number_read(SSL_get_rbio(c->ssl)) == 0;
    enum mtlb_verify_reason vr =
        no_cert ? MTLB_VR_NO_CERTIFICATE : mtlb_tls_verify_reason(c->tls_info.first_error);
    mtlb_tls_error_string(c->ssl, why, sizeof(why));
    if (!probe) {
        count_handshake(a, c, false, false, refused ? MTLB_VERIFY_FAILED : -1, vr);
        hs_access_line(a, c, refused ? mtlb_verify_reason_token(vr) : "tls_error", why);
    }
    mtlb_log_rl(&rl, 20, refused || probe ? MTLB_LOG_DEBUG : MTLB_LOG_WARN,
                "conn=%llu peer=%s domain=%s event=handshake_failed reason=%s",
                (unsigned long long)c->id, c->tls_info.peer, conn_domain(c),
                mtlb_log_quote(why, q, sizeof(q)));
    /* A protocol failure (refused certificate, bad message) left an alert for the peer: let
     * it arrive. After an I/O error or the peer's close there is no one to tell. */
    if (err == SSL_ERROR_SSL) {
        hs_linger(a, c);
    } else {
        mtlb_acceptor_hs_drop(a, c);
    }
}

/* The connection's TLS state, once its client address is known: the SSL on the socket, in
 * accept state. 0 or -ENOMEM. */
static int conn_start(struct mtlb_client *c)
{
    c->ssl = mtlb_tls_new_conn(&c->snap->tls[c->listener], &c->tls_info);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        return -ENOMEM;
    }
    SSL_set_accept_state(c->ssl);
    mtlb_tls_defer_tickets(c->ssl); /* until the client uses the connection: hs_done */
    /* OpenSSL's record buffers (about 34 KiB) are returned between records: an idle
     * keep-alive connection should cost next to nothing. */
    SSL_set_mode(c->ssl, SSL_MODE_RELEASE_BUFFERS);
    return 0;
}

/* A first handshake record announced longer than a plaintext record may be (2^14, RFC 8446
 * section 5.1): OpenSSL would take it, buffer up to 18 KiB and wait for the rest until the
 * handshake deadline, the very cost the wait avoids. It is refused now, as OpenSSL refuses it
 * once whole: the record_overflow alert, counted and logged as any failed handshake. */
static void hello_overflow(struct mtlb_acceptor *a, struct mtlb_client *c, size_t len)
{
    static const unsigned char alert[] = {0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x16};
    static struct mtlb_ratelimit rl;

    (void)send(c->fd, alert, sizeof(alert), MSG_DONTWAIT | MSG_NOSIGNAL);
    count_handshake(a, c, false, false, -1, MTLB_VR_OTHER); /* as a timeout: no verdict */
    hs_access_line(a, c, "tls_error", "record overflow");
    mtlb_log_rl(&rl, 20, MTLB_LOG_WARN,
                "conn=%llu peer=%s domain=%s event=handshake_failed "
                "reason=\"record overflow: first record of %zu bytes\"",
                (unsigned long long)c->id, c->tls_info.peer, conn_domain(c), len);
    hs_linger(a, c);
}

/* Before its first TLS record is whole, a connection has no SSL: OpenSSL would hold its
 * object (about 9 KiB) and, for a record read in part, a 16 KiB read buffer and the handshake
 * buffer, for as long as a silent or trickling client likes (up to timeouts.handshake). The
 * bytes are only peeked, so they wait in the kernel's receive queue, where OpenSSL then reads
 * the record in one go. Edge-triggered (EPOLLET) while waiting: each new segment wakes this
 * once. A record announced over HELLO_RECORD_MAX is refused (hello_overflow); anything else
 * that is not the start of a handshake record, a close or an error goes to OpenSSL at once,
 * which classifies it as it did before (probe, plain HTTP, garbage, truncated hello). events:
 * the epoll events (0 when called without). */
static void hello_step(struct mtlb_acceptor *a, struct mtlb_client *c, uint32_t events)
{
    unsigned char h[5];
    ssize_t n;

    do { /* edge-triggered: an interrupted peek must be retried, no new event would come */
        n = recv(c->fd, h, sizeof(h), MSG_PEEK | MSG_DONTWAIT);
    } while (n == -1 && errno == EINTR);
    if (n == -1 && errno == EAGAIN) {
        return;
    }
    bool closing = (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
    if (n > 0 && h[0] == 0x16 && !closing) { /* a handshake record */
        if (n < (ssize_t)sizeof(h)) {
            return;
        }
        size_t need = sizeof(h) + ((size_t)h[3] << 8 | h[4]);
        int avail = 0;
        if (need > HELLO_RECORD_MAX) {
            hello_overflow(a, c, need - sizeof(h));
            return;
        }
        if (ioctl(c->fd, FIONREAD, &avail) == 0 && (size_t)avail < need) {
            return;
        }
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (conn_start(c) != 0 || epoll_ctl(a->epfd, EPOLL_CTL_MOD, c->fd, &ev) == -1) {
        mtlb_acceptor_hs_drop(a, c);
        return;
    }
    mtlb_acceptor_hs_step(a, c);
}

void mtlb_acceptor_hs_peer_text(const struct sockaddr_storage *ss, char *ip, size_t iplen,
                                char *peer, size_t peerlen)
{
    uint16_t port = 0;
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, (socklen_t)iplen);
        port = ntohs(s6->sin6_port);
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, ip, (socklen_t)iplen);
        port = ntohs(s4->sin_port);
    }
    snprintf(peer, peerlen, "%s:%u", ip, port);
}

/* A connection the edge policy refused: counted and logged (edge.c). peer: the socket's
 * "ip:port"; client: the PROXY-carried address or "". */
void mtlb_acceptor_hs_edge_refused(struct mtlb_acceptor *a, size_t l, uint64_t conn,
                                   const char *peer, const char *client, enum mtlb_edge_reason r,
                                   const char *detail)
{
    struct mtlb_edge_refusal e = {l, conn, peer, client, r, detail};

    mtlb_edge_report(&a->snap->cfg->listeners[l], a->stats->refused, &a->hs_log, &e);
}

/* The PROXY header of c, read as its bytes come (edge.h); then the lists on the address it
 * carries, and the connection goes on to its handshake as any other. */
static void proxy_step(struct mtlb_acceptor *a, struct mtlb_client *c, uint32_t events)
{
    struct sockaddr_storage client;
    const char *detail = "";
    char sock_peer[sizeof(c->tls_info.peer)];
    int rc = mtlb_edge_proxy_read(c->fd, &client, &detail);

    if (rc == 0) {
        return;
    }
    if (rc == -2) { /* a connect and close with no byte: a TCP health probe, not a refusal */
        mtlb_log(MTLB_LOG_DEBUG, "conn=%llu peer=%s event=proxy_probe_closed",
                 (unsigned long long)c->id, c->tls_info.peer);
        mtlb_acceptor_hs_drop(a, c);
        return;
    }
    if (rc < 0) {
        mtlb_acceptor_hs_edge_refused(a, c->listener, c->id, c->tls_info.peer, "",
                                      MTLB_EDGE_PROXY_INVALID, detail);
        mtlb_acceptor_hs_drop(a, c);
        return;
    }
    memcpy(sock_peer, c->tls_info.peer, sizeof(sock_peer));
    mtlb_acceptor_hs_peer_text(&client, c->ip, sizeof(c->ip), c->tls_info.peer,
                               sizeof(c->tls_info.peer));
    if (!mtlb_edge_allowed(&c->snap->cfg->listeners[c->listener], (struct sockaddr *)&client)) {
        mtlb_acceptor_hs_edge_refused(a, c->listener, c->id, sock_peer, c->ip, MTLB_EDGE_ACL, "");
        mtlb_acceptor_hs_drop(a, c);
        return;
    }
    c->proxy_wait = false;
    if (c->snap->cfg->listeners[c->listener].plain) {
        hs_unlink(c);
        epoll_ctl(a->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        accept_plain(a, c);
        return;
    }
    /* The ClientHello may have come with the header, and the peer's close with both: still
     * edge-triggered, so look now, with this event's flags (a close in it comes only once). */
    hello_step(a, c, events);
}

/* An event on a connection in the acceptor: its PROXY header, its first record or its
 * handshake, whichever it is waiting for. */
void mtlb_acceptor_hs_event(struct mtlb_acceptor *a, struct mtlb_client *c, uint32_t events)
{
    if (c->proxy_wait) {
        proxy_step(a, c, events);
    } else if (c->ssl == NULL) {
        hello_step(a, c, events);
    } else {
        mtlb_acceptor_hs_step(a, c);
    }
}

void mtlb_acceptor_hs_begin(struct mtlb_acceptor *a, struct mtlb_client *c)
{
    const struct mtlb_listener_cfg *lc = &c->snap->cfg->listeners[c->listener];

    /* The PROXY header, when the listener wants one, is read under the handshake deadline;
     * a plain listener's connection goes to a worker once its client address is known. */
    if (!lc->proxy_protocol && accept_plain(a, c)) {
        return;
    }
    /* The domain is the listener's first until SNI is read, also in the logs of a connection
     * that never sent a record (conn_domain): mtlb_tls_new_conn sets the same later. */
    c->tls_info.listener = &c->snap->tls[c->listener];
    c->timer.deadline_ms = mtlb_now_ms() + c->snap->cfg->timeouts.handshake_ms;
    c->next = &a->pending;
    c->prev = a->pending.prev;
    a->pending.prev->next = c;
    a->pending.prev = c;
    c->proxy_wait = lc->proxy_protocol;
    /* Edge-triggered while the PROXY header or the first record is awaited: their bytes are
     * only peeked until complete, so they stay readable; each new segment still wakes the
     * acceptor (EPOLLRDHUP: and so does the peer's close, which a peek cannot tell). */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET | EPOLLRDHUP, .data.ptr = c};
    if (epoll_ctl(a->epfd, EPOLL_CTL_ADD, c->fd, &ev) == -1) {
        mtlb_acceptor_hs_drop(a, c);
    }
}

void mtlb_acceptor_hs_expire(struct mtlb_acceptor *a, struct mtlb_client *c)
{
    if (c->proxy_wait) {
        mtlb_acceptor_hs_edge_refused(a, c->listener, c->id, c->tls_info.peer, "",
                                      MTLB_EDGE_PROXY_TIMEOUT,
                                      "no complete PROXY header within timeouts.handshake");
        mtlb_acceptor_hs_drop(a, c);
        return;
    }
    static struct mtlb_ratelimit rl;
    mtlb_log_rl(&rl, 20, MTLB_LOG_WARN,
                "conn=%llu peer=%s domain=%s event=handshake_timeout timeout_ms=%u",
                (unsigned long long)c->id, c->tls_info.peer, conn_domain(c),
                (unsigned)c->snap->cfg->timeouts.handshake_ms);
    count_handshake(a, c, false, false, -1, MTLB_VR_OTHER);
    hs_access_line(a, c, "timeout", "no complete handshake within timeouts.handshake");
    mtlb_acceptor_hs_drop(a, c);
}
