/* After the handshake: drops the client's intermediates and the verified chain that OpenSSL
 * would keep for the connection's whole life. Touches only stacks that belong to this one
 * connection; never the peer leaf, never a session another connection may share. */
#include "mtlb/peer_trim.h"

#include <openssl/x509.h>

/* Empties sk (which stays allocated, owned by OpenSSL), freeing one reference per entry. */
static int empty(STACK_OF(X509) * sk)
{
    int n = 0;
    X509 *x;

    while (sk != NULL && (x = sk_X509_pop(sk)) != NULL) {
        X509_free(x);
        n++;
    }
    return n;
}

int mtlb_peer_trim_chain(SSL *ssl)
{
    /* SSL_get0_verified_chain is the connection's own (built by its verification), and
     * nothing in OpenSSL reads it after the handshake. */
    int n = empty(SSL_get0_verified_chain(ssl));

    /* Under TLS 1.3 mtlb's server session is private to the connection: stateless tickets
     * and no early data, so OpenSSL never puts it in its session cache. The chain is not
     * part of a ticket (i2d_SSL_SESSION writes the leaf only), and the tickets owed are made
     * from a copy of this session, so they are unchanged. */
    if (SSL_version(ssl) == TLS1_3_VERSION && !SSL_session_reused(ssl)) {
        n += empty(SSL_get_peer_cert_chain(ssl));
    }
    return n;
}
