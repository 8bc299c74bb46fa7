/* Truststore lint: decodes a PEM bundle from memory into a list of certificate facts (names,
 * dates, CA or leaf, clientAuth, fingerprint, who issued whom), then classifies the problems
 * from that list alone, so the rules are testable without files. Pure: no I/O, no logging. */
#include "mtlb/lint.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "mtlb/identity.h"
#include "mtlb/pem.h"

/* Bounds the work on a hostile or huge file; a truststore has tens of entries. */
#define MAX_ENTRIES 10000

static int64_t asn1_seconds(const ASN1_TIME *t)
{
    struct tm tm;

    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        return 0;
    }
    return (int64_t)timegm(&tm);
}

static bool allows_client_auth(X509 *x, bool ca)
{
    uint32_t flags = X509_get_extension_flags(x);

    if ((flags & EXFLAG_XKUSAGE) == 0) {
        return ca;
    }
    return (X509_get_extended_key_usage(x) & (XKU_SSL_CLIENT | XKU_ANYEKU)) != 0;
}

static void facts(X509 *x, int entry, struct mtlb_lint_cert *c)
{
    unsigned int mdlen = sizeof(c->sha256);

    memset(c, 0, sizeof(*c));
    c->entry = entry;
    c->signer = -1;
    mtlb_identity_format_dn(X509_get_subject_name(x), MTLB_DN_SLASH, c->subject,
                            sizeof(c->subject));
    mtlb_identity_format_dn(X509_get_issuer_name(x), MTLB_DN_SLASH, c->issuer, sizeof(c->issuer));
    c->not_before = asn1_seconds(X509_get0_notBefore(x));
    c->not_after = asn1_seconds(X509_get0_notAfter(x));
    c->ca = X509_check_ca(x) == 1;
    c->self_signed = X509_self_signed(x, 1) == 1;
    c->client_auth = allows_client_auth(x, c->ca);
    X509_digest(x, EVP_sha256(), c->sha256, &mdlen);
}

static int add_block(struct mtlb_lint_list *l, int entry, const char *type, bool corrupt)
{
    struct mtlb_lint_block *b = realloc(l->blocks, (l->n_blocks + 1) * sizeof(*b));

    if (b == NULL) {
        return -ENOMEM;
    }
    l->blocks = b;
    b = &l->blocks[l->n_blocks++];
    memset(b, 0, sizeof(*b));
    b->entry = entry;
    snprintf(b->type, sizeof(b->type), "%s", type);
    b->corrupt = corrupt;
    return 0;
}

/* One decoded PEM block: a certificate onto xs (and its facts onto l), or a block entry. */
static int take_block(struct mtlb_lint_list *l, STACK_OF(X509) * xs, int entry,
                      const struct mtlb_pem_block *blk)
{
    if (!mtlb_pem_is_cert(blk->name)) {
        return add_block(l, entry, blk->name, false);
    }
    X509 *x = mtlb_pem_cert(blk);
    if (x == NULL) {
        return add_block(l, entry, blk->name, true);
    }
    struct mtlb_lint_cert *c = realloc(l->certs, (l->n_certs + 1) * sizeof(*c));
    if (c == NULL || sk_X509_push(xs, x) == 0) {
        l->certs = c != NULL ? c : l->certs;
        X509_free(x);
        return -ENOMEM;
    }
    l->certs = c;
    facts(x, entry, &l->certs[l->n_certs++]);
    return 0;
}

static bool same_cert(const struct mtlb_lint_cert *a, const struct mtlb_lint_cert *b)
{
    return memcmp(a->sha256, b->sha256, sizeof(a->sha256)) == 0;
}

/* Index of the first copy of certs[i] (i itself when it is the first). */
static size_t first_copy(const struct mtlb_lint_list *l, size_t i)
{
    for (size_t j = 0; j < i; j++) {
        if (same_cert(&l->certs[j], &l->certs[i])) {
            return j;
        }
    }
    return i;
}

/* Who issued whom: the first copy of another certificate whose subject is the issuer's name
 * and whose key verifies the signature. */
static void link_signers(struct mtlb_lint_list *l, STACK_OF(X509) * xs)
{
    for (size_t i = 0; i < l->n_certs; i++) {
        X509 *x = sk_X509_value(xs, (int)i);
        for (size_t j = 0; j < l->n_certs && l->certs[i].signer < 0; j++) {
            X509 *y = sk_X509_value(xs, (int)j);
            if (same_cert(&l->certs[i], &l->certs[j]) || first_copy(l, j) != j ||
                X509_NAME_cmp(X509_get_subject_name(y), X509_get_issuer_name(x)) != 0) {
                continue;
            }
            EVP_PKEY *k = X509_get0_pubkey(y);
            if (k != NULL && X509_verify(x, k) == 1) {
                l->certs[i].signer = (int)j;
            }
        }
    }
    ERR_clear_error();
}

int mtlb_lint_parse(const char *pem, size_t len, struct mtlb_lint_list *out)
{
    memset(out, 0, sizeof(*out));
    if (len > INT32_MAX) {
        return -EINVAL;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    STACK_OF(X509) *xs = sk_X509_new_null();
    int rc = bio == NULL || xs == NULL ? -ENOMEM : 0;

    for (int entry = 1; rc == 0 && entry <= MAX_ENTRIES; entry++) {
        struct mtlb_pem_block blk;
        int got = mtlb_pem_next(bio, &blk);
        if (got == 0) {
            break;
        }
        /* got < 0: a BEGIN line was read (bad base64, no END line). Go on after it. */
        rc = got < 0 ? add_block(out, entry, "", true) : take_block(out, xs, entry, &blk);
        mtlb_pem_block_free(&blk);
    }
    if (rc == 0) {
        link_signers(out, xs);
    }
    ERR_clear_error();
    sk_X509_pop_free(xs, X509_free);
    BIO_free(bio);
    return rc;
}

void mtlb_lint_list_fini(struct mtlb_lint_list *l)
{
    free(l->certs);
    free(l->blocks);
    memset(l, 0, sizeof(*l));
}

struct findings {
    struct mtlb_lint_finding *v;
    size_t n;
    bool failed;
};

static void add(struct findings *fs, enum mtlb_lint_kind kind, int entry, int other, size_t cert)
{
    struct mtlb_lint_finding *v = realloc(fs->v, (fs->n + 1) * sizeof(*v));

    if (v == NULL) {
        fs->failed = true;
        return;
    }
    fs->v = v;
    fs->v[fs->n++] = (struct mtlb_lint_finding){
        .kind = kind,
        .error = kind < MTLB_LINT_EXPIRES_SOON,
        .entry = entry,
        .other = other,
        .cert = cert,
    };
}

/* The checks of one certificate (a first copy). */
static void check_cert(const struct mtlb_lint_list *l, size_t i, int64_t now, struct findings *fs)
{
    const struct mtlb_lint_cert *c = &l->certs[i];

    if (c->not_after < now) {
        add(fs, MTLB_LINT_EXPIRED, c->entry, 0, i);
    } else if (c->not_before > now) {
        add(fs, MTLB_LINT_NOT_YET_VALID, c->entry, 0, i);
    } else if (c->not_after - now <= MTLB_LINT_SOON) {
        add(fs, MTLB_LINT_EXPIRES_SOON, c->entry, 0, i);
    }
    for (size_t k = 0; !c->ca && k < l->n_certs; k++) {
        if (l->certs[k].signer == (int)i && first_copy(l, k) == k) {
            add(fs, MTLB_LINT_LEAF_ISSUER, c->entry, l->certs[k].entry, i);
            break;
        }
    }
    if (c->ca && !c->self_signed && c->signer < 0) {
        add(fs, MTLB_LINT_ISSUER_ABSENT, c->entry, 0, i);
    }
}

static int by_entry(const void *a, const void *b)
{
    const struct mtlb_lint_finding *x = a, *y = b;

    if (x->entry != y->entry) {
        return x->entry < y->entry ? -1 : 1;
    }
    return x->kind < y->kind ? -1 : x->kind > y->kind;
}

int mtlb_lint_check(const struct mtlb_lint_list *l, int64_t now, struct mtlb_lint_finding **out,
                    size_t *n)
{
    struct findings fs = {0};

    if (l->n_certs == 0) {
        add(&fs, MTLB_LINT_NO_CERTIFICATE, 0, 0, SIZE_MAX);
    }
    for (size_t b = 0; b < l->n_blocks; b++) {
        add(&fs, l->blocks[b].corrupt ? MTLB_LINT_CORRUPT : MTLB_LINT_NOT_CERTIFICATE,
            l->blocks[b].entry, 0, SIZE_MAX);
    }
    for (size_t i = 0; i < l->n_certs; i++) {
        size_t j = first_copy(l, i);
        if (j != i) {
            add(&fs, MTLB_LINT_DUPLICATE, l->certs[i].entry, l->certs[j].entry, i);
        } else {
            check_cert(l, i, now, &fs);
        }
    }
    if (fs.failed) {
        free(fs.v);
        *out = NULL;
        *n = 0;
        return -ENOMEM;
    }
    if (fs.n > 1) {
        qsort(fs.v, fs.n, sizeof(*fs.v), by_entry);
    }
    *out = fs.v;
    *n = fs.n;
    return 0;
}

static void format_time(int64_t t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) {
        snprintf(buf, cap, "(unknown time)");
    }
}

/* The message of f without its "error: "/"warning: " prefix. */
static void message(const struct mtlb_lint_list *l, const struct mtlb_lint_finding *f, int64_t now,
                    char *buf, size_t cap)
{
    const struct mtlb_lint_cert *c = f->cert < l->n_certs ? &l->certs[f->cert] : NULL;
    const struct mtlb_lint_block *b = NULL;
    char when[64] = "";

    for (size_t i = 0; i < l->n_blocks && b == NULL; i++) {
        b = l->blocks[i].entry == f->entry ? &l->blocks[i] : NULL;
    }
    if (c == NULL) {
        if (f->kind == MTLB_LINT_NO_CERTIFICATE) {
            snprintf(buf, cap, "the file holds no certificate");
        } else if (f->kind == MTLB_LINT_NOT_CERTIFICATE) {
            snprintf(buf, cap, "entry %d is a %s, not a certificate", f->entry, b ? b->type : "?");
        } else if (b != NULL && b->type[0] != '\0') {
            snprintf(buf, cap, "entry %d is a corrupted certificate (its %s block does not decode)",
                     f->entry, b->type);
        } else {
            snprintf(buf, cap, "entry %d is not valid PEM (bad base64 or no END line)", f->entry);
        }
        return;
    }
    switch (f->kind) {
    case MTLB_LINT_EXPIRED:
        format_time(c->not_after, when, sizeof(when));
        snprintf(buf, cap, "entry %d expired on %s: %s", f->entry, when, c->subject);
        break;
    case MTLB_LINT_NOT_YET_VALID:
        format_time(c->not_before, when, sizeof(when));
        snprintf(buf, cap, "entry %d is not valid before %s: %s", f->entry, when, c->subject);
        break;
    case MTLB_LINT_EXPIRES_SOON:
        format_time(c->not_after, when, sizeof(when));
        snprintf(buf, cap, "entry %d expires in %lld days, on %s: %s", f->entry,
                 (long long)((c->not_after - now) / 86400), when, c->subject);
        break;
    case MTLB_LINT_LEAF_ISSUER:
        snprintf(buf, cap,
                 "entry %d is not a CA certificate (no CA:TRUE) but issued entry %d: %s; chains "
                 "through it fail (invalid CA certificate)",
                 f->entry, f->other, c->subject);
        break;
    case MTLB_LINT_DUPLICATE:
        snprintf(buf, cap, "entry %d duplicates entry %d: %s", f->entry, f->other, c->subject);
        break;
    case MTLB_LINT_ISSUER_ABSENT:
        snprintf(buf, cap,
                 "entry %d is an intermediate CA whose issuer is not in the file: %s (issuer %s); "
                 "mtlb trusts it as an anchor and never checks it against its issuer's CRL",
                 f->entry, c->subject, c->issuer);
        break;
    default:
        snprintf(buf, cap, "entry %d: unknown finding", f->entry);
        break;
    }
}

const char *mtlb_lint_describe(const struct mtlb_lint_list *l, const struct mtlb_lint_finding *f,
                               int64_t now, char *buf, size_t cap)
{
    char msg[1400];

    if (cap == 0) {
        return buf;
    }
    message(l, f, now, msg, sizeof(msg));
    snprintf(buf, cap, "%s: %s", f->error ? "error" : "warning", msg);
    return buf;
}

/* s with `"` and `\` escaped, into out (truncated at cap). */
static void quote(const char *s, char *out, size_t cap)
{
    size_t o = 0;

    for (; *s != '\0' && o + 2 < cap; s++) {
        if (*s == '"' || *s == '\\') {
            out[o++] = '\\';
        }
        out[o++] = *s;
    }
    out[o] = '\0';
}

const char *mtlb_lint_format_cert(const struct mtlb_lint_cert *c, char *buf, size_t cap)
{
    char subj[2 * MTLB_LINT_DN_MAX], iss[2 * MTLB_LINT_DN_MAX], when[64];

    quote(c->subject, subj, sizeof(subj));
    quote(c->issuer, iss, sizeof(iss));
    format_time(c->not_after, when, sizeof(when));
    snprintf(buf, cap, "entry %d: %-4s subject=\"%s\" issuer=\"%s\" not_after=\"%s\" clientAuth=%s",
             c->entry, c->ca ? "CA" : "leaf", subj, iss, when, c->client_auth ? "yes" : "no");
    return buf;
}
