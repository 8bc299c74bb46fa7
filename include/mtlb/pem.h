/* PEM bundles read block by block, so that a stray key, a CSR or a broken block is named
 * instead of silently skipped (truststores, `mtlb truststore-lint`, `mtlb verify-client`).
 * Pure: libcrypto only, no I/O beyond the BIO given, no logging. */
#ifndef MTLB_PEM_H
#define MTLB_PEM_H

#include <stdbool.h>

#include <openssl/bio.h>
#include <openssl/x509.h>

struct mtlb_pem_block {
    char *name; /* the BEGIN line's type, e.g. "CERTIFICATE", "PRIVATE KEY" */
    char *header;
    unsigned char *data; /* the decoded bytes */
    long len;
};

/* Reads the next block: 1 with b filled (give it back with mtlb_pem_block_free), 0 when no
 * BEGIN line follows, -EINVAL when one does but its block is not valid PEM (bad base64, no END
 * line; OpenSSL's reason stays on the error queue). Clears the error queue first. */
int mtlb_pem_next(BIO *bio, struct mtlb_pem_block *b);
void mtlb_pem_block_free(struct mtlb_pem_block *b);

/* CERTIFICATE, TRUSTED CERTIFICATE or X509 CERTIFICATE. */
bool mtlb_pem_is_cert(const char *name);

/* The certificate of a certificate block (a TRUSTED CERTIFICATE with its auxiliary data), or
 * NULL when its DER is corrupt or followed by stray bytes. */
X509 *mtlb_pem_cert(const struct mtlb_pem_block *b);

#endif
