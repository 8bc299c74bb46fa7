/* The TLS layer of a backend connection: the SSL over the ring BIO's two buffers, the
 * handshake steps, request plaintext into records and response records into plaintext. The
 * connection (upstream.c) does every read and send and reports to its owner; this file only
 * transforms bytes and never names the connection. Worker thread. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "mtlb/backend_tls.h"
#include "mtlb/ring_bio.h"
#include "mtlb/tls.h"
#include "mtlb/transport.h"
#include "mtlb/upstream_tls.h"

/* One maximal record (16 KiB plaintext, padding, tag, header) with room to spare. */
#define RECORD_ROOM (MTLB_TLS_CHUNK + 512)
#define IN_CAP (2 * RECORD_ROOM)
#define OUT_CAP (2 * RECORD_ROOM + 4096)

int mtlb_up_tls_init(struct mtlb_up_tls *t, const struct mtlb_backend_tls *bt, const char *host,
                     SSL_SESSION **slot)
{
    memset(t, 0, sizeof(*t));
    if (mtlb_buf_init(&t->in, IN_CAP) != 0 || mtlb_buf_init(&t->out, OUT_CAP) != 0) {
        mtlb_up_tls_fini(t);
        return -ENOMEM;
    }
    t->ssl = mtlb_backend_tls_new(bt, host, slot);
    if (t->ssl == NULL || mtlb_ring_bio_attach(t->ssl, &t->in, &t->out) != 0) {
        mtlb_up_tls_fini(t);
        return -ENOMEM;
    }
    return 0;
}

void mtlb_up_tls_fini(struct mtlb_up_tls *t)
{
    /* OpenSSL makes the session of a connection freed without a close_notify sent
     * unresumable. A backend connection ends that way on every pool close and at the
     * backend's EOF; only one that failed in TLS should lose its session. */
    if (t->ssl != NULL && !t->failed && SSL_is_init_finished(t->ssl)) {
        SSL_set_shutdown(t->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    }
    SSL_free(t->ssl);
    t->ssl = NULL;
    mtlb_buf_fini(&t->in);
    mtlb_buf_fini(&t->out);
}

bool mtlb_up_tls_close_notify(struct mtlb_up_tls *t)
{
    if (t->ssl == NULL || t->failed || t->eof || !SSL_is_init_finished(t->ssl)) {
        return false;
    }
    ERR_clear_error();
    (void)SSL_shutdown(t->ssl); /* 0: sent, the backend's own close_notify not awaited */
    ERR_clear_error();
    return t->out.len > 0;
}

int mtlb_up_tls_handshake(struct mtlb_up_tls *t)
{
    ERR_clear_error();
    int rc = SSL_do_handshake(t->ssl);
    if (rc == 1) {
        return 1;
    }
    int e = SSL_get_error(t->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        if (!t->eof) {
            return MTLB_UPT_WANT;
        }
        snprintf(t->why, sizeof(t->why), "the backend closed the connection in the handshake");
        t->failed = true;
        return MTLB_UPT_ERR;
    }
    mtlb_backend_tls_why(t->ssl, rc, t->why, sizeof(t->why));
    t->failed = true;
    return MTLB_UPT_ERR;
}

uint32_t mtlb_up_tls_encrypt(struct mtlb_up_tls *t, const struct iovec *iov, int n)
{
    uint32_t taken = 0;

    mtlb_buf_compact(&t->out);
    for (int i = 0; i < n; i++) {
        const char *p = iov[i].iov_base;
        size_t left = iov[i].iov_len;
        while (left > 0) {
            if (t->out.cap - t->out.len < RECORD_ROOM) {
                return taken;
            }
            int chunk = left < MTLB_TLS_CHUNK ? (int)left : MTLB_TLS_CHUNK;
            /* A whole record fits: the write takes all of chunk or fails outright. */
            int w = SSL_write(t->ssl, p, chunk);
            if (w <= 0) {
                ERR_clear_error();
                return taken;
            }
            p += w;
            left -= (size_t)w;
            taken += (uint32_t)w;
        }
    }
    return taken;
}

int mtlb_up_tls_decrypt(struct mtlb_up_tls *t, struct mtlb_buf *dst)
{
    int total = 0;

    for (;;) {
        uint32_t space = dst->cap - dst->off - dst->len;
        if (space == 0) {
            return total;
        }
        mtlb_tls_err_reset();
        int r = SSL_read(t->ssl, dst->data + dst->off + dst->len, (int)space);
        if (r > 0) {
            dst->len += (uint32_t)r;
            total += r;
            continue;
        }
        if (total > 0) {
            return total; /* the EOF or error shows again on the next read */
        }
        int e = SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            return MTLB_UPT_WANT;
        }
        if (e == SSL_ERROR_ZERO_RETURN) {
            return MTLB_UPT_EOF;
        }
        mtlb_backend_tls_why(t->ssl, r, t->why, sizeof(t->why));
        t->failed = true;
        return MTLB_UPT_ERR;
    }
}

bool mtlb_up_tls_buffered(const struct mtlb_up_tls *t)
{
    return t->in.len > 0 || SSL_pending(t->ssl) > 0;
}
