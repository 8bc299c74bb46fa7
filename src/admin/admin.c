/* The admin thread: one non-blocking listening socket, a small epoll loop, one request per
 * connection (Connection: close), heads parsed with the strict HTTP/1.1 parser; with admin TLS,
 * a non-blocking mTLS handshake first. Bounded: ADMIN_MAX_CONNS connections, ADMIN_HEAD_MAX
 * bytes of request head, ADMIN_TIMEOUT_MS per connection from accept to the last byte of the
 * answer (handshake included). It reads the other threads' published counters and never
 * blocks them. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "admin_int.h"
#include "mtlb/admin.h"
#include "mtlb/config.h"
#include "mtlb/h1.h"
#include "mtlb/log.h"
#include "mtlb/prom.h"
#include "mtlb/server.h"
#include "mtlb/snapshot.h"
#include "mtlb/tls.h"

#define ADMIN_MAX_CONNS 16
#define ADMIN_HEAD_MAX 4096
#define ADMIN_TIMEOUT_MS 5000
#define ADMIN_TICK_MS 100

struct admin_conn {
    int fd;   /* -1: free slot */
    SSL *ssl; /* with admin TLS, else NULL */
    bool hs_done;
    struct mtlb_tls_conn_info info; /* the verify callbacks' record (peer, errors) */
    uint64_t deadline_ms;
    size_t in_len;
    char in[ADMIN_HEAD_MAX];
    struct mtlb_prom_buf out; /* response being written */
    const char *allow;        /* the Allow header of a 405 */
    size_t out_off;
};

struct mtlb_admin {
    struct mtlb_server *srv;
    int fd, epfd;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    bool tls_on;
    struct mtlb_admin_tls tls;      /* built once, at start-up (a reload does not change it) */
    struct mtlb_prom_buf tls_certs; /* expiry series of tls (built with it) */
    struct admin_conn conns[ADMIN_MAX_CONNS];
};

static int admin_listen(const struct mtlb_config *cfg, char *err, size_t errlen)
{
    const struct mtlb_admin_cfg *ac = &cfg->admin;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port[8];
    int one = 1;

    snprintf(port, sizeof(port), "%u", ac->bind_port);
    if (getaddrinfo(ac->bind_host, port, &hints, &res) != 0) {
        snprintf(err, errlen, "%s:%u: admin.bind: cannot resolve %s", cfg->path, ac->bind_line,
                 ac->bind_host);
        return -EINVAL;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
        bind(fd, res->ai_addr, res->ai_addrlen) == -1 || listen(fd, 64) == -1) {
        int e = errno;
        snprintf(err, errlen, "%s:%u: admin.bind: cannot listen on %s:%u: %s", cfg->path,
                 ac->bind_line, ac->bind_host, ac->bind_port, strerror(e));
        if (fd != -1) {
            close(fd);
        }
        freeaddrinfo(res);
        return -e;
    }
    freeaddrinfo(res);
    return fd;
}

int mtlb_admin_create(struct mtlb_server *srv, struct mtlb_admin **out, char *err, size_t errlen)
{
    struct mtlb_admin *a = calloc(1, sizeof(*a));

    *out = a;
    if (a == NULL) {
        return -ENOMEM;
    }
    a->srv = srv;
    a->fd = a->epfd = -1;
    for (size_t i = 0; i < ADMIN_MAX_CONNS; i++) {
        a->conns[i].fd = -1;
    }
    if (srv->snap->cfg->admin.tls_on) {
        int rc = mtlb_admin_tls_init(&a->tls, &srv->snap->cfg->admin, err, errlen);
        if (rc != 0) {
            return rc;
        }
        a->tls_on = true;
        mtlb_prom_init(&a->tls_certs);
        mtlb_admin_cert_lines(&a->tls.tl.domains[0], "admin", &a->tls_certs);
    }
    a->fd = admin_listen(srv->snap->cfg, err, errlen);
    if (a->fd < 0) {
        return a->fd;
    }
    a->epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (a->epfd == -1 || epoll_ctl(a->epfd, EPOLL_CTL_ADD, a->fd, &ev) == -1) {
        return -errno;
    }
    return 0;
}

static void conn_close(struct mtlb_admin *a, struct admin_conn *c)
{
    epoll_ctl(a->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->ssl != NULL) {
        SSL_free(c->ssl);
        c->ssl = NULL;
        mtlb_tls_conn_info_fini(&c->info);
    }
    close(c->fd);
    c->fd = -1;
    mtlb_prom_fini(&c->out);
}

static void respond(struct admin_conn *c, int status, const char *ctype, const char *body,
                    size_t len, bool head)
{
    static const struct {
        int status;
        const char *reason;
    } reasons[] = {{200, "OK"},
                   {400, "Bad Request"},
                   {404, "Not Found"},
                   {405, "Method Not Allowed"},
                   {422, "Unprocessable Content"},
                   {431, "Request Header Fields Too Large"},
                   {503, "Service Unavailable"},
                   {500, "Internal Server Error"}};
    const char *reason = "Error";

    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (reasons[i].status == status) {
            reason = reasons[i].reason;
        }
    }
    mtlb_prom_fini(&c->out);
    mtlb_prom_printf(&c->out,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
                     "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                     status, reason, ctype, len, status == 405 ? c->allow : "");
    if (!head && len > 0) {
        mtlb_prom_printf(&c->out, "%.*s", (int)len, body);
    }
    c->out_off = 0;
}

static void respond_text(struct admin_conn *c, int status, const char *text, bool head)
{
    respond(c, status, "text/plain; charset=utf-8", text, strlen(text), head);
}

static bool target_is(struct mtlb_slice t, const char *path)
{
    size_t n = strlen(path);
    /* A query string is ignored (Prometheus may add none; curl users may). */
    return t.len >= n && memcmp(t.p, path, n) == 0 && (t.len == n || t.p[n] == '?');
}

static bool method_is(const struct mtlb_h1_message *m, const char *name)
{
    return m->method.len == strlen(name) && memcmp(m->method.p, name, m->method.len) == 0;
}

/* POST /reload: as SIGHUP. The admin thread waits for the reload (it never blocks a worker);
 * 200 {"generation":N} or 422 with the reason. */
static void reload(struct mtlb_admin *a, struct admin_conn *c)
{
    char err[1024], body[1100];
    uint64_t gen = 0;

    if (mtlb_server_reload(a->srv, "admin", &gen, err, sizeof(err)) == 0) {
        snprintf(body, sizeof(body), "{\"generation\":%llu}\n", (unsigned long long)gen);
        respond(c, 200, "application/json", body, strlen(body), false);
    } else {
        snprintf(body, sizeof(body), "%s\n", err);
        respond_text(c, 422, body, false);
    }
}

/* The GET and HEAD endpoints, all read from the current snapshot and the threads' stats. */
static void get(struct mtlb_admin *a, struct admin_conn *c, size_t which, bool head)
{
    struct mtlb_snapshot *snap = mtlb_snapshot_current(a->srv);
    char why[256], body[300];

    if (which == 0) {
        struct mtlb_prom_buf b;
        mtlb_prom_init(&b);
        mtlb_admin_metrics(a->srv, snap, &b);
        if (a->tls_on) { /* the snapshot's certificate family ends the scrape: join it */
            mtlb_prom_printf(&b, "%.*s", (int)a->tls_certs.len,
                             a->tls_certs.p ? a->tls_certs.p : "");
            b.failed = b.failed || a->tls_certs.failed;
        }
        if (b.failed) {
            respond_text(c, 500, "out of memory\n", head);
        } else {
            respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", b.p, b.len, head);
        }
        mtlb_prom_fini(&b);
    } else if (which == 3) {
        respond(c, 200, "text/plain; charset=utf-8", snap->config_text.p, snap->config_text.len,
                head);
    } else {
        bool ok = which == 1 ? mtlb_admin_healthy(a->srv, why, sizeof(why))
                             : mtlb_admin_ready(a->srv, snap, why, sizeof(why));
        snprintf(body, sizeof(body), "%s\n", ok ? "ok" : why);
        respond_text(c, ok ? 200 : 503, body, head);
    }
    mtlb_snapshot_put(snap);
}

static void route(struct mtlb_admin *a, struct admin_conn *c, const struct mtlb_h1_message *m)
{
    static const char *const paths[] = {"/metrics", "/healthz", "/readyz", "/config", "/reload"};
    bool head = method_is(m, "HEAD");
    size_t which = 0;

    while (which < 5 && !target_is(m->target, paths[which])) {
        which++;
    }
    if (which == 5) {
        respond_text(c, 404,
                     "not found: try /metrics, /healthz, /readyz, /config or POST /reload\n", head);
    } else if (which == 4 && !method_is(m, "POST")) {
        c->allow = "Allow: POST\r\n";
        respond_text(c, 405, "method not allowed: POST\n", false);
    } else if (which == 4) {
        reload(a, c);
    } else if (!method_is(m, "GET") && !head) {
        c->allow = "Allow: GET, HEAD\r\n";
        respond_text(c, 405, "method not allowed: GET or HEAD\n", false);
    } else {
        get(a, c, which, head);
    }
}

/* Parses what arrived; once a whole head is there (or it cannot be one), the answer is
 * queued. Returns false while more bytes are needed. */
static bool conn_parse(struct mtlb_admin *a, struct admin_conn *c)
{
    struct mtlb_h1_header hdrs[32];
    struct mtlb_h1_message m = {.headers = hdrs, .max_headers = 32};
    int rc = mtlb_h1_parse_request(c->in, c->in_len, &m);

    if (rc == MTLB_INCOMPLETE && c->in_len < sizeof(c->in)) {
        return false;
    }
    if (rc == MTLB_INCOMPLETE) {
        respond_text(c, 431, "request head too large\n", false);
    } else if (rc < 0) {
        respond_text(c, m.error_status == 431 ? 431 : 400, "bad request\n", false);
    } else {
        route(a, c, &m);
    }
    if (c->out.failed) {
        respond_text(c, 500, "out of memory\n", false);
    }
    return true;
}

static void conn_want(struct mtlb_admin *a, struct admin_conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(a->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* recv or send on the socket, or SSL_read or SSL_write: the count, -EAGAIN with *want set
 * to what the socket must become, or 0 (close: the peer's end, an error). */
static ssize_t conn_xfer(struct admin_conn *c, bool write, uint32_t *want)
{
    if (c->ssl != NULL) {
        return write ? mtlb_admin_tls_io(c->ssl, true, c->out.p + c->out_off,
                                         c->out.len - c->out_off, want)
                     : mtlb_admin_tls_io(c->ssl, false, c->in + c->in_len,
                                         sizeof(c->in) - c->in_len, want);
    }
    for (;;) {
        ssize_t n = write
                        ? send(c->fd, c->out.p + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL)
                        : recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        *want = write ? EPOLLOUT : EPOLLIN;
        return n == -1 && errno == EAGAIN ? -EAGAIN : n < 0 ? 0 : n;
    }
}

/* Handshakes (TLS), reads, then writes; the connection closes after its one response is
 * written. Every step returns to the loop when the socket is not ready. */
static void conn_io(struct mtlb_admin *a, struct admin_conn *c)
{
    uint32_t want = 0;

    if (c->ssl != NULL && !c->hs_done) {
        int rc = mtlb_admin_tls_handshake(c->ssl, &c->info, &want);
        if (rc < 0) {
            conn_close(a, c);
            return;
        }
        if (rc == 0) {
            conn_want(a, c, want);
            return;
        }
        c->hs_done = true;
    }
    while (c->out.len == 0) {
        ssize_t n = conn_xfer(c, false, &want);
        if (n == -EAGAIN) {
            conn_want(a, c, want);
            return;
        }
        if (n <= 0) {
            conn_close(a, c);
            return;
        }
        c->in_len += (size_t)n;
        conn_parse(a, c);
    }
    while (c->out_off < c->out.len) {
        ssize_t n = conn_xfer(c, true, &want);
        if (n == -EAGAIN) {
            conn_want(a, c, want);
            return;
        }
        if (n <= 0) {
            break;
        }
        c->out_off += (size_t)n;
    }
    if (c->ssl != NULL) {
        SSL_shutdown(c->ssl); /* close_notify, best effort: the answer is complete */
    }
    conn_close(a, c);
}

/* "ip:port" of the peer, for the logs. */
static void peer_text(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
    bool v6 = ss->ss_family == AF_INET6;

    inet_ntop(ss->ss_family, v6 ? (const void *)&s6->sin6_addr : (const void *)&s4->sin_addr, ip,
              sizeof(ip));
    snprintf(out, cap, v6 ? "[%s]:%u" : "%s:%u", ip, ntohs(v6 ? s6->sin6_port : s4->sin_port));
}

/* With admin TLS: the connection's SSL on a socket BIO, server side. */
static bool conn_tls(struct mtlb_admin *a, struct admin_conn *c, const struct sockaddr_storage *ss)
{
    memset(&c->info, 0, sizeof(c->info));
    c->info.conn_id = atomic_fetch_add(&a->srv->next_conn_id, 1);
    peer_text(ss, c->info.peer, sizeof(c->info.peer));
    c->hs_done = false;
    c->ssl = mtlb_tls_new_conn(&a->tls.tl, &c->info);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        return false;
    }
    SSL_set_accept_state(c->ssl);
    return true;
}

static void accept_all(struct mtlb_admin *a)
{
    for (;;) {
        struct sockaddr_storage ss = {0};
        socklen_t sl = sizeof(ss);
        int fd = accept4(a->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            return;
        }
        struct admin_conn *c = NULL;
        for (size_t i = 0; i < ADMIN_MAX_CONNS && c == NULL; i++) {
            c = a->conns[i].fd == -1 ? &a->conns[i] : NULL;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (c == NULL || epoll_ctl(a->epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
            close(fd); /* full: an admin client retries; workers are never affected */
            continue;
        }
        c->fd = fd;
        c->in_len = 0;
        c->out_off = 0;
        mtlb_prom_init(&c->out);
        c->deadline_ms = mtlb_now_ms() + ADMIN_TIMEOUT_MS;
        if (a->tls_on && !conn_tls(a, c, &ss)) {
            conn_close(a, c);
        }
    }
}

static void *admin_main(void *arg)
{
    struct mtlb_admin *a = arg;
    struct epoll_event evs[ADMIN_MAX_CONNS + 1];

    mtlb_log_set_thread("admin");
    while (!atomic_load(&a->stop)) {
        int n = epoll_wait(a->epfd, evs, ADMIN_MAX_CONNS + 1, ADMIN_TICK_MS);
        for (int i = 0; i < n; i++) {
            struct admin_conn *c = evs[i].data.ptr;
            if (c == NULL) {
                accept_all(a);
            } else if (c->fd != -1) {
                conn_io(a, c);
            }
        }
        uint64_t now = mtlb_now_ms();
        for (size_t i = 0; i < ADMIN_MAX_CONNS; i++) {
            if (a->conns[i].fd != -1 && now >= a->conns[i].deadline_ms) {
                conn_close(a, &a->conns[i]);
            }
        }
    }
    return NULL;
}

int mtlb_admin_start(struct mtlb_admin *a)
{
    /* Read before the admin thread starts: a POST /reload it serves at once swaps srv->snap
     * and may free the snapshot this points into (TSan saw the race in CI). */
    const struct mtlb_admin_cfg *ac = &a->srv->snap->cfg->admin;
    char bind[300];
    snprintf(bind, sizeof(bind), "%s:%u", ac->bind_host, ac->bind_port);
    int rc = pthread_create(&a->thread, NULL, admin_main, a);
    a->started = rc == 0;
    if (rc == 0) {
        mtlb_log(MTLB_LOG_INFO, "event=admin_listening bind=%s tls=%s", bind,
                 a->tls_on ? "mutual" : "off");
    }
    return -rc;
}

void mtlb_admin_destroy(struct mtlb_admin *a)
{
    if (a == NULL) {
        return;
    }
    if (a->started) {
        atomic_store(&a->stop, true);
        pthread_join(a->thread, NULL);
    }
    for (size_t i = 0; i < ADMIN_MAX_CONNS; i++) {
        if (a->conns[i].fd != -1) {
            conn_close(a, &a->conns[i]);
        }
    }
    if (a->epfd != -1) {
        close(a->epfd);
    }
    if (a->fd >= 0) {
        close(a->fd);
    }
    if (a->tls_on) {
        mtlb_admin_tls_fini(&a->tls);
        mtlb_prom_fini(&a->tls_certs);
    }
    free(a);
}
