/* The HTTP/2 session's frame buffer (src/http/h2_mem.c): noted at creation, its pages handed
 * back to the kernel at creation and when an idle connection is trimmed after a frame larger
 * than a page, and the session still answers correctly from a buffer whose pages read back as
 * zeros. Residency is read with mincore. A client nghttp2 session drives it in memory. */
#include <criterion/criterion.h>
#include <nghttp2/nghttp2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../src/http/h2_internal.h"
#include "mtlb/h2.h"

#define BODY 12000 /* one DATA frame well over a page */

static size_t served;

static void on_request(struct mtlb_h2_stream *s)
{
    nghttp2_nv nv[] = {{(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE}};
    s->user = &served;
    cr_assert_eq(mtlb_h2_respond(s, nv, 1, true), 0);
}

static void on_body(struct mtlb_h2_stream *s)
{
    (void)s;
}

static void on_close(struct mtlb_h2_stream *s, uint32_t code)
{
    (void)code;
    s->user = NULL;
}

/* The body is BODY bytes of a pattern the client checks. */
static ssize_t read_body(struct mtlb_h2_stream *s, uint8_t *buf, size_t len, int *flags)
{
    (void)s;
    size_t n = BODY - served < len ? BODY - served : len;
    for (size_t i = 0; i < n; i++) {
        buf[i] = (uint8_t)('a' + (served + i) % 26);
    }
    served += n;
    *flags = served == BODY ? MTLB_H2_EOF : 0;
    return (ssize_t)n;
}

static const struct mtlb_h2_ops ops = {on_request, on_body, on_close, read_body};

/* Pages of the frame buffer (whole pages inside it) that are resident. */
static size_t resident(const struct mtlb_h2_conn *h)
{
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t from = ((uintptr_t)h->fbuf + pg - 1) & ~(pg - 1);
    uintptr_t to = ((uintptr_t)h->fbuf + h->fbuf_len) & ~(pg - 1);
    unsigned char v[16];
    size_t n = (to - from) / pg, count = 0;

    cr_assert(n > 0 && n <= sizeof(v));
    cr_assert_eq(mincore((void *)from, to - from, v), 0);
    for (size_t i = 0; i < n; i++) {
        count += v[i] & 1;
    }
    return count;
}

/* ---- the client side ---- */

static uint8_t wire[65536];
static size_t wire_len;
static char got[BODY + 1];
static size_t got_len;
static bool closed;

static ssize_t c_send(nghttp2_session *ss, const uint8_t *d, size_t n, int fl, void *u)
{
    (void)ss, (void)fl, (void)u;
    cr_assert_leq(wire_len + n, sizeof(wire));
    memcpy(wire + wire_len, d, n);
    wire_len += n;
    return (ssize_t)n;
}

static int c_data(nghttp2_session *ss, uint8_t fl, int32_t id, const uint8_t *d, size_t n, void *u)
{
    (void)ss, (void)fl, (void)id, (void)u;
    cr_assert_leq(got_len + n, (size_t)BODY);
    memcpy(got + got_len, d, n);
    got_len += n;
    return 0;
}

static int c_close(nghttp2_session *ss, int32_t id, uint32_t code, void *u)
{
    (void)ss, (void)id, (void)code, (void)u;
    closed = true;
    return 0;
}

static nghttp2_session *client_new(void)
{
    nghttp2_session_callbacks *cb;
    nghttp2_session *cs;
    cr_assert_eq(nghttp2_session_callbacks_new(&cb), 0);
    nghttp2_session_callbacks_set_send_callback(cb, c_send);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, c_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, c_close);
    cr_assert_eq(nghttp2_session_client_new(&cs, cb, NULL), 0);
    nghttp2_session_callbacks_del(cb);
    nghttp2_settings_entry iv = {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20};
    cr_assert_eq(nghttp2_submit_settings(cs, NGHTTP2_FLAG_NONE, &iv, 1), 0);
    return cs;
}

/* One GET from the client, answered by the server session; the body is checked. */
static void exchange(nghttp2_session *cs, struct mtlb_h2_conn *h, uint64_t now)
{
    nghttp2_nv req[] = {
        {(uint8_t *)":method", (uint8_t *)"GET", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":path", (uint8_t *)"/big", 5, 4, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":scheme", (uint8_t *)"https", 7, 5, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":authority", (uint8_t *)"localhost", 10, 9, NGHTTP2_NV_FLAG_NONE},
    };
    served = got_len = 0;
    closed = false;
    cr_assert_gt(nghttp2_submit_request(cs, NULL, req, 4, NULL, NULL), 0);
    for (int round = 0; round < 20 && !closed; round++) {
        wire_len = 0;
        cr_assert_eq(nghttp2_session_send(cs), 0);
        if (wire_len > 0) {
            cr_assert_eq(mtlb_h2_conn_recv(h, wire, wire_len, now), 0);
        }
        const uint8_t *p;
        ssize_t n;
        while ((n = mtlb_h2_conn_output(h, &p)) > 0) {
            cr_assert_eq(nghttp2_session_mem_recv(cs, p, (size_t)n), n);
            mtlb_h2_conn_sent(h, (size_t)n);
        }
    }
    cr_assert(closed, "the stream did not end");
    cr_assert_eq(got_len, (size_t)BODY);
    for (size_t i = 0; i < BODY; i++) {
        cr_assert_eq(got[i], 'a' + (char)(i % 26), "body byte %zu", i);
    }
}

static struct mtlb_h2_conn *server_new(void)
{
    const struct mtlb_h2_settings st = {
        .max_streams = 8,
        .max_header_bytes = 4096,
        .max_headers = 32,
        .stream_window = 65535,
        .conn_window = 1 << 20,
        .junk_per_sec = 100,
    };
    struct mtlb_h2_conn *h = NULL;
    cr_assert_eq(mtlb_h2_conn_new(&h, &st, &ops, NULL), 0);
    return h; /* the client session sends the connection preface */
}

Test(h2_mem, frame_buffer_is_noted_and_not_resident_at_creation)
{
    struct mtlb_h2_conn *h = server_new();
    cr_assert_not_null(h->fbuf, "nghttp2's frame buffer was not recognised");
    cr_assert_geq(h->fbuf_len, (size_t)16384);
    cr_assert_eq(resident(h), 0, "fresh session: %zu pages of its frame buffer resident",
                 resident(h));
    mtlb_h2_conn_free(h);
}

Test(h2_mem, large_frame_pages_go_back_when_idle_and_the_next_answer_is_intact)
{
    struct mtlb_h2_conn *h = server_new();
    nghttp2_session *cs = client_new();
    exchange(cs, h, 1);
    cr_assert(h->fbuf_dirty, "a %d-byte DATA frame did not mark the frame buffer", BODY);
    cr_assert_gt(resident(h), 1, "a large frame was built in the frame buffer");
    cr_assert(mtlb_h2_conn_idle(h));
    mtlb_h2_conn_trim(h); /* as the worker does when it parks the connection */
    cr_assert_not(h->fbuf_dirty);
    cr_assert_eq(resident(h), 0, "idle after trim: %zu pages resident", resident(h));
    exchange(cs, h, 2); /* built again in pages that read back as zeros */
    nghttp2_session_del(cs);
    mtlb_h2_conn_free(h);
}
