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
 * printable ASCII), and NULL when verify == MTLB_VERIFY_NONE. */
struct mtlb_identity {
    enum mtlb_verify verify;
    char *subject; /* subject DN */
    char *issuer;  /* issuer DN */
    char *serial;  /* upper-case hex, no separators, e.g. "1A2B" */
    char *reason; /* X.509 failure reason when FAILED (e.g. "certificate has expired"), else NULL */
    long x509_error; /* the X509_V_ERR_* behind reason when FAILED, else X509_V_OK */
    /* SHA-256 of the leaf certificate's DER, 64 lower-case hex digits; "" without one */
    char fingerprint[65];
};

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

void mtlb_identity_fini(struct mtlb_identity *id);

#endif
