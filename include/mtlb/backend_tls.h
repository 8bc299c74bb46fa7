/* HTTPS to backends, the OpenSSL side (backend_tls.c): one client SSL_CTX per backend pool
 * with backends[].tls, built with the snapshot (a reload rebuilds it), and the SSL of each new
 * connection (SNI, the verification name, ALPN http/1.1, the session to offer). No socket
 * I/O: the upstream connection drives the handshake through the ring BIO. */
#ifndef MTLB_BACKEND_TLS_H
#define MTLB_BACKEND_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "mtlb/config.h"

/* A pool's client context; ctx NULL when the pool speaks plain HTTP. Read-only once built:
 * any worker creates its SSLs from it. */
struct mtlb_backend_tls {
    SSL_CTX *ctx;
    const struct mtlb_backend_tls_cfg *cfg; /* in the snapshot's config */
};

/* Builds bt for backend b (nothing when b->tls is off): loads ca (at least one certificate),
 * the client certificate chain and key (checked to match), min_version and ciphers (names
 * OpenSSL does not know are refused), verification on unless verify: false, TLS 1.2 and 1.3,
 * ALPN http/1.1, client session caching through mtlb_backend_tls_new's slot. 0, or -EINVAL
 * with "CONFIG:LINE: backends[i] (NAME): tls.KEY: FILE: problem" in err. Config thread. */
int mtlb_backend_tls_init(struct mtlb_backend_tls *bt, const struct mtlb_backend_cfg *b,
                          size_t index, const char *cfg_path, char *err, size_t errlen);
void mtlb_backend_tls_fini(struct mtlb_backend_tls *bt);

/* A new SSL (client mode) for a connection to server `host` (the configured host: a name or
 * an IP literal): SNI is cfg->sni, else host when it is a name, else none; the name verified
 * is cfg->sni, else host (as an IP SAN when it is a literal). `slot` (may be NULL) is where
 * the sessions the server issues on this connection go (the previous one freed), and *slot,
 * when set, is offered for resumption; the slot must outlive the SSL. NULL on failure. The
 * thread that owns the slot. */
SSL *mtlb_backend_tls_new(const struct mtlb_backend_tls *bt, const char *host, SSL_SESSION **slot);
/* Why a handshake failed (ret: SSL_do_handshake's return): the verify result's text when the
 * chain or name was refused, else OpenSSL's first queued error (the queue is cleared). */
void mtlb_backend_tls_why(SSL *ssl, int ret, char *buf, size_t cap);

#endif
