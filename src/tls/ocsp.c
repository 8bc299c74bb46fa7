/* OCSP stapling from a file (domains[].ocsp_response): the DER response is read and checked
 * at load (it parses, its status is successful, it answers "good" for this domain's
 * certificate, found by the certificate id built from the issuer in the certificate file),
 * kept in the domain and handed to every handshake whose client asks (status_request) while
 * it is not past its nextUpdate (audit.c warns before and after that). Main thread at load;
 * the callback runs on acceptor threads and only reads what the load recorded. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "tls_internal.h"

#define OCSP_MAX_BYTES (64 * 1024) /* real responses are 1-3 KiB */

/* "FILE: problem" into err; -EINVAL. (Own copy: this file calls nothing else in src/tls.) */
__attribute__((format(printf, 3, 4))) static int ocsp_fail(char *err, size_t errlen,
                                                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (errlen > 0) {
        vsnprintf(err, errlen, fmt, ap);
    }
    va_end(ap);
    return -EINVAL;
}

static time_t ocsp_time(const ASN1_GENERALIZEDTIME *t)
{
    struct tm tm;
    return t != NULL && ASN1_TIME_to_tm(t, &tm) == 1 ? timegm(&tm) : 0;
}

static int read_all(const char *path, unsigned char **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return ocsp_fail(err, errlen, "%s: %s", path, strerror(errno));
    }
    unsigned char *buf = malloc(OCSP_MAX_BYTES + 1);
    size_t n = buf != NULL ? fread(buf, 1, OCSP_MAX_BYTES + 1, f) : 0;
    bool bad = ferror(f) != 0;
    fclose(f);
    if (buf == NULL) {
        return -ENOMEM;
    }
    if (bad || n == 0 || n > OCSP_MAX_BYTES) {
        free(buf);
        return ocsp_fail(err, errlen, "%s: %s", path,
                         bad      ? "cannot be read"
                         : n == 0 ? "empty file, not a DER OCSP response"
                                  : "over 64 KiB, not an OCSP response");
    }
    *out = buf;
    *len = n;
    return 0;
}

/* The certificate in the chain after the leaf that issued it, or NULL. */
static X509 *chain_issuer(SSL_CTX *ctx, X509 *leaf)
{
    STACK_OF(X509) *chain = NULL;

    if (SSL_CTX_get0_chain_certs(ctx, &chain) != 1 || chain == NULL) {
        return NULL;
    }
    for (int i = 0; i < sk_X509_num(chain); i++) {
        X509 *c = sk_X509_value(chain, i);
        if (X509_check_issued(c, leaf) == X509_V_OK) {
            return c;
        }
    }
    return NULL;
}

/* The single response for leaf (certificate id by SHA-1, as responders use, else SHA-256):
 * 0 with its status and dates, or -ENOENT. */
static int find_status(OCSP_BASICRESP *bs, X509 *leaf, X509 *issuer, int *status,
                       ASN1_GENERALIZEDTIME **this_upd, ASN1_GENERALIZEDTIME **next_upd)
{
    const EVP_MD *mds[] = {EVP_sha1(), EVP_sha256()};

    for (size_t i = 0; i < sizeof(mds) / sizeof(mds[0]); i++) {
        int reason = 0;
        ASN1_GENERALIZEDTIME *rev = NULL;
        OCSP_CERTID *id = OCSP_cert_to_id(mds[i], leaf, issuer);
        int found = id != NULL &&
                    OCSP_resp_find_status(bs, id, status, &reason, &rev, this_upd, next_upd) == 1;
        OCSP_CERTID_free(id);
        if (found) {
            return 0;
        }
    }
    return -ENOENT;
}

/* Is the response signed by issuer, or by a responder issuer delegated (id-kp-OCSPSigning)?
 * A staple that clients cannot verify makes must-staple clients fail, and one signed by
 * anyone else is not the CA's word, so neither is served. The issuer is the only trust anchor
 * (it may be an intermediate: a partial chain is enough). */
static bool signed_by_issuer(OCSP_BASICRESP *bs, X509 *issuer)
{
    X509_STORE *store = X509_STORE_new();
    STACK_OF(X509) *certs = sk_X509_new_null();
    bool ok = store != NULL && certs != NULL && X509_STORE_add_cert(store, issuer) == 1 &&
              X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN) == 1 &&
              sk_X509_push(certs, issuer) > 0 && OCSP_basic_verify(bs, certs, store, 0) == 1;

    sk_X509_free(certs);
    X509_STORE_free(store);
    return ok;
}

/* Checks the response in der against dom's certificate and records its dates. */
static int check_response(struct mtlb_tls_domain *dom, const char *path, const unsigned char *der,
                          size_t len, char *err, size_t errlen)
{
    const char *cert = dom->cfg->certificate;
    const unsigned char *p = der;
    OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
    OCSP_BASICRESP *bs = NULL;
    int rc = 0;

    if (resp == NULL || p != der + len) {
        rc = ocsp_fail(err, errlen, "%s: not a DER OCSP response", path);
    } else if (OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        rc = ocsp_fail(err, errlen, "%s: the response status is %s, not successful", path,
                       OCSP_response_status_str(OCSP_response_status(resp)));
    } else if ((bs = OCSP_response_get1_basic(resp)) == NULL) {
        rc = ocsp_fail(err, errlen, "%s: not a basic OCSP response", path);
    }
    X509 *leaf = SSL_CTX_get0_certificate(dom->ctx);
    X509 *issuer = rc == 0 ? chain_issuer(dom->ctx, leaf) : NULL;
    int status = -1;
    ASN1_GENERALIZEDTIME *this_upd = NULL, *next_upd = NULL;
    if (rc == 0 && issuer == NULL) {
        rc = ocsp_fail(err, errlen,
                       "%s: %s holds no issuer of the certificate after it; the response is "
                       "matched to the certificate by its issuer, so append the issuing CA",
                       path, cert);
    } else if (rc == 0 && find_status(bs, leaf, issuer, &status, &this_upd, &next_upd) != 0) {
        rc = ocsp_fail(err, errlen, "%s: the response is not about the certificate in %s", path,
                       cert);
    } else if (rc == 0 && !signed_by_issuer(bs, issuer)) {
        rc = ocsp_fail(err, errlen,
                       "%s: the response is not signed by the issuer of the certificate in %s "
                       "(nor by a responder it delegated), so clients would reject it",
                       path, cert);
    } else if (rc == 0 && status != V_OCSP_CERTSTATUS_GOOD) {
        rc = ocsp_fail(err, errlen, "%s: the response says the certificate in %s is %s", path, cert,
                       OCSP_cert_status_str(status));
    }
    if (rc == 0) {
        dom->ocsp_this_update = ocsp_time(this_upd);
        dom->ocsp_next_update = ocsp_time(next_upd);
    }
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    ERR_clear_error();
    return rc;
}

/* Staples the domain's response when the client asked for one and it has not expired; the
 * context after the SNI switch is the one asked (its arg is its domain). */
static int status_cb(SSL *ssl, void *arg)
{
    const struct mtlb_tls_domain *dom = arg;

    if (dom->ocsp == NULL || (dom->ocsp_next_update != 0 && time(NULL) > dom->ocsp_next_update)) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    unsigned char *copy = OPENSSL_malloc(dom->ocsp_len); /* the SSL frees it */
    if (copy == NULL) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    memcpy(copy, dom->ocsp, dom->ocsp_len);
    if (SSL_set_tlsext_status_ocsp_resp(ssl, copy, (long)dom->ocsp_len) != 1) {
        OPENSSL_free(copy);
        return SSL_TLSEXT_ERR_NOACK;
    }
    return SSL_TLSEXT_ERR_OK;
}

int mtlb_tls_ocsp_load(struct mtlb_tls_domain *dom, char *err, size_t errlen)
{
    const char *path = dom->cfg->ocsp_response;
    unsigned char *der = NULL;
    size_t len = 0;

    if (path == NULL) {
        return 0;
    }
    int rc = read_all(path, &der, &len, err, errlen);
    if (rc == 0) {
        rc = check_response(dom, path, der, len, err, errlen);
    }
    if (rc != 0) {
        free(der);
        return rc;
    }
    dom->ocsp = der;
    dom->ocsp_len = len;
    SSL_CTX_set_tlsext_status_cb(dom->ctx, status_cb);
    SSL_CTX_set_tlsext_status_arg(dom->ctx, dom);
    return 0;
}
