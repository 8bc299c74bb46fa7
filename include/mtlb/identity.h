/* The verified identity of a TLS client: what the edge tells the backend.
 * Built once per connection at the end of the handshake, immutable afterwards, owned by the
 * connection. Pure module: uses libcrypto's X509 accessors only, no I/O, no logging. */
#ifndef MTLB_IDENTITY_H
#define MTLB_IDENTITY_H

#include <openssl/x509.h>

enum mtlb_verify {
    MTLB_VERIFY_NONE = 0, /* no certificate presented */
    MTLB_VERIFY_SUCCESS,
    MTLB_VERIFY_FAILED,
};

/* Both write an attribute type OpenSSL has no name for as its whole dotted OID. */
enum mtlb_dn_format {
    /* "/C=PL/O=Org/CN=name" (MuleSoft DLB, default): certificate order; inside values '\',
     * '/' and '=' are written \\, \/ and \=, bytes outside printable ASCII \xHH (UTF-8). */
    MTLB_DN_SLASH = 0,
    /* "CN=name,O=Org,C=PL" (nginx default): exactly OpenSSL's RFC 2253 printer, whose escapes
     * are \, \+ \" \\ \< \> \; and \HH for bytes outside printable ASCII. */
    MTLB_DN_RFC2253,
};

/* All strings are NUL-terminated, safe as HTTP field values (no CTLs; nothing outside
 * printable ASCII), and NULL when verify == MTLB_VERIFY_NONE. oversize sits next to verify and
 * fingerprint last so that the struct has no holes (it is embedded in every client). */
struct mtlb_identity {
    enum mtlb_verify verify;
    unsigned oversize; /* MTLB_IDENTITY_* bits of the extras left out for exceeding their limit */
    char *subject;     /* subject DN */
    char *issuer;      /* issuer DN */
    char *serial;      /* upper-case hex, no separators, e.g. "1A2B" */
    char *reason; /* X.509 failure reason when FAILED (e.g. "certificate has expired"), else NULL */
    long x509_error; /* the X509_V_ERR_* behind reason when FAILED, else X509_V_OK */
    /* Opt-in extras (mtlb_identity_add_extras), NULL unless asked for and present: */
    char *cert_escaped; /* the leaf as PEM text, percent-encoded (mtlb_identity_percent_encode) */
    char *san;          /* subject alternative names (mtlb_identity_add_extras), NULL when none */
    /* SHA-256 of the leaf certificate's DER, 64 lower-case hex digits; "" without one */
    char fingerprint[65];
};

/* Extras mtlb_identity_add_extras can add, and the longest value each may have: a larger one
 * is left out (its bit set in oversize), never truncated, so that a header is whole or absent. */
#define MTLB_IDENTITY_CERT 1u
#define MTLB_IDENTITY_SAN 2u
#define MTLB_IDENTITY_CERT_MAX 16384u
#define MTLB_IDENTITY_SAN_MAX 8192u

/* Returns the word sent as X-SSL-Client-Verify: "SUCCESS", "FAILED" or "NONE". */
const char *mtlb_identity_verify_word(enum mtlb_verify v);

/* Fills *id from the peer certificate (may be NULL: no certificate) and OpenSSL's verify
 * result (X509_V_OK means SUCCESS), including the certificate's SHA-256 fingerprint. Returns 0 or
 * -ENOMEM; on error *id is left empty. The caller releases with mtlb_identity_fini. */
int mtlb_identity_init(struct mtlb_identity *id, X509 *peer, long verify_result,
                       enum mtlb_dn_format fmt);

/* Formats a DN into buf (always NUL-terminated, truncated to cap). Returns the length written. */
size_t mtlb_identity_format_dn(const X509_NAME *name, enum mtlb_dn_format fmt, char *buf,
                               size_t cap);

/* Adds the extras named by `what` (MTLB_IDENTITY_* bits) from peer, the certificate *id was
 * initialised from (NULL: nothing is added). cert_escaped: the PEM text as
 * PEM_write_bio_X509 writes it ("-----BEGIN CERTIFICATE-----\n", base64 lines of 64, "\n"
 * after the END line), percent-encoded as nginx's $ssl_client_escaped_cert. san: each
 * subjectAltName entry in certificate order as TYPE:value, joined by ", ": DNS:, URI:, email:,
 * IP: (IPv4 dotted, IPv6 as inet_ntop writes it), DirName: (the DN in the slash format),
 * RID: (dotted OID), othername: (its type OID only; the value is left out), and X400Name,
 * EdiPartyName (type only); inside values '\' and ',' are written \\ and \, and bytes outside
 * printable ASCII \xHH, so ", " only ever separates entries. NULL when the certificate has no
 * subjectAltName extension (or an empty one). A value over its MTLB_IDENTITY_*_MAX is left NULL
 * and its bit set in id->oversize. Returns 0 or -ENOMEM (the extras then stay NULL). Pure. */
int mtlb_identity_add_extras(struct mtlb_identity *id, X509 *peer, unsigned what);

/* Percent-encodes s[0..n) as nginx's $ssl_client_escaped_cert does (its URI-component
 * escaping): every byte except the RFC 3986 unreserved characters A-Z a-z 0-9 - . _ ~ becomes
 * %HH, upper-case hex. Writes at most cap - 1 bytes and a NUL when cap > 0, never a partial
 * %HH; returns the full encoded length (excluding the NUL), as snprintf does. Pure. */
size_t mtlb_identity_percent_encode(const char *s, size_t n, char *out, size_t cap);

void mtlb_identity_fini(struct mtlb_identity *id);

#endif
