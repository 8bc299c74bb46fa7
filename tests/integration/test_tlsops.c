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
#pragma GCC diagnostic ignored "-Wunused-function" /* TEMP */

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(tlsops, .init = setup, .fini = teardown, .timeout = 120);

struct run {
    int rc;
    char *out;
    char *err;
};

static struct run run_mtlb(const char *a1, const char *a2, const char *a3)
{
    struct run r;
    char *argv[] = {getenv("MTLB_BIN"), (char *)a1, (char *)a2, (char *)a3, NULL};
    cr_assert_not_null(argv[0], "MTLB_BIN is not set");
    r.rc = it_run(&env, argv, &r.out, &r.err, 10000);
    if (r.out == NULL) {
        r.out = calloc(1, 1);
    }
    if (r.err == NULL) {
        r.err = calloc(1, 1);
    }
    return r;
}

static void run_fini(struct run *r)
{
    free(r->out);
    free(r->err);
}

/* Writes the config and runs `mtlb -t -c config`. */
static struct run check(const struct it_config *cfg)
{
    cr_assert_eq(it_write_config(&env, cfg), 0);
    return run_mtlb("-t", "-c", env.config);
}

static struct it_config base(void)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = 1, .servers = {9}};
    cfg.domains[0].mode = "mandatory";
    cfg.domains[0].crl = "ca/crl.pem";
    return cfg;
}

/* Copies a PKI file into the temp dir under a neutral name, so that the file name itself
 * cannot satisfy a "mentions the problem" assertion. */
static const char *copy_pki(const char *rel, const char *as)
{
    static char path[4][400];
    static int next;
    char *dst = path[next++ % 4];
    snprintf(dst, sizeof(path[0]), "%s/%s", env.dir, as);
    size_t len;
    char *data = it_read_file(it_pki(rel), &len);
    cr_assert_not_null(data, "cannot read %s", it_pki(rel));
    FILE *f = fopen(dst, "wb");
    cr_assert_not_null(f);
    fwrite(data, 1, len, f);
    fclose(f);
    free(data);
    return dst;
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
    const char *missing[] = {"level=warn", "event=client_cert_missing", "peer=127.0.0.1:",
                             "domain=api.example.com", NULL};
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

/* api.example.com (optional, full.pem) and other.example.com (mandatory, other.pem). */
static void start_two_domains(void)
{
    struct it_config cfg = {.n_domains = 2};
    cfg.domains[0] = (struct it_domain){.names = {"api.example.com", "localhost"},
                                        .mode = "optional",
                                        .truststore = "trust/full.pem"};
    cfg.domains[1] = (struct it_domain){.names = {"other.example.com"},
                                        .cert = "server/other.crt",
                                        .key = "server/other.key",
                                        .mode = "mandatory",
                                        .truststore = "trust/other.pem"};
    start_cfg(&cfg);
}

static const char *const misdirected[] = {
    "level=warn",           "event=misdirected_request",         "status=421",
    "peer=127.0.0.1:",      "domain=api.example.com",            "conn=",
    "authority_domain=other.example.com", NULL};

Test(tlsops, misdirected_request_is_logged_http1)
{
    start_two_domains();
    struct it_tls_opts o = {
        .cert = "client/good.crt", .key = "client/good.key", .sni = "api.example.com"};
    struct it_exchange x;
    it_tls_exchange(env.port, &o, "GET / HTTP/1.1\r\nHost: Other.Example.Com.:8443\r\n\r\n", &x);
    cr_assert_eq(x.outcome, IT_OK, "%s", x.detail);
    cr_assert_eq(x.resp.status, 421);
    it_exchange_fini(&x);
    cr_assert_eq(it_wait_lines(env.err_log, misdirected, 1, 3000), 1,
                 "no 421 warn line:\n%s", it_read_file(env.err_log, NULL));
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
    start_two_domains();
    struct h2_out o;
    h2c_run(&o, 10000, "--sni", "api.example.com", "--cert", good_cert(), "--key", good_key(),
            "--stream", "path=/a,authority=other.example.com", "--stream", "path=/b,after",
            NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    struct h2s s;
    get_stream(&o, "/a", 0, &s);
    cr_assert_eq(s.status, 421, "%s", o.out);
    get_stream(&o, "/b", 0, &s);
    cr_assert_eq(s.status, 200, "%s", o.out);
    h2_out_fini(&o);
    cr_assert_eq(it_wait_lines(env.err_log, misdirected, 1, 3000), 1,
                 "no 421 warn line:\n%s", it_read_file(env.err_log, NULL));
    const char *authority[] = {"event=misdirected_request", "authority=other.example.com ",
                               NULL};
    cr_assert_eq(it_count_lines(env.err_log, authority), 1, "the requested authority:\n%s",
                 it_read_file(env.err_log, NULL));
}
