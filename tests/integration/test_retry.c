/* Integration: when mtlb may send a request again (README "Proxying behaviour"). A backend that
 * reads a request on a kept-alive connection and then dies without answering (mtlb-echo's
 * /drop-reused) cannot be told apart from a stale pooled connection, so only idempotent
 * requests whose body is still held are resent; POST, PATCH and unknown methods get 502 and
 * reach the backend exactly once (counted with mtlb-echo's /received). HTTP/1.1 and HTTP/2. */
#include "h2_util.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct it_tls_opts good = {.cert = "client/good.crt", .key = "client/good.key"};

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(retry, .init = setup, .fini = teardown, .timeout = 90);

/* How many requests the backend has read in full, asked directly (not through mtlb). */
static unsigned long long backend_received(void)
{
    struct it_conn *c = it_tcp_connect(env.echo_port[0]);
    struct it_response r;
    cr_assert_eq(it_conn_sends(c, "GET /received HTTP/1.1\r\nHost: b\r\n\r\n"), 0);
    cr_assert_eq(it_read_response(c, &r, false), 0, "/received: %s", c->err);
    unsigned long long n = strtoull(r.body, NULL, 10);
    it_response_fini(&r);
    it_conn_close(c);
    return n;
}

static void start_one(void)
{
    struct it_config cfg = {0};
    start_cfg(&cfg);
}

/* ---- HTTP/1.1 ---- */

struct h1_case {
    char method[12];
    size_t body;   /* request body bytes, sent with the head */
    int status;    /* what the client gets */
    unsigned seen; /* times the backend read the request */
    bool expect;   /* Expect: 100-continue (the backend answers 100 before reading the body) */
};

static struct h1_case h1_cases[] = {
    /* Not idempotent: never resent once written. */
    {"POST", 13, 502, 1, false},
    {"POST", 0, 502, 1, false},
    {"PATCH", 5, 502, 1, false},
    {"LOCK", 0, 502, 1, false}, /* unknown to the policy: treated as unsafe */
    {"get", 0, 502, 1, false},  /* methods are case-sensitive: "get" is not GET */
    {"PUT", 300000, 502, 1,
     false}, /* body larger than one read: not held whole, cannot be resent */
    /* Idempotent with the whole request held: resent on a fresh connection. */
    {"GET", 0, 200, 2, false},
    {"HEAD", 0, 200, 2, false},
    {"OPTIONS", 0, 200, 2, false},
    {"DELETE", 0, 200, 2, false},
    {"PUT", 11, 200, 2, false},
    /* A 100 Continue is a response byte: the backend has the request, whatever the method. */
    {"PUT", 11, 502, 1, true},
};

ParameterizedTestParameters(retry, h1_dying_backend)
{
    return cr_make_param_array(struct h1_case, h1_cases, sizeof(h1_cases) / sizeof(h1_cases[0]));
}

ParameterizedTest(struct h1_case *k, retry, h1_dying_backend)
{
    start_one();
    char err[256];
    struct it_conn *c = it_tls_connect(env.port, &good, err, sizeof(err));
    cr_assert_not_null(c, "handshake failed: %s", err);
    /* The first request leaves a kept-alive backend connection in the pool. */
    struct it_response r;
    cr_assert_eq(it_conn_sends(c, "GET /warm HTTP/1.1\r\nHost: localhost\r\n\r\n"), 0);
    cr_assert_eq(it_read_response(c, &r, false), 0, "warm-up: %s", c->err);
    cr_assert_eq(r.status, 200);
    it_response_fini(&r);
    unsigned long long n0 = backend_received();

    char *req = malloc(256 + k->body);
    int n = snprintf(req, 256, "%s /drop-reused HTTP/1.1\r\nHost: localhost\r\n", k->method);
    n += k->body || strcmp(k->method, "POST") == 0
             ? snprintf(req + n, 64, "Content-Length: %zu\r\n", k->body)
             : 0;
    n += k->expect ? snprintf(req + n, 32, "Expect: 100-continue\r\n") : 0;
    n += snprintf(req + n, 8, "\r\n");
    memset(req + n, 'x', k->body);
    cr_assert_eq(it_conn_send(c, req, (size_t)n + k->body), 0, "send: %s", c->err);
    free(req);
    cr_assert_eq(it_read_response(c, &r, strcmp(k->method, "HEAD") == 0), 0, "%s: %s", k->method,
                 c->err);
    while (r.status / 100 == 1) { /* mtlb relays the backend's 100 Continue */
        it_response_fini(&r);
        cr_assert_eq(it_read_response(c, &r, false), 0, "%s after 1xx: %s", k->method, c->err);
    }
    cr_assert_eq(r.status, k->status, "%s with %zu body bytes: status %d, expected %d", k->method,
                 k->body, r.status, k->status);
    it_response_fini(&r);
    it_conn_close(c);
    unsigned long long seen = backend_received() - n0;
    cr_assert_eq(seen, k->seen, "%s with %zu body bytes: the backend read it %llu times, not %u",
                 k->method, k->body, seen, k->seen);
    it_mtlb_stop(&env, 5000);
}

/* The backend closed a kept-alive connection while it sat idle in mtlb's pool (as a backend
 * keep-alive timeout does): a POST must not be written to it and then fail with 502, since
 * mtlb could not resend it; mtlb looks before it reuses a connection for such a request. */
Test(retry, h1_post_skips_pooled_connection_closed_by_backend)
{
    start_one();
    char err[256];
    struct it_conn *c = it_tls_connect(env.port, &good, err, sizeof(err));
    cr_assert_not_null(c, "handshake failed: %s", err);
    for (int i = 0; i < 3; i++) {
        struct it_response r;
        cr_assert_eq(it_conn_sends(c, "GET /idle-close HTTP/1.1\r\nHost: localhost\r\n\r\n"), 0);
        cr_assert_eq(it_read_response(c, &r, false), 0, "GET %d: %s", i, c->err);
        cr_assert_eq(r.status, 200);
        it_response_fini(&r);
        usleep(200 * 1000); /* the backend's FIN reaches mtlb */
        cr_assert_eq(it_conn_sends(c, "POST /p HTTP/1.1\r\nHost: localhost\r\n"
                                      "Content-Length: 3\r\n\r\nabc"),
                     0);
        cr_assert_eq(it_read_response(c, &r, false), 0, "POST %d: %s", i, c->err);
        cr_assert_eq(r.status, 200, "POST %d after the backend closed the pooled connection: %d", i,
                     r.status);
        it_response_fini(&r);
    }
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}

/* A refused connect means the backend never saw the request: POST still moves on. */
Test(retry, h1_post_moves_on_after_refused_connect)
{
    struct it_config cfg = {.n_servers = 2};
    cfg.servers[0] = it_free_port();
    cfg.servers[1] = it_echo_start(&env, "b1");
    it_mtlb_start(&env, &cfg);
    for (int i = 0; i < 4; i++) {
        struct it_exchange x;
        it_tls_exchange(env.port, &good,
                        "POST /p HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc", &x);
        cr_assert_eq(x.outcome, IT_OK, "POST %d: %s", i, x.detail);
        cr_assert_eq(x.resp.status, 200, "POST %d with one server refusing: %d", i, x.resp.status);
        it_exchange_fini(&x);
    }
    it_mtlb_stop(&env, 5000);
}

/* ---- HTTP/2 ---- */

struct h2_case {
    char spec[64]; /* h2c stream items after path=/drop-reused */
    int status;
    unsigned seen;
    unsigned body; /* request body bytes (the same as body= in spec) */
};

static struct h2_case h2_cases[] = {
    {"method=POST", 502, 1, 0},
    {"method=POST,body=20", 502, 1, 20},
    {"method=PATCH,body=5", 502, 1, 5},
    {"method=LOCK", 502, 1, 0},
    {"method=get", 502, 1, 0},
    {"method=GET", 200, 2, 0},
    {"method=DELETE", 200, 2, 0},
    {"method=OPTIONS", 200, 2, 0},
    {"method=PUT", 200, 2, 0},
    /* A whole body of up to 4 KiB is kept until the answer starts: resent intact. */
    {"method=PUT,body=11", 200, 2, 11},
    {"method=DELETE,body=4", 200, 2, 4},
    {"method=PUT,body=4096", 200, 2, 4096},
    {"method=PUT,body=4096,no-cl", 200, 2, 4096},
    /* A bigger one goes back to the client's window as it is written: not resent. */
    {"method=PUT,body=4097", 502, 1, 4097},
    {"method=PUT,body=100000", 502, 1, 100000},
};

ParameterizedTestParameters(retry, h2_dying_backend)
{
    return cr_make_param_array(struct h2_case, h2_cases, sizeof(h2_cases) / sizeof(h2_cases[0]));
}

ParameterizedTest(struct h2_case *k, retry, h2_dying_backend)
{
    start_one();
    char spec[128];
    snprintf(spec, sizeof(spec), "path=/drop-reused,%s,after", k->spec);
    struct h2_out o;
    /* /warm leaves a kept-alive backend connection in the pool; the second stream opens
     * once the first has closed, and takes that connection. */
    h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--print-body", "--stream",
            "path=/warm", "--stream", spec, NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    struct h2s s;
    get_stream(&o, "/warm", 0, &s);
    cr_assert_eq(s.status, 200, "%s", o.out);
    get_stream(&o, "/drop-reused", 0, &s);
    cr_assert_eq(s.status, k->status, "%s: status %d, expected %d\n%s", k->spec, s.status,
                 k->status, o.out);
    if (s.status == 200) {
        /* The resent copy carries the whole body. */
        char *echoed = h2_body(o.out, s.id);
        unsigned long long bytes = 0, fnv = 0;
        cr_assert(it_echo_body_stats(echoed, &bytes, &fnv), "%s", echoed);
        cr_assert_eq(bytes, k->body, "%s: the backend got %llu body bytes", k->spec, bytes);
        cr_assert_eq(fnv, pattern_fnv(k->body), "%s: body differs on the resend", k->spec);
        free(echoed);
    }
    h2_out_fini(&o);
    /* warm-up + the request (+ its resend) */
    unsigned long long seen = backend_received() - 1;
    cr_assert_eq(seen, k->seen, "%s: the backend read it %llu times, not %u", k->spec, seen,
                 k->seen);
    it_mtlb_stop(&env, 5000);
}

Test(retry, h2_post_skips_pooled_connection_closed_by_backend)
{
    start_one();
    struct h2_out o;
    /* The POST opens 200 ms after /idle-close closed: the backend's FIN is in by then. */
    h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--stream", "path=/idle-close",
            "--stream", "path=/p,method=POST,body=100,after,delay=200", NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    struct h2s s;
    get_stream(&o, "/idle-close", 0, &s);
    cr_assert_eq(s.status, 200, "%s", o.out);
    get_stream(&o, "/p", 0, &s);
    cr_assert_eq(s.status, 200, "POST after the backend closed the pooled connection: %d\n%s",
                 s.status, o.out);
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}

Test(retry, h2_post_moves_on_after_refused_connect)
{
    struct it_config cfg = {.n_servers = 2};
    cfg.servers[0] = it_free_port();
    cfg.servers[1] = it_echo_start(&env, "b1");
    it_mtlb_start(&env, &cfg);
    struct h2_out o;
    h2c_run(&o, 10000, "--cert", good_cert(), "--key", good_key(), "--stream",
            "path=/p,method=POST,body=1000,n=4", NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    for (size_t i = 0; i < 4; i++) {
        struct h2s s;
        get_stream(&o, "/p", i, &s);
        cr_assert_eq(s.status, 200, "POST %zu with one server refusing: %d\n%s", i, s.status,
                     o.out);
    }
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}
