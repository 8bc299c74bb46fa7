/* What a client connection's TLS handshake agreed on, copied out of its SSL at handoff so
 * that the worker never needs the SSL for it: the access log's version, cipher and
 * resumption, and the protocol ALPN chose. A kTLS connection frees its SSL at handoff
 * (acceptor_hs.c) and keeps only this, its identity (identity.h) and its tls_info. */
#ifndef MTLB_TLS_FACTS_H
#define MTLB_TLS_FACTS_H

#include <openssl/ssl.h>
#include <stdbool.h>

struct mtlb_tls_facts {
    char version[12]; /* "TLSv1.3" as SSL_get_version names it; "" without TLS */
    char cipher[48];  /* the suite's OpenSSL name ("TLS_AES_128_GCM_SHA256"); "" without */
    bool resumed;     /* the handshake resumed a session */
    bool h2;          /* ALPN selected "h2" */
};

/* Fills *f from ssl after a completed handshake; ssl NULL (a plain listener) leaves every
 * field empty. Copies everything: nothing in *f points into ssl, which may be freed next.
 * Names longer than their field are cut (none of OpenSSL's is). Any thread. */
void mtlb_tls_facts_capture(struct mtlb_tls_facts *f, const SSL *ssl);

/* Frees ssl without touching the session cache: a handshake that completed is marked shut
 * down both ways first, or SSL_free would drop its session from the cache as if the
 * connection had failed. No alert or close_notify is written. ssl may be NULL. */
void mtlb_tls_release(SSL *ssl);

#endif
