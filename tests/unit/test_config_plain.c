/* Config of plain HTTP listeners (config_plain.c): tls: false beside the TLS mapping, http:
 * and https_port: with their defaults, and every mistake with its file:line:col and key. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "mtlb/config.h"

#define BACKEND "backends:\n  - name: app\n    servers: [\"127.0.0.1:1\"]\n"
#define DOMAINS "    domains: [{names: [a.b], certificate: c, key: k}]\n"
#define LISTENER(keys) "listeners:\n  - bind: \":80\"\n    backend: app\n" keys BACKEND

static int parse(const char *yaml, struct mtlb_config **cfg, char *err, size_t errlen)
{
    return mtlb_config_parse(yaml, strlen(yaml), "mtlb.yaml", "/etc/mtlb", cfg, err, errlen);
}

static struct mtlb_config *parse_ok(const char *yaml)
{
    struct mtlb_config *cfg = NULL;
    char err[512] = "";
    int rc = parse(yaml, &cfg, err, sizeof(err));

    cr_assert_eq(rc, 0, "rc %d: %s", rc, err);
    return cfg;
}

static void parse_err(const char *yaml, const char *want)
{
    struct mtlb_config *cfg = NULL;
    char err[512] = "";

    cr_assert_eq(parse(yaml, &cfg, err, sizeof(err)), -EINVAL, "accepted:\n%s", yaml);
    cr_assert_null(cfg);
    cr_assert_str_eq(err, want);
}

Test(config_plain, tls_false_defaults_to_redirect_on_443)
{
    struct mtlb_config *cfg = parse_ok(LISTENER("    tls: false\n"));
    const struct mtlb_listener_cfg *l = &cfg->listeners[0];

    cr_assert(l->plain);
    cr_assert_eq(l->plain_http, MTLB_PLAIN_REDIRECT);
    cr_assert_eq(l->https_port, 443);
    cr_assert_eq(l->n_domains, 0);
    cr_assert_eq(l->session_lifetime, 0, "no TLS, no sessions");
    mtlb_config_destroy(cfg);
}

Test(config_plain, http_modes_and_https_port)
{
    static const char *const modes[] = {"redirect", "allow", "drop"};
    static const enum mtlb_plain_http want[] = {MTLB_PLAIN_REDIRECT, MTLB_PLAIN_ALLOW,
                                                MTLB_PLAIN_DROP};
    char yaml[512];

    for (size_t i = 0; i < 3; i++) {
        snprintf(yaml, sizeof(yaml),
                 LISTENER("    http: %s\n    tls: false\n    https_port: 8443\n"), modes[i]);
        struct mtlb_config *cfg = parse_ok(yaml);
        cr_assert_eq(cfg->listeners[0].plain_http, want[i], "%s", modes[i]);
        cr_assert_eq(cfg->listeners[0].https_port, 8443);
        mtlb_config_destroy(cfg);
    }
}

Test(config_plain, tls_true_or_a_mapping_is_a_tls_listener)
{
    struct mtlb_config *cfg = parse_ok(LISTENER("    tls: true\n" DOMAINS));
    cr_assert_not(cfg->listeners[0].plain);
    cr_assert_eq(cfg->listeners[0].n_domains, 1);
    mtlb_config_destroy(cfg);
    cfg = parse_ok(LISTENER("    tls: {min_version: TLS1.3}\n" DOMAINS));
    cr_assert_not(cfg->listeners[0].plain);
    cr_assert_eq(cfg->listeners[0].policy.min_version, 0x0304);
    mtlb_config_destroy(cfg);
}

Test(config_plain, tls_keys_on_a_plain_listener_are_errors)
{
#define WHY                                                                                        \
    "has no use on a plain HTTP listener (tls: false): it does no TLS, so it has no "              \
    "certificates, truststores or TLS settings"
    parse_err(LISTENER("    tls: false\n" DOMAINS), "mtlb.yaml:5:14: listeners[0].domains: " WHY);
    parse_err(LISTENER("    ktls: on\n    tls: false\n"),
              "mtlb.yaml:4:11: listeners[0].ktls: " WHY);
    parse_err(LISTENER("    tls: false\n    alpn: [h2]\n"),
              "mtlb.yaml:5:11: listeners[0].alpn: " WHY);
    parse_err(LISTENER("    tls: false\n    session_lifetime: 1h\n"),
              "mtlb.yaml:5:23: listeners[0].session_lifetime: " WHY);
}

Test(config_plain, plain_keys_on_a_tls_listener_and_bad_values_are_errors)
{
    parse_err(LISTENER("    http: allow\n" DOMAINS),
              "mtlb.yaml:4:11: listeners[0].http: is for a plain HTTP listener only (tls: false)");
    parse_err(LISTENER("    https_port: 8443\n" DOMAINS),
              "mtlb.yaml:4:17: listeners[0].https_port: is for a plain HTTP listener only (tls: "
              "false)");
    parse_err(LISTENER("    tls: true\n"),
              "mtlb.yaml:2:5: listeners[0].domains: missing required key");
    parse_err(LISTENER("    tls: false\n    http: deny\n"),
              "mtlb.yaml:5:11: listeners[0].http: expected one of redirect, allow, drop, got "
              "\"deny\"");
    parse_err(
        LISTENER("    tls: false\n    https_port: 0\n"),
        "mtlb.yaml:5:17: listeners[0].https_port: expected an integer in 1..65535, got \"0\"");
}
