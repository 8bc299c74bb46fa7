/* Worker threads: each owns one io_uring ring (or its epoll emulation, io.h) and every client and
 * backend connection on it, its timers and its round-robin cursors. Loop order: submit and wait,
 * take a batch of completions, dispatch them, expire timers, flush the access log, check the drain.
 * Once per turn it looks at the published generation and moves to a new snapshot (new requests
 * and new timers use it; its old pool set lives on with the exchanges that still use it).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "mtlb/balance.h"
#include "mtlb/client_bufs.h"
#include "mtlb/client_types.h"
#include "mtlb/config.h"
#include "mtlb/h1_client.h"
#include "mtlb/h2_stream.h"
#include "mtlb/handoff.h"
#include "mtlb/io.h"
#include "mtlb/ktls.h"
#include "mtlb/log.h"
#include "mtlb/loop.h"
#include "mtlb/pool_set.h"
#include "mtlb/prior_refuse.h"
#include "mtlb/request_id.h"
#include "mtlb/server.h"
#include "mtlb/snapshot.h"
#include "mtlb/stats.h"
#include "mtlb/transport.h"
#include "mtlb/upstream.h"
#include "mtlb/worker.h"
#include "mtlb/worker_types.h"

#define RING_ENTRIES 4096
#define CQE_BATCH 128
#define TICK_MS 100

/* ---- timers ---- */

static void expire_timers(struct mtlb_worker *w)
{
    for (int k = 0; k < MTLB_T_COUNT; k++) {
        struct mtlb_timer_list *l = &w->timers[k];
        while (l->head.next != &l->head && l->head.next->deadline_ms <= w->now_ms) {
            struct mtlb_timer *t = l->head.next;
            mtlb_timer_disarm(t);
            t->expire(t);
        }
    }
}

/* ---- ring ---- */

static void arm_wake(struct mtlb_worker *w)
{
    mtlb_io_read(w->io, w->wake_fd, &w->wake_val, sizeof(w->wake_val), mtlb_op_ud(&w->wake_op));
}

static void arm_tick(struct mtlb_worker *w)
{
    w->tick_ts.tv_sec = 0;
    w->tick_ts.tv_nsec = TICK_MS * 1000000LL;
    mtlb_io_timeout(w->io, &w->tick_ts, mtlb_op_ud(&w->tick_op));
}

/* ---- pool sets ---- */

/* Passive backoff carried over from the previous set for a server with the same pool name and
 * address, so that a reload does not send requests to a server this worker knows is down. */
static void carry_backoff(struct mtlb_pool_set *ps, size_t p, const struct mtlb_pool_set *prev)
{
    const struct mtlb_config *cfg = ps->snap->cfg;

    for (size_t q = 0; prev != NULL && q < prev->snap->cfg->n_backends; q++) {
        if (strcmp(prev->snap->cfg->backends[q].name, cfg->backends[p].name) != 0) {
            continue;
        }
        for (size_t s = 0; s < cfg->backends[p].n_servers; s++) {
            for (size_t k = 0; k < prev->snap->cfg->backends[q].n_servers; k++) {
                if (strcmp(ps->snap->backend_addrs[p][s].text,
                           prev->snap->backend_addrs[q][k].text) == 0) {
                    ps->pools[p].health[s] = prev->pools[q].health[k];
                    ps->pools[p].health[s].check_gen = 0; /* the new snapshot counts anew */
                }
            }
        }
    }
}

static struct mtlb_pool_set *pool_set_create(struct mtlb_worker *w, struct mtlb_snapshot *snap,
                                             const struct mtlb_pool_set *prev)
{
    const struct mtlb_config *cfg = snap->cfg;
    struct mtlb_pool_set *ps = calloc(1, sizeof(*ps));

    if (ps == NULL) {
        return NULL;
    }
    ps->snap = snap;
    mtlb_snapshot_get(snap);
    ps->users = 1;
    ps->pools = calloc(cfg->n_backends, sizeof(*ps->pools));
    for (size_t p = 0; ps->pools != NULL && p < cfg->n_backends; p++) {
        size_t n = cfg->backends[p].n_servers;
        ps->pools[p].health = calloc(n, sizeof(struct mtlb_health));
        ps->pools[p].idle = calloc(n, sizeof(struct mtlb_upstream *));
        ps->pools[p].sessions = calloc(n, sizeof(*ps->pools[p].sessions));
        if (ps->pools[p].health == NULL || ps->pools[p].idle == NULL ||
            ps->pools[p].sessions == NULL) {
            mtlb_pool_set_drop(ps);
            return NULL;
        }
        /* Offset the cursors so that workers do not all start on server 0. */
        mtlb_rr_init(&ps->pools[p].rr, ps->pools[p].health, n, w->index);
        carry_backoff(ps, p, prev);
        /* After the carry: weights and in-flight counts are this set's own. */
        mtlb_rr_configure(&ps->pools[p].rr, cfg->backends[p].balance, w->index * 1000003u + p);
        for (size_t s = 0; s < n; s++) {
            mtlb_rr_set_weight(&ps->pools[p].rr, s, cfg->backends[p].servers[s].weight);
        }
    }
    if (ps->pools == NULL) {
        mtlb_pool_set_drop(ps);
        return NULL;
    }
    return ps;
}

/* Makes snap the worker's snapshot: a new pool set, the timeouts of new timers, the size of
 * new exchange blocks. The old set's idle connections close now; its busy ones close when
 * their exchange ends. -ENOMEM leaves the worker on its old snapshot (it tries again). */
static int use_snapshot(struct mtlb_worker *w, struct mtlb_snapshot *snap)
{
    const struct mtlb_config *cfg = snap->cfg;
    struct mtlb_pool_set *ps = pool_set_create(w, snap, w->ps);

    if (ps == NULL) {
        return -ENOMEM;
    }
    if (w->ps != NULL) {
        mtlb_upstream_close_idle(w->ps);
        mtlb_pool_set_drop(w->ps);
    }
    w->ps = ps;
    mtlb_snapshot_put(w->snap);
    w->snap = snap;
    mtlb_snapshot_get(snap);
    const uint32_t durations[MTLB_T_COUNT] = {
        cfg->timeouts.client_header_ms,    cfg->timeouts.client_body_ms,
        cfg->timeouts.client_idle_ms,      cfg->timeouts.backend_connect_ms,
        cfg->timeouts.backend_response_ms, cfg->timeouts.backend_idle_ms,
        cfg->timeouts.client_body_ms,
    };
    for (int k = 0; k < MTLB_T_COUNT; k++) {
        w->timers[k].duration_ms = durations[k];
    }
    size_t block = mtlb_client_block_size(cfg);
    if (block != w->block_size) {
        while (w->spare_blocks != NULL) {
            void *b = w->spare_blocks;
            memcpy(&w->spare_blocks, b, sizeof(void *));
            free(b);
        }
        w->n_spare = 0;
        w->block_size = block;
    }
    return 0;
}

static void refresh_snapshot(struct mtlb_worker *w)
{
    if (mtlb_snapshot_generation(w->srv) == w->snap->generation) {
        return;
    }
    struct mtlb_snapshot *snap = mtlb_snapshot_current(w->srv);
    if (snap != w->snap) {
        use_snapshot(w, snap);
    }
    mtlb_snapshot_put(snap);
}

int mtlb_worker_init(struct mtlb_worker *w, struct mtlb_server *srv, unsigned index)
{
    memset(w, 0, sizeof(*w));
    w->srv = srv;
    w->index = index;
    unsigned char seed[10];
    if (RAND_bytes(seed, sizeof(seed)) != 1) {
        return -EIO;
    }
    mtlb_request_id_gen_init(&w->reqid, seed, (uint16_t)index);
    w->clients.next = w->clients.prev = &w->clients;
    for (int k = 0; k < MTLB_T_COUNT; k++) {
        w->timers[k].head.next = w->timers[k].head.prev = &w->timers[k].head;
    }
    w->queue = calloc(1, sizeof(*w->queue));
    if (w->queue == NULL) {
        return -ENOMEM;
    }
    mtlb_handoff_init(w->queue);
    struct mtlb_snapshot *snap = mtlb_snapshot_current(srv);
    int rc = use_snapshot(w, snap);
    mtlb_snapshot_put(snap);
    if (rc != 0) {
        return rc;
    }
    w->stats = mtlb_stats_create(&srv->layout);
    if (w->stats == NULL) {
        return -ENOMEM;
    }
    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->wake_fd == -1) {
        return -errno;
    }
    return mtlb_io_create(w->snap->cfg->io, RING_ENTRIES, &w->io);
}

void mtlb_worker_fini(struct mtlb_worker *w)
{
    mtlb_worker_bury(w);
    mtlb_upstream_spares_free(w);
    mtlb_splice_pipes_fini(&w->pipes);
    free(w->h2_nva);
    free(w->h2_scratch);
    while (w->spare_blocks != NULL) {
        void *b = w->spare_blocks;
        memcpy(&w->spare_blocks, b, sizeof(void *));
        free(b);
    }
    if (w->queue != NULL) {
        /* Sessions handed off after the worker stopped are closed here. */
        struct mtlb_client *c = mtlb_handoff_take(w->queue);
        while (c != NULL) {
            struct mtlb_client *next = c->next;
            mtlb_client_free(c);
            c = next;
        }
        mtlb_handoff_fini(w->queue);
        free(w->queue);
    }
    if (w->wake_fd > 0) {
        close(w->wake_fd);
    }
    mtlb_io_destroy(w->io);
    w->io = NULL;
    mtlb_stats_destroy(w->stats);
    w->stats = NULL;
    mtlb_pool_set_drop(w->ps);
    w->ps = NULL;
    mtlb_snapshot_put(w->snap);
    w->snap = NULL;
}

void mtlb_worker_bury(struct mtlb_worker *w)
{
    while (w->grave_clients != NULL) {
        struct mtlb_client *c = w->grave_clients;
        w->grave_clients = c->grave_next;
        mtlb_counter_add(&w->stats->conn_closed[c->listener * MTLB_TRANSPORT_COUNT + c->transport],
                         1);
        mtlb_client_free(c);
    }
    while (w->grave_upstreams != NULL) {
        struct mtlb_upstream *u = w->grave_upstreams;
        w->grave_upstreams = u->grave_next;
        mtlb_upstream_destroy(u);
    }
}

/* The protocol a handed-off connection runs, chosen once by what its handshake agreed on. */
static const struct mtlb_proto_ops *choose_proto(struct mtlb_client *c)
{
    if (c->transport == MTLB_TRANSPORT_PLAIN) {
        /* A plain listener: no ALPN. HTTP/1.1, which an HTTP/2 preface may turn into HTTP/2
         * where the listener proxies (http: allow). Where it only redirects, the preface gets
         * an HTTP/2 GOAWAY (HTTP_1_1_REQUIRED) that the client's HTTP/2 stack can report: an
         * HTTP/1.1 error page would read to it as a broken frame. */
        bool allow = c->snap->cfg->listeners[c->listener].plain_http == MTLB_PLAIN_ALLOW;
        c->h2_prior = allow ? &mtlb_h2_proto : &mtlb_prior_refuse_proto;
        return &mtlb_h1_proto;
    }
    return c->tls_facts.h2 ? &mtlb_h2_proto : &mtlb_h1_proto;
}

static void take_handoffs(struct mtlb_worker *w)
{
    struct mtlb_client *c = mtlb_handoff_take(w->queue);
    while (c != NULL) {
        struct mtlb_client *next = c->next;
        mtlb_client_start(w, c, choose_proto(c));
        c = next;
    }
}

/* The wake_fd was written: a handoff, or the stop flag. */
static void wake_done(struct mtlb_op *op, int res)
{
    struct mtlb_worker *w = mtlb_container_of(op, struct mtlb_worker, wake_op);

    (void)res;
    if (atomic_load(&w->srv->stop) && !w->stopping) {
        w->stopping = true;
        w->stop_deadline_ms = w->now_ms + w->snap->cfg->timeouts.drain_ms;
    }
    take_handoffs(w);
    arm_wake(w);
}

/* The tick only bounds the wait, so that timers expire on an otherwise quiet ring. */
static void tick_done(struct mtlb_op *op, int res)
{
    (void)res;
    arm_tick(mtlb_container_of(op, struct mtlb_worker, tick_op));
}

/* A completion goes to the operation whose address is its user_data. */
static void dispatch(uint64_t data, int res)
{
    struct mtlb_op *op = (struct mtlb_op *)(uintptr_t)data;

    if (op != NULL) { /* cancellations carry user_data 0 */
        op->done(op, res);
    }
}

/* During a drain: idle keep-alive clients go now, busy ones when their exchange ends, all of
 * them at the deadline. Returns true once nothing is left. */
static bool drain(struct mtlb_worker *w)
{
    bool force = w->now_ms >= w->stop_deadline_ms;
    struct mtlb_client *c = w->clients.next;
    while (c != &w->clients) {
        struct mtlb_client *next = c->next;
        mtlb_client_drain(c, force);
        c = next;
    }
    mtlb_upstream_close_idle_all(w);
    return w->n_clients == 0 && w->n_upstreams == 0;
}

/* For the admin thread: the loop is alive (heartbeat), and, every PUBLISH_MS, which servers
 * this worker has marked down (its passive health; see stats.h). */
static void publish(struct mtlb_worker *w)
{
    mtlb_counter_set(&w->stats->heartbeat_ms, w->now_ms);
    if (w->now_ms - w->published_ms < TICK_MS) {
        return;
    }
    w->published_ms = w->now_ms;
    const struct mtlb_pool_set *ps = w->ps;
    const struct mtlb_snapshot *snap = ps->snap;
    for (size_t p = 0; p < snap->cfg->n_backends; p++) {
        const struct mtlb_rr *rr = &ps->pools[p].rr;
        /* With active checks the checker's verdict is the server's state; without, this
         * worker's passive backoff. */
        bool checked = snap->cfg->backends[p].health.enabled;
        for (size_t s = 0; s < rr->n; s++) {
            uint64_t until = rr->health[s].down_until_ms;
            bool down = checked
                            ? atomic_load_explicit(&snap->health[p][s].down, memory_order_relaxed)
                            : until != 0 && w->now_ms < until;
            mtlb_counter_set(&w->stats->be_down[snap->server_slot[p][s]], down);
        }
    }
}

void *mtlb_worker_main(void *arg)
{
    struct mtlb_worker *w = arg;
    char name[32];
    struct mtlb_io_cqe cqes[CQE_BATCH];

    snprintf(name, sizeof(name), "worker-%u", w->index);
    mtlb_log_set_thread(name);
    w->now_us = mtlb_now_us();
    w->now_ms = w->now_us / 1000;
    publish(w);
    w->wake_op.done = wake_done;
    w->tick_op.done = tick_done;
    arm_wake(w);
    arm_tick(w);
    for (;;) {
        int n = mtlb_io_wait(w->io, cqes, CQE_BATCH);
        if (n < 0 && n != -EINTR) {
            mtlb_log(MTLB_LOG_ERROR, "event=io_failed error=%d", -n);
            break;
        }
        w->now_us = mtlb_now_us();
        w->now_ms = w->now_us / 1000;
        refresh_snapshot(w);
        publish(w);
        for (int i = 0; i < n; i++) {
            dispatch(cqes[i].user_data, cqes[i].res);
        }
        mtlb_worker_bury(w);
        expire_timers(w);
        mtlb_access_flush();
        bool done = w->stopping && drain(w);
        mtlb_worker_bury(w);
        if (done) {
            break;
        }
    }
    mtlb_access_flush();
    mtlb_counter_set(&w->stats->heartbeat_ms, MTLB_STATS_EXITED);
    return NULL;
}
