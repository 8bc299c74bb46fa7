/* The backend exchange (exchange.c + upstream.c) with a stub owner: retries after connect
 * failures and stale pooled connections, no retry of a written POST, 503 with no server left,
 * 1xx handling (100 Continue relayed only when asked, 103 skipped), 101 and oversized heads
 * refused, EOF before the head, the response timeout, until-close bodies and a pool of 100
 * servers. A real worker core on the epoll backend; backends are loopback listeners served by
 * a thread each; the test drives the completions itself and fires timers by hand. */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mtlb/access.h"
#include "mtlb/balance.h"
#include "mtlb/buf.h"
#include "mtlb/config.h"
#include "mtlb/exchange.h"
#include "mtlb/h1.h"
#include "mtlb/io.h"
#include "mtlb/loop.h"
#include "mtlb/server.h"
#include "mtlb/snapshot.h"
#include "mtlb/stats.h"
#include "mtlb/upstream.h"
#include "mtlb/worker.h"
#include "mtlb/worker_types.h"

#define MAX_SERVERS 100
#define MAX_CONNS 4
#define SILENT ((const char *)1) /* read the request, never answer, keep the connection */

/* One backend: answers its i-th connection with resp[i] (NULL: close after reading the
 * request; SILENT: say nothing), closing it afterwards when close_after. */
struct backend {
    int lfd;
    uint16_t port;
    pthread_t th;
    bool running;
    const char *resp[MAX_CONNS];
    bool close_after;
    atomic_int accepted;
    atomic_int served; /* connections answered (and closed when close_after) */
    int fds[MAX_CONNS];
};

/* The stub owner: a request held whole in memory, and what the exchange reported. */
struct stub {
    struct mtlb_exchange ex;
    const char *req;
    size_t req_len, sent;
    bool held;
    int interims[4];
    int n_interims;
    int head_status;
    char body[256];
    size_t body_len;
    bool done, truncated;
    int failed;
    struct mtlb_h1_header hdrs[32];
    struct mtlb_access_rec rec;
};

static struct {
    struct mtlb_worker w;
    struct mtlb_snapshot snap;
    struct mtlb_config cfg;
    struct mtlb_backend_cfg be_cfg;
    struct mtlb_addr *addrs;
    struct mtlb_server_health *health;
    size_t *slots;
    struct mtlb_pool_set *ps;
    struct backend be[MAX_SERVERS];
    size_t n;
} F;

/* ---- backends ---- */

static void *backend_main(void *arg)
{
    struct backend *b = arg;

    for (int i = 0; i < MAX_CONNS && b->running; i++) {
        int fd = accept(b->lfd, NULL, NULL);
        if (fd == -1) {
            break;
        }
        b->fds[i] = fd;
        atomic_fetch_add(&b->accepted, 1);
        char buf[4096];
        size_t got = 0;
        ssize_t r;
        while (got < sizeof(buf) - 1 && (r = recv(fd, buf + got, sizeof(buf) - 1 - got, 0)) > 0) {
            got += (size_t)r;
            buf[got] = '\0';
            if (strstr(buf, "\r\n\r\n") != NULL) {
                break;
            }
        }
        if (b->resp[i] == NULL) {
            close(fd);
            b->fds[i] = -1;
        } else if (b->resp[i] != SILENT) {
            (void)!send(fd, b->resp[i], strlen(b->resp[i]), MSG_NOSIGNAL);
            if (b->close_after) {
                close(fd);
                b->fds[i] = -1;
            }
        }
        atomic_fetch_add(&b->served, 1);
    }
    return NULL;
}

/* A listener on 127.0.0.1 (listening: a backend thread serves it; else closed: refused). */
static void backend_open(size_t i, bool listening)
{
    struct backend *b = &F.be[i];
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);

    b->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(b->lfd >= 0);
    cr_assert_eq(bind(b->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(getsockname(b->lfd, (struct sockaddr *)&sa, &len), 0);
    b->port = ntohs(sa.sin_port);
    for (int k = 0; k < MAX_CONNS; k++) {
        b->fds[k] = -1;
    }
    memcpy(&F.addrs[i].ss, &sa, sizeof(sa));
    F.addrs[i].len = sizeof(sa);
    snprintf(F.addrs[i].text, sizeof(F.addrs[i].text), "127.0.0.1:%u", b->port);
    if (!listening) {
        close(b->lfd); /* nothing listens on the port: connects are refused */
        b->lfd = -1;
        return;
    }
    cr_assert_eq(listen(b->lfd, 8), 0);
    b->running = true;
    cr_assert_eq(pthread_create(&b->th, NULL, backend_main, b), 0);
}

/* ---- a worker core with one pool of n servers ---- */

static void setup(size_t n, size_t n_listening)
{
    /* A rule broken into a hang ends the test (a crash) instead of the whole run; Criterion's
     * own .timeout leaks in its runner under LeakSanitizer. */
    alarm(10);
    memset(&F, 0, sizeof(F));
    F.n = n;
    F.addrs = calloc(n, sizeof(*F.addrs));
    F.health = calloc(n, sizeof(*F.health));
    F.slots = calloc(n, sizeof(*F.slots));
    for (size_t i = 0; i < n; i++) {
        F.slots[i] = i;
        backend_open(i, i < n_listening);
    }
    F.be_cfg.name = "pool";
    F.be_cfg.n_servers = n;
    F.be_cfg.health.enabled = true; /* passive health then only feeds the round robin */
    F.cfg.backends = &F.be_cfg;
    F.cfg.n_backends = 1;
    F.snap.cfg = &F.cfg;
    F.snap.backend_addrs = &F.addrs;
    F.snap.health = &F.health;
    F.snap.server_slot = &F.slots;

    struct mtlb_worker *w = &F.w;
    for (int k = 0; k < MTLB_T_COUNT; k++) {
        w->timers[k].head.next = w->timers[k].head.prev = &w->timers[k].head;
        w->timers[k].duration_ms = 1000;
    }
    cr_assert_eq(mtlb_io_create(MTLB_IO_EPOLL, 256, &w->io), 0);
    struct mtlb_stats_layout layout = {.n_listeners = 1, .n_domains = 1, .n_servers = n};
    w->stats = mtlb_stats_create(&layout);
    cr_assert_not_null(w->stats);

    /* The pool set, held by the test for its whole run (never freed by a connection). */
    F.ps = calloc(1, sizeof(*F.ps));
    F.ps->snap = &F.snap;
    F.ps->users = 1;
    F.ps->pools = calloc(1, sizeof(*F.ps->pools));
    F.ps->pools[0].health = calloc(n, sizeof(struct mtlb_health));
    F.ps->pools[0].idle = calloc(n, sizeof(struct mtlb_upstream *));
    mtlb_rr_init(&F.ps->pools[0].rr, F.ps->pools[0].health, n, 0);
    w->ps = F.ps;
}

/* One batch of completions, dispatched as the worker loop does. */
static void step(void)
{
    struct mtlb_io_cqe cqe[32];
    int n = mtlb_io_wait(F.w.io, cqe, 32);

    cr_assert(n > 0 || n == -EINTR, "mtlb_io_wait: %d", n);
    F.w.now_ms += 2000; /* every passive backoff (1 s) has run out by the next choice */
    for (int i = 0; i < n; i++) {
        /* Only backend connections submit here: each completion is one of their ops. */
        struct mtlb_op *op = (struct mtlb_op *)(uintptr_t)cqe[i].user_data;
        cr_assert(op != NULL && op->done != NULL, "unexpected completion %llu",
                  (unsigned long long)cqe[i].user_data);
        op->done(op, cqe[i].res);
    }
    mtlb_worker_bury(&F.w);
}

static void run_until_done(struct stub *s)
{
    for (int i = 0; i < 1000 && !s->done; i++) {
        step();
    }
    cr_assert(s->done, "the exchange never ended");
}

static void teardown(void)
{
    mtlb_upstream_close_idle(F.ps);
    while (F.w.n_upstreams > 0) {
        step();
    }
    for (size_t i = 0; i < F.n; i++) {
        struct backend *b = &F.be[i];
        if (b->running) {
            b->running = false;
            shutdown(b->lfd, SHUT_RDWR);
            pthread_join(b->th, NULL);
            close(b->lfd);
            for (int k = 0; k < MAX_CONNS; k++) {
                if (b->fds[k] >= 0) {
                    close(b->fds[k]);
                }
            }
        }
    }
    mtlb_upstream_spares_free(&F.w);
    mtlb_io_destroy(F.w.io);
    free(F.ps->pools[0].health);
    free(F.ps->pools[0].idle);
    free(F.ps->pools);
    free(F.ps);
    free(F.addrs);
    free(F.health);
    free(F.slots);
    alarm(0);
}

/* ---- the stub owner ---- */

static int s_fill(void *o, struct iovec *iov, int max)
{
    struct stub *s = o;
    if (s->sent == s->req_len || max < 1) {
        return 0;
    }
    iov[0].iov_base = (void *)(uintptr_t)(s->req + s->sent);
    iov[0].iov_len = s->req_len - s->sent;
    return 1;
}

static int s_sent(void *o, uint32_t n)
{
    struct stub *s = o;
    s->sent += n;
    return s->sent < s->req_len ? 1 : 0;
}

static bool s_request_done(void *o)
{
    struct stub *s = o;
    return s->sent == s->req_len;
}

static bool s_held(void *o, bool after_write)
{
    (void)after_write;
    return ((struct stub *)o)->held;
}

static void s_restart(void *o)
{
    ((struct stub *)o)->sent = 0;
}

static int s_interim(void *o, int status)
{
    struct stub *s = o;
    s->interims[s->n_interims++] = status;
    return 0;
}

static int s_head(void *o, const struct mtlb_h1_message *resp)
{
    ((struct stub *)o)->head_status = resp->status;
    return 0;
}

static void s_data(void *o)
{
    struct stub *s = o;
    struct mtlb_buf *b = mtlb_exchange_rbuf(&s->ex);
    uint32_t n = b->len < sizeof(s->body) - s->body_len ? b->len : 0;

    memcpy(s->body + s->body_len, b->data + b->off, n);
    s->body_len += n;
    b->off += n;
    b->len -= n;
    bool ended =
        s->ex.resp.body == MTLB_BODY_UNTIL_CLOSE
            ? s->ex.up_eof
            : s->body_len >= (s->ex.resp.body == MTLB_BODY_LENGTH ? s->ex.resp.content_length : 0);
    if (ended) {
        s->done = true;
        mtlb_exchange_finish(&s->ex, s->ex.resp.keep_alive);
    } else {
        mtlb_exchange_recv(&s->ex);
    }
}

static void s_fail(void *o, int status)
{
    struct stub *s = o;
    s->failed = status;
    s->done = true;
}

static void s_truncated(void *o)
{
    struct stub *s = o;
    s->truncated = true;
    s->done = true;
    mtlb_exchange_finish(&s->ex, false);
}

static const struct mtlb_exchange_ops stub_ops = {
    .fill = s_fill,
    .sent = s_sent,
    .request_done = s_request_done,
    .held = s_held,
    .restart = s_restart,
    .interim = s_interim,
    .head = s_head,
    .data = s_data,
    .fail = s_fail,
    .truncated = s_truncated,
};

static void stub_start(struct stub *s, const char *method, const char *req, bool expect_continue)
{
    memset(s, 0, sizeof(*s));
    s->req = req;
    s->req_len = strlen(req);
    s->held = true;
    mtlb_exchange_init(&s->ex, &stub_ops, s);
    const struct mtlb_exchange_req er = {
        .method = {method, strlen(method)},
        .expect_continue = expect_continue,
        .headers = s->hdrs,
        .max_headers = 32,
        .rec = &s->rec,
        .conn_id = 1,
    };
    mtlb_exchange_begin(&s->ex, &F.w, F.ps, 0, &er);
    mtlb_exchange_start(&s->ex);
}

static void stub_end(struct stub *s)
{
    mtlb_exchange_fini(&s->ex);
}

#define GET "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
#define OK "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

/* ---- the rules ---- */

Test(exchange, get_moves_on_to_the_next_server_after_a_refused_connect)
{
    struct stub s;

    setup(2, 0);
    backend_open(1, true); /* server 0 refuses, server 1 answers */
    F.be[1].resp[0] = OK;
    stub_start(&s, "GET", GET, false);
    run_until_done(&s);
    cr_assert_eq(s.failed, 0);
    cr_assert_eq(s.head_status, 200);
    cr_assert_eq(s.body_len, 2);
    cr_assert_eq(F.w.ctr.upstream_fail, 1);
    cr_assert_eq(s.rec.up_connect_us >= 0, true);
    stub_end(&s);
    teardown();
}

Test(exchange, no_server_left_is_503)
{
    struct stub s;

    setup(2, 0);
    stub_start(&s, "GET", GET, false);
    run_until_done(&s);
    cr_assert_eq(s.failed, 503);
    cr_assert_eq(s.ex.up_error, MTLB_UPE_CONNECT_FAILED);
    cr_assert_eq(F.w.ctr.upstream_connects, 2, "each server once: %llu",
                 (unsigned long long)F.w.ctr.upstream_connects);
    stub_end(&s);
    teardown();
}

Test(exchange, get_is_retried_on_the_same_server_after_a_stale_pooled_connection)
{
    struct stub s;

    setup(1, 1);
    F.be[0].resp[0] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    F.be[0].resp[1] = OK;
    F.be[0].close_after = true; /* the backend drops the keep-alive connection at once */
    stub_start(&s, "GET", GET, false);
    run_until_done(&s);
    cr_assert_eq(s.head_status, 200);
    stub_end(&s);
    while (atomic_load(&F.be[0].served) < 1) {
        usleep(100);
    }
    usleep(2000); /* the FIN reaches the pooled connection */
    cr_assert_not_null(F.ps->pools[0].idle[0], "the connection was pooled");
    cr_assert_null(F.ps->pools[0].idle[0]->rbuf.data, "an idle connection holds no buffer");
    cr_assert_eq(F.w.n_spare_rbufs, 1, "its buffer went to the worker's spares");

    stub_start(&s, "GET", GET, false);
    run_until_done(&s);
    cr_assert_eq(s.failed, 0, "failed with %d", s.failed);
    cr_assert_eq(s.head_status, 200);
    cr_assert_eq(atomic_load(&F.be[0].accepted), 2);
    stub_end(&s);
    teardown();
}

Test(exchange, written_post_is_not_retried)
{
    struct stub s;

    setup(2, 2);
    F.be[0].resp[0] = NULL; /* reads the request, closes without a word */
    F.be[1].resp[0] = OK;
    stub_start(&s, "POST", "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", false);
    run_until_done(&s);
    cr_assert_eq(s.failed, 502);
    cr_assert_eq(s.ex.up_error, MTLB_UPE_RESET);
    cr_assert_eq(atomic_load(&F.be[1].accepted), 0, "the POST went to a second server");
    stub_end(&s);
    teardown();
}

Test(exchange, eof_before_the_head_on_a_fresh_connection_is_502_even_for_get)
{
    struct stub s;

    setup(2, 2);
    F.be[0].resp[0] = NULL;
    F.be[1].resp[0] = OK;
    stub_start(&s, "GET", GET, false);
    run_until_done(&s);
    cr_assert_eq(s.failed, 502);
    cr_assert_eq(s.ex.up_error, MTLB_UPE_RESET);
    stub_end(&s);
    teardown();
}

Test(exchange, continue_is_relayed_only_when_expected_and_103_is_skipped)
{
    static const char resp[] =
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n"
        "Link: </a>\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    struct stub s;

    setup(1, 1);
    F.be[0].resp[0] = resp;
    F.be[0].resp[1] = resp;
    F.be[0].close_after = true;
    stub_start(&s, "GET", GET, true);
    run_until_done(&s);
    cr_assert_eq(s.n_interims, 1);
    cr_assert_eq(s.interims[0], 100);
    cr_assert_eq(s.head_status, 200);
    cr_assert_eq(s.body_len, 2);
    stub_end(&s);

    stub_start(&s, "GET", GET, false);
    run_until_done(&s);
    cr_assert_eq(s.n_interims, 0);
    cr_assert_eq(s.head_status, 200);
    stub_end(&s);
    teardown();
}

Test(exchange, switching_protocols_is_502)
{
    struct stub s;

    setup(1, 1);
    F.be[0].resp[0] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n";
    stub_start(&s, "GET", GET, false);
    run_until_done(&s);
    cr_assert_eq(s.failed, 502);
    cr_assert_eq(s.ex.up_error, MTLB_UPE_BAD_RESPONSE);
    cr_assert_eq(s.head_status, 0);
    stub_end(&s);
    teardown();
}

Test(exchange, head_larger_than_the_buffer_is_502)
{
    size_t big = 40 * 1024;
    char *resp = malloc(big + 64);
    struct stub s;

    strcpy(resp, "HTTP/1.1 200 OK\r\nX: ");
    size_t at = strlen(resp);
    memset(resp + at, 'a', big);
    resp[at + big] = '\0'; /* the head never ends */
    setup(1, 1);
    F.be[0].resp[0] = resp;
    stub_start(&s, "GET", GET, false);
    run_until_done(&s);
    cr_assert_eq(s.failed, 502);
    cr_assert_eq(s.ex.up_error, MTLB_UPE_BAD_RESPONSE);
    stub_end(&s);
    teardown();
    free(resp);
}

Test(exchange, unparsable_head_is_502)
{
    struct stub s;

    setup(1, 1);
    F.be[0].resp[0] = "HTTP/1.1 abc\r\n\r\n";
    stub_start(&s, "GET", GET, false);
    run_until_done(&s);
    cr_assert_eq(s.failed, 502);
    cr_assert_eq(s.ex.up_error, MTLB_UPE_BAD_RESPONSE);
    stub_end(&s);
    teardown();
}

Test(exchange, backend_response_timeout_is_504)
{
    struct stub s;

    setup(1, 1);
    F.be[0].resp[0] = SILENT;
    stub_start(&s, "GET", GET, false);
    while (s.sent < s.req_len) {
        step();
    }
    while (atomic_load(&F.be[0].served) < 1) {
        usleep(100);
    }
    struct mtlb_upstream *u = s.ex.up;
    cr_assert_not_null(u);
    cr_assert_eq(u->timer.kind, MTLB_T_UP_RESPONSE, "the backend's timer runs");
    mtlb_timer_disarm(&u->timer); /* as the worker's expiry does */
    u->timer.expire(&u->timer);
    cr_assert_eq(s.failed, 504);
    cr_assert_eq(s.ex.up_error, MTLB_UPE_TIMEOUT);
    stub_end(&s);
    teardown();
}

Test(exchange, until_close_body_ends_at_eof_and_is_not_pooled)
{
    struct stub s;

    setup(1, 1);
    F.be[0].resp[0] = "HTTP/1.1 200 OK\r\n\r\nuntil close";
    F.be[0].close_after = true;
    stub_start(&s, "GET", GET, false);
    run_until_done(&s);
    cr_assert_eq(s.failed, 0);
    cr_assert_not(s.truncated);
    cr_assert_eq(s.body_len, 11);
    cr_assert_null(F.ps->pools[0].idle[0]);
    stub_end(&s);
    teardown();
}

Test(exchange, eof_in_a_length_body_is_truncated)
{
    struct stub s;

    setup(1, 1);
    F.be[0].resp[0] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort";
    F.be[0].close_after = true;
    stub_start(&s, "GET", GET, false);
    run_until_done(&s);
    cr_assert(s.truncated);
    cr_assert_eq(s.ex.up_error, MTLB_UPE_RESET);
    stub_end(&s);
    teardown();
}

/* Every server of a pool of 100 is tried exactly once (all refuse), then 503: with a 64-bit
 * tried mask the servers past the 64th were tried again and again once their backoff ended. */
Test(exchange, pool_of_100_servers_tries_each_once)
{
    struct stub s;

    setup(MAX_SERVERS, 0);
    stub_start(&s, "GET", GET, false);
    run_until_done(&s);
    cr_assert_eq(s.failed, 503);
    cr_assert_eq(F.w.ctr.upstream_connects, MAX_SERVERS, "connects: %llu",
                 (unsigned long long)F.w.ctr.upstream_connects);
    stub_end(&s);
    teardown();
}
