/* What an operator must hear about a domain's TLS files without mtlb refusing to start: a
 * server certificate outside or near the end of its validity, a CRL or a stapled OCSP
 * response past or near nextUpdate,
 * a truststore CA the CRL file has no CRL from, a CRL that no chain can use. The survey runs
 * once at load (main thread); the audit re-reads only what it recorded, never the SSL_CTX
 * that handshakes use. No logging: the caller prints or logs what it is handed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509v3.h>

#include "mtlb/log.h"
#include "tls_internal.h"

#define DAY 86400
#define CERT_SOON (30 * DAY) /* a server certificate expiring within this is warned about */
#define CRL_SOON (7 * DAY)   /* a CRL whose nextUpdate is within this is warned about */
#define OCSP_SOON DAY        /* a stapled OCSP response ending within this: warned about */

time_t mtlb_tls_time(const ASN1_TIME *t)
{
    struct tm tm;

    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        return 0;
    }
    return timegm(&tm);
}

static void format_when(time_t t, char *buf, size_t cap)
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL || strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) {
        snprintf(buf, cap, "(unknown time)");
    }
}

void mtlb_tls_origin(const struct mtlb_domain_cfg *d, const char *key, char *buf, size_t cap)
{
    unsigned line = strcmp(key, "certificate") == 0     ? d->certificate_line
                    : strcmp(key, "key") == 0           ? d->key_line
                    : strcmp(key, "truststore") == 0    ? d->truststore_line
                    : strcmp(key, "ocsp_response") == 0 ? d->ocsp_response_line
                                                        : d->crl_line;
    const char *name = d->n_names > 0 ? d->names[0] : "-";

    if (d->cfg_file != NULL && d->cfg_key != NULL) {
        snprintf(buf, cap, "%s:%u: %s (%s): %s", d->cfg_file, line, d->cfg_key, name, key);
    } else {
        snprintf(buf, cap, "domain %s: %s", name, key);
    }
}

/* Appends one warning to dom's list of those found at load; -ENOMEM. */
static struct mtlb_tls_warning *fixed_add(struct mtlb_tls_domain *dom)
{
    struct mtlb_tls_warning *w = realloc(dom->fixed, (dom->n_fixed + 1) * sizeof(*w));

    if (w == NULL) {
        return NULL;
    }
    dom->fixed = w;
    w = &dom->fixed[dom->n_fixed++];
    memset(w, 0, sizeof(*w));
    return w;
}

/* Fills w: the -t sentence is "ORIGIN: FILE: what", the log fields name the domain, file and
 * issuer. */
static void crl_warning(struct mtlb_tls_warning *w, const struct mtlb_domain_cfg *d,
                        const char *event, const char *issuer, const char *what)
{
    char origin[512], qi[600], qf[600], qw[1200];

    mtlb_tls_origin(d, "crl", origin, sizeof(origin));
    w->event = event;
    snprintf(w->text, sizeof(w->text), "%s: %s: %s", origin, d->crl, what);
    snprintf(w->fields, sizeof(w->fields), "domain=%s crl=%s issuer=%s detail=%s",
             d->n_names > 0 ? d->names[0] : "-", mtlb_log_quote(d->crl, qf, sizeof(qf)),
             mtlb_log_quote(issuer, qi, sizeof(qi)), mtlb_log_quote(what, qw, sizeof(qw)));
}

/* What a failed chain check means in the domain's mode. */
static const char *refused(const struct mtlb_domain_cfg *d)
{
    return d->mode == MTLB_CLIENT_AUTH_OPTIONAL ? "fails verification (backend told FAILED)"
                                                : "is refused";
}

static bool is_ca(X509 *x)
{
    return X509_check_ca(x) != 0;
}

/* The truststore CA that signed crl (same name, its key verifies), or NULL. */
static X509 *crl_signer(STACK_OF(X509_OBJECT) * objs, X509_CRL *crl, bool *name_known)
{
    *name_known = false;
    for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
        X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
        if (x == NULL || X509_NAME_cmp(X509_get_subject_name(x), X509_CRL_get_issuer(crl)) != 0) {
            continue;
        }
        *name_known = true;
        if (X509_CRL_verify(crl, X509_get0_pubkey(x)) == 1) {
            return x;
        }
    }
    return NULL;
}

/* For one truststore CA: the CRL it signed with the latest nextUpdate (none: never expires),
 * recorded for the audit; false when the file has none from it. */
static bool record_best_crl(struct mtlb_tls_domain *dom, STACK_OF(X509_OBJECT) * objs, X509 *ca)
{
    X509_CRL *best = NULL;
    time_t best_next = 0;

    for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
        X509_CRL *crl = X509_OBJECT_get0_X509_CRL(sk_X509_OBJECT_value(objs, i));
        bool known;
        if (crl == NULL || crl_signer(objs, crl, &known) != ca) {
            continue;
        }
        const ASN1_TIME *nu = X509_CRL_get0_nextUpdate(crl);
        time_t next = nu != NULL ? mtlb_tls_time(nu) : (time_t)-1;
        if (best == NULL || (best_next != (time_t)-1 && (next == (time_t)-1 || next > best_next))) {
            best = crl;
            best_next = next;
        }
    }
    if (best == NULL) {
        return false;
    }
    struct mtlb_tls_crl_info *ci = realloc(dom->crls, (dom->n_crls + 1) * sizeof(*ci));
    if (ci == NULL) {
        return true; /* the audit then misses one date; the CRL itself is loaded */
    }
    dom->crls = ci;
    ci = &dom->crls[dom->n_crls++];
    X509_NAME_oneline(X509_get_subject_name(ca), ci->issuer, sizeof(ci->issuer));
    ci->last_update = mtlb_tls_time(X509_CRL_get0_lastUpdate(best));
    ci->next_update = best_next == (time_t)-1 ? 0 : best_next;
    return true;
}

/* Whether a truststore CA that may issue intermediate CAs (no pathlen 0) has a CRL: only
 * then can a client-sent intermediate (whose certificate that CA's CRL covers) be checked. */
static bool intermediates_possible(STACK_OF(X509_OBJECT) * objs, const struct mtlb_tls_domain *dom)
{
    for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
        X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
        char dn[256];
        if (x == NULL || !is_ca(x) || X509_get_pathlen(x) == 0) {
            continue;
        }
        X509_NAME_oneline(X509_get_subject_name(x), dn, sizeof(dn));
        for (size_t c = 0; c < dom->n_crls; c++) {
            if (strcmp(dom->crls[c].issuer, dn) == 0) {
                return true;
            }
        }
    }
    return false;
}

static int survey_unused(struct mtlb_tls_domain *dom, STACK_OF(X509_OBJECT) * objs)
{
    bool possible = intermediates_possible(objs, dom);

    for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
        X509_CRL *crl = X509_OBJECT_get0_X509_CRL(sk_X509_OBJECT_value(objs, i));
        bool known;
        char dn[256];
        if (crl == NULL || crl_signer(objs, crl, &known) != NULL || (!known && possible)) {
            continue;
        }
        struct mtlb_tls_warning *w = fixed_add(dom);
        if (w == NULL) {
            return -ENOMEM;
        }
        X509_NAME_oneline(X509_CRL_get_issuer(crl), dn, sizeof(dn));
        char what[700];
        snprintf(what, sizeof(what),
                 known ? "unused CRL from %s: it is not signed by the key of the truststore's "
                         "certificate of that name (a CRL of another or a renewed CA?)"
                       : "unused CRL from %s: that CA is not in the truststore, and no CA of "
                         "the truststore that may issue intermediate CAs has a CRL here (a CRL "
                         "file meant for another truststore?)",
                 dn);
        crl_warning(w, dom->cfg, "crl_unused", dn, what);
    }
    return 0;
}

int mtlb_tls_survey_crls(struct mtlb_tls_domain *dom)
{
    STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(SSL_CTX_get_cert_store(dom->ctx));

    if (dom->cfg->crl == NULL || objs == NULL) {
        return 0;
    }
    for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
        X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
        char dn[256], what[700];
        if (x == NULL || !is_ca(x) || record_best_crl(dom, objs, x)) {
            continue;
        }
        struct mtlb_tls_warning *w = fixed_add(dom);
        if (w == NULL) {
            return -ENOMEM;
        }
        X509_NAME_oneline(X509_get_subject_name(x), dn, sizeof(dn));
        snprintf(what, sizeof(what),
                 "no CRL from %s, a CA of the truststore: every client certificate (and "
                 "intermediate CA) it issued %s (unable to get certificate CRL)",
                 dn, refused(dom->cfg));
        crl_warning(w, dom->cfg, "crl_missing", dn, what);
    }
    return survey_unused(dom, objs);
}

/* The server certificate's dates against now. */
static size_t audit_certificate(const struct mtlb_tls_domain *dom, time_t now, mtlb_tls_warn_fn fn,
                                void *arg)
{
    const struct mtlb_domain_cfg *d = dom->cfg;
    struct mtlb_tls_warning w;
    char origin[512], when[64], qf[600], qw[1000], what[400];
    const char *field = "not_after";

    if (dom->not_after != 0 && now > dom->not_after) {
        w.event = "server_certificate_expired";
        format_when(dom->not_after, when, sizeof(when));
        snprintf(what, sizeof(what),
                 "expired on %s; mtlb serves it anyway, and clients that check it (browsers, "
                 "curl, most HTTP libraries) refuse the connection: renew it",
                 when);
    } else if (now < dom->not_before) {
        w.event = "server_certificate_not_yet_valid";
        field = "not_before";
        format_when(dom->not_before, when, sizeof(when));
        snprintf(what, sizeof(what),
                 "is not valid before %s; mtlb serves it anyway, and clients that check it "
                 "refuse the connection until then",
                 when);
    } else if (dom->not_after != 0 && dom->not_after - now <= CERT_SOON) {
        w.event = "server_certificate_expiring";
        format_when(dom->not_after, when, sizeof(when));
        snprintf(what, sizeof(what), "expires on %s (within 30 days): renew it", when);
    } else {
        return 0;
    }
    mtlb_tls_origin(d, "certificate", origin, sizeof(origin));
    snprintf(w.text, sizeof(w.text), "%s: %s: %s", origin, d->certificate, what);
    snprintf(w.fields, sizeof(w.fields), "domain=%s certificate=%s %s=\"%s\" detail=%s",
             d->n_names > 0 ? d->names[0] : "-", mtlb_log_quote(d->certificate, qf, sizeof(qf)),
             field, when, mtlb_log_quote(what, qw, sizeof(qw)));
    fn(dom, &w, arg);
    return 1;
}

/* The stapled OCSP response (ocsp.c) past its nextUpdate, or within a day of it. */
static size_t audit_ocsp(const struct mtlb_tls_domain *dom, time_t now, mtlb_tls_warn_fn fn,
                         void *arg)
{
    const struct mtlb_domain_cfg *d = dom->cfg;
    struct mtlb_tls_warning w;
    char origin[512], when[64], qf[600], qw[800], what[400];
    time_t next = dom->ocsp_next_update;

    if (dom->ocsp == NULL || next == 0 || next - now > OCSP_SOON) {
        return 0;
    }
    format_when(next, when, sizeof(when));
    if (now > next) {
        w.event = "ocsp_response_expired";
        snprintf(what, sizeof(what),
                 "the OCSP response expired on %s (nextUpdate): mtlb no longer staples it; put "
                 "a fresh response in the file and reload",
                 when);
    } else {
        w.event = "ocsp_response_expiring";
        snprintf(what, sizeof(what),
                 "the OCSP response expires on %s (nextUpdate, within a day): put a fresh one "
                 "in the file and reload before then",
                 when);
    }
    mtlb_tls_origin(d, "ocsp_response", origin, sizeof(origin));
    snprintf(w.text, sizeof(w.text), "%s: %s: %s", origin, d->ocsp_response, what);
    snprintf(w.fields, sizeof(w.fields), "domain=%s ocsp_response=%s next_update=\"%s\" detail=%s",
             d->n_names > 0 ? d->names[0] : "-", mtlb_log_quote(d->ocsp_response, qf, sizeof(qf)),
             when, mtlb_log_quote(what, qw, sizeof(qw)));
    fn(dom, &w, arg);
    return 1;
}

/* Each CRL the chain checks use against now. */
static size_t audit_crls(const struct mtlb_tls_domain *dom, time_t now, mtlb_tls_warn_fn fn,
                         void *arg)
{
    size_t n = 0;

    for (size_t i = 0; i < dom->n_crls; i++) {
        const struct mtlb_tls_crl_info *ci = &dom->crls[i];
        struct mtlb_tls_warning w;
        char when[64], what[700];
        const char *event;
        if (ci->last_update > now) {
            event = "crl_not_yet_valid";
            format_when(ci->last_update, when, sizeof(when));
            snprintf(what, sizeof(what),
                     "the CRL from %s is not valid before %s (lastUpdate): until then every "
                     "client certificate (and intermediate CA) that CA issued %s",
                     ci->issuer, when, refused(dom->cfg));
        } else if (ci->next_update != 0 && now > ci->next_update) {
            event = "crl_expired";
            format_when(ci->next_update, when, sizeof(when));
            snprintf(what, sizeof(what),
                     "the CRL from %s expired on %s (nextUpdate): every client certificate (and "
                     "intermediate CA) that CA issued %s until a newer CRL is in the file and "
                     "mtlb reloads it (SIGHUP, POST /reload or reload.watch)",
                     ci->issuer, when, refused(dom->cfg));
        } else if (ci->next_update != 0 && ci->next_update - now <= CRL_SOON) {
            event = "crl_expiring";
            format_when(ci->next_update, when, sizeof(when));
            snprintf(what, sizeof(what),
                     "the CRL from %s expires on %s (nextUpdate, within 7 days): after that "
                     "every client certificate that CA issued %s; put a newer CRL in the file "
                     "and reload mtlb before then",
                     ci->issuer, when, refused(dom->cfg));
        } else {
            continue;
        }
        crl_warning(&w, dom->cfg, event, ci->issuer, what);
        fn(dom, &w, arg);
        n++;
    }
    return n;
}

size_t mtlb_tls_listener_audit(const struct mtlb_tls_listener *tl, time_t now, bool all,
                               mtlb_tls_warn_fn fn, void *arg)
{
    size_t n = 0;

    for (size_t i = 0; i < tl->n_domains; i++) {
        const struct mtlb_tls_domain *dom = &tl->domains[i];
        n += audit_certificate(dom, now, fn, arg);
        n += audit_crls(dom, now, fn, arg);
        n += audit_ocsp(dom, now, fn, arg);
        for (size_t f = 0; all && f < dom->n_fixed; f++) {
            fn(dom, &dom->fixed[f], arg);
            n++;
        }
    }
    return n;
}
