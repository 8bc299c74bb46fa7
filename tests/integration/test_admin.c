/* Integration: the admin listener. /metrics series move as traffic says they must (requests
 * by protocol and code, handshakes over TLS 1.2 and 1.3 and resumed, a refused client with a
 * missing intermediate counted as missing_issuer, every other failure reason from its cause
 * with `mtlb verify-client` naming the same token, NONE and FAILED in optional mode, backend
 * responses and connect failures, certificate and CRL expiry with exact values), /healthz,
 * /readyz (200, then 503 at once on SIGTERM while the listener keeps accepting for
 * shutdown_delay, 503 when a pool has no server up), /config without key material,
 * 404/405/400, `mtlb health` exit codes, and `mtlb -t` refusing a non-loopback admin bind. */
#include "h2_util.h"

#include <criterion/criterion.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

TestSuite(admin, .init = setup, .fini = teardown, .timeout = 60);

static const struct it_tls_opts good = {.cert = "client/good.crt", .key = "client/good.key"};
static uint16_t admin_port;

static void wait_ready(void);

/* mtlb with one echo backend and the admin listener; extra settings from cfg. */
static void start_admin(struct it_config *cfg)
{
    admin_port = it_free_port();
    cfg->admin_port = admin_port;
    if (cfg->n_domains == 0) {
        cfg->n_domains = 1;
    }
    start_cfg(cfg);
    wait_ready();
}

/* A plain HTTP/1.1 request to the admin listener; returns the status (body in *body). */
static int admin_req(const char *method, const char *path, char **body)
{
    return it_admin_req(admin_port, method, path, 3000, body);
}

/* Start-up: the listener accepts (kernel backlog) a moment before the threads run and
 * /readyz says so. */
static void wait_ready(void)
{
    int status = 0;
    for (int i = 0; i < 100 && status != 200; i++) {
        char *body = NULL;
        status = admin_req("GET", "/readyz", &body);
        cr_assert(status == 200 || strstr(body, "starting") != NULL, "%d %s", status, body);
        free(body);
        if (status != 200) {
            usleep(20000);
        }
    }
    cr_assert_eq(status, 200, "/readyz did not turn 200");
}

static char *scrape(void)
{
    char *body = NULL;
    cr_assert_eq(admin_req("GET", "/metrics", &body), 200);
    return body;
}

/* The value of the series written exactly as `series` ("name{labels}"), -1 when absent. */
static double metric(const char *text, const char *series)
{
    return it_prom_value(text, series);
}

static double scrape_one(const char *series)
{
    char *m = scrape();
    double v = metric(m, series);
    free(m);
    return v;
}

#define LST "listener=\"127.0.0.1:%u\""
#define DOM "domain=\"api.example.com\""
#define N_REASONS 9

static char *series(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *series(const char *fmt, ...)
{
    static char buf[4][512];
    static int i;
    va_list ap;
    char *out = buf[i++ % 4];
    va_start(ap, fmt);
    vsnprintf(out, sizeof(buf[0]), fmt, ap);
    va_end(ap);
    return out;
}

/* Counter values in a scrape are sums over threads: wait until a value reaches want. */
static double wait_metric(const char *s, double want)
{
    double v = -1;
    for (int i = 0; i < 50; i++) {
        v = scrape_one(s);
        if (v >= want) {
            break;
        }
        usleep(20000);
    }
    return v;
}

Test(admin, requests_and_handshakes_move_for_http1_and_h2)
{
    struct it_config cfg = {0};
    start_admin(&cfg);
    const char *h1_200 =
        series("mtlb_requests_total{" LST ",proto=\"http/1.1\",code=\"200\"}", env.port);
    const char *h2_200 = series("mtlb_requests_total{" LST ",proto=\"h2\",code=\"200\"}", env.port);
    const char *be_200 =
        series("mtlb_backend_requests_total{backend=\"app\",server=\"127.0.0.1:%u\",code=\"200\"}",
               cfg.servers[0]);
    char *m = scrape();
    cr_assert_eq(metric(m, h1_200), -1, "no request yet: no series for code 200");
    const char *bi = strstr(m, "\nmtlb_build_info{version=\"");
    cr_assert(bi != NULL && strstr(bi, "\"} 1\n") == strchr(bi, '}') - 1, "%s", m);
    cr_assert_eq(metric(m, "mtlb_request_duration_seconds_count"), 0);
    cr_assert(strstr(m, "# TYPE mtlb_request_duration_seconds histogram\n") != NULL);
    free(m);

    struct it_response r;
    for (int i = 0; i < 3; i++) {
        it_get(env.port, &good, "/", &r);
        cr_assert_eq(r.status, 200);
        it_response_fini(&r);
    }
    it_get(env.port, &good, "/status/404", &r);
    it_response_fini(&r);
    struct h2_out o;
    h2c_run(&o, 5000, "--cert", good_cert(), "--key", good_key(), NULL);
    cr_assert_eq(o.rc, 0, "h2c: %s", o.err);
    h2_out_fini(&o);

    cr_assert_eq(wait_metric(h1_200, 3), 3, "three HTTP/1.1 200s");
    cr_assert_eq(wait_metric(h2_200, 1), 1, "one HTTP/2 200");
    m = scrape();
    cr_assert_eq(metric(m, be_200), 4, "the backend answered 200 four times:\n%s", m);
    cr_assert_eq(metric(m, "mtlb_request_duration_seconds_count"), 5, "%s", m);
    cr_assert_eq(metric(m, "mtlb_request_duration_seconds_bucket{le=\"+Inf\"}"), 5);
    cr_assert_eq(
        metric(m, series("mtlb_handshakes_total{" LST "," DOM ",result=\"ok\",resumed=\"false\"}",
                         env.port)),
        5, "five handshakes (4 HTTP/1.1, 1 h2):\n%s", m);
    cr_assert_eq(
        metric(m, series("mtlb_client_verify_total{" LST "," DOM ",verify=\"SUCCESS\"}", env.port)),
        5);
    double total = 0;
    for (int t = 0; t < 3; t++) {
        static const char *const tr[] = {"userspace", "ktls-tx", "ktls"};
        total +=
            metric(m, series("mtlb_connections_total{" LST ",transport=\"%s\"}", env.port, tr[t]));
    }
    cr_assert_eq(total, 5, "five connections over all transports");
    cr_assert_eq(
        metric(m, series("mtlb_requests_total{" LST ",proto=\"http/1.1\",code=\"404\"}", env.port)),
        1);
    cr_assert_eq(metric(m, series("mtlb_backend_up{backend=\"app\",server=\"127.0.0.1:%u\"}",
                                  cfg.servers[0])),
                 1);
    cr_assert(strstr(m, "mtlb_certificate_not_after_timestamp_seconds{domain=\"api.example.com\","
                        "kind=\"server\",subject=\"CN=api.example.com") != NULL,
              "%s", m);
    cr_assert(strstr(m, "kind=\"truststore\",subject=\"CN=mtlb Test Root CA") != NULL);
    free(m);
}

/* Connections held by workers, over every transport. */
static double open_connections(void)
{
    static const char *const tr[] = {"userspace", "ktls-tx", "ktls"};
    char *m = scrape();
    double total = 0;
    for (int t = 0; t < 3; t++) {
        total +=
            metric(m, series("mtlb_connections_open{" LST ",transport=\"%s\"}", env.port, tr[t]));
    }
    free(m);
    return total;
}

Test(admin, connections_open_follows_a_kept_alive_connection)
{
    struct it_config cfg = {0};
    start_admin(&cfg);
    cr_assert_eq(open_connections(), 0);
    char err[256];
    struct it_conn *c = it_tls_connect(env.port, &good, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    it_conn_timeout(c, 3000);
    cr_assert_eq(it_conn_sends(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
    cr_assert_eq(r.status, 200);
    it_response_fini(&r);
    cr_assert_eq(open_connections(), 1, "the kept-alive connection is open");
    it_conn_close(c);
    double open = 1;
    for (int i = 0; i < 50 && open != 0; i++) {
        usleep(20000);
        open = open_connections();
    }
    cr_assert_eq(open, 0, "closed again");
}

/* A backend's 503 is counted under its own code, for the client and for the server. */
Test(admin, requests_are_counted_by_exact_code)
{
    struct it_config cfg = {0};
    start_admin(&cfg);
    struct it_response r;
    it_get(env.port, &good, "/status/503", &r);
    int status = r.status;
    it_response_fini(&r);
    cr_assert_eq(status, 503);
    const char *s =
        series("mtlb_requests_total{" LST ",proto=\"http/1.1\",code=\"503\"}", env.port);
    cr_assert_eq(wait_metric(s, 1), 1, "code 503 counted");
    const char *be =
        series("mtlb_backend_requests_total{backend=\"app\",server=\"127.0.0.1:%u\",code=\"503\"}",
               cfg.servers[0]);
    cr_assert_eq(scrape_one(be), 1, "the backend's own 503");
}

Test(admin, tls12_tls13_and_resumed_handshakes_are_counted)
{
    struct it_config cfg = {0};
    start_admin(&cfg);
    const int versions[] = {TLS1_2_VERSION, TLS1_3_VERSION};
    for (int i = 0; i < 2; i++) {
        struct it_tls_opts o = good;
        o.version = versions[i];
        struct it_exchange first, again;
        it_tls_exchange(env.port, &o, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &first);
        cr_assert_eq(first.outcome, IT_OK, "%s", first.detail);
        o.session = first.session;
        it_tls_exchange(env.port, &o, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &again);
        cr_assert_eq(again.outcome, IT_OK, "%s", again.detail);
        cr_assert(again.reused, "resumed");
        it_exchange_fini(&first);
        it_exchange_fini(&again);
    }
    const char *full =
        series("mtlb_handshakes_total{" LST "," DOM ",result=\"ok\",resumed=\"false\"}", env.port);
    const char *res =
        series("mtlb_handshakes_total{" LST "," DOM ",result=\"ok\",resumed=\"true\"}", env.port);
    cr_assert_eq(wait_metric(full, 2), 2, "one full handshake per version");
    cr_assert_eq(scrape_one(res), 2, "one resumed handshake per version");
}

/* client/good.crt is the leaf alone; trust/root-only.pem lacks the intermediate. */
Test(admin, refused_client_with_missing_intermediate_counts_missing_issuer)
{
    struct it_config cfg = {.n_domains = 1};
    cfg.domains[0].truststore = "trust/root-only.pem";
    start_admin(&cfg);
    const char *reason = series(
        "mtlb_client_verify_failures_total{" LST "," DOM ",reason=\"missing_issuer\"}", env.port);
    const char *failed = series(
        "mtlb_handshakes_total{" LST "," DOM ",result=\"failed\",resumed=\"false\"}", env.port);
    cr_assert_eq(scrape_one(reason), 0, "series present at 0 before any refusal");
    const int versions[] = {TLS1_2_VERSION, TLS1_3_VERSION};
    for (int i = 0; i < 2; i++) {
        struct it_tls_opts o = good;
        o.version = versions[i];
        struct it_exchange x;
        it_tls_exchange(env.port, &o, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &x);
        cr_assert_neq(x.outcome, IT_OK, "refused");
        it_exchange_fini(&x);
    }
    cr_assert_eq(wait_metric(reason, 2), 2, "both refusals are missing_issuer");
    char *m = scrape();
    cr_assert_eq(metric(m, failed), 2, "%s", m);
    cr_assert_eq(
        metric(m, series("mtlb_client_verify_total{" LST "," DOM ",verify=\"FAILED\"}", env.port)),
        2);
    cr_assert_eq(
        metric(m, series("mtlb_client_verify_failures_total{" LST "," DOM ",reason=\"unknown_ca\"}",
                         env.port)),
        0);
    free(m);
}

/* Three domains chosen by SNI, so that every reason has a cause: full truststore with CRLs,
 * a CRL past its nextUpdate, and pinned leaves (a certificate they "issued" fails as other). */
static const char *const reason_domains[] = {"api.example.com", "crl.example.com",
                                             "pinned.example.com"};
/* The tokens in the order of enum mtlb_verify_reason (the list). */
static const char *const tokens[N_REASONS] = {"unknown_ca",    "missing_issuer", "expired",
                                              "not_yet_valid", "revoked",        "crl_error",
                                              "bad_purpose",   "no_certificate", "other"};

static void reason_values(double out[3][N_REASONS])
{
    char *m = scrape();
    for (int d = 0; d < 3; d++) {
        for (int r = 0; r < N_REASONS; r++) {
            out[d][r] = metric(m, series("mtlb_client_verify_failures_total{" LST
                                         ",domain=\"%s\",reason=\"%s\"}",
                                         env.port, reason_domains[d], tokens[r]));
            cr_assert_geq(out[d][r], 0, "series for %s %s present:\n%s", reason_domains[d],
                          tokens[r], m);
        }
    }
    free(m);
}

/* `mtlb verify-client` on the running configuration names the same reason. */
static void assert_tool_says(const char *domain, const char *cert, const char *token)
{
    char *out = NULL, *err = NULL;
    char *argv[] = {getenv("MTLB_BIN"), "verify-client",      "-c", env.config, "--domain",
                    (char *)domain,     (char *)it_pki(cert), NULL};
    int rc = it_run(&env, argv, &out, &err, 10000);
    char want[64];
    snprintf(want, sizeof(want), "FAILED: %s ", token);
    cr_assert(rc == 1 && out != NULL && strncmp(out, want, strlen(want)) == 0,
              "verify-client %s on %s: want \"%s\", got %d:\n%s%s", cert, domain, want, rc,
              out ? out : "", err ? err : "");
    free(out);
    free(err);
}

Test(admin, each_failure_reason_is_counted_for_its_cause)
{
    static const struct {
        int domain;
        const char *cert, *key;
        int reason; /* index in reason_values */
    } cases[] = {
        {0, "client/expired-chain.pem", "client/expired.key", 2},
        {0, "client/future-chain.pem", "client/future.key", 3},
        {0, "client/revoked-chain.pem", "client/revoked.key", 4},
        {0, "client/untrusted-chain.pem", "client/untrusted.key", 0},
        {0, "client/noclientauth-chain.pem", "client/noclientauth.key", 6},
        {0, "client/noeku-chain.pem", "client/noeku.key", 6},
        {0, "client/other.crt", "client/other.key", 1},
        {1, "client/good-chain.pem", "client/good.key", 5},
        {2, "client/byleaf.crt", "client/byleaf.key", 8},
        {0, NULL, NULL, 7},
    };
    struct it_config cfg = {.n_domains = 3};
    cfg.domains[0].crl = "ca/crl.pem";
    cfg.domains[1] = (struct it_domain){.names = {"crl.example.com"}, .crl = "ca/crl-expired.pem"};
    cfg.domains[2] =
        (struct it_domain){.names = {"pinned.example.com"}, .truststore = "trust/leaf-only.pem"};
    start_admin(&cfg);
    double before[3][N_REASONS], after[3][N_REASONS];
    reason_values(before);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int d = cases[i].domain, r = cases[i].reason;
        struct it_tls_opts o = {
            .cert = cases[i].cert, .key = cases[i].key, .sni = reason_domains[d]};
        struct it_exchange x;
        it_tls_exchange(env.port, &o, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &x);
        cr_assert_neq(x.outcome, IT_OK, "%s refused", cases[i].cert ? cases[i].cert : "none");
        it_exchange_fini(&x);
        for (int k = 0; k < 50; k++) {
            reason_values(after);
            if (after[d][r] > before[d][r]) {
                break;
            }
            usleep(20000);
        }
        for (int dd = 0; dd < 3; dd++) {
            for (int rr = 0; rr < N_REASONS; rr++) {
                double want = before[dd][rr] + (dd == d && rr == r ? 1 : 0);
                cr_assert_eq(after[dd][rr], want, "case %zu (%s on %s): domain %d reason %d: %g", i,
                             cases[i].cert ? cases[i].cert : "no certificate", reason_domains[d],
                             dd, rr, after[dd][rr]);
            }
        }
        memcpy(before, after, sizeof(before));
        if (cases[i].cert != NULL) {
            assert_tool_says(reason_domains[d], cases[i].cert, tokens[r]);
        }
    }
}

/* Optional mode: a client without a certificate is NONE, a refused one completes its handshake
 * (result ok) and is FAILED with its reason. */
Test(admin, optional_mode_counts_none_and_failed_with_reason)
{
    struct it_config cfg = {.n_domains = 1};
    cfg.domains[0].mode = "optional";
    start_admin(&cfg);
    struct it_response r;
    struct it_tls_opts bare = {.cert = NULL};
    it_get(env.port, &bare, "/", &r);
    cr_assert_eq(r.status, 200);
    it_response_fini(&r);
    struct it_tls_opts expired = {.cert = "client/expired-chain.pem", .key = "client/expired.key"};
    it_get(env.port, &expired, "/", &r);
    cr_assert_eq(r.status, 200);
    it_response_fini(&r);
    const char *none =
        series("mtlb_client_verify_total{" LST "," DOM ",verify=\"NONE\"}", env.port);
    cr_assert_eq(wait_metric(none, 1), 1);
    const char *failed =
        series("mtlb_client_verify_total{" LST "," DOM ",verify=\"FAILED\"}", env.port);
    cr_assert_eq(wait_metric(failed, 1), 1);
    char *m = scrape();
    cr_assert_eq(
        metric(m, series("mtlb_client_verify_failures_total{" LST "," DOM ",reason=\"expired\"}",
                         env.port)),
        1, "%s", m);
    cr_assert_eq(
        metric(m, series("mtlb_handshakes_total{" LST "," DOM ",result=\"ok\",resumed=\"false\"}",
                         env.port)),
        2, "both handshakes completed:\n%s", m);
    cr_assert_eq(metric(m, series("mtlb_handshakes_total{" LST "," DOM
                                  ",result=\"failed\",resumed=\"false\"}",
                                  env.port)),
                 0);
    free(m);
}

/* The unix time of a certificate's notAfter, read here with OpenSSL. */
static long long not_after_of(const char *rel)
{
    char *pem = it_read_file(it_pki(rel), NULL);
    cr_assert_not_null(pem);
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    cr_assert_not_null(x);
    struct tm tm;
    cr_assert_eq(ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm), 1);
    X509_free(x);
    BIO_free(b);
    free(pem);
    return (long long)timegm(&tm);
}

Test(admin, certificate_expiry_series_cover_server_truststore_and_crls)
{
    struct it_config cfg = {.n_domains = 2};
    cfg.domains[0].crl = "ca/crl.pem";
    cfg.domains[1] = (struct it_domain){.names = {"crl.example.com"}, .crl = "ca/crl-expired.pem"};
    start_admin(&cfg);
    char *m = scrape();
#define EXPIRY                                                                                     \
    "mtlb_certificate_not_after_timestamp_seconds{domain=\"%s\",kind=\"%s\",subject=\"%s\"}"
    cr_assert_eq(metric(m, series(EXPIRY, "api.example.com", "server",
                                  "CN=api.example.com,O=mtlb Test,C=PL")),
                 (double)not_after_of("server/api.crt"), "%s", m);
    cr_assert_eq(metric(m, series(EXPIRY, "api.example.com", "truststore",
                                  "CN=mtlb Test Root CA,O=mtlb Test,C=PL")),
                 (double)not_after_of("ca/root.crt"));
    cr_assert_eq(metric(m, series(EXPIRY, "api.example.com", "truststore",
                                  "CN=mtlb Test Intermediate CA,O=mtlb Test,C=PL")),
                 (double)not_after_of("ca/inter.crt"));
    /* crl-expired.pem: the intermediate's CRL was due on 2020-02-01. */
    cr_assert_eq(metric(m, series(EXPIRY, "crl.example.com", "crl_next_update",
                                  "CN=mtlb Test Intermediate CA,O=mtlb Test,C=PL")),
                 1580515200, "%s", m);
    cr_assert_gt(metric(m, series(EXPIRY, "api.example.com", "crl_next_update",
                                  "CN=mtlb Test Intermediate CA,O=mtlb Test,C=PL")),
                 (double)time(NULL), "crl.pem's CRLs are current");
    cr_assert_gt(metric(m, series(EXPIRY, "api.example.com", "crl_next_update",
                                  "CN=mtlb Test Root CA,O=mtlb Test,C=PL")),
                 (double)time(NULL));
#undef EXPIRY
    free(m);
}

Test(admin, no_certificate_in_mandatory_mode_is_counted)
{
    struct it_config cfg = {0};
    start_admin(&cfg);
    struct it_tls_opts bare = {.version = TLS1_3_VERSION};
    struct it_exchange x;
    it_tls_exchange(env.port, &bare, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &x);
    cr_assert_neq(x.outcome, IT_OK);
    it_exchange_fini(&x);
    const char *s = series(
        "mtlb_client_verify_failures_total{" LST "," DOM ",reason=\"no_certificate\"}", env.port);
    cr_assert_eq(wait_metric(s, 1), 1);
}

Test(admin, dead_server_is_down_counted_and_pool_not_ready)
{
    struct it_config cfg = {.n_servers = 1};
    cfg.servers[0] = it_free_port(); /* nobody listens */
    start_admin(&cfg);
    cr_assert_eq(admin_req("GET", "/readyz", NULL), 200, "up until a connect fails");
    struct it_response r;
    it_get(env.port, &good, "/", &r);
    cr_assert_eq(r.status, 503);
    it_response_fini(&r);
    const char *fails =
        series("mtlb_backend_connect_failures_total{backend=\"app\",server=\"127.0.0.1:%u\"}",
               cfg.servers[0]);
    cr_assert_geq(wait_metric(fails, 1), 1);
    /* Published by the worker on its next tick (100 ms). */
    const char *up =
        series("mtlb_backend_up{backend=\"app\",server=\"127.0.0.1:%u\"}", cfg.servers[0]);
    double v = 1;
    for (int i = 0; i < 20 && v != 0; i++) {
        usleep(50000);
        v = scrape_one(up);
    }
    cr_assert_eq(v, 0, "marked down");
    char *body = NULL;
    cr_assert_eq(admin_req("GET", "/readyz", &body), 503);
    cr_assert(strstr(body, "backend app: no server up") != NULL, "%s", body);
    free(body);
    cr_assert_eq(admin_req("GET", "/healthz", NULL), 200, "alive, though not ready");
}

Test(admin, healthz_readyz_and_errors)
{
    struct it_config cfg = {0};
    start_admin(&cfg);
    char *body = NULL;
    cr_assert_eq(admin_req("GET", "/healthz", &body), 200);
    cr_assert_str_eq(body, "ok\n");
    free(body);
    cr_assert_eq(admin_req("GET", "/readyz", NULL), 200);
    cr_assert_eq(admin_req("HEAD", "/readyz", NULL), 200);
    cr_assert_eq(admin_req("GET", "/readyz?verbose=1", NULL), 200, "a query is ignored");
    cr_assert_eq(admin_req("GET", "/", NULL), 404);
    cr_assert_eq(admin_req("GET", "/metricsx", NULL), 404);
    cr_assert_eq(admin_req("GET", "/reload", NULL), 405, "POST only");
    cr_assert_eq(admin_req("POST", "/metrics", NULL), 405);
    cr_assert_eq(admin_req("DELETE", "/config", NULL), 405);
    cr_assert_eq(admin_req("POST", "/readyz", NULL), 405);

    /* Malformed and oversized heads: answered, then closed; the listener carries on. */
    struct it_conn *c = it_tcp_connect(admin_port);
    struct it_response r;
    it_conn_timeout(c, 3000);
    cr_assert_eq(it_conn_sends(c, "GET /metrics HTTP/1.1\nHost: x\n\n"), 0);
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
    cr_assert_eq(r.status, 400, "bare LF");
    it_response_fini(&r);
    it_conn_close(c);
    c = it_tcp_connect(admin_port);
    it_conn_timeout(c, 3000);
    char big[6000];
    memset(big, 'a', sizeof(big));
    memcpy(big, "GET /", 5);
    big[sizeof(big) - 1] = '\0';
    it_conn_sends(c, big);
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
    cr_assert_eq(r.status, 431);
    it_response_fini(&r);
    it_conn_close(c);
    cr_assert_eq(admin_req("GET", "/healthz", NULL), 200);
    /* Idle for longer than the 1 s heartbeat limit: every loop still turns on its own. */
    usleep(1500000);
    cr_assert_eq(admin_req("GET", "/healthz", &body), 200, "idle loops still beat: %s", body);
    free(body);
    it_mtlb_assert_alive(&env);
}

Test(admin, request_duration_lands_in_its_bucket)
{
    struct it_config cfg = {0};
    start_admin(&cfg);
    struct it_response r;
    it_get(env.port, &good, "/sleep/60", &r);
    cr_assert_eq(r.status, 200);
    it_response_fini(&r);
    cr_assert_eq(wait_metric("mtlb_request_duration_seconds_count", 1), 1);
    char *m = scrape();
    cr_assert_eq(metric(m, "mtlb_request_duration_seconds_bucket{le=\"0.05\"}"), 0, "%s", m);
    cr_assert_eq(metric(m, "mtlb_request_duration_seconds_bucket{le=\"0.5\"}"), 1, "%s", m);
    cr_assert_eq(metric(m, "mtlb_request_duration_seconds_bucket{le=\"+Inf\"}"), 1);
    double sum = metric(m, "mtlb_request_duration_seconds_sum");
    cr_assert(sum >= 0.06 && sum < 0.5, "sum %f", sum);
    free(m);
}

Test(admin, config_shows_paths_never_key_material)
{
    struct it_config cfg = {0};
    start_admin(&cfg);
    char *body = NULL;
    cr_assert_eq(admin_req("GET", "/config", &body), 200);
    cr_assert(strstr(body, "listeners[0].domains[0].key: ") != NULL, "%s", body);
    cr_assert(strstr(body, "server/api.key\n") != NULL, "the key's path: %s", body);
    cr_assert(strstr(body, "listeners[0].domains[0].client_auth.mode: mandatory\n") != NULL);
    cr_assert(strstr(body, "timeouts.shutdown_delay: 0ms\n") != NULL);
    cr_assert(strstr(body, "admin.bind: 127.0.0.1:") != NULL);
    cr_assert(strstr(body, "PRIVATE KEY") == NULL && strstr(body, "-----BEGIN") == NULL,
              "no PEM: %s", body);
    /* Nothing of the key file itself: its second line is base64 of the key. */
    char *key = it_read_file(it_pki("server/api.key"), NULL);
    cr_assert_not_null(key);
    char *line2 = strchr(key, '\n') + 1;
    line2[16] = '\0';
    cr_assert(strstr(body, line2) == NULL, "key bytes in /config");
    free(key);
    free(body);
}

Test(admin, sigterm_turns_readyz_503_while_listener_still_accepts)
{
    struct it_config cfg = {.timeouts = "{drain: 2s, shutdown_delay: 1500ms}"};
    start_admin(&cfg);
    cr_assert_eq(admin_req("GET", "/readyz", NULL), 200);
    double t0 = it_now();
    kill(env.mtlb, SIGTERM);
    usleep(100000);
    char *body = NULL;
    cr_assert_eq(admin_req("GET", "/readyz", &body), 503, "503 at once");
    cr_assert(strstr(body, "draining") != NULL, "%s", body);
    free(body);
    cr_assert_eq(admin_req("GET", "/healthz", NULL), 200, "still alive");
    /* A new connection is still accepted and served during the delay. */
    struct it_response r;
    it_get(env.port, &good, "/", &r);
    cr_assert_eq(r.status, 200);
    it_response_fini(&r);
    cr_assert(it_now() - t0 < 1.4, "the checks ran inside the delay");
    cr_assert(it_port_accepts(env.port), "listener open during shutdown_delay");
    it_mtlb_wait(&env, 6000);
    cr_assert(it_now() - t0 >= 1.5, "exited only after the delay (%.2f s)", it_now() - t0);
    cr_assert_not(it_port_accepts(env.port));
    const char *line[] = {"event=stopping", "shutdown_delay_ms=1500", NULL};
    cr_assert_eq(it_count_lines(env.err_log, line), 1);
}

Test(admin, without_delay_sigterm_stops_accepting_at_once)
{
    struct it_config cfg = {0};
    start_admin(&cfg);
    double t0 = it_now();
    kill(env.mtlb, SIGTERM);
    it_mtlb_wait(&env, 5000);
    cr_assert(it_now() - t0 < 1.0, "default shutdown_delay is 0 (%.2f s)", it_now() - t0);
}

static int health(const char *url, char **err)
{
    char *out = NULL;
    char *argv[] = {getenv("MTLB_BIN"), "health", (char *)url, NULL};
    int rc = it_run(&env, argv, &out, err, 10000);
    free(out);
    return rc;
}

Test(admin, health_subcommand_exit_codes)
{
    struct it_config cfg = {0};
    start_admin(&cfg);
    char url[128];
    char *err = NULL;
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/readyz", admin_port);
    cr_assert_eq(health(url, &err), 0, "%s", err);
    free(err);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/healthz", admin_port);
    cr_assert_eq(health(url, &err), 0, "%s", err);
    free(err);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/nope", admin_port);
    cr_assert_eq(health(url, &err), 1);
    cr_assert(strstr(err, "status 404") != NULL, "%s", err);
    free(err);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/readyz", it_free_port());
    cr_assert_eq(health(url, &err), 1, "nobody listens");
    free(err);
    cr_assert_eq(health("ftp://127.0.0.1:1/readyz", &err), 2, "http or https only");
    free(err);
    cr_assert_eq(health("not a url", &err), 2);
    free(err);
    kill(env.mtlb, SIGSTOP); /* accepts (kernel backlog) but never answers */
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/readyz", admin_port);
    double t0 = it_now();
    cr_assert_eq(health(url, &err), 1, "timeout");
    cr_assert(it_now() - t0 < 5.0);
    free(err);
    kill(env.mtlb, SIGCONT);
}

Test(admin, non_loopback_admin_bind_is_refused_by_t)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = 1};
    cfg.servers[0] = 9;
    cr_assert_eq(it_write_config(&env, &cfg), 0);
    FILE *f = fopen(env.config, "a");
    cr_assert_not_null(f);
    fprintf(f, "admin:\n  bind: \"0.0.0.0:9901\"\n");
    fclose(f);
    char *out = NULL, *err = NULL;
    char *argv[] = {getenv("MTLB_BIN"), "-t", "-c", env.config, NULL};
    cr_assert_eq(it_run(&env, argv, &out, &err, 10000), 1);
    cr_assert(strstr(err, "admin.bind: 0.0.0.0 is not a loopback address") != NULL, "%s", err);
    cr_assert(strstr(err, "give admin certificate, key and client_auth") != NULL, "%s", err);
    char where[400];
    /* file:line:col of the bind value: the line after "admin:". */
    char *cfgtext = it_read_file(env.config, NULL);
    int line = 1;
    for (const char *p = cfgtext; *p && strncmp(p, "admin:\n", 7) != 0; p++) {
        line += *p == '\n';
    }
    snprintf(where, sizeof(where), "%s:%d:9: admin.bind:", env.config, line + 1);
    cr_assert(strstr(err, where) != NULL, "want %s in %s", where, err);
    free(cfgtext);
    free(out);
    free(err);
}

Test(admin, admin_port_in_use_is_a_startup_error)
{
    struct it_sink sink;
    it_sink_open(&sink); /* a listening socket on the port the admin listener wants */
    struct it_config cfg = {.n_domains = 1, .n_servers = 1, .admin_port = sink.port};
    cfg.servers[0] = it_echo_start(&env, "b1");
    cr_assert_eq(it_write_config(&env, &cfg), 0);
    char *out = NULL, *err = NULL;
    char *argv[] = {getenv("MTLB_BIN"), "-c", env.config, NULL};
    cr_assert_eq(it_run(&env, argv, &out, &err, 10000), 1, "%s", err);
    cr_assert(strstr(err, "admin.bind: cannot listen on 127.0.0.1:") != NULL, "%s", err);
    cr_assert(strstr(err, "Address already in use") != NULL, "%s", err);
    cr_assert_not(it_port_accepts(env.port), "no listener was left open");
    free(out);
    free(err);
    it_sink_close(&sink);
}
