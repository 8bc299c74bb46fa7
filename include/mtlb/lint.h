/* Truststore lint (`mtlb truststore-lint`): what a PEM truststore bundle holds and what is
 * wrong with it. Pure module: decodes from memory with libcrypto, classifies and formats; no
 * I/O, no logging. Any thread.
 *
 * Errors (the file would not load in mtlb, or a certificate of it cannot work): no certificate
 * at all, a PEM block that is not a certificate, a corrupted certificate or invalid PEM, a
 * certificate expired or not yet valid, a certificate without CA:TRUE that issued another
 * certificate of the file. Warnings (it works, but someone should look): a certificate
 * expiring within 30 days, a duplicate, an intermediate CA whose issuer is not in the file
 * (mtlb then trusts it as an anchor, and never checks it against its issuer's CRL). */
#ifndef MTLB_LINT_H
#define MTLB_LINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MTLB_LINT_DN_MAX 512
#define MTLB_LINT_SOON (30 * 86400) /* "expires soon": within this many seconds */

/* One certificate of the file, as decoded. */
struct mtlb_lint_cert {
    int entry;                      /* position of its PEM block in the file, from 1 */
    char subject[MTLB_LINT_DN_MAX]; /* "/C=PL/O=Org/CN=name", as in the handshake log */
    char issuer[MTLB_LINT_DN_MAX];
    int64_t not_before, not_after; /* Unix time */
    bool ca;                       /* basicConstraints CA:TRUE */
    bool self_signed;              /* its own key signed it (a root) */
    /* May take part in client authentication: its extendedKeyUsage lists clientAuth (or
     * anyExtendedKeyUsage), or it is a CA without extendedKeyUsage (unrestricted). A leaf
     * without extendedKeyUsage is "no": mtlb refuses it by default. */
    bool client_auth;
    unsigned char sha256[32];
    int signer; /* index in the list of the (first copy of the) certificate that issued this
                   one (same name as its issuer, its key verifies the signature), not itself;
                   -1 when none */
};

/* A PEM block that is not a usable certificate. */
struct mtlb_lint_block {
    int entry;     /* position in the file, from 1 */
    char type[64]; /* its PEM type ("PRIVATE KEY"); "" when the block is not valid PEM */
    bool corrupt;  /* a certificate block whose content is no certificate, or invalid PEM */
};

struct mtlb_lint_list {
    struct mtlb_lint_cert *certs;
    size_t n_certs;
    struct mtlb_lint_block *blocks;
    size_t n_blocks;
};

enum mtlb_lint_kind {
    MTLB_LINT_NO_CERTIFICATE = 0, /* error: the file holds no certificate */
    MTLB_LINT_NOT_CERTIFICATE,    /* error: a PEM block of another type */
    MTLB_LINT_CORRUPT,            /* error: a certificate block that does not decode, bad PEM */
    MTLB_LINT_EXPIRED,            /* error */
    MTLB_LINT_NOT_YET_VALID,      /* error */
    MTLB_LINT_LEAF_ISSUER,        /* error: not a CA, yet it issued `other` */
    MTLB_LINT_EXPIRES_SOON,       /* warning: within MTLB_LINT_SOON */
    MTLB_LINT_DUPLICATE,          /* warning: the same certificate as `other` */
    MTLB_LINT_ISSUER_ABSENT,      /* warning: a CA, not self-signed, whose issuer is absent */
};

struct mtlb_lint_finding {
    enum mtlb_lint_kind kind;
    bool error;  /* error or warning (the kinds above say which) */
    int entry;   /* the entry it is about; 0 for the whole file */
    int other;   /* the entry it relates to (DUPLICATE: the first copy, LEAF_ISSUER: one
                    certificate it issued); 0 otherwise */
    size_t cert; /* index in certs when it is about a certificate, else SIZE_MAX */
};

/* Decodes every PEM block of pem[0..len) into *out (zeroed first; released with
 * mtlb_lint_list_fini, also on failure). 0 or -ENOMEM. */
int mtlb_lint_parse(const char *pem, size_t len, struct mtlb_lint_list *out);
void mtlb_lint_list_fini(struct mtlb_lint_list *l);

/* The findings for l at `now` (Unix time), in file order; *out is malloc'd (NULL when none).
 * Duplicates are reported once, as such, and not checked again. 0 or -ENOMEM. */
int mtlb_lint_check(const struct mtlb_lint_list *l, int64_t now, struct mtlb_lint_finding **out,
                    size_t *n);

/* "error: entry 4 is a PRIVATE KEY, not a certificate" and the like, into buf (always
 * NUL-terminated). Returns buf. */
const char *mtlb_lint_describe(const struct mtlb_lint_list *l, const struct mtlb_lint_finding *f,
                               int64_t now, char *buf, size_t cap);

/* The listing line of one certificate: `entry 1: CA subject="..." issuer="..."
 * not_after="2036-11-29 08:11:21 UTC" clientAuth=yes` (`"` and `\` in DNs escaped as \" and
 * \\). Returns buf. */
const char *mtlb_lint_format_cert(const struct mtlb_lint_cert *c, char *buf, size_t cap);

#endif
