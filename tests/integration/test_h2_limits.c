/* Integration: HTTP/2 on the client side, part 2 (part 1: test_h2.c). A backend failure stays
 * on its stream (502/503/504, early answers, stalled uploads), 421 by :authority, SETTINGS and
 * header-list limits, GOAWAY on SIGTERM and when idle, and the rapid-reset defence. */
#include "h2_util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(h2_limits, .init = setup, .fini = teardown, .timeout = 240);

/* ---- backend failures stay on their stream ---- */

Test(h2_limits, backend_failure_affects_only_its_stream)
{
    struct it_config cfg = {0};
    start_cfg(&cfg);
    struct h2_out o;
    h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--stream", "path=/drop",
            "--stream", "path=/garbage", "--stream", "path=/sleep/300", "--stream",
            "path=/size/100000", "--stream", "path=/size/10,after", NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    struct h2s s;
    get_stream(&o, "/drop", 0, &s);
    cr_assert_eq(s.status, 502, "/drop: %d\n%s", s.status, o.out);
    get_stream(&o, "/garbage", 0, &s);
    cr_assert_eq(s.status, 502, "/garbage: %d\n%s", s.status, o.out);
    get_stream(&o, "/sleep/300", 0, &s);
    cr_assert_eq(s.status, 200, "%s", o.out);
    expect_ok(&o, "/size/100000", 100000);
    expect_ok(&o, "/size/10", 10);
    cr_assert_null(strstr(o.out, "goaway last_stream_id"), "%s", o.out);
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

Test(h2_limits, backend_timeout_is_504_on_its_stream)
{
    struct it_config cfg = {0}; /* backend_response: 1s */
    start_cfg(&cfg);
    struct h2_out o;
    h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--stream", "path=/sleep/3000",
            "--stream", "path=/size/1000", "--stream", "path=/size/2000,after", NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    struct h2s s;
    get_stream(&o, "/sleep/3000", 0, &s);
    cr_assert_eq(s.status, 504, "/sleep/3000: %d\n%s", s.status, o.out);
    expect_ok(&o, "/size/1000", 1000);
    expect_ok(&o, "/size/2000", 2000);
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

Test(h2_limits, no_backend_available_is_503_per_stream)
{
    struct it_config cfg = {.n_servers = 1};
    cfg.servers[0] = it_free_port(); /* nobody listens there */
    start_cfg(&cfg);
    struct h2_out o;
    h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--stream", "path=/a,n=3",
            "--stream", "path=/b,after", NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    for (size_t i = 0; i < 3; i++) {
        struct h2s s;
        get_stream(&o, "/a", i, &s);
        cr_assert_eq(s.status, 503, "%s", o.out);
    }
    struct h2s s;
    get_stream(&o, "/b", 0, &s);
    cr_assert_eq(s.status, 503, "the connection must carry on after 503s:\n%s", o.out);
    cr_assert_null(strstr(o.out, "goaway last_stream_id"), "%s", o.out);
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

/* An answer before the request body is complete (here 503: nobody listens) is followed by
 * RST_STREAM(NO_ERROR), so the client stops uploading and the stream does not linger
 * half-open (RFC 9113 section 8.1). Only the stream's first window was taken. */
Test(h2_limits, early_answer_stops_the_upload)
{
    struct it_config cfg = {.n_servers = 1};
    cfg.servers[0] = it_free_port();
    start_cfg(&cfg);
    struct h2_out o;
    h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--stream",
            "path=/up,body=3000000", "--stream", "path=/next,after", NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    struct h2s s;
    get_stream(&o, "/up", 0, &s);
    cr_assert_eq(s.status, 503, "%s", o.out);
    cr_assert_str_eq(s.reset, "NO_ERROR/peer", "%s", o.out);
    cr_assert(s.sent <= 65535, "the client sent %llu bytes past its window", s.sent);
    get_stream(&o, "/next", 0, &s);
    cr_assert_eq(s.status, 503, "the connection must carry on:\n%s", o.out);
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

/* A stream whose client stops sending its body is answered 408 after client_body, alone:
 * the other streams of the connection carry on. */
Test(h2_limits, stalled_upload_times_out_on_its_stream)
{
    struct it_config cfg = {.timeouts = "{handshake: 2s, client_header: 2s, client_body: 1s, "
                                        "client_idle: 10s, backend_connect: 1s, "
                                        "backend_response: 5s, backend_idle: 10s, drain: 2s}"};
    start_cfg(&cfg);
    struct h2_out o;
    double t0 = it_now();
    h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--stream",
            "path=/stall,body=100000,stall-send=5000", "--stream", "path=/sleep/1500", NULL);
    double took = it_now() - t0;
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    struct h2s s;
    get_stream(&o, "/stall", 0, &s);
    cr_assert_eq(s.status, 408, "%s", o.out);
    cr_assert_str_eq(s.reset, "NO_ERROR/peer", "%s", o.out);
    get_stream(&o, "/sleep/1500", 0, &s);
    cr_assert_eq(s.status, 200, "%s", o.out);
    cr_assert(took < 8, "took %.1f s", took);
    cr_assert(it_count_lines(env.err_log,
                             (const char *const[]){"event=client_timeout", "stream=1", NULL}) >= 1,
              "no client_timeout log line for the stream");
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

/* ---- 421 ---- */

/* A connection verified under other.example.com's truststore must not carry a stream for
 * api.example.com, whose truststore would have refused that certificate. */
Test(h2_limits, authority_of_a_differently_verified_domain_is_misdirected)
{
    start_two_domains("mandatory");
    struct h2_out o;
    h2c_run(&o, 10000, "--print-body", "--sni", "other.example.com", "--cert",
            (char *)it_pki("client/other-chain.pem"), "--key", (char *)it_pki("client/other.key"),
            "--stream", "path=/mis,authority=api.example.com", "--stream",
            "path=/mis2,authority=localhost:8443", "--stream",
            "path=/same,authority=other.example.com", "--stream",
            "path=/same2,authority=other.example.com:8443", NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    static const struct {
        const char *path;
        int status;
    } want[] = {{"/mis", 421}, {"/mis2", 421}, {"/same", 200}, {"/same2", 200}};
    for (size_t i = 0; i < 4; i++) {
        struct h2s s;
        get_stream(&o, want[i].path, 0, &s);
        cr_assert_eq(s.status, want[i].status, "%s: %d, want %d\n%s", want[i].path, s.status,
                     want[i].status, o.out);
        char *b = h2_body(o.out, s.id);
        if (want[i].status == 421) {
            cr_assert_null(strstr(b, "X-SSL-Client-DN"),
                           "a misdirected stream reached the "
                           "backend:\n%s",
                           b);
        } else {
            assert_header(b, "X-SSL-Client-Verify", "SUCCESS");
        }
        free(b);
    }
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

/* ---- limits ---- */

static const char *settings_line(const char *out)
{
    const char *s = strstr(out, "settings ");
    cr_assert_not_null(s, "no SETTINGS from the server:\n%s", out);
    return s;
}

Test(h2_limits, advertises_max_concurrent_streams)
{
    struct it_config cfg = {0};
    start_cfg(&cfg);
    struct h2_out o;
    h2c_run(&o, 5000, "--cert", good_cert(), "--key", good_key(), NULL);
    cr_assert_eq(o.rc, 0, "%s", o.out);
    const char *s = settings_line(o.out);
    cr_assert(strstr(s, " max_concurrent_streams=100") != NULL &&
                  strstr(s, " max_concurrent_streams=100") < strchr(s, '\n'),
              "default must be 100:\n%s", o.out);
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

Test(h2_limits, configured_max_concurrent_streams_is_honoured)
{
    struct it_config cfg = {.limits = "{max_header_bytes: 16384, max_headers: 100, "
                                      "h2_max_concurrent_streams: 7}"};
    start_cfg(&cfg);
    struct h2_out o;
    h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--stream",
            "path=/size/3000,n=40", NULL);
    cr_assert_eq(o.rc, 0, "%s", o.out);
    const char *s = settings_line(o.out);
    cr_assert(strstr(s, " max_concurrent_streams=7") != NULL &&
                  strstr(s, " max_concurrent_streams=7") < strchr(s, '\n'),
              "%s", o.out);
    for (size_t i = 0; i < 40; i++) {
        struct h2s st;
        get_stream(&o, "/size/3000", i, &st);
        cr_assert_eq(st.status, 200, "%s", o.out);
        cr_assert_eq(st.bytes, 3000);
    }
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

/* A header list over limits.max_header_bytes never reaches the backend: 431, a stream reset or
 * a GOAWAY; mtlb lives on and a header list under the limit passes. */
Test(h2_limits, header_list_too_large_is_refused)
{
    struct it_config cfg = {.limits = H2_LIMITS};
    start_cfg(&cfg);
    struct h2_out o;
    h2c_run(&o, 5000, "--print-body", "--cert", good_cert(), "--key", good_key(), "--stream",
            "path=/big,big-header=20000", NULL);
    struct h2s s;
    /* Refused like an HTTP/1.1 head that is too large: 431 on that stream only. */
    bool have = h2_stream(o.out, "/big", 0, &s);
    cr_assert(have && s.status == 431, "an oversized header list was not answered 431:\n%s%s",
              o.out, o.err);
    cr_assert_null(strstr(o.out, "goaway "), "the connection must survive:\n%s", o.out);
    cr_assert_null(strstr(o.out, "x-big: xxx"), "the header reached the backend");
    h2_out_fini(&o);
    it_mtlb_assert_alive(&env);
    h2c_run(&o, 5000, "--print-body", "--cert", good_cert(), "--key", good_key(), "--stream",
            "path=/medium,big-header=8000", NULL);
    cr_assert_eq(o.rc, 0, "%s", o.out);
    get_stream(&o, "/medium", 0, &s);
    cr_assert_eq(s.status, 200, "a header list under the limit: %d\n%s", s.status, o.out);
    char *b = h2_body(o.out, s.id);
    char v[9000];
    cr_assert(it_header_get(b, "x-big", v, sizeof(v)) && strlen(v) == 8000, "%.300s", b);
    free(b);
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

/* ---- connection lifetime ---- */

/* h2c in the background, stdout to a file; returns its pid. */
static pid_t h2c_spawn(const char *out_path, char *const extra[])
{
    char *argv[32];
    size_t n = 0;
    static char port[16];
    snprintf(port, sizeof(port), "%u", env.port);
    argv[n++] = getenv("MTLB_H2C");
    argv[n++] = "--port";
    argv[n++] = port;
    for (size_t i = 0; extra[i] != NULL && n < 31; i++) {
        argv[n++] = extra[i];
    }
    argv[n] = NULL;
    pid_t pid = fork();
    cr_assert(pid != -1);
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd == -1 || dup2(fd, 1) == -1 || dup2(fd, 2) == -1) {
            _exit(126);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static int h2c_reap(pid_t pid, int timeout_ms)
{
    double deadline = it_now() + timeout_ms / 1000.0;
    int st;
    while (it_now() < deadline) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    cr_assert_fail("h2c did not finish within %d ms", timeout_ms);
    return -1;
}

Test(h2_limits, sigterm_sends_goaway_and_finishes_streams)
{
    struct it_config cfg = {.timeouts = "{handshake: 2s, client_header: 2s, client_body: 2s, "
                                        "client_idle: 5s, backend_connect: 1s, "
                                        "backend_response: 5s, backend_idle: 5s, drain: 5s}"};
    start_cfg(&cfg);
    char out_path[320];
    snprintf(out_path, sizeof(out_path), "%s/h2c-term.out", env.dir);
    char *args[] = {"--cert",   good_cert(),        "--key", good_key(), "--timeout", "10000",
                    "--stream", "path=/sleep/1500", NULL};
    pid_t pid = h2c_spawn(out_path, args);
    const char *opened[] = {"open 1 ", NULL};
    cr_assert_eq(it_wait_lines(out_path, opened, 1, 3000), 1, "h2c did not open its stream");
    usleep(300 * 1000); /* the request is at the backend, which sleeps */
    double t0 = it_now();
    kill(env.mtlb, SIGTERM);
    int rc = h2c_reap(pid, 10000);
    char *out = it_read_file(out_path, NULL);
    cr_assert_eq(rc, 0, "h2c exit %d:\n%s", rc, out);
    cr_assert(strstr(out, "goaway last_stream_id=") != NULL, "no GOAWAY:\n%s", out);
    cr_assert(strstr(out, "error=NO_ERROR") != NULL, "%s", out);
    struct h2s s;
    cr_assert(h2_stream(out, "/sleep/1500", 0, &s), "%s", out);
    cr_assert_eq(s.status, 200, "the in-flight stream must complete:\n%s", out);
    cr_assert_str_eq(s.reset, "-", "%s", out);
    free(out);
    it_mtlb_wait(&env, 6000);
    cr_assert(it_now() - t0 < 6.0);
}

Test(h2_limits, idle_connection_gets_goaway_then_close)
{
    struct it_config cfg = {.timeouts = "{handshake: 2s, client_header: 2s, client_body: 2s, "
                                        "client_idle: 1s, backend_connect: 1s, "
                                        "backend_response: 1s, backend_idle: 5s, drain: 2s}"};
    start_cfg(&cfg);
    struct h2_out o;
    double t0 = it_now();
    h2c_run(&o, 8000, "--cert", good_cert(), "--key", good_key(), "--linger", "6000", NULL);
    double took = it_now() - t0;
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    struct h2s s;
    get_stream(&o, "/", 0, &s);
    cr_assert_eq(s.status, 200, "%s", o.out);
    cr_assert(strstr(o.out, "goaway last_stream_id=1 ") != NULL, "no GOAWAY before close:\n%s",
              o.out);
    cr_assert(strstr(o.out, " peer_closed=1 ") != NULL, "mtlb did not close:\n%s", o.out);
    cr_assert(took < 4.5, "closed after %.1f s; client_idle is 1 s", took);
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

/* CVE-2023-44487: streams opened and reset at once, thousands of them. mtlb ends that
 * connection with a GOAWAY carrying an error, stays up, and serves everyone else. */
Test(h2_limits, rapid_reset_is_cut_off)
{
    /* The flood's streams each reached the backend before their reset; on a loaded 2-core
     * machine the single-threaded echo backend may take seconds to get through them, so the
     * requests that prove mtlb still serves get a backend timeout well above that. */
    struct it_config cfg = {.timeouts = "{handshake: 2s, client_header: 2s, client_body: 2s, "
                                        "client_idle: 5s, backend_connect: 1s, "
                                        "backend_response: 15s, backend_idle: 5s, drain: 2s}"};
    start_cfg(&cfg);
    struct h2_out o;
    h2c_run(&o, 15000, "--cert", good_cert(), "--key", good_key(), "--rapid-reset", "20000",
            "--linger", "3000", NULL);
    const char *g = strstr(o.out, "goaway last_stream_id=");
    cr_assert_not_null(g, "no GOAWAY after a rapid reset (h2c exit %d):\n%s%s", o.rc, o.out, o.err);
    cr_assert(strncmp(strstr(g, "error="), "error=NO_ERROR", 14) != 0,
              "GOAWAY without an error code:\n%s", o.out);
    /* ENHANCE_YOUR_CALM from mtlb's own frame budget, or INTERNAL_ERROR from nghttp2's
     * stream-reset limiter, whichever trips first (a slow machine spreads the flood over
     * more than one budget second). */
    cr_assert(strstr(g, "error=ENHANCE_YOUR_CALM") != NULL ||
                  strstr(g, "error=INTERNAL_ERROR") != NULL,
              "%s", o.out);
    cr_assert(strstr(o.out, " peer_closed=1 ") != NULL, "connection not closed:\n%s", o.out);
    h2_out_fini(&o);
    it_mtlb_assert_alive(&env);
    fresh_connection_works();
    char *out = NULL;
    cr_assert_eq(curl_h2("--http1.1", true, "/still-here", &out), 0, "%s", out);
    cr_assert(strncmp(out, "GET /still-here HTTP/1.1\r\n", 26) == 0, "%s", out);
    free(out);
    it_mtlb_stop(&env, 5000);
}

/* Rapid reset as attackers send it: HEADERS + RST_STREAM pairs, 100 to a write (one TLS
 * record). A stream reset in the same read never reaches a backend: without that, each cost a
 * backend connect and a TIME_WAIT port, and under bench/flood the ports ran out and
 * established clients waited seconds. The backend is a sink that never accepts: any
 * connection mtlb made to it is counted. */
Test(h2_limits, rapid_reset_streams_never_reach_a_backend)
{
    struct it_sink sink;
    it_sink_open(&sink);
    struct it_config cfg = {.n_servers = 1,
                            .timeouts = "{handshake: 2s, client_header: 2s, client_body: 2s, "
                                        "client_idle: 5s, backend_connect: 1s, "
                                        "backend_response: 2s, backend_idle: 5s, drain: 2s}"};
    cfg.servers[0] = sink.port;
    start_cfg(&cfg);
    struct h2_out o;
    h2c_run(&o, 15000, "--cert", good_cert(), "--key", good_key(), "--rapid-reset", "3000",
            "--rapid-reset-batch", "100", "--linger", "2000", NULL);
    cr_assert_not_null(strstr(o.out, "goaway last_stream_id="),
                       "no GOAWAY after a rapid reset (h2c exit %d):\n%s%s", o.rc, o.out, o.err);
    cr_assert(strstr(o.out, " peer_closed=1 ") != NULL, "connection not closed:\n%s", o.out);
    h2_out_fini(&o);
    size_t conns = 0;
    it_sink_drain(&sink, 300, &conns);
    cr_assert_eq(conns, 0, "%zu backend connections for streams reset in the same read", conns);
    it_mtlb_assert_alive(&env);
    it_sink_close(&sink);
    it_mtlb_stop(&env, 5000);
}

/* CONTINUATION flood (CVE-2024-27316 and kin): a header block that never ends. mtlb ends the
 * connection after at most 8 frames (or limits.max_header_bytes), long before the client has
 * written its 20 MB, and serves others. The client sees the GOAWAY, or, when the close (with
 * its unread flood) turns into a reset first, a failed write: either way its frames stop
 * being read. Without the limit mtlb would read all 20,000 frames. */
Test(h2_limits, continuation_flood_is_cut_off)
{
    struct it_config cfg = {.limits = H2_LIMITS};
    start_cfg(&cfg);
    struct h2_out o;
    h2c_run(&o, 15000, "--cert", good_cert(), "--key", good_key(), "--continuation-flood", "20000",
            "--linger", "2000", NULL);
    const char *sent = strstr(o.out, "continuation-flood sent=");
    cr_assert_not_null(sent, "%s%s", o.out, o.err);
    cr_assert_lt(atol(sent + 24), 20000, "mtlb read the whole flood:\n%s", o.out);
    const char *g = strstr(o.out, "goaway last_stream_id=");
    if (g != NULL) {
        cr_assert(strncmp(strstr(g, "error="), "error=NO_ERROR", 14) != 0,
                  "GOAWAY without an error code:\n%s", o.out);
    }
    cr_assert(strstr(o.out, " peer_closed=1 ") != NULL, "connection not closed:\n%s", o.out);
    h2_out_fini(&o);
    it_mtlb_assert_alive(&env);
    fresh_connection_works();
    it_mtlb_stop(&env, 5000);
}
