/* Integration: the admin listener over mutual TLS (issue 11 section 2). A non-loopback bind
 * without TLS is refused by `mtlb -t` and at start with a message that says how to enable it;
 * with certificate, key and client_auth the admin binds 0.0.0.0 (reached here on 127.0.0.1):
 * a client certificate of the admin truststore gets /metrics, no certificate or one of another
 * CA is refused at the handshake (one warn line with the peer), plain HTTP gets no answer, a
 * stalled TLS client neither blocks a good one nor outlives the deadline, and `mtlb health
 * https://...` passes with the client certificate and fails without it. */
#include "h2_util.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(admin_tls, .init = setup, .fini = teardown, .timeout = 60);

static const struct it_tls_opts good = {.cert = "client/good.crt", .key = "client/good.key"};
static uint16_t admin_port;
static char admin_keys[1200];

/* The admin block's TLS keys: the api server certificate, clients of trust/full.pem. */
static const char *admin_tls_keys(const char *truststore)
{
    snprintf(admin_keys, sizeof(admin_keys),
             "certificate: \"%s\", key: \"%s\", client_auth: {truststore: \"%s\"}",
             it_pki("server/api.crt"), it_pki("server/api.key"), it_pki(truststore));
    return admin_keys;
}

/* mtlb with the admin listener on 0.0.0.0 over mutual TLS. */
static void start_tls_admin(void)
{
    struct it_config cfg = {.n_domains = 1};
    admin_port = it_free_port();
    cfg.admin_port = admin_port;
    cfg.admin_host = "0.0.0.0";
    cfg.admin_extra = admin_tls_keys("trust/full.pem");
    start_cfg(&cfg);
}

/* GET path on the admin port over TLS with o's client certificate. */
static void admin_get(const struct it_tls_opts *o, const char *path, struct it_exchange *x)
{
    char req[256];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
    it_tls_exchange(admin_port, o, req, x);
}

static int health(const char *const *args, char **err)
{
    char *out = NULL;
    char *argv[12] = {getenv("MTLB_BIN"), "health"};
    size_t n = 2;
    while (*args != NULL && n < 11) {
        argv[n++] = (char *)*args++;
    }
    argv[n] = NULL;
    int rc = it_run(&env, argv, &out, err, 10000);
    free(out);
    return rc;
}

Test(admin_tls, non_loopback_bind_without_tls_is_refused_by_t_and_at_start)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = 1, .admin_host = "0.0.0.0"};
    cfg.admin_port = it_free_port();
    cfg.servers[0] = 9;
    cr_assert_eq(it_write_config(&env, &cfg), 0);
    for (int start = 0; start < 2; start++) {
        char *out = NULL, *err = NULL;
        char *argv[] = {getenv("MTLB_BIN"), start ? "-c" : "-t", start ? env.config : "-c",
                        start ? NULL : env.config, NULL};
        cr_assert_eq(it_run(&env, argv, &out, &err, 10000), 1, "%s", err);
        cr_assert(strstr(err, "admin.bind: 0.0.0.0 is not a loopback address: plain HTTP binds "
                              "to 127.0.0.0/8 or ::1 only; to bind elsewhere give admin "
                              "certificate, key and client_auth (mutual TLS)") != NULL,
                  "%s", err);
        cr_assert_not(it_port_accepts(cfg.admin_port));
        free(out);
        free(err);
    }
}

Test(admin_tls, t_loads_the_admin_files)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = 1, .admin_host = "0.0.0.0"};
    cfg.admin_port = it_free_port();
    cfg.servers[0] = 9;
    cfg.admin_extra = admin_tls_keys("trust/full.pem");
    struct it_run_result r = it_mtlb_check(&env, &cfg);
    cr_assert_eq(r.rc, 0, "%s", r.err);
    it_run_result_fini(&r);
    /* A truststore entry that is not a certificate: named as a domain's would be. */
    cfg.admin_extra = admin_tls_keys("trust/bad-entry.pem");
    r = it_mtlb_check(&env, &cfg);
    cr_assert_eq(r.rc, 1);
    cr_assert(strstr(r.err, ": admin (admin): truststore: ") != NULL, "%s", r.err);
    cr_assert(strstr(r.err, "bad-entry.pem") != NULL, "%s", r.err);
    it_run_result_fini(&r);
}

Test(admin_tls, client_of_the_truststore_gets_metrics)
{
    start_tls_admin();
    struct it_exchange x;
    admin_get(&good, "/metrics", &x);
    cr_assert_eq(x.outcome, IT_OK, "%s: %s", it_outcome_name(x.outcome), x.detail);
    cr_assert_eq(x.resp.status, 200);
    cr_assert(x.cert_requested);
    cr_assert(x.server_verified);
    cr_assert(strstr(x.resp.body, "mtlb_build_info{") != NULL);
    /* The admin's own certificate and truststore expire too: in the same family, once. */
    const char *fam = "# TYPE mtlb_certificate_not_after_timestamp_seconds gauge\n";
    const char *at = strstr(x.resp.body, fam);
    cr_assert_not_null(at, "%s", x.resp.body);
    cr_assert_null(strstr(at + 1, fam), "the family is declared once");
    const char *srv = strstr(at, "mtlb_certificate_not_after_timestamp_seconds{domain=\"admin\","
                                 "kind=\"server\"");
    const char *ts = strstr(at, "mtlb_certificate_not_after_timestamp_seconds{domain=\"admin\","
                                "kind=\"truststore\"");
    cr_assert(srv != NULL && ts != NULL, "admin certificate series: %s", at);
    for (const char *p = at + strlen(fam); p < srv; p = strchr(p, '\n') + 1) {
        cr_assert(strncmp(p, "mtlb_certificate_not_after_timestamp_seconds{", 45) == 0,
                  "another family between the series: %.80s", p);
    }
    it_exchange_fini(&x);
    admin_get(&good, "/readyz", &x);
    cr_assert_eq(x.outcome, IT_OK, "%s", x.detail);
    cr_assert_eq(x.resp.status, 200, "%s", x.resp.body);
    it_exchange_fini(&x);
    admin_get(&good, "/config", &x);
    cr_assert_eq(x.resp.status, 200, "%s", x.detail);
    cr_assert(strstr(x.resp.body, "admin.client_auth.mode: mandatory\n") != NULL, "%s",
              x.resp.body);
    cr_assert(strstr(x.resp.body, "admin.key: /") != NULL, "the key's path only");
    cr_assert_null(strstr(x.resp.body, "PRIVATE KEY"));
    it_exchange_fini(&x);
}

/* Refused at the handshake, never an HTTP byte; one warn line naming the peer and why. */
static void assert_refused(const struct it_tls_opts *o, const char *event)
{
    struct it_exchange x;
    admin_get(o, "/metrics", &x);
    cr_assert(x.outcome == IT_HANDSHAKE_FAILED || x.outcome == IT_READ_FAILED, "%s: %s",
              it_outcome_name(x.outcome), x.detail);
    cr_assert_null(x.resp.head, "no HTTP answer");
    it_exchange_fini(&x);
    const char *line[] = {"level=warn", event, "peer=127.0.0.1:", "domain=admin", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, line, 1, 3000), 1);
    usleep(200 * 1000);
    const char *any[] = {"level=warn", "peer=127.0.0.1:", NULL};
    cr_assert_eq(it_count_lines(env.err_log, any), 1, "logged once");
    cr_assert(it_port_accepts(admin_port));
}

Test(admin_tls, no_client_certificate_is_refused)
{
    start_tls_admin();
    const struct it_tls_opts none = {0};
    assert_refused(&none, "event=client_cert_missing");
}

Test(admin_tls, certificate_of_another_ca_is_refused)
{
    start_tls_admin();
    const struct it_tls_opts other = {.cert = "client/other.crt", .key = "client/other.key"};
    assert_refused(&other, "event=client_verify_failed");
}

Test(admin_tls, plain_http_gets_no_answer)
{
    start_tls_admin();
    /* A TCP probe first (connect, close, no byte): not worth a warning. */
    struct it_conn *c = it_tcp_connect(admin_port);
    cr_assert_not_null(c);
    it_conn_close(c);
    usleep(100 * 1000);
    c = it_tcp_connect(admin_port);
    cr_assert_not_null(c);
    it_conn_timeout(c, 3000);
    cr_assert_eq(it_conn_sends(c, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), 0);
    char buf[4096];
    size_t got = 0;
    ssize_t n;
    while (got < sizeof(buf) - 1 &&
           (n = it_conn_recv_some(c, buf + got, sizeof(buf) - 1 - got)) > 0) {
        got += (size_t)n;
    }
    buf[got] = '\0';
    cr_assert(n == 0 || c->eof, "closed, not timed out");
    cr_assert_null(strstr(buf, "HTTP/1.1"), "no HTTP answer in %zu bytes", got);
    cr_assert_null(strstr(buf, "mtlb_"), "no metrics");
    it_conn_close(c);
    const char *line[] = {"level=warn", "event=admin_handshake_failed", "peer=127.0.0.1:", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, line, 1, 3000), 1);
    usleep(200 * 1000);
    const char *warn[] = {"level=warn", "event=admin_handshake_failed", NULL};
    cr_assert_eq(it_count_lines(env.err_log, warn), 1, "the TCP probe is not warned about");
}

/* A client that opens a handshake and stalls (or never speaks) holds a slot until the
 * admin's 5 s deadline, never the thread: a good client is answered meanwhile. */
Test(admin_tls, stalled_tls_client_blocks_nobody)
{
    start_tls_admin();
    static const unsigned char partial_hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00};
    struct it_conn *mute = it_tcp_connect(admin_port);
    struct it_conn *stalled = it_tcp_connect(admin_port);
    cr_assert(mute != NULL && stalled != NULL);
    cr_assert_eq(it_conn_send(stalled, partial_hello, sizeof(partial_hello)), 0);
    usleep(100 * 1000);
    double t0 = it_now();
    struct it_exchange x;
    admin_get(&good, "/metrics", &x);
    cr_assert_eq(x.outcome, IT_OK, "%s", x.detail);
    cr_assert_eq(x.resp.status, 200);
    cr_assert(it_now() - t0 < 1.0, "answered in %.2f s while two clients stall", it_now() - t0);
    it_exchange_fini(&x);
    cr_assert(it_conn_wait_closed(stalled, 7000), "the deadline closes a stalled handshake");
    cr_assert(it_conn_wait_closed(mute, 1000), "and a mute client");
    cr_assert(it_now() - t0 >= 4.0, "not before the deadline (%.2f s)", it_now() - t0);
    it_conn_close(stalled);
    it_conn_close(mute);
}

Test(admin_tls, health_subcommand_over_https)
{
    start_tls_admin();
    char url[128], cert[300], key[300], ca[300], other_ca[300];
    char *err = NULL;
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/readyz", admin_port);
    snprintf(cert, sizeof(cert), "%s", it_pki("client/good.crt"));
    snprintf(key, sizeof(key), "%s", it_pki("client/good.key"));
    snprintf(ca, sizeof(ca), "%s", it_pki("ca/root.crt"));
    snprintf(other_ca, sizeof(other_ca), "%s", it_pki("ca/other-root.crt"));
    const char *ok[] = {"--cert", cert, "--key", key, "--cacert", ca, url, NULL};
    cr_assert_eq(health(ok, &err), 0, "%s", err);
    free(err);
    const char *no_cert[] = {"--cacert", ca, url, NULL};
    cr_assert_eq(health(no_cert, &err), 1, "refused without a client certificate");
    free(err);
    const char *wrong_ca[] = {url, "--cacert", other_ca, "--key", key, "--cert", cert, NULL};
    cr_assert_eq(health(wrong_ca, &err), 1, "the server is verified");
    cr_assert(strstr(err, "TLS handshake failed") != NULL, "%s", err);
    free(err);
    char plain[128];
    snprintf(plain, sizeof(plain), "http://127.0.0.1:%u/readyz", admin_port);
    const char *http[] = {plain, NULL};
    cr_assert_eq(health(http, &err), 1, "plain HTTP to the TLS port");
    free(err);
    const char *usage[] = {"--cert", cert, url, NULL};
    cr_assert_eq(health(usage, &err), 2, "--cert without --key");
    free(err);
    const char *usage2[] = {"--cacert", ca, plain, NULL};
    cr_assert_eq(health(usage2, &err), 2, "client files with http://");
    free(err);
}
