/* Private to src/tls: what tls_ctx.c (context building, SNI) and verify.c (verification
 * callbacks, diagnostics) share. Not part of any contract. */
#ifndef MTLB_TLS_INTERNAL_H
#define MTLB_TLS_INTERNAL_H

#include <stdint.h>
#include <time.h>

#include <openssl/ssl.h>

#include "mtlb/tls.h"

/* The SSL ex_data index holding the struct mtlb_tls_conn_info *; created once per process.
 * Returns -1 if OpenSSL could not allocate it. */
int mtlb_tls_ex_index(void);

/* The info attached by mtlb_tls_new_conn, or NULL. */
struct mtlb_tls_conn_info *mtlb_tls_conn_info_get(const SSL *ssl);

/* Verify callbacks for client certificates. Both record the first error and log it once per
 * connection. The mandatory one returns preverify_ok so OpenSSL aborts with the proper alert;
 * the optional one returns 1 so the handshake completes and the backend is told FAILED. */
int mtlb_tls_verify_mandatory(int preverify_ok, X509_STORE_CTX *sctx);
int mtlb_tls_verify_optional(int preverify_ok, X509_STORE_CTX *sctx);

/* ClientHello callback (sni.c), registered on every domain's SSL_CTX: picks the domain by
 * SNI before OpenSSL considers resuming a session. */
int mtlb_tls_client_hello_cb(SSL *ssl, int *alert, void *arg);

/* Session resumption (session.c). Sets up one domain's context: lifetime seconds after the
 * full handshake a session may be resumed (0: no tickets, no session cache), with the ticket
 * callbacks that carry and check the deadline. 0 or -errno. Main thread. */
int mtlb_tls_session_setup(SSL_CTX *ctx, uint32_t lifetime);

/* From the verify callbacks, for every certificate of the chain: the handshake's session is
 * not resumed after the last second at which cert is valid. */
void mtlb_tls_session_bound(SSL *ssl, X509 *cert);

/* Whether peer is within its validity period at now: X509_V_OK (also for NULL) or the X.509
 * error (expired, not yet valid, malformed time). */
long mtlb_tls_session_peer_validity(const X509 *peer, time_t now);

/* Formats an ASN1_TIME as "2020-02-01 00:00:00 UTC" into buf. */
void mtlb_tls_format_time(const ASN1_TIME *t, char *buf, size_t cap);

#endif
