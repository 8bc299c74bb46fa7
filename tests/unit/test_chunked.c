/* Unit tests for the chunked-body scanner (src/http/chunked.c): valid framing at every split
 * point and byte by byte, every refusal rule, limits, and over-read safety with a guard page. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard_page.h"
#include "mtlb/h1.h"

/* Scans one piece placed against a guard page. */
static ssize_t scan_piece(struct mtlb_h1_chunked *c, const char *s, size_t len, bool *done)
{
    struct guarded g;

    guard_copy(&g, s, len);
    ssize_t r = mtlb_h1_chunked_scan(c, g.p, len, done);
    guard_free(&g);
    return r;
}

struct ok_case {
    char body[200];
    uint64_t decoded; /* expected body_bytes */
};

ParameterizedTestParameters(chunked, accepts)
{
    static struct ok_case cases[] = {
        {"0\r\n\r\n", 0},
        {"5\r\nhello\r\n0\r\n\r\n", 5},
        {"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 11},
        {"A\r\n0123456789\r\n0\r\n\r\n", 10},
        {"a\r\n0123456789\r\n00000\r\n\r\n", 10},
        {"3;name=value\r\nabc\r\n0;last\r\n\r\n", 3},
        {"3 ; a = b ;c;d=\"q \\\" \\\\ x\"\r\nabc\r\n0\r\n\r\n", 3},
        {"3\t;a\r\nabc\r\n0\r\n\r\n", 3},
        {"2\r\n\r\n\r\n0\r\n\r\n", 2},
        {"0\r\nExpires: never\r\nX-Sum:abc \t\r\n\r\n", 0},
        {"1\r\nx\r\n0\r\nTrailer-Obs: caf\xc3\xa9\r\n\r\n", 1},
        {"10\r\n0123456789abcdef\r\n0\r\n\r\n", 16},
    };
    return cr_make_param_array(struct ok_case, cases, MTLB_ARRAY_LEN(cases));
}

ParameterizedTest(struct ok_case *t, chunked, accepts)
{
    struct mtlb_h1_chunked c;
    size_t len = strlen(t->body);
    bool done = false;
    char with_next[256];

    /* whole, followed by the next request: only the body is claimed */
    snprintf(with_next, sizeof(with_next), "%sGET /", t->body);
    mtlb_h1_chunked_init(&c);
    cr_assert_eq(scan_piece(&c, with_next, strlen(with_next), &done), (ssize_t)len, "%s", t->body);
    cr_assert(done);
    cr_assert_eq(c.body_bytes, t->decoded);
    cr_assert_eq(scan_piece(&c, "GET", 3, &done), 0, "scanning after done consumes nothing");
    cr_assert(done);

    /* every split point */
    for (size_t k = 0; k <= len; k++) {
        mtlb_h1_chunked_init(&c);
        done = true;
        cr_assert_eq(scan_piece(&c, t->body, k, &done), (ssize_t)k, "split %zu: %s", k, t->body);
        cr_assert_eq(done, k == len, "split %zu done early: %s", k, t->body);
        if (k < len) {
            cr_assert_eq(scan_piece(&c, t->body + k, len - k, &done), (ssize_t)(len - k));
            cr_assert(done, "split %zu not done: %s", k, t->body);
        }
        cr_assert_eq(c.body_bytes, t->decoded);
    }

    /* byte by byte */
    mtlb_h1_chunked_init(&c);
    for (size_t i = 0; i < len; i++) {
        cr_assert_eq(scan_piece(&c, t->body + i, 1, &done), 1, "byte %zu: %s", i, t->body);
        cr_assert_eq(done, i == len - 1, "byte %zu: %s", i, t->body);
    }
    cr_assert_eq(c.body_bytes, t->decoded);
}

struct bad_case {
    char body[200];
};

ParameterizedTestParameters(chunked, rejects)
{
    static struct bad_case cases[] = {
        {"g\r\n"},                      /* non-hex size */
        {"\r\n"},                       /* empty size line */
        {" 5\r\nhello\r\n0\r\n\r\n"},   /* whitespace before the size */
        {"-5\r\n"},                     /* sign */
        {"0x5\r\nhello\r\n"},           /* prefix */
        {"5\nhello\r\n0\r\n\r\n"},      /* bare LF after size */
        {"5\rhello\r\n0\r\n\r\n"},      /* bare CR after size */
        {"5\r\nhelloX\r\n0\r\n\r\n"},   /* data longer than announced */
        {"5\r\nhello\n0\r\n\r\n"},      /* bare LF after data */
        {"5\r\nhello\r0\r\n\r\n"},      /* bare CR after data */
        {"5 x\r\nhello\r\n"},           /* junk after BWS */
        {"5;\r\nhello\r\n"},            /* empty extension name */
        {"5;a b\r\nhello\r\n"},         /* two names */
        {"5;a=\r\nhello\r\n"},          /* empty value */
        {"5;a=b c\r\nhello\r\n"},       /* two values */
        {"5;a=\"x\r\nhello\r\n"},       /* CR in quoted-string */
        {"5;a=\"x\x01\"\r\nhello\r\n"}, /* CTL in quoted-string */
        {"5;a(=b\r\nhello\r\n"},        /* non-token name */
        {"5;a=b\nhello\r\n"},           /* bare LF after an extension */
        {"1000000000000001\r\n"},       /* over 2^60 */
        {"ffffffffffffffffffff\r\n"},   /* way over */
        {"0\r\n\n"},                    /* bare LF ending the trailers */
        {"0\r\n\rX"},                   /* bare CR ending the trailers */
        {"0\r\nX: y\n\r\n"},            /* bare LF in a trailer */
        {"0\r\nX : y\r\n\r\n"},         /* whitespace before colon */
        {"0\r\nX: y\r\n z\r\n\r\n"},    /* obs-fold in trailers */
        {"0\r\n: y\r\n\r\n"},           /* empty trailer name */
        {"0\r\nX: a\x01"
         "b\r\n\r\n"},      /* CTL in a trailer value */
        {"0\r\nX\r\n\r\n"}, /* trailer without colon */
    };
    return cr_make_param_array(struct bad_case, cases, MTLB_ARRAY_LEN(cases));
}

ParameterizedTest(struct bad_case *t, chunked, rejects)
{
    struct mtlb_h1_chunked c;
    size_t len = strlen(t->body);
    bool done = false;
    bool refused = false;

    mtlb_h1_chunked_init(&c);
    cr_assert_eq(scan_piece(&c, t->body, len, &done), MTLB_INVALID, "accepted: %s", t->body);
    cr_assert_not(done);
    cr_assert_eq(scan_piece(&c, "0\r\n\r\n", 5, &done), MTLB_INVALID, "not sticky: %s", t->body);

    mtlb_h1_chunked_init(&c);
    for (size_t i = 0; i < len && !refused; i++) {
        ssize_t r = scan_piece(&c, t->body + i, 1, &done);
        cr_assert(r == 1 || r == MTLB_INVALID, "byte %zu gave %zd: %s", i, r, t->body);
        cr_assert_not(done, "done on invalid input: %s", t->body);
        refused = r == MTLB_INVALID;
    }
    cr_assert(refused, "byte by byte accepted: %s", t->body);
}

Test(chunked, largest_size_is_2_pow_60)
{
    struct mtlb_h1_chunked c;
    bool done;
    const char *s = "1000000000000000\r\nabc";

    mtlb_h1_chunked_init(&c);
    cr_assert_eq(scan_piece(&c, s, strlen(s), &done), (ssize_t)strlen(s));
    cr_assert_not(done);
    cr_assert_eq(c.remaining, (UINT64_C(1) << 60) - 3);
    cr_assert_eq(c.body_bytes, 3);
}

/* A size line of exactly `line` bytes before its CRLF: "1;" then an extension name. */
static char *size_line(size_t line, const char *rest)
{
    size_t n = line + 2 + strlen(rest);
    char *s = malloc(n + 1);

    cr_assert_not_null(s);
    memcpy(s, "1;", 2);
    memset(s + 2, 'e', line - 2);
    memcpy(s + line, "\r\n", 2);
    strcpy(s + line + 2, rest);
    return s;
}

Test(chunked, size_line_limit)
{
    struct mtlb_h1_chunked c;
    bool done;
    char *ok = size_line(4096, "x\r\n0\r\n\r\n");
    char *bad = size_line(4097, "x\r\n0\r\n\r\n");

    mtlb_h1_chunked_init(&c);
    cr_assert_eq(scan_piece(&c, ok, strlen(ok), &done), (ssize_t)strlen(ok));
    cr_assert(done);
    mtlb_h1_chunked_init(&c);
    cr_assert_eq(scan_piece(&c, bad, strlen(bad), &done), MTLB_INVALID);
    /* the limit holds across splits too */
    mtlb_h1_chunked_init(&c);
    cr_assert_eq(scan_piece(&c, bad, 3000, &done), 3000);
    cr_assert_eq(scan_piece(&c, bad + 3000, strlen(bad) - 3000, &done), MTLB_INVALID);
    free(ok);
    free(bad);
}

Test(chunked, trailer_line_limit)
{
    struct mtlb_h1_chunked c;
    bool done;
    size_t n = 5000;
    char *s = malloc(n + 32);

    cr_assert_not_null(s);
    /* "0\r\n" + "X:" + value so that the trailer line is exactly 4096, then 4097 bytes */
    for (size_t line = 4096; line <= 4097; line++) {
        memcpy(s, "0\r\nX:", 5);
        memset(s + 5, 'v', line - 2);
        strcpy(s + 3 + line, "\r\n\r\n");
        mtlb_h1_chunked_init(&c);
        ssize_t r = scan_piece(&c, s, strlen(s), &done);
        if (line == 4096) {
            cr_assert_eq(r, (ssize_t)strlen(s));
            cr_assert(done);
        } else {
            cr_assert_eq(r, MTLB_INVALID);
        }
    }
    free(s);
}

Test(chunked, many_chunks_counted)
{
    struct mtlb_h1_chunked c;
    bool done = false;
    ssize_t total = 0;

    mtlb_h1_chunked_init(&c);
    for (int i = 0; i < 1000; i++) {
        ssize_t r = scan_piece(&c, "3\r\nabc\r\n", 8, &done);
        cr_assert_eq(r, 8);
        total += r;
    }
    cr_assert_eq(scan_piece(&c, "0\r\n\r\nrest", 9, &done), 5);
    cr_assert(done);
    cr_assert_eq(c.body_bytes, 3000);
    cr_assert_eq(total, 8000);
}

Test(chunked, empty_input_keeps_state)
{
    struct mtlb_h1_chunked c;
    bool done = true;

    mtlb_h1_chunked_init(&c);
    cr_assert_eq(mtlb_h1_chunked_scan(&c, NULL, 0, &done), 0);
    cr_assert_not(done);
    cr_assert_eq(scan_piece(&c, "0\r\n\r\n", 5, &done), 5);
    cr_assert(done);
}
