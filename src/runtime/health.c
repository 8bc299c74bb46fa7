/* Active health checks: one thread probes every server of every pool that has
 * backends[].health, once per interval, with an HTTP/1.1 GET over a fresh connection (HTTPS,
 * verified as the requests are, for a pool with backends[].tls),
 * and publishes each server's verdict in its snapshot's health array for the workers to read
 * lock-free. A reload stops the thread and starts one for the new snapshot.
 * The rise/fall counting is mtlb_hcheck's; this file owns the sockets, the clock and the
 * server_down/server_up lines. It never touches a worker's state. */
#include <errno.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "mtlb/backend_tls.h"
#include "mtlb/config.h"
#include "mtlb/hcheck.h"
#include "mtlb/health.h"
#include "mtlb/log.h"
#include "mtlb/server.h"
#include "mtlb/snapshot.h"
#include "mtlb/worker_types.h"

/* The longest the thread sleeps without looking at srv->stop. */
#define STOP_POLL_MS 50
#define PROBE_RBUF 64 /* a status line's first bytes are all a probe reads */

enum probe_phase { P_IDLE, P_CONNECTING, P_HANDSHAKE, P_SENDING, P_READING };

struct probe {
    size_t pool, server;
    const struct mtlb_health_cfg *cfg;
    const struct mtlb_addr *addr;
    struct mtlb_server_health *shared;
    struct mtlb_hcheck st;
    enum probe_phase phase;
    int fd;
    /* HTTPS pools: the pool's client context (ctx NULL: plain), the server's configured host
     * (SNI and verified name, as for requests), the SSL of the probe in flight and the poll
     * event its handshake waits for. */
    const struct mtlb_backend_tls *tls;
    const char *host;
    SSL *ssl;
    short want;
    uint64_t deadline_ms; /* of the probe in flight */
    uint64_t next_ms;     /* when the next probe starts */
    char *req;            /* the request, built once */
    size_t req_len, sent, got;
    char rbuf[PROBE_RBUF];
};

struct mtlb_healthd {
    struct mtlb_server *srv;
    struct mtlb_snapshot *snap; /* a reference: the probes point into it */
    atomic_bool stop;
    pthread_t thread;
    bool started;
    struct probe *probes;
    size_t n;
    struct pollfd *pfd;
    size_t *pfd_probe; /* pfd[i] belongs to probes[pfd_probe[i]] */
};

/* One line per transition: the thread that made it is the only one that logs it. */
static void log_transition(const struct mtlb_snapshot *snap, size_t pool, size_t server, bool down,
                           const char *source, const char *reason)
{
    static struct mtlb_ratelimit rl;
    char q[160];

    mtlb_log_rl(&rl, 50, down ? MTLB_LOG_WARN : MTLB_LOG_INFO,
                "event=%s server=%s pool=%s check=%s reason=%s", down ? "server_down" : "server_up",
                snap->backend_addrs[pool][server].text, snap->cfg->backends[pool].name, source,
                mtlb_log_quote(reason, q, sizeof(q)));
}

void mtlb_health_passive(struct mtlb_worker *w, const struct mtlb_snapshot *snap, size_t pool,
                         size_t server, bool down, const char *reason)
{
    struct mtlb_server_health *sh = &snap->health[pool][server];

    (void)w;
    if (snap->cfg->backends[pool].health.enabled) {
        return; /* the active checks own the verdict and its lines */
    }
    /* A load first: the common case (no change) writes nothing shared. */
    if (atomic_load_explicit(&sh->down, memory_order_relaxed) == down) {
        return;
    }
    if (atomic_exchange(&sh->down, down) != down) {
        log_transition(snap, pool, server, down, "passive", reason);
    }
}

static void probe_close(struct probe *pr)
{
    SSL_free(pr->ssl);
    pr->ssl = NULL;
    ERR_clear_error();
    if (pr->fd >= 0) {
        close(pr->fd);
        pr->fd = -1;
    }
    pr->phase = P_IDLE;
}

/* A probe ended: count it, publish a change, schedule the next one. */
static void probe_done(struct mtlb_healthd *hd, struct probe *pr, bool ok, const char *why)
{
    probe_close(pr);
    enum mtlb_hcheck_change ch = mtlb_hcheck_record(&pr->st, ok, pr->cfg->rise, pr->cfg->fall);
    if (ch != MTLB_HCHECK_SAME) {
        atomic_store(&pr->shared->down, pr->st.down);
        log_transition(hd->snap, pr->pool, pr->server, pr->st.down, "active", why);
    }
    if (ok && !pr->st.down) {
        atomic_fetch_add_explicit(&pr->shared->gen, 1, memory_order_relaxed);
    }
}

/* The TCP connect is done: an HTTPS pool's probe shakes hands first (P_HANDSHAKE). */
static void probe_connected(struct mtlb_healthd *hd, struct probe *pr)
{
    if (pr->tls == NULL || pr->tls->ctx == NULL) {
        return;
    }
    pr->ssl = mtlb_backend_tls_new(pr->tls, pr->host, NULL);
    if (pr->ssl == NULL || SSL_set_fd(pr->ssl, pr->fd) != 1) {
        probe_done(hd, pr, false, "tls: out of memory");
        return;
    }
    pr->phase = P_HANDSHAKE;
    pr->want = POLLOUT;
}

/* One handshake step: on to P_SENDING when done, else the event it waits for. */
static void probe_handshake(struct mtlb_healthd *hd, struct probe *pr)
{
    char why[200], reason[160];
    int rc = SSL_connect(pr->ssl);

    if (rc == 1) {
        pr->phase = P_SENDING;
        pr->want = POLLOUT;
        return;
    }
    int e = SSL_get_error(pr->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        pr->want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
        return;
    }
    mtlb_backend_tls_why(pr->ssl, rc, reason, sizeof(reason));
    snprintf(why, sizeof(why), "tls: %s", reason);
    probe_done(hd, pr, false, why);
}

static ssize_t probe_send(struct probe *pr)
{
    if (pr->ssl == NULL) {
        return send(pr->fd, pr->req + pr->sent, pr->req_len - pr->sent, MSG_NOSIGNAL);
    }
    int n = SSL_write(pr->ssl, pr->req + pr->sent, (int)(pr->req_len - pr->sent));
    if (n <= 0) {
        int e = SSL_get_error(pr->ssl, n);
        errno = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? EAGAIN : EPROTO;
        return -1;
    }
    return n;
}

/* recv, or SSL_read (EAGAIN while a whole record has not arrived, 0 at close_notify). */
static ssize_t probe_recv(struct probe *pr, size_t room)
{
    if (pr->ssl == NULL) {
        return recv(pr->fd, pr->rbuf + pr->got, room, 0);
    }
    int n = SSL_read(pr->ssl, pr->rbuf + pr->got, (int)room);
    if (n <= 0) {
        int e = SSL_get_error(pr->ssl, n);
        if (e == SSL_ERROR_ZERO_RETURN) {
            return 0;
        }
        errno = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? EAGAIN
                : e == SSL_ERROR_SYSCALL                              ? ECONNRESET
                                                                      : EPROTO;
        return -1;
    }
    return n;
}

static void probe_start(struct mtlb_healthd *hd, struct probe *pr, uint64_t now)
{
    char why[96];

    pr->next_ms = now + pr->cfg->interval_ms;
    pr->deadline_ms = now + pr->cfg->timeout_ms;
    pr->sent = pr->got = 0;
    pr->addr = mtlb_snapshot_addr(hd->snap, pr->pool, pr->server); /* it may move */
    pr->fd = socket(pr->addr->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (pr->fd == -1) {
        /* Our own shortage says nothing about the server: not counted. */
        static struct mtlb_ratelimit rl;
        mtlb_log_rl(&rl, 1, MTLB_LOG_ERROR, "event=health_socket_failed error=\"%s\"",
                    strerror(errno));
        return;
    }
    int one = 1;
    setsockopt(pr->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(pr->fd, (const struct sockaddr *)&pr->addr->ss, pr->addr->len) == 0) {
        pr->phase = P_SENDING;
        probe_connected(hd, pr);
    } else if (errno == EINPROGRESS) {
        pr->phase = P_CONNECTING;
    } else {
        snprintf(why, sizeof(why), "connect: %s", strerror(errno));
        pr->phase = P_CONNECTING;
        probe_done(hd, pr, false, why);
    }
}

/* The status line (or enough of it) arrived: the verdict. */
static void probe_read(struct mtlb_healthd *hd, struct probe *pr)
{
    char why[96];
    ssize_t n = probe_recv(pr, sizeof(pr->rbuf) - pr->got);

    if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (n <= 0) {
        snprintf(why, sizeof(why), "%s before a status line", n == 0 ? "closed" : strerror(errno));
        probe_done(hd, pr, false, why);
        return;
    }
    pr->got += (size_t)n;
    int status = mtlb_hcheck_status(pr->rbuf, pr->got);
    if (status == 0 && pr->got < sizeof(pr->rbuf)) {
        if (pr->ssl != NULL && SSL_pending(pr->ssl) > 0) {
            probe_read(hd, pr); /* the rest of a record poll will not announce */
        }
        return;
    }
    if (status <= 0) {
        probe_done(hd, pr, false, "not an HTTP/1.x response");
        return;
    }
    bool ok = status >= pr->cfg->status_min && status <= pr->cfg->status_max;
    snprintf(why, sizeof(why), "status %d", status);
    probe_done(hd, pr, ok, why);
}

static void probe_io(struct mtlb_healthd *hd, struct probe *pr, short revents)
{
    char why[96];

    if (pr->phase == P_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(pr->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
            err = errno;
        }
        if (err != 0) {
            snprintf(why, sizeof(why), "connect: %s", strerror(err));
            probe_done(hd, pr, false, why);
            return;
        }
        pr->phase = P_SENDING;
        probe_connected(hd, pr);
    }
    if (pr->phase == P_HANDSHAKE) {
        probe_handshake(hd, pr);
    }
    if (pr->phase == P_SENDING) {
        ssize_t n = probe_send(pr);
        if (n == -1 && errno != EAGAIN && errno != EINTR) {
            snprintf(why, sizeof(why), "send: %s", strerror(errno));
            probe_done(hd, pr, false, why);
            return;
        }
        pr->sent += n > 0 ? (size_t)n : 0;
        if (pr->sent == pr->req_len) {
            pr->phase = P_READING;
        }
        return;
    }
    if (pr->phase == P_READING && pr->ssl != NULL) {
        probe_read(hd, pr); /* OpenSSL may hold the answer already */
        return;
    }
    if (pr->phase == P_READING && (revents & (POLLIN | POLLHUP | POLLERR))) {
        probe_read(hd, pr);
    }
}

/* Starts the probes that are due, times out the late ones; returns how long to sleep. */
static int health_tick(struct mtlb_healthd *hd, uint64_t now, size_t *npfd)
{
    uint64_t wake = now + STOP_POLL_MS;

    *npfd = 0;
    for (size_t i = 0; i < hd->n; i++) {
        struct probe *pr = &hd->probes[i];
        if (pr->phase != P_IDLE && now >= pr->deadline_ms) {
            probe_done(hd, pr, false, "timeout");
        }
        if (pr->phase == P_IDLE && now >= pr->next_ms) {
            probe_start(hd, pr, now);
        }
        if (pr->phase != P_IDLE) {
            short ev = pr->phase == P_READING     ? POLLIN
                       : pr->phase == P_HANDSHAKE ? pr->want
                                                  : POLLOUT;
            hd->pfd[*npfd] = (struct pollfd){pr->fd, ev, 0};
            hd->pfd_probe[(*npfd)++] = i;
            wake = pr->deadline_ms < wake ? pr->deadline_ms : wake;
        } else {
            wake = pr->next_ms < wake ? pr->next_ms : wake;
        }
    }
    return wake > now ? (int)(wake - now) : 0;
}

static void *health_main(void *arg)
{
    struct mtlb_healthd *hd = arg;

    mtlb_log_set_thread("health");
    while (!atomic_load(&hd->srv->stop) && !atomic_load(&hd->stop)) {
        size_t npfd = 0;
        int wait_ms = health_tick(hd, mtlb_now_ms(), &npfd);
        int n = poll(hd->pfd, npfd, wait_ms);
        for (size_t i = 0; n > 0 && i < npfd; i++) {
            if (hd->pfd[i].revents != 0) {
                probe_io(hd, &hd->probes[hd->pfd_probe[i]], hd->pfd[i].revents);
            }
        }
    }
    for (size_t i = 0; i < hd->n; i++) {
        probe_close(&hd->probes[i]);
    }
    return NULL;
}

static int probe_init(const struct mtlb_snapshot *snap, struct probe *pr, size_t p, size_t s)
{
    const struct mtlb_health_cfg *hc = &snap->cfg->backends[p].health;
    const char *host = snap->backend_addrs[p][s].text;
    int len = snprintf(NULL, 0,
                       "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: mtlb-health\r\n"
                       "Connection: close\r\n\r\n",
                       hc->path, host);

    *pr = (struct probe){.pool = p, .server = s, .cfg = hc, .fd = -1};
    pr->tls = snap->backend_tls != NULL ? &snap->backend_tls[p] : NULL;
    pr->host = snap->cfg->backends[p].servers[s].host;
    pr->addr = &snap->backend_addrs[p][s];
    pr->shared = &snap->health[p][s];
    mtlb_hcheck_init(&pr->st);
    /* A verdict carried over from the previous snapshot (same pool and address) stands. */
    pr->st.down = atomic_load(&pr->shared->down);
    pr->req = malloc((size_t)len + 1);
    if (len < 0 || pr->req == NULL) {
        return -ENOMEM;
    }
    snprintf(pr->req, (size_t)len + 1,
             "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: mtlb-health\r\nConnection: close\r\n\r\n",
             hc->path, host);
    pr->req_len = (size_t)len;
    return 0;
}

int mtlb_health_start(struct mtlb_server *srv, struct mtlb_snapshot *snap)
{
    const struct mtlb_config *cfg = snap->cfg;
    size_t n = 0;

    for (size_t p = 0; p < cfg->n_backends; p++) {
        n += cfg->backends[p].health.enabled ? cfg->backends[p].n_servers : 0;
    }
    if (n == 0) {
        return 0;
    }
    struct mtlb_healthd *hd = calloc(1, sizeof(*hd));
    if (hd == NULL) {
        return -ENOMEM;
    }
    srv->healthd = hd;
    hd->srv = srv;
    hd->snap = snap;
    mtlb_snapshot_get(snap);
    atomic_init(&hd->stop, false);
    hd->probes = calloc(n, sizeof(*hd->probes));
    hd->pfd = calloc(n, sizeof(*hd->pfd));
    hd->pfd_probe = calloc(n, sizeof(*hd->pfd_probe));
    if (hd->probes == NULL || hd->pfd == NULL || hd->pfd_probe == NULL) {
        return -ENOMEM;
    }
    for (size_t p = 0; p < cfg->n_backends; p++) {
        for (size_t s = 0; cfg->backends[p].health.enabled && s < cfg->backends[p].n_servers; s++) {
            int rc = probe_init(snap, &hd->probes[hd->n], p, s);
            hd->n++; /* counted before the check so that stop frees a partial request */
            if (rc != 0) {
                return rc;
            }
        }
    }
    if (pthread_create(&hd->thread, NULL, health_main, hd) != 0) {
        return -EAGAIN;
    }
    hd->started = true;
    return 0;
}

void mtlb_health_stop(struct mtlb_server *srv)
{
    struct mtlb_healthd *hd = srv->healthd;

    if (hd == NULL) {
        return;
    }
    if (hd->started) {
        atomic_store(&hd->stop, true);
        pthread_join(hd->thread, NULL);
    }
    for (size_t i = 0; i < hd->n; i++) {
        probe_close(&hd->probes[i]);
        free(hd->probes[i].req);
    }
    free(hd->probes);
    free(hd->pfd);
    free(hd->pfd_probe);
    mtlb_snapshot_put(hd->snap);
    free(hd);
    srv->healthd = NULL;
}
