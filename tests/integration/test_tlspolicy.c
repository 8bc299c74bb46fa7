/* Integration: the TLS policy (listeners[].tls and domains[].tls: min_version, ciphers,
 * ciphersuites, groups, key_passphrase_file) as real clients see it. openssl s_client offers
 * exactly what it is told to, and its -brief summary says what was negotiated; `mtlb -t` and
 * start-up refuse unknown names and a wrong passphrase; a reload applies a new policy. */
#include "h2_util.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(tlspolicy, .init = setup, .fini = teardown, .timeout = 120);

/* One domain without client certificates (s_client presents none). */
static struct it_config base(void)
{
    struct it_config cfg = {.n_domains = 1};
    cfg.domains[0].mode = "off";
    return cfg;
}

/* Two domains: api.example.com (default) and other.example.com, both without client auth. */
static struct it_config two(void)
{
    struct it_config cfg = {.n_domains = 2};
    cfg.domains[0] = (struct it_domain){.names = {"api.example.com", "localhost"}, .mode = "off"};
    cfg.domains[1] = (struct it_domain){.names = {"other.example.com"},
                                        .cert = "server/other.crt",
                                        .key = "server/other.key",
                                        .mode = "off"};
    return cfg;
}

struct hs {
    int rc;     /* s_client's exit code: 0 handshake done */
    char *text; /* its stdout and stderr */
};

/* `openssl s_client -brief` to the listener with SNI sni and up to four more arguments. */
static struct hs s_client(const char *sni, const char *a1, const char *a2, const char *a3,
                          const char *a4)
{
    char connect[32];
    snprintf(connect, sizeof(connect), "127.0.0.1:%u", env.port);
    char *argv[12] = {"/usr/bin/openssl", "s_client",  "-connect", connect,
                      "-servername",      (char *)sni, "-brief"};
    const char *extra[] = {a1, a2, a3, a4};
    size_t n = 7;
    for (size_t i = 0; i < 4 && extra[i] != NULL; i++) {
        argv[n++] = (char *)extra[i];
    }
    argv[n] = NULL;
    char *out = NULL, *err = NULL;
    struct hs h = {.rc = it_run(&env, argv, &out, &err, 10000)};
    size_t len = strlen(out ? out : "") + strlen(err ? err : "") + 1;
    h.text = malloc(len);
    cr_assert_not_null(h.text);
    snprintf(h.text, len, "%s%s", out ? out : "", err ? err : "");
    free(out);
    free(err);
    return h;
}

static void hs_ok(struct hs *h, const char *needle, const char *what)
{
    cr_expect_eq(h->rc, 0, "%s: the handshake failed:\n%s", what, h->text);
    if (needle != NULL) {
        cr_expect_not_null(strstr(h->text, needle), "%s: want '%s' in:\n%s", what, needle, h->text);
    }
    free(h->text);
}

static void hs_refused(struct hs *h, const char *what)
{
    cr_expect_neq(h->rc, 0, "%s: the handshake succeeded:\n%s", what, h->text);
    cr_expect_null(strstr(h->text, "Protocol version:"), "%s:\n%s", what, h->text);
    free(h->text);
}

Test(tlspolicy, defaults_are_unchanged)
{
    struct it_config cfg = base();
    start_cfg(&cfg);
    struct hs h = s_client("api.example.com", "-tls1_2", NULL, NULL, NULL);
    hs_ok(&h, "Protocol version: TLSv1.2", "TLS 1.2 by default");
    h = s_client("api.example.com", "-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256",
                 NULL);
    hs_ok(&h, "Ciphersuite: TLS_CHACHA20_POLY1305_SHA256", "default suites");
    h = s_client("api.example.com", "-groups", "X25519", NULL, NULL);
    hs_ok(&h, "Server Temp Key: X25519", "default groups");
    h = s_client("api.example.com", "-tls1_3", "-ciphersuites", "TLS_AES_128_CCM_SHA256", NULL);
    hs_refused(&h, "CCM is not in the default suites");
}

Test(tlspolicy, min_version_tls13_refuses_a_tls12_client)
{
    struct it_config cfg = base();
    cfg.listener_tls = "min_version: TLS1.3";
    start_cfg(&cfg);
    struct hs h = s_client("api.example.com", "-tls1_2", NULL, NULL, NULL);
    hs_refused(&h, "TLS 1.2 client under min_version TLS1.3");
    h = s_client("api.example.com", "-tls1_3", NULL, NULL, NULL);
    hs_ok(&h, "Protocol version: TLSv1.3", "TLS 1.3 client");
}

Test(tlspolicy, ciphersuites_and_ciphers_restrict_what_is_negotiated)
{
    struct it_config cfg = base();
    cfg.listener_tls = "ciphersuites: [TLS_AES_256_GCM_SHA384], "
                       "ciphers: ECDHE-ECDSA-CHACHA20-POLY1305";
    start_cfg(&cfg);
    struct hs h = s_client("api.example.com", "-tls1_3", NULL, NULL, NULL);
    hs_ok(&h, "Ciphersuite: TLS_AES_256_GCM_SHA384", "the one TLS 1.3 suite");
    h = s_client("api.example.com", "-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256", NULL);
    hs_refused(&h, "a suite outside the list");
    h = s_client("api.example.com", "-tls1_2", NULL, NULL, NULL);
    hs_ok(&h, "Ciphersuite: ECDHE-ECDSA-CHACHA20-POLY1305", "the one TLS 1.2 cipher");
    h = s_client("api.example.com", "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256", NULL);
    hs_refused(&h, "a TLS 1.2 cipher outside the list");
}

Test(tlspolicy, groups_restrict_the_key_exchange)
{
    struct it_config cfg = base();
    cfg.listener_tls = "groups: [P-384]";
    start_cfg(&cfg);
    struct hs h = s_client("api.example.com", "-groups", "X25519", NULL, NULL);
    hs_refused(&h, "a client offering only X25519");
    h = s_client("api.example.com", "-groups", "P-384", NULL, NULL);
    hs_ok(&h, "Server Temp Key: ECDH, secp384r1", "a client offering P-384");
}

Test(tlspolicy, a_domain_overrides_the_listener)
{
    struct it_config cfg = two();
    cfg.listener_tls = "min_version: TLS1.3, ciphersuites: TLS_AES_256_GCM_SHA384";
    cfg.domains[1].tls = "{min_version: TLS1.2, ciphersuites: [TLS_CHACHA20_POLY1305_SHA256]}";
    start_cfg(&cfg);
    struct hs h = s_client("api.example.com", "-tls1_2", NULL, NULL, NULL);
    hs_refused(&h, "the listener's domain under TLS1.3");
    h = s_client("api.example.com", "-tls1_3", NULL, NULL, NULL);
    hs_ok(&h, "Ciphersuite: TLS_AES_256_GCM_SHA384", "the listener's suite");
    h = s_client("other.example.com", "-tls1_2", NULL, NULL, NULL);
    hs_ok(&h, "Protocol version: TLSv1.2", "the domain's min_version");
    h = s_client("other.example.com", "-tls1_3", NULL, NULL, NULL);
    hs_ok(&h, "Ciphersuite: TLS_CHACHA20_POLY1305_SHA256", "the domain's suite");
}

/* A suite the kernel does not offload (AES-CCM) is served on the userspace transport, with
 * ktls: auto. */
Test(tlspolicy, a_suite_without_ktls_is_served_in_userspace)
{
    struct it_config cfg = base();
    cfg.ktls = "auto";
    cfg.listener_tls = "ciphersuites: TLS_AES_128_CCM_SHA256";
    start_cfg(&cfg);
    char url[80], resolve[80];
    snprintf(url, sizeof(url), "https://api.example.com:%u/ccm", env.port);
    snprintf(resolve, sizeof(resolve), "api.example.com:%u:127.0.0.1", env.port);
    char *argv[] = {"/usr/bin/curl",
                    "-sS",
                    "--tlsv1.3",
                    "--tls13-ciphers",
                    "TLS_AES_128_CCM_SHA256",
                    "--cacert",
                    (char *)it_pki("ca/root.crt"),
                    "--resolve",
                    resolve,
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    url,
                    NULL};
    char *out = NULL, *err = NULL;
    int rc = it_run(&env, argv, &out, &err, 10000);
    cr_expect_eq(rc, 0, "curl: %s%s", out ? out : "", err ? err : "");
    cr_expect_str_eq(out ? out : "", "200", "%s", err ? err : "");
    free(out);
    free(err);
    const char *done[] = {"event=handshake_done", "cipher=TLS_AES_128_CCM_SHA256",
                          "transport=userspace", NULL};
    cr_expect_eq(it_wait_lines(env.err_log, done, 1, 3000), 1, "%s",
                 it_read_file(env.err_log, NULL));
}

/* ---- unknown names and passphrases: mtlb -t and start-up ---- */

/* For configurations that are only checked: a backend server that is never reached. */
static struct it_config offline(struct it_config cfg)
{
    cfg.n_servers = 1;
    cfg.servers[0] = 9;
    return cfg;
}

Test(tlspolicy, check_rejects_an_unknown_suite_with_its_position)
{
    struct it_config cfg = offline(base());
    cfg.listener_tls = "ciphersuites: TLS_FOO";
    struct it_run_result r = it_mtlb_check(&env, &cfg);
    cr_expect_neq(r.rc, 0, "mtlb -t accepted TLS_FOO:\n%s%s", r.out, r.err);
    char want[400];
    /* The harness writes the listener's tls on line 4: "    tls: {ciphersuites: TLS_FOO}". */
    snprintf(want, sizeof(want),
             "%s:4:25: listeners[0].tls.ciphersuites: unknown TLS 1.3 cipher suite \"TLS_FOO\"",
             env.config);
    cr_expect_not_null(strstr(r.err, want), "want '%s' in:\n%s%s", want, r.out, r.err);
    it_run_result_fini(&r);

    /* One unknown name beside known ones is refused too (OpenSSL alone would take the list). */
    cfg = offline(two());
    cfg.domains[1].tls = "{ciphers: \"ECDHE-RSA-AES128-GCM-SHA256:NOT-A-CIPHER\"}";
    r = it_mtlb_check(&env, &cfg);
    cr_expect_neq(r.rc, 0);
    cr_expect_not_null(strstr(r.err, "listeners[0].domains[1].tls.ciphers: unknown TLS 1.2 "
                                     "cipher"),
                       "%s", r.err);
    cr_expect_not_null(strstr(r.err, "\"NOT-A-CIPHER\""), "%s", r.err);
    it_run_result_fini(&r);

    cfg = offline(base());
    cfg.domains[0].tls = "{groups: [P-384, P-999]}";
    cr_assert_eq(it_write_config(&env, &cfg), 0);
    r = it_mtlb_run(&env, "-c", env.config, NULL);
    cr_expect_neq(r.rc, 0, "mtlb started with group P-999");
    cr_expect_neq(r.rc, -1, "mtlb kept running with group P-999");
    cr_expect_not_null(strstr(r.err, "unknown group \"P-999\""), "%s", r.err);
    it_run_result_fini(&r);
}

/* The test key encrypted with "right", and passphrase files holding "right\n" and "wrong\n". */
static void encrypted_key(char *key, char *right, char *wrong, size_t cap)
{
    snprintf(key, cap, "%s/enc.key", env.dir);
    snprintf(right, cap, "%s/right.pass", env.dir);
    snprintf(wrong, cap, "%s/wrong.pass", env.dir);
    char *argv[] = {"/usr/bin/openssl",
                    "pkey",
                    "-in",
                    (char *)it_pki("server/api.key"),
                    "-aes256",
                    "-passout",
                    "pass:right",
                    "-out",
                    key,
                    NULL};
    char *out = NULL, *err = NULL;
    cr_assert_eq(it_run(&env, argv, &out, &err, 10000), 0, "openssl pkey: %s", err ? err : "");
    free(out);
    free(err);
    FILE *f = fopen(right, "w");
    cr_assert(f != NULL && fputs("right\n", f) >= 0 && fclose(f) == 0);
    f = fopen(wrong, "w");
    cr_assert(f != NULL && fputs("wrong\n", f) >= 0 && fclose(f) == 0);
}

Test(tlspolicy, encrypted_key_with_its_passphrase_file)
{
    char key[300], right[300], wrong[300], tls[400];
    encrypted_key(key, right, wrong, sizeof(key));
    struct it_config cfg = offline(base());
    cfg.domains[0].key = key;
    snprintf(tls, sizeof(tls), "{key_passphrase_file: \"%s\"}", wrong);
    cfg.domains[0].tls = tls;

    struct it_run_result r = it_mtlb_check(&env, &cfg);
    cr_expect_neq(r.rc, 0, "mtlb -t accepted a wrong passphrase");
    cr_expect_not_null(strstr(r.err, key), "the message names the key file:\n%s", r.err);
    cr_expect_not_null(strstr(r.err, "wrong passphrase"), "%s", r.err);
    cr_expect_not_null(strstr(r.err, wrong), "and the passphrase file:\n%s", r.err);
    it_run_result_fini(&r);
    r = it_mtlb_run(&env, "-c", env.config, NULL);
    cr_expect_neq(r.rc, 0, "mtlb started with a wrong passphrase");
    cr_expect_neq(r.rc, -1, "mtlb kept running with a wrong passphrase");
    cr_expect_not_null(strstr(r.err, "wrong passphrase"), "%s", r.err);
    it_run_result_fini(&r);

    /* Without a passphrase file the key is refused as before. */
    cfg.domains[0].tls = NULL;
    r = it_mtlb_check(&env, &cfg);
    cr_expect_neq(r.rc, 0);
    cr_expect_not_null(strstr(r.err, "key_passphrase_file"), "%s", r.err);
    it_run_result_fini(&r);

    snprintf(tls, sizeof(tls), "{key_passphrase_file: \"%s\"}", right);
    cfg.domains[0].tls = tls;
    cfg.n_servers = 0;
    start_cfg(&cfg);
    struct hs h = s_client("api.example.com", NULL, NULL, NULL, NULL);
    hs_ok(&h, "Protocol version: TLSv1.3", "served with the decrypted key");
    char *log = it_read_file(env.err_log, NULL);
    cr_expect_null(strstr(log ? log : "", "right\n"), "the passphrase is never logged");
    free(log);
}

/* A reload rebuilds the contexts with the new policy. */
Test(tlspolicy, reload_applies_a_new_policy)
{
    struct it_config cfg = base();
    cfg.listener_tls = "ciphersuites: TLS_AES_128_GCM_SHA256";
    start_cfg(&cfg);
    struct hs h = s_client("api.example.com", "-tls1_3", NULL, NULL, NULL);
    hs_ok(&h, "Ciphersuite: TLS_AES_128_GCM_SHA256", "before the reload");

    cfg.listener_tls = "ciphersuites: TLS_AES_256_GCM_SHA384, min_version: TLS1.3";
    const char *ok[] = {"event=reloaded", "generation=2", NULL};
    cr_assert_eq(it_write_config(&env, &cfg), 0);
    kill(env.mtlb, SIGHUP);
    cr_assert_eq(it_wait_lines(env.err_log, ok, 1, 10000), 1, "no reload:\n%s",
                 it_read_file(env.err_log, NULL));
    h = s_client("api.example.com", "-tls1_3", NULL, NULL, NULL);
    hs_ok(&h, "Ciphersuite: TLS_AES_256_GCM_SHA384", "after the reload");
    h = s_client("api.example.com", "-tls1_2", NULL, NULL, NULL);
    hs_refused(&h, "TLS 1.2 after the reload to min_version TLS1.3");

    /* An unknown name in a reload is refused and the running policy stays. */
    cfg.listener_tls = "ciphersuites: TLS_BAR";
    cr_assert_eq(it_write_config(&env, &cfg), 0);
    kill(env.mtlb, SIGHUP);
    const char *failed[] = {"TLS_BAR", NULL};
    cr_expect_eq(it_wait_lines(env.err_log, failed, 1, 10000), 1, "%s",
                 it_read_file(env.err_log, NULL));
    h = s_client("api.example.com", "-tls1_3", NULL, NULL, NULL);
    hs_ok(&h, "Ciphersuite: TLS_AES_256_GCM_SHA384", "after the refused reload");
}

/* The status a request on a TLS 1.2 (or 1.3) connection made for SNI sni gets. */
static int status_over(int version, const char *sni, const char *host)
{
    struct it_tls_opts o = {.sni = sni, .version = version};
    char req[160];
    struct it_exchange x;
    snprintf(req, sizeof(req), "GET /p HTTP/1.1\r\nHost: %s\r\n\r\n", host);
    it_tls_exchange(env.port, &o, req, &x);
    cr_assert_eq(x.outcome, IT_OK, "%s over %s: %s", host, sni, x.detail);
    int status = x.resp.status;
    it_exchange_fini(&x);
    return status;
}

/* A domain's policy binds the requests for it, not only the handshakes that name it: a TLS 1.2
 * connection made for api.example.com must not carry a request for other.example.com, which
 * refuses TLS 1.2, even though both verify clients alike (421, the client reconnects with the
 * right SNI). Requests for a domain under the same policy still share a connection. */
Test(tlspolicy, a_domain_s_policy_cannot_be_bypassed_by_sni)
{
    struct it_config cfg = two();
    cfg.domains[1].tls = "{min_version: TLS1.3}";
    start_cfg(&cfg);
    struct hs h = s_client("other.example.com", "-tls1_2", NULL, NULL, NULL);
    hs_refused(&h, "TLS 1.2 to other.example.com");
    cr_expect_eq(status_over(TLS1_2_VERSION, "api.example.com", "other.example.com"), 421);
    cr_expect_eq(status_over(TLS1_2_VERSION, "api.example.com", "OTHER.example.com.:443"), 421);
    cr_expect_eq(status_over(TLS1_3_VERSION, "api.example.com", "other.example.com"), 421);
    cr_expect_eq(status_over(TLS1_3_VERSION, "other.example.com", "api.example.com"), 421);
    /* the controls */
    cr_expect_eq(status_over(TLS1_2_VERSION, "api.example.com", "api.example.com"), 200);
    cr_expect_eq(status_over(TLS1_2_VERSION, "api.example.com", "localhost"), 200);
    cr_expect_eq(status_over(TLS1_3_VERSION, "other.example.com", "other.example.com"), 200);
    it_mtlb_stop(&env, 5000);
}
