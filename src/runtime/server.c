/* The process: builds TLS contexts, backend addresses, workers and acceptors from a config,
 * runs them, and turns SIGTERM/SIGINT into a graceful drain. Main thread only. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mtlb/admin.h"
#include "mtlb/log.h"
#include "mtlb/runtime.h"
#include "mtlb/tickets.h"

/* Seconds between two checks of certificate and CRL dates while running. */
#define MTLB_AUDIT_INTERVAL_S 3600

static int resolve(const char *host, uint16_t port, int flags, struct mtlb_addr *out)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = flags | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char portstr[8];

    snprintf(portstr, sizeof(portstr), "%u", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        return rc == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
    }
    memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    snprintf(out->text, sizeof(out->text), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
    freeaddrinfo(res);
    return 0;
}

static int resolve_backends(struct mtlb_server *srv, char *err, size_t errlen)
{
    const struct mtlb_config *cfg = srv->cfg;

    srv->backend_addrs = calloc(cfg->n_backends, sizeof(*srv->backend_addrs));
    if (srv->backend_addrs == NULL) {
        return -ENOMEM;
    }
    for (size_t p = 0; p < cfg->n_backends; p++) {
        const struct mtlb_backend_cfg *b = &cfg->backends[p];
        srv->backend_addrs[p] = calloc(b->n_servers, sizeof(struct mtlb_addr));
        if (srv->backend_addrs[p] == NULL) {
            return -ENOMEM;
        }
        for (size_t s = 0; s < b->n_servers; s++) {
            if (resolve(b->servers[s].host, b->servers[s].port, 0, &srv->backend_addrs[p][s]) !=
                0) {
                snprintf(err, errlen, "%s: backend %s: cannot resolve server %s", cfg->path,
                         b->name, b->servers[s].host);
                return -EINVAL;
            }
        }
    }
    return 0;
}

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

    if (resolve(l->bind_host, l->bind_port, AI_PASSIVE, &a) != 0) {
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
    const struct mtlb_config *cfg = srv->cfg;

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
    for (size_t l = 0; srv->listen_fds != NULL && l < srv->cfg->n_listeners; l++) {
        if (srv->listen_fds[l] >= 0) {
            close(srv->listen_fds[l]);
            srv->listen_fds[l] = -1;
        }
    }
}

static int init_tls(struct mtlb_server *srv, char *err, size_t errlen)
{
    const struct mtlb_config *cfg = srv->cfg;

    srv->tls = calloc(cfg->n_listeners, sizeof(*srv->tls));
    if (srv->tls == NULL) {
        return -ENOMEM;
    }
    for (size_t l = 0; l < cfg->n_listeners; l++) {
        int rc = mtlb_tls_listener_init(&srv->tls[l], &cfg->listeners[l], err, errlen);
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

/* Decides per listener whether kTLS may be used and configures its SSL_CTXs accordingly:
 * allowed -> keylog callback for the TLS 1.3 receive key; not allowed -> OpenSSL is told not
 * to try. `ktls: on` without a kernel TLS ULP is a start-up error. */
static int init_ktls(struct mtlb_server *srv, bool log, char *err, size_t errlen)
{
    const struct mtlb_config *cfg = srv->cfg;
    char why[128];
    int probe = mtlb_ktls_probe(why, sizeof(why));

    srv->ktls = calloc(cfg->n_listeners, sizeof(*srv->ktls));
    if (srv->ktls == NULL) {
        return -ENOMEM;
    }
    if (log) {
        mtlb_log(MTLB_LOG_INFO, "event=ktls_support ulp=%s detail=\"%s\" tls12=%s tls13=%s",
                 probe == 0 ? "yes" : "no", why, probe == 0 ? "tx,rx" : "none",
                 probe == 0 ? "tx,rx(key installed by mtlb)" : "none");
    }
    for (size_t l = 0; l < cfg->n_listeners; l++) {
        const struct mtlb_listener_cfg *lc = &cfg->listeners[l];
        if (lc->ktls == MTLB_KTLS_ON && probe != 0) {
            snprintf(err, errlen, "%s: listener %s:%u has ktls: on, but %s", cfg->path,
                     lc->bind_host, lc->bind_port, why);
            return -ENOTSUP;
        }
        srv->ktls[l] = lc->ktls != MTLB_KTLS_OFF && probe == 0;
        for (size_t d = 0; d < srv->tls[l].n_domains; d++) {
            SSL_CTX *ctx = srv->tls[l].domains[d].ctx;
            if (srv->ktls[l]) {
                SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
                SSL_CTX_set_keylog_callback(ctx, mtlb_ktls_keylog);
            } else {
                SSL_CTX_clear_options(ctx, SSL_OP_ENABLE_KTLS);
            }
        }
    }
    return 0;
}

/* The access log must be a file mtlb can append to (or create) at start; -t checks it without
 * creating anything. */
static int check_access_log(const struct mtlb_config *cfg, char *err, size_t errlen)
{
    const char *p = cfg->log.access_log;
    struct stat st;

    if (p == NULL || strcmp(p, "stdout") == 0 || strcmp(p, "stderr") == 0) {
        return 0;
    }
    if (stat(p, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "%s: log.access_log: %s is a directory, expected a file path",
                     cfg->path, p);
            return -EISDIR;
        }
        if (access(p, W_OK) != 0) {
            int e = errno;
            snprintf(err, errlen, "%s: log.access_log: %s: %s", cfg->path, p, strerror(e));
            return -e;
        }
        return 0;
    }
    char dir[4096];
    const char *slash = strrchr(p, '/');
    snprintf(dir, sizeof(dir), "%.*s",
             slash == NULL ? 1
             : slash == p  ? 1
                           : (int)(slash - p),
             slash == NULL ? "." : p);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: log.access_log: %s: directory %s does not exist", cfg->path, p,
                 dir);
        return -ENOENT;
    }
    if (access(dir, W_OK) != 0) {
        int e = errno;
        snprintf(err, errlen, "%s: log.access_log: %s: cannot create a file in %s: %s", cfg->path,
                 p, dir, strerror(e));
        return -e;
    }
    return 0;
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

static unsigned audit_tls(const struct mtlb_server *srv, bool all, mtlb_tls_warn_fn fn)
{
    size_t n = 0;

    for (size_t l = 0; srv->tls != NULL && l < srv->cfg->n_listeners; l++) {
        n += mtlb_tls_listener_audit(&srv->tls[l], time(NULL), all, fn, NULL);
    }
    return (unsigned)n;
}

int mtlb_server_check(struct mtlb_config *cfg, unsigned *warnings, char *err, size_t errlen)
{
    struct mtlb_server srv;
    memset(&srv, 0, sizeof(srv));
    srv.cfg = cfg;
    *warnings = 0;
    int rc = check_access_log(cfg, err, errlen);
    if (rc != 0) {
        return rc;
    }
    rc = init_tls(&srv, err, errlen);
    if (rc == 0) {
        rc = resolve_backends(&srv, err, errlen);
    }
    if (rc == 0) {
        rc = init_ktls(&srv, false, err, errlen);
    }
    if (rc == 0) {
        *warnings = audit_tls(&srv, true, print_warning);
    }
    mtlb_server_fini(&srv);
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

int mtlb_server_init(struct mtlb_server *srv, struct mtlb_config *cfg, char *err, size_t errlen)
{
    sigset_t set;
    handled_signals(&set);
    memset(srv, 0, sizeof(*srv));
    srv->cfg = cfg;
    atomic_init(&srv->next_conn_id, 1);
    int rc = init_tls(srv, err, errlen);
    if (rc == 0) {
        rc = resolve_backends(srv, err, errlen);
    }
    if (rc == 0 && (rc = mtlb_health_init(srv)) != 0) {
        snprintf(err, errlen, "health state: %s", strerror(-rc));
    }
    if (rc == 0) {
        rc = init_ktls(srv, true, err, errlen);
    }
    /* The admin socket first: once a listener accepts, /readyz can be asked. */
    if (rc == 0 && cfg->admin.bind_host != NULL) {
        rc = mtlb_admin_create(srv, &srv->admin, err, errlen);
    }
    if (rc == 0) {
        rc = open_listeners(srv, err, errlen);
    }
    if (rc != 0) {
        return rc;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    srv->n_workers = cfg->workers ? cfg->workers : (unsigned)(ncpu > 0 ? ncpu : 1);
    srv->workers = calloc(srv->n_workers, sizeof(*srv->workers));
    srv->n_acceptors = cfg->acceptors ? cfg->acceptors : 1;
    srv->acceptors = calloc(srv->n_acceptors, sizeof(*srv->acceptors));
    srv->acceptor_stats = calloc(srv->n_acceptors, sizeof(*srv->acceptor_stats));
    if (srv->workers == NULL || srv->acceptors == NULL || srv->acceptor_stats == NULL ||
        mtlb_stats_layout_init(&srv->layout, cfg) != 0) {
        return -ENOMEM;
    }
    for (unsigned i = 0; i < srv->n_acceptors; i++) {
        srv->acceptor_stats[i] = mtlb_stats_create(&srv->layout);
        if (srv->acceptor_stats[i] == NULL) {
            return -ENOMEM;
        }
    }
    for (unsigned i = 0; i < srv->n_workers; i++) {
        rc = mtlb_worker_init(&srv->workers[i], srv, i);
        if (rc != 0) {
            snprintf(err, errlen, "worker %u: %s setup failed: %s%s", i,
                     cfg->io == MTLB_IO_EPOLL ? "epoll" : "io_uring", strerror(-rc),
                     cfg->io == MTLB_IO_URING ? " (use io: epoll or io: auto)" : "");
            return rc;
        }
    }
    for (unsigned i = 0; i < srv->n_acceptors; i++) {
        rc = mtlb_acceptor_create(srv, i, &srv->acceptors[i]);
        if (rc != 0) {
            snprintf(err, errlen, "acceptor %u: setup failed: %s", i, strerror(-rc));
            return rc;
        }
    }
    return 0;
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
static bool stop_signal(int sig)
{
    if (sig == SIGHUP) {
        mtlb_log(MTLB_LOG_WARN, "event=reload_ignored reason=\"configuration reload is not "
                                "supported yet; restart to apply changes\"");
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
static void shutdown_delay(const sigset_t *set, uint32_t delay_ms)
{
    uint64_t end = mtlb_now_ms() + delay_ms;

    for (uint64_t now = mtlb_now_ms(); now < end; now = mtlb_now_ms()) {
        uint64_t left = end - now;
        struct timespec ts = {(time_t)(left / 1000), (long)(left % 1000) * 1000000L};
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig > 0 && stop_signal(sig)) {
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

int mtlb_server_run(struct mtlb_server *srv)
{
    const struct mtlb_config *cfg = srv->cfg;
    sigset_t set;
    unsigned started_workers = 0;
    int rc = 0;

    /* Threads inherit the mask: only this thread takes the signals, through sigwait. */
    handled_signals(&set);
    signal(SIGPIPE, SIG_IGN);
    if (srv->admin != NULL) {
        rc = mtlb_admin_start(srv->admin); /* /readyz says "starting" until the acceptors run */
    }
    for (; rc == 0 && started_workers < srv->n_workers; started_workers++) {
        struct mtlb_worker *w = &srv->workers[started_workers];
        if (pthread_create(&w->thread, NULL, mtlb_worker_main, w) != 0) {
            rc = -EAGAIN;
            break;
        }
    }
    if (rc == 0 && (rc = mtlb_health_start(srv)) != 0) {
        mtlb_log(MTLB_LOG_ERROR, "event=health_start_failed error=\"%s\"", strerror(-rc));
    }
    for (unsigned i = 0; rc == 0 && i < srv->n_acceptors; i++) {
        rc = mtlb_acceptor_start(srv->acceptors[i]);
    }
    if (rc == 0) {
        for (size_t l = 0; l < cfg->n_listeners; l++) {
            log_listening(&cfg->listeners[l]);
            log_ticket_keys(&cfg->listeners[l], &srv->tls[l]);
        }
        enum mtlb_io_backend io = mtlb_io_backend_of(srv->workers[0].io);
        if (cfg->io == MTLB_IO_AUTO && io == MTLB_IO_EPOLL) {
            mtlb_log(MTLB_LOG_WARN, "event=io_fallback reason=\"io_uring unavailable: %s\"",
                     strerror(-mtlb_io_uring_probe()));
        }
        mtlb_log(MTLB_LOG_INFO, "event=started version=%s workers=%u acceptors=%u io=%s",
                 MTLB_VERSION, srv->n_workers, srv->n_acceptors, mtlb_io_backend_name(io));
        audit_tls(srv, true, log_warning);
        atomic_store(&srv->phase, MTLB_PHASE_READY);
    }
    struct timespec next_audit;
    clock_gettime(CLOCK_MONOTONIC, &next_audit);
    next_audit.tv_sec += MTLB_AUDIT_INTERVAL_S;
    while (rc == 0) {
        /* Certificates and CRLs expire while mtlb runs: their warnings come again every hour. */
        struct timespec now, wait = {0, 0};
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec >= next_audit.tv_sec) {
            audit_tls(srv, false, log_warning);
            next_audit.tv_sec = now.tv_sec + MTLB_AUDIT_INTERVAL_S;
        }
        wait.tv_sec = next_audit.tv_sec - now.tv_sec;
        int sig = sigtimedwait(&set, NULL, &wait);
        if (sig == -1 || !stop_signal(sig)) {
            continue;
        }
        atomic_store(&srv->phase, MTLB_PHASE_DRAINING);
        mtlb_log(MTLB_LOG_INFO, "event=stopping signal=%d shutdown_delay_ms=%u drain_ms=%u", sig,
                 cfg->timeouts.shutdown_delay_ms, cfg->timeouts.drain_ms);
        shutdown_delay(&set, cfg->timeouts.shutdown_delay_ms);
        break;
    }
    atomic_store(&srv->phase, MTLB_PHASE_DRAINING);
    stop_all(srv);
    for (unsigned i = 0; i < srv->n_acceptors; i++) {
        mtlb_acceptor_join_destroy(srv->acceptors[i]);
        srv->acceptors[i] = NULL;
    }
    close_listeners(srv);
    mtlb_health_join(srv);
    for (unsigned i = 0; i < started_workers; i++) {
        pthread_join(srv->workers[i].thread, NULL);
    }
    /* Last: /readyz answers 503 through the whole drain. */
    mtlb_admin_destroy(srv->admin);
    srv->admin = NULL;
    mtlb_log(MTLB_LOG_INFO, "event=stopped");
    return rc;
}

void mtlb_server_fini(struct mtlb_server *srv)
{
    const struct mtlb_config *cfg = srv->cfg;

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
    mtlb_health_join(srv);
    mtlb_health_fini(srv);
    mtlb_admin_destroy(srv->admin);
    srv->admin = NULL;
    for (unsigned i = 0; srv->acceptor_stats != NULL && i < srv->n_acceptors; i++) {
        mtlb_stats_destroy(srv->acceptor_stats[i]);
    }
    free(srv->acceptor_stats);
    srv->acceptor_stats = NULL;
    mtlb_stats_layout_fini(&srv->layout);
    for (size_t p = 0; srv->backend_addrs != NULL && p < cfg->n_backends; p++) {
        free(srv->backend_addrs[p]);
    }
    free(srv->backend_addrs);
    for (size_t l = 0; srv->tls != NULL && l < cfg->n_listeners; l++) {
        mtlb_tls_listener_fini(&srv->tls[l]);
    }
    free(srv->tls);
    free(srv->ktls);
}

/* Not built yet: the signature is fixed so that callers (the file watch) can be written. */
int mtlb_server_reload(struct mtlb_server *srv, const char *trigger, uint64_t *generation,
                       char *err, size_t errlen)
{
    (void)srv;
    (void)trigger;
    (void)generation;
    snprintf(err, errlen, "configuration reload is not supported yet");
    return -ENOSYS;
}
