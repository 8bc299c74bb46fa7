/* Kernel TLS: probing the kernel, choosing a connection's transport after its handshake, and
 * installing the TLS 1.3 receive key that OpenSSL 3.0 does not install itself.
 * Called by the acceptor (handshake end) and the main thread (probe). Never logs key
 * material; secrets are wiped after use. */
#ifndef MTLB_KTLS_H
#define MTLB_KTLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "mtlb/tls.h"

enum mtlb_transport {
    MTLB_TRANSPORT_USERSPACE = 0, /* OpenSSL both ways over the ring BIO */
    MTLB_TRANSPORT_KTLS_TX,       /* kernel encrypts, OpenSSL decrypts */
    MTLB_TRANSPORT_KTLS,          /* kernel both ways: plain recvmsg/send on the socket */
    MTLB_TRANSPORT_PLAIN,         /* no TLS at all (a tls: false listener); c->ssl is NULL */
    MTLB_TRANSPORT_COUNT
};

/* "userspace", "ktls-tx", "ktls". */
const char *mtlb_transport_name(enum mtlb_transport t);

/* Checks whether the kernel accepts the "tls" ULP on a loopback TCP connection (loading the
 * module on demand, as the kernel does for root). Returns 0, or -errno (ENOENT: no TLS ULP)
 * with a description in why. Main thread, at start-up. */
int mtlb_ktls_probe(char *why, size_t cap);

/* Keylog callback to register on every SSL_CTX of a listener that may use kTLS: it keeps the
 * client's TLS 1.3 application traffic secret in the connection's mtlb_tls_conn_info (never
 * in a log). */
void mtlb_ktls_keylog(const SSL *ssl, const char *line);

/* After a completed handshake on a socket BIO: reads which directions OpenSSL offloaded and,
 * for TLS 1.3 with the send side offloaded, installs the receive key from the recorded
 * secret. Returns the transport; on a failed receive-key install it returns KTLS_TX and
 * writes why into why (else why is ""). The recorded secret is wiped in every case. */
enum mtlb_transport mtlb_ktls_finish(SSL *ssl, int fd, struct mtlb_tls_conn_info *info, char *why,
                                     size_t cap);

/* Derives the TLS 1.3 record key and IV of the negotiated suite from a traffic secret
 * (HKDF-Expand-Label "key"/"iv"). Returns the suite id (0x1301..0x1303) or -errno.
 * Exposed for the unit test that decrypts a real OpenSSL record with them. */
int mtlb_ktls_tls13_keys(const SSL *ssl, const unsigned char *secret, size_t slen,
                         unsigned char key[32], size_t *klen, unsigned char iv[12]);

#endif
