/* The HTTP/2 session glue's byte paths and replies: received bytes into nghttp2, its output
 * gathered into TLS-record-sized pieces for the owner, responses and trailers submitted on
 * streams, flow-control credit given back, and the connection's state queries. No I/O. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h2_internal.h"
#include "mtlb/rewrite.h"

/* ---- responses ---- */

static ssize_t body_read(nghttp2_session *ss, int32_t id, uint8_t *buf, size_t len,
                         uint32_t *data_flags, nghttp2_data_source *src, void *arg)
{
    struct mtlb_h2_conn *h = arg;
    struct mtlb_h2_stream *s = src->ptr;
    int flags = 0;

    (void)ss;
    (void)id;
    if (s->err_body != NULL) {
        size_t n = s->err_left < len ? s->err_left : len;
        memcpy(buf, s->err_body, n);
        s->err_body += n;
        s->err_left -= n;
        if (s->err_left == 0) {
            *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        }
        return (ssize_t)n;
    }
    if (s->user == NULL) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    ssize_t n = h->ops->read_body(s, buf, len, &flags);
    if (n == -EAGAIN) {
        return NGHTTP2_ERR_DEFERRED;
    }
    if (n < 0) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    if (flags & MTLB_H2_EOF) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    }
    if (flags & MTLB_H2_TRAILERS) {
        *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    }
    return n;
}

int mtlb_h2_respond(struct mtlb_h2_stream *s, const nghttp2_nv *nva, size_t n, bool body)
{
    nghttp2_data_provider prd = {.source.ptr = s, .read_callback = body_read};

    s->responded = true;
    return nghttp2_submit_response(s->conn->ss, s->id, nva, n, body ? &prd : NULL);
}

int mtlb_h2_respond_error(struct mtlb_h2_stream *s, int status)
{
    char code[8], len[24];
    const char *text = mtlb_http_status_text(status);

    snprintf(code, sizeof(code), "%03d", (status % 1000 + 1000) % 1000);
    snprintf(len, sizeof(len), "%zu", strlen(text) + 1);
    nghttp2_nv nva[] = {
        {(uint8_t *)":status", (uint8_t *)code, 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"text/plain", 12, 10, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-length", (uint8_t *)len, 14, strlen(len), NGHTTP2_NV_FLAG_NONE},
    };
    snprintf(s->err_text, sizeof(s->err_text), "%s\n", text);
    s->err_body = s->err_text;
    s->err_left = strlen(s->err_text);
    s->discard = true;
    return mtlb_h2_respond(s, nva, 3, true);
}

int mtlb_h2_submit_trailers(struct mtlb_h2_stream *s, const nghttp2_nv *nva, size_t n)
{
    return nghttp2_submit_trailer(s->conn->ss, s->id, nva, n);
}

void mtlb_h2_resume(struct mtlb_h2_stream *s)
{
    nghttp2_session_resume_data(s->conn->ss, s->id);
}

void mtlb_h2_consume(struct mtlb_h2_stream *s, uint32_t n)
{
    if (n > s->body_len) {
        n = s->body_len;
    }
    memmove(s->body, s->body + n, s->body_len - n);
    s->body_len -= n;
    nghttp2_session_consume(s->conn->ss, s->id, n);
}

void mtlb_h2_reset(struct mtlb_h2_stream *s, uint32_t error_code)
{
    nghttp2_submit_rst_stream(s->conn->ss, NGHTTP2_FLAG_NONE, s->id, error_code);
}

#define COALESCE 16384

int mtlb_h2_conn_recv(struct mtlb_h2_conn *h, const uint8_t *p, size_t n, uint64_t now_ms)
{
    /* nghttp2 may reuse its output buffer while it reads: keep our own copy of the rest. */
    if (h->out_len > 0) {
        if (mtlb_h2_grow((void **)&h->cbuf, &h->ccap, h->clen + h->out_len) == NULL) {
            return NGHTTP2_ERR_NOMEM;
        }
        memcpy(h->cbuf + h->clen, h->out, h->out_len);
        h->clen += h->out_len;
        h->out_len = 0;
        h->direct = false;
    }
    h->now_ms = now_ms;
    h->busy = true;
    ssize_t rc = nghttp2_session_mem_recv(h->ss, p, n);
    h->busy = false;
    if (rc < 0) {
        h->dead = true;
        return (int)rc;
    }
    return 0;
}

ssize_t mtlb_h2_conn_output(struct mtlb_h2_conn *h, const uint8_t **p)
{
    if (h->direct) {
        *p = h->out;
        return (ssize_t)h->out_len;
    }
    if (h->clen > h->coff) {
        *p = h->cbuf + h->coff;
        return (ssize_t)(h->clen - h->coff);
    }
    h->coff = h->clen = 0;
    if (mtlb_h2_grow((void **)&h->cbuf, &h->ccap, COALESCE) == NULL) {
        return NGHTTP2_ERR_NOMEM;
    }
    while (h->clen < COALESCE) {
        if (h->out_len == 0) {
            h->busy = true;
            ssize_t n = nghttp2_session_mem_send(h->ss, &h->out);
            h->busy = false;
            if (n < 0) {
                h->dead = true;
                return n;
            }
            if (n == 0) {
                break;
            }
            h->out_len = (size_t)n;
        }
        if (h->clen == 0 && h->out_len >= COALESCE / 2) {
            h->direct = true; /* a big DATA frame: no copy */
            *p = h->out;
            return (ssize_t)h->out_len;
        }
        size_t take = h->out_len < COALESCE - h->clen ? h->out_len : COALESCE - h->clen;
        memcpy(h->cbuf + h->clen, h->out, take);
        h->clen += take;
        h->out += take;
        h->out_len -= take;
    }
    *p = h->cbuf;
    return (ssize_t)h->clen;
}

void mtlb_h2_conn_sent(struct mtlb_h2_conn *h, size_t n)
{
    if (h->direct) {
        h->out += n;
        h->out_len -= n;
        h->direct = h->out_len > 0;
    } else {
        h->coff += n;
    }
}

bool mtlb_h2_conn_alive(const struct mtlb_h2_conn *h)
{
    if (h->out_len > 0 || h->clen > h->coff) {
        return true;
    }
    if (h->dead) {
        /* A fatal error or a flood verdict: only the GOAWAY (if any) is left to send. */
        return nghttp2_session_want_write(h->ss) != 0;
    }
    if (h->goaway && h->n_streams == 0) {
        return nghttp2_session_want_write(h->ss) != 0;
    }
    return nghttp2_session_want_read(h->ss) || nghttp2_session_want_write(h->ss);
}

unsigned mtlb_h2_conn_streams(const struct mtlb_h2_conn *h)
{
    return h->n_streams;
}

void mtlb_h2_conn_shutdown(struct mtlb_h2_conn *h)
{
    if (h->goaway) {
        return;
    }
    h->goaway = true;
    nghttp2_submit_goaway(h->ss, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->ss),
                          NGHTTP2_NO_ERROR, NULL, 0);
}

void mtlb_h2_conn_terminate(struct mtlb_h2_conn *h, uint32_t error_code)
{
    h->goaway = true;
    nghttp2_session_terminate_session(h->ss, error_code);
}

bool mtlb_h2_conn_idle(const struct mtlb_h2_conn *h)
{
    return h->n_streams == 0 && h->out_len == 0 && h->clen == h->coff && !h->busy &&
           !nghttp2_session_want_write(h->ss);
}

void mtlb_h2_conn_trim(struct mtlb_h2_conn *h)
{
    if (!mtlb_h2_conn_idle(h)) {
        return;
    }
    if (h->fbuf_dirty) {
        mtlb_h2_mem_release(h); /* after a large frame: RSS back to a small idle session */
    }
    free(h->cbuf);
    free(h->hdrs);
    free(h->scratch);
    h->cbuf = NULL;
    h->hdrs = NULL;
    h->scratch = NULL;
    h->ccap = h->clen = h->coff = h->hdrs_cap = h->scratch_cap = 0;
    if (h->fowner == NULL && h->nf == 0) {
        /* the header list arrays (1.5 KiB at their first size) grow again with a request */
        free(h->f);
        free(h->rc);
        h->f = NULL;
        h->rc = NULL;
        h->fcap = 0;
    }
}

bool mtlb_h2_conn_busy(const struct mtlb_h2_conn *h)
{
    return h->busy;
}

bool mtlb_h2_conn_goaway_sent(const struct mtlb_h2_conn *h)
{
    return h->goaway;
}
