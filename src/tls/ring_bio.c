/* A BIO that lets OpenSSL read ciphertext from a receive buffer and write ciphertext into a
 * send buffer, both filled and drained by the owner's ring. It never touches a socket and
 * never names the connection that owns the buffers: the ring does all I/O, OpenSSL only
 * transforms bytes. */
#include "mtlb/ring_bio.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>

/* The BIO's data: the two buffers it moves bytes between (out is NULL for a read-only BIO). */
struct ring {
    struct mtlb_buf *in;
    struct mtlb_buf *out;
};

static BIO_METHOD *ring_method;
static pthread_once_t ring_once = PTHREAD_ONCE_INIT;

static int ring_read(BIO *b, char *out, int outl)
{
    struct ring *r = BIO_get_data(b);
    struct mtlb_buf *in = r->in;

    BIO_clear_retry_flags(b);
    if (in->len == 0) {
        /* EOF from the peer is reported by the ring, not here: ask OpenSSL to retry. */
        BIO_set_retry_read(b);
        return -1;
    }
    uint32_t n = (uint32_t)outl < in->len ? (uint32_t)outl : in->len;
    memcpy(out, in->data + in->off, n);
    in->off += n;
    /* No rewind here: a recv may be in flight into the bytes after off+len. The worker
     * compacts before it posts the next recv. */
    in->len -= n;
    return (int)n;
}

static int ring_write(BIO *b, const char *data, int len)
{
    struct ring *r = BIO_get_data(b);
    struct mtlb_buf *out = r->out;

    BIO_clear_retry_flags(b);
    if (out == NULL) {
        return -1; /* a read-only BIO (ktls-tx): OpenSSL writes to the socket BIO instead */
    }
    /* The send in flight reads data[off..off+len): only append behind it. */
    uint32_t space = out->cap - (out->off + out->len);
    if (space == 0) {
        BIO_set_retry_write(b);
        return -1;
    }
    uint32_t n = (uint32_t)len < space ? (uint32_t)len : space;
    memcpy(out->data + out->off + out->len, data, n);
    out->len += n;
    return (int)n;
}

static long ring_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    struct ring *r = BIO_get_data(b);

    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_PENDING:
        return r ? (long)r->in->len : 0;
    case BIO_CTRL_WPENDING:
        return r && r->out ? (long)r->out->len : 0;
    default:
        return 0;
    }
}

static int ring_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static int ring_destroy(BIO *b)
{
    free(BIO_get_data(b));
    BIO_set_data(b, NULL);
    return 1;
}

static void ring_init_method(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "mtlb ring");
    if (m == NULL) {
        return;
    }
    BIO_meth_set_write(m, ring_write);
    BIO_meth_set_read(m, ring_read);
    BIO_meth_set_ctrl(m, ring_ctrl);
    BIO_meth_set_create(m, ring_create);
    BIO_meth_set_destroy(m, ring_destroy);
    ring_method = m;
}

static BIO *ring_bio_new(struct mtlb_buf *in, struct mtlb_buf *out)
{
    pthread_once(&ring_once, ring_init_method);
    struct ring *r = malloc(sizeof(*r));
    if (r == NULL) {
        return NULL;
    }
    r->in = in;
    r->out = out;
    BIO *b = ring_method != NULL ? BIO_new(ring_method) : NULL;
    if (b == NULL) {
        free(r);
        return NULL;
    }
    BIO_set_data(b, r); /* freed with the BIO (ring_destroy) */
    return b;
}

int mtlb_ring_bio_attach(SSL *ssl, struct mtlb_buf *in, struct mtlb_buf *out)
{
    BIO *b = ring_bio_new(in, out);
    if (b == NULL) {
        return -ENOMEM;
    }
    /* Same BIO both ways: SSL_set_bio takes a single reference in that case. */
    SSL_set_bio(ssl, b, b);
    return 0;
}

int mtlb_ring_bio_attach_rx(SSL *ssl, struct mtlb_buf *in)
{
    BIO *b = ring_bio_new(in, NULL);
    if (b == NULL) {
        return -ENOMEM;
    }
    SSL_set0_rbio(ssl, b);
    return 0;
}
