/* The server's certificate chain, fixed once per context. A certificate file that holds only
 * the leaf left OpenSSL to build the chain it sends from the verify store (the client
 * truststore) in every handshake: a whole X509_verify_cert of the server certificate per
 * connection (chain building, purpose checks, one signature verification), which HAProxy and
 * nginx never pay, plus the root CA on the wire. Building it here, at load, sends the same
 * intermediates without that work; a file that has its own chain is left exactly as written. */
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tls_internal.h"

void mtlb_tls_fix_server_chain(SSL_CTX *ctx)
{
    STACK_OF(X509) *chain = NULL;

    if (SSL_CTX_get0_chain_certs(ctx, &chain) != 1 || (chain != NULL && sk_X509_num(chain) > 0)) {
        return; /* the file's own chain: sent as written, never rebuilt */
    }
    /* As OpenSSL's per-handshake build did: as far as the store reaches, errors ignored (it is
     * not a verification, a partial or empty chain is sent as found). The self-signed root is
     * left out: RFC 8446 4.4.2 lets a server omit the trust anchor, a client cannot use it. */
    int rc = SSL_CTX_build_cert_chain(ctx, SSL_BUILD_CHAIN_FLAG_NO_ROOT |
                                               SSL_BUILD_CHAIN_FLAG_IGNORE_ERROR |
                                               SSL_BUILD_CHAIN_FLAG_CLEAR_ERROR);
    ERR_clear_error();
    if (rc <= 0) {
        return; /* (a chain certificate below the security level): OpenSSL's own way stays */
    }
    /* The built chain (empty when the store had no issuer) already stops the per-handshake
     * build; the mode says so where it is checked. */
    SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);
}
