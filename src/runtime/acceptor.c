/* Acceptor threads: share the listening sockets (one per listener, owned by the server), accept,
 * admit (edge policy, max_connections), and keep the deadlines of the connections in their
 * handshake (acceptor_hs.c) and of the lingering closes (acceptor_linger.c) on one epoll. Each
 * connection holds the snapshot current at its accept; the acceptor re-takes the current one
 * once per loop turn when the generation moved. */
#include <errno.h>
#include <sched.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acceptor_int.h"
#include "mtlb/acceptor.h"
#include "mtlb/config.h"
#include "mtlb/edge.h"
#include "mtlb/log.h"
#include "mtlb/server.h"
#include "mtlb/snapshot.h"
#include "mtlb/stats.h"
#include "mtlb/transport.h"
#include "mtlb/worker_types.h"

#define MAX_EVENTS 8
#define EXPIRE_BATCH 64 /* deadlines ended per loop turn, of each kind */

/* How long the listeners rest after accept4 ran out of descriptors or memory: the waiting
 * connections keep the sockets readable, and without a pause the loop would spin on them. */
#define ACCEPT_PAUSE_MS 100

/* Every acceptor's epoll waits on every listening socket. EPOLLEXCLUSIVE: a new connection
 * wakes one idle acceptor, not all of them; the others may still find the socket readable
 * and get EAGAIN from accept4, which is normal. */
static int watch_listeners(struct mtlb_acceptor *a)
{
    for (size_t l = 0; l < a->srv->n_listeners; l++) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE,
                                 .data.u64 = ((uint64_t)l << 2) | TAG_LISTENER};
        if (epoll_ctl(a->epfd, EPOLL_CTL_ADD, a->srv->listen_fds[l], &ev) == -1 &&
            errno != EEXIST) { /* EEXIST: a resume after a partial one */
            return -errno;
        }
    }
    return 0;
}

int mtlb_acceptor_create(struct mtlb_server *srv, unsigned index, struct mtlb_acceptor **out)
{
    struct mtlb_acceptor *a = calloc(1, sizeof(*a));

    *out = a;
    if (a == NULL) {
        return -ENOMEM;
    }
    a->srv = srv;
    a->index = index;
    a->snap = mtlb_snapshot_current(srv);
    a->stats = srv->acceptor_stats[index];
    a->pending.next = a->pending.prev = &a->pending;
    a->lingering.next = a->lingering.prev = &a->lingering;
    a->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (a->epfd == -1) {
        return -errno;
    }
    return watch_listeners(a);
}

/* A refused address costs an accept and a close, nothing more; so does a connection over
 * max_connections. True when fd was closed; otherwise it holds a live_conns place. */
static bool refuse_early(struct mtlb_acceptor *a, size_t l, int fd, struct sockaddr_storage *ss)
{
    struct mtlb_server *srv = a->srv;
    const struct mtlb_config *cfg = a->snap->cfg;
    static struct mtlb_ratelimit rl;
    enum mtlb_edge_reason why;

    if (!mtlb_edge_admit(&cfg->listeners[l], (struct sockaddr *)ss, &why)) {
        char ip[64], peer[80];
        mtlb_acceptor_hs_peer_text(ss, ip, sizeof(ip), peer, sizeof(peer));
        mtlb_acceptor_hs_edge_refused(a, l, 0, peer, "", why, "");
        close(fd);
        return true;
    }

    if (atomic_fetch_add(&srv->live_conns, 1) >= (int)cfg->limits.max_connections) {
        atomic_fetch_sub(&srv->live_conns, 1);
        char ip[64], peer[80];
        mtlb_acceptor_hs_peer_text(ss, ip, sizeof(ip), peer, sizeof(peer));
        mtlb_log_rl(&rl, 1, MTLB_LOG_WARN,
                    "peer=%s listener=%s:%u event=connection_refused reason=\"max_connections\" "
                    "limit=%u",
                    peer, cfg->listeners[l].bind_host, cfg->listeners[l].bind_port,
                    cfg->limits.max_connections);
        close(fd);
        return true;
    }
    return false;
}

static void accept_one(struct mtlb_acceptor *a, size_t l, int fd, struct sockaddr_storage *ss)
{
    struct mtlb_server *srv = a->srv;

    if (refuse_early(a, l, fd, ss)) {
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
    c->snap = a->snap;
    mtlb_snapshot_get(c->snap);
    c->id = atomic_fetch_add(&srv->next_conn_id, 1);
    c->tls_info.conn_id = c->id;
    mtlb_acceptor_hs_peer_text(ss, c->ip, sizeof(c->ip), c->tls_info.peer,
                               sizeof(c->tls_info.peer));
    mtlb_acceptor_hs_begin(a, c);
}

/* The snapshot new connections get: re-taken when the generation moved (one load when not). */
static void refresh_snapshot(struct mtlb_acceptor *a)
{
    if (mtlb_snapshot_generation(a->srv) != a->snap->generation) {
        mtlb_snapshot_put(a->snap);
        a->snap = mtlb_snapshot_current(a->srv);
    }
}

static void pause_listeners(struct mtlb_acceptor *a)
{
    for (size_t l = 0; l < a->srv->n_listeners; l++) {
        epoll_ctl(a->epfd, EPOLL_CTL_DEL, a->srv->listen_fds[l], NULL);
    }
    a->paused_until_ms = mtlb_now_ms() + ACCEPT_PAUSE_MS;
}

/* The listeners are watched again once the pause is over; returns the epoll timeout to use
 * (timeout, or less while paused). */
static int resume_listeners(struct mtlb_acceptor *a, uint64_t now, int timeout)
{
    if (a->paused_until_ms == 0) {
        return timeout;
    }
    if (now < a->paused_until_ms) {
        int left = (int)(a->paused_until_ms - now);
        return timeout < 0 || left < timeout ? left : timeout;
    }
    a->paused_until_ms = 0;
    int rc = watch_listeners(a);
    if (rc != 0) {
        static struct mtlb_ratelimit rl;
        mtlb_log_rl(&rl, 1, MTLB_LOG_ERROR, "event=accept_resume_failed error=\"%s\"",
                    strerror(-rc));
        a->paused_until_ms = now + ACCEPT_PAUSE_MS;
    }
    return timeout;
}

static void accept_all(struct mtlb_acceptor *a, size_t l)
{
    refresh_snapshot(a);
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = accept4(a->srv->listen_fds[l], (struct sockaddr *)&ss, &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            int e = errno;
            if (e != EAGAIN && e != EINTR && e != ECONNABORTED) {
                static struct mtlb_ratelimit rl;
                mtlb_log_rl(&rl, 1, MTLB_LOG_ERROR, "event=accept_failed error=\"%s\"",
                            strerror(e));
            }
            if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
                pause_listeners(a);
            }
            return;
        }
        accept_one(a, l, fd, &ss);
    }
}

/* The wait until deadline (0 when it has passed), at most wait. */
static uint64_t time_left(uint64_t deadline, uint64_t now, uint64_t wait)
{
    uint64_t left = deadline > now ? deadline - now : 0;
    return left < wait ? left : wait;
}

/* Ends handshakes and lingering closes past their deadline, at most EXPIRE_BATCH of each per
 * call: 5,000 silent connections reaching timeouts.handshake together were closed in one
 * stretch that kept a worker sharing this CPU waiting (bench/flood idle). Returns the wait
 * until the next deadline (at most 200 ms, so the stop flag is seen; 0 when some are left);
 * *ended: whether any ended. */
static int expire(struct mtlb_acceptor *a, uint64_t now, bool *ended)
{
    uint64_t wait = 200;
    int n = 0;

    while (a->pending.next != &a->pending) {
        struct mtlb_client *c = a->pending.next;
        if (c->timer.deadline_ms > now || n == EXPIRE_BATCH) {
            wait = time_left(c->timer.deadline_ms, now, wait);
            break;
        }
        mtlb_acceptor_hs_expire(a, c);
        n++;
    }
    *ended = n > 0;
    n = 0;
    while (a->lingering.next != &a->lingering) {
        struct lingerer *lg = a->lingering.next;
        if (lg->deadline_ms > now || n == EXPIRE_BATCH) {
            wait = time_left(lg->deadline_ms, now, wait);
            break;
        }
        mtlb_acceptor_linger_end(a, lg);
        n++;
    }
    *ended = *ended || n > 0;
    return (int)wait;
}

/* After each handshake step, accept batch and expiry batch: a worker woken meanwhile on this
 * CPU gets it now. The scheduler does not preempt a running thread for every woken one of
 * equal priority: during a handshake storm on a CPU shared by an acceptor and a worker, perf
 * sched showed the worker waiting up to 5.5 ms (362 ms in 3 s) behind the acceptor's crypto,
 * and established clients' p99 went from 0.4 to 3.8-4.8 ms (bench/flood storm); with this,
 * 2.2-2.7 ms. The cost is one syscall per step; the acceptor keeps its fair share (a yield
 * moves its deadline, not its CPU time accounting). */
static void let_workers_run(void)
{
    sched_yield();
}

static void dispatch(struct mtlb_acceptor *a, const struct epoll_event *ev)
{
    uint64_t data = ev->data.u64;

    switch (data & TAG_MASK) {
    case TAG_LISTENER:
        accept_all(a, (size_t)(data >> 2));
        let_workers_run();
        break;
    case TAG_LINGER:
        mtlb_acceptor_linger_read(a, (struct lingerer *)(uintptr_t)(data & ~TAG_MASK));
        break;
    default:
        if (data != 0) {
            mtlb_acceptor_hs_event(a, (struct mtlb_client *)(uintptr_t)data, ev->events);
            let_workers_run();
        }
        break;
    }
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
        mtlb_counter_set(&a->stats->heartbeat_ms, mtlb_now_ms());
        refresh_snapshot(a); /* an idle acceptor lets an old snapshot go within 200 ms */
        int n = epoll_wait(a->epfd, evs, MAX_EVENTS, timeout);
        /* Handshakes past their first flight go first: finishing one is cheaper than
         * starting one (the server's signature), and under a burst it keeps the handshake
         * tail latency short. Each event is handled once (data cleared). */
        for (int i = 0; i < n; i++) {
            struct mtlb_client *c = evs[i].data.ptr;
            if ((evs[i].data.u64 & TAG_MASK) == TAG_CLIENT && c->hs_started) {
                evs[i].data.u64 = 0;
                mtlb_acceptor_hs_step(a, c);
                let_workers_run();
            }
        }
        for (int i = 0; i < n; i++) {
            dispatch(a, &evs[i]);
        }
        uint64_t now = mtlb_now_ms();
        bool ended;
        timeout = resume_listeners(a, now, expire(a, now, &ended));
        if (ended) {
            let_workers_run();
        }
        mtlb_access_hs_tick(&a->hs_log, now);
        mtlb_access_flush(); /* this thread's handshake_failed lines */
    }
    mtlb_access_flush();
    mtlb_counter_set(&a->stats->heartbeat_ms, MTLB_STATS_EXITED);
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
        mtlb_acceptor_hs_drop(a, a->pending.next);
    }
    while (a->lingering.next != &a->lingering) {
        mtlb_acceptor_linger_end(a, a->lingering.next);
    }
    if (a->epfd >= 0) {
        close(a->epfd);
    }
    mtlb_snapshot_put(a->snap);
    free(a);
}
