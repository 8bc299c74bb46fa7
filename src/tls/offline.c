/* Offline verification of a client certificate chain against one domain (`mtlb
 * verify-client`): the steps OpenSSL takes when a server receives the client's Certificate
 * message, through public API, with the domain's own SSL (store, truststore, CRLs, depth,
 * purpose) and mtlb's verify callbacks, so the verdict is the handshake's. No connection, no
 * output. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "mtlb/tls.h"
#include "tls_internal.h"

/* An SSL on domain di as the ClientHello callback leaves it once SNI chose di. */
static SSL *domain_ssl(const struct mtlb_tls_listener *tl, size_t di,
                       struct mtlb_tls_conn_info *info)
{
    SSL *ssl = mtlb_tls_new_conn(tl, info);

    if (ssl == NULL) {
        return NULL;
    }
    if (di != 0 && mtlb_tls_switch_domain(ssl, &tl->domains[di]) != 0) {
        SSL_free(ssl);
        return NULL;
    }
    info->domain = di;
    SSL_set_accept_state(ssl);
    return ssl;
}

/* As libssl's ssl_verify_cert_chain for a server: the store of the SSL's context, the
 * authentication level of the SSL's security level (key sizes and signature digests of the
 * chain), the SSL in the store context's ex_data (the callbacks find the connection info
 * there), the "ssl_client" defaults overridden by the SSL's parameters (depth, purpose), the
 * SSL's verify callback and the context's chain callback (mtlb_tls_verify_chain). Suite B
 * flags are left out: mtlb's cipher lists never turn Suite B on. Returns X509_verify_cert's
 * result. */
static int run_chain_check(SSL *ssl, X509_STORE_CTX *sctx, STACK_OF(X509) * chain,
                           const struct mtlb_tls_domain *dom)
{
    X509_STORE *store = SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl));

    if (X509_STORE_CTX_init(sctx, store, sk_X509_value(chain, 0), chain) != 1) {
        return -1;
    }
    X509_VERIFY_PARAM_set_auth_level(X509_STORE_CTX_get0_param(sctx), SSL_get_security_level(ssl));
    if (X509_STORE_CTX_set_ex_data(sctx, SSL_get_ex_data_X509_STORE_CTX_idx(), ssl) != 1 ||
        X509_STORE_CTX_set_default(sctx, "ssl_client") != 1 ||
        X509_VERIFY_PARAM_set1(X509_STORE_CTX_get0_param(sctx), SSL_get0_param(ssl)) != 1) {
        return -1;
    }
    if (SSL_get_verify_callback(ssl) != NULL) {
        X509_STORE_CTX_set_verify_cb(sctx, SSL_get_verify_callback(ssl));
    }
    return mtlb_tls_verify_chain(sctx, (void *)dom);
}

int mtlb_tls_verify_offline(const struct mtlb_tls_listener *tl, size_t di, STACK_OF(X509) * chain,
                            struct mtlb_tls_offline *out)
{
    struct mtlb_tls_conn_info info;

    memset(out, 0, sizeof(*out));
    out->depth = -1;
    if (di >= tl->n_domains || chain == NULL || sk_X509_num(chain) == 0 ||
        tl->domains[di].cfg->mode == MTLB_CLIENT_AUTH_OFF) {
        return -EINVAL;
    }
    memset(&info, 0, sizeof(info));
    snprintf(info.peer, sizeof(info.peer), "offline");
    SSL *ssl = domain_ssl(tl, di, &info);
    X509_STORE_CTX *sctx = X509_STORE_CTX_new();
    if (ssl == NULL || sctx == NULL) {
        X509_STORE_CTX_free(sctx);
        SSL_free(ssl);
        mtlb_tls_conn_info_fini(&info);
        return -ENOMEM;
    }
    ERR_clear_error();
    int ok = run_chain_check(ssl, sctx, chain, &tl->domains[di]);
    /* The first error the callbacks saw is the cause (optional mode goes on past it); a
     * failure they did not see (no callback ran) is the store context's own. */
    long err = info.first_error;
    int depth = info.first_error_depth;
    if (err == X509_V_OK && ok <= 0) {
        err = X509_STORE_CTX_get_error(sctx);
        depth = X509_STORE_CTX_get_error_depth(sctx);
        err = err != X509_V_OK ? err : X509_V_ERR_UNSPECIFIED;
    }
    out->x509_error = err;
    if (err != X509_V_OK) {
        STACK_OF(X509) *built = X509_STORE_CTX_get0_chain(sctx);
        out->reason = mtlb_tls_verify_reason(err);
        out->depth = depth;
        if (built != NULL && depth >= 0 && depth < sk_X509_num(built)) {
            out->cert = sk_X509_value(built, depth);
        } else if (depth >= 0 && depth < sk_X509_num(chain)) {
            out->cert = sk_X509_value(chain, depth);
        }
        if (out->cert != NULL && X509_up_ref(out->cert) != 1) {
            out->cert = NULL;
        }
    }
    ERR_clear_error();
    X509_STORE_CTX_free(sctx);
    SSL_free(ssl);
    mtlb_tls_conn_info_fini(&info); /* the failure's names the callbacks recorded */
    return 0;
}
