/* Integration: what a new TLS 1.3 connection costs mtlb. Session tickets are sent only once
 * the client uses the connection (its first bytes after the handshake), never to a client that
 * leaves right after its Finished; listeners[].tls.tickets says how many (0 to 4, default 2),
 * and a client that makes one request and reconnects still resumes, over HTTP/1.1 and
 * HTTP/2. */
#include "harness.h"

#include <criterion/criterion.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REQUEST "GET /hscost HTTP/1.1\r\nHost: localhost\r\n\r\n"

static struct it_env env;
static int tickets_seen; /* NewSessionTickets the client processed (new-session callback) */

static void setup(void)
{
    it_env_init(&env);
    tickets_seen = 0;
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(hscost, .init = setup, .fini = teardown, .timeout = 60);

static void start(const char *listener_tls)
{
    struct it_config cfg = {.n_servers = 1, .listener_tls = listener_tls};
    cfg.servers[0] = it_echo_start(&env, "b1");
    it_mtlb_start(&env, &cfg);
}

static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    (void)ssl;
    (void)sess;
    tickets_seen++;
    return 0; /* not kept: OpenSSL frees it */
}

/* A TLS 1.3 client with the good certificate whose tickets are counted from now on (they are
 * processed by the reads that follow; the handshake itself has returned before any). */
static struct it_conn *connect13(void)
{
    struct it_tls_opts o = {
        .cert = "client/good.crt", .key = "client/good.key", .version = TLS1_3_VERSION};
    char err[256];
    struct it_conn *c = it_tls_connect(env.port, &o, err, sizeof(err));
    cr_assert_not_null(c, "handshake: %s", err);
    SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(c->ctx, on_new_session);
    it_conn_timeout(c, 5000);
    return c;
}

/* One request on c; its response must come. */
static void request(struct it_conn *c)
{
    struct it_response r;
    cr_assert_eq(it_conn_sends(c, REQUEST), 0);
    cr_assert_eq(it_read_response(c, &r, false), 0, "no response: %s", c->err);
    cr_assert_eq(r.status, 200);
    it_response_fini(&r);
}

/* Full handshake with one request, then a resumption attempt. Returns whether it resumed. */
static bool resumes(int version)
{
    struct it_tls_opts o = {
        .cert = "client/good.crt", .key = "client/good.key", .version = version};
    struct it_exchange first, again;
    it_tls_exchange(env.port, &o, REQUEST, &first);
    cr_assert_eq(first.outcome, IT_OK, "first exchange: %s", first.detail);
    o.session = first.session;
    it_tls_exchange(env.port, &o, REQUEST, &again);
    cr_assert_eq(again.outcome, IT_OK, "second exchange: %s", again.detail);
    bool reused = again.reused;
    it_exchange_fini(&again);
    it_exchange_fini(&first);
    return reused;
}

Test(hscost, tickets_wait_for_the_first_request)
{
    start(NULL);
    struct it_conn *c = connect13();
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int ready = poll(&p, 1, 300);
    cr_assert_eq(ready, 0, "the server sent something before the client's first request");
    request(c);
    cr_assert_eq(tickets_seen, 2, "tickets with the first response: %d, expected the default 2",
                 tickets_seen);
    request(c); /* only once per connection */
    cr_assert_eq(tickets_seen, 2, "tickets after a second request: %d", tickets_seen);
    it_conn_close(c);
    cr_assert(resumes(TLS1_3_VERSION), "a deferred ticket did not resume");
}

Test(hscost, client_leaving_after_handshake_gets_no_ticket)
{
    start(NULL);
    for (int i = 0; i < 5; i++) {
        struct it_conn *c = connect13();
        /* gone right after its Finished (a FIN, no close_notify), as scanners and probes go;
         * the read side stays open to see whatever the server still sends */
        cr_assert_eq(shutdown(c->fd, SHUT_WR), 0);
        char buf[256];
        int n = SSL_read(c->ssl, buf, sizeof(buf));
        cr_assert(n <= 0, "the server answered a client that sent nothing");
        cr_assert_eq(tickets_seen, 0, "connection %d: %d tickets to a client that left", i,
                     tickets_seen);
        it_conn_close(c);
    }
    /* and the listener still serves */
    struct it_conn *c = connect13();
    request(c);
    cr_assert_eq(tickets_seen, 2);
    it_conn_close(c);
}

Test(hscost, one_ticket_with_tickets_1)
{
    start("tickets: 1");
    struct it_conn *c = connect13();
    request(c);
    cr_assert_eq(tickets_seen, 1, "tickets: 1 sent %d", tickets_seen);
    it_conn_close(c);
    cr_assert(resumes(TLS1_3_VERSION), "tickets: 1 did not resume over TLS 1.3");
    cr_assert(resumes(TLS1_2_VERSION), "tickets: 1 did not resume over TLS 1.2");
}

Test(hscost, no_ticket_and_no_tls13_resumption_with_tickets_0)
{
    start("tickets: 0");
    struct it_conn *c = connect13();
    request(c);
    request(c);
    cr_assert_eq(tickets_seen, 0, "tickets: 0 sent %d", tickets_seen);
    it_conn_close(c);
    cr_assert_not(resumes(TLS1_3_VERSION), "tickets: 0 still resumed over TLS 1.3");
}

/* h2c over HTTP/2 with a session file: one stream, then reports resumed=0/1. */
static char *h2c(const char *session)
{
    char port[8], *out = NULL, *err = NULL;
    snprintf(port, sizeof(port), "%u", env.port);
    char *argv[] = {getenv("MTLB_H2C"),
                    "--port",
                    port,
                    "--cert",
                    (char *)it_pki("client/good.crt"),
                    "--key",
                    (char *)it_pki("client/good.key"),
                    "--session",
                    (char *)session,
                    "--stream",
                    "path=/hscost-h2",
                    NULL};
    cr_assert_not_null(argv[0], "MTLB_H2C is not set (run via meson)");
    it_run(&env, argv, &out, &err, 10000);
    cr_assert(out != NULL && err != NULL);
    free(err);
    return out;
}

static void h2_resumption(const char *tickets, const char *second)
{
    char session[320];
    start(tickets);
    snprintf(session, sizeof(session), "%s/h2-session.pem", env.dir);
    char *out = h2c(session);
    cr_assert(strstr(out, " resumed=0\n") && strstr(out, " status=200"), "first:\n%s", out);
    free(out);
    out = h2c(session);
    cr_assert(strstr(out, second) && strstr(out, " status=200"), "second, expected%s:\n%s", second,
              out);
    free(out);
}

Test(hscost, http2_deferred_ticket_resumes)
{
    h2_resumption("tickets: 1", " resumed=1\n");
}

Test(hscost, http2_tickets_0_does_not_resume)
{
    h2_resumption("tickets: 0", " resumed=0\n");
}

Test(hscost, tickets_out_of_range_is_refused)
{
    struct it_config cfg = {.n_servers = 1, .listener_tls = "tickets: 4"};
    cfg.servers[0] = it_echo_start(&env, "b1");
    struct it_run_result r = it_mtlb_check(&env, &cfg);
    cr_assert_eq(r.rc, 0, "tickets: 4 was refused:\n%s", r.err);
    it_run_result_fini(&r);
    cfg.listener_tls = "tickets: 5";
    r = it_mtlb_check(&env, &cfg);
    cr_assert_neq(r.rc, 0, "tickets: 5 was accepted");
    cr_assert(strstr(r.err, "tickets") != NULL, "the error does not name the key:\n%s", r.err);
    it_run_result_fini(&r);
}
