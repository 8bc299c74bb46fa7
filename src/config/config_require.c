/* Config route identity policy: the routes[].require mapping (verify, subject, issuer, san_dns,
 * san_uri, san_email, fingerprints_sha256, serials) read into a normalized
 * struct mtlb_require_cfg, and its free/copy/compare. Syntax only, plus regcomp of the two
 * regular expressions so that mtlb -t names a bad one; matching is the require module's. */
#include <errno.h>
#include <regex.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

/* Normalizes one list item (a heap copy of the scalar, which may be replaced): 0, or an error
 * at v. */
typedef int (*item_norm)(struct cfg_ctx *ctx, const yaml_node_t *v, char **s);

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static char upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Printable ASCII without spaces: what a SAN of these types can be compared with. */
static bool visible(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f) {
            return false;
        }
    }
    return true;
}

/* Hex digits with optional ':' between them, into out (same buffer is fine: it only shrinks). */
static bool hex_digits(const char *s, char *out, size_t *n)
{
    size_t k = 0;
    bool prev_colon = true; /* no leading colon */

    for (; *s != '\0'; s++) {
        if (*s == ':') {
            if (prev_colon) {
                return false;
            }
            prev_colon = true;
            continue;
        }
        if (!is_hex(*s)) {
            return false;
        }
        out[k++] = *s;
        prev_colon = false;
    }
    out[k] = '\0';
    *n = k;
    return k > 0 && !prev_colon;
}

static int norm_fingerprint(struct cfg_ctx *ctx, const yaml_node_t *v, char **sp)
{
    char *s = *sp;
    size_t n = 0;

    if (!hex_digits(s, s, &n) || n != 64) {
        return mtlb_cfg_err(ctx, v,
                            "expected a SHA-256 fingerprint: 64 hex digits, colons allowed "
                            "between them");
    }
    for (size_t i = 0; i < n; i++) {
        s[i] = lower(s[i]);
    }
    return 0;
}

/* As BN_bn2hex writes the identity's serial: upper case, leading zero bytes dropped but each
 * byte whole ("A" and "000A" become "0A"), "0" for zero, '-' kept in front. */
static int norm_serial(struct cfg_ctx *ctx, const yaml_node_t *v, char **sp)
{
    /* room for a '0' in front of an odd digit count */
    char *s = realloc(*sp, strlen(*sp) + 2);
    if (s == NULL) {
        return mtlb_cfg_oom(ctx);
    }
    *sp = s;
    bool neg = s[0] == '-';
    char *d = s + neg;
    size_t n = 0;

    if (!hex_digits(d, d, &n) || n > 128) {
        return mtlb_cfg_err(ctx, v,
                            "expected a serial number: hex digits (at most 128), colons allowed "
                            "between them, optionally '-' first");
    }
    size_t z = 0;
    while (z < n && d[z] == '0') {
        z++;
    }
    if (z == n) {
        strcpy(s, "0"); /* BN_bn2hex of zero, never "-0" */
        return 0;
    }
    memmove(d + 1, d + z, n - z + 1);
    d[0] = '0'; /* a whole first byte; dropped again when the digit count is even */
    if ((n - z) % 2 == 0) {
        memmove(d, d + 1, n - z + 1);
    }
    for (char *p = d; *p != '\0'; p++) {
        *p = upper(*p);
    }
    return 0;
}

/* A DNS name, lower-cased: visible ASCII, '*' only as a whole first label "*." before at
 * least one more label. */
static int norm_dns(struct cfg_ctx *ctx, const yaml_node_t *v, char **sp)
{
    char *s = *sp;
    const char *rest = strncmp(s, "*.", 2) == 0 ? s + 2 : s;
    bool ok = visible(s) && *rest != '\0' && strchr(rest, '*') == NULL && rest[0] != '.';

    if (!ok) {
        return mtlb_cfg_err(ctx, v,
                            "expected a DNS name, exact or \"*.\" and a suffix (visible ASCII, "
                            "'*' only as the whole first label)");
    }
    for (char *p = s; *p != '\0'; p++) {
        *p = lower(*p);
    }
    return 0;
}

static int norm_uri(struct cfg_ctx *ctx, const yaml_node_t *v, char **sp)
{
    char *s = *sp;
    if (!visible(s)) {
        return mtlb_cfg_err(ctx, v, "expected a URI (visible ASCII, no spaces)");
    }
    return 0;
}

/* local@domain: the local part as written, the domain lower-cased. */
static int norm_email(struct cfg_ctx *ctx, const yaml_node_t *v, char **sp)
{
    char *s = *sp;
    char *at = strrchr(s, '@');

    if (!visible(s) || at == NULL || at == s || at[1] == '\0') {
        return mtlb_cfg_err(ctx, v, "expected an e-mail address local@domain (visible ASCII)");
    }
    for (char *p = at + 1; *p != '\0'; p++) {
        *p = lower(*p);
    }
    return 0;
}

/* One scalar item into the list (grown by one). */
static int add_item(struct cfg_ctx *ctx, yaml_node_t *v, char ***list, size_t *n, item_norm norm)
{
    char *s = NULL;
    int rc = mtlb_cfg_str(ctx, v, &s);

    rc = rc != 0 ? rc : norm(ctx, v, &s);
    if (rc == 0) {
        char **grown = realloc(*list, (*n + 1) * sizeof(**list));
        if (grown == NULL) {
            rc = mtlb_cfg_oom(ctx);
        } else {
            *list = grown;
            (*list)[(*n)++] = s;
            return 0;
        }
    }
    free(s);
    return rc;
}

/* A non-empty list of scalars, or one scalar (a list of one). */
static int read_list(struct cfg_ctx *ctx, yaml_node_t *v, char ***list, size_t *n, item_norm norm)
{
    size_t count = 0;
    int rc = 0;

    if (v->type != YAML_SEQUENCE_NODE) {
        return add_item(ctx, v, list, n, norm);
    }
    rc = mtlb_cfg_seq(ctx, v, true, &count);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        yaml_node_t *item = NULL;
        size_t mark = mtlb_cfg_push(ctx, "[%zu]", i);
        rc = mtlb_cfg_item(ctx, v, i, &item);
        rc = rc != 0 ? rc : add_item(ctx, item, list, n, norm);
        mtlb_cfg_pop(ctx, mark);
    }
    return rc;
}

#define LIST_READER(name, field, norm)                                                             \
    static int name(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)     \
    {                                                                                              \
        struct mtlb_require_cfg *r = dst;                                                          \
        (void)f;                                                                                   \
        return read_list(ctx, v, &r->field, &r->n_##field, norm);                                  \
    }

LIST_READER(read_san_dns, san_dns, norm_dns)
LIST_READER(read_san_uri, san_uri, norm_uri)
LIST_READER(read_san_email, san_email, norm_email)
LIST_READER(read_fingerprints, fingerprints, norm_fingerprint)
LIST_READER(read_serials, serials, norm_serial)

static int verify_word(struct cfg_ctx *ctx, yaml_node_t *v, unsigned *bits)
{
    static const char *const w[] = {"NONE", "SUCCESS", "FAILED"};
    static const unsigned vals[] = {MTLB_VERIFY_NONE, MTLB_VERIFY_SUCCESS, MTLB_VERIFY_FAILED};
    int i = 0;
    int rc = mtlb_cfg_choice(ctx, v, w, 3, &i);

    if (rc == 0) {
        *bits |= 1u << vals[i];
    }
    return rc;
}

/* verify: one word or a non-empty list of NONE, SUCCESS, FAILED. */
static int read_verify(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    unsigned *bits = dst;
    size_t count = 0;
    int rc = 0;

    (void)f;
    if (v->type != YAML_SEQUENCE_NODE) {
        return verify_word(ctx, v, bits);
    }
    rc = mtlb_cfg_seq(ctx, v, true, &count);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        yaml_node_t *item = NULL;
        size_t mark = mtlb_cfg_push(ctx, "[%zu]", i);
        rc = mtlb_cfg_item(ctx, v, i, &item);
        rc = rc != 0 ? rc : verify_word(ctx, item, bits);
        mtlb_cfg_pop(ctx, mark);
    }
    return rc;
}

/* subject, issuer: compiled here only to report a bad expression where it is written. */
static int read_regex(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    char **out = dst;
    regex_t re;
    int rc = mtlb_cfg_str(ctx, v, out);

    (void)f;
    if (rc != 0) {
        return rc;
    }
    int err = regcomp(&re, *out, REG_EXTENDED | REG_NOSUB);
    if (err == REG_ESPACE) {
        return mtlb_cfg_oom(ctx);
    }
    if (err != 0) {
        char msg[128];
        regerror(err, &re, msg, sizeof(msg));
        return mtlb_cfg_err(ctx, v, "invalid regular expression: %s", msg);
    }
    regfree(&re);
    return 0;
}

static bool any_condition(const struct mtlb_require_cfg *r)
{
    return r->verify != 0 || r->subject != NULL || r->issuer != NULL || r->n_san_dns > 0 ||
           r->n_san_uri > 0 || r->n_san_email > 0 || r->n_fingerprints > 0 || r->n_serials > 0;
}

int mtlb_cfg_read_require(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
#define RQ(m) offsetof(struct mtlb_require_cfg, m)
    static const struct cfg_field fields[] = {
        {"verify", read_verify, false, RQ(verify), 0, 0},
        {"subject", read_regex, false, RQ(subject), 0, 0},
        {"issuer", read_regex, false, RQ(issuer), 0, 0},
        {"san_dns", read_san_dns, false, 0, 0, 0},
        {"san_uri", read_san_uri, false, 0, 0, 0},
        {"san_email", read_san_email, false, 0, 0, 0},
        {"fingerprints_sha256", read_fingerprints, false, 0, 0, 0},
        {"serials", read_serials, false, 0, 0, 0},
    };
#undef RQ
    (void)f;
    int rc = mtlb_cfg_walk_map(ctx, v, fields, sizeof(fields) / sizeof(fields[0]), dst);
    if (rc == 0 && !any_condition(dst)) {
        return mtlb_cfg_err(ctx, v,
                            "must name at least one condition (verify, subject, issuer, san_dns, "
                            "san_uri, san_email, fingerprints_sha256, serials)");
    }
    return rc;
}

static void list_free(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(l[i]);
    }
    free(l);
}

void mtlb_cfg_require_free(struct mtlb_require_cfg *r)
{
    free(r->subject);
    free(r->issuer);
    list_free(r->san_dns, r->n_san_dns);
    list_free(r->san_uri, r->n_san_uri);
    list_free(r->san_email, r->n_san_email);
    list_free(r->fingerprints, r->n_fingerprints);
    list_free(r->serials, r->n_serials);
    memset(r, 0, sizeof(*r));
}

/* *d gets n copies (NULL when n is 0); false for want of memory, leaving what it made in *d. */
static bool list_copy(char ***d, size_t *dn, char *const *s, size_t n)
{
    *d = NULL;
    *dn = 0;
    if (n == 0) {
        return true;
    }
    *d = calloc(n, sizeof(**d));
    if (*d == NULL) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        (*d)[i] = strdup(s[i]);
        if ((*d)[i] == NULL) {
            return false;
        }
        (*dn)++;
    }
    return true;
}

static bool str_copy(char **d, const char *s)
{
    *d = s != NULL ? strdup(s) : NULL;
    return s == NULL || *d != NULL;
}

int mtlb_cfg_require_copy(struct mtlb_require_cfg *d, const struct mtlb_require_cfg *s)
{
    memset(d, 0, sizeof(*d));
    d->verify = s->verify;
    bool ok = str_copy(&d->subject, s->subject) && str_copy(&d->issuer, s->issuer) &&
              list_copy(&d->san_dns, &d->n_san_dns, s->san_dns, s->n_san_dns) &&
              list_copy(&d->san_uri, &d->n_san_uri, s->san_uri, s->n_san_uri) &&
              list_copy(&d->san_email, &d->n_san_email, s->san_email, s->n_san_email) &&
              list_copy(&d->fingerprints, &d->n_fingerprints, s->fingerprints, s->n_fingerprints) &&
              list_copy(&d->serials, &d->n_serials, s->serials, s->n_serials);
    return ok ? 0 : -ENOMEM;
}

static bool str_same(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Same entries in the same order (order does not change the outcome, but a reordered list is
 * reported as a change, which is harmless). */
static bool list_same(char *const *a, size_t na, char *const *b, size_t nb)
{
    bool eq = na == nb;

    for (size_t i = 0; eq && i < na; i++) {
        eq = strcmp(a[i], b[i]) == 0;
    }
    return eq;
}

bool mtlb_cfg_require_same(const struct mtlb_require_cfg *a, const struct mtlb_require_cfg *b)
{
    return a->verify == b->verify && str_same(a->subject, b->subject) &&
           str_same(a->issuer, b->issuer) &&
           list_same(a->san_dns, a->n_san_dns, b->san_dns, b->n_san_dns) &&
           list_same(a->san_uri, a->n_san_uri, b->san_uri, b->n_san_uri) &&
           list_same(a->san_email, a->n_san_email, b->san_email, b->n_san_email) &&
           list_same(a->fingerprints, a->n_fingerprints, b->fingerprints, b->n_fingerprints) &&
           list_same(a->serials, a->n_serials, b->serials, b->n_serials);
}
