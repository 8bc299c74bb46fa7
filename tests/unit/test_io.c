/* Worker I/O (include/mtlb/io.h) on both backends, io_uring and its epoll emulation: sends and
 * receives over socketpairs and loopback TCP, EOF and shutdown, connect, timeouts, cancel, the
 * eventfd read, msghdr ops with control data, many pending ops, and the fallback of io: auto
 * when io_uring_setup is filtered by seccomp. Every op must complete exactly once. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "mtlb/io.h"

#define MAX_UD 4096

/* Each Criterion test runs in its own process, so the state of one test can be a static. */
static struct {
    struct mtlb_io *io;
    uint64_t next_ud;
    int count[MAX_UD];
    int res[MAX_UD];
    struct __kernel_timespec ts[MAX_UD];
} T;

static enum mtlb_io_backend backends[] = {MTLB_IO_URING, MTLB_IO_EPOLL};

#define IO_TEST(name)                                                                              \
    ParameterizedTestParameters(io, name)                                                          \
    {                                                                                              \
        return cr_make_param_array(enum mtlb_io_backend, backends, 2);                             \
    }                                                                                              \
    ParameterizedTest(enum mtlb_io_backend *b, io, name, .timeout = 30)

static void setup(enum mtlb_io_backend b)
{
    memset(&T, 0, sizeof(T));
    T.next_ud = 1;
    int rc = mtlb_io_create(b, 256, &T.io);
    if (b == MTLB_IO_URING && (rc == -EPERM || rc == -ENOSYS)) {
        cr_skip_test("io_uring unavailable here: %s", strerror(-rc));
    }
    cr_assert_eq(rc, 0, "mtlb_io_create(%s): %s", mtlb_io_backend_name(b), strerror(-rc));
    cr_assert_eq(mtlb_io_backend_of(T.io), b);
}

static uint64_t new_ud(void)
{
    cr_assert_lt(T.next_ud, MAX_UD);
    return T.next_ud++;
}

/* One mtlb_io_wait; records its completions and fails on any second completion of an op. */
static void pump(void)
{
    struct mtlb_io_cqe cqes[64];
    int n = mtlb_io_wait(T.io, cqes, 64);
    cr_assert_gt(n, 0, "mtlb_io_wait returned %d", n);
    for (int i = 0; i < n; i++) {
        uint64_t ud = cqes[i].user_data;
        cr_assert(ud > 0 && ud < T.next_ud, "completion for unknown user_data %llu",
                  (unsigned long long)ud);
        T.count[ud]++;
        cr_assert_eq(T.count[ud], 1, "user_data %llu completed twice", (unsigned long long)ud);
        T.res[ud] = cqes[i].res;
    }
}

static int await(uint64_t ud)
{
    while (T.count[ud] == 0) {
        pump();
    }
    return T.res[ud];
}

static uint64_t arm_timeout(long ms)
{
    uint64_t ud = new_ud();
    T.ts[ud].tv_sec = ms / 1000;
    T.ts[ud].tv_nsec = (ms % 1000) * 1000000L;
    mtlb_io_timeout(T.io, &T.ts[ud], ud);
    return ud;
}

/* Lets the backend run for ms (submitting what is queued); returns how many other
 * completions arrived meanwhile. */
static int settle(long ms)
{
    int before = 0, after = 0;
    for (uint64_t i = 1; i < T.next_ud; i++) {
        before += T.count[i];
    }
    uint64_t ud = arm_timeout(ms);
    cr_assert_eq(await(ud), -ETIME);
    for (uint64_t i = 1; i < T.next_ud; i++) {
        after += T.count[i];
    }
    return after - before - 1;
}

/* Every op submitted completed exactly once. */
static void finish(void)
{
    settle(10);
    for (uint64_t i = 1; i < T.next_ud; i++) {
        cr_assert_eq(T.count[i], 1, "user_data %llu completed %d times", (unsigned long long)i,
                     T.count[i]);
    }
    mtlb_io_destroy(T.io);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void unix_pair(int sv[2])
{
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

static int tcp_listener(uint16_t *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_neq(fd, -1);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(fd, 16), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static struct sockaddr_in loopback(uint16_t port)
{
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    return a;
}

/* A connected loopback TCP pair, both ends non-blocking. */
static void tcp_pair(int sv[2])
{
    uint16_t port;
    int l = tcp_listener(&port);
    struct sockaddr_in a = loopback(port);
    sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_eq(connect(sv[0], (struct sockaddr *)&a, sizeof(a)), 0);
    sv[1] = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    cr_assert_neq(sv[1], -1);
    cr_assert_neq(fcntl(sv[0], F_SETFL, O_NONBLOCK), -1);
    close(l);
}

IO_TEST(send_recv_socketpair)
{
    int sv[2];
    char buf[16] = {0};
    setup(*b);
    unix_pair(sv);
    uint64_t r = new_ud(), s = new_ud();
    mtlb_io_recv(T.io, sv[1], buf, sizeof(buf), r);
    mtlb_io_send(T.io, sv[0], "hello", 5, s);
    cr_assert_eq(await(s), 5);
    cr_assert_eq(await(r), 5);
    cr_assert_str_eq(buf, "hello");
    finish();
    close(sv[0]);
    close(sv[1]);
}

/* 1 MiB each way at once; partial sends are resubmitted for the rest. */
IO_TEST(send_recv_tcp)
{
    enum { N = 1 << 20 };
    static unsigned char out[N], in[N];
    int sv[2];
    setup(*b);
    tcp_pair(sv);
    for (size_t i = 0; i < N; i++) {
        out[i] = (unsigned char)(i * 7 + i / 251);
    }
    uint32_t sent = 0, got = 0;
    uint64_t s = new_ud(), r = new_ud();
    mtlb_io_send(T.io, sv[0], out, N, s);
    mtlb_io_recv(T.io, sv[1], in, N, r);
    while (sent < N || got < N) {
        pump();
        if (sent < N && T.count[s]) {
            cr_assert_gt(T.res[s], 0, "send: %d", T.res[s]);
            sent += (uint32_t)T.res[s];
            if (sent < N) {
                s = new_ud();
                mtlb_io_send(T.io, sv[0], out + sent, N - sent, s);
            }
        }
        if (got < N && T.count[r]) {
            cr_assert_gt(T.res[r], 0, "recv: %d", T.res[r]);
            got += (uint32_t)T.res[r];
            if (got < N) {
                r = new_ud();
                mtlb_io_recv(T.io, sv[1], in + got, N - got, r);
            }
        }
    }
    cr_assert_eq(memcmp(in, out, N), 0);
    finish();
    close(sv[0]);
    close(sv[1]);
}

IO_TEST(partial_reads)
{
    int sv[2];
    char buf[8];
    setup(*b);
    unix_pair(sv);
    cr_assert_eq(write(sv[0], "0123456789", 10), 10);
    const int want[] = {4, 4, 2};
    const char *text[] = {"0123", "4567", "89"};
    for (int i = 0; i < 3; i++) {
        uint64_t r = new_ud();
        mtlb_io_recv(T.io, sv[1], buf, 4, r);
        cr_assert_eq(await(r), want[i]);
        cr_assert_eq(memcmp(buf, text[i], (size_t)want[i]), 0);
    }
    finish();
    close(sv[0]);
    close(sv[1]);
}

IO_TEST(eof_after_peer_shutdown)
{
    int sv[2];
    char buf[8];
    setup(*b);
    tcp_pair(sv);
    cr_assert_eq(write(sv[0], "ab", 2), 2);
    cr_assert_eq(shutdown(sv[0], SHUT_WR), 0);
    uint64_t r1 = new_ud();
    mtlb_io_recv(T.io, sv[1], buf, sizeof(buf), r1);
    cr_assert_eq(await(r1), 2);
    uint64_t r2 = new_ud();
    mtlb_io_recv(T.io, sv[1], buf, sizeof(buf), r2);
    cr_assert_eq(await(r2), 0);
    finish();
    close(sv[0]);
    close(sv[1]);
}

IO_TEST(pending_recv_sees_peer_shutdown)
{
    int sv[2];
    char buf[8];
    setup(*b);
    tcp_pair(sv);
    uint64_t r = new_ud();
    mtlb_io_recv(T.io, sv[1], buf, sizeof(buf), r);
    cr_assert_eq(settle(30), 0, "the recv completed with nothing to read");
    cr_assert_eq(shutdown(sv[0], SHUT_WR), 0);
    cr_assert_eq(await(r), 0);
    finish();
    close(sv[0]);
    close(sv[1]);
}

/* How the runtime ends a connection: shutdown of its own fd completes what is in flight. */
IO_TEST(own_shutdown_completes_pending_ops)
{
    int sv[2];
    char buf[8];
    setup(*b);
    tcp_pair(sv);
    uint64_t r = new_ud();
    mtlb_io_recv(T.io, sv[1], buf, sizeof(buf), r);
    cr_assert_eq(settle(30), 0);
    cr_assert_eq(shutdown(sv[1], SHUT_RDWR), 0);
    cr_assert_eq(await(r), 0);
    finish();
    close(sv[0]);
    close(sv[1]);
}

/* A send stuck on a full socket buffer is completed by shutdown of our own fd, as when the
 * runtime aborts a client that stopped reading. */
IO_TEST(own_shutdown_completes_pending_send)
{
    static char junk[65536];
    int sv[2];
    setup(*b);
    tcp_pair(sv);
    while (send(sv[0], junk, sizeof(junk), MSG_DONTWAIT) > 0) {
    }
    cr_assert_eq(errno, EAGAIN);
    uint64_t s = new_ud();
    mtlb_io_send(T.io, sv[0], junk, sizeof(junk), s);
    cr_assert_eq(settle(30), 0, "a send to a full buffer completed: %d", T.res[s]);
    cr_assert_eq(shutdown(sv[0], SHUT_RDWR), 0);
    cr_assert_eq(await(s), -EPIPE);
    finish();
    close(sv[0]);
    close(sv[1]);
}

/* A connect that cannot finish (the listener's accept queue is full, so its SYNs are
 * dropped) is cancelled, as when the runtime gives up on a backend. */
IO_TEST(cancel_pending_connect)
{
    uint16_t port;
    setup(*b);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = loopback(0);
    socklen_t len = sizeof(a);
    cr_assert_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(l, 0), 0);
    cr_assert_eq(getsockname(l, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    a = loopback(port);
    int fill[4], n_fill = 0;
    int fd = -1;
    uint64_t c = 0;
    /* Connect until one stays pending; the first ones fill the accept queue. */
    while (n_fill < 4) {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        c = new_ud();
        mtlb_io_connect(T.io, fd, (struct sockaddr *)&a, sizeof(a), c);
        settle(100);
        if (T.count[c] == 0) {
            break;
        }
        cr_assert_eq(T.res[c], 0, "connect: %d", T.res[c]);
        fill[n_fill++] = fd;
    }
    cr_assert_lt(n_fill, 4, "every connect finished: the accept queue never filled");
    mtlb_io_cancel(T.io, c);
    cr_assert_eq(await(c), -ECANCELED);
    finish();
    close(fd);
    for (int i = 0; i < n_fill; i++) {
        close(fill[i]);
    }
    close(l);
}

IO_TEST(connect_refused)
{
    /* A bound socket that does not listen: its port stays ours and refuses connections. */
    struct sockaddr_in a = loopback(0);
    socklen_t len = sizeof(a);
    setup(*b);
    int hold = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_eq(bind(hold, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(getsockname(hold, (struct sockaddr *)&a, &len), 0);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    uint64_t c = new_ud();
    mtlb_io_connect(T.io, fd, (struct sockaddr *)&a, sizeof(a), c);
    cr_assert_eq(await(c), -ECONNREFUSED, "connect: %d", T.res[c]);
    finish();
    close(fd);
    close(hold);
}

IO_TEST(connect_ok)
{
    uint16_t port;
    char buf[4];
    setup(*b);
    int l = tcp_listener(&port);
    struct sockaddr_in a = loopback(port);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    uint64_t c = new_ud();
    mtlb_io_connect(T.io, fd, (struct sockaddr *)&a, sizeof(a), c);
    cr_assert_eq(await(c), 0);
    int peer = accept(l, NULL, NULL);
    cr_assert_neq(peer, -1);
    cr_assert_eq(write(peer, "ok", 2), 2);
    uint64_t r = new_ud();
    mtlb_io_recv(T.io, fd, buf, sizeof(buf), r);
    cr_assert_eq(await(r), 2);
    finish();
    close(peer);
    close(fd);
    close(l);
}

IO_TEST(timeout_fires)
{
    setup(*b);
    int64_t t0 = now_ms();
    uint64_t t = arm_timeout(120);
    cr_assert_eq(await(t), -ETIME);
    int64_t dt = now_ms() - t0;
    cr_assert_geq(dt, 119, "fired after %lld ms", (long long)dt);
    cr_assert_lt(dt, 2000, "fired after %lld ms", (long long)dt);
    /* The earlier of two timeouts fires first. */
    uint64_t late = arm_timeout(300), early = arm_timeout(40);
    await(early);
    cr_assert_eq(T.count[late], 0);
    cr_assert_eq(await(late), -ETIME);
    finish();
}

IO_TEST(cancel)
{
    int sv[2];
    char buf[8];
    setup(*b);
    unix_pair(sv);
    uint64_t r = new_ud();
    mtlb_io_recv(T.io, sv[1], buf, sizeof(buf), r);
    cr_assert_eq(settle(30), 0);
    mtlb_io_cancel(T.io, r);
    mtlb_io_cancel(T.io, 3000); /* nothing has it: no completion */
    cr_assert_eq(await(r), -ECANCELED);
    /* Data that arrives afterwards is not consumed by the cancelled op. */
    cr_assert_eq(write(sv[0], "xy", 2), 2);
    cr_assert_eq(settle(30), 0);
    uint64_t r2 = new_ud();
    mtlb_io_recv(T.io, sv[1], buf, sizeof(buf), r2);
    cr_assert_eq(await(r2), 2);
    /* A pending timeout can be cancelled too. */
    uint64_t t = arm_timeout(10000);
    cr_assert_eq(settle(10), 0);
    mtlb_io_cancel(T.io, t);
    cr_assert_eq(await(t), -ECANCELED);
    finish();
    close(sv[0]);
    close(sv[1]);
}

IO_TEST(eventfd_read)
{
    uint64_t val = 0, three = 3;
    setup(*b);
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    uint64_t r = new_ud();
    mtlb_io_read(T.io, efd, &val, sizeof(val), r);
    cr_assert_eq(settle(30), 0, "read of an empty eventfd completed");
    cr_assert_eq(write(efd, &three, sizeof(three)), 8);
    cr_assert_eq(await(r), 8);
    cr_assert_eq(val, 3);
    finish();
    close(efd);
}

IO_TEST(sendmsg_two_iovecs)
{
    int sv[2];
    char buf[16] = {0};
    setup(*b);
    tcp_pair(sv);
    struct iovec iov[2] = {{.iov_base = "abc", .iov_len = 3}, {.iov_base = "defg", .iov_len = 4}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    uint64_t s = new_ud();
    mtlb_io_sendmsg(T.io, sv[0], &msg, s);
    cr_assert_eq(await(s), 7);
    size_t got = 0;
    while (got < 7) {
        uint64_t r = new_ud();
        mtlb_io_recv(T.io, sv[1], buf + got, sizeof(buf) - 1 - got, r);
        cr_assert_gt(await(r), 0);
        got += (size_t)T.res[r];
    }
    cr_assert_str_eq(buf, "abcdefg");
    finish();
    close(sv[0]);
    close(sv[1]);
}

/* Sends "data" with one fd attached as SCM_RIGHTS. */
static void send_with_fd(int sock, int fd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = "data", .iov_len = 4};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = ctl.buf,
                         .msg_controllen = sizeof(ctl.buf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    cr_assert_eq(sendmsg(sock, &msg, 0), 4);
}

/* recvmsg hands back control data, msg_controllen and msg_flags as the kernel sets them,
 * whether the data is already there or arrives while the op is pending. */
IO_TEST(recvmsg_control)
{
    int sv[2], pipefd[2];
    setup(*b);
    unix_pair(sv);
    cr_assert_eq(pipe(pipefd), 0);
    for (int pending = 0; pending < 2; pending++) {
        char data[8] = {0};
        union {
            char buf[CMSG_SPACE(sizeof(int)) + 16];
            struct cmsghdr align;
        } ctl;
        struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = ctl.buf,
                             .msg_controllen = sizeof(ctl.buf),
                             .msg_flags = 0x40000000};
        uint64_t r = new_ud();
        if (!pending) {
            send_with_fd(sv[0], pipefd[1]);
        }
        mtlb_io_recvmsg(T.io, sv[1], &msg, r);
        if (pending) {
            cr_assert_eq(settle(30), 0);
            send_with_fd(sv[0], pipefd[1]);
        }
        cr_assert_eq(await(r), 4);
        cr_assert_str_eq(data, "data");
        cr_assert_eq(msg.msg_flags, 0, "msg_flags %#x", (unsigned)msg.msg_flags);
        cr_assert_eq(msg.msg_controllen, CMSG_SPACE(sizeof(int)));
        cr_assert_eq(CMSG_FIRSTHDR(&msg)->cmsg_len, CMSG_LEN(sizeof(int)));
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        cr_assert_not_null(c);
        cr_assert_eq(c->cmsg_type, SCM_RIGHTS);
        int got;
        memcpy(&got, CMSG_DATA(c), sizeof(int));
        cr_assert_eq(write(got, "!", 1), 1, "the passed fd is the pipe's write end");
        close(got);
    }
    /* A control buffer too small for the fd: MSG_CTRUNC comes back in msg_flags. */
    char data[8], small[sizeof(struct cmsghdr)];
    struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = small, .msg_controllen = sizeof(small)};
    send_with_fd(sv[0], pipefd[1]);
    uint64_t r = new_ud();
    mtlb_io_recvmsg(T.io, sv[1], &msg, r);
    cr_assert_eq(await(r), 4);
    cr_assert(msg.msg_flags & MSG_CTRUNC, "msg_flags %#x", (unsigned)msg.msg_flags);
    finish();
    close(sv[0]);
    close(sv[1]);
    close(pipefd[0]);
    close(pipefd[1]);
}

IO_TEST(many_pending_recvs)
{
    enum { N = 1000 };
    static int sv[N][2];
    static char buf[N][4];
    uint64_t ud[N];
    setup(*b);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 2 * N + 64 && rl.rlim_max >= 2 * N + 64) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    cr_assert_geq(rl.rlim_cur, 2 * N + 64, "RLIMIT_NOFILE too low for this test");
    for (int i = 0; i < N; i++) {
        unix_pair(sv[i]);
        ud[i] = new_ud();
        mtlb_io_recv(T.io, sv[i][1], buf[i], sizeof(buf[i]), ud[i]);
    }
    cr_assert_eq(settle(50), 0, "a recv completed with nothing to read");
    /* Wake them in an order unrelated to submission, cancel every tenth instead. */
    for (int k = 0; k < N; k++) {
        int i = (k * 7) % N;
        if (i % 10 == 0) {
            mtlb_io_cancel(T.io, ud[i]);
        } else {
            char c = (char)('a' + i % 26);
            cr_assert_eq(write(sv[i][0], &c, 1), 1);
        }
    }
    for (int i = 0; i < N; i++) {
        int res = await(ud[i]);
        if (i % 10 == 0) {
            cr_assert_eq(res, -ECANCELED, "recv %d: %d", i, res);
        } else {
            cr_assert_eq(res, 1, "recv %d: %d", i, res);
            cr_assert_eq(buf[i][0], 'a' + i % 26);
        }
    }
    finish();
    for (int i = 0; i < N; i++) {
        close(sv[i][0]);
        close(sv[i][1]);
    }
}

/* io: auto runs on epoll where io_uring_setup is refused, as under Docker's default seccomp
 * profile; io: uring refuses instead. The filter only affects this test's process. */
Test(io, auto_falls_back_when_io_uring_is_blocked, .timeout = 30)
{
    struct sock_filter prog[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog fprog = {.len = sizeof(prog) / sizeof(prog[0]), .filter = prog};
    struct mtlb_io *io = NULL;

    cr_assert_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
    cr_assert_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog), 0, "%s", strerror(errno));
    cr_assert_eq(mtlb_io_uring_probe(), -EPERM);
    cr_assert_eq(mtlb_io_create(MTLB_IO_URING, 64, &io), -EPERM);
    cr_assert_eq(mtlb_io_create(MTLB_IO_AUTO, 64, &io), 0);
    cr_assert_eq(mtlb_io_backend_of(io), MTLB_IO_EPOLL);
    cr_assert_str_eq(mtlb_io_backend_name(mtlb_io_backend_of(io)), "epoll");
    /* And it works. */
    int sv[2];
    char buf[4];
    struct mtlb_io_cqe cqe;
    unix_pair(sv);
    mtlb_io_recv(io, sv[1], buf, sizeof(buf), 42);
    cr_assert_eq(write(sv[0], "abc", 3), 3);
    cr_assert_eq(mtlb_io_wait(io, &cqe, 1), 1);
    cr_assert_eq(cqe.user_data, 42);
    cr_assert_eq(cqe.res, 3);
    mtlb_io_destroy(io);
    close(sv[0]);
    close(sv[1]);
}

Test(io, uring_probe_matches_auto)
{
    struct mtlb_io *io = NULL;
    int probe = mtlb_io_uring_probe();
    cr_assert_eq(mtlb_io_create(MTLB_IO_AUTO, 64, &io), 0);
    cr_assert_eq(mtlb_io_backend_of(io), probe == 0 ? MTLB_IO_URING : MTLB_IO_EPOLL);
    mtlb_io_destroy(io);
}
