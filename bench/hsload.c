/* hsload: TLS handshake load generator for bench/run. One thread, epoll, N concurrent
 * connections; each connects, handshakes (with a client certificate when given), sends one HTTP
 * request, reads the response and closes. Optionally resumes the session of the slot's previous
 * connection, or always one of a file's sessions (written by --sess-out, possibly against
 * another server: cross-replica resumption). The idle mode opens N connections and holds them for
 * memory measurements. Prints one key=value line; never verifies the server (the client's cost
 * stays small). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "hsload.h"

enum conn_state { ST_FREE, ST_CONNECTING, ST_HANDSHAKE, ST_WRITING, ST_READING, ST_IDLE };

struct conn {
    int fd;
    enum conn_state state;
    SSL *ssl;
    SSL_SESSION *session; /* from this slot's previous connection (--resume) */
    double started;
    size_t req_off;
    char head[4096];
    size_t head_len;
    long body_left;
    int head_done;
    int until_eof; /* no Content-Length: the body ends with the connection */
    int status;
};

struct stats {
    long done;
    long resumed;
    long errors;
    long dropped;
    uint32_t *lat_us;
    size_t lat_len;
    size_t lat_cap;
    char first_error[160];
    char proto[16]; /* of the first complete connection, to show what was measured */
    char cipher[64];
};

struct load {
    struct opts o;
    struct stats st;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    SSL_CTX *ctx;
    int ep;
    struct conn *conns;
    char request[512];
    size_t request_len;
    double measure_from;
    long idle_ready;
    long inflight;          /* connections between connect() and the end of their response */
    SSL_SESSION **sessions; /* --sess-in */
    int n_sessions;
    long seeded; /* --sess-out: slots that have their session */
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void note_error(struct load *l, const char *what)
{
    unsigned long e = ERR_peek_error();

    l->st.errors++;
    if (l->st.first_error[0] == '\0') {
        snprintf(l->st.first_error, sizeof(l->st.first_error), "%s%s%s", what, e ? ":" : "",
                 e ? ERR_reason_error_string(e) : "");
        for (char *p = l->st.first_error; *p; p++) {
            if (*p == ' ') {
                *p = '_';
            }
        }
    }
    ERR_clear_error();
}

static void record_latency(struct load *l, double secs)
{
    struct stats *st = &l->st;

    if (st->lat_len == st->lat_cap) {
        size_t cap = st->lat_cap ? st->lat_cap * 2 : 65536;
        uint32_t *p = realloc(st->lat_us, cap * sizeof(*p));
        if (p == NULL) {
            return;
        }
        st->lat_us = p;
        st->lat_cap = cap;
    }
    st->lat_us[st->lat_len++] = (uint32_t)(secs * 1e6);
}

/* Abortive close: an RST leaves no TIME_WAIT, so the ephemeral ports last the whole run. */
static void conn_close(struct load *l, struct conn *c, int polite)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};

    if (c->state != ST_FREE && c->state != ST_IDLE) {
        l->inflight--;
    }
    if (c->ssl != NULL) {
        if (polite) {
            SSL_shutdown(c->ssl);
        }
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd != -1) {
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        epoll_ctl(l->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    c->state = ST_FREE;
}

static int conn_start(struct load *l, struct conn *c)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET};
    int one = 1;

    c->fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd == -1) {
        note_error(l, "socket");
        return -errno;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->started = now_s();
    c->state = ST_CONNECTING;
    l->inflight++;
    c->head_len = 0;
    c->req_off = 0;
    c->body_left = 0;
    c->head_done = 0;
    c->until_eof = 0;
    c->status = 0;
    ev.data.ptr = c;
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, c->fd, &ev) == -1) {
        note_error(l, "epoll_ctl");
        conn_close(l, c, 0);
        return -errno;
    }
    if (connect(c->fd, (struct sockaddr *)&l->addr, l->addr_len) == -1 && errno != EINPROGRESS) {
        note_error(l, "connect");
        conn_close(l, c, 0);
        return -1;
    }
    return 0;
}

static int ssl_setup(struct load *l, struct conn *c)
{
    c->ssl = SSL_new(l->ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        return -1;
    }
    if (l->o.sni != NULL) {
        SSL_set_tlsext_host_name(c->ssl, l->o.sni);
    }
    if (l->n_sessions > 0) {
        SSL_set_session(c->ssl, l->sessions[(size_t)(c - l->conns) % (size_t)l->n_sessions]);
    } else if (l->o.resume && c->session != NULL) {
        SSL_set_session(c->ssl, c->session);
    }
    SSL_set_connect_state(c->ssl);
    return 0;
}

/* Parses the response head once it is complete: status and Content-Length. */
static int parse_head(struct conn *c, size_t end)
{
    const char *p = c->head;
    const char *stop = c->head + end;

    if (end < 12 || strncmp(p, "HTTP/1.", 7) != 0) {
        return -1;
    }
    c->status = atoi(p + 9);
    c->until_eof = 1;
    while ((p = memchr(p, '\n', (size_t)(stop - p))) != NULL && p + 1 < stop) {
        p++;
        if (strncasecmp(p, "content-length:", 15) == 0) {
            c->body_left = strtol(p + 15, NULL, 10);
            c->until_eof = 0;
        }
    }
    return 0;
}

/* Consumes response bytes; returns 1 once the whole response is in, -1 on garbage. */
static int take_bytes(struct conn *c, const char *buf, int n)
{
    if (!c->head_done) {
        size_t room = sizeof(c->head) - 1 - c->head_len;
        size_t take = (size_t)n < room ? (size_t)n : room;
        memcpy(c->head + c->head_len, buf, take);
        c->head_len += take;
        c->head[c->head_len] = '\0';
        char *eoh = strstr(c->head, "\r\n\r\n");
        if (eoh == NULL) {
            return c->head_len == sizeof(c->head) - 1 ? -1 : 0;
        }
        size_t end = (size_t)(eoh + 4 - c->head);
        if (parse_head(c, end) != 0) {
            return -1;
        }
        c->head_done = 1;
        /* Body bytes that came with the head. */
        n = (int)(c->head_len - end + ((size_t)n - take));
    }
    if (c->until_eof) {
        return 0;
    }
    c->body_left -= n;
    return c->body_left <= 0 ? 1 : 0;
}

static void conn_finish(struct load *l, struct conn *c)
{
    double t = now_s();

    if (c->status != 200) {
        char what[32];
        snprintf(what, sizeof(what), "status_%d", c->status);
        note_error(l, what);
        conn_close(l, c, 0);
        return;
    }
    if (l->st.proto[0] == '\0') {
        snprintf(l->st.proto, sizeof(l->st.proto), "%s", SSL_get_version(c->ssl));
        snprintf(l->st.cipher, sizeof(l->st.cipher), "%s", SSL_get_cipher_name(c->ssl));
    }
    if (l->o.idle > 0) {
        c->state = ST_IDLE;
        l->inflight--;
        l->idle_ready++;
        return;
    }
    if (t >= l->measure_from) {
        l->st.done++;
        l->st.resumed += SSL_session_reused(c->ssl) ? 1 : 0;
        record_latency(l, t - c->started);
    }
    if (l->o.resume || (l->o.sess_out != NULL && c->session == NULL)) {
        SSL_SESSION_free(c->session);
        c->session = SSL_get1_session(c->ssl);
        l->seeded += l->o.sess_out != NULL && c->session != NULL;
    }
    conn_close(l, c, 1);
}

/* --leave: the handshake is done (the client's Finished is written); close at once with a
 * FIN and no close_notify, as openssl s_time -new does. Counted like a completed exchange. */
static void conn_leave(struct load *l, struct conn *c)
{
    double t = now_s();

    if (l->st.proto[0] == '\0') {
        snprintf(l->st.proto, sizeof(l->st.proto), "%s", SSL_get_version(c->ssl));
        snprintf(l->st.cipher, sizeof(l->st.cipher), "%s", SSL_get_cipher_name(c->ssl));
    }
    if (t >= l->measure_from) {
        l->st.done++;
        l->st.resumed += SSL_session_reused(c->ssl) ? 1 : 0;
        record_latency(l, t - c->started);
    }
    l->inflight--;
    SSL_free(c->ssl);
    c->ssl = NULL;
    epoll_ctl(l->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->state = ST_FREE;
}

/* Maps an SSL_ERROR_* to: 0 wait for the socket, -1 failure. */
static int ssl_wait(struct load *l, struct conn *c, int rc, const char *what)
{
    int err = SSL_get_error(c->ssl, rc);

    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        return 0;
    }
    note_error(l, what);
    conn_close(l, c, 0);
    return -1;
}

static int step_read(struct load *l, struct conn *c)
{
    char buf[16384];

    for (;;) {
        int n = SSL_read(c->ssl, buf, sizeof(buf));
        if (n <= 0) {
            int err = SSL_get_error(c->ssl, n);
            if (c->state == ST_READING && c->until_eof &&
                (err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL)) {
                conn_finish(l, c);
                return 0;
            }
            if (c->state == ST_IDLE && err != SSL_ERROR_WANT_READ) {
                l->st.dropped++;
                conn_close(l, c, 0);
                return -1;
            }
            return ssl_wait(l, c, n, "read");
        }
        if (c->state == ST_IDLE) {
            continue;
        }
        int r = take_bytes(c, buf, n);
        if (r < 0) {
            note_error(l, "bad_response");
            conn_close(l, c, 0);
            return -1;
        }
        if (r == 1) {
            conn_finish(l, c);
            return 0;
        }
    }
}

/* Drives one connection as far as it goes without blocking. */
static void conn_step(struct load *l, struct conn *c, uint32_t events)
{
    if (c->state == ST_CONNECTING) {
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
            return;
        }
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
        if (soerr != 0 || ssl_setup(l, c) != 0) {
            note_error(l, soerr ? "connect" : "ssl_new");
            conn_close(l, c, 0);
            return;
        }
        c->state = ST_HANDSHAKE;
    }
    if (c->state == ST_HANDSHAKE) {
        int rc = SSL_do_handshake(c->ssl);
        if (rc != 1) {
            ssl_wait(l, c, rc, "handshake");
            return;
        }
        c->state = ST_WRITING;
        if (l->o.leave) {
            conn_leave(l, c);
            return;
        }
    }
    while (c->state == ST_WRITING) {
        int n = SSL_write(c->ssl, l->request + c->req_off, (int)(l->request_len - c->req_off));
        if (n <= 0) {
            ssl_wait(l, c, n, "write");
            return;
        }
        c->req_off += (size_t)n;
        if (c->req_off == l->request_len) {
            c->state = ST_READING;
        }
    }
    if (c->state == ST_READING || c->state == ST_IDLE) {
        step_read(l, c);
    }
}

/* Closes connections that took longer than --timeout (not idle ones). */
static void reap_timeouts(struct load *l, size_t nslots, double t)
{
    for (size_t i = 0; i < nslots; i++) {
        struct conn *c = &l->conns[i];
        if (c->state != ST_FREE && c->state != ST_IDLE && t - c->started > l->o.timeout) {
            note_error(l, "timeout");
            conn_close(l, c, 0);
        }
    }
}

static void dispatch(struct load *l, int timeout_ms)
{
    struct epoll_event evs[256];
    int n = epoll_wait(l->ep, evs, 256, timeout_ms);

    for (int i = 0; i < n; i++) {
        conn_step(l, evs[i].data.ptr, evs[i].events);
    }
}

/* Full/resumed handshake mode: every slot reconnects as soon as it is done. */
static void run_handshakes(struct load *l)
{
    size_t nslots = (size_t)l->o.conns;
    double start = now_s();
    double end = start + l->o.warmup + l->o.duration;
    double next_reap = start + 0.25;

    l->measure_from = start + l->o.warmup;
    for (size_t i = 0; i < nslots; i++) {
        conn_start(l, &l->conns[i]);
    }
    while (!stop_flag) {
        double t = now_s();
        if (t >= end) {
            break;
        }
        dispatch(l, 50);
        if (t >= next_reap) {
            reap_timeouts(l, nslots, t);
            next_reap = t + 0.25;
        }
        for (size_t i = 0; i < nslots; i++) {
            if (l->conns[i].state == ST_FREE) {
                conn_start(l, &l->conns[i]);
            }
        }
    }
}

/* --sess-out: one completed connection per slot (a failed one is retried), then the file. */
static int run_seed(struct load *l)
{
    size_t nslots = (size_t)l->o.conns;
    double end = now_s() + l->o.timeout;

    l->measure_from = now_s();
    while (!stop_flag && l->seeded < l->o.conns && now_s() < end) {
        for (size_t i = 0; i < nslots; i++) {
            if (l->conns[i].state == ST_FREE && l->conns[i].session == NULL) {
                conn_start(l, &l->conns[i]);
            }
        }
        dispatch(l, 50);
    }
    SSL_SESSION **v = malloc(nslots * sizeof(*v));
    for (size_t i = 0; v != NULL && i < nslots; i++) {
        v[i] = l->conns[i].session;
    }
    int n = v != NULL ? hsload_write_sessions(l->o.sess_out, v, nslots) : -1;
    free(v);
    printf("mode=sess_out sessions=%d errors=%ld file=%s first_error=%s\n", n, l->st.errors,
           l->o.sess_out, l->st.first_error[0] ? l->st.first_error : "none");
    return n == l->o.conns ? 0 : 1;
}

/* Idle mode: opens --idle connections, --conns at a time, and holds them. */
static void run_idle(struct load *l)
{
    size_t nslots = (size_t)l->o.idle;
    size_t cursor = 0;
    double start = now_s();
    double next_reap = start + 0.25;

    while (!stop_flag && l->idle_ready < l->o.idle && l->st.errors <= l->o.idle) {
        for (size_t scanned = 0; l->inflight < l->o.conns &&
                                 l->idle_ready + l->inflight < l->o.idle && scanned < nslots;
             scanned++) {
            struct conn *c = &l->conns[cursor];
            cursor = (cursor + 1) % nslots;
            if (c->state == ST_FREE) {
                conn_start(l, c);
            }
        }
        dispatch(l, 50);
        double t = now_s();
        if (t >= next_reap) {
            reap_timeouts(l, nslots, t);
            next_reap = t + 0.25;
        }
    }
    printf("ready idle=%ld errors=%ld setup_s=%.2f\n", l->idle_ready, l->st.errors,
           now_s() - start);
    fflush(stdout);
    double end = now_s() + l->o.hold;
    while (!stop_flag && now_s() < end) {
        dispatch(l, 200);
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a;
    uint32_t y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

static double percentile_ms(struct stats *st, double q)
{
    if (st->lat_len == 0) {
        return 0.0;
    }
    size_t i = (size_t)(q * (double)(st->lat_len - 1) + 0.5);
    return st->lat_us[i] / 1000.0;
}

static void report(struct load *l, double wall)
{
    struct stats *st = &l->st;
    struct rusage ru;
    double cpu = 0.0;

    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
              ru.ru_stime.tv_usec / 1e6;
    }
    qsort(st->lat_us, st->lat_len, sizeof(*st->lat_us), cmp_u32);
    if (l->o.idle > 0) {
        printf("mode=idle conns=%ld ready=%ld dropped=%ld errors=%ld", l->o.idle, l->idle_ready,
               st->dropped, st->errors);
    } else {
        printf("mode=%s conns=%d duration=%.2f handshakes=%ld hs_per_s=%.1f resumed=%ld "
               "errors=%ld p50_ms=%.3f p99_ms=%.3f",
               l->n_sessions > 0 ? "sess_in"
               : l->o.resume     ? "resume"
               : l->o.leave      ? "leave"
                                 : "full",
               l->o.conns, l->o.duration, st->done, (double)st->done / l->o.duration, st->resumed,
               st->errors, percentile_ms(st, 0.50), percentile_ms(st, 0.99));
    }
    printf(" client_cpu=%.2f proto=%s cipher=%s first_error=%s\n", wall > 0 ? cpu / wall : 0.0,
           st->proto[0] ? st->proto : "none", st->cipher[0] ? st->cipher : "none",
           st->first_error[0] ? st->first_error : "none");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    static struct load l;

    int rc = hsload_parse_opts(&l.o, argc, argv);
    if (rc != 0) {
        hsload_usage(rc > 0 ? stdout : stderr);
        return rc > 0 ? 0 : 2;
    }
    l.ctx = hsload_make_ctx(&l.o);
    if (hsload_resolve(l.o.connect, &l.addr, &l.addr_len) != 0 || l.ctx == NULL) {
        fprintf(stderr, "hsload: cannot resolve %s or load the client certificate\n", l.o.connect);
        return 1;
    }
    l.request_len = (size_t)snprintf(l.request, sizeof(l.request),
                                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: hsload\r\n\r\n",
                                     l.o.path, l.o.sni ? l.o.sni : "localhost");
    size_t nslots = (size_t)(l.o.idle > 0 ? l.o.idle : l.o.conns);
    hsload_raise_nofile((long)nslots);
    l.conns = calloc(nslots, sizeof(*l.conns));
    l.ep = epoll_create1(EPOLL_CLOEXEC);
    if (l.conns == NULL || l.ep == -1 || l.request_len >= sizeof(l.request)) {
        fprintf(stderr, "hsload: out of memory or path too long\n");
        return 1;
    }
    for (size_t i = 0; i < nslots; i++) {
        l.conns[i].fd = -1;
    }
    if (l.o.sess_in != NULL &&
        (l.n_sessions = hsload_read_sessions(l.o.sess_in, &l.sessions)) <= 0) {
        fprintf(stderr, "hsload: no session in %s\n", l.o.sess_in);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    double start = now_s();
    if (l.o.sess_out != NULL) {
        return run_seed(&l);
    }
    if (l.o.idle > 0) {
        run_idle(&l);
    } else {
        run_handshakes(&l);
    }
    report(&l, now_s() - start);
    return 0;
}
