/* The process: builds TLS contexts, backend addresses, workers and acceptors from a config,
 * runs them, and turns SIGTERM/SIGINT into a graceful drain. Main thread only. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mtlb/acceptor.h"
#include "mtlb/admin.h"
#include "mtlb/config.h"
#include "mtlb/handoff.h"
#include "mtlb/health.h"
#include "mtlb/io.h"
#include "mtlb/ktls.h"
#include "mtlb/log.h"
#include "mtlb/resolve.h"
#include "mtlb/server.h"
#include "mtlb/route.h"
#include "mtlb/snapshot.h"
#include "mtlb/stats.h"
#include "mtlb/tickets.h"
#include "mtlb/tls.h"
#include "mtlb/watch.h"
#include "mtlb/worker.h"
#include "mtlb/worker_types.h"

/* Seconds between two checks of certificate and CRL dates while running. */
#define MTLB_AUDIT_INTERVAL_S 3600

/* One socket per listener, shared by every acceptor thread. No SO_REUSEPORT: with it, any
 * later process of the same user could bind the same address and take a share of the
 * connections (a stale or test instance without client_auth admitting clients of a mandatory
 * listener). SO_REUSEADDR only lets a restart bind while old connections sit in TIME_WAIT;
 * Linux still refuses a second listening socket on the address. */
static int open_listener(const struct mtlb_config *cfg, const struct mtlb_listener_cfg *l,
                         char *err, size_t errlen)
{
    struct mtlb_addr a;
    int one = 1;

    if (mtlb_resolve(l->bind_host, l->bind_port, AI_PASSIVE, &a) != 0) {
        snprintf(err, errlen, "%s:%u: listener %s:%u: cannot resolve the bind address", cfg->path,
                 l->bind_line, l->bind_host, l->bind_port);
        return -EINVAL;
    }
    int fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
        bind(fd, (struct sockaddr *)&a.ss, a.len) == -1 || listen(fd, 4096) == -1) {
        int e = errno;
        snprintf(err, errlen, "%s:%u: listener %s: cannot listen: %s%s", cfg->path, l->bind_line,
                 a.text, strerror(e),
                 e == EADDRINUSE ? " (another process, perhaps another mtlb, listens there; "
                                   "mtlb does not share its ports)"
                                 : "");
        if (fd != -1) {
            close(fd);
        }
        return -e;
    }
    return fd;
}

static int open_listeners(struct mtlb_server *srv, char *err, size_t errlen)
{
    const struct mtlb_config *cfg = srv->snap->cfg;

    srv->listen_fds = malloc(cfg->n_listeners * sizeof(int));
    if (srv->listen_fds == NULL) {
        return -ENOMEM;
    }
    for (size_t l = 0; l < cfg->n_listeners; l++) {
        srv->listen_fds[l] = -1;
    }
    for (size_t l = 0; l < cfg->n_listeners; l++) {
        int fd = open_listener(cfg, &cfg->listeners[l], err, errlen);
        if (fd < 0) {
            return fd;
        }
        srv->listen_fds[l] = fd;
    }
    return 0;
}

/* After the acceptors stopped: new connections are refused from here on. */
static void close_listeners(struct mtlb_server *srv)
{
    for (size_t l = 0; srv->listen_fds != NULL && l < srv->n_listeners; l++) {
        if (srv->listen_fds[l] >= 0) {
            close(srv->listen_fds[l]);
            srv->listen_fds[l] = -1;
        }
    }
}

/* -t prints a warning as one line on stderr. */
static void print_warning(const struct mtlb_tls_domain *dom, const struct mtlb_tls_warning *w,
                          void *arg)
{
    (void)dom;
    (void)arg;
    fprintf(stderr, "mtlb: warning: %s\n", w->text);
}

/* Running: a warning is a warn line (at start, and hourly for those that depend on time). */
static void log_warning(const struct mtlb_tls_domain *dom, const struct mtlb_tls_warning *w,
                        void *arg)
{
    (void)dom;
    (void)arg;
    mtlb_log(MTLB_LOG_WARN, "event=%s %s", w->event, w->fields);
}

/* backends[].resolve: the current snapshot's pools whose interval is up look their host names
 * up again (getaddrinfo blocks this thread, which only waits for signals meanwhile). */
static void resolve_tick(struct mtlb_server *srv)
{
    struct mtlb_snapshot *cur = mtlb_snapshot_current(srv);
    uint64_t next_ms;

    (void)mtlb_resolve_due(cur->resolve, mtlb_now_ms(), mtlb_resolve_getaddrinfo, NULL, &next_ms);
    mtlb_snapshot_put(cur);
}

static unsigned audit_tls(const struct mtlb_snapshot *snap, bool all, mtlb_tls_warn_fn fn)
{
    size_t n = 0;

    for (size_t l = 0; snap->tls != NULL && l < snap->cfg->n_listeners; l++) {
        n += mtlb_tls_listener_audit(&snap->tls[l], time(NULL), all, fn, NULL);
    }
    return (unsigned)n;
}

/* -t: a route that can never match, or that shares requests with an earlier one. */
struct route_warn_arg {
    const struct mtlb_config *cfg;
    size_t listener;
};

static void print_route_warning(void *arg, size_t i, const char *msg)
{
    const struct route_warn_arg *a = arg;
    const struct mtlb_route_cfg *r = &a->cfg->listeners[a->listener].routes[i];

    fprintf(stderr, "mtlb: warning: %s:%u: listeners[%zu].routes[%zu] (%s): %s\n", a->cfg->path,
            r->line, a->listener, i, r->path, msg);
}

static unsigned lint_routes(const struct mtlb_config *cfg)
{
    size_t n = 0;

    for (size_t l = 0; l < cfg->n_listeners; l++) {
        struct route_warn_arg a = {cfg, l};
        n += mtlb_route_lint(cfg->listeners[l].routes, cfg->listeners[l].n_routes,
                             print_route_warning, &a);
    }
    return (unsigned)n;
}

int mtlb_server_check(struct mtlb_config *cfg, unsigned *warnings, char *err, size_t errlen)
{
    struct mtlb_snapshot *snap = NULL;

    *warnings = 0;
    int rc = mtlb_server_build(NULL, cfg, true, &snap, err, errlen);
    if (rc == 0) {
        *warnings = audit_tls(snap, true, print_warning) + lint_routes(snap->cfg);
    }
    if (rc == 0 && snap->cfg->admin.tls_on) {
        /* The files the admin thread will load at start, with the same loaders. */
        struct mtlb_admin_tls t;
        rc = mtlb_admin_tls_init(&t, &snap->cfg->admin, err, errlen);
        if (rc == 0) {
            *warnings +=
                (unsigned)mtlb_tls_listener_audit(&t.tl, time(NULL), true, print_warning, NULL);
            mtlb_admin_tls_fini(&t);
        }
    }
    mtlb_snapshot_put(snap);
    return rc;
}

/* The signals the main thread takes with sigwait, blocked from before the listening sockets
 * open: a client (or an operator's SIGUSR1) may reach us as soon as the port accepts. */
static void handled_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGUSR1);
    sigaddset(set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, set, NULL);
}

static int init_threads(struct mtlb_server *srv, char *err, size_t errlen)
{
    const struct mtlb_config *cfg = srv->snap->cfg;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    srv->n_workers = cfg->workers ? cfg->workers : (unsigned)(ncpu > 0 ? ncpu : 1);
    srv->workers = calloc(srv->n_workers, sizeof(*srv->workers));
    srv->n_acceptors = cfg->acceptors ? cfg->acceptors : 1;
    srv->acceptors = calloc(srv->n_acceptors, sizeof(*srv->acceptors));
    srv->acceptor_stats = calloc(srv->n_acceptors, sizeof(*srv->acceptor_stats));
    if (srv->workers == NULL || srv->acceptors == NULL || srv->acceptor_stats == NULL) {
        return -ENOMEM;
    }
    for (unsigned i = 0; i < srv->n_acceptors; i++) {
        srv->acceptor_stats[i] = mtlb_stats_create(&srv->layout);
        if (srv->acceptor_stats[i] == NULL) {
            return -ENOMEM;
        }
    }
    for (unsigned i = 0; i < srv->n_workers; i++) {
        int rc = mtlb_worker_init(&srv->workers[i], srv, i);
        if (rc != 0) {
            snprintf(err, errlen, "worker %u: %s setup failed: %s%s", i,
                     cfg->io == MTLB_IO_EPOLL ? "epoll" : "io_uring", strerror(-rc),
                     cfg->io == MTLB_IO_URING ? " (use io: epoll or io: auto)" : "");
            return rc;
        }
    }
    for (unsigned i = 0; i < srv->n_acceptors; i++) {
        int rc = mtlb_acceptor_create(srv, i, &srv->acceptors[i]);
        if (rc != 0) {
            snprintf(err, errlen, "acceptor %u: setup failed: %s", i, strerror(-rc));
            return rc;
        }
    }
    return 0;
}

int mtlb_server_init(struct mtlb_server *srv, struct mtlb_config *cfg, char *err, size_t errlen)
{
    sigset_t set;
    handled_signals(&set);
    memset(srv, 0, sizeof(*srv));
    pthread_mutex_init(&srv->snap_lock, NULL);
    pthread_mutex_init(&srv->reload_lock, NULL);
    atomic_init(&srv->next_conn_id, 1);
    srv->n_listeners = cfg->n_listeners;
    srv->ktls_probe = mtlb_ktls_probe(srv->ktls_why, sizeof(srv->ktls_why));
    mtlb_log(MTLB_LOG_INFO, "event=ktls_support ulp=%s detail=\"%s\" tls12=%s tls13=%s",
             srv->ktls_probe == 0 ? "yes" : "no", srv->ktls_why,
             srv->ktls_probe == 0 ? "tx,rx" : "none",
             srv->ktls_probe == 0 ? "tx,rx(key installed by mtlb)" : "none");
    /* Armed before any file the configuration names is read: a change while they load is
     * seen at the first turn of the watch thread. */
    int rc = mtlb_watch_create(cfg, &srv->watch, err, errlen);
    if (rc != 0) {
        mtlb_config_destroy(cfg);
        return rc;
    }
    if (mtlb_stats_slots_init(&srv->slots, cfg) != 0) {
        mtlb_config_destroy(cfg);
        return -ENOMEM;
    }
    srv->layout = (struct mtlb_stats_layout){.n_listeners = cfg->n_listeners,
                                             .n_domains = srv->slots.cap_domains,
                                             .n_servers = srv->slots.cap_servers};
    rc = mtlb_snapshot_create(cfg, NULL, &srv->slots, srv->ktls_probe, srv->ktls_why, &srv->snap,
                              err, errlen);
    if (rc != 0) {
        return rc;
    }
    srv->snap->generation = 1;
    atomic_init(&srv->generation, 1);
    atomic_init(&srv->reloads_ok, 0);
    atomic_init(&srv->reloads_failed, 0);
    atomic_init(&srv->last_reload_ok_s, (uint64_t)time(NULL));
    cfg = srv->snap->cfg;
    /* The admin socket first: once a listener accepts, /readyz can be asked. */
    if (cfg->admin.bind_host != NULL) {
        rc = mtlb_admin_create(srv, &srv->admin, err, errlen);
    }
    if (rc == 0) {
        rc = open_listeners(srv, err, errlen);
    }
    if (rc == 0) {
        rc = init_threads(srv, err, errlen);
    }
    return rc;
}

static void stop_all(struct mtlb_server *srv)
{
    atomic_store(&srv->stop, true);
    for (unsigned i = 0; i < srv->n_workers; i++) {
        mtlb_worker_wake(&srv->workers[i]);
    }
}

/* SIGUSR1 (nginx's "reopen"): after logrotate renamed the access log, the next lines go to a
 * new file at the configured path. The error log is stderr and belongs to whoever started us. */
static void reopen_logs(void)
{
    const char *path = mtlb_access_path();
    int rc = mtlb_access_reopen();
    char q[512];

    if (path == NULL) {
        mtlb_log(MTLB_LOG_INFO, "event=logs_reopened access_log=none reason=\"the access log is "
                                "not a file\"");
    } else if (rc != 0) {
        mtlb_log(MTLB_LOG_ERROR,
                 "event=logs_reopen_failed access_log=%s error=\"%s\" "
                 "consequence=\"lines keep going to the old file\"",
                 mtlb_log_quote(path, q, sizeof(q)), strerror(-rc));
    } else {
        mtlb_log(MTLB_LOG_INFO, "event=logs_reopened access_log=%s",
                 mtlb_log_quote(path, q, sizeof(q)));
    }
}

/* Acts on a signal that does not stop the process; true for SIGTERM and SIGINT. */
static bool stop_signal(struct mtlb_server *srv, int sig)
{
    if (sig == SIGHUP) {
        uint64_t gen;
        char err[1024];
        mtlb_server_reload(srv, "signal", &gen, err, sizeof(err)); /* it logs either way */
        return false;
    }
    if (sig == SIGUSR1) {
        reopen_logs();
        return false;
    }
    if (sig == SIGUSR2) {
        mtlb_log(MTLB_LOG_WARN, "event=signal_ignored signal=SIGUSR2 reason=\"no action is "
                                "bound to SIGUSR2\"");
        return false;
    }
    return true;
}

/* timeouts.shutdown_delay: /readyz already says 503; the listeners keep accepting (and the
 * workers keep serving) while a load balancer or Kubernetes takes this instance out of its
 * endpoints. A second SIGTERM or SIGINT ends the delay at once. */
static void shutdown_delay(struct mtlb_server *srv, const sigset_t *set, uint32_t delay_ms)
{
    uint64_t end = mtlb_now_ms() + delay_ms;

    for (uint64_t now = mtlb_now_ms(); now < end; now = mtlb_now_ms()) {
        uint64_t left = end - now;
        struct timespec ts = {(time_t)(left / 1000), (long)(left % 1000) * 1000000L};
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig > 0 && stop_signal(srv, sig)) {
            mtlb_log(MTLB_LOG_INFO, "event=shutdown_delay_cut signal=%d", sig);
            return;
        }
    }
}

/* One line per listener; on a listener with several domains each has its own mode:
 * modes=api.example.com:mandatory,partner.example.com:optional. */
static void log_listening(const struct mtlb_listener_cfg *lc)
{
    char modes[512];
    size_t len = 0;

    modes[0] = '\0';
    for (size_t d = 0; d < lc->n_domains && len < sizeof(modes); d++) {
        const struct mtlb_domain_cfg *dc = &lc->domains[d];
        int n = snprintf(modes + len, sizeof(modes) - len, "%s%s:%s", d ? "," : "",
                         dc->n_names ? dc->names[0] : "-", mtlb_config_mode_name(dc->mode));
        len = n < 0 ? sizeof(modes) : len + (size_t)n;
    }
    mtlb_log(MTLB_LOG_INFO, "event=listening bind=%s:%u backend=%s domains=%zu modes=%s",
             lc->bind_host, lc->bind_port, lc->backend, lc->n_domains, modes);
}

/* Where the listener's session ticket keys come from: random keys mean a session resumes
 * only on this process; the operator should know before wondering why replicas do not. */
static void log_ticket_keys(const struct mtlb_listener_cfg *lc, const struct mtlb_tls_listener *tl)
{
    char q[512];

    if (tl->tickets == NULL) {
        mtlb_log(MTLB_LOG_INFO,
                 "event=ticket_keys bind=%s:%u source=none "
                 "reason=\"session_lifetime: off\"",
                 lc->bind_host, lc->bind_port);
    } else if (tl->tickets->from_file) {
        mtlb_log(MTLB_LOG_INFO, "event=ticket_keys bind=%s:%u source=file file=%s keys=%zu",
                 lc->bind_host, lc->bind_port, mtlb_log_quote(lc->ticket_keys, q, sizeof(q)),
                 tl->tickets->n);
    } else {
        mtlb_log(MTLB_LOG_INFO,
                 "event=ticket_keys bind=%s:%u source=random rotate=%ds "
                 "note=\"sessions resume on this process only; set "
                 "tls.ticket_keys to share them across replicas\"",
                 lc->bind_host, lc->bind_port, MTLB_TICKET_ROTATE_SECONDS);
    }
}

/* Starts the threads in the order the phases need: the watch (it holds its reloads back until
 * the phase is ready), the admin, the workers, the health checks, the acceptors.
 * *started_workers: how many workers to join later, whatever the outcome. 0 or -errno. */
static int start_threads(struct mtlb_server *srv, unsigned *started_workers)
{
    int rc = mtlb_watch_start(srv->watch, srv);

    if (rc != 0) {
        mtlb_log(MTLB_LOG_ERROR, "event=watch_start_failed error=\"%s\"", strerror(-rc));
    }
    /* Threads about to start count as alive from now: /healthz calls one stuck only once it
     * has had the heartbeat allowance to turn its loop, not while it is being created. */
    uint64_t created_ms = mtlb_now_ms();
    for (unsigned i = 0; i < srv->n_workers; i++) {
        mtlb_counter_set(&srv->workers[i].stats->heartbeat_ms, created_ms);
    }
    for (unsigned i = 0; i < srv->n_acceptors; i++) {
        mtlb_counter_set(&srv->acceptor_stats[i]->heartbeat_ms, created_ms);
    }
    if (rc == 0 && srv->admin != NULL) {
        rc = mtlb_admin_start(srv->admin); /* /readyz says "starting" until the acceptors run */
    }
    for (; rc == 0 && *started_workers < srv->n_workers; (*started_workers)++) {
        struct mtlb_worker *w = &srv->workers[*started_workers];
        if (pthread_create(&w->thread, NULL, mtlb_worker_main, w) != 0) {
            rc = -EAGAIN;
            break;
        }
    }
    pthread_mutex_lock(&srv->reload_lock); /* the current snapshot's, and only one thread */
    if (rc == 0 && (rc = mtlb_health_start(srv, srv->snap)) != 0) {
        mtlb_log(MTLB_LOG_ERROR, "event=health_start_failed error=\"%s\"", strerror(-rc));
    }
    pthread_mutex_unlock(&srv->reload_lock);
    for (unsigned i = 0; rc == 0 && i < srv->n_acceptors; i++) {
        rc = mtlb_acceptor_start(srv->acceptors[i]);
    }
    return rc;
}

/* Everything runs: what it listens on, with what, the TLS warnings; then the phase is ready. */
static void announce_started(struct mtlb_server *srv, const struct mtlb_snapshot *snap0)
{
    const struct mtlb_config *cfg = snap0->cfg;

    for (size_t l = 0; l < cfg->n_listeners; l++) {
        log_listening(&cfg->listeners[l]);
        log_ticket_keys(&cfg->listeners[l], &snap0->tls[l]);
    }
    enum mtlb_io_backend io = mtlb_io_backend_of(srv->workers[0].io);
    if (cfg->io == MTLB_IO_AUTO && io == MTLB_IO_EPOLL) {
        mtlb_log(MTLB_LOG_WARN, "event=io_fallback reason=\"io_uring unavailable: %s\"",
                 strerror(-mtlb_io_uring_probe()));
    }
    mtlb_log(MTLB_LOG_INFO, "event=started version=%s workers=%u acceptors=%u io=%s", MTLB_VERSION,
             srv->n_workers, srv->n_acceptors, mtlb_io_backend_name(io));
    audit_tls(snap0, true, log_warning);
    atomic_store(&srv->phase, MTLB_PHASE_READY);
}

/* The main thread's loop: the hourly TLS audit, the pools' re-resolution, and the signals,
 * until a stop signal (after the shutdown delay). */
static void run_until_stopped(struct mtlb_server *srv, const sigset_t *set)
{
    struct timespec next_audit;

    clock_gettime(CLOCK_MONOTONIC, &next_audit);
    next_audit.tv_sec += MTLB_AUDIT_INTERVAL_S;
    for (;;) {
        /* Certificates and CRLs expire while mtlb runs: their warnings come again every hour. */
        struct timespec now, wait = {0, 0};
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec >= next_audit.tv_sec) {
            struct mtlb_snapshot *cur = mtlb_snapshot_current(srv);
            audit_tls(cur, false, log_warning);
            mtlb_snapshot_put(cur);
            next_audit.tv_sec = now.tv_sec + MTLB_AUDIT_INTERVAL_S;
        }
        resolve_tick(srv);
        /* At least once a second: the pools' resolve intervals (also of a reload's pools). */
        wait.tv_sec = next_audit.tv_sec - now.tv_sec < 1 ? next_audit.tv_sec - now.tv_sec : 1;
        int sig = sigtimedwait(set, NULL, &wait);
        if (sig == -1 || !stop_signal(srv, sig)) {
            continue;
        }
        atomic_store(&srv->phase, MTLB_PHASE_DRAINING);
        struct mtlb_snapshot *snap = mtlb_snapshot_current(srv);
        mtlb_log(MTLB_LOG_INFO, "event=stopping signal=%d shutdown_delay_ms=%u drain_ms=%u", sig,
                 snap->cfg->timeouts.shutdown_delay_ms, snap->cfg->timeouts.drain_ms);
        shutdown_delay(srv, set, snap->cfg->timeouts.shutdown_delay_ms);
        mtlb_snapshot_put(snap);
        return;
    }
}

/* The drain, in the order that keeps each step's readers alive: the watch, the workers' stop,
 * the acceptors and listeners, the health checks, the workers' exit, the admin last (/readyz
 * answers 503 through the whole drain). */
static void stop_threads(struct mtlb_server *srv, unsigned started_workers)
{
    atomic_store(&srv->phase, MTLB_PHASE_DRAINING);
    mtlb_watch_destroy(srv->watch);
    srv->watch = NULL;
    stop_all(srv);
    for (unsigned i = 0; i < srv->n_acceptors; i++) {
        mtlb_acceptor_join_destroy(srv->acceptors[i]);
        srv->acceptors[i] = NULL;
    }
    close_listeners(srv);
    pthread_mutex_lock(&srv->reload_lock); /* a reload in progress ends first */
    mtlb_health_stop(srv);
    pthread_mutex_unlock(&srv->reload_lock);
    for (unsigned i = 0; i < started_workers; i++) {
        pthread_join(srv->workers[i].thread, NULL);
    }
    mtlb_admin_destroy(srv->admin);
    srv->admin = NULL;
}

int mtlb_server_run(struct mtlb_server *srv)
{
    /* POST /reload may run as soon as the admin thread does: hold what is logged here. */
    struct mtlb_snapshot *snap0 = mtlb_snapshot_current(srv);
    sigset_t set;
    unsigned started_workers = 0;

    /* Threads inherit the mask: only this thread takes the signals, through sigwait. */
    handled_signals(&set);
    signal(SIGPIPE, SIG_IGN);
    int rc = start_threads(srv, &started_workers);
    if (rc == 0) {
        announce_started(srv, snap0);
    }
    mtlb_snapshot_put(snap0);
    if (rc == 0) {
        run_until_stopped(srv, &set);
    }
    stop_threads(srv, started_workers);
    mtlb_log(MTLB_LOG_INFO, "event=stopped");
    return rc;
}

void mtlb_server_fini(struct mtlb_server *srv)
{
    mtlb_watch_destroy(srv->watch);
    srv->watch = NULL;
    for (unsigned i = 0; srv->acceptors != NULL && i < srv->n_acceptors; i++) {
        mtlb_acceptor_join_destroy(srv->acceptors[i]);
    }
    free(srv->acceptors);
    close_listeners(srv);
    free(srv->listen_fds);
    for (unsigned i = 0; srv->workers != NULL && i < srv->n_workers; i++) {
        if (srv->workers[i].srv != NULL) {
            mtlb_worker_fini(&srv->workers[i]);
        }
    }
    free(srv->workers);
    mtlb_health_stop(srv);
    mtlb_admin_destroy(srv->admin);
    srv->admin = NULL;
    for (unsigned i = 0; srv->acceptor_stats != NULL && i < srv->n_acceptors; i++) {
        mtlb_stats_destroy(srv->acceptor_stats[i]);
    }
    free(srv->acceptor_stats);
    srv->acceptor_stats = NULL;
    mtlb_snapshot_put(srv->snap);
    srv->snap = NULL;
    mtlb_stats_slots_fini(&srv->slots);
    pthread_mutex_destroy(&srv->snap_lock);
    pthread_mutex_destroy(&srv->reload_lock);
}
