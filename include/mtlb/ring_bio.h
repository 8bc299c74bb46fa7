/* The ring BIO: lets OpenSSL read ciphertext from one buffer and write ciphertext into another,
 * both filled and drained by the owner's ring. It does no I/O and knows nothing of the
 * connection that owns the buffers. */
#ifndef MTLB_RING_BIO_H
#define MTLB_RING_BIO_H

#include <openssl/ssl.h>

#include "mtlb/buf.h"

/* Puts one ring BIO on ssl for both directions: OpenSSL reads ciphertext from in (consuming
 * in->off/len, never compacting: a recv may be in flight behind it) and appends ciphertext to
 * out behind out->off+len. Both buffers are the caller's and must outlive ssl (or the next
 * SSL_set_bio). 0 or -ENOMEM. The thread that owns ssl and the buffers. */
int mtlb_ring_bio_attach(SSL *ssl, struct mtlb_buf *in, struct mtlb_buf *out);
/* ktls-tx: the ring BIO reads from in; writes stay on ssl's kTLS socket BIO. 0 or -ENOMEM. */
int mtlb_ring_bio_attach_rx(SSL *ssl, struct mtlb_buf *in);

#endif
