/* Private to src/tls: what tls_ctx.c (context building, SNI) and verify.c (verification
 * callbacks, diagnostics) share. Not part of any contract. */
#ifndef MTLB_TLS_INTERNAL_H
#define MTLB_TLS_INTERNAL_H

#include <stdbool.h>
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

/* Moves ssl to another domain's context (sni.c): the context, then the verification settings
 * and TLS policy SSL_set_SSL_CTX leaves behind (mode, callback, depth, client CA names;
 * versions, ciphers, suites, groups). Call it before the version is negotiated (the
 * ClientHello callback). The caller records the domain's index in the connection info.
 * 0 or -ENOMEM. */
int mtlb_tls_switch_domain(SSL *ssl, const struct mtlb_tls_domain *dom);

/* What to do about X.509 error err on cert (NULL when there is no advice), shared by the
 * handshake log and `mtlb verify-client`. Static text. */
const char *mtlb_tls_verify_hint(long err, X509 *cert);

/* Verification of a peer chain (SSL_CTX_set_cert_verify_callback, arg: the struct
 * mtlb_tls_domain): turns on X509_V_FLAG_PARTIAL_CHAIN for this handshake only when the leaf
 * is itself one of the domain's partial anchors, then runs X509_verify_cert. */
int mtlb_tls_verify_chain(X509_STORE_CTX *sctx, void *arg);

/* The store's CRL lookup (X509_STORE_set_lookup_crls): none for the trust anchor at the top
 * of the chain, which is not revocation-checked (RFC 5280, 6.1); OpenSSL's lookup otherwise. */
STACK_OF(X509_CRL) * mtlb_tls_lookup_crls(const X509_STORE_CTX *sctx, const X509_NAME *nm);

/* truststore.c. Loads the truststore bundle into ctx's store and its subjects into the client
 * CA list; *anchors receives the partial anchors (caller frees, also on failure), which are
 * given explicit clientAuth trust. Sets the SSL-client purpose and trust and the CRL lookup.
 * Returns 0 or -EINVAL with "FILE: problem" in err. */
int mtlb_tls_load_truststore(SSL_CTX *ctx, const char *path, STACK_OF(X509) * *anchors, char *err,
                             size_t errlen);
/* Loads every CRL of a PEM file into ctx's store and turns on CRL checking for the chain. */
int mtlb_tls_load_crl(SSL_CTX *ctx, const char *path, char *err, size_t errlen);

/* tls_ctx.c helpers for load errors: formats into err and returns -EINVAL; the reason of the
 * most recent OpenSSL error (then clears the queue); 0 or -errno with err set when path cannot
 * be opened for reading or is a directory. */
__attribute__((format(printf, 3, 4))) int mtlb_tls_fail(char *err, size_t errlen, const char *fmt,
                                                        ...);
const char *mtlb_tls_ssl_reason(char *buf, size_t cap);
int mtlb_tls_check_readable(const char *path, char *err, size_t errlen);

/* Session resumption (session.c). Sets up one domain's context: lifetime seconds after the
 * full handshake a session may be resumed (0: no tickets, no session cache), with the ticket
 * callbacks that carry and check the deadline. 0 or -errno. Main thread. */
int mtlb_tls_session_setup(SSL_CTX *ctx, uint32_t lifetime);

/* tickets.c: makes OpenSSL seal and open tickets with the listener's mtlb_tickets keys
 * (found through the connection info). 0 or -ENOMEM. Main thread. */
int mtlb_tls_tickets_setup(SSL_CTX *ctx);

/* From the verify callbacks, for every certificate of the chain: the handshake's session is
 * not resumed after the last second at which cert is valid. */
void mtlb_tls_session_bound(SSL *ssl, X509 *cert);

/* Whether peer is within its validity period at now: X509_V_OK (also for NULL) or the X.509
 * error (expired, not yet valid, malformed time). */
/* Why a session offered for resumption must not be used now ("session_lifetime",
 * "certificate_validity"), or NULL: the checks of a sealed ticket (sealed) and of a cached
 * session. */
const char *mtlb_tls_session_refusal(SSL_SESSION *sess, bool sealed, time_t now);

struct mtlb_session_cache;

/* session.c: makes ctx issue stateful tickets backed by the listener's session cache
 * (random ticket keys only). The store itself is session_cache.c. */
void mtlb_session_cache_setup(SSL_CTX *ctx);
int mtlb_session_cache_put(struct mtlb_session_cache *c, SSL_SESSION *sess);
typedef const char *(*mtlb_session_refusal_fn)(SSL_SESSION *sess, bool sealed, time_t now);
SSL_SESSION *mtlb_session_cache_get(struct mtlb_session_cache *c, const unsigned char *id,
                                    unsigned int len, time_t now, mtlb_session_refusal_fn refusal,
                                    const char **why);

long mtlb_tls_session_peer_validity(const X509 *peer, time_t now);

/* audit.c. Records dom's CRL dates per truststore CA and the warnings fixed at load (a CA
 * without a CRL, an unused CRL); after the truststore and CRL are in dom->ctx. 0 or -ENOMEM. */
int mtlb_tls_survey_crls(struct mtlb_tls_domain *dom);
/* "CONFIG:LINE: listeners[i].domains[j] (NAME): KEY" for messages about a file of d (KEY:
 * certificate, key, truststore or crl); "domain NAME: KEY" without a location. */
void mtlb_tls_origin(const struct mtlb_domain_cfg *d, const char *key, char *buf, size_t cap);
/* server_chain.c: for a certificate file without intermediates, the chain OpenSSL would build
 * in every handshake from the truststore is built once, here, without the root. Main thread,
 * after the truststore and the OCSP response are loaded. */
void mtlb_tls_fix_server_chain(SSL_CTX *ctx);

/* ocsp.c. Reads dom->cfg->ocsp_response (if any) once the certificate chain is in dom->ctx,
 * checks it (DER, status successful, a "good" single response for the leaf, by the id built
 * from its issuer in the chain), keeps it in dom and sets the stapling callback: 0, -ENOMEM,
 * or -EINVAL with "FILE: problem" in err. */
int mtlb_tls_ocsp_load(struct mtlb_tls_domain *dom, char *err, size_t errlen);
/* An ASN1_TIME as seconds since the epoch; 0 when absent or malformed. */
time_t mtlb_tls_time(const ASN1_TIME *t);

/* Formats an ASN1_TIME as "2020-02-01 00:00:00 UTC" into buf. */
void mtlb_tls_format_time(const ASN1_TIME *t, char *buf, size_t cap);

/* tls_policy.c. Sets ctx's versions, TLS 1.2 ciphers, TLS 1.3 suites and groups from p
 * (mtlb's defaults where p has none) after checking every configured name against OpenSSL:
 * 0, -ENOMEM, or -EINVAL with "ORIGIN: unknown ... \"NAME\"" in err. */
int mtlb_tls_policy_apply(SSL_CTX *ctx, const struct mtlb_tls_policy_cfg *p, char *err,
                          size_t errlen);
/* The same versions, ciphers, suites and groups on one SSL (names already checked by
 * mtlb_tls_policy_apply): 0 or -ENOMEM. */
int mtlb_tls_policy_set_ssl(SSL *ssl, const struct mtlb_tls_policy_cfg *p);
/* True when a and b set the same versions, ciphers, suites and groups. */
bool mtlb_tls_policy_same(const struct mtlb_tls_policy_cfg *a, const struct mtlb_tls_policy_cfg *b);
/* Reads p's key_passphrase_file into buf (NUL-terminated, trailing newlines removed):
 * 0 or -EINVAL with "ORIGIN: PATH: problem" in err. The caller cleanses buf after use. */
int mtlb_tls_read_passphrase(const struct mtlb_tls_policy_cfg *p, char *buf, size_t cap, char *err,
                             size_t errlen);

#endif
