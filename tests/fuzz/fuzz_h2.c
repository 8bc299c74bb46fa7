/* libFuzzer target for the HTTP/2 session glue (src/http/h2_session.c with h2map.c), driven
 * through nghttp2's in-memory API: no sockets. The input is what a client sends after the
 * connection preface, fed in pieces whose sizes come from the first byte. A stub owner answers
 * each request (small body, deferred body, trailers, error page or reset, chosen by the path)
 * and consumes request bodies. Properties beyond "does not crash": every request head handed
 * to the owner rewrites into an HTTP/1.1 head that parses again with exactly one
 * X-SSL-Client-Verify and no client copy of it; the open streams never exceed the limit;
 * request body bytes never exceed the stream window. A violated property aborts. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtlb/h2.h"
#include "mtlb/rewrite.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAX_STREAMS 8
#define WINDOW 4096

struct stub_stream {
    int kind; /* 0 body now, 1 deferred body, 2 trailers, 3 error page, 4 reset */
    int reads;
};

static void check_rewrite(const struct mtlb_h1_message *m)
{
    static const struct mtlb_identity id = {.verify = MTLB_VERIFY_NONE};
    struct mtlb_authority_request ar;
    struct mtlb_rewrite_req rw = {
        .identity = &id, .client_ip = "192.0.2.1", .proto = "https", .target = &ar};
    char out[8192];
    /* h2map checked :authority and host with the same parser: the request must resolve */
    CHECK(mtlb_authority_from_request(m, &ar) == 0);
    ssize_t n = mtlb_rewrite_request(m, &rw, out, sizeof(out));
    if (n < 0) {
        CHECK(n == -ENOSPC || n == -EINVAL);
        return;
    }
    struct mtlb_h1_header hdrs[128];
    struct mtlb_h1_message again = {.headers = hdrs, .max_headers = 128};
    int r = mtlb_h1_parse_request(out, (size_t)n, &again);
    if (r == MTLB_INVALID && again.error_status == 431) {
        return; /* more fields than this check's array holds */
    }
    if (r != (int)n) {
        /* The head must parse unless the client's target holds bytes HTTP/1.1 refuses;
         * nghttp2 validates :path, so that would be a glue bug. */
        fprintf(stderr, "rewritten head does not parse (%d, %s):\n%.*s\n", r,
                again.error_reason ? again.error_reason : "-", (int)n, out);
        abort();
    }
    size_t verify = 0;
    for (size_t i = 0; i < again.num_headers; i++) {
        if (mtlb_h1_name_is(again.headers[i].name, "x-ssl-client-verify")) {
            verify++;
            CHECK(again.headers[i].value.len == 4 &&
                  memcmp(again.headers[i].value.p, "NONE", 4) == 0);
        }
    }
    CHECK(verify == 1);
    CHECK(again.body == m->body);
}

static void on_request(struct mtlb_h2_stream *s)
{
    struct stub_stream *st = calloc(1, sizeof(*st));

    CHECK(st != NULL);
    check_rewrite(&s->msg);
    st->kind =
        s->msg.target.len > 0 ? (unsigned char)s->msg.target.p[s->msg.target.len - 1] % 5 : 0;
    s->user = st;
    if (st->kind == 3) {
        mtlb_h2_respond_error(s, 502);
        return;
    }
    if (st->kind == 4) {
        mtlb_h2_reset(s, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    nghttp2_nv nv[] = {{(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE}};
    mtlb_h2_respond(s, nv, 1, true);
}

static void on_body(struct mtlb_h2_stream *s)
{
    CHECK(s->body_len <= WINDOW);
    if (s->body_len > 0) {
        mtlb_h2_consume(s, s->body_len / 2 + 1);
    }
}

static void on_close(struct mtlb_h2_stream *s, uint32_t code)
{
    (void)code;
    free(s->user);
}

static ssize_t read_body(struct mtlb_h2_stream *s, uint8_t *buf, size_t len, int *flags)
{
    struct stub_stream *st = s->user;

    if (st->kind == 1 && st->reads++ == 0) {
        mtlb_h2_resume(s); /* not deferred yet: must be harmless */
        return -EAGAIN;
    }
    size_t n = len < 100 ? len : 100;
    memset(buf, 'x', n);
    *flags = MTLB_H2_EOF;
    if (st->kind == 2) {
        nghttp2_nv nv[] = {{(uint8_t *)"x-sum", (uint8_t *)"1", 5, 1, NGHTTP2_NV_FLAG_NONE}};
        if (mtlb_h2_submit_trailers(s, nv, 1) == 0) {
            *flags |= MTLB_H2_TRAILERS;
        }
    }
    return (ssize_t)n;
}

static const struct mtlb_h2_ops ops = {on_request, on_body, on_close, read_body};

static void drain(struct mtlb_h2_conn *h)
{
    for (int i = 0; i < 1000; i++) {
        const uint8_t *p;
        ssize_t n = mtlb_h2_conn_output(h, &p);
        if (n <= 0) {
            return;
        }
        /* Take it in two bites, as a full send buffer would. */
        mtlb_h2_conn_sent(h, (size_t)n / 2);
        mtlb_h2_conn_sent(h, (size_t)n - (size_t)n / 2);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    const struct mtlb_h2_settings st = {
        .max_streams = MAX_STREAMS,
        .max_header_bytes = 4096,
        .max_headers = 32,
        .stream_window = WINDOW,
        .conn_window = 4 * WINDOW,
        .junk_per_sec = 100,
        .headers = {.forward_trailers = true}, /* the trailer filter is exercised too */
    };
    struct mtlb_h2_conn *h = NULL;

    if (size < 1 || mtlb_h2_conn_new(&h, &st, &ops, NULL) != 0) {
        return 0;
    }
    size_t piece = data[0] % 64 + 1;
    uint64_t now = 0;
    int rc = mtlb_h2_conn_recv(h, (const uint8_t *)preface, sizeof(preface) - 1, now);
    for (size_t off = 1; rc == 0 && off < size; off += piece) {
        size_t n = size - off < piece ? size - off : piece;
        rc = mtlb_h2_conn_recv(h, data + off, n, now += 7);
        CHECK(mtlb_h2_conn_streams(h) <= MAX_STREAMS + 1);
        if ((off / piece) % 3 == 0) {
            drain(h);
            mtlb_h2_conn_trim(h); /* as the worker does when the connection goes idle */
        }
        CHECK(!mtlb_h2_conn_idle(h) || mtlb_h2_conn_streams(h) == 0);
    }
    drain(h);
    if (data[0] & 0x80) {
        mtlb_h2_conn_shutdown(h);
        drain(h);
    }
    mtlb_h2_conn_free(h);
    return 0;
}
