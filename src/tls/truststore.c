/* Truststore and CRLs of one domain: reads the PEM bundle entry by entry, decides which of its
 * certificates are trust anchors (self-signed roots, and certificates whose issuer the bundle
 * does not hold), loads the CRL file and sets the store's verification flags. Runs on the main
 * thread while the SSL_CTX is built; no sockets, no logging. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "mtlb/pem.h"
#include "tls_internal.h"

/* Reads the bundle entry by entry so that a stray key or CSR is reported instead of silently
 * skipped. Fills certs; returns 0 or -EINVAL with err set. */
static int read_bundle(BIO *bio, const char *path, STACK_OF(X509) * certs, char *err, size_t errlen)
{
    struct mtlb_pem_block blk;
    char why[128];
    int n, got, rc = 0;

    for (n = 1; rc == 0 && (got = mtlb_pem_next(bio, &blk)) == 1; n++) {
        X509 *x = NULL;
        if (!mtlb_pem_is_cert(blk.name)) {
            rc = mtlb_tls_fail(err, errlen, "%s: entry %d is a %s, not a certificate", path, n,
                               blk.name);
        } else if ((x = mtlb_pem_cert(&blk)) == NULL) {
            rc = mtlb_tls_fail(err, errlen, "%s: entry %d is a corrupted certificate (%s)", path, n,
                               mtlb_tls_ssl_reason(why, sizeof(why)));
        } else if (sk_X509_push(certs, x) == 0) {
            X509_free(x);
            rc = -ENOMEM;
        }
        mtlb_pem_block_free(&blk);
    }
    if (rc != 0) {
        return rc;
    }
    if (got < 0) {
        return mtlb_tls_fail(err, errlen, "%s: entry %d is not valid PEM (%s)", path, n,
                             mtlb_tls_ssl_reason(why, sizeof(why)));
    }
    if (n == 1) {
        return mtlb_tls_fail(err, errlen, "%s: no certificate in the truststore", path);
    }
    return 0;
}

/* A certificate of the bundle that no other certificate of the bundle issued, and that is not
 * self-signed: a root-less intermediate or a directly trusted leaf. */
static bool is_partial_anchor(STACK_OF(X509) * certs, X509 *x)
{
    if (X509_self_signed(x, 0) == 1) {
        return false;
    }
    for (int i = 0; i < sk_X509_num(certs); i++) {
        X509 *y = sk_X509_value(certs, i);
        if (y != x && X509_check_issued(y, x) == X509_V_OK) {
            return false;
        }
    }
    return true;
}

/* Without X509_V_FLAG_PARTIAL_CHAIN OpenSSL builds up to a self-signed root and accepts a
 * non-self-signed certificate as the end of a chain only when it carries explicit trust for
 * the purpose. Marking the partial anchors (those without explicit trust settings of their
 * own, which are honoured as given) with clientAuth trust makes exactly them anchors; an
 * intermediate whose root is in the bundle stays a link, so the chain goes on to the root and
 * the intermediate is checked against the root's CRL. */
static int mark_anchors(STACK_OF(X509) * certs, STACK_OF(X509) * anchors)
{
    for (int i = 0; i < sk_X509_num(certs); i++) {
        X509 *x = sk_X509_value(certs, i);
        if (!is_partial_anchor(certs, x)) {
            continue;
        }
        if (sk_ASN1_OBJECT_num(X509_get0_trust_objects(x)) <= 0 &&
            sk_ASN1_OBJECT_num(X509_get0_reject_objects(x)) <= 0 &&
            X509_add1_trust_object(x, OBJ_nid2obj(NID_client_auth)) != 1) {
            return -ENOMEM;
        }
        if (!X509_up_ref(x) || sk_X509_push(anchors, x) == 0) {
            return -ENOMEM;
        }
    }
    return 0;
}

/* Adds the certificates to the store and their subjects (once each) to names. */
static int add_all(X509_STORE *store, STACK_OF(X509_NAME) * names, STACK_OF(X509) * certs)
{
    for (int i = 0; i < sk_X509_num(certs); i++) {
        X509 *x = sk_X509_value(certs, i);
        const X509_NAME *subj = X509_get_subject_name(x);
        bool seen = false;
        if (X509_STORE_add_cert(store, x) != 1) {
            return -ENOMEM;
        }
        for (int j = 0; j < sk_X509_NAME_num(names); j++) {
            seen = seen || X509_NAME_cmp(sk_X509_NAME_value(names, j), subj) == 0;
        }
        X509_NAME *dup = seen ? NULL : X509_NAME_dup(subj);
        if (!seen && (dup == NULL || sk_X509_NAME_push(names, dup) == 0)) {
            X509_NAME_free(dup);
            return -ENOMEM;
        }
    }
    return 0;
}

int mtlb_tls_load_truststore(SSL_CTX *ctx, const char *path, STACK_OF(X509) * *anchors, char *err,
                             size_t errlen)
{
    int rc = mtlb_tls_check_readable(path, err, errlen);

    if (rc != 0) {
        return rc;
    }
    BIO *bio = BIO_new_file(path, "r");
    STACK_OF(X509) *certs = sk_X509_new_null();
    STACK_OF(X509_NAME) *names = sk_X509_NAME_new_null();
    *anchors = sk_X509_new_null();
    if (bio == NULL || certs == NULL || names == NULL || *anchors == NULL) {
        rc = mtlb_tls_fail(err, errlen, "%s: cannot read: out of memory", path);
    } else {
        rc = read_bundle(bio, path, certs, err, errlen);
    }
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    if (rc == 0 && (mark_anchors(certs, *anchors) != 0 || add_all(store, names, certs) != 0)) {
        rc = mtlb_tls_fail(err, errlen, "%s: cannot load: out of memory", path);
    }
    BIO_free(bio);
    sk_X509_pop_free(certs, X509_free);
    if (rc != 0) {
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        return rc;
    }
    SSL_CTX_set_client_CA_list(ctx, names); /* takes ownership */
    X509_STORE_set_purpose(store, X509_PURPOSE_SSL_CLIENT);
    X509_STORE_set_trust(store, X509_TRUST_SSL_CLIENT);
    /* The trust anchor of a chain is never revocation-checked (verify.c). */
    X509_STORE_set_lookup_crls(store, mtlb_tls_lookup_crls);
    return 0;
}

int mtlb_tls_load_crl(SSL_CTX *ctx, const char *path, char *err, size_t errlen)
{
    char why[128];
    int rc = mtlb_tls_check_readable(path, err, errlen);
    int n = 0;

    if (rc != 0) {
        return rc;
    }
    BIO *bio = BIO_new_file(path, "r");
    if (bio == NULL) {
        return mtlb_tls_fail(err, errlen, "%s: cannot read (%s)", path,
                             mtlb_tls_ssl_reason(why, sizeof(why)));
    }
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    for (;;) {
        ERR_clear_error();
        X509_CRL *crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
        if (crl == NULL) {
            unsigned long e = ERR_peek_last_error();
            if (!(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
                rc = mtlb_tls_fail(err, errlen, "%s: CRL %d is corrupted (%s)", path, n + 1,
                                   mtlb_tls_ssl_reason(why, sizeof(why)));
            }
            break;
        }
        n++;
        rc = X509_STORE_add_crl(store, crl) == 1 ? 0 : -ENOMEM;
        X509_CRL_free(crl);
        if (rc != 0) {
            rc = mtlb_tls_fail(err, errlen, "%s: cannot add CRL %d (%s)", path, n,
                               mtlb_tls_ssl_reason(why, sizeof(why)));
            break;
        }
    }
    BIO_free(bio);
    ERR_clear_error();
    if (rc == 0 && n == 0) {
        rc = mtlb_tls_fail(err, errlen, "%s: no CRL in the file", path);
    }
    if (rc == 0) {
        X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    }
    return rc;
}
