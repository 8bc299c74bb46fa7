/* The facts of a finished handshake copied out of OpenSSL (tls_facts.h), and freeing an SSL
 * whose connection goes on without it (kTLS both ways). Nothing here writes to a socket: the
 * kTLS connection sends its own alerts and close_notify (ktls_control.c). */
#include <stdio.h>
#include <string.h>

#include "mtlb/tls_facts.h"

void mtlb_tls_facts_capture(struct mtlb_tls_facts *f, const SSL *ssl)
{
    memset(f, 0, sizeof(*f));
    if (ssl == NULL) {
        return;
    }
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;
    const char *cipher = SSL_get_cipher_name(ssl);

    snprintf(f->version, sizeof(f->version), "%s", SSL_get_version(ssl));
    snprintf(f->cipher, sizeof(f->cipher), "%s",
             cipher != NULL && strcmp(cipher, "(NONE)") != 0 ? cipher : "");
    f->resumed = SSL_session_reused(ssl) == 1;
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
    f->h2 = alpn_len == 2 && memcmp(alpn, "h2", 2) == 0;
}

void mtlb_tls_release(SSL *ssl)
{
    if (ssl == NULL) {
        return;
    }
    /* SSL_free removes the session of a connection not shut down from the cache (OpenSSL's
     * ssl_clear_bad_session): this one is healthy, the kernel carries it on. */
    if (SSL_is_init_finished(ssl)) {
        SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    }
    SSL_free(ssl);
}
