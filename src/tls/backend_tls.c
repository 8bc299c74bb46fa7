/* HTTPS to backends, the OpenSSL side: a client SSL_CTX per pool with backends[].tls (CA,
 * client certificate, version and ciphers, ALPN http/1.1, verification), and each new
 * connection's SSL (SNI, verified name, the session offered and where new ones go). It does
 * no I/O and never names the connection that drives the handshake. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "mtlb/backend_tls.h"
#include "tls_internal.h"

static const unsigned char alpn_h1[] = "\x08http/1.1";

/* The sessions a server issues on a connection go to the slot the SSL carries (its app
 * data), replacing the one kept before: the last one per server is what the next connection
 * offers. */
static int new_session(SSL *ssl, SSL_SESSION *sess)
{
    SSL_SESSION **slot = SSL_get_app_data(ssl);

    if (slot == NULL) {
        return 0;
    }
    SSL_SESSION_free(*slot);
    *slot = sess;
    return 1; /* the reference is ours now */
}

/* "CONFIG:LINE: backends[i] (NAME): tls.KEY: " */
static int where(char *buf, size_t cap, const char *cfg_path, unsigned line, size_t index,
                 const struct mtlb_backend_cfg *b, const char *key)
{
    return snprintf(buf, cap, "%s:%u: backends[%zu] (%s): tls.%s", cfg_path, line, index, b->name,
                    key);
}

static int load_files(SSL_CTX *ctx, const struct mtlb_backend_tls_cfg *t, const char **key,
                      unsigned *line, char *err, size_t errlen)
{
    char why[128];
    int rc;

    if (t->ca != NULL) {
        *key = "ca";
        *line = t->ca_line;
        if ((rc = mtlb_tls_check_readable(t->ca, err, errlen)) != 0) {
            return rc;
        }
        ERR_clear_error();
        if (SSL_CTX_load_verify_locations(ctx, t->ca, NULL) != 1 ||
            sk_X509_OBJECT_num(X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx))) == 0) {
            return mtlb_tls_fail(err, errlen, "%s: no PEM certificate in it (%s)", t->ca,
                                 mtlb_tls_ssl_reason(why, sizeof(why)));
        }
    }
    if (t->certificate == NULL) {
        return 0;
    }
    *key = "certificate";
    *line = t->certificate_line;
    if ((rc = mtlb_tls_check_readable(t->certificate, err, errlen)) != 0) {
        return rc;
    }
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(ctx, t->certificate) != 1) {
        return mtlb_tls_fail(err, errlen,
                             "%s: not a PEM certificate chain, or no certificate in it (%s)",
                             t->certificate, mtlb_tls_ssl_reason(why, sizeof(why)));
    }
    *key = "key";
    *line = t->key_line;
    if ((rc = mtlb_tls_check_readable(t->key, err, errlen)) != 0) {
        return rc;
    }
    BIO *b = BIO_new_file(t->key, "r");
    EVP_PKEY *pkey = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (pkey == NULL) {
        return mtlb_tls_fail(err, errlen, "%s: not a PEM private key (%s)", t->key,
                             mtlb_tls_ssl_reason(why, sizeof(why)));
    }
    rc = X509_check_private_key(SSL_CTX_get0_certificate(ctx), pkey) == 1 &&
         SSL_CTX_use_PrivateKey(ctx, pkey) == 1;
    EVP_PKEY_free(pkey);
    if (!rc) {
        ERR_clear_error();
        return mtlb_tls_fail(err, errlen, "%s: private key does not match the certificate in %s",
                             t->key, t->certificate);
    }
    return 0;
}

static int set_policy(SSL_CTX *ctx, const struct mtlb_backend_tls_cfg *t, const char **key,
                      unsigned *line, char *err, size_t errlen)
{
    char why[128];

    *key = "min_version";
    *line = t->line;
    if (SSL_CTX_set_min_proto_version(ctx, t->min_version != 0 ? t->min_version : TLS1_2_VERSION) !=
        1) {
        return mtlb_tls_fail(err, errlen, "cannot set the version (%s)",
                             mtlb_tls_ssl_reason(why, sizeof(why)));
    }
    if (t->ciphers != NULL && SSL_CTX_set_cipher_list(ctx, t->ciphers) != 1) {
        *key = "ciphers";
        *line = t->ciphers_line;
        return mtlb_tls_fail(err, errlen, "%s: no cipher OpenSSL knows in it (%s)", t->ciphers,
                             mtlb_tls_ssl_reason(why, sizeof(why)));
    }
    return 0;
}

int mtlb_backend_tls_init(struct mtlb_backend_tls *bt, const struct mtlb_backend_cfg *b,
                          size_t index, const char *cfg_path, char *err, size_t errlen)
{
    const struct mtlb_backend_tls_cfg *t = &b->tls;
    const char *key = "ca";
    unsigned line = t->line;
    char at[512], msg[768];

    *bt = (struct mtlb_backend_tls){0};
    if (!t->enabled) {
        return 0;
    }
    bt->cfg = t;
    bt->ctx = SSL_CTX_new(TLS_client_method());
    if (bt->ctx == NULL) {
        return -ENOMEM;
    }
    SSL_CTX_set_verify(bt->ctx, t->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_alpn_protos(bt->ctx, alpn_h1, sizeof(alpn_h1) - 1);
    SSL_CTX_set_mode(bt->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(bt->ctx, SSL_OP_NO_RENEGOTIATION);
    /* Sessions are kept by the connection's owner (one per server per worker), not by the
     * context, which every worker shares. */
    SSL_CTX_set_session_cache_mode(bt->ctx,
                                   SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(bt->ctx, new_session);
    int rc = set_policy(bt->ctx, t, &key, &line, msg, sizeof(msg));
    if (rc == 0) {
        rc = load_files(bt->ctx, t, &key, &line, msg, sizeof(msg));
    }
    if (rc != 0) {
        where(at, sizeof(at), cfg_path, line, index, b, key);
        snprintf(err, errlen, "%s: %s", at, msg);
        mtlb_backend_tls_fini(bt);
        return -EINVAL;
    }
    return 0;
}

void mtlb_backend_tls_fini(struct mtlb_backend_tls *bt)
{
    SSL_CTX_free(bt->ctx);
    *bt = (struct mtlb_backend_tls){0};
}

static bool is_ip_literal(const char *host)
{
    unsigned char a[16];
    return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

SSL *mtlb_backend_tls_new(const struct mtlb_backend_tls *bt, const char *host, SSL_SESSION **slot)
{
    SSL *ssl = SSL_new(bt->ctx);
    const char *sni = bt->cfg->sni;
    bool ip = is_ip_literal(host);

    if (ssl == NULL) {
        return NULL;
    }
    if (sni == NULL && !ip) {
        sni = host;
    }
    int ok = sni == NULL || SSL_set_tlsext_host_name(ssl, sni) == 1;
    if (ok && bt->cfg->verify) {
        X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = sni != NULL ? X509_VERIFY_PARAM_set1_host(vp, sni, 0) == 1
                         : X509_VERIFY_PARAM_set1_ip_asc(vp, host) == 1;
    }
    SSL_set_connect_state(ssl);
    SSL_set_app_data(ssl, slot);
    if (ok && slot != NULL && *slot != NULL) {
        ok = SSL_set_session(ssl, *slot) == 1;
    }
    if (!ok) {
        SSL_free(ssl);
        ERR_clear_error();
        return NULL;
    }
    return ssl;
}

void mtlb_backend_tls_why(SSL *ssl, int ret, char *buf, size_t cap)
{
    long v = SSL_get_verify_result(ssl);
    int e = SSL_get_error(ssl, ret);

    if (v != X509_V_OK) {
        snprintf(buf, cap, "certificate verify failed: %s", X509_verify_cert_error_string(v));
        ERR_clear_error();
        return;
    }
    if (e == SSL_ERROR_SSL) {
        char why[128];
        snprintf(buf, cap, "%s", mtlb_tls_ssl_reason(why, sizeof(why)));
        return;
    }
    snprintf(buf, cap,
             e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN
                 ? "connection closed during the handshake"
                 : "handshake failed");
    ERR_clear_error();
}
