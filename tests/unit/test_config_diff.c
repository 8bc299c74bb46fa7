/* config_diff: which changes need a restart (listeners' number, order and bind, threads, io,
 * admin.bind, access log path) and which reload live, and the summary of a reload's changes
 * (domains, pools, files). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtlb/config_diff.h"

/* A configuration with two listeners; `extra` is appended (more top-level keys) and %s
 * markers in the template take the given values. */
static struct mtlb_config *load(const char *bind2, const char *servers, const char *extra,
                                const char *trust)
{
    char yaml[2048];
    struct mtlb_config *cfg = NULL;
    char err[512] = "";

    snprintf(yaml, sizeof(yaml),
             "listeners:\n"
             "  - bind: \"127.0.0.1:8443\"\n"
             "    backend: app\n"
             "    domains:\n"
             "      - names: [api.example.com]\n"
             "        certificate: api.crt\n"
             "        key: api.key\n"
             "        client_auth: {truststore: %s}\n"
             "  - bind: \"%s\"\n"
             "    backend: app\n"
             "    domains:\n"
             "      - names: [b.example.com]\n"
             "        certificate: b.crt\n"
             "        key: b.key\n"
             "backends:\n"
             "  - name: app\n"
             "    servers: %s\n"
             "%s",
             trust, bind2, servers, extra);
    int rc =
        mtlb_config_parse(yaml, strlen(yaml), "mtlb.yaml", "/etc/mtlb", &cfg, err, sizeof(err));
    cr_assert_eq(rc, 0, "%s\n%s", err, yaml);
    return cfg;
}

static struct mtlb_config *base(void)
{
    return load("127.0.0.1:9443", "[\"10.0.0.1:80\"]", "", "ca.pem");
}

static void expect_restart(struct mtlb_config *b, const char *want)
{
    struct mtlb_config *a = base();
    char why[512] = "";
    cr_assert(mtlb_config_diff_restart(a, b, why, sizeof(why)), "no restart for %s", want);
    cr_assert(strstr(why, want) != NULL, "why: %s (want %s)", why, want);
    mtlb_config_destroy(a);
    mtlb_config_destroy(b);
}

Test(config_diff, same_file_needs_no_restart_and_changes_nothing)
{
    struct mtlb_config *a = base(), *b = base();
    char why[256] = "", sum[256] = "x";
    cr_assert_not(mtlb_config_diff_restart(a, b, why, sizeof(why)));
    mtlb_config_diff_summary(a, b, sum, sizeof(sum));
    cr_assert_str_empty(sum);
    mtlb_config_destroy(a);
    mtlb_config_destroy(b);
}

Test(config_diff, bind_change_needs_a_restart)
{
    expect_restart(load("127.0.0.1:9444", "[\"10.0.0.1:80\"]", "", "ca.pem"),
                   "listeners[1].bind changed (127.0.0.1:9443 -> 127.0.0.1:9444)");
}

Test(config_diff, threads_io_admin_and_access_log_need_a_restart)
{
    expect_restart(load("127.0.0.1:9443", "[\"10.0.0.1:80\"]", "threads: {workers: 3}\n", "ca.pem"),
                   "threads changed (workers 0 -> 3");
    expect_restart(
        load("127.0.0.1:9443", "[\"10.0.0.1:80\"]", "threads: {acceptors: 2}\n", "ca.pem"),
        "acceptors 1 -> 2");
    expect_restart(load("127.0.0.1:9443", "[\"10.0.0.1:80\"]", "io: epoll\n", "ca.pem"),
                   "io changed (auto -> epoll)");
    expect_restart(load("127.0.0.1:9443", "[\"10.0.0.1:80\"]",
                        "admin: {bind: \"127.0.0.1:9901\"}\n", "ca.pem"),
                   "admin.bind changed (off:0 -> 127.0.0.1:9901)");
    expect_restart(
        load("127.0.0.1:9443", "[\"10.0.0.1:80\"]", "log: {access_log: stderr}\n", "ca.pem"),
        "log.access_log changed");
}

/* The admin thread builds its TLS context once, at start-up: a reload that changes the admin's
 * certificate, key or client_auth is refused (nothing changes), one that keeps them is not. */
Test(config_diff, admin_tls_change_needs_a_restart)
{
    static const char *const admins[] = {
        "admin: {bind: \"0.0.0.0:9901\", certificate: a.crt, key: a.key,\n"
        "        client_auth: {truststore: admin-ca.pem}}\n",
        "admin: {bind: \"0.0.0.0:9901\", certificate: a.crt, key: a.key,\n"
        "        client_auth: {truststore: admin-ca2.pem}}\n",
        "admin: {bind: \"0.0.0.0:9901\", certificate: a2.crt, key: a.key,\n"
        "        client_auth: {truststore: admin-ca.pem}}\n",
        "admin: {bind: \"0.0.0.0:9901\", certificate: a.crt, key: a.key,\n"
        "        client_auth: {truststore: admin-ca.pem, crl: admin.crl}}\n",
    };
    for (size_t i = 0; i < 4; i++) {
        struct mtlb_config *a = load("127.0.0.1:9443", "[\"10.0.0.1:80\"]", admins[0], "ca.pem");
        struct mtlb_config *b = load("127.0.0.1:9443", "[\"10.0.0.1:80\"]", admins[i], "ca.pem");
        char why[512] = "";
        cr_assert_eq(mtlb_config_diff_restart(a, b, why, sizeof(why)), i != 0, "%zu: %s", i, why);
        if (i != 0) {
            cr_assert(strstr(why, "admin TLS changed (admin.certificate, key or client_auth)") !=
                          NULL,
                      "%s", why);
        }
        mtlb_config_destroy(a);
        mtlb_config_destroy(b);
    }
    expect_restart(load("127.0.0.1:9443", "[\"10.0.0.1:80\"]",
                        "admin: {bind: \"127.0.0.1:9901\", certificate: a.crt, key: a.key,\n"
                        "        client_auth: {truststore: admin-ca.pem}}\n",
                        "ca.pem"),
                   "admin.bind changed");
}

Test(config_diff, listener_count_needs_a_restart)
{
    struct mtlb_config *a = base(), *b = base();
    char why[256] = "";
    b->n_listeners = 1; /* the second listener dropped (destroy still frees both) */
    cr_assert(mtlb_config_diff_restart(a, b, why, sizeof(why)));
    cr_assert(strstr(why, "number of listeners changed (2 -> 1)") != NULL, "%s", why);
    b->n_listeners = 2;
    mtlb_config_destroy(a);
    mtlb_config_destroy(b);
}

Test(config_diff, live_changes_are_summarized)
{
    struct mtlb_config *a = base();
    struct mtlb_config *b =
        load("127.0.0.1:9443", "[\"10.0.0.1:80\", \"10.0.0.2:80\"]",
             "timeouts: {client_idle: 5s}\nlimits: {max_headers: 50}\n", "new-ca.pem");
    char why[256] = "", sum[512];
    cr_assert_not(mtlb_config_diff_restart(a, b, why, sizeof(why)), "%s", why);
    mtlb_config_diff_summary(a, b, sum, sizeof(sum));
    cr_assert_str_eq(sum, "domains:~api.example.com pools:~app files:+/etc/mtlb/new-ca.pem");
    mtlb_config_destroy(a);
    mtlb_config_destroy(b);
}

Test(config_diff, added_and_removed_domains_and_pools)
{
    struct mtlb_config *a = base(), *b = base();
    char sum[512];
    free(b->listeners[1].domains[0].names[0]);
    b->listeners[1].domains[0].names[0] = strdup("c.example.com");
    free(b->backends[0].name);
    b->backends[0].name = strdup("orders");
    mtlb_config_diff_summary(a, b, sum, sizeof(sum));
    cr_assert_str_eq(sum, "domains:+c.example.com,-b.example.com pools:+orders,-app");
    mtlb_config_destroy(a);
    mtlb_config_destroy(b);
}

Test(config_diff, summary_is_cut_to_the_buffer)
{
    struct mtlb_config *a = base(), *b = base();
    char sum[12];
    free(b->backends[0].name);
    b->backends[0].name = strdup("a-rather-long-pool-name");
    mtlb_config_diff_summary(a, b, sum, sizeof(sum));
    cr_assert_eq(strlen(sum), sizeof(sum) - 1);
    cr_assert_str_eq(sum, "pools:+a-ra");
    mtlb_config_destroy(a);
    mtlb_config_destroy(b);
}

/* The TLS policy is rebuilt with the contexts on reload: a change marks the domain changed
 * and needs no restart; a new passphrase file is listed with the files. */
Test(config_diff, tls_policy_reloads_live)
{
    struct mtlb_config *a = base();
    struct mtlb_config *b =
        load("127.0.0.1:9443", "[\"10.0.0.1:80\"]", "",
             "ca.pem}\n        tls: {ciphersuites: TLS_AES_256_GCM_SHA384, key_passphrase_file: p");
    char why[512] = "", sum[512] = "";

    cr_expect_not(mtlb_config_diff_restart(a, b, why, sizeof(why)), "%s", why);
    mtlb_config_diff_summary(a, b, sum, sizeof(sum));
    cr_expect_str_eq(sum, "domains:~api.example.com files:+/etc/mtlb/p");
    mtlb_config_destroy(a);
    mtlb_config_destroy(b);
}
