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

/* What a kTLS read that met a control record (TLS_GET_RECORD_TYPE other than application
 * data) asks of the connection. Decided without OpenSSL: a kTLS connection has none. */
enum mtlb_ktls_ctl {
    MTLB_KTLS_DATA = 0,    /* application data: the bytes read are plaintext */
    MTLB_KTLS_PEER_CLOSED, /* close_notify or another warning alert: answer close_notify */
    MTLB_KTLS_KEY_UPDATE,  /* TLS 1.3 KeyUpdate: the kernel cannot take the new receive key
                            * (Linux 6.1), so close cleanly with close_notify */
    MTLB_KTLS_PEER_ALERT,  /* a fatal alert: close without an answer */
    MTLB_KTLS_UNEXPECTED,  /* anything else (a renegotiating ClientHello, ...): send the
                            * fatal alert the classifier names, then close */
};

/* Alert levels and the descriptions mtlb sends itself (RFC 8446 6). */
#define MTLB_TLS_ALERT_WARNING 1
#define MTLB_TLS_ALERT_FATAL 2
#define MTLB_TLS_ALERT_CLOSE_NOTIFY 0
#define MTLB_TLS_ALERT_UNEXPECTED_MESSAGE 10
#define MTLB_TLS_ALERT_DECODE_ERROR 50

/* Classifies a record of the given type whose first n bytes (plaintext) are p. For
 * MTLB_KTLS_UNEXPECTED, *alert is the fatal alert to send (unexpected_message, or
 * decode_error for a malformed alert). Pure. */
enum mtlb_ktls_ctl mtlb_ktls_classify(unsigned type, const unsigned char *p, size_t n,
                                      unsigned char *alert);

/* Sends one alert record (level, description) on a kTLS socket (send side offloaded) with a
 * TLS_SET_RECORD_TYPE control message: close_notify is (WARNING, CLOSE_NOTIFY). Non-blocking;
 * the caller makes sure no data send is in flight when order matters. 0 or -errno. Worker
 * thread of the connection. */
int mtlb_ktls_send_alert(int fd, unsigned char level, unsigned char desc);

#endif
