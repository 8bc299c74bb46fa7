/* The splice relay (include/mtlb/splice.h): the rule deciding when a body may move by splice,
 * and the relay itself on both worker I/O backends over loopback sockets: every byte in
 * order, a source that ends early (-EPIPE, in_side), a destination that is gone, a stop while
 * waiting (-ECANCELED), the pipes going back to the worker's pool only when empty, a send
 * buffer shrunk with nothing in flight set again, and MTLB_SPLICE_FILL (several splices in
 * per round, never past the body). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mtlb/io.h"
#include "mtlb/splice.h"

/* ---- the rule ---- */

Test(splice, rule_takes_only_untransformed_content_length_bodies)
{
    const uint64_t big = MTLB_SPLICE_MIN_BODY;
    cr_assert(mtlb_splice_wanted(true, MTLB_TRANSPORT_KTLS, false, true, big));
    cr_assert(mtlb_splice_wanted(true, MTLB_TRANSPORT_PLAIN, false, true, big));
    cr_assert_not(mtlb_splice_wanted(false, MTLB_TRANSPORT_KTLS, false, true, big), "switch");
    cr_assert_not(mtlb_splice_wanted(true, MTLB_TRANSPORT_USERSPACE, false, true, big));
    /* Only both directions in the kernel (or none) count as the kTLS transport here. */
    cr_assert_not(mtlb_splice_wanted(true, MTLB_TRANSPORT_KTLS_TX, false, true, big));
    cr_assert_not(mtlb_splice_wanted(true, MTLB_TRANSPORT_KTLS, true, true, big), "TLS backend");
    cr_assert_not(mtlb_splice_wanted(true, MTLB_TRANSPORT_KTLS, false, false, big), "chunked");
    cr_assert_not(mtlb_splice_wanted(true, MTLB_TRANSPORT_KTLS, false, true, big - 1), "small");
}

/* ---- the relay ---- */

static struct {
    struct mtlb_io *io;
    struct mtlb_splice_pipes pipes;
    struct mtlb_splice s;
    uint64_t moved;
    int waits_in, waits_out;
    int rounds;        /* pipe fills spliced out: a wait for the source, then for the sink */
    bool last_wait_in; /* the last waiting() call was for the source */
    bool done;
    int res;
    bool in_side;
} T;

static void moved(void *owner, uint32_t n)
{
    (void)owner;
    T.moved += n;
}

static void waiting(void *owner, bool on_in)
{
    (void)owner;
    *(on_in ? &T.waits_in : &T.waits_out) += 1;
    T.rounds += !on_in && T.last_wait_in; /* a partial splice out waits for the sink again */
    T.last_wait_in = on_in;
}

static void done(void *owner, int res, bool in_side)
{
    cr_assert_not(T.done, "done twice");
    cr_assert_eq(owner, &T);
    T.done = true;
    T.res = res;
    T.in_side = in_side;
}

static const struct mtlb_splice_ops ops = {.moved = moved, .waiting = waiting, .done = done};

static enum mtlb_io_backend backends[] = {MTLB_IO_URING, MTLB_IO_EPOLL};

#define RELAY_TEST(name)                                                                           \
    ParameterizedTestParameters(splice, name)                                                      \
    {                                                                                              \
        return cr_make_param_array(enum mtlb_io_backend, backends, 2);                             \
    }                                                                                              \
    ParameterizedTest(enum mtlb_io_backend *b, splice, name, .timeout = 30)

static void setup(enum mtlb_io_backend b)
{
    memset(&T, 0, sizeof(T));
    signal(SIGPIPE, SIG_IGN); /* as mtlb: a splice into a closed socket raises it */
    int rc = mtlb_io_create(b, 64, &T.io);
    if (b == MTLB_IO_URING && (rc == -EPERM || rc == -ENOSYS)) {
        cr_skip_test("io_uring unavailable here: %s", strerror(-rc));
    }
    cr_assert_eq(rc, 0);
}

/* Runs completions (each user_data is a struct mtlb_op) until the relay reports. */
static void run_until_done(void)
{
    while (!T.done) {
        struct mtlb_io_cqe cqes[16];
        int n = mtlb_io_wait(T.io, cqes, 16);
        cr_assert_gt(n, 0);
        for (int i = 0; i < n; i++) {
            struct mtlb_op *op = (struct mtlb_op *)(uintptr_t)cqes[i].user_data;
            op->done(op, cqes[i].res);
        }
    }
}

static void pair(int sv[2])
{
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

/* A writer child feeds `total` pattern bytes into fd, closing it after `stop_at` bytes. */
/* A child keeps only its own socket: another end held open would hide an EOF. */
static void close_others(int keep)
{
    for (int fd = 3; fd < 256; fd++) {
        if (fd != keep) {
            close(fd);
        }
    }
}

static pid_t feeder(int fd, size_t total, size_t stop_at)
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        close_others(fd);
        char buf[8192];
        size_t off = 0;
        while (off < stop_at && off < total) {
            size_t n = sizeof(buf);
            n = n < stop_at - off ? n : stop_at - off;
            for (size_t i = 0; i < n; i++) {
                buf[i] = (char)('a' + (off + i) % 26);
            }
            ssize_t w = send(fd, buf, n, 0);
            if (w < 0 && errno != EAGAIN) {
                _exit(0); /* the relay's side was closed */
            }
            if (w < 0) {
                usleep(1000);
                continue;
            }
            off += (size_t)w;
        }
        _exit(0);
    }
    close(fd);
    return pid;
}

/* Reads everything from fd in a child (after delay_us), checks the pattern; exits 0 when
 * `want` arrived. */
static pid_t drainer_after(int fd, size_t want, useconds_t delay_us)
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        close_others(fd);
        usleep(delay_us);
        char buf[8192];
        size_t got = 0;
        for (;;) {
            ssize_t r = recv(fd, buf, sizeof(buf), 0);
            if (r == 0) {
                break;
            }
            if (r < 0 && errno != EAGAIN) {
                break;
            }
            if (r < 0) {
                usleep(1000);
                continue;
            }
            for (ssize_t i = 0; i < r; i++) {
                if (buf[i] != (char)('a' + (got + (size_t)i) % 26)) {
                    _exit(2);
                }
            }
            got += (size_t)r;
        }
        _exit(got == want ? 0 : 1);
    }
    close(fd);
    return pid;
}

static pid_t drainer(int fd, size_t want)
{
    return drainer_after(fd, want, 0);
}

/* A connected loopback TCP pair, both ends non-blocking: sv[0] the relay's, sv[1] the peer's. */
static void tcp_pair(int sv[2])
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(l >= 0);
    cr_assert_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(l, 1), 0);
    cr_assert_eq(getsockname(l, (struct sockaddr *)&a, &len), 0);
    sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_eq(connect(sv[0], (struct sockaddr *)&a, sizeof(a)), 0);
    sv[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    cr_assert(sv[1] >= 0);
    close(l);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(fcntl(sv[i], F_SETFL, fcntl(sv[i], F_GETFL) | O_NONBLOCK), 0);
    }
}

static int child_status(pid_t pid)
{
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 100;
}

/* The end of a relay test that ran to completion: the relay's ends closed, the feeder and the
 * drainer (which checked every byte) both exited 0, the pool and the ring freed. */
static void finish_relay(int src, int dst, pid_t feeder_pid, pid_t drainer_pid)
{
    close(dst);
    cr_assert_eq(child_status(drainer_pid), 0, "the receiver saw other bytes");
    cr_assert_eq(child_status(feeder_pid), 0);
    close(src);
    mtlb_splice_pipes_fini(&T.pipes);
    mtlb_io_destroy(T.io);
}

RELAY_TEST(moves_every_byte_in_order)
{
    setup(*b);
    int src[2], dst[2];
    size_t total = 5u << 20;
    pair(src);
    pair(dst);
    pid_t f = feeder(src[1], total, total);
    pid_t d = drainer(dst[1], total);
    cr_assert_eq(mtlb_splice_start(&T.s, T.io, &T.pipes, src[0], dst[0], total, 0, &ops, &T), 0);
    cr_assert_not(T.done, "done from inside start");
    run_until_done();
    cr_assert_eq(T.res, 0);
    cr_assert_eq(T.moved, total);
    cr_assert_gt(T.waits_in, 0);
    cr_assert_gt(T.waits_out, 0);
    cr_assert_eq(T.pipes.n, 1, "an empty pipe goes back to the pool");
    finish_relay(src[0], dst[0], f, d);
}

/* TCP's memory pressure shrinks a send buffer the application did not set, down to 4,608
 * bytes; with nothing in flight a kTLS socket then never became writable again (kTLS VM). Here
 * the test shrinks it by hand while the peer does not read: at an EAGAIN with every queued byte
 * unsent, the relay sets it again (sndbuf_unstick) and the body still arrives whole. */
RELAY_TEST(a_send_buffer_shrunk_with_nothing_in_flight_is_set_again)
{
    setup(*b);
    int src[2], dst[2];
    size_t total = 4u << 20;
    pair(src);
    tcp_pair(dst);
    pid_t f = feeder(src[1], total, total);
    pid_t d = drainer_after(dst[1], total, 500 * 1000);
    cr_assert_eq(mtlb_splice_start(&T.s, T.io, &T.pipes, src[0], dst[0], total, 0, &ops, &T), 0);
    int tiny = 2304, now = 0; /* the kernel keeps twice that: its minimum, 4,608 */
    socklen_t len = sizeof(now);
    cr_assert_eq(setsockopt(dst[0], SOL_SOCKET, SO_SNDBUF, &tiny, sizeof(tiny)), 0);
    run_until_done();
    cr_assert_eq(T.res, 0);
    cr_assert_eq(T.moved, total);
    cr_assert_eq(getsockopt(dst[0], SOL_SOCKET, SO_SNDBUF, &now, &len), 0);
    cr_assert_geq(now, MTLB_SPLICE_SNDBUF, "send buffer %d after the relay, want it set again",
                  now);
    finish_relay(src[0], dst[0], f, d);
}

RELAY_TEST(a_source_ending_early_is_reported_on_the_in_side)
{
    setup(*b);
    int src[2], dst[2];
    pair(src);
    pair(dst);
    pid_t f = feeder(src[1], 1u << 20, 300000);
    pid_t d = drainer(dst[1], 300000);
    cr_assert_eq(mtlb_splice_start(&T.s, T.io, &T.pipes, src[0], dst[0], 1u << 20, 0, &ops, &T), 0);
    run_until_done();
    cr_assert_eq(T.res, -EPIPE);
    cr_assert(T.in_side);
    cr_assert_eq(T.moved, 300000);
    finish_relay(src[0], dst[0], f, d);
}

RELAY_TEST(a_gone_destination_is_reported_on_the_out_side)
{
    setup(*b);
    int src[2], dst[2];
    pair(src);
    pair(dst);
    close(dst[1]);
    pid_t f = feeder(src[1], 1u << 20, 1u << 20);
    cr_assert_eq(mtlb_splice_start(&T.s, T.io, &T.pipes, src[0], dst[0], 1u << 20, 0, &ops, &T), 0);
    run_until_done();
    cr_assert_lt(T.res, 0);
    cr_assert_not(T.in_side);
    cr_assert_eq(T.pipes.n, 0, "a pipe with bytes left in it is not pooled");
    close(src[0]); /* the feeder may be blocked in send */
    close(dst[0]);
    cr_assert_eq(child_status(f), 0);
    mtlb_io_destroy(T.io);
}

RELAY_TEST(stop_while_waiting_ends_with_ecanceled)
{
    setup(*b);
    int src[2], dst[2];
    pair(src);
    pair(dst);
    cr_assert_eq(mtlb_splice_start(&T.s, T.io, &T.pipes, src[0], dst[0], 1u << 20, 0, &ops, &T), 0);
    /* Nothing arrives: the relay polls the source. The owner stops it and shuts it down. */
    mtlb_splice_stop(&T.s);
    shutdown(src[0], SHUT_RDWR);
    run_until_done();
    cr_assert_eq(T.res, -ECANCELED);
    cr_assert_eq(T.moved, 0);
    for (int i = 0; i < 2; i++) {
        close(src[i]);
        close(dst[i]);
    }
    mtlb_splice_pipes_fini(&T.pipes);
    mtlb_io_destroy(T.io);
}

/* ---- MTLB_SPLICE_FILL (the request body relay) ---- */

/* With fill, every splice in asks for at most what the body still lacks: the bytes behind
 * it (a pipelined next request) stay in the source socket, in order. */
RELAY_TEST(fill_takes_exactly_the_body_and_leaves_what_follows)
{
    setup(*b);
    int src[2], dst[2];
    size_t total = 3u << 20, extra = 5000;
    pair(src);
    pair(dst);
    pid_t f = feeder(src[1], total + extra, total + extra);
    pid_t d = drainer(dst[1], total);
    cr_assert_eq(
        mtlb_splice_start(&T.s, T.io, &T.pipes, src[0], dst[0], total, MTLB_SPLICE_FILL, &ops, &T),
        0);
    run_until_done();
    cr_assert_eq(T.res, 0);
    cr_assert_eq(T.moved, total);
    cr_assert_eq(child_status(f), 0); /* it sent everything: the rest is queued in src[0] */
    char buf[8192];
    size_t got = 0;
    ssize_t r;
    while ((r = recv(src[0], buf, sizeof(buf), 0)) > 0) {
        for (ssize_t i = 0; i < r; i++) {
            cr_assert_eq(buf[i], (char)('a' + (total + got + (size_t)i) % 26), "byte %zu",
                         got + (size_t)i);
        }
        got += (size_t)r;
    }
    cr_assert_eq(got, extra, "%zu bytes left behind the body, want %zu", got, extra);
    close(dst[0]);
    cr_assert_eq(child_status(d), 0, "the receiver saw other bytes");
    close(src[0]);
    mtlb_splice_pipes_fini(&T.pipes);
    mtlb_io_destroy(T.io);
}

/* Sends pattern bytes [off, off + n) on fd in full, from this process or (by_child) from a
 * child: a receiver with SO_PASSCRED never hands bytes of two writers over in one read, so
 * each piece comes out of the socket by its own splice, as a record from a kTLS socket. */
static void send_piece(int fd, size_t off, size_t n, bool by_child)
{
    char buf[16384];
    cr_assert_leq(n, sizeof(buf));
    for (size_t i = 0; i < n; i++) {
        buf[i] = (char)('a' + (off + i) % 26);
    }
    pid_t pid = by_child ? fork() : 0;
    cr_assert_neq(pid, -1);
    if (by_child && pid > 0) {
        cr_assert_eq(child_status(pid), 0, "piece at %zu not sent whole", off);
        return;
    }
    ssize_t w = send(fd, buf, n, 0);
    if (by_child) {
        _exit(w == (ssize_t)n ? 0 : 1);
    }
    cr_assert_eq(w, (ssize_t)n, "piece at %zu not sent whole", off);
}

/* Eight 16 KiB pieces queued, each handed over by its own splice (send_piece), and a body that
 * ends 5,000 bytes into the last: with fill the relay takes them all in one round (one splice
 * out; one splice in per round, the response relay's way, takes eight), and the last splice in
 * asks for just the body's rest, so those 5,000 bytes stay in the socket. */
RELAY_TEST(fill_takes_every_queued_piece_in_one_round_and_no_more)
{
    setup(*b);
    int src[2], dst[2], one = 1;
    const size_t piece = 16384, pieces = 8, extra = 5000, total = piece * pieces - extra;
    pair(src);
    pair(dst);
    cr_assert_eq(setsockopt(src[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);
    for (size_t i = 0; i < pieces; i++) {
        send_piece(src[1], i * piece, piece, i % 2 == 1);
    }
    pid_t d = drainer(dst[1], total);
    cr_assert_eq(
        mtlb_splice_start(&T.s, T.io, &T.pipes, src[0], dst[0], total, MTLB_SPLICE_FILL, &ops, &T),
        0);
    cr_assert_geq(T.s.pipe_cap, total, "pipe of %u bytes (fs.pipe-max-size lowered?)",
                  T.s.pipe_cap);
    run_until_done();
    cr_assert_eq(T.res, 0);
    cr_assert_eq(T.moved, total);
    cr_assert_eq(T.rounds, 1, "%d rounds for a body that was all queued", T.rounds);
    char buf[8192];
    ssize_t r = recv(src[0], buf, sizeof(buf), 0);
    cr_assert_eq(r, (ssize_t)extra, "%zd bytes left behind the body, want %zu", r, extra);
    for (size_t i = 0; i < extra; i++) {
        cr_assert_eq(buf[i], (char)('a' + (total + i) % 26), "byte %zu after the body", i);
    }
    close(dst[0]);
    cr_assert_eq(child_status(d), 0, "the receiver saw other bytes");
    for (int i = 0; i < 2; i++) {
        close(src[i]);
    }
    mtlb_splice_pipes_fini(&T.pipes);
    mtlb_io_destroy(T.io);
}
