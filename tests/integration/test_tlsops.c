/* Integration: what an operator sees about TLS files and TLS refusals. `mtlb -t` reports CRL
 * problems that would refuse clients (a truststore CA without its CRL, a CRL past nextUpdate,
 * a CRL no chain can use) as warnings and still exits 0; an expired server certificate starts
 * and serves with a warning naming the domain and date; file errors name the configuration
 * line and domain; a missing client certificate and a 421 are one warn line each. */
#include "h2_util.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/objects.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(tlsops, .init = setup, .fini = teardown, .timeout = 120);

static struct it_config base(void)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = 1, .servers = {9}};
    cfg.domains[0].mode = "mandatory";
    cfg.domains[0].crl = "ca/crl.pem";
    return cfg;
}

static void expect_has(const char *text, const char *needle, const char *what)
{
    cr_assert_not_null(strstr(text, needle), "%s: output must contain '%s'; it was:\n%s", what,
                       needle, text);
}

static size_t count_of(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

/* ---- refusal log lines (item 8) ---- */

static const struct it_tls_opts good = {.cert = "client/good.crt", .key = "client/good.key"};

Test(tlsops, missing_client_certificate_is_one_warn_line_per_refusal)
{
    struct it_config cfg = {.n_domains = 1};
    start_cfg(&cfg);
    int versions[] = {TLS1_3_VERSION, TLS1_2_VERSION, TLS1_3_VERSION};
    for (size_t i = 0; i < 3; i++) {
        struct it_tls_opts none = {.version = versions[i]};
        struct it_exchange x;
        it_tls_exchange(env.port, &none, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &x);
        cr_assert_neq(x.outcome, IT_OK, "a client without a certificate was served");
        it_exchange_fini(&x);
    }
    const char *missing[] = {"level=warn", "event=client_cert_missing",
                             "peer=127.0.0.1:", "domain=api.example.com", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, missing, 3, 3000), 3,
                 "each refused connection gets client_cert_missing at warn:\n%s",
                 it_read_file(env.err_log, NULL));
    /* and nothing else at warn about them (the acceptor's handshake_failed stays at debug) */
    const char *warns[] = {"level=warn", "peer=127.0.0.1:", NULL};
    cr_assert_eq(it_count_lines(env.err_log, warns), 3, "one warn line per refusal:\n%s",
                 it_read_file(env.err_log, NULL));
    const char *info[] = {"level=info", "event=client_cert_missing", NULL};
    cr_assert_eq(it_count_lines(env.err_log, info), 0);
    /* a good client still passes, and logs no refusal */
    struct it_response r;
    it_get(env.port, &good, "/", &r);
    cr_assert_eq(r.status, 200);
    it_response_fini(&r);
    cr_assert_eq(it_count_lines(env.err_log, warns), 3);
}

static const char *const misdirected[] = {"level=warn",
                                          "event=misdirected_request",
                                          "status=421",
                                          "peer=127.0.0.1:",
                                          "domain=api.example.com",
                                          "conn=",
                                          "authority_domain=other.example.com",
                                          NULL};

Test(tlsops, misdirected_request_is_logged_http1)
{
    start_two_domains("optional");
    struct it_tls_opts o = {
        .cert = "client/good.crt", .key = "client/good.key", .sni = "api.example.com"};
    struct it_exchange x;
    it_tls_exchange(env.port, &o, "GET / HTTP/1.1\r\nHost: Other.Example.Com.:8443\r\n\r\n", &x);
    cr_assert_eq(x.outcome, IT_OK, "%s", x.detail);
    cr_assert_eq(x.resp.status, 421);
    it_exchange_fini(&x);
    cr_assert_eq(it_wait_lines(env.err_log, misdirected, 1, 3000), 1, "no 421 warn line:\n%s",
                 it_read_file(env.err_log, NULL));
    const char *authority[] = {"event=misdirected_request", "authority=other.example.com:8443",
                               NULL};
    cr_assert_eq(it_count_lines(env.err_log, authority), 1, "the requested authority:\n%s",
                 it_read_file(env.err_log, NULL));
    /* a request for the handshake's own domain is no refusal */
    it_tls_exchange(env.port, &o, "GET / HTTP/1.1\r\nHost: api.example.com\r\n\r\n", &x);
    cr_assert_eq(x.resp.status, 200);
    it_exchange_fini(&x);
    const char *any[] = {"event=misdirected_request", NULL};
    cr_assert_eq(it_count_lines(env.err_log, any), 1);
}

Test(tlsops, misdirected_request_is_logged_h2)
{
    start_two_domains("optional");
    struct h2_out o;
    h2c_run(&o, 10000, "--sni", "api.example.com", "--cert", good_cert(), "--key", good_key(),
            "--stream", "path=/a,authority=other.example.com", "--stream", "path=/b,after", NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    struct h2s s;
    get_stream(&o, "/a", 0, &s);
    cr_assert_eq(s.status, 421, "%s", o.out);
    get_stream(&o, "/b", 0, &s);
    cr_assert_eq(s.status, 200, "%s", o.out);
    h2_out_fini(&o);
    cr_assert_eq(it_wait_lines(env.err_log, misdirected, 1, 3000), 1, "no 421 warn line:\n%s",
                 it_read_file(env.err_log, NULL));
    const char *authority[] = {"event=misdirected_request", "authority=other.example.com ", NULL};
    cr_assert_eq(it_count_lines(env.err_log, authority), 1, "the requested authority:\n%s",
                 it_read_file(env.err_log, NULL));
}

/* ---- file errors name the configuration line and domain (item 4) ---- */

/* "CONFIG:LINE: listeners[0].domains[D] (NAME): KEY:" for the line of env.config on which
 * `KEY: ` first appears after the D-th "- names:" (the harness writes one domain per block). */
static void origin_of(size_t domain, const char *name, const char *key, char *out, size_t cap)
{
    char *text = it_read_file(env.config, NULL);
    cr_assert_not_null(text);
    char want[64];
    snprintf(want, sizeof(want), "%s: ", key);
    const char *p = text;
    for (size_t i = 0; i <= domain; i++) {
        p = strstr(p + 1, "- names:");
        cr_assert_not_null(p);
    }
    const char *k = strstr(p, want);
    cr_assert_not_null(k);
    unsigned line = 1;
    for (const char *q = text; q < k; q++) {
        line += *q == '\n';
    }
    snprintf(out, cap, "%s:%u: listeners[0].domains[%zu] (%s): %s: ", env.config, line, domain,
             name, key);
    free(text);
}

static void expect_file_error(const struct it_config *cfg, size_t domain, const char *name,
                              const char *key, const char *problem, const char *what)
{
    struct it_run_result r = it_mtlb_check(&env, cfg);
    char origin[600];
    origin_of(domain, name, key, origin, sizeof(origin));
    cr_assert_eq(r.rc, 1, "%s: mtlb -t must exit 1, got %d; stderr:\n%s", what, r.rc, r.err);
    expect_has(r.err, origin, what);
    cr_assert_not_null(strcasestr(r.err, problem), "%s: stderr must say '%s':\n%s", what, problem,
                       r.err);
    it_run_result_fini(&r);
}

Test(tlsops, file_errors_name_config_line_domain_and_key)
{
    struct it_config cfg = base();
    cfg.n_domains = 2;
    cfg.domains[1] = (struct it_domain){.names = {"other.example.com"},
                                        .cert = "server/other.crt",
                                        .key = "server/mismatch.key",
                                        .mode = "optional",
                                        .truststore = "trust/other.pem"};
    expect_file_error(&cfg, 1, "other.example.com", "key", "does not match", "mismatched key");
    cfg.domains[1].key = "server/other.key";
    char missing[400];
    snprintf(missing, sizeof(missing), "%s/absent.pem", env.dir);
    cfg.domains[1].truststore = missing;
    expect_file_error(&cfg, 1, "other.example.com", "truststore", "No such file",
                      "missing truststore");
}

Test(tlsops, a_directory_given_as_a_file_is_named_so)
{
    const char *keys[] = {"certificate", "key", "truststore", "crl"};
    for (size_t i = 0; i < 4; i++) {
        struct it_config cfg = base();
        struct it_domain *d = &cfg.domains[0];
        *(i == 0 ? &d->cert : i == 1 ? &d->key : i == 2 ? &d->truststore : &d->crl) = env.dir;
        expect_file_error(&cfg, 0, "api.example.com", keys[i], "is a directory", keys[i]);
    }
}

Test(tlsops, a_chain_with_the_leaf_last_says_the_leaf_must_come_first)
{
    struct it_config cfg = base();
    cfg.domains[0].cert = it_copy_pki(&env, "server/api-reversed.pem", "chain.pem");
    expect_file_error(&cfg, 0, "api.example.com", "certificate", "the leaf must come first",
                      "reversed chain");
    struct it_run_result r = it_mtlb_check(&env, &cfg);
    expect_has(r.err, "position 2", "reversed chain");
    cr_assert_null(strstr(r.err, "does not match"), "not a key mismatch:\n%s", r.err);
    it_run_result_fini(&r);
}

/* ---- -t warnings: CRLs that would refuse clients (item 4) ---- */

/* mtlb -t exits 0, says "valid, with N warnings", and prints each as "mtlb: warning: ORIGIN". */
static struct it_run_result expect_warnings(const struct it_config *cfg, size_t n, const char *what)
{
    struct it_run_result r = it_mtlb_check(&env, cfg);
    char origin[600], want[64];
    cr_assert_eq(r.rc, 0, "%s: mtlb -t must exit 0, got %d; stderr:\n%s", what, r.rc, r.err);
    snprintf(want, sizeof(want), "valid, with %zu warning%s", n, n == 1 ? "" : "s");
    expect_has(r.out, want, what);
    cr_assert_eq(count_of(r.err, "mtlb: warning: "), n, "%s: %zu warnings wanted:\n%s", what, n,
                 r.err);
    origin_of(0, "api.example.com", "crl", origin, sizeof(origin));
    char line[700];
    snprintf(line, sizeof(line), "mtlb: warning: %s", origin);
    if (cfg->domains[0].crl != NULL) {
        expect_has(r.err, line, what);
    }
    return r;
}

Test(tlsops, t_is_quiet_about_a_good_crl)
{
    struct it_config cfg = base();
    struct it_run_result r = it_mtlb_check(&env, &cfg);
    cr_assert_eq(r.rc, 0, "%s", r.err);
    expect_has(r.out, "is valid\n", "good config");
    cr_assert_null(strstr(r.err, "warning"), "a good config has no warning:\n%s", r.err);
    it_run_result_fini(&r);
}

Test(tlsops, t_warns_about_a_truststore_ca_without_its_crl)
{
    struct it_config cfg = base();
    cfg.domains[0].crl = it_copy_pki(&env, "ca/crl-inter.pem", "clients.crl");
    struct it_run_result r = expect_warnings(&cfg, 1, "root CRL missing");
    expect_has(r.err, "no CRL from /C=PL/O=mtlb Test/CN=mtlb Test Root CA", "root CRL missing");
    expect_has(r.err, "it issued is refused", "root CRL missing");
    it_run_result_fini(&r);
}

Test(tlsops, t_warns_about_a_crl_from_a_ca_outside_the_truststore)
{
    struct it_config cfg = base();
    cfg.domains[0].truststore = "trust/other.pem";
    cfg.domains[0].crl = it_copy_pki(&env, "ca/crl-inter.pem", "clients.crl");
    struct it_run_result r = expect_warnings(&cfg, 2, "CRL of another CA");
    expect_has(r.err, "unused CRL from /C=PL/O=mtlb Test/CN=mtlb Test Intermediate CA",
               "CRL of another CA");
    expect_has(r.err, "no CRL from /C=PL/O=mtlb Other/CN=mtlb Other CA", "CRL of another CA");
    it_run_result_fini(&r);
    /* an intermediate with pathlen 0 issues no CA: the root's CRL can never be used */
    cfg.domains[0].truststore = "trust/inter-only.pem";
    cfg.domains[0].crl = it_copy_pki(&env, "ca/crl.pem", "clients.crl");
    r = expect_warnings(&cfg, 2, "root CRL with an intermediate-only truststore");
    expect_has(r.err, "unused CRL from /C=PL/O=mtlb Test/CN=mtlb Test Root CA", "inter-only");
    it_run_result_fini(&r);
}

Test(tlsops, t_warns_about_an_expired_crl_and_mtlb_warns_at_start)
{
    struct it_config cfg = base();
    cfg.domains[0].crl = it_copy_pki(&env, "ca/crl-expired.pem", "clients.crl");
    struct it_run_result r = expect_warnings(&cfg, 1, "expired CRL");
    expect_has(r.err,
               "CRL from /C=PL/O=mtlb Test/CN=mtlb Test Intermediate CA expired on "
               "2020-02-01 00:00:00 UTC",
               "expired CRL");
    expect_has(r.err, "is refused", "expired CRL");
    it_run_result_fini(&r);
    start_cfg(&cfg);
    const char *n[] = {"level=warn", "event=crl_expired", "domain=api.example.com",
                       "issuer=\"/C=PL/O=mtlb Test/CN=mtlb Test Intermediate CA\"", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, n, 1, 3000), 1, "no crl_expired line:\n%s",
                 it_read_file(env.err_log, NULL));
    /* what the warning says: a client of that CA is refused */
    struct it_exchange x;
    it_tls_exchange(env.port, &good, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &x);
    cr_assert_neq(x.outcome, IT_OK, "a client under an expired CRL was served");
    it_exchange_fini(&x);
}

Test(tlsops, t_warns_about_a_crl_near_its_next_update)
{
    struct it_config cfg = base();
    cfg.domains[0].crl = it_copy_pki(&env, "ca/crl-soon.pem", "clients.crl");
    struct it_run_result r = expect_warnings(&cfg, 1, "CRL expiring");
    expect_has(r.err, "within 7 days", "CRL expiring");
    it_run_result_fini(&r);
}

/* ---- an expired server certificate starts and serves, with warnings (item 7) ---- */

Test(tlsops, expired_server_certificate_starts_serves_and_warns)
{
    struct it_config cfg = base();
    cfg.domains[0].crl = NULL;
    cfg.n_domains = 2;
    cfg.domains[1] = (struct it_domain){.names = {"old.example.com"},
                                        .cert = it_copy_pki(&env, "server/expired.crt", "old.crt"),
                                        .key = it_copy_pki(&env, "server/expired.key", "old.key")};
    struct it_run_result r = it_mtlb_check(&env, &cfg);
    cr_assert_eq(r.rc, 0, "an expired certificate must not fail -t:\n%s", r.err);
    expect_has(r.out, "valid, with 1 warning", "expired");
    expect_has(r.err, "listeners[0].domains[1] (old.example.com): certificate:", "expired");
    expect_has(r.err, "expired on 2020-12-31 23:59:59 UTC", "expired");
    it_run_result_fini(&r);
    cfg.servers[0] = it_echo_start(&env, "b1");
    it_mtlb_start(&env, &cfg);
    const char *n[] = {"level=warn", "event=server_certificate_expired", "domain=old.example.com",
                       "not_after=\"2020-12-31 23:59:59 UTC\"", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, n, 1, 3000), 1, "no start-up warning:\n%s",
                 it_read_file(env.err_log, NULL));
    /* both domains serve: the expired one with its expired certificate */
    const char *snis[] = {"old.example.com", "api.example.com"};
    for (size_t i = 0; i < 2; i++) {
        struct it_tls_opts o = {
            .cert = "client/good.crt", .key = "client/good.key", .sni = snis[i]};
        struct it_exchange x;
        it_tls_exchange(env.port, &o, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &x);
        cr_assert_eq(x.outcome, IT_OK, "%s: %s", snis[i], x.detail);
        cr_assert_eq(x.resp.status, 200, "%s", snis[i]);
        cr_assert_eq(x.server_verified, i == 1, "%s: the client's verdict on the server", snis[i]);
        it_exchange_fini(&x);
    }
}

Test(tlsops, server_certificate_expiring_within_30_days_is_warned)
{
    struct it_config cfg = base();
    cfg.domains[0].cert = it_copy_pki(&env, "server/soon.crt", "soon.crt");
    cfg.domains[0].key = it_copy_pki(&env, "server/soon.key", "soon.key");
    struct it_run_result r = it_mtlb_check(&env, &cfg);
    cr_assert_eq(r.rc, 0, "%s", r.err);
    expect_has(r.out, "valid, with 1 warning", "expiring");
    expect_has(r.err, "(api.example.com): certificate:", "expiring");
    expect_has(r.err, "within 30 days", "expiring");
    it_run_result_fini(&r);
    cfg.servers[0] = it_echo_start(&env, "b1");
    it_mtlb_start(&env, &cfg);
    const char *n[] = {"level=warn", "event=server_certificate_expiring", "domain=api.example.com",
                       "not_after=", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, n, 1, 3000), 1, "no start-up warning:\n%s",
                 it_read_file(env.err_log, NULL));
}

/* ---- the server chain: built once at load for a leaf-only file (server_chain.c) ---- */

/* The subjects' CNs of the chain the server sent, in order, "|"-separated. */
static size_t served_chain(const struct it_config *cfg, char *cns, size_t cap)
{
    char err[256];
    it_mtlb_start(&env, cfg);
    struct it_conn *c = it_tls_connect(env.port, &good, err, sizeof(err));
    cr_assert_not_null(c, "handshake: %s", err);
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(c->ssl);
    size_t n = chain != NULL ? (size_t)sk_X509_num(chain) : 0;
    cns[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char cn[128] = "";
        X509_NAME_get_text_by_NID(X509_get_subject_name(sk_X509_value(chain, (int)i)),
                                  NID_commonName, cn, sizeof(cn));
        size_t len = strlen(cns);
        snprintf(cns + len, cap - len, "%s%s", i > 0 ? "|" : "", cn);
    }
    it_conn_close(c);
    return n;
}

Test(tlsops, a_leaf_only_certificate_file_is_served_without_the_root)
{
    char cns[512];
    struct it_config cfg = base();
    cfg.servers[0] = it_echo_start(&env, "b1");
    /* server/api.crt holds the leaf only; its issuer, the root, is in the truststore */
    size_t n = served_chain(&cfg, cns, sizeof(cns));
    cr_assert_eq(n, 1, "the leaf alone (no trust anchor): %s", cns);
    cr_assert_str_eq(cns, "api.example.com");
}

Test(tlsops, a_leaf_only_certificate_file_gets_its_intermediate_from_the_truststore)
{
    char cns[512];
    struct it_config cfg = base();
    cfg.servers[0] = it_echo_start(&env, "b1");
    /* a certificate issued by the intermediate (a client one serves as well for the chain);
     * the truststore holds the intermediate and the root */
    cfg.domains[0].cert = "client/good.crt";
    cfg.domains[0].key = "client/good.key";
    size_t n = served_chain(&cfg, cns, sizeof(cns));
    cr_assert_eq(n, 2, "leaf + intermediate, no root: %s", cns);
    cr_assert_str_eq(cns, "good-client|mtlb Test Intermediate CA");
}

Test(tlsops, a_certificate_file_with_a_chain_is_served_as_written)
{
    char cns[512];
    struct it_config cfg = base();
    cfg.servers[0] = it_echo_start(&env, "b1");
    cfg.domains[0].cert = "server/api-full.pem"; /* api's certificate, then the root's */
    size_t n = served_chain(&cfg, cns, sizeof(cns));
    cr_assert_eq(n, 2, "the file's chain: %s", cns);
    cr_assert_str_eq(cns, "api.example.com|mtlb Test Root CA");
}
