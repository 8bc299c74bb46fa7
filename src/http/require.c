/* Route identity policy: compiles a require: configuration (regular expressions, owned copies
 * of the lists) and checks an identity against it in a fixed order. Pure: no I/O, no logging;
 * the caller turns a refusal into a 403 and a log line. */
#include <errno.h>
#include <regex.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mtlb/require.h"

struct mtlb_list {
    char **v;
    size_t n;
};

struct mtlb_require {
    unsigned verify; /* allowed outcomes, 1u << MTLB_VERIFY_* */
    bool has_subject, has_issuer;
    regex_t subject, issuer;
    struct mtlb_list dns, uri, email, fingerprints, serials;
};

/* A decoded SAN entry can be no longer than the joined string mtlb_identity builds. */
#define SAN_BUF (MTLB_IDENTITY_SAN_MAX + 1)

static bool list_dup(struct mtlb_list *d, char *const *s, size_t n)
{
    if (n == 0) {
        return true;
    }
    d->v = calloc(n, sizeof(*d->v));
    if (d->v == NULL) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        d->v[i] = strdup(s[i]);
        if (d->v[i] == NULL) {
            return false;
        }
        d->n++;
    }
    return true;
}

static void list_free(struct mtlb_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i]);
    }
    free(l->v);
}

static int compile_re(regex_t *re, bool *has, const char *pattern)
{
    if (pattern == NULL) {
        return 0;
    }
    int err = regcomp(re, pattern, REG_EXTENDED | REG_NOSUB);
    if (err != 0) {
        return err == REG_ESPACE ? -ENOMEM : -EINVAL;
    }
    *has = true;
    return 0;
}

static bool fingerprints_ok(const struct mtlb_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strlen(l->v[i]) != 64 || strspn(l->v[i], "0123456789abcdefABCDEF") != 64) {
            return false;
        }
    }
    return true;
}

/* Without a verify: key, conditions on certificate fields imply a verified certificate. */
static unsigned verify_mask(const struct mtlb_require_cfg *c)
{
    bool cert_cond = c->subject != NULL || c->issuer != NULL || c->n_san_dns > 0 ||
                     c->n_san_uri > 0 || c->n_san_email > 0 || c->n_fingerprints > 0 ||
                     c->n_serials > 0;

    if (c->verify != 0) {
        return c->verify;
    }
    return cert_cond ? 1u << MTLB_VERIFY_SUCCESS : ~0u;
}

int mtlb_require_compile(const struct mtlb_require_cfg *cfg, struct mtlb_require **out)
{
    struct mtlb_require *r = calloc(1, sizeof(*r));
    int rc = 0;

    *out = NULL;
    if (r == NULL) {
        return -ENOMEM;
    }
    r->verify = verify_mask(cfg);
    bool ok = list_dup(&r->dns, cfg->san_dns, cfg->n_san_dns) &&
              list_dup(&r->uri, cfg->san_uri, cfg->n_san_uri) &&
              list_dup(&r->email, cfg->san_email, cfg->n_san_email) &&
              list_dup(&r->fingerprints, cfg->fingerprints, cfg->n_fingerprints) &&
              list_dup(&r->serials, cfg->serials, cfg->n_serials);
    rc = ok ? 0 : -ENOMEM;
    rc = rc != 0 ? rc : compile_re(&r->subject, &r->has_subject, cfg->subject);
    rc = rc != 0 ? rc : compile_re(&r->issuer, &r->has_issuer, cfg->issuer);
    if (rc == 0 && !fingerprints_ok(&r->fingerprints)) {
        rc = -EINVAL;
    }
    if (rc != 0) {
        mtlb_require_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void mtlb_require_free(struct mtlb_require *r)
{
    if (r == NULL) {
        return;
    }
    if (r->has_subject) {
        regfree(&r->subject);
    }
    if (r->has_issuer) {
        regfree(&r->issuer);
    }
    list_free(&r->dns);
    list_free(&r->uri);
    list_free(&r->email);
    list_free(&r->fingerprints);
    list_free(&r->serials);
    free(r);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* Decodes the entry of the joined SAN string that starts at *p into buf (cap SAN_BUF) and
 * moves *p past it and its ", " separator. Returns the decoded length, or -1 for an entry that
 * must not match anything (a malformed escape, too long). The identity escapes '\' and ',' in
 * values, so an unescaped ',' only ever separates entries. */
static long san_next(const char **p, char *buf)
{
    const char *s = *p;
    size_t n = 0;
    bool bad = false;

    while (*s != '\0' && *s != ',') {
        int c = (unsigned char)*s++;
        if (c == '\\') {
            if (s[0] == 'x' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
                c = hexval(s[1]) * 16 + hexval(s[2]);
                s += 3;
            } else if (s[0] == '\\' || s[0] == ',') {
                c = (unsigned char)*s++;
            } else {
                bad = true;
                continue;
            }
        }
        if (n + 1 >= SAN_BUF) {
            bad = true;
            continue;
        }
        buf[n++] = (char)c;
    }
    if (*s == ',') {
        s += s[1] == ' ' ? 2 : 1;
    }
    *p = s;
    return bad ? -1 : (long)n;
}

static bool dns_label_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* pattern: lower-case, exact or "*.suffix"; name: n bytes, any content. */
static bool dns_match(const char *pattern, const char *name, size_t n)
{
    if (strncmp(pattern, "*.", 2) != 0) {
        return strlen(pattern) == n && strncasecmp(pattern, name, n) == 0 &&
               memchr(name, '\0', n) == NULL;
    }
    const char *suffix = pattern + 1; /* ".example.com" */
    size_t sl = strlen(suffix);
    if (n <= sl || strncasecmp(name + n - sl, suffix, sl) != 0) {
        return false;
    }
    for (size_t i = 0; i < n - sl; i++) {
        if (!dns_label_char(name[i])) {
            return false;
        }
    }
    return true;
}

static bool uri_match(const char *pattern, const char *v, size_t n)
{
    return strlen(pattern) == n && memcmp(pattern, v, n) == 0;
}

/* The local part exact, the domain (after the last '@') case-insensitive. */
static bool email_match(const char *pattern, const char *v, size_t n)
{
    const char *pat = strrchr(pattern, '@');
    const char *at = NULL;

    for (size_t i = 0; i < n; i++) {
        at = v[i] == '@' ? v + i : at;
    }
    if (pat == NULL || at == NULL || strlen(pattern) != n ||
        (size_t)(pat - pattern) != (size_t)(at - v)) {
        return false;
    }
    size_t local = (size_t)(at - v);
    return memcmp(pattern, v, local) == 0 && strncasecmp(pat, at, n - local) == 0 &&
           memchr(v, '\0', n) == NULL;
}

typedef bool (*san_match)(const char *pattern, const char *v, size_t n);

/* One of the certificate's SANs of this type ("DNS:") equals an entry of l. */
static bool san_any(const char *san, const char *type, const struct mtlb_list *l, san_match m)
{
    char buf[SAN_BUF];
    size_t tl = strlen(type);

    for (const char *p = san; *p != '\0';) {
        long n = san_next(&p, buf);
        if (n < (long)tl || memcmp(buf, type, tl) != 0) {
            continue;
        }
        for (size_t i = 0; i < l->n; i++) {
            if (m(l->v[i], buf + tl, (size_t)n - tl)) {
                return true;
            }
        }
    }
    return false;
}

static bool san_ok(const struct mtlb_require *r, const char *san)
{
    if (r->dns.n + r->uri.n + r->email.n == 0) {
        return true;
    }
    return san != NULL && (r->dns.n == 0 || san_any(san, "DNS:", &r->dns, dns_match)) &&
           (r->uri.n == 0 || san_any(san, "URI:", &r->uri, uri_match)) &&
           (r->email.n == 0 || san_any(san, "email:", &r->email, email_match));
}

static bool listed(const struct mtlb_list *l, const char *v)
{
    if (l->n == 0) {
        return true;
    }
    for (size_t i = 0; v != NULL && *v != '\0' && i < l->n; i++) {
        if (strcasecmp(l->v[i], v) == 0) {
            return true;
        }
    }
    return false;
}

static bool re_ok(bool has, const regex_t *re, const char *dn)
{
    return !has || (dn != NULL && regexec(re, dn, 0, NULL, 0) == 0);
}

int mtlb_require_eval(const struct mtlb_require *r, const struct mtlb_identity *id)
{
    if ((unsigned)id->verify >= 32 || (r->verify & (1u << id->verify)) == 0) {
        return MTLB_REQUIRE_VERIFY;
    }
    if (!re_ok(r->has_subject, &r->subject, id->subject)) {
        return MTLB_REQUIRE_SUBJECT;
    }
    if (!re_ok(r->has_issuer, &r->issuer, id->issuer)) {
        return MTLB_REQUIRE_ISSUER;
    }
    if (!san_ok(r, id->san)) {
        return MTLB_REQUIRE_SAN;
    }
    if (!listed(&r->fingerprints, id->fingerprint)) {
        return MTLB_REQUIRE_FINGERPRINT;
    }
    if (!listed(&r->serials, id->serial)) {
        return MTLB_REQUIRE_SERIAL;
    }
    return -1;
}

const char *mtlb_require_reason_name(enum mtlb_require_reason r)
{
    static const char *const names[MTLB_REQUIRE_REASONS] = {"verify", "subject",     "issuer",
                                                            "san",    "fingerprint", "serial"};
    return (unsigned)r < MTLB_REQUIRE_REASONS ? names[r] : "";
}

const char *mtlb_require_check(const struct mtlb_require *r, const struct mtlb_identity *id)
{
    int why = mtlb_require_eval(r, id);
    return why < 0 ? NULL : mtlb_require_reason_name((enum mtlb_require_reason)why);
}
