/* Unit tests for the HTTP/1.1 head parser (src/http/h1.c): accepted syntax, every refusal
 * rule, framing and connection semantics, and over-read safety with a guard page. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#include "../../src/http/h1_chars.h"
#include "guard_page.h"
#include "mtlb/h1.h"

#define MAX_HDRS 16

struct parsed {
    struct guarded g;
    struct mtlb_h1_header hdrs[MAX_HDRS];
    struct mtlb_h1_message msg;
    int rc;
};

static void init_msg(struct parsed *p, size_t max_headers)
{
    memset(&p->msg, 0x5a, sizeof(p->msg)); /* outputs must all be written by the parser */
    p->msg.headers = p->hdrs;
    p->msg.max_headers = max_headers;
}

static int parse_req_n(struct parsed *p, const char *s, size_t len, size_t max_headers)
{
    init_msg(p, max_headers);
    guard_copy(&p->g, s, len);
    p->rc = mtlb_h1_parse_request(p->g.p, len, &p->msg);
    return p->rc;
}

static int parse_req(struct parsed *p, const char *s)
{
    return parse_req_n(p, s, strlen(s), MAX_HDRS);
}

static int parse_resp(struct parsed *p, const char *s, bool head)
{
    init_msg(p, MAX_HDRS);
    guard_copy(&p->g, s, strlen(s));
    p->rc = mtlb_h1_parse_response(p->g.p, strlen(s), head, &p->msg);
    return p->rc;
}

static bool slice_eq(struct mtlb_slice s, const char *want)
{
    return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

/* ---- accepted requests ---- */

Test(h1_parser, parses_simple_get)
{
    struct parsed p;
    const char *req = "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\n"
                      "User-Agent: t/1\r\n\r\n";

    cr_assert_eq(parse_req(&p, req), (int)strlen(req));
    cr_assert(slice_eq(p.msg.method, "GET"));
    cr_assert(slice_eq(p.msg.target, "/index.html?q=1"));
    cr_assert_eq(p.msg.minor_version, 1);
    cr_assert_eq(p.msg.num_headers, 2);
    cr_assert(slice_eq(p.msg.headers[0].name, "Host"));
    cr_assert(slice_eq(p.msg.headers[0].value, "example.com"));
    cr_assert(slice_eq(p.msg.headers[1].name, "User-Agent"));
    cr_assert(slice_eq(p.msg.headers[1].value, "t/1"));
    cr_assert_eq(p.msg.body, MTLB_BODY_NONE);
    cr_assert_eq(p.msg.content_length, 0);
    cr_assert(p.msg.keep_alive);
    cr_assert_not(p.msg.expect_continue);
    cr_assert_not(p.msg.upgrade);
    cr_assert_eq(p.msg.error_status, 0);
    cr_assert_null(p.msg.error_reason);
    /* zero copy: slices point into the caller's buffer */
    cr_assert_eq(p.msg.method.p, p.g.p);
    cr_assert_eq(p.msg.target.p, p.g.p + 4);
    guard_free(&p.g);
}

Test(h1_parser, returns_head_length_of_first_pipelined_request)
{
    struct parsed p;
    const char *one = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
    char two[128];

    snprintf(two, sizeof(two), "%sGET /b HTTP/1.1\r\nHost: h\r\n\r\n", one);
    cr_assert_eq(parse_req(&p, two), (int)strlen(one));
    cr_assert(slice_eq(p.msg.target, "/a"));
}

Test(h1_parser, post_with_content_length)
{
    struct parsed p;
    const char *req = "POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 0042\r\n\r\nbody";

    cr_assert_eq(parse_req(&p, req), (int)strlen(req) - 4);
    cr_assert_eq(p.msg.body, MTLB_BODY_LENGTH);
    cr_assert_eq(p.msg.content_length, 42);
}

Test(h1_parser, content_length_zero_is_no_body)
{
    struct parsed p;

    cr_assert_gt(parse_req(&p, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"), 0);
    cr_assert_eq(p.msg.body, MTLB_BODY_NONE);
    cr_assert_eq(p.msg.content_length, 0);
}

Test(h1_parser, largest_content_length)
{
    struct parsed p;

    cr_assert_gt(
        parse_req(&p, "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775807\r\n\r\n"),
        0);
    cr_assert_eq(p.msg.content_length, 9223372036854775807ULL);
}

Test(h1_parser, chunked_request)
{
    struct parsed p;

    cr_assert_gt(parse_req(&p, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"),
                 0);
    cr_assert_eq(p.msg.body, MTLB_BODY_CHUNKED);
}

Test(h1_parser, field_value_ows_trimmed_and_inner_kept)
{
    struct parsed p;

    cr_assert_gt(parse_req(&p, "GET / HTTP/1.1\r\nHost:h\r\nX-A: \t a \t b \t \r\nX-B:\r\n\r\n"),
                 0);
    cr_assert(slice_eq(p.msg.headers[0].value, "h"));
    cr_assert(slice_eq(p.msg.headers[1].value, "a \t b"));
    cr_assert_eq(p.msg.headers[2].value.len, 0);
}

Test(h1_parser, absolute_form_target)
{
    struct parsed p;

    cr_assert_gt(parse_req(&p, "GET http://example.com:8080/p?x HTTP/1.1\r\nHost: e\r\n\r\n"), 0);
    cr_assert(slice_eq(p.msg.target, "http://example.com:8080/p?x"));
}

Test(h1_parser, obs_text_in_value_and_target)
{
    struct parsed p;

    cr_assert_gt(parse_req(&p, "GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\nX: caf\xc3\xa9\xff\r\n\r\n"),
                 0);
    cr_assert(slice_eq(p.msg.headers[1].value, "caf\xc3\xa9\xff"));
}

Test(h1_parser, http10_without_host)
{
    struct parsed p;

    cr_assert_gt(parse_req(&p, "GET / HTTP/1.0\r\n\r\n"), 0);
    cr_assert_eq(p.msg.minor_version, 0);
    cr_assert_not(p.msg.keep_alive);
}

Test(h1_parser, leading_empty_lines)
{
    struct parsed p;

    cr_assert_eq(parse_req(&p, "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), 29);
    cr_assert(slice_eq(p.msg.method, "GET"));
    cr_assert_eq(parse_req(&p, "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), 31);
    cr_assert_eq(parse_req(&p, "\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), MTLB_INVALID);
    cr_assert_eq(p.msg.error_status, 400);
    cr_assert_eq(p.msg.error_offset, 4);
    cr_assert_eq(parse_req(&p, "\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), MTLB_INVALID);
}

Test(h1_parser, exactly_max_headers_fit)
{
    struct parsed p;
    const char *req = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";

    cr_assert_eq(parse_req_n(&p, req, strlen(req), 3), (int)strlen(req));
    cr_assert_eq(p.msg.num_headers, 3);
}

Test(h1_parser, too_many_headers_is_431)
{
    struct parsed p;
    const char *req = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";

    cr_assert_eq(parse_req_n(&p, req, strlen(req), 2), MTLB_INVALID);
    cr_assert_eq(p.msg.error_status, 431);
    cr_assert_eq(p.msg.error_offset, (size_t)(strstr(req, "B:") - req));
}

Test(h1_parser, expect_continue)
{
    struct parsed p;

    cr_assert_gt(parse_req(&p, "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                               "Expect: 100-Continue\r\n\r\n"),
                 0);
    cr_assert(p.msg.expect_continue);
    cr_assert_gt(parse_req(&p, "PUT / HTTP/1.0\r\nContent-Length: 3\r\n"
                               "Expect: 100-continue\r\n\r\n"),
                 0);
    cr_assert_not(p.msg.expect_continue, "HTTP/1.0 clients get no 100 Continue");
    cr_assert_gt(parse_req(&p, "PUT / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n"), 0);
    cr_assert_not(p.msg.expect_continue);
}

Test(h1_parser, upgrade_flag)
{
    struct parsed p;

    cr_assert_gt(parse_req(&p, "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
                               "upgrade: websocket\r\n\r\n"),
                 0);
    cr_assert(p.msg.upgrade);
}

Test(h1_parser, name_is)
{
    struct mtlb_slice s = {"Content-LENGTH", 14};

    cr_assert(mtlb_h1_name_is(s, "content-length"));
    cr_assert_not(mtlb_h1_name_is(s, "content-lengt"));
    cr_assert_not(mtlb_h1_name_is((struct mtlb_slice){"Content-Lengthx", 15}, "content-length"));
    cr_assert_not(mtlb_h1_name_is((struct mtlb_slice){"Dontent-Length", 14}, "content-length"));
    cr_assert(mtlb_h1_name_is((struct mtlb_slice){"", 0}, ""));
}

/* The lookup table against the RFC 9110 definitions, byte by byte. */
Test(h1_parser, char_classes_match_rfc)
{
    for (int ch = 0; ch < 256; ch++) {
        bool alnum =
            (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
        bool tchar = alnum || (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
        bool field = ch == '\t' || (ch >= 0x20 && ch != 0x7f);
        bool target = ch > 0x20 && ch != 0x7f;
        cr_assert_eq(h1_is_tchar((unsigned char)ch), tchar, "tchar 0x%02x", ch);
        cr_assert_eq(h1_is_field((unsigned char)ch), field, "field 0x%02x", ch);
        cr_assert_eq(h1_is_target((unsigned char)ch), target, "target 0x%02x", ch);
    }
}

/* ---- keep-alive: a table over version and Connection ---- */

struct ka_case {
    char req[160];
    bool keep_alive;
};

ParameterizedTestParameters(h1_parser, keep_alive)
{
    static struct ka_case cases[] = {
        {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: CLOSE\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: x-foo , Close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: x\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: Keep-Alive, foo\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nConnection: keep-alivex\r\n\r\n", false},
    };
    return cr_make_param_array(struct ka_case, cases, MTLB_ARRAY_LEN(cases));
}

ParameterizedTest(struct ka_case *c, h1_parser, keep_alive)
{
    struct parsed p;

    cr_assert_gt(parse_req(&p, c->req), 0, "parse failed: %s", c->req);
    cr_assert_eq(p.msg.keep_alive, c->keep_alive, "keep_alive wrong for: %s", c->req);
}

/* ---- accepted syntax variants ---- */

struct ok_case {
    char req[200];
    int body;
};

ParameterizedTestParameters(h1_parser, accepts)
{
    static struct ok_case cases[] = {
        {"M-SEARCH * HTTP/1.1\r\nHost: h\r\n\r\n", MTLB_BODY_NONE},
        {"GET / HTTP/1.1\r\nhost: h\r\nX!#$%&'*+-.^_`|~9: v\r\n\r\n", MTLB_BODY_NONE},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n", MTLB_BODY_CHUNKED},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:   CHUNKED \t\r\n\r\n",
         MTLB_BODY_CHUNKED},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\t7 \r\n\r\n", MTLB_BODY_LENGTH},
        {"GET / HTTP/1.1\r\nHost: h\r\nX: a\tb\r\n\r\n", MTLB_BODY_NONE},
        {"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", MTLB_BODY_NONE},
        {"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", MTLB_BODY_NONE},
        {"GET /%7e?a=b&c=%20 HTTP/1.1\r\nHost: h\r\n\r\n", MTLB_BODY_NONE},
    };
    return cr_make_param_array(struct ok_case, cases, MTLB_ARRAY_LEN(cases));
}

ParameterizedTest(struct ok_case *c, h1_parser, accepts)
{
    struct parsed p;

    cr_assert_eq(parse_req(&p, c->req), (int)strlen(c->req), "refused (%s at %zu): %s",
                 p.msg.error_reason, p.msg.error_offset, c->req);
    cr_assert_eq((int)p.msg.body, c->body, "body kind for: %s", c->req);
}

/* ---- every refusal rule ---- */

struct bad_case {
    char req[200];
    size_t len; /* 0: strlen(req); set when the input holds a NUL */
    int status;
};

ParameterizedTestParameters(h1_parser, rejects)
{
    static struct bad_case cases[] = {
        /* line endings */
        {"GET / HTTP/1.1\nHost: h\r\n\r\n", 0, 400},
        {"GET / HTTP/1.1\r\nHost: h\n\r\n", 0, 400},
        {"GET / HTTP/1.1\r\nHost: h\r\n\n", 0, 400},
        {"GET / HTTP/1.1\rHost: h\r\n\r\n", 0, 400},
        {"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 0, 400},
        {"GET / HTTP/1.1\r\nHost: h\r\n\rX", 0, 400},
        {"GET /\n HTTP/1.1\r\nHost: h\r\n\r\n", 0, 400},
        /* obs-fold and whitespace */
        {"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 0, 400},
        {"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n", 0, 400},
        {"GET / HTTP/1.1\r\n Host: h\r\n\r\n", 0, 400},
        {"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 0, 400},
        {"GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 0, 400},
        /* field names and values */
        {"GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", 0, 400},
        {"GET / HTTP/1.1\r\nHost: h\r\nX(y): v\r\n\r\n", 0, 400},
        {"GET / HTTP/1.1\r\nHost: h\r\nX\xc3\xa9: v\r\n\r\n", 0, 400},
        {"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 0, 400},
        {"GET / HTTP/1.1\r\nHost: h\r\nX: a\x01"
         "b\r\n\r\n",
         0, 400},
        {"GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n", 0, 400},
        {"GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n", 37, 400},
        /* request line */
        {" GET / HTTP/1.1\r\nHost: h\r\n\r\n", 0, 400},
        {"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 0, 400},
        {"GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", 0, 400},
        {"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 0, 400},
        {"GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n", 0, 400},
        {"GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 0, 400},
        {"GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", 0, 400},
        {"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 0, 400},
        {"GET /\r\n\r\n", 0, 400},
        {"GET / http/1.1\r\nHost: h\r\n\r\n", 0, 400},
        {"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 0, 400},
        {"GET / HTTP/11\r\nHost: h\r\n\r\n", 0, 400},
        {"GET / HTTP/1.x\r\nHost: h\r\n\r\n", 0, 400},
        {"GET / HTTP/1.10\r\nHost: h\r\n\r\n", 0, 400},
        {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 0, 505},
        {"GET / HTTP/1.2\r\nHost: h\r\n\r\n", 0, 505},
        {"GET / HTTP/0.9\r\nHost: h\r\n\r\n", 0, 505},
        {"\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 0, 400},
        /* Host */
        {"GET / HTTP/1.1\r\n\r\n", 0, 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 0, 400},
        {"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", 0, 400},
        /* Content-Length */
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n", 0, 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 0, 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", 0, 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n", 0, 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5,5\r\n\r\n", 0, 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n", 0, 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", 0, 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 0, 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775808\r\n\r\n", 0, 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n", 0, 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 0, 400},
        {"POST / HTTP/1.1\r\nHost: h\r\ncontent-length: 5\r\nContent-Length: 6\r\n\r\n", 0, 400},
        /* Transfer-Encoding */
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 0,
         400},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 0,
         400},
        {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 0, 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
         "Transfer-Encoding: chunked\r\n\r\n",
         0, 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n", 0, 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked,\r\n\r\n", 0, 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 0, 501},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", 0, 501},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 0, 501},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 0, 501},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n"
         "Transfer-Encoding: chunked\r\n\r\n",
         0, 501},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n", 0, 501},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", 0, 501},
    };
    return cr_make_param_array(struct bad_case, cases, MTLB_ARRAY_LEN(cases));
}

ParameterizedTest(struct bad_case *c, h1_parser, rejects)
{
    struct parsed p;
    size_t len = c->len ? c->len : strlen(c->req);

    cr_assert_eq(parse_req_n(&p, c->req, len, MAX_HDRS), MTLB_INVALID, "accepted: %s", c->req);
    cr_assert_eq(p.msg.error_status, c->status, "status %d, want %d (%s): %s", p.msg.error_status,
                 c->status, p.msg.error_reason, c->req);
    cr_assert_not_null(p.msg.error_reason);
    cr_assert_lt(p.msg.error_offset, len, "offset %zu: %s", p.msg.error_offset, c->req);
    guard_free(&p.g);
    /* Every prefix either waits for more or already refuses; none is accepted or over-read. */
    for (size_t n = 0; n < len; n++) {
        int rc = parse_req_n(&p, c->req, n, MAX_HDRS);
        cr_assert(rc == MTLB_INCOMPLETE || rc == MTLB_INVALID, "prefix %zu gave %d: %s", n, rc,
                  c->req);
        guard_free(&p.g);
    }
}

Test(h1_parser, rejects_cl_with_te)
{
    struct parsed p;
    const char *req = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                      "Content-Length: 5\r\n\r\n";

    cr_assert_eq(parse_req(&p, req), MTLB_INVALID);
    cr_assert_eq(p.msg.error_status, 400);
    cr_assert_eq(p.msg.error_offset, (size_t)(strstr(req, "Content-Length") - req));
}

Test(h1_parser, error_offsets_point_at_the_fault)
{
    struct parsed p;
    const char *bare_lf = "GET / HTTP/1.1\r\nHost: h\r\nX: a\nY: b\r\n\r\n";
    const char *fold = "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n";
    const char *dup = "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n";

    cr_assert_eq(parse_req(&p, bare_lf), MTLB_INVALID);
    cr_assert_eq(p.msg.error_offset, (size_t)(strchr(bare_lf + 25, '\n') - bare_lf));
    cr_assert_eq(parse_req(&p, fold), MTLB_INVALID);
    cr_assert_eq(p.msg.error_offset, (size_t)(strstr(fold, " b") - fold));
    cr_assert_eq(parse_req(&p, dup), MTLB_INVALID);
    cr_assert_eq(p.msg.error_offset, (size_t)(strstr(dup, "Content-Length: 1\r\n\r\n") - dup));
}

/* ---- incomplete input ---- */

static const char *const valid_requests[] = {
    "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
    "\r\nPOST /upload?x=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 12\r\n"
    "Content-Type: text/plain\r\nX-Empty:\r\nX-Ws: \t a b \t\r\n\r\n",
    "PUT http://e.com/x HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding-X: y\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
};

Test(h1_parser, every_prefix_is_incomplete)
{
    for (size_t i = 0; i < MTLB_ARRAY_LEN(valid_requests); i++) {
        const char *req = valid_requests[i];
        size_t len = strlen(req);
        struct parsed p;
        for (size_t n = 0; n < len; n++) {
            cr_assert_eq(parse_req_n(&p, req, n, MAX_HDRS), MTLB_INCOMPLETE,
                         "request %zu prefix %zu: rc %d (%s)", i, n, p.rc, p.msg.error_reason);
            guard_free(&p.g);
        }
        cr_assert_eq(parse_req_n(&p, req, len, MAX_HDRS), (int)len, "request %zu: %s", i,
                     p.msg.error_reason);
        guard_free(&p.g);
    }
}

Test(h1_parser, empty_input_is_incomplete)
{
    struct mtlb_h1_message msg = {0};

    cr_assert_eq(mtlb_h1_parse_request(NULL, 0, &msg), MTLB_INCOMPLETE);
    cr_assert_eq(mtlb_h1_parse_response(NULL, 0, false, &msg), MTLB_INCOMPLETE);
}

/* ---- responses ---- */

Test(h1_response, parses_status_line)
{
    struct parsed p;
    const char *resp = "HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello";

    cr_assert_eq(parse_resp(&p, resp, false), (int)strlen(resp) - 5);
    cr_assert_eq(p.msg.status, 404);
    cr_assert(slice_eq(p.msg.reason, "Not Found"));
    cr_assert_eq(p.msg.minor_version, 1);
    cr_assert_eq(p.msg.num_headers, 2);
    cr_assert_eq(p.msg.body, MTLB_BODY_LENGTH);
    cr_assert_eq(p.msg.content_length, 5);
    cr_assert(p.msg.keep_alive);
}

Test(h1_response, empty_reason_with_or_without_space)
{
    struct parsed p;

    cr_assert_gt(parse_resp(&p, "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", false), 0);
    cr_assert_eq(p.msg.reason.len, 0);
    cr_assert_gt(parse_resp(&p, "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", false), 0);
    cr_assert_eq(p.msg.status, 200);
    cr_assert_eq(p.msg.reason.len, 0);
}

struct resp_case {
    char resp[160];
    bool head;
    int body;
    bool keep_alive;
};

ParameterizedTestParameters(h1_response, framing)
{
    static struct resp_case cases[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", false, MTLB_BODY_LENGTH, true},
        {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true, MTLB_BODY_NONE, true},
        {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, MTLB_BODY_NONE, true},
        {"HTTP/1.1 200 OK\r\n\r\n", false, MTLB_BODY_UNTIL_CLOSE, false},
        {"HTTP/1.1 200 OK\r\n\r\n", true, MTLB_BODY_NONE, true},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, MTLB_BODY_CHUNKED, true},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false, MTLB_BODY_CHUNKED,
         true},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false, MTLB_BODY_UNTIL_CLOSE, false},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", false,
         MTLB_BODY_UNTIL_CLOSE, false},
        {"HTTP/1.1 100 Continue\r\n\r\n", false, MTLB_BODY_NONE, true},
        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", false, MTLB_BODY_NONE, true},
        {"HTTP/1.1 204 No Content\r\n\r\n", false, MTLB_BODY_NONE, true},
        {"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", false, MTLB_BODY_NONE, true},
        {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n", false,
         MTLB_BODY_LENGTH, false},
        {"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n", false, MTLB_BODY_LENGTH, false},
        {"HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n", false,
         MTLB_BODY_LENGTH, true},
    };
    return cr_make_param_array(struct resp_case, cases, MTLB_ARRAY_LEN(cases));
}

ParameterizedTest(struct resp_case *c, h1_response, framing)
{
    struct parsed p;

    cr_assert_eq(parse_resp(&p, c->resp, c->head), (int)strlen(c->resp), "refused (%s): %s",
                 p.msg.error_reason, c->resp);
    cr_assert_eq((int)p.msg.body, c->body, "body %d want %d: %s", p.msg.body, c->body, c->resp);
    cr_assert_eq(p.msg.keep_alive, c->keep_alive, "keep_alive: %s", c->resp);
    if (c->body == MTLB_BODY_NONE) {
        cr_assert_eq(p.msg.content_length, 0);
    }
}

struct resp_bad {
    char resp[160];
    int status;
};

ParameterizedTestParameters(h1_response, rejects)
{
    static struct resp_bad cases[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 400},
        {"HTTP/1.1 204 OK\r\nContent-Length: x\r\n\r\n", 400},
        {"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400},
        {"HTTP/1.1 20 OK\r\n\r\n", 400},
        {"HTTP/1.1 2000 OK\r\n\r\n", 400},
        {"HTTP/1.1 200OK\r\n\r\n", 400},
        {"HTTP/1.1 099 X\r\n\r\n", 400},
        {"HTTP/1.1 abc OK\r\n\r\n", 400},
        {"HTTP/1.1  200 OK\r\n\r\n", 400},
        {"HTTP/1.1 200 O\x01K\r\n\r\n", 400},
        {"HTTP/1.1 200 OK\n\r\n", 400},
        {"HTTP/1.1 200 OK\r\nX: y\r\n z\r\n\r\n", 400},
        {"HTTP/2.0 200 OK\r\n\r\n", 505},
        {"HTTP/1.1200 OK\r\n\r\n", 400},
        {"ICY 200 OK\r\n\r\n", 400},
    };
    return cr_make_param_array(struct resp_bad, cases, MTLB_ARRAY_LEN(cases));
}

ParameterizedTest(struct resp_bad *c, h1_response, rejects)
{
    struct parsed p;

    cr_assert_eq(parse_resp(&p, c->resp, false), MTLB_INVALID, "accepted: %s", c->resp);
    cr_assert_eq(p.msg.error_status, c->status, "status %d (%s): %s", p.msg.error_status,
                 p.msg.error_reason, c->resp);
}

Test(h1_response, every_prefix_is_incomplete)
{
    const char *resp = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked"
                       "\r\nX-Empty:\r\n\r\n";
    size_t len = strlen(resp);

    for (size_t n = 0; n < len; n++) {
        struct parsed p;
        init_msg(&p, MAX_HDRS);
        guard_copy(&p.g, resp, n);
        cr_assert_eq(mtlb_h1_parse_response(p.g.p, n, false, &p.msg), MTLB_INCOMPLETE, "prefix %zu",
                     n);
        guard_free(&p.g);
    }
}

/* Feeds s one byte per call, each prefix against the guard page, and returns the prefix length
 * at which mtlb_h1_head_end first reports a possible end (0 if never); *looked counts the bytes
 * it examined over all calls. */
static size_t head_end_bytewise(const char *s, size_t len, size_t *looked)
{
    size_t scanned = 0;

    *looked = 0;
    for (size_t n = 1; n <= len; n++) {
        struct guarded g;
        size_t before = scanned;
        guard_copy(&g, s, n);
        int r = mtlb_h1_head_end(g.p, n, &scanned);
        guard_free(&g);
        cr_assert(scanned > before && scanned <= n, "scanned %zu after %zu at %zu", scanned, before,
                  n);
        *looked += scanned - before;
        if (r != MTLB_INCOMPLETE) {
            cr_assert_eq((size_t)r, n, "end %d reported at %zu", r, n);
            return n;
        }
    }
    return 0;
}

Test(h1_head_end, finds_the_end_of_a_head_in_one_call)
{
    const char *req = "GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY";
    size_t scanned = 0;
    struct guarded g;

    guard_copy(&g, req, strlen(req));
    cr_assert_eq(mtlb_h1_head_end(g.p, strlen(req), &scanned), (int)strlen(req) - 4);
    cr_assert_eq(scanned, strlen(req) - 4);
    /* Resumed after an end, it looks only at what follows. */
    cr_assert_eq(mtlb_h1_head_end(g.p, strlen(req), &scanned), MTLB_INCOMPLETE);
    cr_assert_eq(scanned, strlen(req));
    guard_free(&g);
}

Test(h1_head_end, looks_at_each_byte_once_across_reads)
{
    const char *req = "GET /x HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\r\n";
    size_t looked;

    cr_assert_eq(head_end_bytewise(req, strlen(req), &looked), strlen(req));
    cr_assert_eq(looked, strlen(req));
}

/* Ends and refusals that only the parser used to see: the search must stop there too. */
struct head_end_case {
    char in[64]; /* in the struct: Criterion copies parameters, not what they point to */
    size_t end;  /* prefix length at which the end is reported; 0: never */
};

ParameterizedTestParameters(h1_head_end, stops)
{
    static struct head_end_case cases[] = {
        {"GET / HTTP/1.1\r\n\r\n", 18},
        {"\r\n\r\nGET / HTTP/1.1\r\n\r\n", 4}, /* empty lines first: the parser decides */
        {"GET / HTTP/1.1\nHost: a\n\n", 15},   /* bare LF */
        {"\nGET / HTTP/1.1\r\n\r\n", 1},
        {"GET / HTTP/1.1\rHost: a\r\n\r\n", 16}, /* bare CR: known with the byte after it */
        {"GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", 25},
        {"GET / HTTP/1.1\r\nHost: a\r\n\r", 0},
        {"GET / HTTP/1.1\r\nHost: a\r\n", 0},
    };
    return cr_make_param_array(struct head_end_case, cases, MTLB_ARRAY_LEN(cases));
}

ParameterizedTest(struct head_end_case *c, h1_head_end, stops)
{
    size_t looked;

    cr_assert_eq(head_end_bytewise(c->in, strlen(c->in), &looked), c->end, "%s", c->in);
}

/* The promise read_head relies on: wherever the parser's verdict on a growing head first stops
 * being MTLB_INCOMPLETE with a complete head or a CR/LF refusal, head_end stops at that very
 * byte (or earlier), so parsing only there loses no time. */
Test(h1_head_end, stops_where_the_parser_decides)
{
    static const char *const heads[] = {
        "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
        "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX: b\rc\r\n\r\n",
        "GET /a\nb HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < MTLB_ARRAY_LEN(heads); i++) {
        const char *s = heads[i];
        size_t len = strlen(s), scanned = 0, decided = 0, stop = 0;
        for (size_t n = 1; n <= len && decided == 0; n++) {
            struct parsed p;
            if (parse_req_n(&p, s, n, MAX_HDRS) != MTLB_INCOMPLETE) {
                decided = n;
            }
            guard_free(&p.g);
            if (stop == 0 && mtlb_h1_head_end(s, n, &scanned) != MTLB_INCOMPLETE) {
                stop = n;
            }
        }
        cr_assert(decided > 0, "never decided: %zu", i);
        cr_assert(stop > 0 && stop <= decided, "head %zu: parser at %zu, search at %zu", i, decided,
                  stop);
    }
}

/* The slow-header cost: an 8 KiB head arriving one byte per read is searched once in all. */
Test(h1_head_end, slow_8k_head_is_searched_once)
{
    static char head[8192];
    size_t len = sizeof(head);
    size_t n = (size_t)snprintf(head, len, "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ");
    struct parsed p;

    memset(head + n, 'v', len - 4 - n);
    memcpy(head + len - 4, "\r\n\r\n", 4);
    cr_assert_eq(parse_req_n(&p, head, len, MAX_HDRS), (int)len);
    guard_free(&p.g);
    size_t scanned = 0, stop = 0, looked = 0;
    for (size_t i = 1; i <= len && stop == 0; i++) {
        size_t before = scanned;
        if (mtlb_h1_head_end(head, i, &scanned) != MTLB_INCOMPLETE) {
            stop = i;
        }
        looked += scanned - before;
    }
    cr_assert_eq(stop, len);
    cr_assert_eq(looked, len, "looked at %zu bytes", looked);
}
