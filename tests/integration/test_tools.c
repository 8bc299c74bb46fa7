/* Integration: the offline tools for the people who fill truststores. `mtlb verify-client`:
 * SUCCESS for a good client, FAILED with the reason token for a missing intermediate (and the
 * missing issuer's DN exactly as the refusal log line of a real handshake names it), a revoked,
 * expired or not yet valid certificate, an unknown CA, the wrong domain, optional mode; domain
 * choice and usage errors. `mtlb truststore-lint`: a good bundle exits 0; each problem (expired,
 * not yet valid, expiring soon, duplicate, a leaf that issued another, an intermediate without
 * its issuer, a key block, a corrupted certificate, no certificate) is named with its entry,
 * and errors exit 1 while warnings alone exit 0. */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

static struct it_env env;

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(tools, .init = setup, .fini = teardown, .timeout = 60);

#define INTER_DN "/C=PL/O=mtlb Test/CN=mtlb Test Intermediate CA"

/* `mtlb ARGS...` (NULL-terminated) to completion. */
static struct it_run_result mtlb(const char *a1, ...)
{
    char *argv[16] = {getenv("MTLB_BIN"), (char *)a1};
    size_t n = 2;
    va_list ap;
    va_start(ap, a1);
    for (const char *a = va_arg(ap, const char *); a != NULL && n < 15;
         a = va_arg(ap, const char *)) {
        argv[n++] = (char *)a;
    }
    va_end(ap);
    argv[n] = NULL;
    struct it_run_result r;
    r.rc = it_run(&env, argv, &r.out, &r.err, 10000);
    r.out = r.out ? r.out : calloc(1, 1);
    r.err = r.err ? r.err : calloc(1, 1);
    return r;
}

/* One domain (api.example.com, localhost), mandatory; the backend is never reached. */
static struct it_config one_domain(const char *truststore, const char *crl)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = 1, .servers = {9}};
    cfg.domains[0].truststore = truststore;
    cfg.domains[0].crl = crl;
    return cfg;
}

/* verify-client against cfg (written to env.config) for the PKI file client. */
static struct it_run_result verify(const struct it_config *cfg, const char *domain,
                                   const char *client)
{
    cr_assert_eq(it_write_config(&env, cfg), 0);
    if (domain != NULL) {
        return mtlb("verify-client", "-c", env.config, "--domain", domain, it_pki(client), NULL);
    }
    return mtlb("verify-client", "-c", env.config, it_pki(client), NULL);
}

static void expect_failed(struct it_run_result *r, const char *first_line)
{
    cr_assert_eq(r->rc, 1, "exit 1 on FAILED, got %d; out:\n%s\nerr:\n%s", r->rc, r->out, r->err);
    cr_assert(strncmp(r->out, first_line, strlen(first_line)) == 0 &&
                  r->out[strlen(first_line)] == '\n',
              "first line must be \"%s\":\n%s", first_line, r->out);
}

Test(tools, verify_client_good_client_is_success)
{
    struct it_config cfg = one_domain(NULL, "ca/crl.pem");
    const char *clients[] = {"client/good-chain.pem", "client/good.crt", "client/rsa-chain.pem"};
    for (size_t i = 0; i < 3; i++) {
        struct it_run_result r = verify(&cfg, NULL, clients[i]);
        cr_assert_eq(r.rc, 0, "%s: %d\n%s\n%s", clients[i], r.rc, r.out, r.err);
        cr_assert(strncmp(r.out, "SUCCESS\n", 8) == 0, "%s", r.out);
        cr_assert(strstr(r.out, "\nsubject: /C=PL/O=mtlb Test/CN=") != NULL, "%s", r.out);
        cr_assert(strstr(r.out, "domain: api.example.com, localhost (listener 127.0.0.1:") != NULL,
                  "%s", r.out);
        cr_assert_str_eq(r.err, "", "nothing on stderr");
        it_run_result_fini(&r);
    }
}

/* The refusal log line's missing_issuer="DN" of a real handshake, for comparison. */
static void handshake_missing_issuer(const struct it_config *cfg, char *dn, size_t cap)
{
    it_mtlb_start(&env, cfg);
    struct it_tls_opts o = {.cert = "client/good.crt", .key = "client/good.key"};
    struct it_exchange x;
    it_tls_exchange(env.port, &o, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &x);
    cr_assert_neq(x.outcome, IT_OK, "refused");
    it_exchange_fini(&x);
    const char *needles[] = {"event=client_verify_failed", "missing_issuer=", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, needles, 1, 3000), 1);
    char *log = it_read_file(env.err_log, NULL);
    const char *p = strstr(strstr(log, "event=client_verify_failed"), "missing_issuer=\"");
    cr_assert_not_null(p);
    p += strlen("missing_issuer=\"");
    size_t n = strcspn(p, "\"");
    cr_assert_lt(n, cap);
    memcpy(dn, p, n);
    dn[n] = '\0';
    free(log);
    it_mtlb_stop(&env, 5000);
}

Test(tools, verify_client_missing_intermediate_names_the_issuer_as_the_log_does)
{
    struct it_config cfg = one_domain("trust/root-only.pem", NULL);
    struct it_run_result r = verify(&cfg, NULL, "client/good.crt");
    expect_failed(&r, "FAILED: missing_issuer unable to get local issuer certificate");
    cr_assert(strstr(r.out, "\nmissing issuer: " INTER_DN "\n") != NULL, "%s", r.out);
    cr_assert(strstr(r.out, "\nhint: add the certificate of the missing issuer to the truststore, "
                            "or have the client send its full chain\n") != NULL,
              "%s", r.out);
    char dn[512];
    handshake_missing_issuer(&cfg, dn, sizeof(dn));
    cr_assert_str_eq(dn, INTER_DN, "the handshake log names the same issuer");
    it_run_result_fini(&r);

    /* The client sending its intermediate completes the chain. */
    r = verify(&cfg, NULL, "client/good-chain.pem");
    cr_assert_eq(r.rc, 0, "%s", r.out);
    it_run_result_fini(&r);
}

Test(tools, verify_client_revoked_expired_not_yet_valid_unknown_ca_bad_purpose)
{
    static const struct {
        const char *client, *line, *detail;
    } cases[] = {
        {"client/revoked-chain.pem", "FAILED: revoked certificate revoked",
         "hint: the certificate is revoked by its issuer's CRL"},
        {"client/expired-chain.pem", "FAILED: expired certificate has expired",
         "not after: 2020-12-31 23:59:59 UTC"},
        {"client/future-chain.pem", "FAILED: not_yet_valid certificate is not yet valid",
         "not before: 2099-01-01 00:00:00 UTC"},
        {"client/untrusted-chain.pem",
         "FAILED: unknown_ca self-signed certificate in certificate chain",
         "failing certificate at depth 1: /C=PL/O=mtlb Rogue/CN=mtlb Rogue CA"},
        {"client/noclientauth-chain.pem", "FAILED: bad_purpose unsuitable certificate purpose",
         "hint: the certificate lacks the clientAuth extended key usage"},
        {"client/noeku-chain.pem", "FAILED: bad_purpose unsuitable certificate purpose",
         "clientAuth required (client_auth.require_client_auth_eku)"},
        {"client/under-revoked-chain.pem", "FAILED: revoked certificate revoked",
         "failing certificate at depth 1: /C=PL/O=mtlb Test/CN=mtlb Test Revoked Intermediate CA"},
    };
    struct it_config cfg = one_domain(NULL, "ca/crl.pem");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct it_run_result r = verify(&cfg, NULL, cases[i].client);
        expect_failed(&r, cases[i].line);
        cr_assert(strstr(r.out, cases[i].detail) != NULL, "%s: want \"%s\" in:\n%s",
                  cases[i].client, cases[i].detail, r.out);
        it_run_result_fini(&r);
    }
    /* Without the CRL the revoked client passes: the CRL is what refuses it. */
    cfg = one_domain(NULL, NULL);
    struct it_run_result r = verify(&cfg, NULL, "client/revoked-chain.pem");
    cr_assert_eq(r.rc, 0, "%s", r.out);
    it_run_result_fini(&r);
}

/* Pinned leaves (no CA in the truststore): the directly trusted leaf passes, the EKU rule
 * still applies to a pinned leaf, and a leaf the truststore does not hold has no issuer. */
Test(tools, verify_client_directly_trusted_leaves)
{
    struct it_config cfg = one_domain("trust/leaf-only.pem", NULL);
    struct it_run_result r = verify(&cfg, NULL, "client/good.crt");
    cr_assert_eq(r.rc, 0, "%s", r.out);
    it_run_result_fini(&r);
    r = verify(&cfg, NULL, "client/noeku.crt");
    expect_failed(&r, "FAILED: bad_purpose unsuitable certificate purpose");
    it_run_result_fini(&r);
    r = verify(&cfg, NULL, "client/revoked.crt");
    expect_failed(&r, "FAILED: missing_issuer unable to get local issuer certificate");
    cr_assert(strstr(r.out, "\nmissing issuer: " INTER_DN "\n") != NULL, "%s", r.out);
    it_run_result_fini(&r);
    r = verify(&cfg, NULL, "client/byleaf.crt");
    expect_failed(&r, "FAILED: other invalid CA certificate");
    cr_assert(strstr(r.out, "failing certificate at depth 1: /C=PL/O=mtlb Test/CN=good-client\n") !=
                  NULL,
              "%s", r.out);
    it_run_result_fini(&r);
}

/* A handshake verifies at OpenSSL's security level (default 1: a 512-bit RSA client key is
 * refused, X.509 error 66), and so must the tool. The handshake side: openssl s_client at
 * security level 0, a client that sends such a key. */
Test(tools, verify_client_applies_the_security_level_as_the_handshake_does)
{
    struct it_config cfg = one_domain(NULL, NULL);
    struct it_run_result r = verify(&cfg, NULL, "client/weak-chain.pem");
    expect_failed(&r, "FAILED: other EE certificate key too weak");
    it_run_result_fini(&r);

    it_mtlb_start(&env, &cfg);
    char connect[32], cert[512], key[512], inter[512];
    snprintf(connect, sizeof(connect), "127.0.0.1:%u", env.port);
    snprintf(cert, sizeof(cert), "%s", it_pki("client/weak.crt"));
    snprintf(key, sizeof(key), "%s", it_pki("client/weak.key"));
    snprintf(inter, sizeof(inter), "%s", it_pki("ca/inter.crt"));
    char *argv[] = {"/usr/bin/openssl",
                    "s_client",
                    "-connect",
                    connect,
                    "-cert",
                    cert,
                    "-key",
                    key,
                    "-cert_chain",
                    inter,
                    "-cipher",
                    "DEFAULT@SECLEVEL=0",
                    "-tls1_2",
                    NULL};
    char *out = NULL, *err = NULL;
    it_run(&env, argv, &out, &err, 10000);
    const char *needles[] = {"event=client_verify_failed", "x509_error=66",
                             "subject=\"/C=PL/O=mtlb Test/CN=weak-client\"", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, needles, 1, 3000), 1,
                 "the handshake refused the same client; s_client:\n%s%s", out ? out : "",
                 err ? err : "");
    free(out);
    free(err);
}

/* Two domains that trust different CAs: the answer depends on the domain asked about. */
static struct it_config two_domains(const char *other_mode)
{
    struct it_config cfg = {.n_domains = 2, .n_servers = 1, .servers = {9}};
    cfg.domains[1] = (struct it_domain){.names = {"other.example.com", "*.partner.example"},
                                        .cert = "server/other.crt",
                                        .key = "server/other.key",
                                        .mode = other_mode};
    if (strcmp(other_mode, "off") != 0) {
        cfg.domains[1].truststore = "trust/other.pem";
    }
    return cfg;
}

Test(tools, verify_client_wrong_domain_fails_right_domain_succeeds)
{
    struct it_config cfg = two_domains("mandatory");
    struct it_run_result r = verify(&cfg, "other.example.com", "client/good-chain.pem");
    expect_failed(&r, "FAILED: missing_issuer unable to get local issuer certificate");
    cr_assert(strstr(r.out, "missing issuer: /C=PL/O=mtlb Test/CN=mtlb Test Root CA\n") != NULL,
              "%s", r.out);
    cr_assert(strstr(r.out, "domain: other.example.com, *.partner.example (listener") != NULL);
    it_run_result_fini(&r);
    r = verify(&cfg, "api.example.com", "client/good-chain.pem");
    cr_assert_eq(r.rc, 0, "%s", r.out);
    it_run_result_fini(&r);
    r = verify(&cfg, "API.Example.COM", "client/other-chain.pem");
    expect_failed(&r, "FAILED: unknown_ca self-signed certificate in certificate chain");
    it_run_result_fini(&r);
    /* As SNI would: a wildcard name picks the other domain. */
    r = verify(&cfg, "b2b.partner.example", "client/other-chain.pem");
    cr_assert_eq(r.rc, 0, "%s\n%s", r.out, r.err);
    it_run_result_fini(&r);
}

Test(tools, verify_client_domain_choice_and_usage_errors)
{
    struct it_config cfg = two_domains("mandatory");
    struct it_run_result r = verify(&cfg, NULL, "client/good-chain.pem");
    cr_assert_eq(r.rc, 2, "two verifying domains need --domain: %d\n%s", r.rc, r.out);
    cr_assert(strstr(r.err, "choose one with --domain NAME") != NULL, "%s", r.err);
    cr_assert(strstr(r.err, "  api.example.com, localhost (listener 127.0.0.1:") != NULL, "%s",
              r.err);
    cr_assert(strstr(r.err, "  other.example.com, *.partner.example (listener 127.0.0.1:") != NULL,
              "%s", r.err);
    cr_assert_str_eq(r.out, "", "no verdict");
    it_run_result_fini(&r);

    r = verify(&cfg, "nope.example.com", "client/good-chain.pem");
    cr_assert_eq(r.rc, 2);
    cr_assert(strstr(r.err, "nope.example.com: no domain has this name") != NULL, "%s", r.err);
    cr_assert(strstr(r.err, "other.example.com") != NULL, "the domains are listed: %s", r.err);
    it_run_result_fini(&r);

    /* With the other domain off, the api domain is the only one that verifies clients. */
    cfg = two_domains("off");
    r = verify(&cfg, NULL, "client/good-chain.pem");
    cr_assert_eq(r.rc, 0, "%s\n%s", r.out, r.err);
    it_run_result_fini(&r);
    r = verify(&cfg, "other.example.com", "client/good-chain.pem");
    cr_assert_eq(r.rc, 2);
    cr_assert(strstr(r.err, "client_auth is off for this domain") != NULL, "%s", r.err);
    it_run_result_fini(&r);

    cfg = one_domain(NULL, NULL);
    r = verify(&cfg, NULL, "ca/crl.pem");
    cr_assert_eq(r.rc, 2, "a file without a certificate");
    cr_assert(strstr(r.err, "no certificate in the file") != NULL, "%s", r.err);
    it_run_result_fini(&r);
    r = mtlb("verify-client", "-c", env.config, "/nonexistent/client.pem", NULL);
    cr_assert_eq(r.rc, 2);
    cr_assert(strstr(r.err, "/nonexistent/client.pem: cannot open") != NULL, "%s", r.err);
    it_run_result_fini(&r);
    r = mtlb("verify-client", it_pki("client/good.crt"), NULL);
    cr_assert_eq(r.rc, 2, "no -c");
    cr_assert(strstr(r.err, "usage: mtlb verify-client -c CONFIG") != NULL, "%s", r.err);
    it_run_result_fini(&r);
    r = mtlb("verify-client", "-c", env.config, NULL);
    cr_assert_eq(r.rc, 2, "no client file");
    it_run_result_fini(&r);
    r = mtlb("verify-client", "-c", "/nonexistent.yaml", it_pki("client/good.crt"), NULL);
    cr_assert_eq(r.rc, 1, "a configuration that does not load");
    cr_assert(strstr(r.err, "/nonexistent.yaml") != NULL, "%s", r.err);
    it_run_result_fini(&r);
}

Test(tools, verify_client_optional_mode_says_what_the_backend_sees)
{
    struct it_config cfg = one_domain(NULL, NULL);
    cfg.domains[0].mode = "optional";
    struct it_run_result r = verify(&cfg, NULL, "client/expired-chain.pem");
    expect_failed(&r, "FAILED: expired certificate has expired");
    cr_assert(strstr(r.out, "X-SSL-Client-Verify: FAILED") != NULL, "%s", r.out);
    it_run_result_fini(&r);
    r = verify(&cfg, NULL, "client/good.crt");
    cr_assert_eq(r.rc, 0, "%s", r.out);
    it_run_result_fini(&r);
}

/* Two listeners serving the same names, mandatory and optional (as scripts/demo does). */
static void write_two_listeners(uint16_t p1, uint16_t p2)
{
    FILE *f = fopen(env.config, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 2; i++) {
        fprintf(f,
                "%s  - bind: \"127.0.0.1:%u\"\n    backend: app\n    domains:\n"
                "      - names: [\"api.example.com\", \"localhost\"]\n"
                "        certificate: \"%s\"\n        key: \"%s\"\n"
                "        client_auth: {mode: %s, truststore: \"%s\"}\n",
                i == 0 ? "listeners:\n" : "", i == 0 ? p1 : p2, it_pki("server/api.crt"),
                it_pki("server/api.key"), i == 0 ? "mandatory" : "optional",
                it_pki("trust/full.pem"));
    }
    fprintf(f, "backends:\n  - name: app\n    servers: [\"127.0.0.1:9\"]\n");
    fclose(f);
}

Test(tools, verify_client_listener_choice)
{
    uint16_t p1 = it_free_port(), p2 = it_free_port();
    char l1[32], l2[32];
    snprintf(l1, sizeof(l1), ":%u", p1);
    snprintf(l2, sizeof(l2), "127.0.0.1:%u", p2);
    write_two_listeners(p1, p2);
    const char *client = it_pki("client/expired-chain.pem");
    struct it_run_result r = mtlb("verify-client", "-c", env.config, client, NULL);
    cr_assert_eq(r.rc, 2, "%s", r.out);
    cr_assert(strstr(r.err, "choose one with --domain NAME (and --listener [HOST]:PORT)") != NULL,
              "%s", r.err);
    it_run_result_fini(&r);
    r = mtlb("verify-client", "-c", env.config, "--domain", "localhost", client, NULL);
    cr_assert_eq(r.rc, 2, "%s", r.out);
    cr_assert(strstr(r.err, "localhost: served by several listeners that verify clients "
                            "differently: choose one with --listener [HOST]:PORT") != NULL,
              "%s", r.err);
    it_run_result_fini(&r);

    r = mtlb("verify-client", "-c", env.config, "--listener", l1, client, NULL);
    expect_failed(&r, "FAILED: expired certificate has expired");
    cr_assert(strstr(r.out, "client_auth mandatory)\n") != NULL, "%s", r.out);
    cr_assert(strstr(r.out, "note:") == NULL, "%s", r.out);
    it_run_result_fini(&r);
    r = mtlb("verify-client", "-c", env.config, "-d", "localhost", "-l", l2, client, NULL);
    expect_failed(&r, "FAILED: expired certificate has expired");
    cr_assert(strstr(r.out, "client_auth optional)\n") != NULL, "%s", r.out);
    cr_assert(strstr(r.out, "X-SSL-Client-Verify: FAILED") != NULL, "%s", r.out);
    it_run_result_fini(&r);

    r = mtlb("verify-client", "-c", env.config, "--listener", ":1", client, NULL);
    cr_assert_eq(r.rc, 2);
    cr_assert(strstr(r.err, ":1: no listener is bound there") != NULL, "%s", r.err);
    it_run_result_fini(&r);
    r = mtlb("verify-client", "-c", env.config, "-l", l1, "-d", "other.example.com", client, NULL);
    cr_assert_eq(r.rc, 2);
    cr_assert(strstr(r.err, "no domain has this name on that listener") != NULL, "%s", r.err);
    it_run_result_fini(&r);
}

static const char *bundle(const char *name, ...);

/* A DER file is read too; a broken PEM block is a usage error, not a verdict. */
Test(tools, verify_client_reads_der_and_refuses_bad_pem)
{
    struct it_config cfg = one_domain(NULL, NULL);
    cr_assert_eq(it_write_config(&env, &cfg), 0);
    char der[400];
    snprintf(der, sizeof(der), "%s/good.der", env.dir);
    FILE *in = fopen(it_pki("client/good.crt"), "r");
    cr_assert_not_null(in);
    X509 *x = PEM_read_X509(in, NULL, NULL, NULL);
    fclose(in);
    cr_assert_not_null(x);
    FILE *out = fopen(der, "wb");
    cr_assert(out != NULL && i2d_X509_fp(out, x) == 1);
    fclose(out);
    X509_free(x);
    struct it_run_result r = mtlb("verify-client", "-c", env.config, der, NULL);
    cr_assert_eq(r.rc, 0, "%s%s", r.out, r.err);
    cr_assert(strncmp(r.out, "SUCCESS\n", 8) == 0);
    it_run_result_fini(&r);
    const char *bad =
        bundle("bad.pem", "client/good.crt",
               "=-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", NULL);
    r = mtlb("verify-client", "-c", env.config, bad, NULL);
    cr_assert_eq(r.rc, 2, "%s", r.out);
    cr_assert(strstr(r.err, "bad.pem: entry 2 is not valid PEM") != NULL, "%s", r.err);
    cr_assert_str_eq(r.out, "");
    it_run_result_fini(&r);
}

/* ---- truststore-lint ---- */

/* Writes the concatenation of PKI files (or, when prefixed with '=', the literal text) to a
 * file in the test directory; returns its path. */
static const char *bundle(const char *name, ...)
{
    static char path[400];
    snprintf(path, sizeof(path), "%s/%s", env.dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    va_list ap;
    va_start(ap, name);
    for (const char *p = va_arg(ap, const char *); p != NULL; p = va_arg(ap, const char *)) {
        if (p[0] == '=') {
            fputs(p + 1, f);
            continue;
        }
        size_t len;
        char *data = it_read_file(it_pki(p), &len);
        cr_assert_not_null(data, "%s", p);
        fwrite(data, 1, len, f);
        free(data);
    }
    va_end(ap);
    fclose(f);
    return path;
}

static struct it_run_result lint(const char *path)
{
    return mtlb("truststore-lint", path, NULL);
}

static size_t count(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(s, needle); p != NULL; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

Test(tools, lint_good_bundle_lists_every_certificate_and_exits_0)
{
    struct it_run_result r = lint(it_pki("trust/full.pem"));
    cr_assert_eq(r.rc, 0, "%s\n%s", r.out, r.err);
    cr_assert(strstr(r.out,
                     "entry 1: CA   subject=\"/C=PL/O=mtlb Test/CN=mtlb Test Root CA\" "
                     "issuer=\"/C=PL/O=mtlb Test/CN=mtlb Test Root CA\" not_after=\"") == r.out,
              "%s", r.out);
    cr_assert(strstr(r.out, "\nentry 2: CA   subject=\"" INTER_DN "\" issuer=\"/C=PL/O=mtlb "
                            "Test/CN=mtlb Test Root CA\" not_after=\"") != NULL,
              "%s", r.out);
    cr_assert(strstr(r.out, "\nentry 3: leaf subject=\"/C=PL/O=mtlb Test/CN=selfsigned-client\"") !=
                  NULL,
              "%s", r.out);
    cr_assert_eq(count(r.out, " UTC\" clientAuth=yes\n"), 3, "%s", r.out);
    cr_assert(strstr(r.out, "\n3 certificates, 0 errors, 0 warnings\n") != NULL, "%s", r.out);
    cr_assert_eq(count(r.out, "error:") + count(r.out, "warning:"), 0);
    it_run_result_fini(&r);
}

Test(tools, lint_errors_exit_1_and_name_the_entry)
{
    static const struct {
        const char *name, *files[4], *message;
    } cases[] = {
        {"expired.pem",
         {"ca/root.crt", "client/expired.crt"},
         "\nerror: entry 2 expired on 2020-12-31 23:59:59 UTC: /C=PL/O=mtlb "
         "Test/CN=expired-client\n"},
        {"future.pem",
         {"ca/root.crt", "ca/inter.crt", "client/future.crt"},
         "\nerror: entry 3 is not valid before 2099-01-01 00:00:00 UTC: /C=PL/O=mtlb "
         "Test/CN=future-client\n"},
        {"byleaf.pem",
         {"client/good.crt", "client/byleaf.crt"},
         "\nerror: entry 1 is not a CA certificate (no CA:TRUE) but issued entry 2: /C=PL/O=mtlb "
         "Test/CN=good-client; chains through it fail (invalid CA certificate)\n"},
        {"key.pem",
         {"ca/root.crt", "client/good.key", "ca/inter.crt"},
         "\nerror: entry 2 is a PRIVATE KEY, not a certificate\n"},
        {"crl.pem",
         {"ca/root.crt", "ca/crl-inter.pem"},
         "\nerror: entry 2 is a X509 CRL, not a certificate\n"},
        {"corrupt.pem",
         {"trust/corrupt-entry.pem"},
         "\nerror: entry 2 is a corrupted certificate (its CERTIFICATE block does not decode)\n"},
        {"nocert.pem", {"client/good.key"}, "error: the file holds no certificate\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *path = bundle(cases[i].name, cases[i].files[0], cases[i].files[1],
                                  cases[i].files[2], cases[i].files[3]);
        struct it_run_result r = lint(path);
        cr_assert_eq(r.rc, 1, "%s: exit 1 on an error, got %d:\n%s", cases[i].name, r.rc, r.out);
        cr_assert(strstr(r.out, cases[i].message) != NULL, "%s: want%s in:\n%s", cases[i].name,
                  cases[i].message, r.out);
        cr_assert(strstr(r.out, " 1 error, ") != NULL || strstr(r.out, " 2 errors, ") != NULL, "%s",
                  r.out);
        it_run_result_fini(&r);
    }
    struct it_run_result r = lint(bundle("empty.pem", "=", NULL));
    cr_assert_eq(r.rc, 1);
    cr_assert(strstr(r.out, "error: the file holds no certificate\n0 certificates, 1 error, 0 "
                            "warnings\n") != NULL,
              "%s", r.out);
    it_run_result_fini(&r);
}

Test(tools, lint_warnings_alone_exit_0)
{
    static const struct {
        const char *name, *files[4], *message;
    } cases[] = {
        {"dup.pem",
         {"ca/root.crt", "ca/inter.crt", "ca/root.crt"},
         "\nwarning: entry 3 duplicates entry 1: /C=PL/O=mtlb Test/CN=mtlb Test Root CA\n"},
        {"inter-only.pem",
         {"trust/inter-only.pem"},
         "\nwarning: entry 1 is an intermediate CA whose issuer is not in the file: " INTER_DN
         " (issuer /C=PL/O=mtlb Test/CN=mtlb Test Root CA); mtlb trusts it as an anchor and never "
         "checks it against its issuer's CRL\n"},
        {"soon.pem", {"ca/root.crt", "server/soon.crt"}, "\nwarning: entry 2 expires in "},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *path = bundle(cases[i].name, cases[i].files[0], cases[i].files[1],
                                  cases[i].files[2], cases[i].files[3]);
        struct it_run_result r = lint(path);
        cr_assert_eq(r.rc, 0, "%s: warnings exit 0, got %d:\n%s", cases[i].name, r.rc, r.out);
        cr_assert(strstr(r.out, cases[i].message) != NULL, "%s: want%s in:\n%s", cases[i].name,
                  cases[i].message, r.out);
        cr_assert(strstr(r.out, " 0 errors, 1 warning\n") != NULL, "%s", r.out);
        it_run_result_fini(&r);
    }
    /* A root-less intermediate and its leaf: the leaf is not reported, its issuer is there. */
    struct it_run_result r = lint(bundle("pair.pem", "ca/inter.crt", "client/good.crt", NULL));
    cr_assert_eq(r.rc, 0);
    cr_assert_eq(count(r.out, "warning:"), 1, "%s", r.out);
    cr_assert(strstr(r.out, "entry 2: leaf subject=\"/C=PL/O=mtlb Test/CN=good-client\"") != NULL);
    it_run_result_fini(&r);
}

Test(tools, lint_usage_and_unreadable_file)
{
    struct it_run_result r = mtlb("truststore-lint", NULL);
    cr_assert_eq(r.rc, 2);
    cr_assert(strstr(r.err, "usage: mtlb truststore-lint FILE") != NULL, "%s", r.err);
    it_run_result_fini(&r);
    r = mtlb("truststore-lint", "a.pem", "b.pem", NULL);
    cr_assert_eq(r.rc, 2);
    it_run_result_fini(&r);
    r = lint("/nonexistent/trust.pem");
    cr_assert_eq(r.rc, 1);
    cr_assert(strstr(r.err, "/nonexistent/trust.pem: No such file or directory") != NULL, "%s",
              r.err);
    it_run_result_fini(&r);
    r = lint(env.dir);
    cr_assert_eq(r.rc, 1, "a directory");
    it_run_result_fini(&r);
}
