/* TLS policy of a domain's context: protocol versions, TLS 1.2 ciphers, TLS 1.3 suites and
 * key exchange groups (mtlb's defaults, or the configured lists after checking every name
 * against OpenSSL on a scratch context), and the key passphrase file. It never logs: the
 * passphrase goes only into the caller's buffer. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "tls_internal.h"

/* TLS 1.2: forward secrecy and AEAD only, for ECDSA and RSA certificates. */
static const char tls12_ciphers[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
static const char tls13_suites[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
static const char tls_groups[] = "X25519:P-256:P-384";

/* Formats into err and returns -EINVAL (a leaf: calls nothing else of src/tls). */
__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
                                                      ...)
{
    va_list ap;

    if (errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* A TLS 1.3 suite is known when OpenSSL put a cipher of that standard name in the list:
 * SSL_CTX_set_ciphersuites itself skips names it does not know. */
static bool suite_known(SSL_CTX *scratch, const char *name)
{
    if (SSL_CTX_set_ciphersuites(scratch, name) != 1) {
        return false;
    }
    STACK_OF(SSL_CIPHER) *sk = SSL_CTX_get_ciphers(scratch);
    for (int i = 0; i < sk_SSL_CIPHER_num(sk); i++) {
        const SSL_CIPHER *c = sk_SSL_CIPHER_value(sk, i);
        if (strcmp(SSL_CIPHER_get_version(c), "TLSv1.3") == 0 &&
            strcmp(SSL_CIPHER_standard_name(c), name) == 0) {
            return true;
        }
    }
    return false;
}

/* One element of a TLS 1.2 cipher string: a name or alias ("HIGH", "ECDHE+AESGCM") with an
 * optional !, - or + operator; @ directives (@STRENGTH, @SECLEVEL=n) pass as they are.
 * OpenSSL accepts a list in which only some names are known, so each is tried alone. */
static bool cipher_known(SSL_CTX *scratch, const char *elem)
{
    if (elem[0] == '@') {
        return true;
    }
    if (elem[0] == '!' || elem[0] == '-' || elem[0] == '+') {
        elem++;
    }
    return elem[0] != '\0' && SSL_CTX_set_cipher_list(scratch, elem) == 1;
}

static bool group_known(SSL_CTX *scratch, const char *name)
{
    return SSL_CTX_set1_groups_list(scratch, name) == 1;
}

static const char *const unknown_what[] = {
    "unknown TLS 1.2 cipher (or one that is not for TLS 1.2: TLS 1.3 suites go in ciphersuites)",
    "unknown TLS 1.3 cipher suite", "unknown group"};

/* Every ':'-separated name of the configured list k on a scratch context. */
static int check_list(const struct mtlb_tls_policy_cfg *p, enum mtlb_tls_policy_key k, char *err,
                      size_t errlen)
{
    static bool (*const known[])(SSL_CTX *, const char *) = {cipher_known, suite_known,
                                                             group_known};
    char name[160];
    SSL_CTX *scratch = SSL_CTX_new(TLS_server_method());
    int rc = scratch != NULL ? 0 : -ENOMEM;

    for (const char *s = p->str[k], *end; rc == 0 && s != NULL; s = *end ? end + 1 : NULL) {
        end = strchr(s, ':');
        end = end != NULL ? end : s + strlen(s);
        snprintf(name, sizeof(name), "%.*s", (int)(end - s), s);
        if (!known[k](scratch, name)) {
            rc = fail(err, errlen, "%s: %s \"%s\"", p->origin[k], unknown_what[k], name);
        }
    }
    SSL_CTX_free(scratch);
    ERR_clear_error();
    return rc;
}

int mtlb_tls_policy_apply(SSL_CTX *ctx, const struct mtlb_tls_policy_cfg *p, char *err,
                          size_t errlen)
{
    const char *v[3] = {tls12_ciphers, tls13_suites, tls_groups};

    for (int k = 0; k < 3; k++) {
        int rc = p->str[k] != NULL ? check_list(p, k, err, errlen) : 0;
        if (rc != 0) {
            return rc;
        }
        v[k] = p->str[k] != NULL ? p->str[k] : v[k];
    }
    if (SSL_CTX_set_min_proto_version(ctx, p->min_version != 0 ? p->min_version : TLS1_2_VERSION) !=
            1 ||
        SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, v[1]) != 1 || SSL_CTX_set1_groups_list(ctx, v[2]) != 1) {
        ERR_clear_error();
        fail(err, errlen, "cannot set the TLS policy: out of memory");
        return -ENOMEM;
    }
    if (SSL_CTX_set_cipher_list(ctx, v[0]) != 1) {
        /* Every name is known, yet together they select nothing ("HIGH:!HIGH"). */
        ERR_clear_error();
        return fail(err, errlen, "%s: selects no TLS 1.2 cipher", p->origin[MTLB_TLSP_CIPHERS]);
    }
    return 0;
}

int mtlb_tls_policy_set_ssl(SSL *ssl, const struct mtlb_tls_policy_cfg *p)
{
    const char *v[3] = {tls12_ciphers, tls13_suites, tls_groups};

    for (int k = 0; k < 3; k++) {
        v[k] = p->str[k] != NULL ? p->str[k] : v[k];
    }
    int ok = SSL_set_min_proto_version(ssl, p->min_version != 0 ? p->min_version
                                                                : TLS1_2_VERSION) == 1 &&
             SSL_set_max_proto_version(ssl, TLS1_3_VERSION) == 1 &&
             SSL_set_cipher_list(ssl, v[0]) == 1 && SSL_set_ciphersuites(ssl, v[1]) == 1 &&
             SSL_set1_groups_list(ssl, v[2]) == 1;
    ERR_clear_error();
    return ok ? 0 : -ENOMEM;
}

static bool same_str(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

bool mtlb_tls_policy_same(const struct mtlb_tls_policy_cfg *a, const struct mtlb_tls_policy_cfg *b)
{
    /* 0 is the default, TLS 1.2: a domain that writes it agrees with one that does not */
    int va = a->min_version != 0 ? a->min_version : TLS1_2_VERSION;
    int vb = b->min_version != 0 ? b->min_version : TLS1_2_VERSION;
    bool eq = va == vb;

    for (int k = 0; eq && k < MTLB_TLSP_PASSPHRASE; k++) {
        eq = same_str(a->str[k], b->str[k]);
    }
    return eq;
}

int mtlb_tls_read_passphrase(const struct mtlb_tls_policy_cfg *p, char *buf, size_t cap, char *err,
                             size_t errlen)
{
    const char *path = p->str[MTLB_TLSP_PASSPHRASE];
    FILE *f = fopen(path, "rbe");

    if (f == NULL) {
        return fail(err, errlen, "%s: %s: %s", p->origin[MTLB_TLSP_PASSPHRASE], path,
                    strerror(errno));
    }
    size_t n = fread(buf, 1, cap, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n == cap) {
        OPENSSL_cleanse(buf, cap);
        return fail(err, errlen, "%s: %s: %s", p->origin[MTLB_TLSP_PASSPHRASE], path,
                    bad ? "read error" : "longer than a passphrase can be");
    }
    /* The newline an editor or `echo` leaves is not part of the passphrase. */
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        n--;
    }
    buf[n] = '\0';
    return 0;
}
