/* PEM bundles block by block (include/mtlb/pem.h). */
#include "mtlb/pem.h"

#include <errno.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

int mtlb_pem_next(BIO *bio, struct mtlb_pem_block *b)
{
    memset(b, 0, sizeof(*b));
    ERR_clear_error();
    if (PEM_read_bio(bio, &b->name, &b->header, &b->data, &b->len) == 1) {
        return 1;
    }
    unsigned long e = ERR_peek_last_error();
    if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
        ERR_clear_error();
        return 0;
    }
    return -EINVAL;
}

void mtlb_pem_block_free(struct mtlb_pem_block *b)
{
    OPENSSL_free(b->name);
    OPENSSL_free(b->header);
    OPENSSL_free(b->data);
    memset(b, 0, sizeof(*b));
}

bool mtlb_pem_is_cert(const char *name)
{
    return strcmp(name, PEM_STRING_X509) == 0 || strcmp(name, PEM_STRING_X509_TRUSTED) == 0 ||
           strcmp(name, PEM_STRING_X509_OLD) == 0;
}

X509 *mtlb_pem_cert(const struct mtlb_pem_block *b)
{
    const unsigned char *p = b->data;
    X509 *x = strcmp(b->name, PEM_STRING_X509_TRUSTED) == 0 ? d2i_X509_AUX(NULL, &p, b->len)
                                                            : d2i_X509(NULL, &p, b->len);
    if (x != NULL && p != b->data + b->len) {
        X509_free(x);
        return NULL;
    }
    return x;
}
