/* Client-certificate verification: the verify callbacks (record the first X.509 error, log it
 * once per connection with a hint that names the fix), the peer identity handed to the
 * backend, and the handshake failure description. Never logs key material; no socket I/O. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "mtlb/log.h"
#include "mtlb/tls.h"
#include "tls_internal.h"

#define DN_MAX 512
#define QUOTED_MAX (DN_MAX * 4 + 3)

static pthread_once_t ex_once = PTHREAD_ONCE_INIT;
static int ex_index = -1; /* written once under ex_once, read-only afterwards */

static void ex_index_create(void)
{
    ex_index = SSL_get_ex_new_index(0, (void *)"mtlb_tls_conn_info", NULL, NULL, NULL);
}

int mtlb_tls_ex_index(void)
{
    pthread_once(&ex_once, ex_index_create);
    return ex_index;
}

struct mtlb_tls_conn_info *mtlb_tls_conn_info_get(const SSL *ssl)
{
    int idx = mtlb_tls_ex_index();

    return idx >= 0 ? SSL_get_ex_data(ssl, idx) : NULL;
}

static const struct mtlb_domain_cfg *info_domain(const struct mtlb_tls_conn_info *info)
{
    if (info->listener == NULL || info->domain >= info->listener->n_domains) {
        return NULL;
    }
    return info->listener->domains[info->domain].cfg;
}

static const char *domain_name(const struct mtlb_domain_cfg *d)
{
    return d != NULL && d->n_names > 0 ? d->names[0] : "-";
}

static void quote_dn(const X509_NAME *name, char *out, size_t cap)
{
    char dn[DN_MAX];

    if (name == NULL) {
        snprintf(dn, sizeof(dn), "-");
    } else {
        mtlb_identity_format_dn(name, MTLB_DN_SLASH, dn, sizeof(dn));
    }
    mtlb_log_quote(dn, out, cap);
}

const char *mtlb_tls_verify_hint(long err, X509 *cert)
{
    switch (err) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        return "add the certificate of the missing issuer to the truststore, or have the "
               "client send its full chain";
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        return "add this self-signed certificate to the truststore";
    case X509_V_ERR_INVALID_PURPOSE:
        if (cert != NULL && (X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) == 0) {
            return "certificate has no extended key usage; clientAuth required "
                   "(client_auth.require_client_auth_eku)";
        }
        return "the certificate lacks the clientAuth extended key usage";
    case X509_V_ERR_CERT_REVOKED:
        return "the certificate is revoked by its issuer's CRL";
    case X509_V_ERR_UNABLE_TO_GET_CRL:
        return "the CRL file has no valid CRL from this CA; every CA below the trust anchor "
               "needs one";
    default:
        return NULL;
    }
}

/* The part of the log line that says what to do about err: a hint and, where it helps, the
 * missing issuer or the validity date. */
static void explain(int err, X509 *cert, char *out, size_t cap)
{
    char q[QUOTED_MAX];
    char when[64];
    const char *hint = mtlb_tls_verify_hint(err, cert);

    out[0] = '\0';
    switch (err) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        quote_dn(cert != NULL ? X509_get_issuer_name(cert) : NULL, q, sizeof(q));
        snprintf(out, cap, " missing_issuer=%s hint=\"%s\"", q, hint);
        break;
    case X509_V_ERR_CERT_HAS_EXPIRED:
        mtlb_tls_format_time(cert != NULL ? X509_get0_notAfter(cert) : NULL, when, sizeof(when));
        snprintf(out, cap, " not_after=\"%s\"", when);
        break;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        mtlb_tls_format_time(cert != NULL ? X509_get0_notBefore(cert) : NULL, when, sizeof(when));
        snprintf(out, cap, " not_before=\"%s\"", when);
        break;
    case X509_V_ERR_CERT_REVOKED:
        snprintf(out, cap, " revoked=yes hint=\"%s\"", hint);
        break;
    case X509_V_ERR_UNABLE_TO_GET_CRL:
        quote_dn(cert != NULL ? X509_get_issuer_name(cert) : NULL, q, sizeof(q));
        snprintf(out, cap, " crl_issuer=%s hint=\"%s\"", q, hint);
        break;
    default:
        if (hint != NULL) {
            snprintf(out, cap, " hint=\"%s\"", hint);
        }
        break;
    }
}

static void log_failure(const struct mtlb_tls_conn_info *info, X509_STORE_CTX *sctx)
{
    static struct mtlb_ratelimit rl;
    char reason[256], subject[QUOTED_MAX], issuer[QUOTED_MAX], extra[QUOTED_MAX + 160];
    const struct mtlb_domain_cfg *d = info_domain(info);
    X509 *cert = X509_STORE_CTX_get_current_cert(sctx);
    int err = X509_STORE_CTX_get_error(sctx);

    if (!mtlb_log_enabled(MTLB_LOG_WARN)) {
        return;
    }
    mtlb_log_quote(X509_verify_cert_error_string(err), reason, sizeof(reason));
    quote_dn(cert != NULL ? X509_get_subject_name(cert) : NULL, subject, sizeof(subject));
    quote_dn(cert != NULL ? X509_get_issuer_name(cert) : NULL, issuer, sizeof(issuer));
    explain(err, cert, extra, sizeof(extra));
    mtlb_log_rl(&rl, 50, MTLB_LOG_WARN,
                "conn=%llu peer=%s domain=%s event=client_verify_failed mode=%s x509_error=%d "
                "reason=%s depth=%d subject=%s issuer=%s%s",
                (unsigned long long)info->conn_id, info->peer[0] ? info->peer : "-", domain_name(d),
                d != NULL ? mtlb_config_mode_name(d->mode) : "-", err, reason,
                X509_STORE_CTX_get_error_depth(sctx), subject, issuer, extra);
}

static char *dn_strdup(const X509_NAME *name)
{
    char dn[DN_MAX];

    if (name == NULL) {
        return NULL;
    }
    mtlb_identity_format_dn(name, MTLB_DN_SLASH, dn, sizeof(dn));
    return strdup(dn);
}

/* The failure's names only (record_names starts over with them). */
static void failure_fini(struct mtlb_tls_conn_info *info)
{
    free(info->fail_subject);
    free(info->missing_issuer);
    info->fail_subject = info->missing_issuer = NULL;
}

void mtlb_tls_conn_info_fini(struct mtlb_tls_conn_info *info)
{
    failure_fini(info);
    free(info->sni);
    info->sni = NULL;
}

/* Who was refused and, for an incomplete chain, which issuer it lacked (the certificate being
 * checked names it). A failed allocation only leaves them out of the log. */
static void record_names(struct mtlb_tls_conn_info *info, X509_STORE_CTX *sctx)
{
    X509 *leaf = X509_STORE_CTX_get0_cert(sctx);
    X509 *cert = X509_STORE_CTX_get_current_cert(sctx);

    failure_fini(info);
    info->fail_subject = leaf != NULL ? dn_strdup(X509_get_subject_name(leaf)) : NULL;
    if (mtlb_tls_verify_reason(info->first_error) == MTLB_VR_MISSING_ISSUER && cert != NULL) {
        info->missing_issuer = dn_strdup(X509_get_issuer_name(cert));
    }
}

static void record_failure(X509_STORE_CTX *sctx)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(sctx, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct mtlb_tls_conn_info *info = ssl != NULL ? mtlb_tls_conn_info_get(ssl) : NULL;

    /* Only the first failure is recorded and logged: in optional mode verification goes on
     * and may report several errors for the same chain. */
    if (info == NULL || info->first_error != X509_V_OK) {
        return;
    }
    info->first_error = X509_STORE_CTX_get_error(sctx);
    info->first_error_depth = X509_STORE_CTX_get_error_depth(sctx);
    record_names(info, sctx);
    log_failure(info, sctx);
}

/* Whether the certificate being checked is the trust anchor: the top of a chain that ends in
 * the truststore (a self-signed root, a root-less intermediate or a directly trusted leaf). */
static bool at_trust_anchor(const X509_STORE_CTX *sctx)
{
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(sctx);
    int n = chain != NULL ? sk_X509_num(chain) : 0;

    return n > 0 && X509_STORE_CTX_get_error_depth(sctx) == n - 1 &&
           X509_STORE_CTX_get_num_untrusted(sctx) < n &&
           X509_STORE_CTX_get_current_cert(sctx) == sk_X509_value(chain, n - 1);
}

STACK_OF(X509_CRL) * mtlb_tls_lookup_crls(const X509_STORE_CTX *sctx, const X509_NAME *nm)
{
    /* No CRL is offered for the anchor, so OpenSSL reports "unable to get certificate CRL"
     * for it whatever the CRL file holds (a CRL without AKID would otherwise be checked
     * against the anchor's own key, "CRL signature failure"). */
    if (at_trust_anchor(sctx)) {
        return NULL;
    }
    return X509_STORE_CTX_get1_crls(sctx, nm);
}

int mtlb_tls_verify_chain(X509_STORE_CTX *sctx, void *arg)
{
    const struct mtlb_tls_domain *dom = arg;
    X509 *leaf = X509_STORE_CTX_get0_cert(sctx);

    /* X509_V_FLAG_PARTIAL_CHAIN would end every chain at the first truststore certificate
     * (an intermediate whose root is there too, then never checked against the root's CRL),
     * so it is on only when the leaf itself is an anchor that has no issuer in the truststore:
     * then no shorter chain than the leaf exists. */
    for (int i = 0; leaf != NULL && dom != NULL && i < sk_X509_num(dom->anchors); i++) {
        if (X509_cmp(sk_X509_value(dom->anchors, i), leaf) == 0) {
            X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(sctx), X509_V_FLAG_PARTIAL_CHAIN);
            break;
        }
    }
    return X509_verify_cert(sctx);
}

/* The one error tolerated: no CRL for the trust anchor (mtlb_tls_lookup_crls offers none),
 * which is not revocation-checked; only while no other error was seen (clearing resets the
 * result OpenSSL stores in the session). A missing CRL for any other certificate fails. */
static bool anchor_crl_missing(X509_STORE_CTX *sctx)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(sctx, SSL_get_ex_data_X509_STORE_CTX_idx());
    const struct mtlb_tls_conn_info *info = ssl != NULL ? mtlb_tls_conn_info_get(ssl) : NULL;

    return X509_STORE_CTX_get_error(sctx) == X509_V_ERR_UNABLE_TO_GET_CRL && info != NULL &&
           info->first_error == X509_V_OK && at_trust_anchor(sctx);
}

/* OpenSSL's purpose rule accepts a leaf without any extended key usage for every purpose;
 * with require_client_auth_eku (the default) mtlb does not. Checked when OpenSSL reports the
 * leaf verified (its last callback); sets the error the handshake then fails with. */
static bool eku_missing(X509_STORE_CTX *sctx)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(sctx, SSL_get_ex_data_X509_STORE_CTX_idx());
    const struct mtlb_tls_conn_info *info = ssl != NULL ? mtlb_tls_conn_info_get(ssl) : NULL;
    const struct mtlb_domain_cfg *d = info != NULL ? info_domain(info) : NULL;
    X509 *cert = X509_STORE_CTX_get_current_cert(sctx);

    /* At depth 0 the current certificate is the leaf, or for a directly trusted leaf its
     * truststore copy (the same certificate). A context without the SSL (OpenSSL's CRL-path
     * checks) has no info and is left alone. */
    if (info == NULL || X509_STORE_CTX_get_error_depth(sctx) != 0 || cert == NULL ||
        (d != NULL && !d->require_client_auth_eku) ||
        (X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) != 0) {
        return false;
    }
    X509_STORE_CTX_set_error(sctx, X509_V_ERR_INVALID_PURPOSE);
    return true;
}

/* Every certificate the chain check looks at bounds how long the session may be resumed. */
static void bound_session(X509_STORE_CTX *sctx)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(sctx, SSL_get_ex_data_X509_STORE_CTX_idx());
    X509 *cert = X509_STORE_CTX_get_current_cert(sctx);

    if (ssl != NULL && cert != NULL) {
        mtlb_tls_session_bound(ssl, cert);
    }
}

int mtlb_tls_verify_mandatory(int preverify_ok, X509_STORE_CTX *sctx)
{
    bound_session(sctx);
    if (preverify_ok && !eku_missing(sctx)) {
        return 1;
    }
    if (!preverify_ok && anchor_crl_missing(sctx)) {
        X509_STORE_CTX_set_error(sctx, X509_V_OK);
        return 1;
    }
    record_failure(sctx);
    return 0;
}

int mtlb_tls_verify_optional(int preverify_ok, X509_STORE_CTX *sctx)
{
    bound_session(sctx);
    if (preverify_ok && !eku_missing(sctx)) {
        return 1;
    }
    if (!preverify_ok && anchor_crl_missing(sctx)) {
        X509_STORE_CTX_set_error(sctx, X509_V_OK);
    } else {
        record_failure(sctx);
    }
    return 1;
}

static void log_resumed_invalid(const struct mtlb_tls_conn_info *info,
                                const struct mtlb_domain_cfg *d, long err)
{
    static struct mtlb_ratelimit rl;
    char reason[256];

    mtlb_log_quote(X509_verify_cert_error_string(err), reason, sizeof(reason));
    mtlb_log_rl(&rl, 50, MTLB_LOG_WARN,
                "conn=%llu peer=%s domain=%s event=resumed_session_refused mode=%s "
                "x509_error=%ld reason=%s",
                info != NULL ? (unsigned long long)info->conn_id : 0ULL,
                info != NULL && info->peer[0] ? info->peer : "-", domain_name(d),
                d != NULL ? mtlb_config_mode_name(d->mode) : "-", err, reason);
}

int mtlb_tls_identity(SSL *ssl, enum mtlb_dn_format fmt, struct mtlb_identity *id)
{
    const struct mtlb_tls_conn_info *info = mtlb_tls_conn_info_get(ssl);
    const struct mtlb_domain_cfg *d = info != NULL ? info_domain(info) : NULL;
    long result = SSL_get_verify_result(ssl);

    /* In optional mode the callback overrides every error, so OpenSSL's result is only the
     * last one; the first is the cause. On a resumed session the callback did not run and the
     * result stored in the session applies. */
    if (d != NULL && d->mode == MTLB_CLIENT_AUTH_OPTIONAL && info->first_error != X509_V_OK) {
        result = info->first_error;
    }
    /* A resumed session was verified earlier: its certificate must still be valid now.
     * session.c makes OpenSSL refuse such a session up front (a full handshake follows);
     * this holds even when the certificate expires during the handshake. */
    long late = X509_V_OK;
    if (SSL_session_reused(ssl)) {
        late = mtlb_tls_session_peer_validity(SSL_get0_peer_certificate(ssl), time(NULL));
    }
    if (late != X509_V_OK) {
        SSL_set_verify_result(ssl, late);
        log_resumed_invalid(info, d, late);
        if (d == NULL || d->mode != MTLB_CLIENT_AUTH_OPTIONAL) {
            return -EKEYEXPIRED;
        }
        result = late;
    }
    return mtlb_identity_init(id, SSL_get0_peer_certificate(ssl), result, fmt);
}

static void log_cert_missing(SSL *ssl)
{
    static struct mtlb_ratelimit rl;
    const struct mtlb_tls_conn_info *info = mtlb_tls_conn_info_get(ssl);
    const struct mtlb_domain_cfg *d = info != NULL ? info_domain(info) : NULL;

    if (info == NULL) {
        return;
    }
    /* A refusal like any other (client_verify_failed): warn, and the acceptor's
     * handshake_failed line for it stays at debug, so one warn line per refused connection. */
    mtlb_log_rl(&rl, 50, MTLB_LOG_WARN,
                "conn=%llu peer=%s domain=%s event=client_cert_missing mode=%s "
                "hint=\"the client sent no certificate; it may not have one issued by a CA "
                "named in the truststore\"",
                (unsigned long long)info->conn_id, info->peer[0] ? info->peer : "-", domain_name(d),
                d != NULL ? mtlb_config_mode_name(d->mode) : "-");
}

static size_t append(char *buf, size_t cap, size_t len, const char *s)
{
    int n = snprintf(buf + len, cap - len, "%s%s", len > 0 ? "; " : "", s);

    if (n < 0) {
        return len;
    }
    return len + (size_t)n < cap ? len + (size_t)n : cap - 1;
}

const char *mtlb_tls_error_string(SSL *ssl, char *buf, size_t cap)
{
    char one[256];
    size_t len = 0;
    bool missing = false;
    unsigned long e;

    if (cap == 0) {
        ERR_clear_error();
        return buf;
    }
    buf[0] = '\0';
    while ((e = ERR_get_error()) != 0) {
        missing = missing || (ERR_GET_LIB(e) == ERR_LIB_SSL &&
                              ERR_GET_REASON(e) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE);
        ERR_error_string_n(e, one, sizeof(one));
        len = append(buf, cap, len, one);
    }
    long vr = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (vr != X509_V_OK) {
        snprintf(one, sizeof(one), "certificate verify: %s (%ld)",
                 X509_verify_cert_error_string(vr), vr);
        len = append(buf, cap, len, one);
    }
    if (len == 0) {
        append(buf, cap, len, "no OpenSSL error reported");
    }
    if (missing && ssl != NULL) {
        log_cert_missing(ssl);
    }
    return buf;
}

const char *mtlb_verify_reason_token(enum mtlb_verify_reason r)
{
    static const char *const tokens[MTLB_VR_COUNT] = {
        "unknown_ca", "missing_issuer", "expired",        "not_yet_valid", "revoked",
        "crl_error",  "bad_purpose",    "no_certificate", "other",
    };
    return (unsigned)r < MTLB_VR_COUNT ? tokens[r] : "other";
}

enum mtlb_verify_reason mtlb_tls_verify_reason(long err)
{
    switch (err) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        return MTLB_VR_MISSING_ISSUER;
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_UNTRUSTED:
    case X509_V_ERR_CERT_REJECTED:
        return MTLB_VR_UNKNOWN_CA;
    case X509_V_ERR_CERT_HAS_EXPIRED:
        return MTLB_VR_EXPIRED;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return MTLB_VR_NOT_YET_VALID;
    case X509_V_ERR_CERT_REVOKED:
        return MTLB_VR_REVOKED;
    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
    case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
    case X509_V_ERR_KEYUSAGE_NO_CRL_SIGN:
    case X509_V_ERR_DIFFERENT_CRL_SCOPE:
    case X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION:
        return MTLB_VR_CRL_ERROR;
    case X509_V_ERR_INVALID_PURPOSE:
        return MTLB_VR_BAD_PURPOSE;
    default:
        return MTLB_VR_OTHER;
    }
}
