/* Request body limits: limits.max_body_bytes and listeners[].limits.max_body_bytes (sizes,
 * suffixes, unlimited, the merge into listeners, errors) and the one check both protocols use. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mtlb/body_limit.h"
#include "mtlb/config.h"

static const char base[] = "listeners:\n"
                           "  - bind: \":8443\"\n"
                           "    backend: app\n"
                           "%s"
                           "    domains: [{names: [a.example], certificate: c.crt, key: c.key}]\n"
                           "  - bind: \":8444\"\n"
                           "    backend: app\n"
                           "    domains: [{names: [a.example], certificate: c.crt, key: c.key}]\n"
                           "backends: [{name: app, servers: [\"127.0.0.1:1\"]}]\n"
                           "%s";

static int parse(const char *lis, const char *top, struct mtlb_config **cfg, char *err)
{
    char yaml[2048];
    snprintf(yaml, sizeof(yaml), base, lis, top);
    return mtlb_config_parse(yaml, strlen(yaml), "mtlb.yaml", "/etc", cfg, err, 256);
}

static void limits_are(const char *lis, const char *top, uint64_t l0, uint64_t l1)
{
    struct mtlb_config *cfg = NULL;
    char err[256] = "";
    cr_assert_eq(parse(lis, top, &cfg, err), 0, "%s", err);
    cr_expect_eq(cfg->listeners[0].max_body_bytes, l0, "%s | %s: %llu", lis, top,
                 (unsigned long long)cfg->listeners[0].max_body_bytes);
    cr_expect_eq(cfg->listeners[1].max_body_bytes, l1, "%s | %s: %llu", lis, top,
                 (unsigned long long)cfg->listeners[1].max_body_bytes);
    mtlb_config_destroy(cfg);
}

Test(config_limits, default_is_unlimited)
{
    limits_are("", "", 0, 0);
}

Test(config_limits, process_limit_reaches_every_listener)
{
    limits_are("", "limits: {max_body_bytes: 1048576}\n", 1048576, 1048576);
    limits_are("", "limits: {max_body_bytes: 512k}\n", 512 * 1024, 512 * 1024);
    limits_are("", "limits: {max_body_bytes: 8M}\n", 8u << 20, 8u << 20);
    limits_are("", "limits: {max_body_bytes: 2g}\n", 2ull << 30, 2ull << 30);
}

Test(config_limits, listener_overrides_the_process_limit)
{
    limits_are("    limits: {max_body_bytes: 100}\n", "", 100, 0);
    limits_are("    limits: {max_body_bytes: 100}\n", "limits: {max_body_bytes: 5000}\n", 100,
               5000);
    limits_are("    limits: {max_body_bytes: unlimited}\n", "limits: {max_body_bytes: 5000}\n", 0,
               5000);
}

Test(config_limits, bad_values_name_the_key)
{
    static const char *const bad[] = {"0", "-1", "1x", "k", "1.5m", "2000g", "99999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char lis[128];
        struct mtlb_config *cfg = NULL;
        char err[256] = "";
        snprintf(lis, sizeof(lis), "    limits: {max_body_bytes: \"%s\"}\n", bad[i]);
        cr_expect_eq(parse(lis, "", &cfg, err), -EINVAL, "%s", bad[i]);
        cr_expect(strstr(err, "listeners[0].limits.max_body_bytes") != NULL, "%s: %s", bad[i], err);
    }
    struct mtlb_config *cfg = NULL;
    char err[256] = "";
    cr_expect_eq(parse("    limits: {max_body: 1}\n", "", &cfg, err), -EINVAL);
    cr_expect(strstr(err, "max_body") != NULL, "%s", err);
}

Test(body_limit, over_the_limit_is_413_and_at_it_passes)
{
    cr_expect_eq(mtlb_body_limit_check(0, UINT64_MAX), 0);
    cr_expect_eq(mtlb_body_limit_check(100, 0), 0);
    cr_expect_eq(mtlb_body_limit_check(100, 100), 0);
    cr_expect_eq(mtlb_body_limit_check(100, 101), 413);
}

/* domains[].ocsp_response: resolved against the configuration's directory, its line kept for
 * messages, copied and compared by the reload. */
Test(config_ocsp, path_is_resolved_and_its_line_kept)
{
    static const char yaml[] = "listeners:\n"
                               "  - bind: \":8443\"\n"
                               "    backend: app\n"
                               "    domains:\n"
                               "      - names: [a.example]\n"
                               "        certificate: c.crt\n"
                               "        key: c.key\n"
                               "        ocsp_response: certs/a.ocsp\n"
                               "backends: [{name: app, servers: [\"127.0.0.1:1\"]}]\n";
    struct mtlb_config *cfg = NULL;
    char err[256] = "";
    cr_assert_eq(mtlb_config_parse(yaml, strlen(yaml), "mtlb.yaml", "/etc/mtlb", &cfg, err, 256), 0,
                 "%s", err);
    const struct mtlb_domain_cfg *d = &cfg->listeners[0].domains[0];
    cr_expect_str_eq(d->ocsp_response, "/etc/mtlb/certs/a.ocsp");
    cr_expect_eq(d->ocsp_response_line, 8);
    struct mtlb_domain_cfg copy;
    cr_assert_eq(mtlb_config_domain_copy(&copy, d), 0);
    cr_expect_str_eq(copy.ocsp_response, d->ocsp_response);
    cr_expect_neq(copy.ocsp_response, d->ocsp_response);
    mtlb_config_domain_copy_free(&copy);
    mtlb_config_destroy(cfg);
}
