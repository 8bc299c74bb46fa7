/* Unit tests for request authorities (src/http/authority.c): every spelling an attacker could
 * use to name a host (case, trailing dot, port, userinfo, percent-encoding, IP literals) parses
 * to one normalized name or is refused, and a request's authority is its absolute-form
 * target's when it has one. Inputs sit against a guard page: any over-read crashes. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "guard_page.h"
#include "mtlb/authority.h"

struct parse_case {
    char in[300];
    int expect;    /* 0 or -EINVAL */
    char host[64]; /* normalized host when 0 */
    int port;
};

ParameterizedTestParameters(authority, parse)
{
    static struct parse_case cases[] = {
        {"api.test", 0, "api.test", -1},
        {"API.Test", 0, "api.test", -1},
        {"api.test.", 0, "api.test", -1},
        {"API.TEST.:443", 0, "api.test", 443},
        {"api.test:443", 0, "api.test", 443},
        {"api.test:0443", 0, "api.test", 443},
        {"api.test:", 0, "api.test", -1},
        {"api.test.:", 0, "api.test", -1},
        {"api.test:0", 0, "api.test", 0},
        {"api.test:65535", 0, "api.test", 65535},
        {"localhost", 0, "localhost", -1},
        {"a", 0, "a", -1},
        {"xn--bcher-kva.example", 0, "xn--bcher-kva.example", -1},
        {"under_score.test", 0, "under_score.test", -1},
        {"10.0.0.1", 0, "10.0.0.1", -1},
        {"10.0.0.1:8443", 0, "10.0.0.1", 8443},
        {"[::1]", 0, "[::1]", -1},
        {"[::1]:443", 0, "[::1]", 443},
        {"[2001:DB8::A]:8443", 0, "[2001:db8::a]", 8443},
        {"[::ffff:10.0.0.1]", 0, "[::ffff:10.0.0.1]", -1},
        {"[::1]:", 0, "[::1]", -1},
        /* refused: empty host */
        {"", -EINVAL, "", 0},
        {".", -EINVAL, "", 0},
        {":443", -EINVAL, "", 0},
        {".:443", -EINVAL, "", 0},
        /* userinfo, anywhere */
        {"x@other.test", -EINVAL, "", 0},
        {"x:y@other.test", -EINVAL, "", 0},
        {"@other.test", -EINVAL, "", 0},
        {"other.test@api.test", -EINVAL, "", 0},
        {"api.test:443@other.test", -EINVAL, "", 0},
        {"[::1]@other.test", -EINVAL, "", 0},
        /* empty labels: only one trailing dot is the root */
        {"other.test..", -EINVAL, "", 0},
        {"other..test", -EINVAL, "", 0},
        {".other.test", -EINVAL, "", 0},
        {"other.test..:443", -EINVAL, "", 0},
        /* bytes a name has no use for */
        {"other%2etest", -EINVAL, "", 0},
        {"%6Fther.test", -EINVAL, "", 0},
        {"other.test%00", -EINVAL, "", 0},
        {"other test", -EINVAL, "", 0},
        {"other.test\t", -EINVAL, "", 0},
        {"other.test,api.test", -EINVAL, "", 0},
        {"other.test;x", -EINVAL, "", 0},
        {"other.test/x", -EINVAL, "", 0},
        {"other.test?x", -EINVAL, "", 0},
        {"other.test#x", -EINVAL, "", 0},
        {"other.test\\api.test", -EINVAL, "", 0},
        {"other!.test", -EINVAL, "", 0},
        {"caf\xc3\xa9.test", -EINVAL, "", 0},
        {"other.test\r\nX: y", -EINVAL, "", 0},
        {"a]b", -EINVAL, "", 0},
        /* ports */
        {"api.test:x", -EINVAL, "", 0},
        {"api.test:443x", -EINVAL, "", 0},
        {"api.test:-1", -EINVAL, "", 0},
        {"api.test:+443", -EINVAL, "", 0},
        {"api.test: 443", -EINVAL, "", 0},
        {"api.test:65536", -EINVAL, "", 0},
        {"api.test:000443", -EINVAL, "", 0},
        {"api.test:99999", -EINVAL, "", 0},
        {"api.test:443:443", -EINVAL, "", 0},
        {"api.test::443", -EINVAL, "", 0},
        /* IP literals */
        {"[::1", -EINVAL, "", 0},
        {"::1", -EINVAL, "", 0},
        {"[]", -EINVAL, "", 0},
        {"[1]", -EINVAL, "", 0},
        {"[other.test]", -EINVAL, "", 0},
        {"[v1.other]", -EINVAL, "", 0},
        {"[fe80::1%25eth0]", -EINVAL, "", 0},
        {"[::1]x", -EINVAL, "", 0},
        {"[::1]other.test", -EINVAL, "", 0},
        {"[::1]:x", -EINVAL, "", 0},
        {"[::1]]", -EINVAL, "", 0},
        {"[[::1]]", -EINVAL, "", 0},
    };
    return cr_make_param_array(struct parse_case, cases, MTLB_ARRAY_LEN(cases));
}

ParameterizedTest(struct parse_case *t, authority, parse)
{
    struct guarded g;
    size_t len = strlen(t->in);
    char *in = guard_copy(&g, t->in, len); /* in + len is the guard page */
    struct mtlb_authority a;
    int r = mtlb_authority_parse((struct mtlb_slice){in, len}, &a);

    cr_assert_eq(r, t->expect, "\"%s\": %d, want %d", t->in, r, t->expect);
    if (r == 0) {
        cr_assert_str_eq(a.host, t->host, "\"%s\"", t->in);
        cr_assert_eq(a.host_len, strlen(t->host));
        cr_assert_eq(a.port, t->port, "\"%s\": port %d", t->in, a.port);
    }
    guard_free(&g);
}

Test(authority, host_length_limit)
{
    char in[300];
    struct mtlb_authority a;

    memset(in, 'a', sizeof(in));
    cr_assert_eq(mtlb_authority_parse((struct mtlb_slice){in, 255}, &a), 0);
    cr_assert_eq(a.host_len, 255);
    cr_assert_eq(a.host[255], '\0');
    in[255] = '.'; /* the root dot does not count */
    cr_assert_eq(mtlb_authority_parse((struct mtlb_slice){in, 256}, &a), 0);
    cr_assert_eq(a.host_len, 255);
    cr_assert_eq(mtlb_authority_parse((struct mtlb_slice){in, 255}, &a), 0);
    in[255] = 'a';
    cr_assert_eq(mtlb_authority_parse((struct mtlb_slice){in, 256}, &a), -EINVAL);
    cr_assert_eq(mtlb_authority_parse((struct mtlb_slice){in, 300}, &a), -EINVAL);
}

Test(authority, default_port_and_sameness)
{
    struct mtlb_authority a, b;

    cr_assert_eq(mtlb_authority_default_port((struct mtlb_slice){"https", 5}), 443);
    cr_assert_eq(mtlb_authority_default_port((struct mtlb_slice){"HTTP", 4}), 80);
    cr_assert_eq(mtlb_authority_default_port((struct mtlb_slice){"ftp", 3}), -1);
    cr_assert_eq(mtlb_authority_parse((struct mtlb_slice){"Api.Test.", 9}, &a), 0);
    cr_assert_eq(mtlb_authority_parse((struct mtlb_slice){"api.test:443", 12}, &b), 0);
    cr_assert(mtlb_authority_same(&a, &b, 443));
    cr_assert_not(mtlb_authority_same(&a, &b, 80));
    cr_assert_not(mtlb_authority_same(&a, &b, -1));
    cr_assert_eq(mtlb_authority_parse((struct mtlb_slice){"api.tes", 7}, &b), 0);
    cr_assert_not(mtlb_authority_same(&a, &b, 443));
}

/* ---- a request's authority ---- */

struct req_case {
    char in[300];
    int expect;
    char host[64];
    int port;
    char target[64]; /* what the backend's request line carries */
};

ParameterizedTestParameters(authority, from_request)
{
    static struct req_case cases[] = {
        {"GET /a HTTP/1.1\r\nHost: API.test.:443\r\n\r\n", 0, "api.test", 443, "/a"},
        {"GET /a HTTP/1.1\r\nX: y\r\nhost: other.test.\r\n\r\n", 0, "other.test", -1, "/a"},
        {"OPTIONS * HTTP/1.1\r\nHost: api.test\r\n\r\n", 0, "api.test", -1, "*"},
        /* RFC 9112 section 3.2.2: the absolute-form target's authority wins over Host */
        {"GET https://other.test/x?y HTTP/1.1\r\nHost: api.test\r\n\r\n", 0, "other.test", -1,
         "/x?y"},
        {"GET HTTPS://Other.Test.:443 HTTP/1.1\r\nHost: api.test\r\n\r\n", 0, "other.test", 443,
         "/"},
        {"GET http://other.test?q HTTP/1.1\r\nHost: other.test\r\n\r\n", 0, "other.test", -1,
         "/?q"},
        {"OPTIONS http://other.test HTTP/1.1\r\nHost: other.test\r\n\r\n", 0, "other.test", -1,
         "*"},
        {"OPTIONS http://other.test/ HTTP/1.1\r\nHost: other.test\r\n\r\n", 0, "other.test", -1,
         "/"},
        {"GET http://[::1]:8080/ HTTP/1.1\r\nHost: x\r\n\r\n", 0, "[::1]", 8080, "/"},
        /* HTTP/1.0: the generated Host is the target's authority, or empty */
        {"GET https://other.test/ HTTP/1.0\r\n\r\n", 0, "other.test", -1, "/"},
        {"GET / HTTP/1.0\r\n\r\n", 0, "", -1, "/"},
        {"GET / HTTP/1.0\r\nHost: Other.Test.\r\n\r\n", 0, "other.test", -1, "/"},
        /* refused */
        {"GET / HTTP/1.1\r\nHost: x@other.test\r\n\r\n", -EINVAL, "", 0, ""},
        {"GET / HTTP/1.1\r\nHost: \r\n\r\n", -EINVAL, "", 0, ""},
        {"GET / HTTP/1.0\r\nHost: \r\n\r\n", -EINVAL, "", 0, ""},
        {"GET / HTTP/1.1\r\nHost: other.test..\r\n\r\n", -EINVAL, "", 0, ""},
        {"GET https://x@other.test/ HTTP/1.1\r\nHost: other.test\r\n\r\n", -EINVAL, "", 0, ""},
        {"GET https://api.test@other.test/ HTTP/1.0\r\n\r\n", -EINVAL, "", 0, ""},
        {"GET https:///x HTTP/1.1\r\nHost: api.test\r\n\r\n", -EINVAL, "", 0, ""},
        {"GET https://other.test#f HTTP/1.1\r\nHost: api.test\r\n\r\n", -EINVAL, "", 0, ""},
        /* an invalid Host is a 400 even when the target's authority wins */
        {"GET https://api.test/ HTTP/1.1\r\nHost: x@other.test\r\n\r\n", -EINVAL, "", 0, ""},
        {"GET ftp://other.test/ HTTP/1.1\r\nHost: api.test\r\n\r\n", -EINVAL, "", 0, ""},
        {"GET other.test:443 HTTP/1.1\r\nHost: api.test\r\n\r\n", -EINVAL, "", 0, ""},
        {"CONNECT other.test:443 HTTP/1.1\r\nHost: other.test\r\n\r\n", -EINVAL, "", 0, ""},
        {"GET * HTTP/1.1\r\nHost: api.test\r\n\r\n", -EINVAL, "", 0, ""},
        {"GET x HTTP/1.1\r\nHost: api.test\r\n\r\n", -EINVAL, "", 0, ""},
    };
    return cr_make_param_array(struct req_case, cases, MTLB_ARRAY_LEN(cases));
}

ParameterizedTest(struct req_case *t, authority, from_request)
{
    struct mtlb_h1_header hdrs[8];
    struct mtlb_h1_message m = {.headers = hdrs, .max_headers = 8};
    struct mtlb_authority_request ar;
    char target[80];

    cr_assert_eq(mtlb_h1_parse_request(t->in, strlen(t->in), &m), (int)strlen(t->in),
                 "fixture does not parse: %s", m.error_reason);
    int r = mtlb_authority_from_request(&m, &ar);
    cr_assert_eq(r, t->expect, "%s: %d", t->in, r);
    if (r != 0) {
        return;
    }
    cr_assert_str_eq(ar.authority.host, t->host, "%s", t->in);
    cr_assert_eq(ar.authority.port, t->port, "%s", t->in);
    snprintf(target, sizeof(target), "%s%.*s", ar.slash ? "/" : "", (int)ar.target.len,
             ar.target.p);
    cr_assert_str_eq(target, t->target, "%s", t->in);
}

/* The HTTP/1.1 parser already refuses several Host fields; the resolver does not rely on it. */
Test(authority, several_hosts_are_refused)
{
    struct mtlb_h1_header hdrs[2] = {
        {{"Host", 4}, {"api.test", 8}},
        {{"host", 4}, {"other.test", 10}},
    };
    struct mtlb_h1_message m = {.method = {"GET", 3},
                                .target = {"/", 1},
                                .minor_version = 1,
                                .headers = hdrs,
                                .max_headers = 2,
                                .num_headers = 2};
    struct mtlb_authority_request ar;

    cr_assert_eq(mtlb_authority_from_request(&m, &ar), -EINVAL);
    m.num_headers = 1;
    cr_assert_eq(mtlb_authority_from_request(&m, &ar), 0);
    m.num_headers = 0; /* HTTP/1.1 without Host */
    cr_assert_eq(mtlb_authority_from_request(&m, &ar), -EINVAL);
}
