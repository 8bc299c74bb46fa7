/* Integration: TLS session resumption and client identity. A resumed session (TLS 1.2 or 1.3)
 * skips certificate verification on the server, so the verdict the backend is told must come
 * from the session, not from a verify callback that did not run; a session from one SNI
 * domain must not open another domain with a different truststore; and no session may
 * outlive its client certificate (generated here to expire seconds after the test starts) or
 * the listener's session_lifetime. */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

/* A Host of no configured domain: this file is about sessions, not Host/SNI agreement. */
#define REQUEST "GET /resume HTTP/1.1\r\nHost: resume.test\r\n\r\n"
#define GOOD_DN "/C=PL/O=mtlb Test/CN=good-client"
#define EXPIRED_DN "/C=PL/O=mtlb Test/CN=expired-client"

static struct it_env env;
static const int versions[] = {TLS1_2_VERSION, TLS1_3_VERSION};

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(resume, .init = setup, .fini = teardown, .timeout = 60);

static const char *vname(int v)
{
    return v == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2";
}

/* listeners[].tls for the next start (NULL: none; "session_cache: 0" for sealed tickets). */
static const char *listener_tls;

static void start_with(const char *mode, const char *session_lifetime)
{
    struct it_config cfg = {.n_domains = 2,
                            .n_servers = 1,
                            .session_lifetime = session_lifetime,
                            .listener_tls = listener_tls};
    cfg.servers[0] = it_echo_start(&env, "b1");
    cfg.domains[0] = (struct it_domain){.names = {"api.example.com", "localhost"},
                                        .mode = mode,
                                        .truststore = "trust/full.pem",
                                        .crl = "ca/crl.pem"};
    cfg.domains[1] = (struct it_domain){.names = {"other.example.com"},
                                        .cert = "server/other.crt",
                                        .key = "server/other.key",
                                        .mode = mode,
                                        .truststore = "trust/other.pem"};
    it_mtlb_start(&env, &cfg);
}

static void start(const char *mode)
{
    start_with(mode, NULL);
}

static void assert_identity(const struct it_exchange *x, const char *verify, const char *dn,
                            const char *what)
{
    char v[256];
    cr_assert_eq(x->outcome, IT_OK, "%s: %s", what, x->detail);
    cr_assert_eq(x->resp.status, 200, "%s: status %d", what, x->resp.status);
    cr_assert_eq(it_header_count(x->resp.body, "X-SSL-Client-Verify"), 1, "%s:\n%s", what,
                 x->resp.body);
    it_header_get(x->resp.body, "X-SSL-Client-Verify", v, sizeof(v));
    cr_assert_str_eq(v, verify, "%s (session %s): X-SSL-Client-Verify", what,
                     x->reused ? "resumed" : "not resumed");
    cr_assert(it_header_get(x->resp.body, "X-SSL-Client-DN", v, sizeof(v)),
              "%s (session %s): no X-SSL-Client-DN:\n%s", what,
              x->reused ? "resumed" : "not resumed", x->resp.body);
    cr_assert_str_eq(v, dn, "%s: X-SSL-Client-DN", what);
}

/* Full handshake, then a resumption attempt with the same client; both must be told the
 * same verdict. Returns how many of the attempts actually resumed. */
static int full_then_resumed(const struct it_tls_opts *base, const char *verify, const char *dn)
{
    int resumed = 0;
    for (size_t i = 0; i < 2; i++) {
        char what[96];
        struct it_tls_opts o = *base;
        o.version = versions[i];
        struct it_exchange first, again;
        it_tls_exchange(env.port, &o, REQUEST, &first);
        snprintf(what, sizeof(what), "full handshake over %s", vname(versions[i]));
        assert_identity(&first, verify, dn, what);
        cr_assert_not_null(first.session);
        o.session = first.session;
        it_tls_exchange(env.port, &o, REQUEST, &again);
        snprintf(what, sizeof(what), "resumption over %s", vname(versions[i]));
        assert_identity(&again, verify, dn, what);
        resumed += again.reused;
        cr_log_info("%s: session %s", what, again.reused ? "resumed" : "not resumed");
        it_exchange_fini(&again);
        it_exchange_fini(&first);
    }
    return resumed;
}

Test(resume, resumed_session_keeps_success)
{
    start("mandatory");
    struct it_tls_opts o = {.cert = "client/good.crt", .key = "client/good.key"};
    full_then_resumed(&o, "SUCCESS", GOOD_DN);
    it_mtlb_stop(&env, 5000);
}

Test(resume, resumed_session_keeps_failed_verdict)
{
    start("optional");
    struct it_tls_opts o = {.cert = "client/expired-chain.pem", .key = "client/expired.key"};
    full_then_resumed(&o, "FAILED", EXPIRED_DN);
    it_mtlb_stop(&env, 5000);
}

Test(resume, resumed_session_without_client_cert_loaded)
{
    start("mandatory");
    for (size_t i = 0; i < 2; i++) {
        struct it_tls_opts o = {
            .cert = "client/good.crt", .key = "client/good.key", .version = versions[i]};
        struct it_exchange first, again;
        it_tls_exchange(env.port, &o, REQUEST, &first);
        assert_identity(&first, "SUCCESS", GOOD_DN, "full handshake");
        /* The client now has no certificate to offer: only the session can identify it. */
        struct it_tls_opts bare = {.version = versions[i], .session = first.session};
        it_tls_exchange(env.port, &bare, REQUEST, &again);
        if (again.outcome == IT_OK) {
            cr_assert(again.reused, "%s: no certificate, no resumption, yet a response",
                      vname(versions[i]));
            assert_identity(&again, "SUCCESS", GOOD_DN, "resumed without a certificate");
        }
        it_exchange_fini(&again);
        it_exchange_fini(&first);
    }
    it_mtlb_stop(&env, 5000);
}

/* A session established on one SNI domain, offered with another domain's name, must not skip
 * that domain's client-certificate check (each domain has its own truststore). */
static void assert_no_cross_resumption(const char *from, const char *cert, const char *key,
                                       const char *dn, const char *to)
{
    start("mandatory");
    for (size_t i = 0; i < 2; i++) {
        struct it_tls_opts o = {.cert = cert, .key = key, .sni = from, .version = versions[i]};
        struct it_exchange first, cross;
        it_tls_exchange(env.port, &o, REQUEST, &first);
        assert_identity(&first, "SUCCESS", dn, from);
        struct it_tls_opts bare = {.sni = to, .version = versions[i], .session = first.session};
        it_tls_exchange(env.port, &bare, REQUEST, &cross);
        /* expect, not assert: report both protocol versions. */
        cr_expect_neq(cross.outcome, IT_OK,
                      "%s: a session from %s, offered with SNI %s and no certificate, got a "
                      "response (session resumed: %d); the backend was told:\n%s",
                      vname(versions[i]), from, to ? to : "(none)", cross.reused, cross.resp.body);
        it_exchange_fini(&cross);
        it_exchange_fini(&first);
    }
    it_mtlb_stop(&env, 5000);
}

Test(resume, other_domain_session_not_resumed_on_api)
{
    assert_no_cross_resumption("other.example.com", "client/other-chain.pem", "client/other.key",
                               "/C=PL/O=mtlb Other/CN=other-client", "api.example.com");
}

Test(resume, other_domain_session_not_resumed_without_sni)
{
    assert_no_cross_resumption("other.example.com", "client/other-chain.pem", "client/other.key",
                               "/C=PL/O=mtlb Other/CN=other-client", NULL);
}

Test(resume, api_domain_session_not_resumed_on_other)
{
    assert_no_cross_resumption("api.example.com", "client/good.crt", "client/good.key", GOOD_DN,
                               "other.example.com");
}

/* The same with sealed tickets under the random keys (session_cache: 0): OpenSSL's session id
 * context check, not mtlb's store, is what keeps them apart. */
Test(resume, sealed_tickets_do_not_cross_domains)
{
    listener_tls = "session_cache: 0";
    assert_no_cross_resumption("other.example.com", "client/other-chain.pem", "client/other.key",
                               "/C=PL/O=mtlb Other/CN=other-client", "api.example.com");
    assert_no_cross_resumption("api.example.com", "client/good.crt", "client/good.key", GOOD_DN,
                               "other.example.com");
    listener_tls = NULL;
}

/* Session lifetime and certificate expiry. The three ways a client resumes: a TLS 1.3 ticket,
 * a TLS 1.2 ticket, and a TLS 1.2 session id (a client without the ticket extension). */
struct way {
    const char *name;
    int version;
    bool no_ticket;
};
static const struct way ways[] = {
    {"TLSv1.3 ticket", TLS1_3_VERSION, false},
    {"TLSv1.2 ticket", TLS1_2_VERSION, false},
    {"TLSv1.2 session id", TLS1_2_VERSION, true},
};
#define N_WAYS (sizeof(ways) / sizeof(ways[0]))
#define EXPIRING_DN "/C=PL/O=mtlb Test/CN=expiring-client"

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    cr_assert_not_null(ext, "test bug: extension %s", value);
    cr_assert_eq(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

static void *read_pem(const char *rel, bool key)
{
    FILE *f = fopen(it_pki(rel), "r");
    cr_assert_not_null(f, "cannot open %s", it_pki(rel));
    void *p = key ? (void *)PEM_read_PrivateKey(f, NULL, NULL, NULL)
                  : (void *)PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    cr_assert_not_null(p, "cannot read %s", it_pki(rel));
    return p;
}

/* A client certificate of the test PKI's intermediate CA (so trusted by trust/full.pem),
 * valid from a minute ago until `seconds` from now. Writes the chain (leaf + intermediate)
 * and the key into the test's temp dir; returns notAfter. */
static time_t make_expiring_client(int seconds, char *chain, char *key, size_t cap)
{
    X509 *ca = read_pem("ca/inter.crt", false);
    EVP_PKEY *ca_key = read_pem("ca/inter.key", true);
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    time_t now = time(NULL);
    time_t not_after = now + seconds;
    cr_assert(k != NULL && x != NULL);
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 0x2001);
    ASN1_TIME_set(X509_getm_notBefore(x), now - 60);
    ASN1_TIME_set(X509_getm_notAfter(x), not_after);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC, (const unsigned char *)"PL", -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"mtlb Test", -1, -1, 0);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"expiring-client", -1,
                               -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(ca));
    X509_set_pubkey(x, k);
    add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(x, ca, NID_key_usage, "critical,digitalSignature");
    add_ext(x, ca, NID_ext_key_usage, "clientAuth");
    add_ext(x, ca, NID_authority_key_identifier, "keyid");
    cr_assert(X509_sign(x, ca_key, EVP_sha256()) > 0);
    snprintf(chain, cap, "%s/expiring-chain.pem", env.dir);
    snprintf(key, cap, "%s/expiring.key", env.dir);
    FILE *f = fopen(chain, "w");
    cr_assert(f != NULL && PEM_write_X509(f, x) == 1 && PEM_write_X509(f, ca) == 1);
    fclose(f);
    f = fopen(key, "w");
    cr_assert(f != NULL && PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(k);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    return not_after;
}

static void sleep_until(time_t t)
{
    while (time(NULL) < t) {
        usleep(100 * 1000);
    }
}

static void exchange(const struct way *w, const char *cert, const char *key, SSL_SESSION *sess,
                     struct it_exchange *x)
{
    struct it_tls_opts o = {.cert = cert,
                            .key = key,
                            .version = w->version,
                            .no_ticket = w->no_ticket,
                            .session = sess};
    it_tls_exchange(env.port, &o, REQUEST, x);
}

/* Full handshakes with a certificate that expires a few seconds later, resumption before
 * expiry (it must work: that is what the sessions are for), then resumption after expiry:
 * the backend must never be told SUCCESS for a certificate that has expired. */
static void resume_after_expiry(const char *mode)
{
    enum { VALID_S = 6 };
    struct it_exchange first[N_WAYS], late;
    char chain[300], key[300], what[128];

    start(mode);
    time_t not_after = make_expiring_client(VALID_S, chain, key, sizeof(chain));
    for (size_t i = 0; i < N_WAYS; i++) {
        struct it_exchange again;
        exchange(&ways[i], chain, key, NULL, &first[i]);
        snprintf(what, sizeof(what), "%s: full handshake before expiry", ways[i].name);
        assert_identity(&first[i], "SUCCESS", EXPIRING_DN, what);
        exchange(&ways[i], chain, key, first[i].session, &again);
        snprintf(what, sizeof(what), "%s: resumption before expiry", ways[i].name);
        assert_identity(&again, "SUCCESS", EXPIRING_DN, what);
        cr_assert(again.reused, "%s: a valid session was not resumed", ways[i].name);
        it_exchange_fini(&again);
    }
    cr_assert_lt(time(NULL), not_after,
                 "machine too slow: the handshakes outlasted the %ds certificate", VALID_S);
    /* What the client is told to expect is bounded by the certificate too. */
    cr_expect_leq(SSL_SESSION_get_ticket_lifetime_hint(first[0].session), (unsigned long)VALID_S,
                  "TLSv1.3 ticket lifetime hint outlives the certificate");
    sleep_until(not_after + 1);
    for (size_t i = 0; i < N_WAYS; i++) {
        exchange(&ways[i], chain, key, first[i].session, &late);
        cr_log_info("%s after expiry: %s, resumed %d, alert %d", ways[i].name, late.detail,
                    late.reused, late.alert_received);
        cr_expect_not(late.reused, "%s: a session resumed after its certificate expired",
                      ways[i].name);
        if (strcmp(mode, "mandatory") == 0) {
            cr_expect_neq(late.outcome, IT_OK,
                          "%s: expired certificate, mode mandatory, yet a response; the backend "
                          "was told:\n%s",
                          ways[i].name, late.resp.body ? late.resp.body : "");
            cr_expect_eq(late.alert_received, SSL_AD_CERTIFICATE_EXPIRED,
                         "%s: alert %d instead of certificate_expired", ways[i].name,
                         late.alert_received);
        } else {
            snprintf(what, sizeof(what), "%s: after expiry, mode optional", ways[i].name);
            assert_identity(&late, "FAILED", EXPIRING_DN, what);
        }
        it_exchange_fini(&late);
        it_exchange_fini(&first[i]);
    }
    it_mtlb_stop(&env, 5000);
}

Test(resume, mandatory_session_does_not_outlive_certificate)
{
    resume_after_expiry("mandatory");
}

Test(resume, optional_session_does_not_outlive_certificate)
{
    resume_after_expiry("optional");
}

/* session_lifetime counts from the full handshake that verified the certificate: a session
 * resumed later (TLS 1.3 issues a fresh ticket on every resumption) does not extend it. */
Test(resume, session_lifetime_bounds_resumption)
{
    enum { LIFETIME_S = 4 };
    struct it_exchange first[N_WAYS], again[N_WAYS], late;
    const char *cert = "client/good.crt", *key = "client/good.key";

    start_with("mandatory", "4s");
    time_t t0 = time(NULL);
    for (size_t i = 0; i < N_WAYS; i++) {
        exchange(&ways[i], cert, key, NULL, &first[i]);
        assert_identity(&first[i], "SUCCESS", GOOD_DN, ways[i].name);
    }
    time_t t1 = time(NULL);
    cr_expect_leq(SSL_SESSION_get_ticket_lifetime_hint(first[0].session), (unsigned long)LIFETIME_S,
                  "TLSv1.3 ticket lifetime hint beyond the lifetime");
    /* Late enough that a ticket issued now would, counted from its own issue, still be valid
     * at the final check. */
    sleep_until(t1 + 2);
    for (size_t i = 0; i < N_WAYS; i++) {
        exchange(&ways[i], cert, key, first[i].session, &again[i]);
        assert_identity(&again[i], "SUCCESS", GOOD_DN, ways[i].name);
        cr_assert(again[i].reused, "%s: not resumed within the lifetime (machine too slow? %lds)",
                  ways[i].name, (long)(time(NULL) - t0));
    }
    sleep_until(t1 + LIFETIME_S + 1);
    for (size_t i = 0; i < N_WAYS; i++) {
        SSL_SESSION *offered[] = {first[i].session, again[i].session};
        for (size_t j = 0; j < 2; j++) {
            exchange(&ways[i], cert, key, offered[j], &late);
            assert_identity(&late, "SUCCESS", GOOD_DN, ways[i].name);
            cr_expect_not(late.reused, "%s: the %s session resumed %lds after the full handshake",
                          ways[i].name, j == 0 ? "first" : "resumed", (long)(time(NULL) - t0));
            it_exchange_fini(&late);
        }
        it_exchange_fini(&again[i]);
        it_exchange_fini(&first[i]);
    }
    it_mtlb_stop(&env, 5000);
}

Test(resume, session_lifetime_off_disables_resumption)
{
    start_with("mandatory", "off");
    for (size_t i = 0; i < N_WAYS; i++) {
        struct it_exchange first, again;
        exchange(&ways[i], "client/good.crt", "client/good.key", NULL, &first);
        assert_identity(&first, "SUCCESS", GOOD_DN, ways[i].name);
        exchange(&ways[i], "client/good.crt", "client/good.key", first.session, &again);
        assert_identity(&again, "SUCCESS", GOOD_DN, ways[i].name);
        cr_expect_not(again.reused, "%s: resumed with session_lifetime off", ways[i].name);
        it_exchange_fini(&again);
        it_exchange_fini(&first);
    }
    it_mtlb_stop(&env, 5000);
}

/* HTTP/2: the same verdicts through h2c (ALPN h2), whose --session saves and offers the TLS
 * session. Returns h2c's output (malloc'd). */
static char *h2c_with_session(const char *chain, const char *key, const char *session, bool tls12)
{
    char port[16];
    char *out = NULL, *err = NULL;
    snprintf(port, sizeof(port), "%u", env.port);
    char *argv[] = {getenv("MTLB_H2C"),
                    "--port",
                    port,
                    "--cert",
                    (char *)chain,
                    "--key",
                    (char *)key,
                    "--session",
                    (char *)session,
                    "--print-body",
                    "--stream",
                    "path=/resume",
                    tls12 ? "--tls12" : NULL,
                    NULL};
    cr_assert_not_null(argv[0], "MTLB_H2C is not set (run via meson)");
    it_run(&env, argv, &out, &err, 10000);
    cr_assert(out != NULL && err != NULL);
    cr_log_info("h2c %s: %s%s", session, out, err);
    free(err);
    return out;
}

static void copy_file(const char *from, const char *to)
{
    size_t len = 0;
    char *p = it_read_file(from, &len);
    FILE *f = fopen(to, "w");
    cr_assert(p != NULL && f != NULL && fwrite(p, 1, len, f) == len, "copy %s", from);
    fclose(f);
    free(p);
}

static void resume_after_expiry_h2(const char *mode)
{
    enum { VALID_S = 6 };
    char chain[300], key[300], first[2][300], again[300];
    bool optional = strcmp(mode, "optional") == 0;

    start(mode);
    time_t not_after = make_expiring_client(VALID_S, chain, key, sizeof(chain));
    for (int tls12 = 0; tls12 < 2; tls12++) {
        snprintf(first[tls12], sizeof(first[0]), "%s/h2-session-%d.pem", env.dir, tls12);
        snprintf(again, sizeof(again), "%s/h2-again.pem", env.dir);
        char *out = h2c_with_session(chain, key, first[tls12], tls12);
        cr_assert(strstr(out, " resumed=0\n") && strstr(out, "| X-SSL-Client-Verify: SUCCESS"),
                  "full handshake (tls12 %d):\n%s", tls12, out);
        free(out);
        copy_file(first[tls12], again);
        out = h2c_with_session(chain, key, again, tls12);
        cr_assert(strstr(out, " resumed=1\n") && strstr(out, "| X-SSL-Client-Verify: SUCCESS"),
                  "resumption before expiry (tls12 %d):\n%s", tls12, out);
        free(out);
    }
    cr_assert_lt(time(NULL), not_after, "machine too slow: the certificate expired too soon");
    sleep_until(not_after + 1);
    for (int tls12 = 0; tls12 < 2; tls12++) {
        char *out = h2c_with_session(chain, key, first[tls12], tls12);
        cr_expect_null(strstr(out, "| X-SSL-Client-Verify: SUCCESS"),
                       "HTTP/2 (tls12 %d): SUCCESS after the certificate expired:\n%s", tls12, out);
        cr_expect_null(strstr(out, " resumed=1"), "HTTP/2 (tls12 %d): resumed:\n%s", tls12, out);
        if (optional) {
            cr_expect_not_null(strstr(out, "| X-SSL-Client-Verify: FAILED"),
                               "HTTP/2 (tls12 %d), optional: not FAILED:\n%s", tls12, out);
        } else {
            cr_expect_null(strstr(out, "| X-SSL-Client-Verify:"),
                           "HTTP/2 (tls12 %d), mandatory: a request reached the backend:\n%s",
                           tls12, out);
        }
        free(out);
    }
    it_mtlb_stop(&env, 5000);
}

Test(resume, h2_mandatory_session_does_not_outlive_certificate)
{
    resume_after_expiry_h2("mandatory");
}

Test(resume, h2_optional_session_does_not_outlive_certificate)
{
    resume_after_expiry_h2("optional");
}
