/* Config of HTTPS to backends (config_backend_tls.c): backends[].tls defaults, every key, the
 * cross-key rules with their file:line:col, and the reload summary of a changed tls. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtlb/config.h"
#include "mtlb/config_diff.h"

#define HEAD                                                                                       \
    "listeners:\n"                                                                                 \
    "  - bind: \"0.0.0.0:8443\"\n"                                                                 \
    "    backend: orders\n"                                                                        \
    "    domains:\n"                                                                               \
    "      - names: [api.example.com]\n"                                                           \
    "        certificate: c.crt\n"                                                                 \
    "        key: c.key\n"                                                                         \
    "        client_auth: {mode: off}\n"                                                           \
    "backends:\n"                                                                                  \
    "  - name: orders\n"                                                                           \
    "    servers: [\"10.0.0.5:8082\"]\n"

static int parse(const char *tls, struct mtlb_config **cfg, char *err, size_t errlen)
{
    char yaml[2048];
    snprintf(yaml, sizeof(yaml), HEAD "%s", tls);
    return mtlb_config_parse(yaml, strlen(yaml), "mtlb.yaml", "/etc/mtlb", cfg, err, errlen);
}

static struct mtlb_config *parse_ok(const char *tls)
{
    struct mtlb_config *cfg = NULL;
    char err[512] = "";
    int rc = parse(tls, &cfg, err, sizeof(err));
    cr_assert_eq(rc, 0, "rc %d: %s", rc, err);
    return cfg;
}

Test(config_backend_tls, absent_means_plain_http)
{
    struct mtlb_config *cfg = parse_ok("");
    cr_assert_not(cfg->backends[0].tls.enabled);
    mtlb_config_destroy(cfg);
}

Test(config_backend_tls, every_key_is_read_and_paths_resolved)
{
    struct mtlb_config *cfg =
        parse_ok("    tls: {ca: certs/ca.pem, sni: Orders.Internal, certificate: e.crt, key: "
                 "/k/e.key, min_version: TLS1.3, ciphers: \"ECDHE-ECDSA-AES128-GCM-SHA256\"}\n");
    const struct mtlb_backend_tls_cfg *t = &cfg->backends[0].tls;
    cr_assert(t->enabled);
    cr_assert(t->verify, "verification is on by default");
    cr_assert_str_eq(t->ca, "/etc/mtlb/certs/ca.pem");
    cr_assert_str_eq(t->sni, "orders.internal");
    cr_assert_str_eq(t->certificate, "/etc/mtlb/e.crt");
    cr_assert_str_eq(t->key, "/k/e.key");
    cr_assert_eq(t->min_version, 0x0304);
    cr_assert_str_eq(t->ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256");
    cr_assert_eq(t->ca_line, 12);
    mtlb_config_destroy(cfg);
}

Test(config_backend_tls, verify_false_needs_no_ca)
{
    struct mtlb_config *cfg = parse_ok("    tls: {verify: false}\n");
    cr_assert(cfg->backends[0].tls.enabled);
    cr_assert_not(cfg->backends[0].tls.verify);
    cr_assert_null(cfg->backends[0].tls.ca);
    mtlb_config_destroy(cfg);
}

struct bad {
    char tls[160];
    char want[96]; /* "LINE:COL: KEY: ..." substring of the error */
};

static struct bad bad_cases[] = {
    {"    tls: {sni: orders.internal}\n", "mtlb.yaml:12:10: backends[0].tls: ca is required"},
    {"    tls: {verify: true}\n", "ca is required"},
    {"    tls: {ca: a.pem, certificate: e.crt}\n",
     "mtlb.yaml:12:35: backends[0].tls.certificate: certificate and key go together"},
    {"    tls: {ca: a.pem, key: e.key}\n", "backends[0].tls.key: certificate and key go together"},
    {"    tls: {ca: a.pem, sni: \"*.internal\"}\n", "backends[0].tls.sni: expected a host name"},
    {"    tls: {ca: a.pem, sni: \"bad name\"}\n", "backends[0].tls.sni"},
    {"    tls: {ca: a.pem, min_version: TLS1.1}\n", "backends[0].tls.min_version"},
    {"    tls: {ca: a.pem, verify: maybe}\n", "backends[0].tls.verify"},
    {"    tls: {ca: a.pem, ciphers: \"\"}\n", "backends[0].tls.ciphers"},
    {"    tls: {ca: a.pem, ciphers: \"A B\"}\n", "backends[0].tls.ciphers"},
    {"    tls: {ca: a.pem, alpn: h2}\n", "alpn"},
    {"    tls: yes\n", "backends[0].tls"},
};

ParameterizedTestParameters(config_backend_tls, errors_name_their_place)
{
    return cr_make_param_array(struct bad, bad_cases, sizeof(bad_cases) / sizeof(bad_cases[0]));
}

ParameterizedTest(struct bad *b, config_backend_tls, errors_name_their_place)
{
    struct mtlb_config *cfg = NULL;
    char err[512] = "";
    int rc = parse(b->tls, &cfg, err, sizeof(err));
    cr_assert_neq(rc, 0, "accepted: %s", b->tls);
    cr_assert_null(cfg);
    cr_assert_not_null(strstr(err, b->want), "%s: got \"%s\", want \"%s\"", b->tls, err, b->want);
}

/* A reload that changes a pool's tls says so in its summary. */
Test(config_backend_tls, changed_tls_is_a_changed_pool)
{
    struct mtlb_config *a = parse_ok("    tls: {ca: a.pem}\n");
    struct mtlb_config *b = parse_ok("    tls: {ca: a.pem, sni: orders.internal}\n");
    struct mtlb_config *c = parse_ok("    tls: {ca: a.pem}\n");
    char buf[256];
    mtlb_config_diff_summary(a, b, buf, sizeof(buf));
    cr_assert_not_null(strstr(buf, "~orders"), "summary: %s", buf);
    mtlb_config_diff_summary(a, c, buf, sizeof(buf));
    cr_assert_null(strstr(buf, "orders"), "summary: %s", buf);
    mtlb_config_destroy(a);
    mtlb_config_destroy(b);
    mtlb_config_destroy(c);
}
