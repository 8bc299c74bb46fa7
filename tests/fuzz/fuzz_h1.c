/* libFuzzer target for the HTTP/1.1 parsers, the chunked scanner and relay, and the rewriter.
 * Beyond "does not crash" it checks properties: results stay inside the input, a parsed head
 * re-parses the same from its exact length, chunked scanning gives the same answer however the
 * input is split, the canonicalising relay agrees with the scanner and its output is canonical,
 * a rewritten head parses again with the same body framing, no protected field but the seven
 * mtlb adds and exactly the authority that was checked, and a normalized authority parses back
 * to itself. A violated property aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtlb/authority.h"
#include "mtlb/h1.h"
#include "mtlb/rewrite.h"

#define MAX_HDRS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void check_slice(struct mtlb_slice s, const char *buf, size_t len)
{
    if (s.len > 0) {
        CHECK(s.p >= buf && s.p + s.len <= buf + len);
    }
}

static void check_result(int r, const char *buf, size_t len, const struct mtlb_h1_message *m)
{
    CHECK(r == MTLB_INCOMPLETE || r == MTLB_INVALID || (r > 0 && (size_t)r <= len));
    if (r == MTLB_INVALID) {
        CHECK(m->error_reason != NULL);
        CHECK(m->error_offset <= len);
        CHECK(m->error_status == 400 || m->error_status == 431 || m->error_status == 501 ||
              m->error_status == 505);
        return;
    }
    if (r < 0) {
        return;
    }
    CHECK(m->num_headers <= m->max_headers);
    check_slice(m->method, buf, (size_t)r);
    check_slice(m->target, buf, (size_t)r);
    check_slice(m->reason, buf, (size_t)r);
    for (size_t i = 0; i < m->num_headers; i++) {
        check_slice(m->headers[i].name, buf, (size_t)r);
        check_slice(m->headers[i].value, buf, (size_t)r);
    }
}

/* Scans buf as a chunked body: a first piece of `first` bytes, then pieces of at most `step`
 * bytes (0: all the rest at once). Returns the bytes claimed or MTLB_INVALID. */
static ssize_t scan_in_steps(const char *buf, size_t len, size_t first, size_t step, bool *done)
{
    struct mtlb_h1_chunked c;
    size_t off = 0;
    size_t n = first;

    mtlb_h1_chunked_init(&c);
    for (;;) {
        n = n > len - off ? len - off : n;
        ssize_t r = mtlb_h1_chunked_scan(&c, buf + off, n, done);
        if (r < 0) {
            return r;
        }
        CHECK((size_t)r <= n);
        off += (size_t)r;
        if (*done || off >= len) {
            return (ssize_t)off;
        }
        CHECK((size_t)r == n); /* only the end of the body stops a scan early */
        n = step ? step : len - off;
    }
}

/* Relays a copy of buf in place, in pieces of `step` bytes (0: at once), closing up the unread
 * rest behind the output as the HTTP/1.1 relay does. Returns the input bytes consumed or
 * MTLB_INVALID; the canonical body is out[0..*out_len). */
static ssize_t relay_in_steps(const char *buf, size_t len, size_t step, char *out, size_t *out_len,
                              bool *done)
{
    struct mtlb_h1_chunked c;
    size_t fwd = 0, have = 0, fed = 0, consumed = 0;

    mtlb_h1_chunked_init(&c);
    *done = false;
    while (!*done) {
        size_t n = step && step < len - fed ? step : len - fed;
        memcpy(out + have, buf + fed, n);
        have += n;
        fed += n;
        size_t o = 0;
        ssize_t r = mtlb_h1_chunked_relay(&c, out + fwd, have - fwd, &o, done, NULL, NULL);
        if (r < 0) {
            return r;
        }
        CHECK(o <= (size_t)r && (size_t)r <= have - fwd);
        memmove(out + fwd + o, out + fwd + r, have - fwd - (size_t)r);
        have -= (size_t)r - o;
        fwd += o;
        consumed += (size_t)r;
        if (fed == len) {
            break;
        }
    }
    *out_len = fwd;
    return (ssize_t)consumed;
}

static void fuzz_relay(const char *buf, size_t len, ssize_t scanned, bool scan_done)
{
    char *out = malloc(len + 1);
    char *again = malloc(len + 1);
    size_t olen = 0, alen = 0;
    bool done = false, done2 = false;

    CHECK(out != NULL && again != NULL);
    ssize_t r = relay_in_steps(buf, len, 0, out, &olen, &done);
    /* the relay refuses nothing the scanner takes, and ends the body where it does */
    CHECK(r >= 0 || scanned < 0);
    CHECK(done == scan_done && (!done || r == scanned));
    if (done) {
        /* canonical: scanned whole by a strict parser, and a fixed point of the relay */
        struct mtlb_h1_chunked c;
        bool d = false;
        mtlb_h1_chunked_init(&c);
        CHECK(mtlb_h1_chunked_scan(&c, out, olen, &d) == (ssize_t)olen && d);
        CHECK(relay_in_steps(out, olen, 0, again, &alen, &done2) == (ssize_t)olen && done2);
        CHECK(alen == olen && memcmp(out, again, olen) == 0);
        if (len <= 4096) {
            CHECK(relay_in_steps(buf, len, 1, again, &alen, &done2) == r && done2);
            CHECK(alen == olen && memcmp(out, again, olen) == 0);
        }
    }
    free(out);
    free(again);
}

static void fuzz_chunked(const char *buf, size_t len, size_t split)
{
    bool done_whole, done_split, done_bytes;
    ssize_t whole = scan_in_steps(buf, len, len, 0, &done_whole);
    ssize_t two = scan_in_steps(buf, len, split, 0, &done_split);

    CHECK(whole == two && done_whole == done_split);
    if (len <= 4096) {
        ssize_t bytes = scan_in_steps(buf, len, 1, 1, &done_bytes);
        CHECK(whole == bytes && done_whole == done_bytes);
    }
    fuzz_relay(buf, len, whole, done_whole);
}

static void reparse_request(const struct mtlb_h1_message *orig,
                            const struct mtlb_authority_request *ar, const char *out, ssize_t n)
{
    struct mtlb_h1_header hdrs[MAX_HDRS * 2];
    struct mtlb_h1_message m = {.headers = hdrs, .max_headers = MTLB_ARRAY_LEN(hdrs)};
    struct mtlb_authority_request back;
    int verify = 0, protected_names = 0;

    CHECK(mtlb_h1_parse_request(out, (size_t)n, &m) == n);
    /* the backend's Host is the authority the 421 check saw, and its target is origin form */
    CHECK(mtlb_authority_from_request(&m, &back) == 0 ||
          (orig->minor_version == 0 && ar->authority.host_len == 0));
    if (ar->authority.host_len > 0) {
        CHECK(back.authority.host_len == ar->authority.host_len &&
              memcmp(back.authority.host, ar->authority.host, ar->authority.host_len) == 0 &&
              back.authority.port == ar->authority.port);
    }
    CHECK(m.target.len > 0 &&
          (m.target.p[0] == '/' || (m.target.len == 1 && m.target.p[0] == '*')));
    CHECK(m.body == orig->body && m.content_length == orig->content_length);
    for (size_t i = 0; i < m.num_headers; i++) {
        verify += mtlb_h1_name_is(m.headers[i].name, "x-ssl-client-verify");
        protected_names += mtlb_rewrite_is_protected(m.headers[i].name);
        CHECK(!mtlb_h1_name_is(m.headers[i].name, "connection"));
    }
    CHECK(verify == 1 && protected_names == 7);
}

static void fuzz_request(const char *buf, size_t len)
{
    struct mtlb_h1_header hdrs[MAX_HDRS];
    struct mtlb_h1_message m = {.headers = hdrs, .max_headers = MAX_HDRS};
    int r = mtlb_h1_parse_request(buf, len, &m);

    check_result(r, buf, len, &m);
    if (r <= 0) {
        return;
    }
    /* the head alone parses to the same length; one byte less is incomplete */
    struct mtlb_h1_message again = {.headers = hdrs, .max_headers = MAX_HDRS};
    CHECK(mtlb_h1_parse_request(buf, (size_t)r - 1, &again) == MTLB_INCOMPLETE);
    CHECK(mtlb_h1_parse_request(buf, (size_t)r, &m) == r);

    struct mtlb_identity id = {
        .verify = MTLB_VERIFY_SUCCESS, .subject = "/CN=fuzz", .issuer = "/CN=CA", .serial = "01"};
    struct mtlb_authority_request ar;
    struct mtlb_rewrite_req rw = {
        .identity = &id, .client_ip = "192.0.2.1", .proto = "https", .target = &ar};
    if (mtlb_authority_from_request(&m, &ar) != 0) {
        return; /* answered 400 */
    }
    size_t cap = len + 4096;
    char *out = malloc(cap);
    CHECK(out != NULL);
    ssize_t n = mtlb_rewrite_request(&m, &rw, out, cap);
    CHECK(n > 0);
    reparse_request(&m, &ar, out, n);
    const struct mtlb_header_policy pass = {MTLB_US_PASS, true};
    rw.policy = &pass; /* names with "_" go on, protected spellings still do not */
    n = mtlb_rewrite_request(&m, &rw, out, cap);
    CHECK(n > 0);
    reparse_request(&m, &ar, out, n);
    free(out);
    if (m.body == MTLB_BODY_CHUNKED) {
        fuzz_chunked(buf + r, len - (size_t)r, (len - (size_t)r) / 2);
    }
}

static void fuzz_response(const char *buf, size_t len, bool head)
{
    struct mtlb_h1_header hdrs[MAX_HDRS];
    struct mtlb_h1_message m = {.headers = hdrs, .max_headers = MAX_HDRS};
    int r = mtlb_h1_parse_response(buf, len, head, &m);

    check_result(r, buf, len, &m);
    if (r <= 0) {
        return;
    }
    size_t cap = len + 64;
    char *out = malloc(cap);
    CHECK(out != NULL);
    ssize_t n = mtlb_rewrite_response(&m, true, out, cap);
    CHECK(n > 0);
    struct mtlb_h1_header hdrs2[MAX_HDRS + 1];
    struct mtlb_h1_message back = {.headers = hdrs2, .max_headers = MAX_HDRS + 1};
    CHECK(mtlb_h1_parse_response(out, (size_t)n, head, &back) == n);
    CHECK(back.status == m.status && !back.keep_alive);
    /* 1.0 responses without framing stay until-close; everything else keeps its framing */
    CHECK(back.body == m.body && back.content_length == m.content_length);
    free(out);
}

/* A normalized authority, written as host[:port], parses back to itself. */
static void fuzz_authority(const char *buf, size_t len)
{
    struct mtlb_authority a, again;
    char text[MTLB_AUTHORITY_HOST_MAX + 8];

    if (mtlb_authority_parse((struct mtlb_slice){buf, len}, &a) != 0) {
        return;
    }
    CHECK(a.host_len > 0 && a.host_len <= MTLB_AUTHORITY_HOST_MAX && a.host[a.host_len] == 0);
    CHECK(strlen(a.host) == a.host_len && a.port >= -1 && a.port <= 65535);
    int n = a.port >= 0 ? snprintf(text, sizeof(text), "%s:%d", a.host, a.port)
                        : snprintf(text, sizeof(text), "%s", a.host);
    CHECK(n > 0 && (size_t)n < sizeof(text));
    CHECK(mtlb_authority_parse((struct mtlb_slice){text, (size_t)n}, &again) == 0);
    CHECK(mtlb_authority_same(&a, &again, -1) && again.port == a.port);
    for (size_t i = 0; i < a.host_len; i++) {
        CHECK(!(a.host[i] >= 'A' && a.host[i] <= 'Z') && a.host[i] != '@');
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size heap copy, so that AddressSanitizer sees any read past the end */
    char *buf = calloc(1, size ? size : 1);

    if (buf == NULL) {
        return 0;
    }
    if (size > 0) {
        memcpy(buf, data, size);
    }
    size_t split = size ? (data[0] * 131u + data[size - 1]) % (size + 1) : 0;
    fuzz_request(buf, size);
    fuzz_authority(buf, size);
    fuzz_response(buf, size, size > 0 && (data[size - 1] & 1));
    fuzz_chunked(buf, size, split);
    free(buf);
    return 0;
}
