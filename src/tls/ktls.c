/* Kernel TLS: kernel probe, transport choice after the handshake, and the TLS 1.3 receive key
 * that Debian's OpenSSL 3.0 leaves to us (it offloads TLS 1.3 sending only). The key comes
 * from the client application traffic secret via HKDF-Expand-Label (RFC 8446 7.1), with
 * record sequence 0: the acceptor never reads application data, so no client record has been
 * consumed under that key yet. Secrets never reach a log and are wiped after use. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>

#include "mtlb/ktls.h"
#include "tls_internal.h"

const char *mtlb_transport_name(enum mtlb_transport t)
{
    switch (t) {
    case MTLB_TRANSPORT_KTLS:
        return "ktls";
    case MTLB_TRANSPORT_KTLS_TX:
        return "ktls-tx";
    case MTLB_TRANSPORT_PLAIN:
        return "plain";
    default:
        return "userspace";
    }
}

/* Establishes a loopback TCP connection and tries the ULP on its accepted end. */
int mtlb_ktls_probe(char *why, size_t cap)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int s = -1, rc = 0;

    if (l == -1 || c == -1 || bind(l, (struct sockaddr *)&a, sizeof(a)) == -1 ||
        listen(l, 1) == -1 || getsockname(l, (struct sockaddr *)&a, &alen) == -1 ||
        connect(c, (struct sockaddr *)&a, sizeof(a)) == -1 ||
        (s = accept4(l, NULL, NULL, SOCK_CLOEXEC)) == -1) {
        rc = -errno;
        snprintf(why, cap, "loopback probe failed: %s", strerror(errno));
    } else if (setsockopt(s, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) == -1) {
        rc = -errno;
        snprintf(why, cap, "%s",
                 errno == ENOENT ? "the kernel has no TLS ULP (CONFIG_TLS or module tls missing)"
                                 : strerror(errno));
    } else {
        snprintf(why, cap, "TLS ULP available");
    }
    if (s != -1) {
        close(s);
    }
    if (c != -1) {
        close(c);
    }
    if (l != -1) {
        close(l);
    }
    return rc;
}

static int unhex(const char *p, size_t n, unsigned char *out, size_t cap)
{
    if (n % 2 != 0 || n / 2 > cap) {
        return -1;
    }
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char ch = p[2 * i + (size_t)k];
            v <<= 4;
            if (ch >= '0' && ch <= '9') {
                v |= (unsigned)(ch - '0');
            } else if (ch >= 'a' && ch <= 'f') {
                v |= (unsigned)(ch - 'a' + 10);
            } else if (ch >= 'A' && ch <= 'F') {
                v |= (unsigned)(ch - 'A' + 10);
            } else {
                return -1;
            }
        }
        out[i] = (unsigned char)v;
    }
    return (int)(n / 2);
}

void mtlb_ktls_keylog(const SSL *ssl, const char *line)
{
    static const char label[] = "CLIENT_TRAFFIC_SECRET_0 ";
    struct mtlb_tls_conn_info *info = mtlb_tls_conn_info_get((SSL *)ssl);

    if (info == NULL || strncmp(line, label, sizeof(label) - 1) != 0) {
        return;
    }
    /* "<label> <client random hex> <secret hex>" */
    const char *secret = strrchr(line, ' ');
    if (secret == NULL) {
        return;
    }
    secret++;
    int n = unhex(secret, strlen(secret), info->rx_secret, sizeof(info->rx_secret));
    info->rx_secret_len = n > 0 ? (unsigned char)n : 0;
}

/* HKDF-Expand-Label(secret, label, "", len) with the TLS 1.3 "tls13 " prefix. */
static int expand_label(const EVP_MD *md, const unsigned char *secret, size_t slen,
                        const char *label, unsigned char *out, size_t len)
{
    unsigned char info[2 + 1 + 6 + 16 + 1];
    size_t ll = strlen(label);
    size_t n = 0;

    info[n++] = (unsigned char)(len >> 8);
    info[n++] = (unsigned char)len;
    info[n++] = (unsigned char)(6 + ll);
    memcpy(info + n, "tls13 ", 6);
    n += 6;
    memcpy(info + n, label, ll);
    n += ll;
    info[n++] = 0; /* empty context */

    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)EVP_MD_get0_name(md), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, slen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n),
        OSSL_PARAM_construct_end(),
    };
    int ok = kctx != NULL && EVP_KDF_derive(kctx, out, len, params) == 1;
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return ok ? 0 : -EINVAL;
}

union rx_info {
    struct tls_crypto_info base;
    struct tls12_crypto_info_aes_gcm_128 g128;
    struct tls12_crypto_info_aes_gcm_256 g256;
    struct tls12_crypto_info_chacha20_poly1305 chacha;
};

int mtlb_ktls_tls13_keys(const SSL *ssl, const unsigned char *secret, size_t slen,
                         unsigned char key[32], size_t *klen, unsigned char iv[12])
{
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    uint32_t id = c ? (SSL_CIPHER_get_id(c) & 0xffff) : 0;
    const EVP_MD *md = id == 0x1302 ? EVP_sha384() : EVP_sha256();

    if (id != 0x1301 && id != 0x1302 && id != 0x1303) {
        return -ENOTSUP;
    }
    *klen = id == 0x1301 ? 16 : 32;
    if (expand_label(md, secret, slen, "key", key, *klen) != 0 ||
        expand_label(md, secret, slen, "iv", iv, 12) != 0) {
        return -EINVAL;
    }
    return (int)id;
}

/* Fills ci for the negotiated TLS 1.3 suite from the traffic secret. Returns its size. */
static size_t rx_info_fill(const SSL *ssl, const unsigned char *secret, size_t slen,
                           union rx_info *ci)
{
    unsigned char key[32], iv[12];
    size_t klen = 0;
    size_t size = 0;
    int id = mtlb_ktls_tls13_keys(ssl, secret, slen, key, &klen, iv);

    memset(ci, 0, sizeof(*ci));
    if (id < 0) {
        return 0;
    }
    ci->base.version = TLS_1_3_VERSION;
    if (id == 0x1301) {
        ci->base.cipher_type = TLS_CIPHER_AES_GCM_128;
        memcpy(ci->g128.salt, iv, 4);
        memcpy(ci->g128.iv, iv + 4, 8);
        memcpy(ci->g128.key, key, 16);
        size = sizeof(ci->g128);
    } else if (id == 0x1302) {
        ci->base.cipher_type = TLS_CIPHER_AES_GCM_256;
        memcpy(ci->g256.salt, iv, 4);
        memcpy(ci->g256.iv, iv + 4, 8);
        memcpy(ci->g256.key, key, 32);
        size = sizeof(ci->g256);
    } else {
        ci->base.cipher_type = TLS_CIPHER_CHACHA20_POLY1305;
        memcpy(ci->chacha.iv, iv, 12);
        memcpy(ci->chacha.key, key, 32);
        size = sizeof(ci->chacha);
    }
    /* rec_seq stays 0: the first client record under this key is still in the socket. */
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(iv, sizeof(iv));
    return size;
}

static int install_rx13(SSL *ssl, int fd, struct mtlb_tls_conn_info *info, char *why, size_t cap)
{
    union rx_info ci;

    if (info->rx_secret_len == 0) {
        snprintf(why, cap, "no client traffic secret recorded");
        return -ENOKEY;
    }
    if (SSL_has_pending(ssl)) {
        snprintf(why, cap, "OpenSSL holds unread records");
        return -EBUSY;
    }
    size_t size = rx_info_fill(ssl, info->rx_secret, info->rx_secret_len, &ci);
    if (size == 0) {
        snprintf(why, cap, "cipher %s not offloadable", SSL_get_cipher_name(ssl));
        return -ENOTSUP;
    }
    int rc = setsockopt(fd, SOL_TLS, TLS_RX, &ci, (socklen_t)size) == -1 ? -errno : 0;
    if (rc != 0) {
        snprintf(why, cap, "setsockopt(TLS_RX): %s", strerror(-rc));
    }
    OPENSSL_cleanse(&ci, sizeof(ci));
    return rc;
}

enum mtlb_transport mtlb_ktls_finish(SSL *ssl, int fd, struct mtlb_tls_conn_info *info, char *why,
                                     size_t cap)
{
    bool tx = BIO_get_ktls_send(SSL_get_wbio(ssl)) > 0;
    bool rx = BIO_get_ktls_recv(SSL_get_rbio(ssl)) > 0;

    why[0] = '\0';
    if (tx && !rx && SSL_version(ssl) == TLS1_3_VERSION) {
        rx = install_rx13(ssl, fd, info, why, cap) == 0;
    }
    OPENSSL_cleanse(info->rx_secret, sizeof(info->rx_secret));
    info->rx_secret_len = 0;
    if (tx && rx) {
        return MTLB_TRANSPORT_KTLS;
    }
    return tx ? MTLB_TRANSPORT_KTLS_TX : MTLB_TRANSPORT_USERSPACE;
}
