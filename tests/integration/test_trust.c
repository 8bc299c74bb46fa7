/* Integration: which chain a client certificate is verified along, and what that means for the
 * CRLs and the extended key usage. A truststore that holds the root and an intermediate must
 * give the full chain to the root (so the intermediate is checked against the root's CRL); an
 * intermediate or leaf trusted without its root is an anchor that is not revocation-checked;
 * a missing CA CRL fails closed; a certificate without any EKU is refused unless
 * require_client_auth_eku is false. Both modes, TLS 1.2 and 1.3; the DN escaping over HTTP/1.1
 * and HTTP/2. */
#include "h2_util.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#define ROOT_DN "/C=PL/O=mtlb Test/CN=mtlb Test Root CA"
#define INTER_DN "/C=PL/O=mtlb Test/CN=mtlb Test Intermediate CA"
#define RINTER_DN "/C=PL/O=mtlb Test/CN=mtlb Test Revoked Intermediate CA"
#define GOOD "/C=PL/O=mtlb Test/CN=good-client"
#define RSA "/C=PL/O=mtlb Test/CN=rsa-client"
#define REVOKED "/C=PL/O=mtlb Test/CN=revoked-client"
#define UNDER "/C=PL/O=mtlb Test/CN=under-revoked-client"
#define NOEKU "/C=PL/O=mtlb Test/CN=noeku-client"
#define SLASH_DN "/C=PL/O=mtlb Test/CN=mallory\\/CN\\=admin"
#define REQUEST "GET /whoami HTTP/1.1\r\nHost: localhost\r\n\r\n"
#define NO_EKU_LOG "hint=\"certificate has no extended key usage; clientAuth required"

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(trust, .init = setup, .fini = teardown, .timeout = 90);

struct trust_case {
    const char *label;
    const char *truststore;
    const char *crl; /* NULL: none */
    const char *cert;
    const char *key;
    const char *extra; /* more client_auth keys, or NULL */
    bool ok;           /* SUCCESS, else FAILED (optional) / refused (mandatory) */
    const char *dn;
    const char *issuer;
    const char *log;         /* what the client_verify_failed line must contain */
    const char *log_subject; /* the certificate the failure is logged for */
    int depth;
};

#define C(n) "client/" n ".crt", "client/" n ".key"
#define CH(n) "client/" n "-chain.pem", "client/" n ".key"
#define FULL "trust/full.pem"
#define CRL "ca/crl.pem"
#define NOAKID "ca/crl-noakid.pem"

static const struct trust_case cases[] = {
    /* root + intermediate in the truststore, both CAs' CRLs: the full chain, all checked */
    {"ecdsa leaf", FULL, CRL, C("good"), NULL, true, GOOD, INTER_DN, NULL, NULL, 0},
    {"ecdsa chain", FULL, CRL, CH("good"), NULL, true, GOOD, INTER_DN, NULL, NULL, 0},
    {"rsa leaf", FULL, CRL, C("rsa"), NULL, true, RSA, INTER_DN, NULL, NULL, 0},
    {"rsa chain", FULL, CRL, CH("rsa"), NULL, true, RSA, INTER_DN, NULL, NULL, 0},
    /* the same with CRLs that carry no authorityKeyIdentifier (matched by name alone) */
    {"ecdsa leaf, CRLs without AKID", FULL, NOAKID, C("good"), NULL, true, GOOD, INTER_DN, NULL,
     NULL, 0},
    {"ecdsa chain, CRLs without AKID", FULL, NOAKID, CH("good"), NULL, true, GOOD, INTER_DN, NULL,
     NULL, 0},
    {"rsa leaf, CRLs without AKID", FULL, NOAKID, C("rsa"), NULL, true, RSA, INTER_DN, NULL, NULL,
     0},
    {"rsa chain, CRLs without AKID", FULL, NOAKID, CH("rsa"), NULL, true, RSA, INTER_DN, NULL, NULL,
     0},
    {"revoked leaf", FULL, CRL, C("revoked"), NULL, false, REVOKED, INTER_DN, "revoked=yes",
     REVOKED, 0},
    {"revoked leaf, CRLs without AKID", FULL, NOAKID, CH("revoked"), NULL, false, REVOKED, INTER_DN,
     "revoked=yes", REVOKED, 0},
    /* an intermediate revoked by the root: refused whether it is in the truststore or sent */
    {"revoked intermediate in the truststore", "trust/revoked-inter.pem", CRL, C("under-revoked"),
     NULL, false, UNDER, RINTER_DN, "revoked=yes", RINTER_DN, 1},
    {"revoked intermediate, CRLs without AKID", "trust/revoked-inter.pem", NOAKID,
     C("under-revoked"), NULL, false, UNDER, RINTER_DN, "revoked=yes", RINTER_DN, 1},
    {"revoked intermediate sent by the client", "trust/root-only.pem", CRL, CH("under-revoked"),
     NULL, false, UNDER, RINTER_DN, "revoked=yes", RINTER_DN, 1},
    /* only the intermediate's CRL: the intermediate's own status is unknown, fail closed */
    {"root CRL missing", FULL, "ca/crl-inter.pem", C("good"), NULL, false, GOOD, INTER_DN,
     "crl_issuer=\"" ROOT_DN "\"", INTER_DN, 1},
    {"root CRL missing, chain", FULL, "ca/crl-inter.pem", CH("rsa"), NULL, false, RSA, INTER_DN,
     "crl_issuer=\"" ROOT_DN "\"", INTER_DN, 1},
    /* an intermediate trusted without its root: the anchor, not revocation-checked */
    {"intermediate anchor", "trust/inter-only.pem", CRL, C("good"), NULL, true, GOOD, INTER_DN,
     NULL, NULL, 0},
    {"intermediate anchor, CRLs without AKID", "trust/inter-only.pem", NOAKID, CH("rsa"), NULL,
     true, RSA, INTER_DN, NULL, NULL, 0},
    {"intermediate anchor, revoked leaf", "trust/inter-only.pem", NOAKID, C("revoked"), NULL, false,
     REVOKED, INTER_DN, "revoked=yes", REVOKED, 0},
    /* leaves trusted directly, their CA absent */
    {"direct leaf", "trust/leaf-only.pem", CRL, C("good"), NULL, true, GOOD, INTER_DN, NULL, NULL,
     0},
    {"direct leaf, CRLs without AKID", "trust/leaf-only.pem", NOAKID, C("rsa"), NULL, true, RSA,
     INTER_DN, NULL, NULL, 0},
    {"direct leaf sent with its CA", "trust/leaf-only.pem", NOAKID, CH("good"), NULL, true, GOOD,
     INTER_DN, NULL, NULL, 0},
    /* extended key usage */
    {"direct leaf without EKU", "trust/leaf-only.pem", NULL, C("noeku"), NULL, false, NOEKU,
     INTER_DN, NO_EKU_LOG, NOEKU, 0},
    {"direct leaf without EKU, not required", "trust/leaf-only.pem", CRL, C("noeku"),
     "require_client_auth_eku: false", true, NOEKU, INTER_DN, NULL, NULL, 0},
    {"no EKU", FULL, CRL, CH("noeku"), NULL, false, NOEKU, INTER_DN, NO_EKU_LOG, NOEKU, 0},
    {"no EKU, not required", FULL, CRL, CH("noeku"), "require_client_auth_eku: false", true, NOEKU,
     INTER_DN, NULL, NULL, 0},
    {"no EKU, explicitly required", FULL, NULL, C("noeku"), "require_client_auth_eku: true", false,
     NOEKU, INTER_DN, NO_EKU_LOG, NOEKU, 0},
    {"serverAuth EKU only, not required", FULL, CRL, CH("noclientauth"),
     "require_client_auth_eku: false", false, "/C=PL/O=mtlb Test/CN=serveronly-client", INTER_DN,
     "lacks the clientAuth", "/C=PL/O=mtlb Test/CN=serveronly-client", 0},
    /* a subject value with '/' and '=' */
    {"slash in CN", FULL, CRL, CH("slash"), NULL, true, SLASH_DN, INTER_DN, NULL, NULL, 0},
};

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

static const int versions[] = {TLS1_2_VERSION, TLS1_3_VERSION};

static void start(const char *mode, const struct trust_case *c, uint16_t backend)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = 1, .servers = {backend}};
    cfg.domains[0].mode = mode;
    cfg.domains[0].truststore = c->truststore;
    cfg.domains[0].crl = c->crl;
    cfg.domains[0].client_auth_extra = c->extra;
    it_mtlb_start(&env, &cfg);
}

static void check_header(const char *echoed, const char *name, const char *want, const char *what)
{
    char v[512];
    cr_assert_eq(it_header_count(echoed, name), 1, "%s: expected one %s; backend got:\n%s", what,
                 name, echoed);
    it_header_get(echoed, name, v, sizeof(v));
    cr_assert_str_eq(v, want, "%s: %s", what, name);
}

static void expect_response(const struct trust_case *c, int version)
{
    char what[160];
    snprintf(what, sizeof(what), "%s over %s", c->label,
             version == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2");
    struct it_tls_opts o = {.cert = c->cert, .key = c->key, .version = version};
    struct it_exchange x;
    it_tls_exchange(env.port, &o, REQUEST, &x);
    cr_assert_eq(x.outcome, IT_OK, "%s: expected a response, got %s", what, x.detail);
    cr_assert_eq(x.resp.status, 200, "%s: status %d", what, x.resp.status);
    check_header(x.resp.body, "X-SSL-Client-Verify", c->ok ? "SUCCESS" : "FAILED", what);
    check_header(x.resp.body, "X-SSL-Client-DN", c->dn, what);
    check_header(x.resp.body, "X-SSL-Issuer", c->issuer, what);
    it_exchange_fini(&x);
}

static void expect_refused(const struct trust_case *c, int version)
{
    struct it_tls_opts o = {.cert = c->cert, .key = c->key, .version = version};
    struct it_exchange x;
    it_tls_exchange(env.port, &o, REQUEST, &x);
    cr_assert(x.outcome == IT_HANDSHAKE_FAILED || x.outcome == IT_READ_FAILED,
              "%s: mandatory must refuse in TLS, got %s (status %d)", c->label, x.detail,
              x.resp.status);
    cr_assert_geq(x.alert_received, 0, "%s: refused without a TLS alert: %s", c->label, x.detail);
    it_exchange_fini(&x);
}

/* One client_verify_failed line per handshake, naming the certificate, depth and cause. */
static void expect_logged(const struct trust_case *c, size_t attempts)
{
    char subject[256], depth[32];
    snprintf(subject, sizeof(subject), "subject=\"%s\"", c->log_subject);
    snprintf(depth, sizeof(depth), " depth=%d ", c->depth);
    const char *needles[] = {"event=client_verify_failed", depth, subject, c->log, NULL};
    size_t n = it_wait_lines(env.err_log, needles, attempts, 3000);
    char *log = it_read_file(env.err_log, NULL);
    cr_assert_geq(n, attempts, "%s: expected %zu lines with%s%s %s; log:\n%s", c->label, attempts,
                  depth, subject, c->log, log ? log : "");
    free(log);
    const char *any[] = {"event=client_verify_failed", NULL};
    cr_assert_eq(it_count_lines(env.err_log, any), attempts, "%s: logged more than once", c->label);
}

static size_t case_index[N_CASES];

static size_t *case_indices(void)
{
    for (size_t i = 0; i < N_CASES; i++) {
        case_index[i] = i;
    }
    return case_index;
}

ParameterizedTestParameters(trust, mandatory)
{
    return cr_make_param_array(size_t, case_indices(), N_CASES);
}

ParameterizedTest(size_t *ci, trust, mandatory)
{
    const struct trust_case *c = &cases[*ci];
    struct it_sink sink = {-1, 0};
    uint16_t backend;
    if (c->ok) {
        backend = it_echo_start(&env, "b1");
    } else {
        it_sink_open(&sink);
        backend = sink.port;
    }
    start("mandatory", c, backend);
    for (size_t i = 0; i < 2; i++) {
        if (c->ok) {
            expect_response(c, versions[i]);
        } else {
            expect_refused(c, versions[i]);
        }
    }
    if (!c->ok) {
        size_t conns = 0;
        cr_assert_eq(it_sink_drain(&sink, 200, &conns), 0, "%s: reached the backend", c->label);
        it_sink_close(&sink);
        expect_logged(c, 2);
    }
    it_mtlb_stop(&env, 5000);
}

ParameterizedTestParameters(trust, optional)
{
    return cr_make_param_array(size_t, case_indices(), N_CASES);
}

ParameterizedTest(size_t *ci, trust, optional)
{
    const struct trust_case *c = &cases[*ci];
    start("optional", c, it_echo_start(&env, "b1"));
    for (size_t i = 0; i < 2; i++) {
        expect_response(c, versions[i]);
    }
    if (!c->ok) {
        expect_logged(c, 2);
    }
    it_mtlb_stop(&env, 5000);
}

/* The escaped DN reaches the backend the same way over HTTP/2, in both formats' places. */
Test(trust, slash_dn_over_h2)
{
    struct it_config cfg = {.n_domains = 1};
    cfg.domains[0].mode = "mandatory";
    cfg.domains[0].crl = CRL;
    start_cfg(&cfg);
    struct h2_out o;
    h2c_run(&o, 5000, "--print-body", "--cert", (char *)it_pki("client/slash-chain.pem"), "--key",
            (char *)it_pki("client/slash.key"), "--stream", "path=/whoami", NULL);
    struct h2s s;
    get_stream(&o, "/whoami", 0, &s);
    cr_assert_eq(s.status, 200, "h2: status %d\n%s", s.status, o.out);
    char *b = h2_body(o.out, s.id);
    assert_header(b, "X-SSL-Client-Verify", "SUCCESS");
    assert_header(b, "X-SSL-Client-DN", SLASH_DN);
    free(b);
    h2_out_fini(&o);
    it_mtlb_stop(&env, 5000);
}
