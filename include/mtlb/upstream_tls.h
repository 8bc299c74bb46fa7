/* The TLS layer of a backend connection (upstream_tls.c): an SSL and its two ciphertext
 * buffers, moved by the connection's ring I/O (upstream.c) and transformed here through the
 * ring BIO. No I/O, no knowledge of the connection or its owner: handshake steps, plaintext
 * into records, records into plaintext. Worker thread that owns the connection. */
#ifndef MTLB_UPSTREAM_TLS_H
#define MTLB_UPSTREAM_TLS_H

#include <linux/time_types.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <openssl/ssl.h>

#include "mtlb/backend_tls.h"
#include "mtlb/buf.h"

/* Results of the steps below besides byte counts. */
#define MTLB_UPT_WANT 0   /* more ciphertext is needed (after sending what is in out) */
#define MTLB_UPT_EOF (-1) /* the backend's close_notify */
#define MTLB_UPT_ERR (-2) /* a TLS failure: the reason is in why */

struct mtlb_up_tls {
    SSL *ssl;
    struct mtlb_buf in;  /* ciphertext from the backend (the ring's recv target) */
    struct mtlb_buf out; /* ciphertext to the backend (the ring's send source) */
    /* Plaintext bytes of the owner's request that the records queued in out carry: told to
     * the owner once out is sent (0 while out holds only handshake or control records). */
    uint32_t report;
    bool eof;                     /* the socket read returned 0 */
    bool failed;                  /* a TLS failure: its session is not offered again */
    struct __kernel_timespec now; /* zero: a deferred read (plaintext already buffered) */
    char why[160];                /* the last failure's reason, for the log */
};

/* Sets t up for a connection to `host` (the server's configured host) with bt's context;
 * `slot` keeps the server's last session (mtlb_backend_tls_new). 0 or -ENOMEM. */
int mtlb_up_tls_init(struct mtlb_up_tls *t, const struct mtlb_backend_tls *bt, const char *host,
                     SSL_SESSION **slot);
void mtlb_up_tls_fini(struct mtlb_up_tls *t);
/* Advances the handshake over what is in `in`; its records go to `out`. 1 done, MTLB_UPT_WANT,
 * or MTLB_UPT_ERR (why set). */
int mtlb_up_tls_handshake(struct mtlb_up_tls *t);
/* Encrypts the plaintext of iov[0..n) into out while out has room for a whole record: the
 * plaintext bytes taken (0 when out is full). Only while no send of out is in flight. */
uint32_t mtlb_up_tls_encrypt(struct mtlb_up_tls *t, const struct iovec *iov, int n);
/* Decrypts what is in `in` into dst's free space (dst->data[off+len .. cap)): plaintext bytes
 * appended (> 0), MTLB_UPT_WANT, MTLB_UPT_EOF or MTLB_UPT_ERR (why set). Control records a
 * reply is owed to (KeyUpdate) may queue bytes in out. */
int mtlb_up_tls_decrypt(struct mtlb_up_tls *t, struct mtlb_buf *dst);
/* The connection is being closed by mtlb: when its handshake finished and it did not fail,
 * queues a close_notify in out, so the backend sees an orderly TLS close rather than a
 * truncation (servers log those as errors). true when out then holds bytes to send. */
bool mtlb_up_tls_close_notify(struct mtlb_up_tls *t);
/* Ciphertext or plaintext already buffered: a read can be answered without the socket. */
bool mtlb_up_tls_buffered(const struct mtlb_up_tls *t);

#endif
