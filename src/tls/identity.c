/* Peer identity: subject, issuer, serial and verify outcome as HTTP-safe strings.
 * Pure module: libcrypto X509 accessors only, no SSL objects, no I/O, no logging. Every byte
 * outside printable ASCII leaves here escaped, so nothing from a certificate can inject
 * header lines into the request sent to a backend, and the separators of each DN format are
 * escaped inside values, so a value cannot pose as another attribute. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "mtlb/identity.h"

/* Output buffer: either caller-owned and fixed (truncates) or heap and growing. */
struct id_buf {
    char *p;
    size_t len;
    size_t cap;
    bool grow;
    bool oom;
};

static bool buf_reserve(struct id_buf *b, size_t more)
{
    if (b->len + more < b->cap) { /* keep one byte for the NUL */
        return true;
    }
    if (!b->grow || b->oom) {
        return false;
    }
    size_t cap = b->cap ? b->cap : 64;
    while (b->len + more >= cap) {
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

/* Appends bytes, escaping unsafe ones as \xHH and the bytes of `special` (may be NULL) with a
 * backslash. Units are never split: a truncated buffer ends before an escape rather than in
 * the middle of one. Returns false once truncated. */
static bool buf_put_esc(struct id_buf *b, const unsigned char *s, size_t n, const char *special)
{
    static const char hex[] = "0123456789ABCDEF";

    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        bool plain = c >= 0x20 && c < 0x7F;
        bool backslash = plain && special != NULL && strchr(special, c) != NULL;
        if (!buf_reserve(b, !plain ? 4 : backslash ? 2 : 1)) {
            return false;
        }
        if (!plain) {
            b->p[b->len++] = '\\';
            b->p[b->len++] = 'x';
            b->p[b->len++] = hex[c >> 4];
            b->p[b->len++] = hex[c & 0xF];
        } else {
            if (backslash) {
                b->p[b->len++] = '\\';
            }
            b->p[b->len++] = (char)c;
        }
        b->p[b->len] = '\0';
    }
    return true;
}

static bool buf_put_safe(struct id_buf *b, const unsigned char *s, size_t n)
{
    return buf_put_esc(b, s, n, NULL);
}

static bool buf_put_str(struct id_buf *b, const char *s)
{
    return buf_put_safe(b, (const unsigned char *)s, strlen(s));
}

/* The attribute type as OpenSSL's short name ("CN"), or for a type OpenSSL does not know the
 * whole dotted OID, however long. */
static bool put_type(struct id_buf *b, const ASN1_OBJECT *obj)
{
    int nid = OBJ_obj2nid(obj);
    const char *sn = nid != NID_undef ? OBJ_nid2sn(nid) : NULL;

    if (sn != NULL) {
        return buf_put_str(b, sn);
    }
    int len = OBJ_obj2txt(NULL, 0, obj, 1);
    if (len <= 0) {
        return buf_put_str(b, "UNDEF"); /* not even an OID: OpenSSL's name for that */
    }
    char *oid = malloc((size_t)len + 1);
    if (oid == NULL) {
        b->oom = true;
        return false;
    }
    OBJ_obj2txt(oid, len + 1, obj, 1);
    bool ok = buf_put_str(b, oid);
    free(oid);
    return ok;
}

/* "/type=value" per entry, in certificate order, values converted to UTF-8 first; '\', '/'
 * and '=' inside a value are written \\, \/ and \=. */
static bool dn_slash(const X509_NAME *name, struct id_buf *b)
{
    int n = X509_NAME_entry_count(name);

    for (int i = 0; i < n; i++) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
        const ASN1_STRING *val = X509_NAME_ENTRY_get_data(e);
        unsigned char *utf8 = NULL;
        int ulen = ASN1_STRING_to_UTF8(&utf8, val);
        bool ok = buf_put_str(b, "/") && put_type(b, X509_NAME_ENTRY_get_object(e)) &&
                  buf_put_str(b, "=");
        if (ok && ulen >= 0) {
            ok = buf_put_esc(b, utf8, (size_t)ulen, "\\/=");
        } else if (ok) {
            /* Not convertible: fall back to the raw bytes, escaped. */
            ok =
                buf_put_esc(b, ASN1_STRING_get0_data(val), (size_t)ASN1_STRING_length(val), "\\/=");
        }
        OPENSSL_free(utf8);
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* RFC 2253, as X509_NAME_print_ex(XN_FLAG_RFC2253) prints it (last entry first, "," between
 * RDNs and "+" inside a multi-valued one, values escaped by OpenSSL's RFC 2253 string printer,
 * values of unknown types as #hex of their DER) except that an unknown type is its whole
 * dotted OID, where OpenSSL cuts it at 79 characters. The safe copy is the guarantee that
 * holds whatever the printer does. */
static bool dn_rfc2253(const X509_NAME *name, struct id_buf *b)
{
    BIO *bio = BIO_new(BIO_s_mem());
    int n = X509_NAME_entry_count(name);
    int prev_set = -1;
    bool ok = bio != NULL;

    for (int i = n - 1; ok && i >= 0; i--) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
        const ASN1_OBJECT *obj = X509_NAME_ENTRY_get_object(e);
        unsigned long flags = ASN1_STRFLGS_RFC2253;
        char *data = NULL;
        if (prev_set != -1) {
            ok = buf_put_str(b, prev_set == X509_NAME_ENTRY_set(e) ? "+" : ",");
        }
        prev_set = X509_NAME_ENTRY_set(e);
        ok = ok && put_type(b, obj) && buf_put_str(b, "=");
        if (OBJ_obj2nid(obj) == NID_undef) {
            flags |= ASN1_STRFLGS_DUMP_ALL;
        }
        if (ok) {
            (void)BIO_reset(bio);
            ok = ASN1_STRING_print_ex(bio, X509_NAME_ENTRY_get_data(e), flags) >= 0;
            b->oom = b->oom || !ok;
        }
        long len = ok ? BIO_get_mem_data(bio, &data) : 0;
        ok = ok && buf_put_safe(b, (const unsigned char *)data, len > 0 ? (size_t)len : 0);
    }
    if (bio == NULL) {
        b->oom = true;
    }
    BIO_free(bio);
    return ok;
}

static bool dn_format(const X509_NAME *name, enum mtlb_dn_format fmt, struct id_buf *b)
{
    if (!buf_reserve(b, 0)) {
        return false;
    }
    b->p[b->len] = '\0';
    if (name == NULL) {
        return true;
    }
    return fmt == MTLB_DN_RFC2253 ? dn_rfc2253(name, b) : dn_slash(name, b);
}

size_t mtlb_identity_format_dn(const X509_NAME *name, enum mtlb_dn_format fmt, char *buf,
                               size_t cap)
{
    struct id_buf b = {.p = buf, .cap = cap};

    if (cap == 0) {
        return 0;
    }
    buf[0] = '\0';
    dn_format(name, fmt, &b);
    return b.len;
}

const char *mtlb_identity_verify_word(enum mtlb_verify v)
{
    switch (v) {
    case MTLB_VERIFY_SUCCESS:
        return "SUCCESS";
    case MTLB_VERIFY_FAILED:
        return "FAILED";
    case MTLB_VERIFY_NONE:
    default:
        return "NONE";
    }
}

static char *dn_dup(const X509_NAME *name, enum mtlb_dn_format fmt)
{
    struct id_buf b = {.grow = true};

    if (!dn_format(name, fmt, &b)) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static char *safe_dup(const char *s)
{
    struct id_buf b = {.grow = true};

    if (!buf_reserve(&b, 0)) {
        return NULL;
    }
    b.p[0] = '\0';
    if (!buf_put_str(&b, s)) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* Upper-case hex as BN_bn2hex gives it (whole bytes, "0" for zero, "-" when negative). */
static char *serial_hex(const X509 *peer)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(peer), NULL);
    char *hex = NULL;
    char *out = NULL;

    if (bn != NULL) {
        hex = BN_bn2hex(bn);
    }
    if (hex != NULL) {
        out = safe_dup(hex);
    }
    OPENSSL_free(hex);
    BN_free(bn);
    return out;
}

/* Hex of the SHA-256 of peer's DER (what `openssl x509 -fingerprint -sha256` prints, without
 * colons, in lower case); false when libcrypto cannot compute it. */
static bool fingerprint_hex(const X509 *peer, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    if (X509_digest(peer, EVP_sha256(), md, &len) != 1 || len != 32) {
        return false;
    }
    for (unsigned int i = 0; i < len; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    return true;
}

int mtlb_identity_init(struct mtlb_identity *id, X509 *peer, long verify_result,
                       enum mtlb_dn_format fmt)
{
    memset(id, 0, sizeof(*id));
    if (peer == NULL) {
        return 0;
    }
    if (!fingerprint_hex(peer, id->fingerprint)) {
        return -ENOMEM;
    }
    id->subject = dn_dup(X509_get_subject_name(peer), fmt);
    id->issuer = dn_dup(X509_get_issuer_name(peer), fmt);
    id->serial = serial_hex(peer);
    bool ok = id->subject != NULL && id->issuer != NULL && id->serial != NULL;
    if (ok && verify_result != X509_V_OK) {
        id->reason = safe_dup(X509_verify_cert_error_string(verify_result));
        ok = id->reason != NULL;
    }
    if (!ok) {
        mtlb_identity_fini(id);
        return -ENOMEM;
    }
    id->verify = verify_result == X509_V_OK ? MTLB_VERIFY_SUCCESS : MTLB_VERIFY_FAILED;
    id->x509_error = verify_result;
    return 0;
}

/* RFC 3986 unreserved: what the URI-component escaping leaves as it is. */
static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

size_t mtlb_identity_percent_encode(const char *s, size_t n, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        size_t unit = unreserved(c) ? 1 : 3;
        if (cap > 0 && len + unit < cap) {
            if (unit == 1) {
                out[len] = (char)c;
            } else {
                out[len] = '%';
                out[len + 1] = hex[c >> 4];
                out[len + 2] = hex[c & 15];
            }
        } else if (cap > 0 && len < cap) {
            cap = len + 1; /* full: nothing more is written, not even a shorter unit */
        }
        len += unit;
    }
    if (cap > 0) {
        out[len < cap ? len : cap - 1] = '\0';
    }
    return len;
}

/* The leaf as percent-encoded PEM; *out stays NULL when it exceeds MTLB_IDENTITY_CERT_MAX. */
static int cert_escaped(X509 *peer, char **out, unsigned *oversize)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL;
    int rc = -ENOMEM;

    if (bio != NULL && PEM_write_bio_X509(bio, peer) == 1) {
        long got = BIO_get_mem_data(bio, &pem);
        size_t n = got > 0 ? (size_t)got : 0;
        size_t need = mtlb_identity_percent_encode(pem, n, NULL, 0);
        rc = 0;
        if (need > MTLB_IDENTITY_CERT_MAX) {
            *oversize |= MTLB_IDENTITY_CERT;
        } else if ((*out = malloc(need + 1)) != NULL) {
            mtlb_identity_percent_encode(pem, n, *out, need + 1);
        } else {
            rc = -ENOMEM;
        }
    }
    BIO_free(bio);
    return rc;
}

/* An IP address SAN: 4 bytes dotted, 16 bytes as inet_ntop writes IPv6, else the bytes \xHH. */
static bool san_ip(struct id_buf *b, const ASN1_OCTET_STRING *ip)
{
    const unsigned char *d = ASN1_STRING_get0_data(ip);
    int len = ASN1_STRING_length(ip);
    char text[INET6_ADDRSTRLEN];

    if ((len == 4 && inet_ntop(AF_INET, d, text, sizeof(text)) != NULL) ||
        (len == 16 && inet_ntop(AF_INET6, d, text, sizeof(text)) != NULL)) {
        return buf_put_str(b, text);
    }
    return buf_put_esc(b, d, len > 0 ? (size_t)len : 0, "\\,");
}

static bool san_oid(struct id_buf *b, const ASN1_OBJECT *obj)
{
    char oid[128];
    int len = OBJ_obj2txt(oid, sizeof(oid), obj, 1);

    return buf_put_str(b, len > 0 && (size_t)len < sizeof(oid) ? oid : "UNDEF");
}

/* One GENERAL_NAME as TYPE:value. */
static bool san_entry(struct id_buf *b, const GENERAL_NAME *g)
{
    const ASN1_STRING *str = NULL;
    const char *type = "DNS:";
    bool ok = true;

    switch (g->type) {
    case GEN_DNS:
        str = g->d.dNSName;
        break;
    case GEN_URI:
        type = "URI:";
        str = g->d.uniformResourceIdentifier;
        break;
    case GEN_EMAIL:
        type = "email:";
        str = g->d.rfc822Name;
        break;
    case GEN_IPADD:
        return buf_put_str(b, "IP:") && san_ip(b, g->d.iPAddress);
    case GEN_DIRNAME: {
        char *dn = dn_dup(g->d.directoryName, MTLB_DN_SLASH);
        ok = dn != NULL && buf_put_str(b, "DirName:") &&
             buf_put_esc(b, (const unsigned char *)dn, strlen(dn), "\\,");
        b->oom = b->oom || dn == NULL;
        free(dn);
        return ok;
    }
    case GEN_RID:
        return buf_put_str(b, "RID:") && san_oid(b, g->d.registeredID);
    case GEN_OTHERNAME:
        return buf_put_str(b, "othername:") && san_oid(b, g->d.otherName->type_id);
    case GEN_X400:
        return buf_put_str(b, "X400Name");
    default:
        return buf_put_str(b, "EdiPartyName");
    }
    return buf_put_str(b, type) &&
           buf_put_esc(b, ASN1_STRING_get0_data(str), (size_t)ASN1_STRING_length(str), "\\,");
}

/* The SAN list; *out stays NULL without entries or past MTLB_IDENTITY_SAN_MAX. */
static int san_list(X509 *peer, char **out, unsigned *oversize)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(peer, NID_subject_alt_name, NULL, NULL);
    int n = names != NULL ? sk_GENERAL_NAME_num(names) : 0;
    struct id_buf b = {.grow = true};
    bool ok = true;

    for (int i = 0; ok && i < n; i++) {
        ok = (i == 0 || buf_put_str(&b, ", ")) && san_entry(&b, sk_GENERAL_NAME_value(names, i));
    }
    GENERAL_NAMES_free(names);
    if (!ok) {
        free(b.p);
        return -ENOMEM; /* a growing buffer only fails for want of memory */
    }
    if (b.len > MTLB_IDENTITY_SAN_MAX) {
        *oversize |= MTLB_IDENTITY_SAN;
        free(b.p);
        return 0;
    }
    *out = b.p;
    return 0;
}

int mtlb_identity_add_extras(struct mtlb_identity *id, X509 *peer, unsigned what)
{
    int rc = 0;

    if (peer == NULL) {
        return 0;
    }
    if ((what & MTLB_IDENTITY_CERT) != 0 && id->cert_escaped == NULL) {
        rc = cert_escaped(peer, &id->cert_escaped, &id->oversize);
    }
    if (rc == 0 && (what & MTLB_IDENTITY_SAN) != 0 && id->san == NULL) {
        rc = san_list(peer, &id->san, &id->oversize);
    }
    if (rc != 0) {
        free(id->cert_escaped);
        free(id->san);
        id->cert_escaped = id->san = NULL;
    }
    return rc;
}

void mtlb_identity_fini(struct mtlb_identity *id)
{
    free(id->cert_escaped);
    free(id->san);
    free(id->subject);
    free(id->issuer);
    free(id->serial);
    free(id->reason);
    memset(id, 0, sizeof(*id));
}
