/* The HTTP/2 server session of one client connection: creation and options, nghttp2
 * callbacks, stream objects, request head collection (header list limits, 431), request body
 * windows with manual flow control (bytes are acknowledged only once they left for the
 * backend), and the frame-flood budget. Bytes in and out, responses and state queries are in
 * h2_io.c. No I/O. */
#include "mtlb/h2.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h2_internal.h"

/* ---- streams ---- */

static void fields_release(struct mtlb_h2_conn *h)
{
    for (size_t i = 0; i < h->nf; i++) {
        nghttp2_rcbuf_decref(h->rc[2 * i]);
        nghttp2_rcbuf_decref(h->rc[2 * i + 1]);
    }
    h->nf = 0;
    h->hbytes = 0;
    h->fowner = NULL;
}

void *mtlb_h2_grow(void **buf, size_t *cap, size_t need)
{
    if (*cap < need) {
        void *p = realloc(*buf, need);
        if (p == NULL) {
            return NULL;
        }
        *buf = p;
        *cap = need;
    }
    return *buf;
}

static void stream_free(struct mtlb_h2_stream *s)
{
    struct mtlb_h2_conn *h = s->conn;

    if (h->fowner == s) {
        fields_release(h);
    }
    if (s->prev != NULL) {
        s->prev->next = s->next;
    } else {
        h->streams = s->next;
    }
    if (s->next != NULL) {
        s->next->prev = s->prev;
    }
    h->n_streams--;
    free(s->body);
    free(s->trailers);
    free(s);
}

struct mtlb_h2_stream *mtlb_h2_stream_of(struct mtlb_h2_conn *h, int32_t id)
{
    return nghttp2_session_get_stream_user_data(h->ss, id);
}

static int on_begin_headers(nghttp2_session *ss, const nghttp2_frame *fr, void *arg)
{
    struct mtlb_h2_conn *h = arg;

    fields_release(h); /* whatever an aborted block left */
    if (fr->hd.type != NGHTTP2_HEADERS || fr->headers.cat != NGHTTP2_HCAT_REQUEST) {
        struct mtlb_h2_stream *s = mtlb_h2_stream_of(h, fr->hd.stream_id);
        if (s != NULL) {
            s->in_trailers = true; /* trailers: a new header list */
            h->fowner = s;
        }
        return 0;
    }
    struct mtlb_h2_stream *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    s->conn = h;
    s->id = fr->hd.stream_id;
    s->next = h->streams;
    if (h->streams != NULL) {
        h->streams->prev = s;
    }
    h->streams = s;
    h->n_streams++;
    h->fowner = s;
    nghttp2_session_set_stream_user_data(ss, s->id, s);
    return 0;
}

/* Keeps each field (by reference) until the head is complete, within the list limits. */
static int on_header(nghttp2_session *ss, const nghttp2_frame *fr, nghttp2_rcbuf *name,
                     nghttp2_rcbuf *value, uint8_t flags, void *arg)
{
    struct mtlb_h2_conn *h = arg;
    struct mtlb_h2_stream *s = mtlb_h2_stream_of(h, fr->hd.stream_id);
    nghttp2_vec nv = nghttp2_rcbuf_get_buf(name), vv = nghttp2_rcbuf_get_buf(value);

    (void)ss;
    (void)flags;
    if (s == NULL || s->head_status != 0 || h->fowner != s) {
        return 0;
    }
    h->hbytes += nv.len + vv.len + 32; /* RFC 9113 section 6.5.2 accounting */
    if (h->hbytes > h->st.max_header_bytes || h->nf >= h->st.max_headers + 8) {
        s->head_status = 431;
        fields_release(h);
        return 0;
    }
    if (h->nf == h->fcap) {
        size_t cap = h->fcap ? h->fcap * 2 : 32;
        struct mtlb_h2_field *f = realloc(h->f, cap * sizeof(*f));
        if (f != NULL) {
            h->f = f;
        }
        nghttp2_rcbuf **rc = realloc(h->rc, 2 * cap * sizeof(*rc));
        if (f == NULL || rc == NULL) {
            h->rc = rc != NULL ? rc : h->rc;
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
        h->rc = rc;
        h->fcap = cap;
    }
    nghttp2_rcbuf_incref(name);
    nghttp2_rcbuf_incref(value);
    h->rc[2 * h->nf] = name;
    h->rc[2 * h->nf + 1] = value;
    h->f[h->nf].name = (struct mtlb_slice){(const char *)nv.base, nv.len};
    h->f[h->nf].value = (struct mtlb_slice){(const char *)vv.base, vv.len};
    h->nf++;
    return 0;
}

/* The request head is complete: build the HTTP/1.1 view and hand it to the owner. */
static void request_ready(struct mtlb_h2_conn *h, struct mtlb_h2_stream *s, bool end)
{
    size_t cap = h->hbytes + 64;
    size_t nh = h->nf + 4;

    s->end_stream = end;
    if (s->head_status == 0 &&
        (mtlb_h2_grow((void **)&h->hdrs, &h->hdrs_cap, nh * sizeof(*h->hdrs)) == NULL ||
         mtlb_h2_grow((void **)&h->scratch, &h->scratch_cap, cap) == NULL)) {
        s->head_status = 500;
    }
    if (s->head_status == 0) {
        memset(&s->msg, 0, sizeof(s->msg));
        s->msg.headers = h->hdrs;
        s->msg.max_headers = nh;
        int rc = mtlb_h2_request_msg(h->f, h->nf, end, &s->msg, h->scratch, cap);
        s->head_status = rc == 0 ? 0 : rc == -ENOSPC ? 431 : rc == -ENOTSUP ? 501 : 400;
    }
    if (s->head_status == 0) {
        h->ops->on_request(s);
    } else {
        s->discard = true;
        mtlb_h2_respond_error(s, s->head_status);
    }
    memset(&s->msg, 0, sizeof(s->msg));
    fields_release(h);
}

static void trailers_ready(struct mtlb_h2_conn *h, struct mtlb_h2_stream *s)
{
    size_t cap = h->hbytes + 16;

    s->end_stream = true;
    if (s->head_status == 0 && !s->discard && h->nf > 0 && h->fowner == s &&
        h->st.headers.forward_trailers) {
        s->trailers = malloc(cap);
        ssize_t n = s->trailers ? mtlb_h2_trailer_block_named(h->f, h->nf, &h->st.headers,
                                                              &h->st.id_names, s->trailers, cap)
                                : -ENOMEM;
        if (n < 0) {
            free(s->trailers);
            s->trailers = NULL; /* trailers are advisory: dropping them is allowed */
        } else {
            s->trailers_len = (size_t)n;
        }
    }
    fields_release(h);
    if (!s->discard) {
        h->ops->on_body(s);
    }
}

/* Frames that make the server work without moving any request forward (empty DATA,
 * PRIORITY, PING, SETTINGS, RST_STREAM, WINDOW_UPDATE on a closed stream...) are budgeted
 * per second; a client over budget gets GOAWAY(ENHANCE_YOUR_CALM). */
static void junk(struct mtlb_h2_conn *h)
{
    if (h->now_ms >= h->junk_window_ms + 1000) {
        h->junk_window_ms = h->now_ms;
        h->junk = 0;
    }
    if (++h->junk > h->st.junk_per_sec && !h->dead) {
        h->dead = true;
        nghttp2_session_terminate_session(h->ss, NGHTTP2_ENHANCE_YOUR_CALM);
    }
}

static int on_frame_recv(nghttp2_session *ss, const nghttp2_frame *fr, void *arg)
{
    struct mtlb_h2_conn *h = arg;
    struct mtlb_h2_stream *s = mtlb_h2_stream_of(h, fr->hd.stream_id);
    bool end = (fr->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

    (void)ss;
    switch (fr->hd.type) {
    case NGHTTP2_HEADERS:
        if (s == NULL) {
            break;
        }
        if (fr->headers.cat == NGHTTP2_HCAT_REQUEST) {
            request_ready(h, s, end);
        } else {
            trailers_ready(h, s);
        }
        break;
    case NGHTTP2_DATA:
        if (fr->hd.length == 0 && !end) {
            junk(h);
        }
        if (s != NULL && end) {
            s->end_stream = true;
            if (!s->discard) {
                h->ops->on_body(s);
            }
        }
        break;
    case NGHTTP2_SETTINGS:
    case NGHTTP2_PING:
        if (!(fr->hd.flags & NGHTTP2_FLAG_ACK)) {
            junk(h);
        }
        break;
    case NGHTTP2_PRIORITY:
    case NGHTTP2_RST_STREAM:
        junk(h);
        break;
    case NGHTTP2_WINDOW_UPDATE:
        if (fr->hd.stream_id != 0 && s == NULL) {
            junk(h);
        }
        break;
    default:
        break;
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *ss, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *arg)
{
    struct mtlb_h2_conn *h = arg;
    struct mtlb_h2_stream *s = mtlb_h2_stream_of(h, id);

    (void)flags;
    if (s != NULL) {
        s->body_total += len;
    }
    if (s == NULL || s->discard) {
        nghttp2_session_consume(ss, id, len);
        return 0;
    }
    if (s->body == NULL) {
        s->body = malloc(h->st.stream_window);
        if (s->body == NULL) {
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
        s->body_cap = h->st.stream_window;
    }
    if (len > s->body_cap - s->body_len) {
        /* Only a peer ignoring our window can get here. */
        nghttp2_submit_rst_stream(ss, NGHTTP2_FLAG_NONE, id, NGHTTP2_FLOW_CONTROL_ERROR);
        return 0;
    }
    memcpy(s->body + s->body_len, data, len);
    s->body_len += (uint32_t)len;
    h->ops->on_body(s);
    return 0;
}

static int on_stream_close(nghttp2_session *ss, int32_t id, uint32_t code, void *arg)
{
    struct mtlb_h2_conn *h = arg;
    struct mtlb_h2_stream *s = mtlb_h2_stream_of(h, id);

    if (s == NULL) {
        return 0;
    }
    if (s->user != NULL) {
        h->ops->on_close(s, code);
        s->user = NULL;
    }
    /* Bytes the stream still held count against the connection window: give them back. */
    if (s->body_len > 0) {
        nghttp2_session_consume_connection(ss, s->body_len);
    }
    nghttp2_session_set_stream_user_data(ss, id, NULL);
    stream_free(s);
    return 0;
}

/* A complete response to a request the client is still sending: ask it to stop, without
 * error (RFC 9113 section 8.1), so the stream does not linger half-open. */
static int on_frame_send(nghttp2_session *ss, const nghttp2_frame *fr, void *arg)
{
    struct mtlb_h2_conn *h = arg;

    if (fr->hd.length > MTLB_H2_FBUF_CLEAN) {
        h->fbuf_dirty = true;
    }
    if ((fr->hd.type == NGHTTP2_DATA || fr->hd.type == NGHTTP2_HEADERS) &&
        (fr->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        struct mtlb_h2_stream *s = mtlb_h2_stream_of(h, fr->hd.stream_id);
        if (s != NULL && !s->end_stream) {
            nghttp2_submit_rst_stream(ss, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
        }
    }
    return 0;
}

static int on_invalid_frame(nghttp2_session *ss, const nghttp2_frame *fr, int err, void *arg)
{
    (void)ss;
    (void)fr;
    (void)err;
    junk(arg);
    return 0;
}

/* ---- the connection ---- */

void mtlb_h2_conn_set_header_policy(struct mtlb_h2_conn *h, const struct mtlb_header_policy *p,
                                    const struct mtlb_id_names *names)
{
    h->st.headers = *p;
    h->st.id_names = *names;
}

int mtlb_h2_conn_new(struct mtlb_h2_conn **out, const struct mtlb_h2_settings *st,
                     const struct mtlb_h2_ops *ops, void *owner)
{
    struct mtlb_h2_conn *h = calloc(1, sizeof(*h));
    nghttp2_session_callbacks *cb = NULL;
    nghttp2_option *opt = NULL;
    int rc = -ENOMEM;

    if (h == NULL || nghttp2_session_callbacks_new(&cb) != 0 || nghttp2_option_new(&opt) != 0) {
        goto out;
    }
    h->ops = ops;
    h->owner = owner;
    h->st = *st;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback2(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, on_invalid_frame);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    /* Window updates only once the bytes have left for the backend: bounded buffers. */
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_max_continuations(opt, 8);
    /* Rapid reset (CVE-2023-44487): a burst of 100 stream resets, then 33 per second. Each
     * reset stream was a whole request head to parse, route and rewrite (bench/flood, under
     * load: 1000 a connection kept the worker 70 % busy and its other clients waited
     * seconds); 100 makes a reconnecting attacker pay a handshake per 100 streams. */
    nghttp2_option_set_stream_reset_rate_limit(opt, 100, 33);
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_max_settings(opt, 32);
    /* Closed streams serve only RFC 7540 priorities, which a proxy to HTTP/1.1 backends does
     * not use: not kept, an idle connection holds no stream object. */
    nghttp2_option_set_no_closed_streams(opt, 1);
    nghttp2_mem mem = mtlb_h2_mem(h);
    h->fbuf_watch = true;
    if (nghttp2_session_server_new3(&h->ss, cb, h, opt, &mem) != 0) {
        goto out;
    }
    h->fbuf_watch = false;
    mtlb_h2_mem_release(h);
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, st->max_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, st->stream_window},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, st->max_header_bytes},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
    };
    if (nghttp2_submit_settings(h->ss, NGHTTP2_FLAG_NONE, iv, 4) != 0 ||
        nghttp2_session_set_local_window_size(h->ss, NGHTTP2_FLAG_NONE, 0,
                                              (int32_t)st->conn_window) != 0) {
        goto out;
    }
    *out = h;
    h = NULL;
    rc = 0;
out:
    nghttp2_session_callbacks_del(cb);
    nghttp2_option_del(opt);
    if (h != NULL) {
        nghttp2_session_del(h->ss);
        free(h);
    }
    return rc;
}

void mtlb_h2_conn_free(struct mtlb_h2_conn *h)
{
    if (h == NULL) {
        return;
    }
    while (h->streams != NULL) {
        struct mtlb_h2_stream *s = h->streams;
        if (s->user != NULL) {
            h->ops->on_close(s, NGHTTP2_CANCEL);
            s->user = NULL;
        }
        stream_free(s);
    }
    fields_release(h);
    nghttp2_session_del(h->ss);
    free(h->cbuf);
    free(h->f);
    free(h->rc);
    free(h->hdrs);
    free(h->scratch);
    free(h);
}

void *mtlb_h2_conn_owner(const struct mtlb_h2_conn *h)
{
    return h->owner;
}
