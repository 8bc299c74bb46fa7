/* Unit tests for request ids (src/http/request_id.c): which client values are taken, which are
 * not, and what a generated id looks like. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "mtlb/request_id.h"

#define MAX_HDRS 16

static struct mtlb_slice sl(const char *s)
{
    return (struct mtlb_slice){s, strlen(s)};
}

Test(request_id, valid_values)
{
    char longest[MTLB_REQUEST_ID_MAX + 2];

    cr_assert(mtlb_request_id_valid(sl("a")));
    cr_assert(mtlb_request_id_valid(sl("0f8fad5b-d9cb-469f-a165-70867728950e")));
    cr_assert(mtlb_request_id_valid(sl("Root=1-5759e988;x.y_z:9")) == false, "'=' and ';'");
    cr_assert(mtlb_request_id_valid(sl("svc.a_b:c-9")));
    memset(longest, 'x', sizeof(longest));
    cr_assert(mtlb_request_id_valid((struct mtlb_slice){longest, MTLB_REQUEST_ID_MAX}));
    cr_assert_not(mtlb_request_id_valid((struct mtlb_slice){longest, MTLB_REQUEST_ID_MAX + 1}));
}

struct bad {
    char v[32];
    size_t len;
};

ParameterizedTestParameters(request_id, invalid_values)
{
    static struct bad cases[] = {
        {"", 0},       {"a b", 3},  {"a\"b", 3},      {"a\\b", 3}, {"a\tb", 3},
        {"a\r\nb", 4}, {"a/b", 3},  {"a,b", 3},       {"a;b", 3},  {"a=b", 3},
        {"\x80x", 2},  {"a\0b", 3}, {"{\"x\":1}", 7}, {"a+b", 3},  {"%41", 3},
    };
    return cr_make_param_array(struct bad, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad *b, request_id, invalid_values)
{
    cr_assert_not(mtlb_request_id_valid((struct mtlb_slice){b->v, b->len}), "%s", b->v);
}

static struct mtlb_slice from(const char *head)
{
    static struct mtlb_h1_header hdrs[MAX_HDRS];
    static struct mtlb_h1_message msg;

    memset(&msg, 0, sizeof(msg));
    msg.headers = hdrs;
    msg.max_headers = MAX_HDRS;
    cr_assert_eq(mtlb_h1_parse_request(head, strlen(head), &msg), (int)strlen(head), "%s",
                 msg.error_reason);
    return mtlb_request_id_from(&msg);
}

static void expect_from(const char *head, const char *want)
{
    struct mtlb_slice v = from(head);
    cr_assert_eq(v.len, strlen(want), "%s: got %.*s", head, (int)v.len, v.p ? v.p : "");
    cr_assert(v.len == 0 || memcmp(v.p, want, v.len) == 0, "%s", head);
}

Test(request_id, takes_the_one_well_formed_field)
{
    expect_from("GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: abc-1\r\n\r\n", "abc-1");
    expect_from("GET / HTTP/1.1\r\nHost: a\r\nx-request-id:   abc-2  \r\n\r\n", "abc-2");
    expect_from("GET / HTTP/1.1\r\nHost: a\r\nX-REQUEST-ID: A:b.c_d\r\n\r\n", "A:b.c_d");
}

Test(request_id, refuses_absent_malformed_duplicate_and_forged_spellings)
{
    expect_from("GET / HTTP/1.1\r\nHost: a\r\n\r\n", "");
    expect_from("GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: a b\r\n\r\n", "");
    expect_from("GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id:\r\n\r\n", "");
    expect_from("GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: one\r\nX-Request-Id: two\r\n\r\n", "");
    expect_from("GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: one\r\nx-request-id: one\r\n\r\n", "");
    expect_from("GET / HTTP/1.1\r\nHost: a\r\nX_Request_Id: forged\r\n\r\n", "");
    expect_from("GET / HTTP/1.1\r\nHost: a\r\nX-Request-Ids: other\r\n\r\n", "");
    /* The forged spelling is ignored, the real field still counts. */
    expect_from("GET / HTTP/1.1\r\nHost: a\r\nX_Request_Id: forged\r\nX-Request-Id: real\r\n\r\n",
                "real");
}

static bool all_hex(const char *s)
{
    return strspn(s, "0123456789abcdef") == strlen(s);
}

Test(request_id, generated_ids_are_fixed_hex_and_distinct)
{
    const unsigned char seed[10] = {0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4, 5};
    struct mtlb_request_id_gen g0, g1;
    char a[MTLB_REQUEST_ID_GEN_LEN + 1], b[MTLB_REQUEST_ID_GEN_LEN + 1],
        c[MTLB_REQUEST_ID_GEN_LEN + 1];

    mtlb_request_id_gen_init(&g0, seed, 0);
    mtlb_request_id_gen_init(&g1, seed, 1);
    mtlb_request_id_next(&g0, a);
    mtlb_request_id_next(&g0, b);
    mtlb_request_id_next(&g1, c);
    cr_assert_eq(strlen(a), MTLB_REQUEST_ID_GEN_LEN);
    cr_assert(all_hex(a) && all_hex(b) && all_hex(c), "%s %s %s", a, b, c);
    cr_assert_str_eq(a, "deadbeef0001020304050000"
                        "0000000000000000");
    cr_assert_str_eq(b, "deadbeef0001020304050000"
                        "0000000000000001");
    /* Same seed, another worker: the index keeps them apart. */
    cr_assert_str_eq(c, "deadbeef0001020304050001"
                        "0000000000000000");
    cr_assert(mtlb_request_id_valid(sl(a)), "a generated id is one mtlb would accept back");
}

Test(request_id, pick_prefers_the_client_and_falls_back)
{
    static struct mtlb_h1_header hdrs[MAX_HDRS];
    struct mtlb_h1_message msg = {.headers = hdrs, .max_headers = MAX_HDRS};
    const unsigned char seed[10] = {0};
    struct mtlb_request_id_gen g;
    char out[MTLB_REQUEST_ID_MAX + 1];
    const char *head = "GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: mine\r\n\r\n";

    mtlb_request_id_gen_init(&g, seed, 7);
    cr_assert_eq(mtlb_h1_parse_request(head, strlen(head), &msg), (int)strlen(head));
    mtlb_request_id_pick(&g, &msg, out);
    cr_assert_str_eq(out, "mine");
    cr_assert_eq(g.next, 0, "no id spent on a request that brought its own");
    mtlb_request_id_pick(&g, NULL, out);
    cr_assert_str_eq(out, "000000000000000000000007"
                          "0000000000000000");
}
