/* Integration: the access log as an auditor reads it. Every line names the TLS facts of its
 * connection (sni, domain, version, cipher, resumption), the client certificate (issuer, serial,
 * SHA-256 fingerprint, why it was refused), the request id the backend received, the body
 * bytes and the backend timings; handshakes that fail get their own, rate-limited lines. */
#include "h2_util.h"

#include <criterion/criterion.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INTER_DN "/C=PL/O=mtlb Test/CN=mtlb Test Intermediate CA"

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(access, .init = setup, .fini = teardown, .timeout = 90);

static const struct it_tls_opts good = {
    .cert = "client/good.crt", .key = "client/good.key", .sni = "localhost"};

/* ---- reading lines ---- */

static char *line_for(const char *path)
{
    char n[128];
    snprintf(n, sizeof(n), "\"path\":\"%s\"", path);
    const char *needles[] = {n, NULL};
    return it_wait_line(env.out_log, needles);
}

/* The string value of "key" (no escapes in the values these tests read); false if absent. */
static bool jstr(const char *line, const char *key, char *out, size_t cap)
{
    char k[64];
    snprintf(k, sizeof(k), "\"%s\":\"", key);
    const char *at = strstr(line, k);
    if (at == NULL) {
        return false;
    }
    at += strlen(k);
    size_t n = strcspn(at, "\"");
    snprintf(out, cap, "%.*s", (int)n, at);
    return true;
}

static void expect_str(const char *line, const char *key, const char *want)
{
    char v[512];
    cr_assert(jstr(line, key, v, sizeof(v)), "no \"%s\" in %s", key, line);
    cr_assert_str_eq(v, want, "\"%s\" in %s", key, line);
}

static bool has_key(const char *line, const char *key)
{
    char k[64];
    snprintf(k, sizeof(k), "\"%s\":", key);
    return strstr(line, k) != NULL;
}

/* The raw (non-string) value of key, e.g. "12", "0.412", "null", "true". */
static void raw(const char *line, const char *key, char *out, size_t cap)
{
    char k[64];
    snprintf(k, sizeof(k), "\"%s\":", key);
    const char *at = strstr(line, k);
    cr_assert_not_null(at, "no %s in %s", key, line);
    at += strlen(k);
    snprintf(out, cap, "%.*s", (int)strcspn(at, ",}"), at);
}

static void expect_raw(const char *line, const char *key, const char *want)
{
    char v[64];
    raw(line, key, v, sizeof(v));
    cr_assert_str_eq(v, want, "%s in %s", key, line);
}

/* A timing in ms with three decimals (a measured value, not null). */
static double expect_ms(const char *line, const char *key)
{
    char v[64];
    raw(line, key, v, sizeof(v));
    char *end = NULL;
    double d = strtod(v, &end);
    cr_assert(end != v && *end == '\0' && strchr(v, '.') != NULL && d >= 0 && d < 10000,
              "%s is not a time in ms: %s", key, line);
    return d;
}

static bool generated_id(const char *id)
{
    return strlen(id) == 40 && strspn(id, "0123456789abcdef") == 40;
}

/* SHA-256 of a PKI certificate's DER as lower-case hex. */
static void fingerprint_of(const char *rel, char out[65])
{
    FILE *f = fopen(it_pki(rel), "r");
    cr_assert_not_null(f, "%s", rel);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    cr_assert_not_null(x);
    unsigned char md[32];
    unsigned int len = 0;
    cr_assert_eq(X509_digest(x, EVP_sha256(), md, &len), 1);
    for (unsigned int i = 0; i < len; i++) {
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    }
    X509_free(x);
}

/* The TLS and identity fields of a mandatory client with client/good.crt and SNI localhost. */
static void expect_good_client(const char *line)
{
    char fp[65], v[128];
    fingerprint_of("client/good.crt", fp);
    expect_str(line, "sni", "localhost");
    expect_str(line, "domain", "api.example.com");
    cr_assert(jstr(line, "tls_version", v, sizeof(v)) && strncmp(v, "TLSv1.", 6) == 0, "%s", line);
    cr_assert(jstr(line, "cipher", v, sizeof(v)) && strlen(v) > 4, "%s", line);
    expect_str(line, "verify", "SUCCESS");
    expect_str(line, "dn", GOOD_DN);
    expect_str(line, "issuer", INTER_DN);
    expect_str(line, "serial", "1001");
    expect_str(line, "fingerprint_sha256", fp);
    cr_assert_not(has_key(line, "verify_reason"), "no reason for SUCCESS: %s", line);
}

/* ---- HTTP/1.1 ---- */

static int request(struct it_conn *c, const char *req, struct it_response *r)
{
    cr_assert_eq(it_conn_sends(c, req), 0);
    return it_read_response(c, r, false);
}

Test(access, every_field_for_a_mandatory_client_http1)
{
    struct it_config cfg = {.n_domains = 1};
    start_cfg(&cfg);
    char err[256];
    struct it_conn *c = it_tls_connect(env.port, &good, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    struct it_response r1, r2;
    cr_assert_eq(
        request(c,
                "POST /acc-1 HTTP/1.1\r\nHost: localhost\r\nUser-Agent: audit-agent/1.0\r\n"
                "Content-Length: 11\r\n\r\nhello world",
                &r1),
        0, "%s", c->err);
    cr_assert_eq(request(c, "GET /acc-2 HTTP/1.1\r\nHost: localhost\r\n\r\n", &r2), 0, "%s",
                 c->err);
    it_conn_close(c);

    char *line = line_for("/acc-1");
    expect_good_client(line);
    expect_raw(line, "resumed", "false");
    expect_raw(line, "bytes_in", "11");
    expect_str(line, "user_agent", "audit-agent/1.0");
    expect_str(line, "proto", "http/1.1");
    expect_ms(line, "upstream_connect_ms");
    expect_ms(line, "upstream_response_ms");
    char id[160], echoed[160];
    cr_assert(jstr(line, "request_id", id, sizeof(id)), "%s", line);
    cr_assert(generated_id(id), "a generated id: %s", id);
    cr_assert_eq(it_header_count(r1.body, "X-Request-Id"), 1, "%s", r1.body);
    cr_assert(it_header_get(r1.body, "X-Request-Id", echoed, sizeof(echoed)));
    cr_assert_str_eq(echoed, id, "the backend got the id the log names");

    /* The second request reuses the pooled backend connection: it took no time to connect. */
    char *line2 = line_for("/acc-2");
    expect_raw(line2, "upstream_connect_ms", "0.000");
    expect_raw(line2, "bytes_in", "0");
    expect_str(line2, "user_agent", "");
    char id2[160];
    cr_assert(jstr(line2, "request_id", id2, sizeof(id2)) && generated_id(id2));
    cr_assert_str_neq(id2, id, "one id per request");
    free(line);
    free(line2);
    it_response_fini(&r1);
    it_response_fini(&r2);
}

/* The record of a request in flight lives in the connection's buffer block, which goes back
 * to the worker's pool when the connection is idle and is taken by the next busy one: a
 * request refused before its head was read (so nothing of its own was recorded) must not
 * carry the previous request's user agent, request id or body bytes. The harness runs two
 * workers and hands connections out in turn: of the next two connections one shares A's
 * worker, and so its spare block. */
Test(access, refused_request_carries_nothing_of_the_previous_one)
{
    struct it_config cfg = {.n_domains = 1};
    start_cfg(&cfg);
    char err[256];
    struct it_conn *a = it_tls_connect(env.port, &good, err, sizeof(err));
    cr_assert_not_null(a, "%s", err);
    struct it_response r;
    cr_assert_eq(request(a,
                         "POST /prev-a HTTP/1.1\r\nHost: localhost\r\nUser-Agent: prev-agent/9\r\n"
                         "X-Request-Id: prev-id-a\r\nContent-Length: 5\r\n\r\nhello",
                         &r),
                 0, "%s", a->err);
    it_response_fini(&r);
    free(line_for("/prev-a")); /* logged: A's connection is idle, its block back in the pool */

    for (int i = 0; i < 2; i++) {
        struct it_conn *b = it_tls_connect(env.port, &good, err, sizeof(err));
        cr_assert_not_null(b, "%s", err);
        /* no colon in a header line: 400 once the head is read, before the record starts */
        char req[128], path[16];
        snprintf(path, sizeof(path), "/prev-b%d", i);
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\nno colon\r\n\r\n", path);
        cr_assert_eq(it_conn_sends(b, req), 0);
        char *line = line_for(path);
        expect_raw(line, "status", "400");
        expect_raw(line, "bytes_in", "0");
        char v[256];
        cr_assert(!jstr(line, "user_agent", v, sizeof(v)) || v[0] == '\0', "%s", line);
        cr_assert(jstr(line, "request_id", v, sizeof(v)) && generated_id(v), "%s", line);
        free(line);
        it_conn_close(b);
    }
    it_conn_close(a);
}

/* ---- HTTP/2 ---- */

static char *h2_echo(struct h2_out *o, const char *spec)
{
    h2c_run(o, 10000, "--sni", "localhost", "--cert", good_cert(), "--key", good_key(),
            "--print-body", "--stream", spec, NULL);
    cr_assert_eq(o->rc, 0, "h2c: %s %s", o->out, o->err);
    return h2_body(o->out, 1);
}

Test(access, every_field_for_a_mandatory_client_h2)
{
    struct it_config cfg = {.n_domains = 1};
    start_cfg(&cfg);
    struct h2_out o;
    char *body = h2_echo(&o, "path=/acc-h2,method=POST,body=7,header=user-agent:audit-h2/2");
    char *line = line_for("/acc-h2");
    expect_good_client(line);
    expect_str(line, "proto", "h2");
    expect_raw(line, "resumed", "false");
    expect_raw(line, "bytes_in", "7");
    expect_str(line, "user_agent", "audit-h2/2");
    expect_ms(line, "upstream_connect_ms");
    expect_ms(line, "upstream_response_ms");
    char id[160], echoed[160];
    cr_assert(jstr(line, "request_id", id, sizeof(id)) && generated_id(id), "%s", line);
    cr_assert_eq(it_header_count(body, "X-Request-Id"), 1, "%s", body);
    cr_assert(it_header_get(body, "X-Request-Id", echoed, sizeof(echoed)));
    cr_assert_str_eq(echoed, id);
    free(body);
    free(line);
    h2_out_fini(&o);
}

/* ---- certificates: none, resumed, refused ---- */

Test(access, optional_client_without_certificate)
{
    struct it_config cfg = {.n_domains = 1};
    cfg.domains[0].mode = "optional";
    start_cfg(&cfg);
    struct it_tls_opts o = {.sni = "localhost"};
    struct it_response r;
    it_get(env.port, &o, "/acc-none", &r);
    cr_assert_eq(r.status, 200);
    it_response_fini(&r);
    char *line = line_for("/acc-none");
    expect_str(line, "verify", "NONE");
    expect_str(line, "sni", "localhost");
    expect_str(line, "domain", "api.example.com");
    const char *absent[] = {"dn", "issuer", "serial", "fingerprint_sha256", "verify_reason"};
    for (size_t i = 0; i < 5; i++) {
        cr_assert_not(has_key(line, absent[i]), "%s without a certificate: %s", absent[i], line);
    }
    free(line);
}

Test(access, resumed_connection_says_resumed)
{
    struct it_config cfg = {.n_domains = 1};
    start_cfg(&cfg);
    const int versions[] = {TLS1_2_VERSION, TLS1_3_VERSION};
    for (int i = 0; i < 2; i++) {
        struct it_tls_opts o = good;
        o.version = versions[i];
        struct it_exchange first, again;
        char p1[32], p2[32], req[128];
        snprintf(p1, sizeof(p1), "/acc-full-%d", i);
        snprintf(p2, sizeof(p2), "/acc-resumed-%d", i);
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", p1);
        it_tls_exchange(env.port, &o, req, &first);
        cr_assert(first.outcome == IT_OK && first.session != NULL, "%s", first.detail);
        o.session = first.session;
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", p2);
        it_tls_exchange(env.port, &o, req, &again);
        cr_assert(again.outcome == IT_OK && again.reused, "resumed: %s", again.detail);
        char *l1 = line_for(p1);
        char *l2 = line_for(p2);
        expect_raw(l1, "resumed", "false");
        expect_raw(l2, "resumed", "true");
        /* The identity comes from the session: the same certificate, the same fingerprint. */
        expect_good_client(l2);
        expect_str(l2, "tls_version", i == 0 ? "TLSv1.2" : "TLSv1.3");
        free(l1);
        free(l2);
        it_exchange_fini(&again);
        it_exchange_fini(&first);
    }
}

/* client/good.crt is the leaf alone; trust/root-only.pem lacks the intermediate. */
Test(access, failed_client_in_optional_mode_has_verify_reason)
{
    struct it_config cfg = {.n_domains = 1};
    cfg.domains[0].mode = "optional";
    cfg.domains[0].truststore = "trust/root-only.pem";
    start_cfg(&cfg);
    struct it_response r;
    it_get(env.port, &good, "/acc-failed", &r);
    cr_assert_eq(r.status, 200);
    it_response_fini(&r);
    struct h2_out o;
    char *body = h2_echo(&o, "path=/acc-failed-h2");
    free(body);
    h2_out_fini(&o);
    const char *paths[] = {"/acc-failed", "/acc-failed-h2"};
    for (size_t i = 0; i < 2; i++) {
        char fp[65];
        char *line = line_for(paths[i]);
        fingerprint_of("client/good.crt", fp);
        expect_str(line, "verify", "FAILED");
        expect_str(line, "verify_reason", "missing_issuer");
        expect_str(line, "dn", GOOD_DN);
        expect_str(line, "issuer", INTER_DN);
        expect_str(line, "serial", "1001");
        expect_str(line, "fingerprint_sha256", fp);
        free(line);
    }
}

/* ---- X-Request-Id ---- */

/* Sends one request with extra header lines over HTTP/1.1; returns the echoed head (malloc'd)
 * and the id the access line names into id. */
static char *h1_with(const char *path, const char *extra, char *id, size_t cap)
{
    char req[1024];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n%s\r\n", path, extra);
    struct it_exchange x;
    it_tls_exchange(env.port, &good, req, &x);
    cr_assert(x.outcome == IT_OK && x.resp.status == 200, "%s", x.detail);
    char *body = strdup(x.resp.body);
    it_exchange_fini(&x);
    char *line = line_for(path);
    cr_assert(jstr(line, "request_id", id, cap), "%s", line);
    free(line);
    return body;
}

/* The same over HTTP/2: extra is a list of ",header=name:value" items. */
static char *h2_with(const char *path, const char *extra, char *id, size_t cap)
{
    char spec[1024];
    snprintf(spec, sizeof(spec), "path=%s%s", path, extra);
    struct h2_out o;
    char *body = h2_echo(&o, spec);
    h2_out_fini(&o);
    char *line = line_for(path);
    cr_assert(jstr(line, "request_id", id, cap), "%s", line);
    free(line);
    return body;
}

/* Exactly one X-Request-Id reached the backend (no other spelling either), and it is `id`. */
static void backend_got_only(const char *body, const char *id)
{
    char v[256];
    cr_assert_eq(it_header_count(body, "X-Request-Id"), 1, "%s", body);
    cr_assert_eq(it_header_count(body, "X_Request_Id"), 0, "%s", body);
    cr_assert_eq(it_header_count(body, "x-request_id"), 0, "%s", body);
    cr_assert(it_header_get(body, "X-Request-Id", v, sizeof(v)));
    cr_assert_str_eq(v, id, "backend and log agree: %s", body);
}

static void start_for_ids(void)
{
    /* underscores: pass, so that a dropped "_" spelling is the protection at work, not the
     * default policy. */
    struct it_config cfg = {.n_domains = 1, .headers = "underscores: pass"};
    start_cfg(&cfg);
}

Test(access, well_formed_client_request_id_is_kept_http1_and_h2)
{
    start_for_ids();
    char id[256];
    char *b = h1_with("/rid-1", "X-Request-Id: Client-ID_1.2:3-abc\r\n", id, sizeof(id));
    cr_assert_str_eq(id, "Client-ID_1.2:3-abc");
    backend_got_only(b, id);
    free(b);
    b = h2_with("/rid-2", ",header=x-request-id:h2-client.id", id, sizeof(id));
    cr_assert_str_eq(id, "h2-client.id");
    backend_got_only(b, id);
    free(b);
}

Test(access, malformed_client_request_id_is_replaced_http1_and_h2)
{
    start_for_ids();
    char id[256];
    char longer[200];
    memset(longer, 'x', 129);
    longer[129] = '\0';
    char extra[300];
    snprintf(extra, sizeof(extra), "X-Request-Id: %s\r\n", longer);
    const char *h1[] = {"X-Request-Id: has space\r\n", "X-Request-Id: a\"b\r\n",
                        "X-Request-Id: a;b=c\r\n", extra};
    for (size_t i = 0; i < 4; i++) {
        char path[32];
        snprintf(path, sizeof(path), "/rid-bad-%zu", i);
        char *b = h1_with(path, h1[i], id, sizeof(id));
        cr_assert(generated_id(id), "%s replaced, got %s", h1[i], id);
        backend_got_only(b, id);
        free(b);
    }
    char *b = h2_with("/rid-bad-h2", ",header=x-request-id:a/b", id, sizeof(id));
    cr_assert(generated_id(id), "got %s", id);
    backend_got_only(b, id);
    free(b);
}

Test(access, absent_request_id_is_generated_and_sent_http1_and_h2)
{
    start_for_ids();
    char id[256], id2[256];
    char *b = h1_with("/rid-none-1", "", id, sizeof(id));
    cr_assert(generated_id(id), "%s", id);
    backend_got_only(b, id);
    free(b);
    b = h2_with("/rid-none-2", "", id2, sizeof(id2));
    cr_assert(generated_id(id2), "%s", id2);
    backend_got_only(b, id2);
    cr_assert_str_neq(id, id2);
    free(b);
}

/* Forged spellings and duplicates never reach the backend as a second copy; a duplicate makes
 * the client's value ambiguous, so mtlb uses its own. */
Test(access, forged_and_duplicate_request_ids_never_reach_the_backend)
{
    start_for_ids();
    char id[256];
    char *b = h1_with("/rid-dup", "X-Request-Id: one\r\nX-Request-Id: two\r\n", id, sizeof(id));
    cr_assert(generated_id(id), "%s", id);
    backend_got_only(b, id);
    free(b);
    b = h1_with("/rid-us", "X_Request_Id: forged\r\nx-request_id: forged2\r\n", id, sizeof(id));
    cr_assert(generated_id(id), "%s", id);
    backend_got_only(b, id);
    cr_assert_null(strstr(b, "forged"), "%s", b);
    free(b);
    b = h1_with("/rid-us-real", "X_Request_Id: forged\r\nX-Request-Id: real-1\r\n", id, sizeof(id));
    cr_assert_str_eq(id, "real-1");
    backend_got_only(b, id);
    cr_assert_null(strstr(b, "forged"), "%s", b);
    free(b);
    b = h2_with("/rid-h2-dup", ",header=x-request-id:one,header=x-request-id:two", id, sizeof(id));
    cr_assert(generated_id(id), "%s", id);
    backend_got_only(b, id);
    free(b);
    b = h2_with("/rid-h2-us", ",header=x_request_id:forged", id, sizeof(id));
    cr_assert(generated_id(id), "%s", id);
    backend_got_only(b, id);
    cr_assert_null(strstr(b, "forged"), "%s", b);
    free(b);
}

/* ---- handshake failures ---- */

Test(access, handshake_failed_line_names_the_missing_issuer)
{
    struct it_config cfg = {.n_domains = 1};
    cfg.domains[0].truststore = "trust/root-only.pem";
    start_cfg(&cfg);
    struct it_exchange x;
    it_tls_exchange(env.port, &good, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", &x);
    cr_assert_neq(x.outcome, IT_OK, "refused");
    it_exchange_fini(&x);
    const char *n[] = {"\"event\":\"handshake_failed\"", NULL};
    char *line = it_wait_line(env.out_log, n);
    expect_str(line, "reason", "missing_issuer");
    expect_str(line, "missing_issuer", INTER_DN);
    expect_str(line, "dn", GOOD_DN);
    expect_str(line, "sni", "localhost");
    expect_str(line, "domain", "api.example.com");
    char peer[64];
    cr_assert(jstr(line, "peer", peer, sizeof(peer)) && strncmp(peer, "127.0.0.1:", 10) == 0, "%s",
              line);
    cr_assert(has_key(line, "ts") && has_key(line, "conn") && has_key(line, "detail"), "%s", line);
    free(line);
}

/* A mandatory domain refusing a client without a certificate, and a client that never
 * finishes its handshake: each has its own reason word. */
Test(access, handshake_failed_line_for_no_certificate_and_timeout)
{
    struct it_config cfg = {.n_domains = 1, .timeouts = "{handshake: 1s}"};
    start_cfg(&cfg);
    struct it_tls_opts bare = {.sni = "localhost"};
    struct it_exchange x;
    it_tls_exchange(env.port, &bare, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", &x);
    cr_assert_neq(x.outcome, IT_OK, "refused");
    it_exchange_fini(&x);
    const char *n1[] = {"\"event\":\"handshake_failed\"", "\"reason\":\"no_certificate\"", NULL};
    char *line = it_wait_line(env.out_log, n1);
    expect_str(line, "sni", "localhost");
    cr_assert_not(has_key(line, "missing_issuer"), "%s", line);
    cr_assert_not(has_key(line, "dn"), "no certificate, no DN: %s", line);
    free(line);

    struct it_conn *c = it_tcp_connect(env.port); /* says nothing */
    const char *n2[] = {"\"event\":\"handshake_failed\"", "\"reason\":\"timeout\"", NULL};
    line = it_wait_line(env.out_log, n2);
    expect_str(line, "sni", "");
    free(line);
    it_conn_close(c);
}

/* Sums "suppressed" over the handshake_failed_suppressed lines. */
static unsigned long long suppressed_total(void)
{
    char *all = it_read_file(env.out_log, NULL);
    unsigned long long sum = 0;
    for (char *l = all ? strstr(all, "\"handshake_failed_suppressed\"") : NULL; l != NULL;
         l = strstr(l + 1, "\"handshake_failed_suppressed\"")) {
        const char *s = strstr(l, "\"suppressed\":");
        sum += s ? strtoull(s + 13, NULL, 10) : 0;
    }
    free(all);
    return sum;
}

/* A burst of failing handshakes (plain HTTP on the TLS port): at most 100 lines a second per
 * acceptor, and every failure accounted for, in a line or in a suppressed count. */
Test(access, handshake_failed_lines_are_rate_limited)
{
    struct it_config cfg = {.n_domains = 1, .acceptors = 1};
    start_cfg(&cfg);
    enum { BURST = 400, BATCH = 50 };
    double t0 = it_now();
    for (int b = 0; b < BURST / BATCH; b++) {
        struct it_conn *cs[BATCH];
        for (int i = 0; i < BATCH; i++) {
            cs[i] = it_tcp_connect(env.port);
            it_conn_sends(cs[i], "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        }
        for (int i = 0; i < BATCH; i++) {
            cr_assert(it_conn_wait_closed(cs[i], 5000), "refused");
            it_conn_close(cs[i]);
        }
    }
    double burst = it_now() - t0;
    const char *n[] = {"\"event\":\"handshake_failed\"", "\"reason\":\"tls_error\"", NULL};
    /* The summary comes when the window ends: give it the window and a tick. */
    double deadline = it_now() + 5;
    size_t lines = 0;
    unsigned long long supp = 0;
    while (it_now() < deadline) {
        lines = it_count_lines(env.out_log, n);
        supp = suppressed_total();
        if (lines + supp >= BURST) {
            break;
        }
        usleep(100 * 1000);
    }
    cr_log_info("burst of %d in %.2f s: %zu lines, %llu suppressed", BURST, burst, lines, supp);
    cr_assert_eq(lines + supp, BURST, "every failure in a line or a count (%zu + %llu)", lines,
                 supp);
    cr_assert_gt(supp, 0, "a burst of %d is over the limit", BURST);
    cr_assert_leq(lines, 100 * ((size_t)burst + 2), "at most 100 a second: %zu in %.2f s", lines,
                  burst);
}
