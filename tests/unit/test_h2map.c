/* Unit tests for the HTTP/2 <-> HTTP/1.1 mapping (src/http/h2map.c): the request view that
 * mtlb_rewrite_request turns into the backend's head (checked together, byte for byte, and
 * re-parsed), every refusal, response and trailer lists, the trailer section to the backend,
 * and exact-fit / one-short buffer sizes. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtlb/h2map.h"
#include "mtlb/rewrite.h"

#define MAX_FIELDS 16
#define MAX_HDRS 16

/* A field list written as "name: value" lines separated by "\n" (the separator is the first
 * ": " after the first byte, so that pseudo-header names keep their colon). */
struct fields {
    char buf[512];
    struct mtlb_h2_field f[MAX_FIELDS];
    size_t n;
};

static void parse_fields(struct fields *fl, const char *spec)
{
    char *p = fl->buf;

    cr_assert(strlen(spec) < sizeof(fl->buf));
    strcpy(fl->buf, spec);
    fl->n = 0;
    while (*p != '\0') {
        char *end = strchr(p, '\n');
        char *sep = strstr(p + 1, ": ");
        if (end == NULL) {
            end = p + strlen(p);
        }
        cr_assert(sep != NULL && sep < end, "bad fixture line: %s", p);
        cr_assert(fl->n < MAX_FIELDS);
        fl->f[fl->n].name = (struct mtlb_slice){p, (size_t)(sep - p)};
        fl->f[fl->n].value = (struct mtlb_slice){sep + 2, (size_t)(end - sep - 2)};
        fl->n++;
        p = *end == '\n' ? end + 1 : end;
    }
}

struct req {
    struct fields fl;
    struct mtlb_h1_header hdrs[MAX_HDRS];
    struct mtlb_h1_message msg;
    char scratch[256];
};

static int build(struct req *r, const char *spec, bool end_stream)
{
    parse_fields(&r->fl, spec);
    memset(&r->msg, 0x5a, sizeof(r->msg)); /* every field must be set by the call */
    r->msg.headers = r->hdrs;
    r->msg.max_headers = MAX_HDRS;
    return mtlb_h2_request_msg(r->fl.f, r->fl.n, end_stream, &r->msg, r->scratch,
                               sizeof(r->scratch));
}

/* The entries as "name: value\n" lines, for exact comparison. */
static void format_headers(const struct mtlb_h1_message *m, char *out, size_t cap)
{
    size_t at = 0;

    out[0] = '\0';
    for (size_t i = 0; i < m->num_headers; i++) {
        int k = snprintf(out + at, cap - at, "%.*s: %.*s\n", (int)m->headers[i].name.len,
                         m->headers[i].name.p, (int)m->headers[i].value.len, m->headers[i].value.p);
        cr_assert(k > 0 && (size_t)k < cap - at);
        at += (size_t)k;
    }
}

static bool slice_is(struct mtlb_slice s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

#define REQ "\n:scheme: https\n:authority: example.com\n:path: /"

struct ok_req {
    char fields[400];
    bool end_stream;
    char headers[400]; /* expected entries, "name: value\n" each */
    enum mtlb_h1_body body;
    uint64_t content_length;
};

ParameterizedTestParameters(h2map, request_ok)
{
    static struct ok_req cases[] = {
        {":method: GET" REQ, true, "host: example.com\n", MTLB_BODY_NONE, 0},
        /* a host field naming the same origin is allowed, and :authority is used */
        {":method: GET" REQ "\nhost: EXAMPLE.com.:443\naccept: */*", true,
         "host: example.com\naccept: */*\n", MTLB_BODY_NONE, 0},
        {":method: GET\n:scheme: https\n:path: /\naccept: */*\nhost: h.example:8443", true,
         "host: h.example:8443\naccept: */*\n", MTLB_BODY_NONE, 0},
        {":method: GET" REQ "\ncookie: a=1\naccept: x\ncookie: b=2\ncookie: c=3", true,
         "host: example.com\ncookie: a=1; b=2; c=3\naccept: x\n", MTLB_BODY_NONE, 0},
        {":method: GET" REQ "\nx: 1\ncookie: only=1", true,
         "host: example.com\nx: 1\ncookie: only=1\n", MTLB_BODY_NONE, 0},
        {":method: POST" REQ "\ncontent-length: 5", false, "host: example.com\ncontent-length: 5\n",
         MTLB_BODY_LENGTH, 5},
        {":method: POST" REQ "\ncontent-length: 9223372036854775807", false,
         "host: example.com\ncontent-length: 9223372036854775807\n", MTLB_BODY_LENGTH,
         UINT64_C(9223372036854775807)},
        {":method: POST" REQ "\ncontent-length: 0", false, "host: example.com\ncontent-length: 0\n",
         MTLB_BODY_NONE, 0},
        {":method: POST" REQ "\ncontent-length: 0", true, "host: example.com\ncontent-length: 0\n",
         MTLB_BODY_NONE, 0},
        {":method: POST" REQ "\ncontent-type: text/plain", false,
         "host: example.com\ncontent-type: text/plain\ntransfer-encoding: chunked\n",
         MTLB_BODY_CHUNKED, 0},
        {":method: GET" REQ "\nte: trailers\na: b", true, "host: example.com\na: b\n",
         MTLB_BODY_NONE, 0},
        {":method: GET" REQ "\nte: Trailers", true, "host: example.com\n", MTLB_BODY_NONE, 0},
        {":method: PUT" REQ "\nexpect: 100-continue\ncontent-length: 3", false,
         "host: example.com\ncontent-length: 3\n", MTLB_BODY_LENGTH, 3},
        {":method: GET" REQ "\nexpect: something-else", true,
         "host: example.com\nexpect: something-else\n", MTLB_BODY_NONE, 0},
        {":method: OPTIONS\n:scheme: https\n:authority: example.com\n:path: *", true,
         "host: example.com\n", MTLB_BODY_NONE, 0},
        {":method: GET" REQ "\nx-obs: caf\xc3\xa9\tok\nx-ssl-client-verify: SUCCESS", true,
         "host: example.com\nx-obs: caf\xc3\xa9\tok\nx-ssl-client-verify: SUCCESS\n",
         MTLB_BODY_NONE, 0},
        {":authority: [::1]:443\n:path: /a?b=c%20d\n:method: DELETE\n:scheme: http", true,
         "host: [::1]:443\n", MTLB_BODY_NONE, 0},
    };
    return cr_make_param_array(struct ok_req, cases, MTLB_ARRAY_LEN(cases));
}

ParameterizedTest(struct ok_req *t, h2map, request_ok)
{
    struct req *r = malloc(sizeof(*r));
    char got[512];

    cr_assert_not_null(r);
    cr_assert_eq(build(r, t->fields, t->end_stream), 0, "refused: %s", t->fields);
    format_headers(&r->msg, got, sizeof(got));
    cr_assert_str_eq(got, t->headers, "for %s", t->fields);
    cr_assert(slice_is(r->msg.headers[0].name, "host"), "host first");
    cr_assert_eq(r->msg.body, t->body, "%s", t->fields);
    cr_assert_eq(r->msg.content_length, t->content_length);
    cr_assert_eq(r->msg.minor_version, 1);
    cr_assert(r->msg.keep_alive);
    cr_assert_not(r->msg.expect_continue);
    cr_assert_not(r->msg.upgrade);
    cr_assert_eq(r->msg.status, 0);
    cr_assert_eq(r->msg.reason.len, 0);
    cr_assert_eq(r->msg.error_reason, NULL);
    cr_assert_eq(r->msg.max_headers, MAX_HDRS);
    cr_assert_eq(r->msg.headers, r->hdrs);
    cr_assert_eq(r->fl.f[0].name.p, r->fl.buf, "fixture");
    free(r);
}

struct bad_req {
    char fields[400];
    bool end_stream;
    int expect;
};

ParameterizedTestParameters(h2map, request_refused)
{
    static struct bad_req cases[] = {
        {":method: GET\n:scheme: https\n:authority: a", true, -EINVAL}, /* no :path */
        {":scheme: https\n:authority: a\n:path: /", true, -EINVAL},     /* no :method */
        {":method: GET\n:authority: a\n:path: /", true, -EINVAL},       /* no :scheme */
        {":method: GET" REQ "\n:path: /x", true, -EINVAL},              /* repeated */
        {":method: GET" REQ "\n:method: GET", true, -EINVAL},           /* repeated */
        {":method: GET" REQ "\n:authority: b", true, -EINVAL},          /* repeated */
        {":method: GET\n:scheme: https\n:authority: a\nx: y\n:path: /", true,
         -EINVAL}, /* pseudo after */
        {":method: GET\n:scheme: https\n:path: /\nx: y\n:authority: b", true,
         -EINVAL},                                                    /* pseudo after */
        {":method: GET" REQ "\n:status: 200", true, -EINVAL},         /* response pseudo */
        {":method: GET" REQ "\n:protocol: websocket", true, -EINVAL}, /* no extended CONNECT */
        {":method: GET" REQ "\n:x: y", true, -EINVAL},                /* unknown pseudo */
        {":method: CONNECT\n:authority: a:443", false, -ENOTSUP},     /* tunnels */
        {":method: CONNECT\n:scheme: https\n:authority: a\n:path: /", false, -ENOTSUP},
        {":method: GET\n:scheme: https\n:path: /", true, -EINVAL}, /* no authority */
        {":method: GET\n:scheme: https\n:path: /\nhost: a\nhost: b", true, -EINVAL},
        {":method: GET" REQ "\nhost: a\nhost: b", true, -EINVAL}, /* several host */
        {":method: POST" REQ "\ncontent-length: abc", false, -EINVAL},
        {":method: POST" REQ "\ncontent-length: ", false, -EINVAL},
        {":method: POST" REQ "\ncontent-length: +5", false, -EINVAL},
        {":method: POST" REQ "\ncontent-length: -1", false, -EINVAL},
        {":method: POST" REQ "\ncontent-length:  5", false, -EINVAL},
        {":method: POST" REQ "\ncontent-length: 5 ", false, -EINVAL},
        {":method: POST" REQ "\ncontent-length: 5,5", false, -EINVAL},
        {":method: POST" REQ "\ncontent-length: 0x5", false, -EINVAL},
        {":method: POST" REQ "\ncontent-length: 9223372036854775808", false, -EINVAL},
        {":method: POST" REQ "\ncontent-length: 99999999999999999999", false, -EINVAL},
        {":method: POST" REQ "\ncontent-length: 5\ncontent-length: 5", false, -EINVAL},
        {":method: POST" REQ "\ncontent-length: 5", true, -EINVAL}, /* no DATA can follow */
        {":method: GET" REQ "\nte: gzip", true, -EINVAL},
        {":method: GET" REQ "\nte: trailers, gzip", true, -EINVAL},
        {":method: GET" REQ "\nconnection: keep-alive", true, -EINVAL},
        {":method: GET" REQ "\nkeep-alive: 5", true, -EINVAL},
        {":method: GET" REQ "\nproxy-connection: x", true, -EINVAL},
        {":method: POST" REQ "\ntransfer-encoding: chunked", false, -EINVAL},
        {":method: GET" REQ "\nupgrade: h2c", true, -EINVAL},
        {":method: GET" REQ "\nX-Upper: 1", true, -EINVAL},
        {":method: GET" REQ "\nx y: 1", true, -EINVAL},
        {":method: GET" REQ "\nx: a\x01"
         "b",
         true, -EINVAL},
        {":method: GET" REQ "\nx: a\x7f", true, -EINVAL},
        {":method: GET" REQ "\nx: a\rb", true, -EINVAL},
        {":method: GET\n:scheme: https\n:authority: a\n:path: ", true, -EINVAL},
        {":method: GET\n:scheme: https\n:authority: a\n:path: x", true, -EINVAL},
        {":method: GET\n:scheme: https\n:authority: a\n:path: *", true, -EINVAL},
        {":method: GET\n:scheme: https\n:authority: a\n:path: /a b", true, -EINVAL},
        {":method: GET\n:scheme: https\n:authority: a\n:path: /a\x7f", true, -EINVAL},
        {":method: GE T" REQ, true, -EINVAL},
        {":method: " REQ, true, -EINVAL},
        {":method: GET\n:scheme: \n:authority: a\n:path: /", true, -EINVAL},
        {":method: GET\n:scheme: https\n:authority: u@a\n:path: /", true, -EINVAL},
        {":method: GET\n:scheme: https\n:authority: a b\n:path: /", true, -EINVAL},
        {":method: GET\n:scheme: https\n:authority: a\rb\n:path: /", true, -EINVAL},
    };
    return cr_make_param_array(struct bad_req, cases, MTLB_ARRAY_LEN(cases));
}

ParameterizedTest(struct bad_req *t, h2map, request_refused)
{
    struct req *r = malloc(sizeof(*r));

    cr_assert_not_null(r);
    cr_assert_eq(build(r, t->fields, t->end_stream), t->expect, "%s", t->fields);
    free(r);
}

Test(h2map, request_refuses_lf_and_nul_in_values)
{
    struct mtlb_h1_header hdrs[4];
    struct mtlb_h1_message msg = {.headers = hdrs, .max_headers = 4};
    char scratch[16];
    struct mtlb_h2_field f[] = {
        {{":method", 7}, {"GET", 3}},   {{":scheme", 7}, {"https", 5}},
        {{":authority", 10}, {"a", 1}}, {{":path", 5}, {"/", 1}},
        {{"x", 1}, {"a\nb", 3}},
    };

    cr_assert_eq(mtlb_h2_request_msg(f, 5, true, &msg, scratch, sizeof(scratch)), -EINVAL);
    f[4].value = (struct mtlb_slice){"a\0b", 3};
    cr_assert_eq(mtlb_h2_request_msg(f, 5, true, &msg, scratch, sizeof(scratch)), -EINVAL);
    f[4].name = (struct mtlb_slice){"", 0};
    f[4].value = (struct mtlb_slice){"v", 1};
    cr_assert_eq(mtlb_h2_request_msg(f, 5, true, &msg, scratch, sizeof(scratch)), -EINVAL);
    cr_assert_eq(mtlb_h2_request_msg(f, 4, true, &msg, scratch, sizeof(scratch)), 0);
}

Test(h2map, request_single_cookie_needs_no_scratch)
{
    struct req *r = malloc(sizeof(*r));

    cr_assert_not_null(r);
    parse_fields(&r->fl, ":method: GET" REQ "\ncookie: a=1");
    r->msg.headers = r->hdrs;
    r->msg.max_headers = MAX_HDRS;
    cr_assert_eq(mtlb_h2_request_msg(r->fl.f, r->fl.n, true, &r->msg, NULL, 0), 0);
    cr_assert_eq(r->msg.headers[1].value.p, r->fl.f[4].value.p, "points into the field");
    free(r);
}

/* Every buffer size below the need is -ENOSPC; the exact size works. */
Test(h2map, request_exact_fit)
{
    struct req *r = malloc(sizeof(*r));
    const char *spec = ":method: POST" REQ "\ncookie: ab\nx: 1\ncookie: cd\ncookie: e";
    const size_t joined = strlen("ab; cd; e");

    cr_assert_not_null(r);
    parse_fields(&r->fl, spec);
    r->msg.headers = r->hdrs;
    /* host, cookie, x, transfer-encoding */
    for (size_t max = 0; max <= 4; max++) {
        r->msg.max_headers = max;
        int rc = mtlb_h2_request_msg(r->fl.f, r->fl.n, false, &r->msg, r->scratch, joined);
        cr_assert_eq(rc, max == 4 ? 0 : -ENOSPC, "max_headers %zu", max);
    }
    cr_assert_eq(r->msg.num_headers, 4);
    cr_assert(slice_is(r->msg.headers[1].value, "ab; cd; e"));
    r->msg.max_headers = MAX_HDRS;
    for (size_t cap = 0; cap < joined; cap++) {
        cr_assert_eq(mtlb_h2_request_msg(r->fl.f, r->fl.n, false, &r->msg, r->scratch, cap),
                     -ENOSPC, "cap %zu", cap);
    }
    free(r);
}

/* ---- together with mtlb_rewrite_request: the head the backend receives ---- */

static const struct mtlb_identity id_alice = {
    .verify = MTLB_VERIFY_SUCCESS,
    .subject = "/CN=alice",
    .issuer = "/CN=Org CA",
    .serial = "1A2B",
};

/* As the relay does: resolve the authority (the 421 check sees it), then write the head. */
static ssize_t backend_head(struct req *r, char *out, size_t cap)
{
    struct mtlb_authority_request ar;
    struct mtlb_rewrite_req rw = {
        .identity = &id_alice, .client_ip = "10.0.0.7", .proto = "https", .target = &ar};

    cr_assert_eq(mtlb_authority_from_request(&r->msg, &ar), 0);
    return mtlb_rewrite_request(&r->msg, &rw, out, cap);
}

#define EDGE_FIELDS                                                                                \
    "X-SSL-Client-Verify: SUCCESS\r\nX-SSL-Client-DN: /CN=alice\r\nX-SSL-Issuer: /CN=Org CA\r\n"   \
    "X-SSL-Client-Serial: 1A2B\r\nX-Forwarded-For: 10.0.0.7\r\nX-Real-IP: 10.0.0.7\r\n"            \
    "X-Forwarded-Proto: https\r\n"

/* The head re-parses as a valid HTTP/1.1 request with the framing the relay will use. */
static void reparse(const char *head, size_t len, const struct mtlb_h1_message *want)
{
    struct mtlb_h1_header hdrs[32];
    struct mtlb_h1_message m = {.headers = hdrs, .max_headers = 32};

    cr_assert_eq(mtlb_h1_parse_request(head, len, &m), (int)len, "%s", m.error_reason);
    cr_assert_eq(m.body, want->body);
    cr_assert_eq(m.content_length, want->content_length);
    cr_assert(m.keep_alive);
    cr_assert_eq(m.minor_version, 1);
}

Test(h2map, backend_head_chunked_post)
{
    struct req *r = malloc(sizeof(*r));
    char head[1024];
    const char *want = "POST /upload?x=1 HTTP/1.1\r\n"
                       "Host: example.com\r\n"
                       "user-agent: curl/7.88\r\n"
                       "cookie: a=1; b=2\r\n"
                       "accept: */*\r\n"
                       "Transfer-Encoding: chunked\r\n" EDGE_FIELDS "\r\n";

    cr_assert_not_null(r);
    cr_assert_eq(
        build(r,
              ":method: POST\n:scheme: https\n:authority: example.com\n"
              ":path: /upload?x=1\nuser-agent: curl/7.88\ncookie: a=1\n"
              "x-ssl-client-verify: SUCCESS\ncookie: b=2\naccept: */*\nte: trailers\n"
              "host: example.com:443\nx-forwarded-for: 1.2.3.4\nx-ssl-client-dn: /CN=root\n"
              "trailer: x-sum\nx-real-ip: 1.2.3.4\nforwarded: for=1.2.3.4",
              false),
        0);
    ssize_t n = backend_head(r, head, sizeof(head));
    cr_assert_eq(n, (ssize_t)strlen(want), "%.*s", (int)(n > 0 ? n : 0), head);
    cr_assert(memcmp(head, want, (size_t)n) == 0, "%.*s", (int)n, head);
    reparse(head, (size_t)n, &r->msg);
    cr_assert_eq(r->msg.body, MTLB_BODY_CHUNKED);
    free(r);
}

Test(h2map, backend_head_get_and_length)
{
    struct req *r = malloc(sizeof(*r));
    char head[1024];
    const char *get = "GET /a HTTP/1.1\r\nHost: h.example\r\naccept: x\r\n" EDGE_FIELDS "\r\n";
    const char *put = "PUT /b HTTP/1.1\r\nHost: example.com\r\nexpect: other\r\n"
                      "Content-Length: 12\r\n" EDGE_FIELDS "\r\n";

    cr_assert_not_null(r);
    /* Host from a host field when there is no :authority */
    cr_assert_eq(
        build(r, ":method: GET\n:scheme: https\n:path: /a\naccept: x\nhost: h.example", true), 0);
    ssize_t n = backend_head(r, head, sizeof(head));
    cr_assert_eq(n, (ssize_t)strlen(get), "%.*s", (int)(n > 0 ? n : 0), head);
    cr_assert(memcmp(head, get, (size_t)n) == 0, "%.*s", (int)n, head);
    reparse(head, (size_t)n, &r->msg);

    cr_assert_eq(build(r,
                       ":method: PUT\n:scheme: https\n:authority: example.com\n:path: /b\n"
                       "content-length: 12\nexpect: 100-continue\nexpect: other",
                       false),
                 0);
    n = backend_head(r, head, sizeof(head));
    cr_assert_eq(n, (ssize_t)strlen(put), "%.*s", (int)(n > 0 ? n : 0), head);
    cr_assert(memcmp(head, put, (size_t)n) == 0, "%.*s", (int)n, head);
    reparse(head, (size_t)n, &r->msg);
    cr_assert_eq(r->msg.body, MTLB_BODY_LENGTH);
    free(r);
}

/* ---- authority: :authority and host ---- */

#define GET_A(a) ":method: GET\n:scheme: https\n:authority: " a "\n:path: /"

/* RFC 9113 section 8.3.1: both must name the same origin; each goes through the parser that
 * decides 421 (tests/unit/test_authority.c has the parser's own cases). */
ParameterizedTestParameters(h2map, authority_and_host)
{
    static struct bad_req cases[] = {
        {GET_A("api.test") "\nhost: api.test", true, 0},
        {GET_A("api.test") "\nhost: API.test.", true, 0},
        {GET_A("api.test") "\nhost: api.test:443", true, 0}, /* https default port */
        {GET_A("api.test:443") "\nhost: api.test", true, 0},
        {GET_A("[::1]") "\nhost: [::1]:443", true, 0},
        {GET_A("api.test") "\nhost: other.test", true, -EINVAL},
        {GET_A("api.test") "\nhost: other.test.", true, -EINVAL},
        {GET_A("api.test") "\nhost: api.test:8443", true, -EINVAL},
        {GET_A("api.test:80") "\nhost: api.test", true, -EINVAL},
        {GET_A("api.test") "\nhost: x@api.test", true, -EINVAL},
        {GET_A("api.test") "\nhost: ", true, -EINVAL},
        {GET_A("other.test.") "\nhost: api.test", true, -EINVAL},
        {":method: GET\n:scheme: http\n:authority: a.test:80\n:path: /\nhost: a.test", true, 0},
        {":method: GET\n:scheme: http\n:authority: a.test:443\n:path: /\nhost: a.test", true,
         -EINVAL},
        {GET_A("x@other.test"), true, -EINVAL},
        {GET_A("other.test:x"), true, -EINVAL},
        {GET_A("other%2etest"), true, -EINVAL},
        {GET_A("."), true, -EINVAL},
        {GET_A(""), true, -EINVAL},
        {":method: GET\n:scheme: https\n:path: /\nhost: x@other.test", true, -EINVAL},
        {":method: GET\n:scheme: https\n:path: /\nhost: other..test", true, -EINVAL},
        {":method: GET\n:scheme: https\n:path: /\nhost: ", true, -EINVAL},
    };
    return cr_make_param_array(struct bad_req, cases, MTLB_ARRAY_LEN(cases));
}

ParameterizedTest(struct bad_req *t, h2map, authority_and_host)
{
    struct req *r = malloc(sizeof(*r));

    cr_assert_not_null(r);
    cr_assert_eq(build(r, t->fields, t->end_stream), t->expect, "%s", t->fields);
    free(r);
}

/* Whatever the spelling, the backend gets the normalized authority the 421 check saw. */
Test(h2map, backend_gets_the_normalized_authority)
{
    struct req *r = malloc(sizeof(*r));
    char head[1024];
    const char *want = "GET / HTTP/1.1\r\nHost: api.test:443\r\n" EDGE_FIELDS "\r\n";

    cr_assert_not_null(r);
    cr_assert_eq(build(r, GET_A("API.Test.:0443") "\nhost: api.test", true), 0);
    ssize_t n = backend_head(r, head, sizeof(head));
    cr_assert_eq(n, (ssize_t)strlen(want), "%.*s", (int)(n > 0 ? n : 0), head);
    cr_assert(memcmp(head, want, (size_t)n) == 0, "%.*s", (int)n, head);
    free(r);
}

/* ---- responses ---- */

struct resp {
    struct mtlb_h1_header hdrs[MAX_HDRS];
    struct mtlb_h1_message msg;
    nghttp2_nv nva[MAX_HDRS + 1];
    char scratch[256];
};

static void parse_resp(struct resp *r, const char *s)
{
    memset(&r->msg, 0, sizeof(r->msg));
    r->msg.headers = r->hdrs;
    r->msg.max_headers = MAX_HDRS;
    cr_assert_eq(mtlb_h1_parse_response(s, strlen(s), false, &r->msg), (int)strlen(s),
                 "fixture: %s", r->msg.error_reason);
}

static void format_nv(const nghttp2_nv *nva, size_t n, char *out, size_t cap)
{
    size_t at = 0;

    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(nva[i].flags, NGHTTP2_NV_FLAG_NONE);
        int k =
            snprintf(out + at, cap - at, "%.*s: %.*s\n", (int)nva[i].namelen,
                     (const char *)nva[i].name, (int)nva[i].valuelen, (const char *)nva[i].value);
        cr_assert(k > 0 && (size_t)k < cap - at);
        at += (size_t)k;
    }
}

static const char resp_head[] = "HTTP/1.1 404 Not Found\r\n"
                                "Content-Type: text/plain\r\n"
                                "Connection: X-Trace, content-length, close\r\n"
                                "X-Trace: 1\r\n"
                                "Keep-Alive: timeout=5\r\n"
                                "Proxy-Connection: x\r\n"
                                "TE: trailers\r\n"
                                "Upgrade: h2c\r\n"
                                "Set-Cookie: a=1\r\n"
                                "Set-Cookie: b=2\r\n"
                                "Content-Length: 9\r\n"
                                "X-MiXeD-Case: V a l\r\n"
                                "\r\n";
static const char resp_nv[] = ":status: 404\ncontent-type: text/plain\nset-cookie: a=1\n"
                              "set-cookie: b=2\ncontent-length: 9\nx-mixed-case: V a l\n";

Test(h2map, response_nv)
{
    struct resp *r = malloc(sizeof(*r));
    char got[512];

    cr_assert_not_null(r);
    parse_resp(r, resp_head);
    ssize_t n = mtlb_h2_response_nv(&r->msg, r->nva, MAX_HDRS + 1, r->scratch, sizeof(r->scratch));
    cr_assert_eq(n, 6);
    format_nv(r->nva, (size_t)n, got, sizeof(got));
    cr_assert_str_eq(got, resp_nv);
    for (ssize_t i = 1; i < n; i++) {
        const char *v = (const char *)r->nva[i].value;
        cr_assert(v >= resp_head && v < resp_head + sizeof(resp_head), "value in resp's buffer");
    }
    free(r);
}

Test(h2map, response_nv_chunked_drops_framing)
{
    struct resp *r = malloc(sizeof(*r));
    char got[256];

    cr_assert_not_null(r);
    parse_resp(r, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n");
    ssize_t n = mtlb_h2_response_nv(&r->msg, r->nva, MAX_HDRS + 1, r->scratch, sizeof(r->scratch));
    cr_assert_eq(n, 2);
    format_nv(r->nva, (size_t)n, got, sizeof(got));
    cr_assert_str_eq(got, ":status: 200\ntrailer: X-Sum\n");
    free(r);
}

/* A 204 carries no Content-Length (RFC 9110 8.6): nghttp2 clients reset a stream whose 204
 * says a length other than 0 (PROTOCOL_ERROR, seen with curl); a 304's is kept. */
Test(h2map, response_nv_204_drops_content_length)
{
    struct resp *r = malloc(sizeof(*r));
    char got[256];

    cr_assert_not_null(r);
    parse_resp(r, "HTTP/1.1 204 No Content\r\nContent-Length: 100000\r\nX-A: 1\r\n\r\n");
    ssize_t n = mtlb_h2_response_nv(&r->msg, r->nva, MAX_HDRS + 1, r->scratch, sizeof(r->scratch));
    cr_assert_eq(n, 2);
    format_nv(r->nva, (size_t)n, got, sizeof(got));
    cr_assert_str_eq(got, ":status: 204\nx-a: 1\n");
    parse_resp(r, "HTTP/1.1 304 Not Modified\r\nContent-Length: 100000\r\n\r\n");
    n = mtlb_h2_response_nv(&r->msg, r->nva, MAX_HDRS + 1, r->scratch, sizeof(r->scratch));
    cr_assert_eq(n, 2);
    format_nv(r->nva, (size_t)n, got, sizeof(got));
    cr_assert_str_eq(got, ":status: 304\ncontent-length: 100000\n");
    free(r);
}

Test(h2map, response_nv_exact_fit)
{
    struct resp *r = malloc(sizeof(*r));
    /* "404" and the kept names */
    size_t need = 3 + strlen("content-type") + 2 * strlen("set-cookie") + strlen("content-length") +
                  strlen("x-mixed-case");

    cr_assert_not_null(r);
    parse_resp(r, resp_head);
    for (size_t max = 0; max < 6; max++) {
        cr_assert_eq(mtlb_h2_response_nv(&r->msg, r->nva, max, r->scratch, sizeof(r->scratch)),
                     -ENOSPC, "max %zu", max);
    }
    for (size_t cap = 0; cap < need; cap++) {
        cr_assert_eq(mtlb_h2_response_nv(&r->msg, r->nva, 6, r->scratch, cap), -ENOSPC, "cap %zu",
                     cap);
    }
    cr_assert_eq(mtlb_h2_response_nv(&r->msg, r->nva, 6, r->scratch, need), 6);
    free(r);
}

Test(h2map, response_nv_status_range)
{
    struct mtlb_h1_message m = {.status = 99};
    nghttp2_nv nv[1];
    char scratch[8];

    cr_assert_eq(mtlb_h2_response_nv(&m, nv, 1, scratch, sizeof(scratch)), -EINVAL);
    m.status = 1000;
    cr_assert_eq(mtlb_h2_response_nv(&m, nv, 1, scratch, sizeof(scratch)), -EINVAL);
    m.status = 103;
    cr_assert_eq(mtlb_h2_response_nv(&m, nv, 1, scratch, sizeof(scratch)), 1);
    cr_assert(nv[0].valuelen == 3 && memcmp(nv[0].value, "103", 3) == 0);
}

/* ---- trailers ---- */

static const char trailer_lines[] = "X-Sum: abc \t\r\n"
                                    "Content-Length: 5\r\n"
                                    "EXPIRES:never\r\n"
                                    "Host: h\r\n"
                                    "TE: x\r\n"
                                    "Connection: y\r\n"
                                    "Keep-Alive: z\r\n"
                                    "Proxy-Connection: a\r\n"
                                    "Upgrade: b\r\n"
                                    "Transfer-Encoding: c\r\n"
                                    "X-Empty:\r\n"
                                    "grpc-message: a: b\r\n";
static const char trailer_want[] = "x-sum: abc\nexpires: never\nx-empty: \ngrpc-message: a: b\n";

Test(h2map, trailer_nv)
{
    nghttp2_nv nva[8];
    char scratch[64];
    char got[256];
    size_t len = strlen(trailer_lines);

    ssize_t n = mtlb_h2_trailer_nv(trailer_lines, len, nva, 8, scratch, sizeof(scratch));
    cr_assert_eq(n, 4);
    format_nv(nva, (size_t)n, got, sizeof(got));
    cr_assert_str_eq(got, trailer_want);
    cr_assert_eq(mtlb_h2_trailer_nv("", 0, nva, 0, NULL, 0), 0);

    size_t need = strlen("x-sum") + strlen("expires") + strlen("x-empty") + strlen("grpc-message");
    for (size_t max = 0; max < 4; max++) {
        cr_assert_eq(mtlb_h2_trailer_nv(trailer_lines, len, nva, max, scratch, sizeof(scratch)),
                     -ENOSPC);
    }
    for (size_t cap = 0; cap < need; cap++) {
        cr_assert_eq(mtlb_h2_trailer_nv(trailer_lines, len, nva, 4, scratch, cap), -ENOSPC);
    }
    cr_assert_eq(mtlb_h2_trailer_nv(trailer_lines, len, nva, 4, scratch, need), 4);
}

Test(h2map, trailer_nv_malformed)
{
    nghttp2_nv nva[4];
    char scratch[64];
    const char *bad[] = {"X-Sum abc\r\n", "X-Sum: abc", "X: 1\r\nY: 2",
                         ": v\r\n",       "a b: c\r\n", "X: 1\n"};

    for (size_t i = 0; i < MTLB_ARRAY_LEN(bad); i++) {
        cr_assert_eq(mtlb_h2_trailer_nv(bad[i], strlen(bad[i]), nva, 4, scratch, sizeof(scratch)),
                     -EINVAL, "%s", bad[i]);
    }
}

/* The relay's path: trailer bytes collected by the decoding walk in pieces, then mapped. */
Test(h2map, trailer_nv_from_chunked_walk)
{
    char body[512];
    char trl[512];
    size_t tlen = 0;
    size_t at = 0;
    struct mtlb_h1_chunked c;
    bool done = false;
    nghttp2_nv nva[8];
    char scratch[64];
    char got[256];

    snprintf(body, sizeof(body), "3\r\nabc\r\n0\r\n%s\r\n", trailer_lines);
    size_t len = strlen(body);
    mtlb_h1_chunked_init(&c);
    /* pieces of 7 bytes: trailer lines arrive split */
    for (size_t fed = 7; !done; fed = fed + 7 < len ? fed + 7 : len) {
        cr_assert(at <= fed && fed <= len, "body not done after all its bytes");
        for (;;) {
            size_t dl;
            size_t tl;
            ssize_t k = mtlb_h1_chunked_next(&c, body + at, fed - at, &dl, &tl, &done);
            cr_assert(k >= 0);
            size_t end = at + (size_t)k - (done ? 2 : 0);
            memcpy(trl + tlen, body + end - tl, tl);
            tlen += tl;
            at += (size_t)k;
            mtlb_h1_chunked_take(&c, dl);
            at += dl;
            if (done || (k == 0 && dl == 0)) {
                break;
            }
        }
        cr_assert(done || fed < len, "body not done after all its bytes");
    }
    cr_assert_eq(at, len);
    cr_assert_eq(tlen, strlen(trailer_lines));
    ssize_t n = mtlb_h2_trailer_nv(trl, tlen, nva, 8, scratch, sizeof(scratch));
    cr_assert_eq(n, 4);
    format_nv(nva, (size_t)n, got, sizeof(got));
    cr_assert_str_eq(got, trailer_want);
}

Test(h2map, trailer_block)
{
    struct fields fl;
    char out[256];
    const char *want = "0\r\nx-checksum: abc\r\ngrpc-status: 0\r\nx-e: \r\n\r\n";
    struct mtlb_h1_chunked c;
    bool done;

    parse_fields(&fl, ":path: /\nx-checksum: abc\ncontent-length: 5\ngrpc-status: 0\nhost: x\n"
                      "te: trailers\nconnection: c\nkeep-alive: k\nproxy-connection: p\n"
                      "transfer-encoding: chunked\nupgrade: u\nx-e: ");
    ssize_t n = mtlb_h2_trailer_block(fl.f, fl.n, NULL, out, sizeof(out));
    cr_assert_eq(n, (ssize_t)strlen(want), "%.*s", (int)(n > 0 ? n : 0), out);
    cr_assert(memcmp(out, want, (size_t)n) == 0);
    /* what the backend's parser sees: a complete, valid end of the chunked body */
    mtlb_h1_chunked_init(&c);
    cr_assert_eq(mtlb_h1_chunked_scan(&c, out, (size_t)n, &done), n);
    cr_assert(done);

    for (size_t cap = 0; cap < (size_t)n; cap++) {
        cr_assert_eq(mtlb_h2_trailer_block(fl.f, fl.n, NULL, out, cap), -ENOSPC, "cap %zu", cap);
    }
    cr_assert_eq(mtlb_h2_trailer_block(fl.f, 0, NULL, out, 5), 5);
    cr_assert(memcmp(out, "0\r\n\r\n", 5) == 0);
}

/* HTTP/2 request trailers towards the backend: no protected name in any spelling, no name
 * with "_" unless the policy passes them. */
Test(h2map, trailer_block_drops_forged_identity)
{
    struct fields fl;
    char out[512];
    const struct mtlb_header_policy pass = {MTLB_US_PASS, true};
    const struct mtlb_header_policy reject = {MTLB_US_REJECT, true};
    const char *want = "0\r\nx-sum: 1\r\n\r\n";
    const char *want_pass = "0\r\nx-sum: 1\r\nx_custom: 2\r\n\r\n";

    parse_fields(&fl, "x-ssl-client-verify: SUCCESS\nx_ssl_client_verify: SUCCESS\n"
                      "x-ssl_client-dn: /CN=admin\nx-sum: 1\nx_forwarded_for: 10.6.6.6\n"
                      "x-forwarded-for: 10.6.6.6\nx_real_ip: 10.6.6.6\nx-real-ip: 10.6.6.6\n"
                      "forwarded: for=10.6.6.6\nx-ssl-issuer: /CN=Evil\nx_custom: 2");
    ssize_t n = mtlb_h2_trailer_block(fl.f, fl.n, NULL, out, sizeof(out));
    cr_assert_eq(n, (ssize_t)strlen(want), "%.*s", (int)(n > 0 ? n : 0), out);
    cr_assert(memcmp(out, want, (size_t)n) == 0);
    n = mtlb_h2_trailer_block(fl.f, fl.n, &reject, out, sizeof(out));
    cr_assert_eq(n, (ssize_t)strlen(want), "reject acts as drop in trailers");
    n = mtlb_h2_trailer_block(fl.f, fl.n, &pass, out, sizeof(out));
    cr_assert_eq(n, (ssize_t)strlen(want_pass), "%.*s", (int)(n > 0 ? n : 0), out);
    cr_assert(memcmp(out, want_pass, (size_t)n) == 0);
}

/* The backend head of an HTTP/2 request: forged headers in "_" spellings are gone, and the
 * content-length is written in one canonical form. */
Test(h2map, backend_head_underscores_and_length)
{
    struct req *r = malloc(sizeof(*r));
    char head[1024];
    const char *want = "POST /b HTTP/1.1\r\nHost: example.com\r\nx-ok: 1\r\n"
                       "Content-Length: 5\r\n" EDGE_FIELDS "\r\n";

    cr_assert_not_null(r);
    cr_assert_eq(build(r,
                       ":method: POST\n:scheme: https\n:authority: example.com\n:path: /b\n"
                       "x_ssl_client_verify: SUCCESS\nx-ssl_client-dn: /CN=admin\n"
                       "x_forwarded_for: 10.6.6.6\nx_real_ip: 10.6.6.6\ncontent-length: 005\n"
                       "x_custom: 1\nx-ok: 1",
                       false),
                 0);
    ssize_t n = backend_head(r, head, sizeof(head));
    cr_assert_eq(n, (ssize_t)strlen(want), "%.*s", (int)(n > 0 ? n : 0), head);
    cr_assert(memcmp(head, want, (size_t)n) == 0, "%.*s", (int)n, head);
    free(r);
}

Test(h2map, trailer_block_refuses_injection)
{
    char out[256];
    struct mtlb_h2_field f[] = {{{"x-a", 3}, {"1", 1}}, {{"x-b", 3}, {"v", 1}}};
    struct mtlb_slice bad_values[] = {
        {"a\r\nx-evil: 1", 12}, {"a\nb", 3}, {"a\rb", 3}, {"a\0b", 3}, {"a\x01", 2}, {"\x7f", 1},
    };
    struct mtlb_slice bad_names[] = {{"X-B", 3}, {"x b", 3}, {"x\r\nb", 4}, {"", 0}, {"x:", 2}};

    for (size_t i = 0; i < MTLB_ARRAY_LEN(bad_values); i++) {
        f[1].value = bad_values[i];
        cr_assert_eq(mtlb_h2_trailer_block(f, 2, NULL, out, sizeof(out)), -EINVAL, "value %zu", i);
    }
    f[1].value = (struct mtlb_slice){"v\tw", 3};
    for (size_t i = 0; i < MTLB_ARRAY_LEN(bad_names); i++) {
        f[1].name = bad_names[i];
        cr_assert_eq(mtlb_h2_trailer_block(f, 2, NULL, out, sizeof(out)), -EINVAL, "name %zu", i);
    }
    f[1].name = (struct mtlb_slice){"x-b", 3};
    cr_assert_eq(mtlb_h2_trailer_block(f, 2, NULL, out, sizeof(out)), 23);
    cr_assert(memcmp(out, "0\r\nx-a: 1\r\nx-b: v\tw\r\n\r\n", 23) == 0);
}
