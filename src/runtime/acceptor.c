/* Acceptor threads: own the listening sockets (one set per thread, SO_REUSEPORT), accept,
 * and drive non-blocking TLS handshakes on a socket BIO under a deadline with epoll. A
 * finished handshake becomes a client record handed to a worker; the acceptor never touches
 * it again. Stalled handshakes cost one fd and one SSL each and never block others. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <openssl/err.h>

#include "mtlb/log.h"
#include "mtlb/runtime.h"

#define MAX_EVENTS 8
#define LISTENER_TAG 1ULL

struct mtlb_acceptor {
    struct mtlb_server *srv;
    unsigned index;
    pthread_t thread;
    bool started;
    int epfd;
    int *lfds;                  /* one per listener */
    struct mtlb_client pending; /* sentinel: handshakes in deadline order */
    uint32_t handshake_ms;
};

int mtlb_acceptor_create(struct mtlb_server *srv, unsigned index, struct mtlb_acceptor **out)
{
    const struct mtlb_config *cfg = srv->cfg;
    struct mtlb_acceptor *a = calloc(1, sizeof(*a));

    if (a == NULL) {
        return -ENOMEM;
    }
    a->srv = srv;
    a->index = index;
    a->handshake_ms = cfg->timeouts.handshake_ms;
    a->pending.next = a->pending.prev = &a->pending;
    a->lfds = malloc(cfg->n_listeners * sizeof(int));
    a->epfd = epoll_create1(EPOLL_CLOEXEC);
    *out = a;
    if (a->lfds == NULL || a->epfd == -1) {
        return a->lfds == NULL ? -ENOMEM : -errno;
    }
    for (size_t l = 0; l < cfg->n_listeners; l++) {
        a->lfds[l] = -1;
    }
    return 0;
}

/* Takes ownership of a bound, listening socket for listener l. */
int mtlb_acceptor_add_listener(struct mtlb_acceptor *a, size_t l, int fd);
int mtlb_acceptor_add_listener(struct mtlb_acceptor *a, size_t l, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = ((uint64_t)l << 1) | LISTENER_TAG};
    a->lfds[l] = fd;
    if (epoll_ctl(a->epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
        return -errno;
    }
    return 0;
}

static void hs_unlink(struct mtlb_client *c)
{
    if (c->next != NULL) {
        c->prev->next = c->next;
        c->next->prev = c->prev;
        c->next = c->prev = NULL;
    }
}

static void hs_drop(struct mtlb_acceptor *a, struct mtlb_client *c)
{
    hs_unlink(c);
    epoll_ctl(a->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    atomic_fetch_sub(&a->srv->live_conns, 1);
    mtlb_client_free(c);
}

static void hs_done(struct mtlb_acceptor *a, struct mtlb_client *c)
{
    struct mtlb_server *srv = a->srv;

    hs_unlink(c);
    epoll_ctl(a->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    char why[128] = "";
    c->transport = MTLB_TRANSPORT_USERSPACE;
    if (srv->ktls[c->listener]) {
        c->transport = mtlb_ktls_finish(c->ssl, c->fd, &c->tls_info, why, sizeof(why));
    }
    int rc = mtlb_tls_identity(c->ssl, srv->cfg->dn_format, &c->identity);
    if (rc == 0 && c->transport == MTLB_TRANSPORT_USERSPACE) {
        rc = mtlb_ring_bio_attach(c);
    } else if (rc == 0 && c->transport == MTLB_TRANSPORT_KTLS_TX) {
        rc = mtlb_ring_bio_attach_rx(c);
    }
    if (rc != 0) {
        atomic_fetch_sub(&srv->live_conns, 1);
        mtlb_client_free(c);
        return;
    }
    if (why[0] != '\0') {
        static struct mtlb_ratelimit rl;
        char q[160];
        mtlb_log_rl(&rl, 5, MTLB_LOG_INFO, "conn=%llu event=ktls_rx_fallback reason=%s",
                    (unsigned long long)c->id, mtlb_log_quote(why, q, sizeof(q)));
    }
    mtlb_log(MTLB_LOG_DEBUG,
             "conn=%llu peer=%s event=handshake_done version=%s cipher=%s verify=%s transport=%s",
             (unsigned long long)c->id, c->tls_info.peer, SSL_get_version(c->ssl),
             SSL_get_cipher_name(c->ssl), mtlb_identity_verify_word(c->identity.verify),
             mtlb_transport_name(c->transport));
    unsigned wi = atomic_fetch_add(&srv->next_worker, 1) % srv->n_workers;
    mtlb_handoff_push(&srv->workers[wi], c);
}

static void hs_step(struct mtlb_acceptor *a, struct mtlb_client *c)
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
    /* Verification failures were logged in detail by the verify callback already. */
    int level = c->tls_info.first_error != X509_V_OK ? MTLB_LOG_DEBUG : MTLB_LOG_INFO;
    mtlb_log_rl(&rl, 20, level, "conn=%llu peer=%s event=handshake_failed reason=%s",
                (unsigned long long)c->id, c->tls_info.peer,
                mtlb_log_quote(mtlb_tls_error_string(c->ssl, why, sizeof(why)), q, sizeof(q)));
    hs_drop(a, c);
}

static void peer_text(const struct sockaddr_storage *ss, char *ip, size_t iplen, char *peer,
                      size_t peerlen)
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

static void accept_one(struct mtlb_acceptor *a, size_t l, int fd, struct sockaddr_storage *ss)
{
    struct mtlb_server *srv = a->srv;
    static struct mtlb_ratelimit rl;

    if (atomic_fetch_add(&srv->live_conns, 1) >= (int)srv->cfg->limits.max_connections) {
        atomic_fetch_sub(&srv->live_conns, 1);
        mtlb_log_rl(&rl, 1, MTLB_LOG_WARN, "event=connection_refused reason=\"max_connections\"");
        close(fd);
        return;
    }
    struct mtlb_client *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        atomic_fetch_sub(&srv->live_conns, 1);
        close(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->fd = fd;
    c->listener = l;
    c->id = atomic_fetch_add(&srv->next_conn_id, 1);
    c->tls_info.conn_id = c->id;
    peer_text(ss, c->ip, sizeof(c->ip), c->tls_info.peer, sizeof(c->tls_info.peer));
    c->ssl = mtlb_tls_new_conn(&srv->tls[l], &c->tls_info);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, fd) != 1) {
        atomic_fetch_sub(&srv->live_conns, 1);
        mtlb_client_free(c);
        return;
    }
    SSL_set_accept_state(c->ssl);
    /* OpenSSL's record buffers (about 34 KiB) are returned between records: an idle
     * keep-alive connection should cost next to nothing. */
    SSL_set_mode(c->ssl, SSL_MODE_RELEASE_BUFFERS);
    c->timer.deadline_ms = mtlb_now_ms() + a->handshake_ms;
    c->next = &a->pending;
    c->prev = a->pending.prev;
    a->pending.prev->next = c;
    a->pending.prev = c;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(a->epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
        hs_drop(a, c);
    }
}

static void accept_all(struct mtlb_acceptor *a, size_t l)
{
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = accept4(a->lfds[l], (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
                static struct mtlb_ratelimit rl;
                mtlb_log_rl(&rl, 1, MTLB_LOG_ERROR, "event=accept_failed error=\"%s\"",
                            strerror(errno));
            }
            return;
        }
        accept_one(a, l, fd, &ss);
    }
}

static int expire(struct mtlb_acceptor *a, uint64_t now)
{
    while (a->pending.next != &a->pending) {
        struct mtlb_client *c = a->pending.next;
        if (c->timer.deadline_ms > now) {
            uint64_t wait = c->timer.deadline_ms - now;
            return wait < 200 ? (int)wait : 200;
        }
        mtlb_log(MTLB_LOG_DEBUG, "conn=%llu peer=%s event=handshake_timeout",
                 (unsigned long long)c->id, c->tls_info.peer);
        hs_drop(a, c);
    }
    return 200;
}

static void *acceptor_main(void *arg)
{
    struct mtlb_acceptor *a = arg;
    struct epoll_event evs[MAX_EVENTS];
    char name[32];

    snprintf(name, sizeof(name), "acceptor-%u", a->index);
    mtlb_log_set_thread(name);
    int timeout = 200;
    while (!atomic_load(&a->srv->stop)) {
        int n = epoll_wait(a->epfd, evs, MAX_EVENTS, timeout);
        /* Handshakes past their first flight go first: finishing one is cheaper than
         * starting one (the server's signature), and under a burst it keeps the handshake
         * tail latency short. Each event is handled once (ptr cleared). */
        for (int i = 0; i < n; i++) {
            struct mtlb_client *c = evs[i].data.ptr;
            if (!(evs[i].data.u64 & LISTENER_TAG) && c->hs_started) {
                evs[i].data.ptr = NULL;
                hs_step(a, c);
            }
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 & LISTENER_TAG) {
                accept_all(a, (size_t)(evs[i].data.u64 >> 1));
            } else if (evs[i].data.ptr != NULL) {
                hs_step(a, evs[i].data.ptr);
            }
        }
        timeout = expire(a, mtlb_now_ms());
    }
    return NULL;
}

int mtlb_acceptor_start(struct mtlb_acceptor *a)
{
    int rc = pthread_create(&a->thread, NULL, acceptor_main, a);
    a->started = rc == 0;
    return -rc;
}

void mtlb_acceptor_join_destroy(struct mtlb_acceptor *a)
{
    if (a == NULL) {
        return;
    }
    if (a->started) {
        pthread_join(a->thread, NULL);
    }
    while (a->pending.next != &a->pending) {
        hs_drop(a, a->pending.next);
    }
    for (size_t l = 0; a->lfds != NULL && l < a->srv->cfg->n_listeners; l++) {
        if (a->lfds[l] >= 0) {
            close(a->lfds[l]);
        }
    }
    if (a->epfd >= 0) {
        close(a->epfd);
    }
    free(a->lfds);
    free(a);
}
