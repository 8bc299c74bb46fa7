/* Integration: TLS session resumption and client identity. A resumed session (TLS 1.2 or 1.3)
 * skips certificate verification on the server, so the verdict the backend is told must come
 * from the session, not from a verify callback that did not run; and a session from one SNI
 * domain must not open another domain with a different truststore. */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

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

static void start(const char *mode)
{
    struct it_config cfg = {.n_domains = 2, .n_servers = 1};
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
