/* Integration: the opt-in identity headers (headers.client_cert, client_san, fingerprint).
 * Each value is compared with openssl's own view of the test PKI's client certificate; the
 * headers are absent when not configured or without a certificate; client copies of the
 * names, configured or default, never reach the backend in any spelling, over HTTP/1.1 and
 * HTTP/2, in headers and trailers; a reload that turns client_cert on reaches connections made
 * before it; mtlb -t refuses a bad or colliding name. */
#include "h2_util.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const struct it_tls_opts san_client = {.cert = "client/san.crt", .key = "client/san.key"};
static const struct it_tls_opts good = {.cert = "client/good.crt", .key = "client/good.key"};
static const struct it_tls_opts nocert = {.cert = NULL};

#define ALL_DEFAULT                                                                                \
    "client_cert: X-SSL-Client-Cert, client_san: X-SSL-Client-SAN, "                               \
    "fingerprint: X-SSL-Client-Fingerprint"
#define ALL_CUSTOM "client_cert: X-Client-Cert, client_san: X-Client-SAN, fingerprint: X-Client-FP"

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(idheaders, .init = setup, .fini = teardown, .timeout = 60);

static void start(const char *mode, const char *headers)
{
    struct it_config cfg = {.n_domains = 1, .headers = headers};
    cfg.domains[0].mode = mode;
    start_cfg(&cfg);
}

/* stdout of a shell command (openssl), malloc'd. */
static char *sh(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "%s", cmd);
    size_t cap = 16384, len = 0;
    char *out = malloc(cap);
    size_t n;
    while ((n = fread(out + len, 1, cap - 1 - len, p)) > 0) {
        len += n;
    }
    out[len] = '\0';
    cr_assert_eq(pclose(p), 0, "%s", cmd);
    return out;
}

/* openssl's PEM of the certificate, percent-encoded except A-Z a-z 0-9 - . _ ~ (what nginx's
 * $ssl_client_escaped_cert holds). */
static char *want_cert(const char *rel)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "openssl x509 -in '%s'", it_pki(rel));
    char *pem = sh(cmd);
    char *out = malloc(strlen(pem) * 3 + 1);
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)pem; *p; p++) {
        if (isalnum(*p) || strchr("-._~", *p) != NULL) {
            out[o++] = (char)*p;
        } else {
            o += (size_t)sprintf(out + o, "%%%02X", *p);
        }
    }
    out[o] = '\0';
    free(pem);
    return out;
}

/* openssl's SHA-256 fingerprint, without colons, lower case. */
static char *want_fingerprint(const char *rel)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "openssl x509 -in '%s' -noout -fingerprint -sha256", it_pki(rel));
    char *line = sh(cmd);
    char *out = calloc(1, 65);
    size_t o = 0;
    for (const char *p = strchr(line, '=') + 1; *p && o < 64; p++) {
        if (isxdigit((unsigned char)*p)) {
            out[o++] = (char)tolower((unsigned char)*p);
        }
    }
    free(line);
    return out;
}

/* openssl's subjectAltName line with "IP Address:" written "IP:" and IPv6 in inet_ntop form. */
static char *want_san(const char *rel)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "openssl x509 -in '%s' -noout -ext subjectAltName | tail -n 1",
             it_pki(rel));
    char *line = sh(cmd);
    char *out = calloc(1, strlen(line) + 1);
    char *save = NULL;
    for (char *e = strtok_r(line, ",\n", &save); e != NULL; e = strtok_r(NULL, ",\n", &save)) {
        while (*e == ' ') {
            e++;
        }
        if (*out) {
            strcat(out, ", ");
        }
        if (strncmp(e, "IP Address:", 11) == 0) {
            unsigned char a[16];
            char t[INET6_ADDRSTRLEN];
            int fam = strchr(e + 11, ':') != NULL ? AF_INET6 : AF_INET;
            cr_assert_eq(inet_pton(fam, e + 11, a), 1, "%s", e);
            inet_ntop(fam, a, t, sizeof(t));
            strcat(out, "IP:");
            strcat(out, t);
        } else {
            strcat(out, e);
        }
    }
    free(line);
    return out;
}

static char *h1(const struct it_tls_opts *o, const char *req)
{
    struct it_exchange x;
    it_tls_exchange(env.port, o, req, &x);
    cr_assert_eq(x.outcome, IT_OK, "expected a response, got %s", x.detail);
    cr_assert_eq(x.resp.status, 200, "status %d:\n%s%s", x.resp.status, x.resp.head, x.resp.body);
    char *b = strdup(x.resp.body);
    it_exchange_fini(&x);
    return b;
}

static void assert_value(const char *echoed, const char *name, const char *want)
{
    static char v[32768];
    cr_assert_eq(it_header_count(echoed, name), 1, "expected exactly one %s; backend got:\n%s",
                 name, echoed);
    it_header_get(echoed, name, v, sizeof(v));
    cr_assert_str_eq(v, want, "%s; backend got:\n%s", name, echoed);
}

/* Header lines whose name reads as `name` once "_" is taken for "-", in any case. */
static size_t folded_count(const char *echoed, const char *name)
{
    size_t n = 0, len = strlen(name);
    const char *end = strstr(echoed, "\r\n\r\n");

    for (const char *l = strstr(echoed, "\r\n"); l != NULL && l < end; l = strstr(l, "\r\n")) {
        l += 2;
        size_t i = 0;
        while (i < len && l[i] != '\0' && tolower(l[i] == '_' ? '-' : l[i]) == tolower(name[i])) {
            i++;
        }
        n += i == len && l[i] == ':';
    }
    return n;
}

static void assert_all_values(const char *b, const char *rel, const char *cert_name,
                              const char *san_name, const char *fp_name)
{
    char *cert = want_cert(rel), *san = want_san(rel), *fp = want_fingerprint(rel);
    assert_value(b, cert_name, cert);
    assert_value(b, san_name, san);
    assert_value(b, fp_name, fp);
    free(cert);
    free(san);
    free(fp);
}

Test(idheaders, h1_values_match_openssl)
{
    start("mandatory", ALL_DEFAULT);
    char *b = h1(&san_client, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_all_values(b, "client/san.crt", "X-SSL-Client-Cert", "X-SSL-Client-SAN",
                      "X-SSL-Client-Fingerprint");
    assert_value(b, "X-SSL-Client-SAN",
                 "DNS:san-client.example, URI:spiffe://mtlb.test/ns/app, email:san@mtlb.test, "
                 "IP:10.0.0.1, IP:2001:db8::1");
    assert_value(b, "X-SSL-Client-Verify", "SUCCESS");
    free(b);
    /* a certificate without subjectAltName: no SAN header, the others present */
    b = h1(&good, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    cr_assert_eq(folded_count(b, "x-ssl-client-san"), 0, "%s", b);
    char *cert = want_cert("client/good.crt"), *fp = want_fingerprint("client/good.crt");
    assert_value(b, "X-SSL-Client-Cert", cert);
    assert_value(b, "X-SSL-Client-Fingerprint", fp);
    free(cert);
    free(fp);
    free(b);
    it_mtlb_stop(&env, 5000);
}

Test(idheaders, absent_when_not_configured)
{
    start("mandatory", "fingerprint: X-Client-FP");
    char *b = h1(&san_client, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    cr_assert_eq(folded_count(b, "x-ssl-client-cert"), 0, "%s", b);
    cr_assert_eq(folded_count(b, "x-ssl-client-san"), 0, "%s", b);
    cr_assert_eq(folded_count(b, "x-ssl-client-fingerprint"), 0, "%s", b);
    char *fp = want_fingerprint("client/san.crt");
    assert_value(b, "X-Client-FP", fp);
    free(fp);
    free(b);
    it_mtlb_stop(&env, 5000);

    start("mandatory", NULL);
    b = h1(&san_client, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    cr_assert_null(strstr(b, "BEGIN%20CERT"), "%s", b);
    cr_assert_null(strstr(b, "san-client.example"), "%s", b);
    cr_assert_eq(folded_count(b, "x-client-fp"), 0, "%s", b);
    free(b);
    it_mtlb_stop(&env, 5000);
}

Test(idheaders, optional_mode_without_certificate)
{
    start("optional", ALL_CUSTOM);
    char *b = h1(&nocert, "GET / HTTP/1.1\r\nHost: localhost\r\nX-Client-Cert: forged\r\n"
                          "x_client_san: DNS:forged\r\nX-Client-FP: forged\r\n\r\n");
    assert_value(b, "X-SSL-Client-Verify", "NONE");
    cr_assert_eq(folded_count(b, "x-client-cert"), 0, "%s", b);
    cr_assert_eq(folded_count(b, "x-client-san"), 0, "%s", b);
    cr_assert_eq(folded_count(b, "x-client-fp"), 0, "%s", b);
    free(b);
    /* with one, the same mode sends them */
    b = h1(&san_client, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_all_values(b, "client/san.crt", "X-Client-Cert", "X-Client-SAN", "X-Client-FP");
    free(b);
    it_mtlb_stop(&env, 5000);
}

#define FORGED_H1                                                                                  \
    "X-Client-Cert: forged\r\nx_client_cert: forged\r\nX-CLIENT_SAN: forged\r\n"                   \
    "x-client-fp: forged\r\nX_Client_FP: forged\r\nX-SSL-Client-Cert: forged\r\n"                  \
    "x_ssl_client_san: forged\r\nX-SSL_Client-Fingerprint: forged\r\n"

static void assert_no_forgery(const char *b)
{
    cr_assert_null(strstr(b, "forged"), "a forged copy reached the backend:\n%s", b);
    cr_assert_eq(folded_count(b, "x-client-cert"), 1, "%s", b);
    cr_assert_eq(folded_count(b, "x-client-san"), 1, "%s", b);
    cr_assert_eq(folded_count(b, "x-client-fp"), 1, "%s", b);
    cr_assert_eq(folded_count(b, "x-ssl-client-cert"), 0, "%s", b);
    cr_assert_eq(folded_count(b, "x-ssl-client-san"), 0, "%s", b);
    cr_assert_eq(folded_count(b, "x-ssl-client-fingerprint"), 0, "%s", b);
}

Test(idheaders, h1_forged_copies_stripped_in_headers_and_trailers)
{
    start("mandatory", ALL_CUSTOM ", underscores: pass, request_trailers: forward");
    char *b = h1(&san_client, "GET / HTTP/1.1\r\nHost: localhost\r\n" FORGED_H1 "\r\n");
    assert_no_forgery(b);
    assert_all_values(b, "client/san.crt", "X-Client-Cert", "X-Client-SAN", "X-Client-FP");
    free(b);
    b = h1(&san_client,
           "POST /echo-trailers HTTP/1.1\r\nHost: localhost\r\n"
           "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n" FORGED_H1 "X-Sum: 1\r\n\r\n");
    assert_no_forgery(b);
    cr_assert_not_null(strstr(b, "trailer: X-Sum: 1\r\n"), "%s", b);
    free(b);
    it_mtlb_stop(&env, 5000);
}

#define H2_FORGED                                                                                  \
    "header=x-client-cert:forged,header=x_client_cert:forged,header=x_client-san:forged,"          \
    "header=x-client-fp:forged,header=x-ssl-client-cert:forged,header=x_ssl_client_san:forged,"    \
    "header=x-ssl_client-fingerprint:forged"
#define H2_FORGED_TRAILERS                                                                         \
    "trailer=x-client-cert:forged,trailer=x_client_fp:forged,trailer=x-client-san:forged,"         \
    "trailer=x_ssl_client_cert:forged,trailer=x-ssl-client-fingerprint:forged"

static char *h2_echo(const char *spec, const char *path)
{
    struct h2_out o;
    struct h2s s;

    h2c_run(&o, 10000, "--print-body", "--cert", it_pki("client/san.crt"), "--key",
            it_pki("client/san.key"), "--stream", spec, NULL);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    get_stream(&o, path, 0, &s);
    cr_assert_eq(s.status, 200, "%s", o.out);
    char *b = h2_body(o.out, s.id);
    h2_out_fini(&o);
    return b;
}

Test(idheaders, h2_values_and_forged_copies)
{
    start("mandatory", ALL_CUSTOM ", underscores: pass, request_trailers: forward");
    char *b = h2_echo("path=/x," H2_FORGED, "/x");
    assert_no_forgery(b);
    assert_all_values(b, "client/san.crt", "X-Client-Cert", "X-Client-SAN", "X-Client-FP");
    free(b);
    b = h2_echo("path=/echo-trailers,body=100,no-cl," H2_FORGED_TRAILERS ",trailer=x-sum:1",
                "/echo-trailers");
    assert_no_forgery(b);
    cr_assert_not_null(strstr(b, "trailer: x-sum: 1\r"), "%s", b);
    free(b);
    it_mtlb_stop(&env, 5000);
}

/* A reload that adds a custom name protects it on a live HTTP/2 connection too: its request
 * heads follow the new configuration, and so must its trailers, or a forged copy sent as a
 * trailer on a connection opened before the reload would reach the backend. */
Test(idheaders, h2_trailers_follow_a_reload_that_adds_a_name)
{
    struct it_config cfg = {.n_domains = 1, .headers = "request_trailers: forward"};
    cfg.domains[0].mode = "mandatory";
    start_cfg(&cfg);
    struct it_config next = cfg;
    next.headers = "request_trailers: forward, " ALL_CUSTOM;
    cr_assert_eq(it_write_config(&env, &cfg), 0);
    /* The reload happens while the connection waits between its two streams. */
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        usleep(700 * 1000);
        it_write_config(&env, &next);
        kill(env.mtlb, SIGHUP);
        _exit(0);
    }
    struct h2_out o;
    struct h2s s;
    h2c_run(&o, 10000, "--print-body", "--cert", it_pki("client/san.crt"), "--key",
            it_pki("client/san.key"), "--stream", "path=/a", "--stream",
            "path=/echo-trailers,body=100,no-cl,trailer=x-client-cert:forged,"
            "trailer=x_client_fp:forged,trailer=x-sum:1,after,delay=2000",
            NULL);
    int st = 0;
    waitpid(pid, &st, 0);
    cr_assert_eq(o.rc, 0, "h2c exit %d:\n%s%s", o.rc, o.out, o.err);
    cr_assert_eq(count_lines(o.out, "connected "), 1, "one connection:\n%s", o.out);
    const char *ok[] = {"event=reloaded", "generation=2", NULL};
    cr_assert_eq(it_count_lines(env.err_log, ok), 1, "the reload happened during the run");
    get_stream(&o, "/echo-trailers", 0, &s);
    cr_assert_eq(s.status, 200, "%s", o.out);
    char *b = h2_body(o.out, s.id);
    h2_out_fini(&o);
    cr_assert_null(strstr(b, "forged"), "a forged trailer reached the backend:\n%s", b);
    cr_assert_not_null(strstr(b, "trailer: x-sum: 1\r"), "%s", b);
    /* The value too: the connection, made before the reload, still holds its leaf (userspace
     * TLS), so the PEM is encoded for its first request that needs it (README). */
    char *cert = want_cert("client/san.crt");
    assert_value(b, "X-Client-Cert", cert);
    free(cert);
    free(b);
    it_mtlb_stop(&env, 5000);
}

/* A reload that turns client_cert on reaches a keep-alive connection made before it: its next
 * request carries the leaf's PEM (the handshake did not encode it), as a new connection's does,
 * its SANs and the other headers unchanged, and the reload says which connections go without
 * (kTLS ones, which released the leaf). */
Test(idheaders, client_cert_added_by_reload_reaches_older_connections)
{
    struct it_config cfg = {.n_domains = 1, .headers = "client_san: X-Client-SAN"};
    cfg.domains[0].mode = "mandatory";
    start_cfg(&cfg);
    char err[256];
    struct it_conn *c = it_tls_connect(env.port, &san_client, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    it_conn_timeout(c, 5000);
    static const char req[] = "GET /echo HTTP/1.1\r\nHost: localhost\r\n\r\n";
    struct it_response r;
    cr_assert_eq(it_conn_sends(c, req), 0);
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(folded_count(r.body, "x-client-cert"), 0, "%s", r.body);
    it_response_fini(&r);

    cfg.headers = ALL_CUSTOM;
    cr_assert_eq(it_write_config(&env, &cfg), 0);
    kill(env.mtlb, SIGHUP);
    const char *ok[] = {"event=reloaded", "generation=2", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, ok, 1, 10000), 1, "no reload");
    free(it_wait_line(env.err_log,
                      (const char *const[]){"event=reload_note", "key=headers.client_cert", NULL}));
    for (int i = 0; i < 2; i++) { /* encoded once, then kept */
        cr_assert_eq(it_conn_sends(c, req), 0);
        cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
        cr_assert_eq(r.status, 200);
        assert_all_values(r.body, "client/san.crt", "X-Client-Cert", "X-Client-SAN", "X-Client-FP");
        it_response_fini(&r);
    }
    it_conn_close(c);
    /* A reload that keeps it on says nothing more. */
    kill(env.mtlb, SIGHUP);
    const char *ok3[] = {"event=reloaded", "generation=3", NULL};
    cr_assert_eq(it_wait_lines(env.err_log, ok3, 1, 10000), 1, "no reload");
    const char *note[] = {"event=reload_note", "key=headers.client_cert", NULL};
    cr_assert_eq(it_count_lines(env.err_log, note), 1);
    it_mtlb_stop(&env, 5000);
}

static void check_refused(const char *headers, const char *needle)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = 1, .servers = {9}, .headers = headers};
    cfg.domains[0].mode = "mandatory";
    struct it_run_result r = it_mtlb_check(&env, &cfg);
    cr_assert_eq(r.rc, 1, "%s: mtlb -t must exit 1, got %d:\n%s", headers, r.rc, r.err);
    cr_assert_not_null(strstr(r.err, needle), "%s: stderr:\n%s", headers, r.err);
    it_run_result_fini(&r);
}

Test(idheaders, check_refuses_bad_names)
{
    check_refused("client_cert: \"X Cert\"", "not a valid header name");
    check_refused("client_san: X-Forwarded-For", "forwarding header");
    check_refused("fingerprint: X_SSL_Client_Verify", "already writes");
    check_refused("client_cert: X-Id, fingerprint: x_id", "another identity header");
    struct it_config cfg = {.n_domains = 1, .n_servers = 1, .servers = {9}, .headers = ALL_CUSTOM};
    cfg.domains[0].mode = "mandatory";
    struct it_run_result r = it_mtlb_check(&env, &cfg);
    cr_assert_eq(r.rc, 0, "valid names refused:\n%s", r.err);
    it_run_result_fini(&r);
}

/* A client certificate (signed by the test intermediate) with ~15 KiB of DNS names: its SAN
 * list is over 8 KiB and its encoded PEM over 16 KiB. Returns the .crt path (the .key beside
 * it, same name). */
static void make_big_cert(char *crt, size_t cap)
{
    char cmd[1024];
    snprintf(crt, cap, "%s/big.crt", env.dir);
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
             "-out big.key 2>/dev/null && openssl req -new -key big.key -subj "
             "'/C=PL/O=mtlb Test/CN=big-client' -out big.csr && "
             "{ printf 'extendedKeyUsage=clientAuth\\nsubjectAltName='; "
             "for i in $(seq 1 250); do printf 'DNS:host%%03d.%s.example,' $i; done; "
             "printf 'DNS:last.example\\n'; } >ext && "
             "openssl x509 -req -in big.csr -CA '%s' -CAkey '%s' -set_serial 0x2001 -days 1 "
             "-extfile ext -out big.crt 2>/dev/null && echo ok",
             env.dir, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", it_pki("ca/inter.crt"),
             it_pki("ca/inter.key"));
    char *out = sh(cmd);
    cr_assert_not_null(strstr(out, "ok"), "%s", out);
    free(out);
}

static int big_status(const char *crt)
{
    char key[512];
    snprintf(key, sizeof(key), "%.*s.key", (int)(strlen(crt) - 4), crt);
    struct it_tls_opts o = {.cert = crt, .key = key};
    struct it_exchange x;
    it_tls_exchange(env.port, &o, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", &x);
    cr_assert_eq(x.outcome, IT_OK, "expected a response, got %s", x.detail);
    int st = x.resp.status;
    it_exchange_fini(&x);
    return st;
}

/* Over the limit: 431 and a warn line, never a cut header; mtlb stays up for others. */
Test(idheaders, oversize_value_fails_cleanly)
{
    static const char *const needles[] = {"event=identity_header_too_large", "header=client_san",
                                          NULL};
    char crt[400];

    make_big_cert(crt, sizeof(crt));
    start("mandatory", "client_san: X-Client-SAN");
    cr_assert_eq(big_status(crt), 431);
    free(it_wait_line(env.err_log, needles));
    char *b = h1(&san_client, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    cr_assert_not_null(strstr(b, "X-Client-SAN: DNS:san-client.example"), "%s", b);
    free(b);
    it_mtlb_stop(&env, 5000);

    start("mandatory", "client_cert: X-Client-Cert");
    cr_assert_eq(big_status(crt), 431);
    it_mtlb_stop(&env, 5000);

    /* only the configured headers' sizes matter */
    start("mandatory", "fingerprint: X-Client-FP");
    cr_assert_eq(big_status(crt), 200);
    it_mtlb_stop(&env, 5000);
}

/* A client without a certificate on a connection made before a reload turned
 * X-SSL-Client-Cert on: the late encoding finds no leaf, so no header, and its forged copies
 * (every spelling) are stripped before and after the reload. */
Test(idheaders, client_cert_reload_without_certificate_sends_no_value)
{
    struct it_config cfg = {.n_domains = 1};
    cfg.domains[0].mode = "optional";
    start_cfg(&cfg);
    char err[256];
    struct it_conn *c = it_tls_connect(env.port, &nocert, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    it_conn_timeout(c, 5000);
    static const char req[] =
        "GET /echo HTTP/1.1\r\nHost: localhost\r\nX-SSL-Client-Cert: forged\r\n"
        "x_ssl_client_cert: forged\r\nX.SSL.Client.Cert: forged\r\n\r\n";
    struct it_response r;
    for (int gen = 1; gen <= 2; gen++) {
        if (gen == 2) {
            cfg.headers = "client_cert: X-SSL-Client-Cert";
            cr_assert_eq(it_write_config(&env, &cfg), 0);
            kill(env.mtlb, SIGHUP);
            const char *ok[] = {"event=reloaded", "generation=2", NULL};
            cr_assert_eq(it_wait_lines(env.err_log, ok, 1, 10000), 1, "no reload");
        }
        cr_assert_eq(it_conn_sends(c, req), 0);
        cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
        cr_assert_eq(r.status, 200);
        assert_value(r.body, "X-SSL-Client-Verify", "NONE");
        cr_assert_eq(folded_count(r.body, "x-ssl-client-cert"), 0, "gen %d:\n%s", gen, r.body);
        cr_assert_null(strstr(r.body, "forged"), "gen %d:\n%s", gen, r.body);
        it_response_fini(&r);
    }
    it_conn_close(c);
    it_mtlb_assert_alive(&env);
    it_mtlb_stop(&env, 5000);
}
