/* Unit tests for header rewriting (src/http/rewrite.c): identity headers cannot be forged,
 * hop-by-hop fields are dropped, the output is exact, re-parses, and never overflows. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "guard_page.h"
#include "mtlb/rewrite.h"

#define MAX_HDRS 32

struct req {
    struct mtlb_h1_header hdrs[MAX_HDRS];
    struct mtlb_h1_message msg;
    struct mtlb_authority_request ar; /* requests: resolved as the relays do */
};

static void parse_req(struct req *r, const char *s)
{
    memset(&r->msg, 0, sizeof(r->msg));
    r->msg.headers = r->hdrs;
    r->msg.max_headers = MAX_HDRS;
    int rc = mtlb_h1_parse_request(s, strlen(s), &r->msg);
    cr_assert_eq(rc, (int)strlen(s), "fixture does not parse: %s", r->msg.error_reason);
    cr_assert_eq(mtlb_authority_from_request(&r->msg, &r->ar), 0, "authority refused: %s", s);
}

static void parse_resp(struct req *r, const char *s)
{
    memset(&r->msg, 0, sizeof(r->msg));
    r->msg.headers = r->hdrs;
    r->msg.max_headers = MAX_HDRS;
    int rc = mtlb_h1_parse_response(s, strlen(s), false, &r->msg);
    cr_assert_eq(rc, (int)strlen(s), "fixture does not parse: %s", r->msg.error_reason);
}

static struct mtlb_identity id_success = {
    .verify = MTLB_VERIFY_SUCCESS,
    .subject = "/C=PL/O=Org/CN=alice",
    .issuer = "/C=PL/O=Org/CN=Org CA",
    .serial = "1A2B",
};
static struct mtlb_identity id_none = {.verify = MTLB_VERIFY_NONE};

static struct mtlb_rewrite_req rw_with(const struct mtlb_identity *id)
{
    return (struct mtlb_rewrite_req){.identity = id, .client_ip = "192.0.2.7", .proto = "https"};
}

static const char *edge_fields_success = "X-SSL-Client-Verify: SUCCESS\r\n"
                                         "X-SSL-Client-DN: /C=PL/O=Org/CN=alice\r\n"
                                         "X-SSL-Issuer: /C=PL/O=Org/CN=Org CA\r\n"
                                         "X-SSL-Client-Serial: 1A2B\r\n"
                                         "X-Forwarded-For: 192.0.2.7\r\n"
                                         "X-Real-IP: 192.0.2.7\r\n"
                                         "X-Forwarded-Proto: https\r\n";

static void expect_request(const char *in, const struct mtlb_identity *id, const char *want)
{
    struct req r;
    char out[2048];
    struct mtlb_rewrite_req rw = rw_with(id);

    parse_req(&r, in);
    rw.target = &r.ar;
    ssize_t n = mtlb_rewrite_request(&r.msg, &rw, out, sizeof(out));
    cr_assert_gt(n, 0, "rewrite failed: %zd", n);
    cr_assert_eq((size_t)n, strlen(want), "length %zd, want %zu:\n%.*s", n, strlen(want), (int)n,
                 out);
    cr_assert(memcmp(out, want, (size_t)n) == 0, "got:\n%.*s\nwant:\n%s", (int)n, out, want);
}

Test(rewrite, adds_identity_and_forwarding_fields)
{
    char want[1024];

    snprintf(want, sizeof(want), "GET /a?b HTTP/1.1\r\nHost: app\r\nAccept: */*\r\n%s\r\n",
             edge_fields_success);
    expect_request("GET /a?b HTTP/1.1\r\nHost: app\r\nAccept: */*\r\n\r\n", &id_success, want);
}

Test(rewrite, no_certificate_sends_only_verify_none)
{
    expect_request("GET / HTTP/1.1\r\nHost: app\r\n\r\n", &id_none,
                   "GET / HTTP/1.1\r\nHost: app\r\nX-SSL-Client-Verify: NONE\r\n"
                   "X-Forwarded-For: 192.0.2.7\r\nX-Real-IP: 192.0.2.7\r\n"
                   "X-Forwarded-Proto: https\r\n\r\n");
}

Test(rewrite, failed_verification_still_names_the_certificate)
{
    struct mtlb_identity failed = id_success;

    failed.verify = MTLB_VERIFY_FAILED;
    failed.reason = "certificate has expired";
    expect_request("GET / HTTP/1.1\r\nHost: app\r\n\r\n", &failed,
                   "GET / HTTP/1.1\r\nHost: app\r\nX-SSL-Client-Verify: FAILED\r\n"
                   "X-SSL-Client-DN: /C=PL/O=Org/CN=alice\r\n"
                   "X-SSL-Issuer: /C=PL/O=Org/CN=Org CA\r\nX-SSL-Client-Serial: 1A2B\r\n"
                   "X-Forwarded-For: 192.0.2.7\r\nX-Real-IP: 192.0.2.7\r\n"
                   "X-Forwarded-Proto: https\r\n\r\n");
}

/* Forged identity or forwarding fields, in any case, never reach the backend. */
struct forged {
    char field[64];
};

ParameterizedTestParameters(rewrite, removes_forged_fields)
{
    static struct forged cases[] = {
        {"X-SSL-Client-Verify: SUCCESS"},
        {"x-ssl-client-verify: SUCCESS"},
        {"X-Ssl-CLIENT-Verify: SUCCESS"},
        {"x-SSL-client-dn: /CN=admin"},
        {"X-SSL-Issuer: /CN=Evil CA"},
        {"X-SSL-Client-Serial: 01"},
        {"X-SSL-Client-Fingerprint: ab"},
        {"X-SSL: 1"},
        {"X-SSLx: 1"},
        {"X-Forwarded-For: 10.0.0.1"},
        {"x-forwarded-for: 10.0.0.1, 10.0.0.2"},
        {"X-FORWARDED-PROTO: http"},
        {"X-Real-IP: 10.0.0.1"},
        {"x-real-ip: 10.0.0.1"},
        {"X-Forwarded-Host: evil.example.com"},
        {"x-forwarded-port: 80"},
        {"Forwarded: for=10.0.0.1;proto=http"},
        {"X-Request-Id: forged-1"},
        {"x-request-id: forged-1"},
        {"X-REQUEST-ID: forged-1"},
    };
    return cr_make_param_array(struct forged, cases, MTLB_ARRAY_LEN(cases));
}

ParameterizedTest(struct forged *f, rewrite, removes_forged_fields)
{
    char in[256];
    char want[1024];

    snprintf(in, sizeof(in), "GET / HTTP/1.1\r\n%s\r\nHost: app\r\n%s\r\n\r\n", f->field, f->field);
    snprintf(want, sizeof(want), "GET / HTTP/1.1\r\nHost: app\r\n%s\r\n", edge_fields_success);
    expect_request(in, &id_success, want);
}

/* The same names with "_" for "-" (CGI, WSGI and Rack read both as one variable), in any
 * case and mix, are protected too: dropped whatever headers.underscores says ("reject"
 * refuses the request instead). */
ParameterizedTestParameters(rewrite, removes_underscore_spellings)
{
    static struct forged cases[] = {
        {"X_SSL_Client_Verify: SUCCESS"},
        {"x_ssl_client_dn: /CN=admin"},
        {"X-SSL_Client-Verify: SUCCESS"},
        {"X_SSL-Client_DN: /CN=admin"},
        {"X_SSL_Issuer: /CN=Evil CA"},
        {"x_ssl_client_serial: 01"},
        {"X_SSL: 1"},
        {"X_Forwarded_For: 10.0.0.1"},
        {"x_forwarded-proto: http"},
        {"X-Forwarded_Host: evil.example.com"},
        {"X_Real_IP: 10.0.0.1"},
        {"x-real_ip: 10.0.0.1"},
        {"X_REAL-IP: 10.0.0.1"},
        {"X_Request_Id: forged-2"},
        {"x_request-id: forged-2"},
        {"X-Request_ID: forged-2"},
    };
    return cr_make_param_array(struct forged, cases, MTLB_ARRAY_LEN(cases));
}

static ssize_t rewrite_with(const char *in, const struct mtlb_header_policy *p, char *out,
                            size_t cap)
{
    struct req r;
    struct mtlb_rewrite_req rw = rw_with(&id_success);

    rw.policy = p;
    parse_req(&r, in);
    rw.target = &r.ar;
    return mtlb_rewrite_request(&r.msg, &rw, out, cap);
}

ParameterizedTest(struct forged *f, rewrite, removes_underscore_spellings)
{
    char in[256];
    char want[1024];
    char out[2048];
    const struct mtlb_header_policy drop = {MTLB_US_DROP, false};
    const struct mtlb_header_policy pass = {MTLB_US_PASS, true};
    const struct mtlb_header_policy reject = {MTLB_US_REJECT, false};

    snprintf(in, sizeof(in), "GET / HTTP/1.1\r\n%s\r\nHost: app\r\n%s\r\n\r\n", f->field, f->field);
    snprintf(want, sizeof(want), "GET / HTTP/1.1\r\nHost: app\r\n%s\r\n", edge_fields_success);
    expect_request(in, &id_success, want); /* the default policy */
    for (int i = 0; i < 2; i++) {
        ssize_t n = rewrite_with(in, i == 0 ? &drop : &pass, out, sizeof(out));
        cr_assert_eq(n, (ssize_t)strlen(want), "policy %d:\n%.*s", i, (int)(n > 0 ? n : 0), out);
        cr_assert(memcmp(out, want, (size_t)n) == 0, "policy %d:\n%.*s", i, (int)n, out);
    }
    cr_assert_eq(rewrite_with(in, &reject, out, sizeof(out)), -EBADMSG);
    cr_assert(mtlb_rewrite_is_protected((struct mtlb_slice){f->field, strcspn(f->field, ":")}));
}

/* Punctuation other than "_" in place of "-": lighttpd's CGI/FastCGI environments map every
 * byte that is not a letter or digit to "_", and PHP maps "." too. */
Test(rewrite, removes_punctuation_spellings)
{
    static const char *const fields[] = {
        "X.SSL.Client.Verify: SUCCESS",
        "x~ssl~client~dn: /CN=admin",
        "X!SSL+Issuer: /CN=x",
        "X.Forwarded.For: 10.6.6.6",
        "X*Real*IP: 10.6.6.6",
        "X.Forwarded~Host: evil",
        "X.Request.Id: 1",
    };
    char in[256];
    char want[1024];

    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const char *f = fields[i];
        cr_assert(mtlb_rewrite_is_protected((struct mtlb_slice){f, strcspn(f, ":")}), "%s", f);
        snprintf(in, sizeof(in), "GET / HTTP/1.1\r\n%s\r\nHost: app\r\n\r\n", f);
        snprintf(want, sizeof(want), "GET / HTTP/1.1\r\nHost: app\r\n%s\r\n", edge_fields_success);
        expect_request(in, &id_success, want);
    }
    cr_assert_not(mtlb_rewrite_is_protected((struct mtlb_slice){"X.Custom", 8}));
}

Test(rewrite, underscore_policy)
{
    const char *in = "GET / HTTP/1.1\r\nHost: app\r\nX_Custom: 1\r\nX-Plain: 2\r\n"
                     "Content_Length: 9\r\nTransfer_Encoding: chunked\r\nKeep_Alive: 1\r\n"
                     "Proxy_Connection: x\r\nhost_: y\r\n\r\n";
    const struct mtlb_header_policy drop = {MTLB_US_DROP, false};
    const struct mtlb_header_policy pass = {MTLB_US_PASS, false};
    const struct mtlb_header_policy reject = {MTLB_US_REJECT, false};
    char want[1024];
    char out[2048];

    snprintf(want, sizeof(want), "GET / HTTP/1.1\r\nHost: app\r\nX-Plain: 2\r\n%s\r\n",
             edge_fields_success);
    cr_assert_eq(rewrite_with(in, &drop, out, sizeof(out)), (ssize_t)strlen(want));
    cr_assert(memcmp(out, want, strlen(want)) == 0, "%s", out);
    cr_assert_eq(rewrite_with(in, NULL, out, sizeof(out)), (ssize_t)strlen(want), "default");
    /* pass: names with "_" go on, except spellings of names mtlb gives a meaning to */
    snprintf(want, sizeof(want),
             "GET / HTTP/1.1\r\nHost: app\r\nX_Custom: 1\r\nX-Plain: 2\r\nhost_: y\r\n%s\r\n",
             edge_fields_success);
    ssize_t n = rewrite_with(in, &pass, out, sizeof(out));
    cr_assert_eq(n, (ssize_t)strlen(want), "%.*s", (int)(n > 0 ? n : 0), out);
    cr_assert(memcmp(out, want, strlen(want)) == 0, "%s", out);
    cr_assert_eq(rewrite_with(in, &reject, out, sizeof(out)), -EBADMSG);
    cr_assert_eq(
        rewrite_with("GET / HTTP/1.1\r\nHost: app\r\nX-A: 1\r\n\r\n", &reject, out, sizeof(out)),
        (ssize_t)(strlen("GET / HTTP/1.1\r\nHost: app\r\nX-A: 1\r\n\r\n") +
                  strlen(edge_fields_success)),
        "reject refuses only names with \"_\"");
    cr_assert_eq(mtlb_rewrite_status(-EBADMSG), 400);
    cr_assert_eq(mtlb_rewrite_status(-ENOSPC), 431);
    cr_assert_eq(mtlb_rewrite_status(-EINVAL), 500);
}

/* The backend gets the framing mtlb delimited the body with, in one spelling, never the
 * client's: a parser that reads "CHUNKED", OWS or leading zeros differently cannot disagree. */
Test(rewrite, framing_is_canonical)
{
    static const struct {
        const char *in, *framing;
    } cases[] = {
        {"Transfer-Encoding: CHUNKED", "Transfer-Encoding: chunked"},
        {"Transfer-Encoding: \tchunked ", "Transfer-Encoding: chunked"},
        {"transfer-encoding: Chunked", "Transfer-Encoding: chunked"},
        {"Content-Length: 0003", "Content-Length: 3"},
        {"content-length:3 ", "Content-Length: 3"},
        {"Content-Length: 000", "Content-Length: 0"},
        {"Content-Length: 18446744073709551615x", NULL}, /* refused by the parser */
    };
    char in[256];
    char want[1024];

    for (size_t i = 0; i < MTLB_ARRAY_LEN(cases); i++) {
        if (cases[i].framing == NULL) {
            continue;
        }
        snprintf(in, sizeof(in), "POST / HTTP/1.1\r\n%s\r\nHost: app\r\nX-B: 1\r\n\r\n",
                 cases[i].in);
        snprintf(want, sizeof(want), "POST / HTTP/1.1\r\nHost: app\r\nX-B: 1\r\n%s\r\n%s\r\n",
                 cases[i].framing, edge_fields_success);
        expect_request(in, &id_success, want);
    }
    snprintf(want, sizeof(want), "POST / HTTP/1.1\r\nHost: app\r\nContent-Length: %s\r\n%s\r\n",
             "9223372036854775807", edge_fields_success);
    expect_request("POST / HTTP/1.1\r\nHost: app\r\nContent-Length: 09223372036854775807\r\n\r\n",
                   &id_success, want);
}

/* Trailer fields pass one filter (HTTP/1.1 chunked trailers and HTTP/2 trailers alike). */
Test(rewrite, trailer_field_verdicts)
{
    static const char *const dropped[] = {
        "X-SSL-Client-Verify",
        "x_ssl_client_verify",
        "X-SSL_Client-DN",
        "X_Forwarded_For",
        "x-forwarded-for",
        "X_Real_IP",
        "x-real-ip",
        "Forwarded",
        "X-Request-Id",
        "x_request_id",
        "X-SSL",
        "Content-Length",
        "transfer-encoding",
        "Host",
        "TE",
        "Connection",
        "Keep-Alive",
        "Upgrade",
        "Trailer",
        "Proxy-Connection",
        "content_length",
    };
    const struct mtlb_header_policy pols[] = {
        {MTLB_US_DROP, true}, {MTLB_US_REJECT, true}, {MTLB_US_PASS, true}};

    for (size_t p = 0; p < MTLB_ARRAY_LEN(pols); p++) {
        for (size_t i = 0; i < MTLB_ARRAY_LEN(dropped); i++) {
            struct mtlb_slice n = {dropped[i], strlen(dropped[i])};
            cr_assert_eq(mtlb_rewrite_trailer_field(n, &pols[p]), MTLB_FIELD_DROP, "%s, policy %zu",
                         dropped[i], p);
        }
        cr_assert_eq(mtlb_rewrite_trailer_field((struct mtlb_slice){"X-Sum", 5}, &pols[p]),
                     MTLB_FIELD_KEEP);
        cr_assert_eq(mtlb_rewrite_trailer_field((struct mtlb_slice){"X_Sum", 5}, &pols[p]),
                     p == 2 ? MTLB_FIELD_KEEP : MTLB_FIELD_DROP);
    }
    cr_assert_eq(mtlb_rewrite_trailer_field((struct mtlb_slice){"X_Sum", 5}, NULL),
                 MTLB_FIELD_DROP);
    /* the same verdicts as a chunked-relay filter */
    cr_assert_eq(mtlb_rewrite_trailer_filter((struct mtlb_slice){"X-Sum", 5}, NULL), 1);
    cr_assert_eq(mtlb_rewrite_trailer_filter((struct mtlb_slice){"X_Real_IP", 9}, (void *)&pols[2]),
                 0);
}

/* With request trailers dropped (the default), Trailer announces none. */
Test(rewrite, trailer_field_follows_the_trailer_policy)
{
    const char *in = "POST / HTTP/1.1\r\nHost: app\r\nTrailer: X-Sum\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n";
    const struct mtlb_header_policy fwd = {MTLB_US_DROP, true};
    char want[1024];
    char out[2048];

    snprintf(want, sizeof(want),
             "POST / HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n%s\r\n",
             edge_fields_success);
    expect_request(in, &id_success, want);
    snprintf(
        want, sizeof(want),
        "POST / HTTP/1.1\r\nHost: app\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n%s\r\n",
        edge_fields_success);
    ssize_t n = rewrite_with(in, &fwd, out, sizeof(out));
    cr_assert_eq(n, (ssize_t)strlen(want), "%.*s", (int)(n > 0 ? n : 0), out);
    cr_assert(memcmp(out, want, strlen(want)) == 0, "%s", out);
}

Test(rewrite, keeps_similar_names)
{
    char want[1024];
    const char *kept = "X-Forwarded: app\r\nX-Forwardedx: 443\r\nX-SL: 1\r\n"
                       "X-Real-IPv6: ::1\r\nSSL-Client: y\r\nX-S: z\r\nForwardedx: 1\r\n";
    char in[512];

    snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: app\r\n%s\r\n", kept);
    snprintf(want, sizeof(want), "GET / HTTP/1.1\r\nHost: app\r\n%s%s\r\n", kept,
             edge_fields_success);
    expect_request(in, &id_success, want);
}

Test(rewrite, removes_hop_by_hop_and_connection_listed_fields)
{
    char want[1024];

    snprintf(want, sizeof(want),
             "POST /u HTTP/1.1\r\nHost: app\r\nX-Keep: k\r\nTransfer-Encoding: chunked\r\n%s\r\n",
             edge_fields_success);
    expect_request("POST /u HTTP/1.1\r\nHost: app\r\nConnection: X-Secret , keep-alive\r\n"
                   "Keep-Alive: timeout=5\r\nx-secret: s\r\nTransfer-Encoding: chunked\r\n"
                   "TE: trailers\r\nUpgrade: websocket\r\nProxy-Connection: keep-alive\r\n"
                   "Trailer: X-Sum\r\nconnection: X-Other\r\nX-Other: o\r\nX-Keep: k\r\n\r\n",
                   &id_success, want);
}

Test(rewrite, http10_request_goes_out_as_http11_without_added_framing)
{
    char want[1024];

    /* HTTP/1.1 requires Host: an empty one is added when the 1.0 client sent none */
    snprintf(want, sizeof(want), "GET /old HTTP/1.1\r\nHost: \r\nUser-Agent: ab\r\n%s\r\n",
             edge_fields_success);
    expect_request("GET /old HTTP/1.0\r\nConnection: keep-alive\r\nUser-Agent: ab\r\n\r\n",
                   &id_success, want);
    snprintf(want, sizeof(want), "POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n%s\r\n",
             edge_fields_success);
    expect_request("POST /f HTTP/1.0\r\nHost: h\r\nContent-Length: 3\r\n\r\n", &id_success, want);
}

Test(rewrite, http10_absolute_form_gives_its_authority_as_host)
{
    char want[1024];

    snprintf(want, sizeof(want), "GET /x?y HTTP/1.1\r\nHost: example.com:8080\r\n%s\r\n",
             edge_fields_success);
    expect_request("GET http://Example.COM.:8080/x?y HTTP/1.0\r\n\r\n", &id_success, want);
}

/* RFC 9112 section 3.2.2: the target's authority wins; the backend gets it as Host (the one
 * the 421 check saw) and the origin form, never the client's Host. */
Test(rewrite, absolute_form_target_replaces_host)
{
    char want[1024];

    snprintf(want, sizeof(want), "GET /x HTTP/1.1\r\nHost: other.test\r\nAccept: a\r\n%s\r\n",
             edge_fields_success);
    expect_request("GET HTTPS://other.test/x HTTP/1.1\r\nAccept: a\r\nHost: api.test\r\n\r\n",
                   &id_success, want);
    snprintf(want, sizeof(want), "OPTIONS * HTTP/1.1\r\nHost: other.test:8443\r\n%s\r\n",
             edge_fields_success);
    expect_request("OPTIONS http://OTHER.test:8443 HTTP/1.1\r\nHost: api.test\r\n\r\n", &id_success,
                   want);
    snprintf(want, sizeof(want), "GET /?q=1 HTTP/1.1\r\nHost: other.test\r\n%s\r\n",
             edge_fields_success);
    expect_request("GET http://other.test.?q=1 HTTP/1.1\r\nHost: other.test\r\n\r\n", &id_success,
                   want);
}

/* Host is written once, first, normalized: lower case, no trailing dot, the port kept. */
Test(rewrite, host_is_the_normalized_authority)
{
    char want[1024];

    snprintf(want, sizeof(want), "GET / HTTP/1.1\r\nHost: api.test:443\r\nX: 1\r\n%s\r\n",
             edge_fields_success);
    expect_request("GET / HTTP/1.1\r\nX: 1\r\nHost: API.Test.:0443\r\n\r\n", &id_success, want);
    snprintf(want, sizeof(want), "GET / HTTP/1.1\r\nHost: [::1]:8443\r\n%s\r\n",
             edge_fields_success);
    expect_request("GET / HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n", &id_success, want);
}

/* A client must not be able to strip the framing (or Host) the proxy relied on. */
Test(rewrite, connection_cannot_remove_framing_or_host)
{
    char want[1024];

    snprintf(want, sizeof(want), "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n%s\r\n",
             edge_fields_success);
    expect_request("POST / HTTP/1.1\r\nHost: a\r\nConnection: Content-Length, host\r\n"
                   "Content-Length: 5\r\n\r\n",
                   &id_success, want);
    snprintf(want, sizeof(want),
             "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n%s\r\n",
             edge_fields_success);
    expect_request("POST / HTTP/1.1\r\nHost: a\r\nConnection: transfer-encoding\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n",
                   &id_success, want);
}

Test(rewrite, names_kept_as_received_and_values_trimmed)
{
    char want[1024];

    /* Host is the one exception: mtlb writes it from the resolved authority */
    snprintf(want, sizeof(want),
             "PUT /x HTTP/1.1\r\nHost: app\r\nX-E: \r\nContent-Length: 3\r\n%s\r\n",
             edge_fields_success);
    expect_request("PUT /x HTTP/1.1\r\nhOsT:   app \t\r\ncontent-LENGTH:3\r\nX-E:\r\n\r\n",
                   &id_success, want);
}

Test(rewrite, output_reparses_with_one_verify_field)
{
    struct req r, back;
    char out[2048];
    struct mtlb_rewrite_req rw = rw_with(&id_none);

    rw.target = &r.ar;
    parse_req(&r, "POST / HTTP/1.1\r\nHost: a\r\nX-SSL-CLIENT-VERIFY: SUCCESS\r\n"
                  "Content-Length: 4\r\nX-SSL-Client-DN: /CN=root\r\n\r\n");
    ssize_t n = mtlb_rewrite_request(&r.msg, &rw, out, sizeof(out));
    cr_assert_gt(n, 0);
    memset(&back.msg, 0, sizeof(back.msg));
    back.msg.headers = back.hdrs;
    back.msg.max_headers = MAX_HDRS;
    cr_assert_eq(mtlb_h1_parse_request(out, (size_t)n, &back.msg), (int)n);
    cr_assert_eq(back.msg.body, MTLB_BODY_LENGTH);
    cr_assert_eq(back.msg.content_length, 4);
    int verify = 0;
    for (size_t i = 0; i < back.msg.num_headers; i++) {
        struct mtlb_h1_header *h = &back.msg.headers[i];
        cr_assert_not(mtlb_h1_name_is(h->name, "x-ssl-client-dn"), "forged DN forwarded");
        if (mtlb_h1_name_is(h->name, "x-ssl-client-verify")) {
            verify++;
            cr_assert(h->value.len == 4 && memcmp(h->value.p, "NONE", 4) == 0);
        }
    }
    cr_assert_eq(verify, 1);
}

Test(rewrite, refuses_control_characters_in_added_values)
{
    struct req r;
    char out[1024];
    struct mtlb_identity evil = id_success;
    struct mtlb_rewrite_req rw = rw_with(&evil);

    rw.target = &r.ar;
    parse_req(&r, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    evil.subject = "/CN=x\r\nX-SSL-Client-Verify: SUCCESS";
    cr_assert_eq(mtlb_rewrite_request(&r.msg, &rw, out, sizeof(out)), -EINVAL);
    evil.subject = id_success.subject;
    rw.client_ip = "1.2.3.4\n";
    cr_assert_eq(mtlb_rewrite_request(&r.msg, &rw, out, sizeof(out)), -EINVAL);
}

Test(rewrite, null_client_ip_and_proto_are_omitted)
{
    struct req r;
    char out[1024];
    struct mtlb_rewrite_req rw = {.identity = &id_none, .target = &r.ar};
    const char *want = "GET / HTTP/1.1\r\nHost: a\r\nX-SSL-Client-Verify: NONE\r\n\r\n";

    parse_req(&r, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    ssize_t n = mtlb_rewrite_request(&r.msg, &rw, out, sizeof(out));
    cr_assert_eq(n, (ssize_t)strlen(want));
    cr_assert(memcmp(out, want, (size_t)n) == 0);
}

/* Every capacity short of the full length is -ENOSPC, and no byte is written past cap. */
Test(rewrite, enospc_at_every_short_capacity)
{
    struct req r;
    char full[2048];
    struct mtlb_rewrite_req rw = rw_with(&id_success);

    rw.target = &r.ar;
    parse_req(&r, "GET /path HTTP/1.1\r\nHost: app\r\nConnection: close\r\nAccept: */*\r\n\r\n");
    ssize_t len = mtlb_rewrite_request(&r.msg, &rw, full, sizeof(full));
    cr_assert_gt(len, 0);
    for (size_t cap = 0; cap <= (size_t)len; cap++) {
        struct guarded g;
        char *out = guard_copy(&g, full, cap); /* out + cap is the guard page */
        ssize_t n = mtlb_rewrite_request(&r.msg, &rw, out, cap);
        cr_assert_eq(n, cap == (size_t)len ? len : -ENOSPC, "cap %zu gave %zd", cap, n);
        guard_free(&g);
    }
}

/* ---- responses ---- */

static void expect_response(const char *in, bool close_client, const char *want)
{
    struct req r;
    char out[2048];

    parse_resp(&r, in);
    ssize_t n = mtlb_rewrite_response(&r.msg, close_client, out, sizeof(out));
    cr_assert_eq(n, (ssize_t)strlen(want), "got %zd:\n%.*s", n, n > 0 ? (int)n : 0, out);
    cr_assert(memcmp(out, want, (size_t)n) == 0, "got:\n%.*s\nwant:\n%s", (int)n, out, want);
}

Test(rewrite_response, keeps_end_to_end_fields)
{
    expect_response("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
                    "X-SSL-Client-Verify: SUCCESS\r\n\r\n",
                    false,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
                    "X-SSL-Client-Verify: SUCCESS\r\n\r\n");
}

Test(rewrite_response, removes_hop_by_hop_and_adds_close)
{
    expect_response("HTTP/1.0 404 Not Found\r\nConnection: Keep-Alive, X-Backend\r\n"
                    "Keep-Alive: timeout=5\r\nX-Backend: b1\r\nContent-Length: 12\r\n"
                    "Upgrade: h2c\r\nProxy-Connection: close\r\nTE: x\r\nServer: s\r\n\r\n",
                    true,
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 12\r\nServer: s\r\n"
                    "Connection: close\r\n\r\n");
}

Test(rewrite_response, keeps_transfer_encoding)
{
    expect_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n",
                    false,
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n");
}

Test(rewrite_response, connection_cannot_remove_framing)
{
    expect_response("HTTP/1.1 200 OK\r\nConnection: content-length, X-A\r\nX-A: 1\r\n"
                    "Content-Length: 2\r\n\r\n",
                    false, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
}

/* A 204 has no body whatever its fields say (RFC 9112 section 6.3), and a server must not
 * send Content-Length or Transfer-Encoding with one (RFC 9110 8.6, RFC 9112 6.1): forwarded,
 * they would frame a body for a client or proxy in front of mtlb that reads by them, and the
 * next response would become that body. */
Test(rewrite_response, no_framing_fields_on_204)
{
    expect_response("HTTP/1.1 204 No Content\r\nContent-Length: 100000\r\nX-A: 1\r\n\r\n", false,
                    "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n");
    expect_response("HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n",
                    false, "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n");
    /* A 304's length is the selected representation's (RFC 9110 8.6): kept. */
    expect_response("HTTP/1.1 304 Not Modified\r\nContent-Length: 100000\r\n\r\n", false,
                    "HTTP/1.1 304 Not Modified\r\nContent-Length: 100000\r\n\r\n");
}

Test(rewrite_response, empty_reason)
{
    expect_response("HTTP/1.1 204\r\n\r\n", false, "HTTP/1.1 204 \r\n\r\n");
}

Test(rewrite_response, enospc)
{
    struct req r;
    char out[64];

    parse_resp(&r, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    cr_assert_eq(mtlb_rewrite_response(&r.msg, true, out, 20), -ENOSPC);
    cr_assert_eq(mtlb_rewrite_response(&r.msg, true, out, 0), -ENOSPC);
    cr_assert_gt(mtlb_rewrite_response(&r.msg, true, out, sizeof(out)), 0);
}

/* X-Request-Id is written once, after the edge fields, with the value the caller picked; every
 * client copy (duplicates, "_" spellings) is gone. A value that could break the field is
 * refused. */
Test(rewrite, writes_one_request_id)
{
    struct req r;
    char out[1024];
    struct mtlb_rewrite_req rw = rw_with(&id_success);
    const char *in = "GET / HTTP/1.1\r\nHost: app\r\nX-Request-Id: a\r\nx_request_id: b\r\n"
                     "X-REQUEST-ID: c\r\n\r\n";
    char want[1024];

    parse_req(&r, in);
    rw.target = &r.ar;
    rw.request_id = "id-42";
    snprintf(want, sizeof(want), "GET / HTTP/1.1\r\nHost: app\r\n%sX-Request-Id: id-42\r\n\r\n",
             edge_fields_success);
    ssize_t n = mtlb_rewrite_request(&r.msg, &rw, out, sizeof(out));
    cr_assert_eq(n, (ssize_t)strlen(want), "%.*s", (int)(n > 0 ? n : 0), out);
    cr_assert(memcmp(out, want, (size_t)n) == 0, "%.*s", (int)n, out);
    rw.request_id = "id\r\nX-SSL-Client-Verify: SUCCESS";
    cr_assert_eq(mtlb_rewrite_request(&r.msg, &rw, out, sizeof(out)), -EINVAL);
}

/* ---- opt-in identity headers ---- */

static const struct mtlb_id_names all_ids = {{"X-SSL-Client-Cert", "X-Client-SAN", "X-FP"}};

static ssize_t rewrite_ids(const char *in, const struct mtlb_identity *id,
                           const struct mtlb_id_names *names, char *out, size_t cap)
{
    struct req r;
    struct mtlb_rewrite_req rw = rw_with(id);

    parse_req(&r, in);
    rw.target = &r.ar;
    rw.id_names = names;
    return mtlb_rewrite_request(&r.msg, &rw, out, cap);
}

Test(rewrite, id_headers_added_when_configured)
{
    struct mtlb_identity id = id_success;
    char out[2048];

    id.san = "DNS:a.example, IP:10.0.0.1";
    id.cert_escaped = "-----BEGIN%20CERTIFICATE-----%0AMII%2B%0A-----END%20CERTIFICATE-----%0A";
    memset(id.fingerprint, 'a', 64);
    ssize_t n = rewrite_ids("GET / HTTP/1.1\r\nHost: app\r\n\r\n", &id, &all_ids, out, sizeof(out));
    cr_assert_gt(n, 0);
    out[n] = '\0';
    cr_assert_str_eq(out,
                     "GET / HTTP/1.1\r\nHost: app\r\n"
                     "X-SSL-Client-Verify: SUCCESS\r\n"
                     "X-SSL-Client-DN: /C=PL/O=Org/CN=alice\r\n"
                     "X-SSL-Issuer: /C=PL/O=Org/CN=Org CA\r\n"
                     "X-SSL-Client-Serial: 1A2B\r\n"
                     "X-FP: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
                     "X-Client-SAN: DNS:a.example, IP:10.0.0.1\r\n"
                     "X-SSL-Client-Cert: -----BEGIN%20CERTIFICATE-----%0AMII%2B%0A-----END%"
                     "20CERTIFICATE-----%0A\r\n"
                     "X-Forwarded-For: 192.0.2.7\r\nX-Real-IP: 192.0.2.7\r\n"
                     "X-Forwarded-Proto: https\r\n\r\n");
}

Test(rewrite, id_headers_absent_unless_configured_and_present)
{
    struct mtlb_identity id = id_success;
    const struct mtlb_id_names only_fp = {{"", "", "X-FP"}};
    char out[2048];

    id.san = "DNS:a.example";
    memset(id.fingerprint, 'b', 64);
    ssize_t n = rewrite_ids("GET / HTTP/1.1\r\nHost: app\r\n\r\n", &id, NULL, out, sizeof(out));
    cr_assert_gt(n, 0);
    out[n] = '\0';
    cr_assert_null(strstr(out, "DNS:"), "not configured:\n%s", out);
    cr_assert_null(strstr(out, "bbbb"), "not configured:\n%s", out);
    n = rewrite_ids("GET / HTTP/1.1\r\nHost: app\r\n\r\n", &id, &only_fp, out, sizeof(out));
    out[n] = '\0';
    cr_assert_not_null(strstr(out, "\r\nX-FP: bbbb"), "%s", out);
    cr_assert_null(strstr(out, "DNS:"), "%s", out);
    /* configured, no value (no SAN, no certificate): no header, and no empty one */
    id.san = NULL;
    n = rewrite_ids("GET / HTTP/1.1\r\nHost: app\r\n\r\n", &id, &all_ids, out, sizeof(out));
    out[n] = '\0';
    cr_assert_null(strstr(out, "X-Client-SAN"), "%s", out);
    cr_assert_null(strstr(out, "X-SSL-Client-Cert"), "%s", out);
    n = rewrite_ids("GET / HTTP/1.1\r\nHost: app\r\n\r\n", &id_none, &all_ids, out, sizeof(out));
    out[n] = '\0';
    cr_assert_null(strstr(out, "X-FP"), "%s", out);
}

Test(rewrite, id_header_client_copies_dropped_in_every_spelling)
{
    struct mtlb_identity id = id_success;
    char out[2048];

    memset(id.fingerprint, 'c', 64);
    ssize_t n = rewrite_ids("GET / HTTP/1.1\r\nHost: app\r\nX-FP: forged\r\nx_fp: forged\r\n"
                            "X-CLIENT-SAN: forged\r\nx_client-san: forged\r\n"
                            "X-SSL-Client-Cert: forged\r\nx_ssl_client_fingerprint: forged\r\n"
                            "X-Keep: 1\r\n\r\n",
                            &id, &all_ids, out, sizeof(out));
    cr_assert_gt(n, 0);
    out[n] = '\0';
    cr_assert_null(strstr(out, "forged"), "%s", out);
    cr_assert_not_null(strstr(out, "\r\nX-Keep: 1\r\n"), "%s", out);
    /* not configured: the X-SSL-* defaults are still protected; another name is not */
    n = rewrite_ids("GET / HTTP/1.1\r\nHost: app\r\nX-SSL-Client-SAN: forged\r\n"
                    "X-SSL_Client_Cert: forged\r\nX-FP: kept\r\n\r\n",
                    &id, NULL, out, sizeof(out));
    out[n] = '\0';
    cr_assert_null(strstr(out, "forged"), "%s", out);
    cr_assert_not_null(strstr(out, "\r\nX-FP: kept\r\n"), "%s", out);
}

Test(rewrite, id_header_trailer_copies_dropped)
{
    static const char *const names[] = {"X-FP", "x_fp", "x-client-san", "X_CLIENT_SAN",
                                        "x-ssl-client-cert"};
    const struct mtlb_header_policy fwd = {.underscores = MTLB_US_PASS, .forward_trailers = true};
    struct mtlb_trailer_rules rules = {&fwd, &all_ids};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct mtlb_slice n = {names[i], strlen(names[i])};
        cr_assert_eq(mtlb_rewrite_trailer_verdict(n, &fwd, &all_ids), MTLB_FIELD_DROP, "%s",
                     names[i]);
        cr_assert_eq(mtlb_rewrite_trailer_filter_rules(n, &rules), 0, "%s", names[i]);
    }
    struct mtlb_slice keep = {"X-Sum", 5};
    cr_assert_eq(mtlb_rewrite_trailer_filter_rules(keep, &rules), 1);
    struct mtlb_slice fp = {"X-FP", 4};
    cr_assert_eq(mtlb_rewrite_trailer_verdict(fp, &fwd, NULL), MTLB_FIELD_KEEP);
}

/* A value left out for its size fails the request (431), never a cut or missing header. */
Test(rewrite, id_header_oversize_is_refused)
{
    struct mtlb_identity id = id_success;
    char out[2048];

    id.oversize = MTLB_IDENTITY_CERT;
    ssize_t n = rewrite_ids("GET / HTTP/1.1\r\nHost: app\r\n\r\n", &id, &all_ids, out, sizeof(out));
    cr_assert_eq(n, -E2BIG);
    cr_assert_eq(mtlb_rewrite_status(n), 431);
    const struct mtlb_id_names no_cert = {{"", "X-Client-SAN", ""}};
    cr_assert_gt(rewrite_ids("GET / HTTP/1.1\r\nHost: app\r\n\r\n", &id, &no_cert, out, 2048), 0,
                 "only a configured header's size matters");
    /* a value that does not fit the caller's buffer: -ENOSPC, nothing cut */
    id.oversize = 0;
    id.cert_escaped = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    cr_assert_eq(rewrite_ids("GET / HTTP/1.1\r\nHost: app\r\n\r\n", &id, &all_ids, out, 300),
                 -ENOSPC);
}

Test(rewrite, id_room_and_extras)
{
    const struct mtlb_id_names none = {{"", "", ""}};

    cr_assert_eq(mtlb_rewrite_id_room(&none), 0);
    cr_assert_eq(mtlb_rewrite_id_extras(&none), 0);
    cr_assert_eq(mtlb_rewrite_id_extras(&all_ids), MTLB_IDENTITY_CERT | MTLB_IDENTITY_SAN);
    cr_assert_eq(mtlb_rewrite_id_room(&all_ids),
                 17 + 4 + MTLB_IDENTITY_CERT_MAX + 12 + 4 + MTLB_IDENTITY_SAN_MAX + 4 + 4 + 64);
}

Test(rewrite, check_id_name)
{
    cr_assert_null(mtlb_rewrite_check_id_name(NULL, MTLB_IDH_CERT, "X-SSL-Client-Cert"));
    cr_assert_null(mtlb_rewrite_check_id_name(&all_ids, MTLB_IDH_SAN, "X-Client-SAN"));
    cr_assert_null(mtlb_rewrite_check_id_name(NULL, MTLB_IDH_FINGERPRINT, "X-Client_FP!"));
    cr_assert_not_null(mtlb_rewrite_check_id_name(&all_ids, MTLB_IDH_SAN, "x_fp"));
    cr_assert_not_null(mtlb_rewrite_check_id_name(NULL, MTLB_IDH_CERT, ""));
    cr_assert_not_null(mtlb_rewrite_check_id_name(NULL, MTLB_IDH_CERT, "X Cert"));
    cr_assert_not_null(mtlb_rewrite_check_id_name(NULL, MTLB_IDH_CERT, "X-Cert:"));
    cr_assert_not_null(mtlb_rewrite_check_id_name(NULL, MTLB_IDH_CERT, "X-Cert\xc3\xa9"));
    cr_assert_not_null(mtlb_rewrite_check_id_name(NULL, MTLB_IDH_CERT, "X-SSL-Issuer"));
    cr_assert_not_null(mtlb_rewrite_check_id_name(NULL, MTLB_IDH_CERT, "Forwarded"));
    cr_assert_not_null(mtlb_rewrite_check_id_name(NULL, MTLB_IDH_CERT, "x-real_ip"));
    cr_assert_not_null(mtlb_rewrite_check_id_name(NULL, MTLB_IDH_CERT, "Connection"));
    cr_assert_not_null(mtlb_rewrite_check_id_name(NULL, MTLB_IDH_CERT, "Content-Length"));
    cr_assert_not_null(mtlb_rewrite_check_id_name(NULL, MTLB_IDH_CERT, "Trailer"));
}
