/* Integration: client-certificate verification end to end. Every client certificate of the test
 * PKI against mandatory, optional and off, over TLS 1.2 and 1.3: who gets through, what the
 * backend is told, what is logged, and that refused clients never reach a backend. SNI picks
 * the domain's certificate and truststore. */
#include "harness.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#define INTER_DN "/C=PL/O=mtlb Test/CN=mtlb Test Intermediate CA"
#define ROGUE_DN "/C=PL/O=mtlb Rogue/CN=mtlb Rogue CA"
#define OTHER_CA_DN "/C=PL/O=mtlb Other/CN=mtlb Other CA"
#define REQUEST "GET /whoami HTTP/1.1\r\nHost: localhost\r\n\r\n"

static struct it_env env;

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(mtls, .init = setup, .fini = teardown, .timeout = 60);

struct cert_case {
    const char *label;
    const char *cert; /* file under the PKI (leaf or chain); NULL: no certificate */
    const char *key;
    const char *truststore;
    bool crl;
    const char *verify; /* what optional mode reports: SUCCESS, FAILED or NONE */
    const char *dn;
    const char *issuer;
    const char *serial;
    const char *log;         /* extra text the client_verify_failed line must contain */
    const char *log_subject; /* subject of the certificate the failure is logged for */
    int depth;               /* its depth in the chain */
};

static const struct cert_case cases[] = {
    {"none", NULL, NULL, "trust/full.pem", true, "NONE", NULL, NULL, NULL, NULL, NULL, 0},
    {"good leaf", "client/good.crt", "client/good.key", "trust/full.pem", true, "SUCCESS",
     "/C=PL/O=mtlb Test/CN=good-client", INTER_DN, "1001", NULL, NULL, 0},
    {"good chain, root-only truststore", "client/good-chain.pem", "client/good.key",
     "trust/root-only.pem", true, "SUCCESS", "/C=PL/O=mtlb Test/CN=good-client", INTER_DN, "1001",
     NULL, NULL, 0},
    {"good leaf, root-only truststore", "client/good.crt", "client/good.key", "trust/root-only.pem",
     true, "FAILED", "/C=PL/O=mtlb Test/CN=good-client", INTER_DN, "1001",
     "missing_issuer=\"" INTER_DN "\"", "/C=PL/O=mtlb Test/CN=good-client", 0},
    {"selfsigned", "client/selfsigned.crt", "client/selfsigned.key", "trust/full.pem", false,
     "SUCCESS", "/C=PL/O=mtlb Test/CN=selfsigned-client", "/C=PL/O=mtlb Test/CN=selfsigned-client",
     "1003", NULL, NULL, 0},
    {"selfsigned with crl", "client/selfsigned.crt", "client/selfsigned.key", "trust/full.pem",
     true, "SUCCESS", "/C=PL/O=mtlb Test/CN=selfsigned-client",
     "/C=PL/O=mtlb Test/CN=selfsigned-client", "1003", NULL, NULL, 0},
    {"rsa leaf", "client/rsa.crt", "client/rsa.key", "trust/full.pem", true, "SUCCESS",
     "/C=PL/O=mtlb Test/CN=rsa-client", INTER_DN, "1002", NULL, NULL, 0},
    {"untrusted", "client/untrusted-chain.pem", "client/untrusted.key", "trust/full.pem", true,
     "FAILED", "/C=PL/O=mtlb Rogue/CN=untrusted-client", ROGUE_DN, "1004", NULL, ROGUE_DN, 1},
    {"expired", "client/expired-chain.pem", "client/expired.key", "trust/full.pem", true, "FAILED",
     "/C=PL/O=mtlb Test/CN=expired-client", INTER_DN, "1005", "expired",
     "/C=PL/O=mtlb Test/CN=expired-client", 0},
    {"revoked", "client/revoked-chain.pem", "client/revoked.key", "trust/full.pem", true, "FAILED",
     "/C=PL/O=mtlb Test/CN=revoked-client", INTER_DN, "1006", "revoked",
     "/C=PL/O=mtlb Test/CN=revoked-client", 0},
    {"no clientAuth EKU", "client/noclientauth-chain.pem", "client/noclientauth.key",
     "trust/full.pem", true, "FAILED", "/C=PL/O=mtlb Test/CN=serveronly-client", INTER_DN, "1007",
     NULL, "/C=PL/O=mtlb Test/CN=serveronly-client", 0},
    {"other CA", "client/other-chain.pem", "client/other.key", "trust/full.pem", true, "FAILED",
     "/C=PL/O=mtlb Other/CN=other-client", OTHER_CA_DN, "1008", NULL, OTHER_CA_DN, 1},
};

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

static const int versions[] = {TLS1_2_VERSION, TLS1_3_VERSION};

static const char *vname(int v)
{
    return v == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2";
}

static void start_mtlb(const char *mode, const struct cert_case *c, uint16_t backend)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = 1, .servers = {backend}};
    cfg.domains[0].mode = mode;
    /* mode off requests no certificate: a truststore or CRL there is a configuration error */
    bool off = strcmp(mode, "off") == 0;
    cfg.domains[0].truststore = off ? NULL : c->truststore;
    cfg.domains[0].crl = c->crl && !off ? "ca/crl.pem" : NULL;
    it_mtlb_start(&env, &cfg);
}

/* Asserts the identity headers the backend (mtlb-echo) received. */
static void assert_identity(const struct cert_case *c, const char *verify, const char *what,
                            const char *echoed)
{
    char v[512];
    cr_assert_eq(it_header_count(echoed, "X-SSL-Client-Verify"), 1,
                 "%s: expected exactly one X-SSL-Client-Verify; backend got:\n%s", what, echoed);
    it_header_get(echoed, "X-SSL-Client-Verify", v, sizeof(v));
    cr_assert_str_eq(v, verify, "%s: X-SSL-Client-Verify", what);
    if (strcmp(verify, "NONE") == 0) {
        cr_assert_eq(it_header_count(echoed, "X-SSL-Client-DN"), 0, "%s: DN without a cert", what);
        cr_assert_eq(it_header_count(echoed, "X-SSL-Issuer"), 0, "%s: issuer without a cert", what);
        cr_assert_eq(it_header_count(echoed, "X-SSL-Client-Serial"), 0, "%s: serial", what);
        return;
    }
    cr_assert(it_header_get(echoed, "X-SSL-Client-DN", v, sizeof(v)), "%s: no DN in:\n%s", what,
              echoed);
    cr_assert_str_eq(v, c->dn, "%s: X-SSL-Client-DN", what);
    cr_assert(it_header_get(echoed, "X-SSL-Issuer", v, sizeof(v)), "%s: no issuer", what);
    cr_assert_str_eq(v, c->issuer, "%s: X-SSL-Issuer", what);
    cr_assert(it_header_get(echoed, "X-SSL-Client-Serial", v, sizeof(v)), "%s: no serial", what);
    cr_assert_str_eq(v, c->serial, "%s: X-SSL-Client-Serial", what);
}

static void assert_response(const struct cert_case *c, const char *verify, int version,
                            bool want_cert_request)
{
    char what[160];
    snprintf(what, sizeof(what), "%s over %s", c->label, vname(version));
    struct it_tls_opts o = {.cert = c->cert, .key = c->key, .version = version};
    struct it_exchange x;
    it_tls_exchange(env.port, &o, REQUEST, &x);
    cr_assert_eq(x.outcome, IT_OK, "%s: expected a response, got %s", what, x.detail);
    cr_assert(x.server_verified, "%s: server certificate did not verify for localhost", what);
    cr_assert_eq(x.cert_requested, want_cert_request, "%s: CertificateRequest %s", what,
                 x.cert_requested ? "sent" : "not sent");
    cr_assert_eq(x.resp.status, 200, "%s: status %d\n%s", what, x.resp.status, x.resp.head);
    assert_identity(c, verify, what, x.resp.body);
    it_exchange_fini(&x);
}

static void assert_refused(const struct cert_case *c, int version)
{
    struct it_tls_opts o = {.cert = c->cert, .key = c->key, .version = version};
    struct it_exchange x;
    it_tls_exchange(env.port, &o, REQUEST, &x);
    cr_assert(x.outcome == IT_HANDSHAKE_FAILED || x.outcome == IT_READ_FAILED,
              "%s over %s: mandatory must refuse in TLS, got %s (status %d)", c->label,
              vname(version), x.detail, x.resp.status);
    cr_assert(x.cert_requested, "%s over %s: no CertificateRequest", c->label, vname(version));
    cr_assert_geq(x.alert_received, 0, "%s over %s: refused without a TLS alert: %s", c->label,
                  vname(version), x.detail);
    it_exchange_fini(&x);
}

/* Each failed verification is logged once, naming the reason, the depth and the subject of
 * the certificate that failed (for a chain ending in an unknown root, that root). */
static void assert_verify_logged(const struct cert_case *c, size_t attempts)
{
    char subject[256], depth[32];
    snprintf(subject, sizeof(subject), "subject=\"%s\"", c->log_subject);
    snprintf(depth, sizeof(depth), " depth=%d ", c->depth);
    const char *needles[] = {
        "event=client_verify_failed", "reason=\"", depth, subject, c->log, NULL};
    size_t n = it_wait_lines(env.err_log, needles, attempts, 3000);
    cr_assert_geq(n, attempts,
                  "%s: expected %zu stderr lines with event=client_verify_failed reason=\"..\"%s"
                  "%s %s, found %zu",
                  c->label, attempts, depth, subject, c->log ? c->log : "", n);
    const char *any[] = {"event=client_verify_failed", NULL};
    cr_assert_eq(it_count_lines(env.err_log, any), attempts,
                 "%s: a verification failure must be logged exactly once per handshake", c->label);
}

/* Parameters are indices: Criterion copies parameters into the worker process, where
 * pointers to this binary's strings would not survive. */
static size_t case_index[N_CASES];

static size_t *case_indices(void)
{
    for (size_t i = 0; i < N_CASES; i++) {
        case_index[i] = i;
    }
    return case_index;
}

ParameterizedTestParameters(mtls, mandatory)
{
    return cr_make_param_array(size_t, case_indices(), N_CASES);
}

ParameterizedTest(size_t *ci, mtls, mandatory)
{
    const struct cert_case *c = &cases[*ci];
    bool ok = strcmp(c->verify, "SUCCESS") == 0;
    struct it_sink sink = {-1, 0};
    uint16_t backend;
    if (ok) {
        backend = it_echo_start(&env, "b1");
    } else {
        it_sink_open(&sink);
        backend = sink.port;
    }
    start_mtlb("mandatory", c, backend);
    for (size_t i = 0; i < 2; i++) {
        if (ok) {
            assert_response(c, "SUCCESS", versions[i], true);
        } else {
            assert_refused(c, versions[i]);
        }
    }
    if (!ok) {
        size_t conns = 0;
        size_t bytes = it_sink_drain(&sink, 200, &conns);
        cr_assert_eq(bytes, 0, "%s: a refused client's request reached the backend (%zu bytes)",
                     c->label, bytes);
        it_sink_close(&sink);
    }
    if (strcmp(c->verify, "FAILED") == 0) {
        assert_verify_logged(c, 2);
    }
    it_mtlb_stop(&env, 5000);
}

ParameterizedTestParameters(mtls, optional)
{
    return cr_make_param_array(size_t, case_indices(), N_CASES);
}

ParameterizedTest(size_t *ci, mtls, optional)
{
    const struct cert_case *c = &cases[*ci];
    start_mtlb("optional", c, it_echo_start(&env, "b1"));
    for (size_t i = 0; i < 2; i++) {
        assert_response(c, c->verify, versions[i], true);
    }
    if (strcmp(c->verify, "FAILED") == 0) {
        assert_verify_logged(c, 2);
    }
    it_mtlb_stop(&env, 5000);
}

Test(mtls, off_requests_no_certificate)
{
    const struct cert_case *good = &cases[1], *none = &cases[0];
    start_mtlb("off", none, it_echo_start(&env, "b1"));
    for (size_t i = 0; i < 2; i++) {
        assert_response(good, "NONE", versions[i], false);
        assert_response(none, "NONE", versions[i], false);
    }
    it_mtlb_stop(&env, 5000);
}

static const struct cert_case other_client = {.label = "other client",
                                              .cert = "client/other-chain.pem",
                                              .key = "client/other.key",
                                              .verify = "SUCCESS",
                                              .dn = "/C=PL/O=mtlb Other/CN=other-client",
                                              .issuer = OTHER_CA_DN,
                                              .serial = "1008"};

/* Two domains on one listener: SNI selects the server certificate and the truststore. */
static void start_sni(void)
{
    struct it_config cfg = {.n_domains = 2, .n_servers = 1};
    cfg.servers[0] = it_echo_start(&env, "b1");
    cfg.domains[0] = (struct it_domain){.names = {"api.example.com", "localhost"},
                                        .mode = "mandatory",
                                        .truststore = "trust/full.pem",
                                        .crl = "ca/crl.pem"};
    cfg.domains[1] = (struct it_domain){.names = {"other.example.com"},
                                        .cert = "server/other.crt",
                                        .key = "server/other.key",
                                        .mode = "mandatory",
                                        .truststore = "trust/other.pem"};
    it_mtlb_start(&env, &cfg);
}

static void sni_expect(const char *sni, const struct cert_case *c, bool ok, const char *cn)
{
    for (size_t i = 0; i < 2; i++) {
        struct it_tls_opts o = {.cert = c->cert, .key = c->key, .sni = sni, .version = versions[i]};
        struct it_exchange x;
        char req[256];
        /* Host agrees with SNI: a Host of another domain is the misdirected case below. */
        snprintf(req, sizeof(req), "GET /whoami HTTP/1.1\r\nHost: %s\r\n\r\n",
                 sni ? sni : "localhost");
        it_tls_exchange(env.port, &o, req, &x);
        const char *s = sni ? sni : "(no SNI)";
        if (!ok) {
            cr_assert(x.outcome == IT_HANDSHAKE_FAILED || x.outcome == IT_READ_FAILED,
                      "SNI %s with %s over %s: expected refusal, got %s", s, c->label,
                      vname(versions[i]), x.detail);
        } else {
            cr_assert_eq(x.outcome, IT_OK, "SNI %s with %s over %s: %s", s, c->label,
                         vname(versions[i]), x.detail);
            cr_assert_eq(x.resp.status, 200);
            assert_identity(c, "SUCCESS", s, x.resp.body);
        }
        cr_assert_str_eq(x.server_cn, cn, "SNI %s served the wrong certificate", s);
        cr_assert(x.server_verified, "SNI %s: server certificate does not verify", s);
        it_exchange_fini(&x);
    }
}

Test(mtls, sni_other_domain_uses_its_truststore)
{
    start_sni();
    sni_expect("other.example.com", &other_client, true, "other.example.com");
    sni_expect("other.example.com", &cases[1], false, "other.example.com");
    it_mtlb_stop(&env, 5000);
}

Test(mtls, sni_api_domain_uses_its_truststore)
{
    start_sni();
    sni_expect("api.example.com", &cases[1], true, "api.example.com");
    sni_expect("api.example.com", &other_client, false, "api.example.com");
    sni_expect(NULL, &cases[1], true, "api.example.com");
    it_mtlb_stop(&env, 5000);
}

/* A connection verified under other.example.com's truststore must not carry a request for
 * api.example.com, whose truststore would have refused that certificate: 421. A Host of the
 * same domain (with a port) or of no configured domain goes through. */
Test(mtls, host_of_a_differently_verified_domain_is_misdirected)
{
    start_sni();
    static const struct {
        const char *host;
        int status;
    } cases421[] = {
        {"api.example.com", 421},
        {"LOCALHOST:8443", 421},
        {"other.example.com:8443", 200},
        {"unknown.example.com", 200},
    };
    for (size_t i = 0; i < sizeof(cases421) / sizeof(cases421[0]); i++) {
        struct it_tls_opts o = {
            .cert = other_client.cert, .key = other_client.key, .sni = "other.example.com"};
        struct it_exchange x;
        char req[256];
        snprintf(req, sizeof(req), "GET /whoami HTTP/1.1\r\nHost: %s\r\n\r\n", cases421[i].host);
        it_tls_exchange(env.port, &o, req, &x);
        cr_assert_eq(x.outcome, IT_OK, "Host %s: %s", cases421[i].host, x.detail);
        cr_assert_eq(x.resp.status, cases421[i].status, "Host %s: status %d, want %d",
                     cases421[i].host, x.resp.status, cases421[i].status);
        if (cases421[i].status == 421) {
            cr_assert_null(strstr(x.resp.body, "X-SSL-Client-DN"),
                           "a misdirected request reached the backend");
        }
        it_exchange_fini(&x);
    }
    it_mtlb_stop(&env, 5000);
}
