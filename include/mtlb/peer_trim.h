/* Releasing what OpenSSL keeps of the client's certificates once mtlb has its identity
 * (peer_trim.c). Shared by every transport that keeps its SSL object after the handshake. */
#ifndef MTLB_PEER_TRIM_H
#define MTLB_PEER_TRIM_H

#include <openssl/ssl.h>

/* Call after the handshake, once the identity strings are built (mtlb_tls_identity,
 * mtlb_identity_add_extras) and nothing will read the chain again. Drops the references the
 * connection holds to the certificates of its verified chain (SSL_get0_verified_chain: leaf,
 * intermediates, trust anchor) and, under TLS 1.3, the intermediates the client sent
 * (SSL_get_peer_cert_chain), so that a client's intermediate (about 4.5 KiB parsed) is freed
 * at once instead of at close. The leaf stays: it is the session's peer, and TLS 1.3 tickets
 * sent later carry it so that a resumed connection has the same identity. Under TLS 1.2 the
 * session may sit in OpenSSL's shared session cache, which must not change under other
 * threads, so its chain is left alone. Returns how many references were dropped. Owner
 * thread of the connection. */
int mtlb_peer_trim_chain(SSL *ssl);

#endif
