/* hsload: TLS handshake load generator for bench/run. One thread, epoll, N concurrent
 * connections; each connects, handshakes (with a client certificate when given), sends one HTTP
 * request, reads the response and closes. Optionally resumes the session of the slot's previous
 * connection. The idle mode opens N connections and holds them for memory measurements.
 * Prints one key=value line; never verifies the server (the client's cost stays small). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
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
    long body_left; /* -1: head not complete yet; -2: no Content-Length, read until EOF */
    int status;
};

struct opts {
    const char *connect;
    const char *sni;
    const char *cert;
    const char *key;
    const char *path;
    int conns;
    double duration;
    double warmup;
    double timeout;
    int resume;
    long idle;
    double hold;
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
    long idle_started;
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
    c->head_len = 0;
    c->req_off = 0;
    c->body_left = -1;
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
    if (l->o.resume && c->session != NULL) {
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
    c->body_left = -2;
    while ((p = memchr(p, '\n', (size_t)(stop - p))) != NULL && p + 1 < stop) {
        p++;
        if (strncasecmp(p, "content-length:", 15) == 0) {
            c->body_left = strtol(p + 15, NULL, 10);
        }
    }
    c->body_left -= (long)(c->head_len - end);
    if (c->body_left < -2) {
        c->body_left = 0;
    }
    return 0;
}

/* Consumes response bytes; returns 1 once the whole response is in. */
static int take_bytes(struct conn *c, const char *buf, int n)
{
    if (c->body_left == -1) {
        size_t room = sizeof(c->head) - 1 - c->head_len;
        size_t take = (size_t)n < room ? (size_t)n : room;
        memcpy(c->head + c->head_len, buf, take);
        c->head_len += take;
        c->head[c->head_len] = '\0';
        char *eoh = strstr(c->head, "\r\n\r\n");
        if (eoh == NULL) {
            return c->head_len == sizeof(c->head) - 1 ? -1 : 0;
        }
        if (parse_head(c, (size_t)(eoh + 4 - c->head)) != 0) {
            return -1;
        }
        c->body_left -= (long)((size_t)n - take);
    } else if (c->body_left >= 0) {
        c->body_left -= n;
    }
    return c->body_left == 0 || (c->body_left < 0 && c->body_left != -2) ? 1 : 0;
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
    if (l->o.idle > 0) {
        c->state = ST_IDLE;
        l->idle_ready++;
        return;
    }
    if (t >= l->measure_from) {
        l->st.done++;
        l->st.resumed += SSL_session_reused(c->ssl) ? 1 : 0;
        record_latency(l, t - c->started);
    }
    if (l->o.resume) {
        SSL_SESSION_free(c->session);
        c->session = SSL_get1_session(c->ssl);
    }
    conn_close(l, c, 1);
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
            if (c->state == ST_READING && c->body_left == -2 &&
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
