/* Unit tests for the chunked-body scanner and the decoding walk (src/http/chunked.c): valid
 * framing at every split point, byte by byte and in random splits, every refusal rule, limits,
 * and over-read safety with a guard page. */
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

/* Shared by the scanner and the decoding walk: both must refuse the same inputs. */
static struct bad_case bad_cases[] = {
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

ParameterizedTestParameters(chunked, rejects)
{
    return cr_make_param_array(struct bad_case, bad_cases, MTLB_ARRAY_LEN(bad_cases));
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

/* ---- decoding walk (mtlb_h1_chunked_next / mtlb_h1_chunked_take) ---- */

#define RELAY_CAP 16384

/* Drives the walk as the HTTP/2 relay does: unconsumed bytes stay pending, data is copied out
 * in pieces and taken, trailer bytes are appended, and nothing is walked after done. */
struct relay {
    struct mtlb_h1_chunked c;
    char pend[RELAY_CAP];
    size_t plen;
    char data[RELAY_CAP];
    size_t dlen;
    char trl[RELAY_CAP];
    size_t tlen;
    size_t used;     /* input bytes that belonged to the body (consumed or taken) */
    size_t fed;      /* input bytes fed so far */
    size_t fed_done; /* value of fed after the piece that completed the body */
    int dones;
    bool invalid;
    size_t pending; /* data reported but not taken: must be reported again */
    uint32_t rng;   /* 0: take all reported data at once; else random partial takes */
};

static uint32_t xorshift(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void relay_init(struct relay *r, uint32_t seed)
{
    memset(r, 0, sizeof(*r));
    mtlb_h1_chunked_init(&r->c);
    r->rng = seed;
}

static void relay_consume(struct relay *r, size_t n)
{
    memmove(r->pend, r->pend + n, r->plen - n);
    r->plen -= n;
    r->used += n;
}

/* One call of the walk on the pending bytes, placed against a guard page. Returns false when
 * the relay must wait for more input. */
static bool relay_step(struct relay *r)
{
    struct guarded g;
    size_t dl = 7, tl = 7;
    bool done = true;

    guard_copy(&g, r->pend, r->plen);
    ssize_t k = mtlb_h1_chunked_next(&r->c, g.p, r->plen, &dl, &tl, &done);
    guard_free(&g);
    if (k == MTLB_INVALID) {
        r->invalid = true;
        return false;
    }
    cr_assert(k >= 0 && (size_t)k <= r->plen, "consumed %zd of %zu", k, r->plen);
    cr_assert(r->pending == 0 || (k == 0 && dl >= r->pending), "pending data not reported again");
    size_t end = (size_t)k;
    if (done) {
        cr_assert(end >= 2 && memcmp(r->pend + end - 2, "\r\n", 2) == 0, "done without CRLF");
        cr_assert_eq(dl, 0);
        end -= 2;
    }
    cr_assert(tl <= end, "trailer_len %zu past %zu consumed", tl, end);
    cr_assert(dl <= r->plen - (size_t)k);
    cr_assert(r->tlen + tl <= RELAY_CAP);
    memcpy(r->trl + r->tlen, r->pend + end - tl, tl);
    r->tlen += tl;
    relay_consume(r, (size_t)k);
    if (done) {
        r->dones++;
        r->fed_done = r->fed;
        return false;
    }
    if (dl == 0) {
        return k > 0;
    }
    size_t n = r->rng == 0 ? dl : 1 + xorshift(&r->rng) % dl;
    memcpy(r->data + r->dlen, r->pend, n);
    r->dlen += n;
    mtlb_h1_chunked_take(&r->c, n);
    relay_consume(r, n);
    r->pending = dl - n;
    return true;
}

static void relay_feed(struct relay *r, const char *s, size_t n)
{
    cr_assert(r->plen + n <= RELAY_CAP);
    memcpy(r->pend + r->plen, s, n);
    r->plen += n;
    r->fed += n;
    /* after done the rest is the next message, and after invalid there is nothing to walk */
    while (r->dones == 0 && !r->invalid && relay_step(r)) {
    }
}

struct walk_case {
    char body[200];
    char data[64];
    char trailers[100];
};

ParameterizedTestParameters(chunked, walk)
{
    static struct walk_case cases[] = {
        {"0\r\n\r\n", "", ""},
        {"5\r\nhello\r\n0\r\n\r\n", "hello", ""},
        {"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", ""},
        {"A\r\n0123456789\r\n0\r\n\r\n", "0123456789", ""},
        {"a\r\n0123456789\r\n00000\r\n\r\n", "0123456789", ""},
        {"3;name=value\r\nabc\r\n0;last\r\n\r\n", "abc", ""},
        {"3 ; a = b ;c;d=\"q \\\" \\\\ x\"\r\nabc\r\n0\r\n\r\n", "abc", ""},
        {"3\t;a\r\nabc\r\n0\r\n\r\n", "abc", ""},
        {"2\r\n\r\n\r\n0\r\n\r\n", "\r\n", ""},
        {"0\r\nExpires: never\r\nX-Sum:abc \t\r\n\r\n", "", "Expires: never\r\nX-Sum:abc \t\r\n"},
        {"1\r\nx\r\n0\r\nTrailer-Obs: caf\xc3\xa9\r\n\r\n", "x", "Trailer-Obs: caf\xc3\xa9\r\n"},
        {"10\r\n0123456789abcdef\r\n0\r\n\r\n", "0123456789abcdef", ""},
        {"5;x=\"a;b\"\r\n0\r\n\r\n\r\n1\r\n\n\r\n0;z\r\nA: 1\r\nB: 2\r\nC:\r\n\r\n", "0\r\n\r\n\n",
         "A: 1\r\nB: 2\r\nC:\r\n"},
        {"3\r\n\r\r\r\r\n0\r\n\r\n", "\r\r\r", ""},
    };
    return cr_make_param_array(struct walk_case, cases, MTLB_ARRAY_LEN(cases));
}

static void check_walk(const struct walk_case *t, struct relay *r, const char *how)
{
    size_t len = strlen(t->body);

    cr_assert_not(r->invalid, "%s: refused %s", how, t->body);
    cr_assert_eq(r->dones, 1, "%s: done %d times: %s", how, r->dones, t->body);
    cr_assert_eq(r->used, len, "%s: body of %zu bytes, walked %zu", how, len, r->used);
    cr_assert_eq(r->dlen, strlen(t->data), "%s: data length %zu: %s", how, r->dlen, t->body);
    cr_assert(memcmp(r->data, t->data, r->dlen) == 0, "%s: data differs: %s", how, t->body);
    cr_assert_eq(r->tlen, strlen(t->trailers), "%s: trailers %zu: %s", how, r->tlen, t->body);
    cr_assert(memcmp(r->trl, t->trailers, r->tlen) == 0, "%s: trailers differ", how);
    cr_assert_eq(r->c.body_bytes, strlen(t->data));
}

/* Feeds body + "GET /" (the next request) in pieces given by cut points. */
static void walk_pieces(struct relay *r, const char *in, size_t len, const size_t *cuts, size_t n)
{
    size_t at = 0;

    for (size_t i = 0; i <= n; i++) {
        size_t to = i < n ? cuts[i] : len;
        size_t before = r->fed;
        int dones = r->dones;
        relay_feed(r, in + at, to - at);
        if (r->dones != dones) {
            /* done appears with the piece that holds the last body byte, not before */
            cr_assert(before < len - 5 && r->fed >= len - 5, "done at %zu..%zu", before, r->fed);
        }
        at = to;
    }
}

ParameterizedTest(struct walk_case *t, chunked, walk)
{
    struct relay *r = malloc(sizeof(*r));
    char in[256];
    size_t len = strlen(t->body);
    size_t cuts[64];

    cr_assert_not_null(r);
    snprintf(in, sizeof(in), "%sGET /", t->body);

    /* whole, with all data taken at once and in random pieces */
    for (uint32_t seed = 0; seed < 4; seed++) {
        relay_init(r, seed);
        walk_pieces(r, in, len + 5, NULL, 0);
        check_walk(t, r, "whole");
        cr_assert(r->plen == 5 && memcmp(r->pend, "GET /", 5) == 0, "next request not left");
    }
    /* every split point */
    for (size_t k = 0; k <= len + 5; k++) {
        relay_init(r, (uint32_t)k);
        walk_pieces(r, in, len + 5, &k, 1);
        check_walk(t, r, "split");
    }
    /* byte by byte: done exactly with the last byte of the body */
    for (uint32_t seed = 0; seed < 2; seed++) {
        relay_init(r, seed * 77);
        for (size_t i = 0; i < len + 5; i++) {
            relay_feed(r, in + i, 1);
            cr_assert_eq(r->dones, i + 1 >= len, "byte %zu: %s", i, t->body);
        }
        cr_assert_eq(r->fed_done, len);
        check_walk(t, r, "bytes");
    }
    /* random splits */
    uint32_t rng = 0x9e3779b9u ^ (uint32_t)len;
    for (int round = 0; round < 200; round++) {
        size_t n = 1 + xorshift(&rng) % MTLB_ARRAY_LEN(cuts);
        for (size_t i = 0; i < n; i++) {
            cuts[i] = xorshift(&rng) % (len + 6);
        }
        for (size_t i = 1; i < n; i++) { /* insertion sort: cut points in order */
            for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
                size_t tmp = cuts[j];
                cuts[j] = cuts[j - 1];
                cuts[j - 1] = tmp;
            }
        }
        relay_init(r, round % 2 ? xorshift(&rng) | 1 : 0);
        walk_pieces(r, in, len + 5, cuts, n);
        check_walk(t, r, "random");
    }
    free(r);
}

ParameterizedTestParameters(chunked, walk_rejects)
{
    return cr_make_param_array(struct bad_case, bad_cases, MTLB_ARRAY_LEN(bad_cases));
}

ParameterizedTest(struct bad_case *t, chunked, walk_rejects)
{
    struct relay *r = malloc(sizeof(*r));
    size_t len = strlen(t->body);
    size_t dl, tl;
    bool done;

    cr_assert_not_null(r);
    relay_init(r, 0);
    relay_feed(r, t->body, len);
    cr_assert(r->invalid, "accepted: %s", t->body);
    cr_assert_eq(r->dones, 0);
    cr_assert_eq(mtlb_h1_chunked_next(&r->c, "0\r\n\r\n", 5, &dl, &tl, &done), MTLB_INVALID,
                 "not sticky: %s", t->body);
    cr_assert_not(done);

    for (uint32_t seed = 0; seed < 3; seed++) {
        relay_init(r, seed * 31);
        for (size_t i = 0; i < len && !r->invalid; i++) {
            relay_feed(r, t->body + i, 1);
            cr_assert_eq(r->dones, 0, "done on invalid input: %s", t->body);
        }
        cr_assert(r->invalid, "byte by byte accepted: %s", t->body);
    }
    free(r);
}

Test(chunked, walk_reports_trailers_before_final_crlf)
{
    const char *s = "0\r\nA: b\r\n\r\nNEXT";
    size_t dl, tl;
    bool done;
    struct mtlb_h1_chunked c;

    mtlb_h1_chunked_init(&c);
    cr_assert_eq(mtlb_h1_chunked_next(&c, s, strlen(s), &dl, &tl, &done), 11);
    cr_assert(done);
    cr_assert_eq(tl, 6);
    cr_assert_eq(dl, 0);
    /* done is reported once; the walk then consumes nothing */
    cr_assert_eq(mtlb_h1_chunked_next(&c, s + 11, 4, &dl, &tl, &done), 0);
    cr_assert_not(done);
    cr_assert_eq(tl, 0);
    cr_assert_eq(dl, 0);
}

Test(chunked, walk_leaves_final_cr_until_its_lf)
{
    size_t dl, tl;
    bool done;
    struct mtlb_h1_chunked c;

    mtlb_h1_chunked_init(&c);
    cr_assert_eq(mtlb_h1_chunked_next(&c, "0\r\nA: b\r\n\r", 10, &dl, &tl, &done), 9);
    cr_assert_not(done);
    cr_assert_eq(tl, 6);
    cr_assert_eq(mtlb_h1_chunked_next(&c, "\r", 1, &dl, &tl, &done), 0);
    cr_assert_not(done);
    cr_assert_eq(mtlb_h1_chunked_next(&c, "\r\n", 2, &dl, &tl, &done), 2);
    cr_assert(done);
    cr_assert_eq(tl, 0);
}

Test(chunked, walk_reports_pending_data_again)
{
    const char *s = "a\r\n0123456789\r\n0\r\n\r\n";
    size_t dl, tl;
    bool done;
    struct mtlb_h1_chunked c;

    mtlb_h1_chunked_init(&c);
    cr_assert_eq(mtlb_h1_chunked_next(&c, s, 7, &dl, &tl, &done), 3);
    cr_assert_eq(dl, 4, "only what buf holds");
    cr_assert_eq(mtlb_h1_chunked_next(&c, s + 3, 4, &dl, &tl, &done), 0);
    cr_assert_eq(dl, 4, "untaken data reported again");
    mtlb_h1_chunked_take(&c, 3);
    cr_assert_eq(mtlb_h1_chunked_next(&c, s + 6, strlen(s) - 6, &dl, &tl, &done), 0);
    cr_assert_eq(dl, 7, "at most the rest of the chunk");
    mtlb_h1_chunked_take(&c, 0);
    mtlb_h1_chunked_take(&c, 7);
    cr_assert_eq(c.body_bytes, 10);
    cr_assert_eq(mtlb_h1_chunked_next(&c, s + 13, strlen(s) - 13, &dl, &tl, &done), 7);
    cr_assert(done);
    cr_assert_eq(dl, 0);
}

Test(chunked, walk_take_beyond_data_is_invalid)
{
    size_t dl, tl;
    bool done;
    struct mtlb_h1_chunked c;

    mtlb_h1_chunked_init(&c);
    cr_assert_eq(mtlb_h1_chunked_next(&c, "3\r\nabc", 6, &dl, &tl, &done), 3);
    cr_assert_eq(dl, 3);
    mtlb_h1_chunked_take(&c, 4);
    cr_assert_eq(mtlb_h1_chunked_next(&c, "abc\r\n0\r\n\r\n", 10, &dl, &tl, &done), MTLB_INVALID);

    /* taking while framing is expected is a caller bug too */
    mtlb_h1_chunked_init(&c);
    mtlb_h1_chunked_take(&c, 1);
    cr_assert_eq(mtlb_h1_chunked_next(&c, "0\r\n\r\n", 5, &dl, &tl, &done), MTLB_INVALID);
}

Test(chunked, walk_line_limits)
{
    struct relay *r = malloc(sizeof(*r));
    char *ok = size_line(4096, "x\r\n0\r\n\r\n");
    char *bad = size_line(4097, "x\r\n0\r\n\r\n");
    char *t = malloc(4200);

    cr_assert(r != NULL && t != NULL);
    relay_init(r, 0);
    relay_feed(r, ok, strlen(ok));
    cr_assert_eq(r->dones, 1);
    cr_assert(r->dlen == 1 && r->data[0] == 'x');
    relay_init(r, 0);
    relay_feed(r, bad, 3000);
    cr_assert_not(r->invalid);
    relay_feed(r, bad + 3000, strlen(bad) - 3000);
    cr_assert(r->invalid);

    for (size_t line = 4096; line <= 4097; line++) {
        memcpy(t, "0\r\nX:", 5);
        memset(t + 5, 'v', line - 2);
        strcpy(t + 3 + line, "\r\n\r\n");
        relay_init(r, 0);
        relay_feed(r, t, 2000);
        relay_feed(r, t + 2000, strlen(t) - 2000);
        cr_assert_eq(r->invalid, line == 4097);
        cr_assert_eq(r->dones, line == 4096);
        if (line == 4096) {
            cr_assert_eq(r->tlen, line + 2);
        }
    }
    free(ok);
    free(bad);
    free(t);
    free(r);
}

Test(chunked, walk_chunk_size_overflow)
{
    struct relay r;

    relay_init(&r, 0);
    relay_feed(&r, "1000000000000000\r\nabc", 21);
    cr_assert_not(r.invalid);
    cr_assert_eq(r.dlen, 3);
    cr_assert_eq(r.c.remaining, (UINT64_C(1) << 60) - 3);
    relay_init(&r, 0);
    relay_feed(&r, "10000000", 8);
    relay_feed(&r, "00000001\r\n", 10);
    cr_assert(r.invalid);
}

/* ---- canonicalising in-place relay (HTTP/1.1 request bodies) ---- */

/* A relay as the HTTP/1.1 client side runs it: input appended in pieces behind what was
 * already produced; after each call the unread rest is closed up behind the output. */
struct canon {
    struct mtlb_h1_chunked c;
    char buf[4096 + 256];
    size_t fwd; /* canonical bytes produced */
    size_t len; /* fwd + bytes not read yet */
    bool done, invalid;
};

static int keep_all(struct mtlb_slice name, void *arg)
{
    (void)arg;
    return name.len > 0 && name.p[0] == '!' ? -1 : 1; /* a "!" name is refused */
}

static void canon_feed(struct canon *k, const char *p, size_t n, mtlb_h1_trailer_filter f)
{
    size_t out = 0;
    struct guarded g;

    cr_assert(k->len + n <= sizeof(k->buf));
    memcpy(k->buf + k->len, p, n);
    k->len += n;
    /* against a guard page: nothing past the input is read or written */
    guard_copy(&g, k->buf + k->fwd, k->len - k->fwd);
    ssize_t r = mtlb_h1_chunked_relay(&k->c, g.p, k->len - k->fwd, &out, &k->done, f, NULL);
    if (r < 0) {
        k->invalid = true;
        guard_free(&g);
        return;
    }
    cr_assert_leq(out, (size_t)r, "output %zu outgrew the input %zd", out, r);
    memcpy(k->buf + k->fwd, g.p, out);
    memcpy(k->buf + k->fwd + out, g.p + r, k->len - k->fwd - (size_t)r);
    k->len -= (size_t)r - out;
    k->fwd += out;
    guard_free(&g);
}

struct canon_case {
    char in[200];
    char want[200]; /* what the backend receives */
    bool keep_trailers;
};

static struct canon_case canon_cases[] = {
    {"3\r\nabc\r\n0\r\n\r\n", "3\r\nabc\r\n0\r\n\r\n", false},
    {"0003\r\nabc\r\n000\r\n\r\n", "3\r\nabc\r\n0\r\n\r\n", false},
    {"3 \r\nabc\r\n0\t \r\n\r\n", "3\r\nabc\r\n0\r\n\r\n", false},
    {"3 ; a = \"b\\\"\" ;c\r\nabc\r\n0;x\r\n\r\n", "3\r\nabc\r\n0\r\n\r\n", false},
    {"A\r\n0123456789\r\n1f\r\n0123456789012345678901234567890\r\n0\r\n\r\n",
     "a\r\n0123456789\r\n1f\r\n0123456789012345678901234567890\r\n0\r\n\r\n", false},
    /* trailers carry no identity: dropped by default ... */
    {"1\r\nx\r\n0\r\nX-SSL-Client-Verify: SUCCESS\r\nX_Forwarded_For: 10.6.6.6\r\n\r\n",
     "1\r\nx\r\n0\r\n\r\n", false},
    /* ... and copied verbatim when the filter keeps them (here: all) */
    {"0\r\nX-Sum: 1\r\nb:c\r\n\r\n", "0\r\nX-Sum: 1\r\nb:c\r\n\r\n", true},
};

ParameterizedTestParameters(chunked, relay_canonical)
{
    return cr_make_param_array(struct canon_case, canon_cases, MTLB_ARRAY_LEN(canon_cases));
}

ParameterizedTest(struct canon_case *t, chunked, relay_canonical)
{
    static const char next[] = "GET /next HTTP/1.1\r\n";
    struct canon *k = malloc(sizeof(*k));
    size_t len = strlen(t->in);
    size_t want = strlen(t->want);
    mtlb_h1_trailer_filter f = t->keep_trailers ? keep_all : NULL;

    cr_assert_not_null(k);
    /* every split point, with a pipelined request after the body that must stay intact */
    for (size_t cut = 0; cut <= len; cut++) {
        memset(k, 0, sizeof(*k));
        mtlb_h1_chunked_init(&k->c);
        canon_feed(k, t->in, cut, f);
        cr_assert_not(k->invalid, "cut %zu: %s", cut, t->in);
        cr_assert_eq(k->done, cut == len, "done at cut %zu: %s", cut, t->in);
        canon_feed(k, t->in + cut, len - cut, f);
        canon_feed(k, next, sizeof(next) - 1, f);
        cr_assert_not(k->invalid);
        cr_assert(k->done, "cut %zu not done: %s", cut, t->in);
        cr_assert_eq(k->fwd, want, "cut %zu: got %.*s", cut, (int)k->fwd, k->buf);
        cr_assert(memcmp(k->buf, t->want, want) == 0, "cut %zu: got %.*s", cut, (int)k->fwd,
                  k->buf);
        cr_assert_eq(k->len - k->fwd, sizeof(next) - 1);
        cr_assert(memcmp(k->buf + k->fwd, next, sizeof(next) - 1) == 0);
    }
    /* byte by byte */
    memset(k, 0, sizeof(*k));
    mtlb_h1_chunked_init(&k->c);
    for (size_t i = 0; i < len; i++) {
        canon_feed(k, t->in + i, 1, f);
    }
    cr_assert(k->done && k->fwd == want && memcmp(k->buf, t->want, want) == 0, "%s", t->in);
    /* what comes out is framed identically by a strict parser */
    struct mtlb_h1_chunked c;
    bool done = false;
    mtlb_h1_chunked_init(&c);
    cr_assert_eq(mtlb_h1_chunked_scan(&c, k->buf, want, &done), (ssize_t)want);
    cr_assert(done);
    free(k);
}

ParameterizedTestParameters(chunked, relay_rejects)
{
    return cr_make_param_array(struct bad_case, bad_cases, MTLB_ARRAY_LEN(bad_cases));
}

ParameterizedTest(struct bad_case *t, chunked, relay_rejects)
{
    struct canon *k = malloc(sizeof(*k));
    size_t len = strlen(t->body);

    cr_assert_not_null(k);
    memset(k, 0, sizeof(*k));
    mtlb_h1_chunked_init(&k->c);
    /* an incomplete last line is left unread: the end of the body must come to refuse it */
    canon_feed(k, t->body, len, keep_all);
    canon_feed(k, "\r\n0\r\n\r\n", 7, keep_all);
    cr_assert(k->invalid, "accepted: %s", t->body);
    cr_assert_not(k->done);
    free(k);
}

Test(chunked, relay_filter_refusal_and_limits)
{
    struct canon *k = malloc(sizeof(*k));
    char line[4200];

    cr_assert_not_null(k);
    memset(k, 0, sizeof(*k));
    mtlb_h1_chunked_init(&k->c);
    canon_feed(k, "0\r\nX-A: 1\r\n!b: 2\r\n\r\n", 20, keep_all);
    cr_assert(k->invalid, "the filter's refusal must refuse the body");

    /* a size line with no end in sight is refused once it is past the line limit */
    memset(line, '0', sizeof(line));
    memset(k, 0, sizeof(*k));
    mtlb_h1_chunked_init(&k->c);
    canon_feed(k, line, 4097, NULL);
    cr_assert_not(k->invalid, "4097 bytes could still be a line of 4096 and its CR");
    canon_feed(k, line, 1, NULL);
    cr_assert(k->invalid, "a line over the limit must be refused");
    free(k);
}
