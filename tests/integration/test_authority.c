/* Integration: the 421 rule against every spelling of an authority, as an attacker writes
 * them. Two domains on one listener: api.example.com (optional, truststore full.pem) and
 * other.example.com (mandatory, truststore other.pem). The client's certificate is trusted
 * only by full.pem and the handshake picks api.example.com by SNI, so no request of this
 * connection may reach the backend as one for other.example.com: whether it names it by Host
 * (trailing dot, port, case, userinfo), by an absolute-form target (whose authority wins over
 * Host), by an HTTP/1.0 request without Host, or over HTTP/2 by :authority or host. The
 * positive controls check that the backend then receives, as Host, exactly the normalized
 * authority that was checked. */
#include "h2_util.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static void setup(void)
{
    it_env_init(&env);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(authority, .init = setup, .fini = teardown, .timeout = 120);

struct h1_case {
    const char *request;
    int status;
    const char *backend_line; /* 200: the request line the backend got */
    const char *backend_host; /* 200: the Host it got */
};

static const struct h1_case h1_cases[] = {
    /* named by Host */
    {"GET /whoami HTTP/1.1\r\nHost: other.example.com\r\n\r\n", 421, NULL, NULL},
    {"GET /whoami HTTP/1.1\r\nHost: other.example.com.\r\n\r\n", 421, NULL, NULL},
    {"GET /whoami HTTP/1.1\r\nHost: other.example.com.:443\r\n\r\n", 421, NULL, NULL},
    {"GET /whoami HTTP/1.1\r\nHost: other.example.com:8443\r\n\r\n", 421, NULL, NULL},
    {"GET /whoami HTTP/1.1\r\nHost: OTHER.Example.COM.\r\n\r\n", 421, NULL, NULL},
    /* named by an absolute-form target: its authority wins over Host (RFC 9112 3.2.2) */
    {"GET https://other.example.com/whoami HTTP/1.1\r\nHost: api.example.com\r\n\r\n", 421, NULL,
     NULL},
    {"GET HTTPS://Other.Example.Com.:443/whoami HTTP/1.1\r\nHost: api.example.com\r\n\r\n", 421,
     NULL, NULL},
    {"GET http://other.example.com HTTP/1.1\r\nHost: api.example.com\r\n\r\n", 421, NULL, NULL},
    /* HTTP/1.0 without Host: the Host mtlb generates from the target is checked */
    {"GET https://other.example.com/whoami HTTP/1.0\r\n\r\n", 421, NULL, NULL},
    {"GET http://other.example.com.:443/whoami HTTP/1.0\r\n\r\n", 421, NULL, NULL},
    /* userinfo, in any authority, and other spellings no name has: 400 */
    {"GET /whoami HTTP/1.1\r\nHost: x@other.example.com\r\n\r\n", 400, NULL, NULL},
    {"GET /whoami HTTP/1.1\r\nHost: api.example.com@other.example.com\r\n\r\n", 400, NULL, NULL},
    {"GET https://x@other.example.com/ HTTP/1.1\r\nHost: api.example.com\r\n\r\n", 400, NULL, NULL},
    {"GET https://api.example.com@other.example.com/ HTTP/1.0\r\n\r\n", 400, NULL, NULL},
    {"GET /whoami HTTP/1.1\r\nHost: other.example.com..\r\n\r\n", 400, NULL, NULL},
    {"GET /whoami HTTP/1.1\r\nHost: other%2eexample.com\r\n\r\n", 400, NULL, NULL},
    {"GET /whoami HTTP/1.1\r\nHost: other.example.com:x\r\n\r\n", 400, NULL, NULL},
    {"GET /whoami HTTP/1.1\r\nHost: \r\n\r\n", 400, NULL, NULL},
    {"GET /whoami HTTP/1.1\r\nHost: [::1\r\n\r\n", 400, NULL, NULL},
    {"GET other.example.com:443 HTTP/1.1\r\nHost: api.example.com\r\n\r\n", 400, NULL, NULL},
    {"GET ftp://other.example.com/ HTTP/1.1\r\nHost: api.example.com\r\n\r\n", 400, NULL, NULL},
    /* RFC 9112 section 3.2: several Host fields, or none in HTTP/1.1 */
    {"GET /whoami HTTP/1.1\r\nHost: api.example.com\r\nHost: other.example.com\r\n\r\n", 400, NULL,
     NULL},
    {"GET /whoami HTTP/1.1\r\n\r\n", 400, NULL, NULL},
    /* the Host must be valid even when the target's authority wins */
    {"GET https://api.example.com/ HTTP/1.1\r\nHost: x@other.example.com\r\n\r\n", 400, NULL, NULL},
    /* positive controls: the same domain in any spelling, the backend gets it normalized */
    {"GET /whoami HTTP/1.1\r\nHost: api.example.com.\r\n\r\n", 200, "GET /whoami HTTP/1.1",
     "api.example.com"},
    {"GET /whoami HTTP/1.1\r\nHost: API.Example.Com.:8443\r\n\r\n", 200, "GET /whoami HTTP/1.1",
     "api.example.com:8443"},
    {"GET /whoami HTTP/1.1\r\nHost: localhost:443\r\n\r\n", 200, "GET /whoami HTTP/1.1",
     "localhost:443"},
    {"GET /whoami HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n", 200, "GET /whoami HTTP/1.1", "[::1]:8443"},
    {"GET /whoami HTTP/1.1\r\nHost: [2001:DB8::1]\r\n\r\n", 200, "GET /whoami HTTP/1.1",
     "[2001:db8::1]"},
    {"GET /whoami HTTP/1.1\r\nHost: unknown.example.com\r\n\r\n", 200, "GET /whoami HTTP/1.1",
     "unknown.example.com"},
    {"GET https://API.example.com./whoami?x HTTP/1.1\r\nHost: other.example.com\r\n\r\n", 200,
     "GET /whoami?x HTTP/1.1", "api.example.com"},
    {"GET https://api.example.com:8443/whoami HTTP/1.0\r\n\r\n", 200, "GET /whoami HTTP/1.1",
     "api.example.com:8443"},
    {"GET /whoami HTTP/1.0\r\n\r\n", 200, "GET /whoami HTTP/1.1", ""},
};

static void h1_expect(const struct h1_case *t)
{
    struct it_tls_opts o = {
        .cert = "client/good.crt", .key = "client/good.key", .sni = "api.example.com"};
    struct it_exchange x;
    char v[256];

    it_tls_exchange(env.port, &o, t->request, &x);
    cr_assert_eq(x.outcome, IT_OK, "%s: %s", t->request, x.detail);
    cr_assert_eq(x.resp.status, t->status, "%s: status %d, want %d; body:\n%s", t->request,
                 x.resp.status, t->status, x.resp.body ? x.resp.body : "");
    if (t->status != 200) {
        cr_assert_null(strstr(x.resp.body, "X-SSL-Client-Verify"),
                       "%s: the request reached the backend:\n%s", t->request, x.resp.body);
    } else {
        cr_assert(strncmp(x.resp.body, t->backend_line, strlen(t->backend_line)) == 0 &&
                      x.resp.body[strlen(t->backend_line)] == '\r',
                  "%s: the backend got:\n%s", t->request, x.resp.body);
        cr_assert_eq(it_header_count(x.resp.body, "Host"), 1, "%s", x.resp.body);
        cr_assert(it_header_get(x.resp.body, "Host", v, sizeof(v)));
        cr_assert_str_eq(v, t->backend_host, "%s: backend Host; it got:\n%s", t->request,
                         x.resp.body);
        cr_assert(it_header_get(x.resp.body, "X-SSL-Client-Verify", v, sizeof(v)));
        cr_assert_str_eq(v, "SUCCESS");
    }
    it_exchange_fini(&x);
}

Test(authority, h1_every_spelling_of_another_domain_is_refused)
{
    start_two_domains("optional");
    for (size_t i = 0; i < N_OF(h1_cases); i++) {
        h1_expect(&h1_cases[i]);
    }
    it_mtlb_assert_alive(&env);
    it_mtlb_stop(&env, 5000);
}

/* Pipelined on one connection: a request that would pass cannot be followed by one that
 * names the other domain in a spelling the first check let through. */
Test(authority, h1_misdirected_after_a_good_request_on_the_same_connection)
{
    start_two_domains("optional");
    struct it_tls_opts o = {
        .cert = "client/good.crt", .key = "client/good.key", .sni = "api.example.com"};
    char err[256];
    struct it_conn *c = it_tls_connect(env.port, &o, err, sizeof(err));
    cr_assert_not_null(c, "%s", err);
    it_conn_timeout(c, 5000);
    cr_assert_eq(it_conn_sends(c, "GET /whoami HTTP/1.1\r\nHost: api.example.com\r\n\r\n"
                                  "GET /whoami HTTP/1.1\r\nHost: other.example.com.\r\n\r\n"),
                 0);
    struct it_response r;
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
    cr_assert_eq(r.status, 200);
    it_response_fini(&r);
    cr_assert_eq(it_read_response(c, &r, false), 0, "%s", c->err);
    cr_assert_eq(r.status, 421);
    cr_assert_null(strstr(r.body, "X-SSL-Client-Verify"), "%s", r.body);
    it_response_fini(&r);
    it_conn_close(c);
    it_mtlb_stop(&env, 5000);
}

/* ---- HTTP/2: :authority and host through the same rule ---- */

struct h2_case {
    const char *spec; /* h2c --stream items after path=/wN */
    int status;       /* 0: refused, 400 or a stream reset (never the backend) */
    const char *backend_host;
};

static const struct h2_case h2_cases[] = {
    {"authority=other.example.com", 421, NULL},
    {"authority=other.example.com.", 421, NULL},
    {"authority=other.example.com.:443", 421, NULL},
    {"authority=OTHER.EXAMPLE.COM.:8443", 421, NULL},
    {"no-authority,header=host:other.example.com.", 421, NULL},
    {"no-authority,header=host:Other.Example.Com:443", 421, NULL},
    /* userinfo, a host that differs from :authority, names no name has */
    {"authority=x@other.example.com", 400, NULL},
    {"authority=api.example.com@other.example.com", 400, NULL},
    {"no-authority,header=host:x@other.example.com", 400, NULL},
    {"authority=api.example.com,header=host:other.example.com", 400, NULL},
    {"authority=other.example.com,header=host:api.example.com", 400, NULL},
    {"authority=api.example.com,header=host:api.example.com:8443", 400, NULL},
    {"no-authority,header=host:api.example.com,header=host:other.example.com", 400, NULL},
    {"authority=other.example.com..", 400, NULL},
    {"authority=other%2eexample.com", 400, NULL},
    {"authority=[::1", 400, NULL},
    /* positive controls */
    {"authority=api.example.com.", 200, "api.example.com"},
    {"authority=API.Example.com.:8443", 200, "api.example.com:8443"},
    {"authority=api.example.com,header=host:API.example.com.:443", 200, "api.example.com"},
    {"no-authority,header=host:api.example.com.", 200, "api.example.com"},
    {"authority=[::1]:8443", 200, "[::1]:8443"},
    {"authority=unknown.example.com", 200, "unknown.example.com"},
};

static void h2_expect(const struct h2_case *t)
{
    char spec[160];
    struct h2_out o;
    struct h2s s;

    snprintf(spec, sizeof(spec), "path=/whoami,%s", t->spec);
    h2c_run(&o, 10000, "--print-body", "--sni", "api.example.com", "--cert", good_cert(), "--key",
            good_key(), "--stream", spec, "--stream", "path=/after,after", NULL);
    cr_assert_eq(o.rc, 0, "%s: h2c exit %d:\n%s%s", t->spec, o.rc, o.out, o.err);
    get_stream(&o, "/whoami", 0, &s);
    char *b = h2_body(o.out, s.id);
    if (t->status == 400) {
        cr_assert(s.status == 400 || (s.status == 0 && strcmp(s.reset, "-") != 0),
                  "%s: status %d reset %s, want 400 or a reset\n%s", t->spec, s.status, s.reset,
                  o.out);
    } else {
        cr_assert_eq(s.status, t->status, "%s: status %d, want %d\n%s", t->spec, s.status,
                     t->status, o.out);
    }
    if (t->status != 200) {
        cr_assert_null(strstr(b, "X-SSL-Client-Verify"), "%s reached the backend:\n%s", t->spec, b);
    } else {
        assert_header(b, "Host", t->backend_host);
        assert_header(b, "X-SSL-Client-Verify", "SUCCESS");
    }
    free(b);
    /* the refusal is per stream: the connection carries on */
    get_stream(&o, "/after", 0, &s);
    cr_assert_eq(s.status, 200, "%s: the next stream got %d\n%s", t->spec, s.status, o.out);
    h2_out_fini(&o);
}

Test(authority, h2_every_spelling_of_another_domain_is_refused)
{
    start_two_domains("optional");
    for (size_t i = 0; i < N_OF(h2_cases); i++) {
        h2_expect(&h2_cases[i]);
    }
    it_mtlb_assert_alive(&env);
    it_mtlb_stop(&env, 5000);
}

/* ---- the SNI spelled so that it misses the other domain's name ---- */

/* A client whose certificate only api.example.com trusts shapes its SNI (none, upper case,
 * trailing dot, an IP) so that the handshake lands on the default domain, then names
 * other.example.com by Host, by absolute-form, or over HTTP/2 by :authority: either the
 * handshake is refused (it landed on other, whose truststore refuses the certificate) or the
 * request is refused; it never reaches the backend as one for other.example.com. */
Test(authority, sni_spellings_never_vouch_for_another_domain)
{
    static const char *const snis[] = {NULL, "OTHER.EXAMPLE.COM", "other.example.com.", "127.0.0.1",
                                       "Other.Example.Com."};
    static const char *const reqs[] = {
        "GET /whoami HTTP/1.1\r\nHost: other.example.com\r\n\r\n",
        "GET https://other.example.com/whoami HTTP/1.1\r\nHost: api.example.com\r\n\r\n",
        "GET /whoami HTTP/1.1\r\nHost: OTHER.example.com.:443\r\n\r\n",
    };
    size_t refused = 0;
    start_two_domains("optional");
    for (size_t i = 0; i < N_OF(snis); i++) {
        for (size_t j = 0; j < N_OF(reqs); j++) {
            struct it_tls_opts o = {
                .cert = "client/good.crt", .key = "client/good.key", .sni = snis[i]};
            struct it_exchange x;
            it_tls_exchange(env.port, &o, reqs[j], &x);
            /* no SNI: the default domain, whose truststore takes the certificate */
            cr_assert(snis[i] != NULL || x.outcome == IT_OK, "no SNI: %s", x.detail);
            refused += x.outcome == IT_OK;
            if (x.outcome == IT_OK) {
                cr_assert(x.resp.status == 421 || x.resp.status == 400,
                          "sni %s: %s: status %d:\n%s", snis[i] ? snis[i] : "(none)", reqs[j],
                          x.resp.status, x.resp.body ? x.resp.body : "");
                cr_assert_null(strstr(x.resp.body, "X-SSL-Client-Verify"), "reached the backend");
            }
            it_exchange_fini(&x);
        }
        struct h2_out out;
        struct h2s s;
        if (snis[i] == NULL) {
            continue; /* h2c always sends an SNI */
        }
        h2c_run(&out, 10000, "--print-body", "--sni", snis[i], "--cert", good_cert(), "--key",
                good_key(), "--stream", "path=/whoami,authority=other.example.com", NULL);
        if (out.rc == 0 && h2_stream(out.out, "/whoami", 0, &s)) {
            cr_assert(s.status == 421 || s.status == 400 || s.status == 0,
                      "sni %s over h2: status %d\n%s", snis[i], s.status, out.out);
            cr_assert_null(strstr(out.out, "X-SSL-Client-Verify"), "reached the backend:\n%s",
                           out.out);
        }
        h2_out_fini(&out);
    }
    /* upper case matches other.example.com (a refused handshake); a trailing dot or an IP
     * reaches the default domain, and so the 421 */
    cr_assert_geq(refused, 9, "only %zu requests reached the 421 rule", refused);
    it_mtlb_assert_alive(&env);
    it_mtlb_stop(&env, 5000);
}

/* ---- a domain configured on another listener ---- */

/* The listener under test (api.example.com, optional, full.pem) and, on two more listeners
 * with the same backend, other.example.com (mandatory, other.pem) and same.example.com
 * (verified as api.example.com is, but its listener admits 10.0.0.0/8 only). Returns the other
 * listener's port. */
static uint16_t start_three_listeners(void)
{
    struct it_config cfg = {.n_domains = 1};
    cfg.domains[0] = (struct it_domain){.names = {"api.example.com", "localhost"},
                                        .mode = "optional",
                                        .truststore = "trust/full.pem"};
    cfg.servers[0] = it_echo_start(&env, "b1");
    cfg.n_servers = 1;
    cr_assert_eq(it_write_config(&env, &cfg), 0);
    char *text = it_read_file(env.config, NULL);
    cr_assert_not_null(text);
    char *cut = strstr(text, "\nbackends:");
    cr_assert_not_null(cut, "%s", text);
    uint16_t other = it_free_port(), same = it_free_port();
    char listeners[2048];
    snprintf(listeners, sizeof(listeners),
             "\n  - bind: \"127.0.0.1:%u\"\n    backend: app\n    domains:\n"
             "      - names: [\"other.example.com\"]\n        certificate: \"%s\"\n"
             "        key: \"%s\"\n        client_auth: {mode: mandatory, truststore: \"%s\"}\n"
             "  - bind: \"127.0.0.1:%u\"\n    backend: app\n    allow: [10.0.0.0/8]\n"
             "    domains:\n      - names: [\"same.example.com\"]\n        certificate: \"%s\"\n"
             "        key: \"%s\"\n        client_auth: {mode: optional, truststore: \"%s\"}",
             other, it_pki("server/other.crt"), it_pki("server/other.key"),
             it_pki("trust/other.pem"), same, it_pki("server/api.crt"), it_pki("server/api.key"),
             it_pki("trust/full.pem"));
    FILE *f = fopen(env.config, "w");
    cr_assert_not_null(f);
    fprintf(f, "%.*s%s%s", (int)(cut - text), text, listeners, cut);
    cr_assert_eq(fclose(f), 0);
    free(text);
    it_mtlb_launch(&env);
    uint16_t ports[] = {env.port, other};
    it_mtlb_wait_ports(&env, ports, N_OF(ports));
    return other;
}

static int status_on(uint16_t port, const struct it_tls_opts *o, const char *req)
{
    struct it_exchange x;
    it_tls_exchange(port, o, req, &x);
    cr_assert_eq(x.outcome, IT_OK, "%s: %s", req, x.detail);
    int status = x.resp.status;
    if (status != 200) {
        cr_assert_null(strstr(x.resp.body, "X-SSL-Client-Verify"),
                       "%s: the request reached the backend:\n%s", req, x.resp.body);
    }
    it_exchange_fini(&x);
    return status;
}

/* A listener's domains, lists and routes are the rules for the names it holds; a name
 * configured on another listener only was never judged by them here. A client verified (or
 * not) for api.example.com must not reach the shared backend as other.example.com by naming it
 * on api's listener, any more than on other's, nor as same.example.com, whose listener would
 * not even accept its address: 421, HTTP/1.1 and HTTP/2. */
Test(authority, a_domain_of_another_listener_is_refused_too)
{
    uint16_t other = start_three_listeners();
    struct it_tls_opts api = {
        .cert = "client/good.crt", .key = "client/good.key", .sni = "api.example.com"};
    struct it_tls_opts anon = {.sni = "api.example.com"};
    static const char *const refused[] = {
        "GET /whoami HTTP/1.1\r\nHost: other.example.com\r\n\r\n",
        "GET /whoami HTTP/1.1\r\nHost: OTHER.Example.com.:8443\r\n\r\n",
        "GET https://other.example.com/whoami HTTP/1.1\r\nHost: api.example.com\r\n\r\n",
    };
    for (size_t i = 0; i < N_OF(refused); i++) {
        cr_expect_eq(status_on(env.port, &api, refused[i]), 421, "%s", refused[i]);
        cr_expect_eq(status_on(env.port, &anon, refused[i]), 421, "no certificate: %s", refused[i]);
    }
    struct h2_out o;
    struct h2s s;
    h2c_run(&o, 10000, "--print-body", "--sni", "api.example.com", "--cert", good_cert(), "--key",
            good_key(), "--stream", "path=/whoami,authority=other.example.com", "--stream",
            "path=/ok,authority=api.example.com,after", NULL);
    cr_assert_eq(o.rc, 0, "%s%s", o.out, o.err);
    get_stream(&o, "/whoami", 0, &s);
    cr_expect_eq(s.status, 421, "HTTP/2:\n%s", o.out);
    char *body = h2_body(o.out, s.id);
    cr_expect_null(strstr(body, "X-SSL-Client-Verify"), "reached the backend:\n%s", o.out);
    free(body);
    h2_out_fini(&o);
    cr_expect_eq(status_on(env.port, &api, "GET /w HTTP/1.1\r\nHost: same.example.com\r\n\r\n"),
                 421, "the name of a listener that refuses this client's address");
    /* the controls: the listener's own names, a name no listener holds */
    cr_expect_eq(status_on(env.port, &api, "GET /w HTTP/1.1\r\nHost: api.example.com\r\n\r\n"),
                 200);
    cr_expect_eq(status_on(env.port, &api, "GET /w HTTP/1.1\r\nHost: none.example.com\r\n\r\n"),
                 200);
    /* and the other way round: other's listener refuses api's name */
    struct it_tls_opts oth = {
        .cert = "client/other.crt", .key = "client/other.key", .sni = "other.example.com"};
    cr_expect_eq(status_on(other, &oth, "GET /w HTTP/1.1\r\nHost: other.example.com\r\n\r\n"), 200);
    cr_expect_eq(status_on(other, &oth, "GET /w HTTP/1.1\r\nHost: api.example.com\r\n\r\n"), 421);
    const char *line[] = {"event=misdirected_request", "authority_domain=other.example.com",
                          "names a domain of another listener", NULL};
    cr_expect_geq(it_wait_lines(env.err_log, line, 1, 5000), 1, "no log line names the listener");
    it_mtlb_assert_alive(&env);
    it_mtlb_stop(&env, 5000);
}
