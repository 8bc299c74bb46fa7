/* Session ticket keys: the key file shared by replicas (nginx's 80-byte layout), random
 * per-process keys rotated every 12 hours, and the OpenSSL callback that seals and opens
 * tickets with them (HMAC-SHA256 + AES-256-CBC). Reads the key file; no socket I/O, never logs
 * key material. session.c decides whether a decrypted ticket may be used. */
#include "mtlb/tickets.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "tls_internal.h"

int mtlb_tickets_parse(const unsigned char *buf, size_t len, struct mtlb_ticket_key *keys,
                       size_t cap, size_t *n, char *why, size_t whylen)
{
    size_t count = len / MTLB_TICKET_KEY_SIZE;

    if (len == 0) {
        snprintf(why, whylen, "is empty; it needs at least one %d-byte key", MTLB_TICKET_KEY_SIZE);
        return -EINVAL;
    }
    if (len % MTLB_TICKET_KEY_SIZE != 0) {
        snprintf(why, whylen, "is %zu bytes, not a multiple of %d (one or more %d-byte keys)", len,
                 MTLB_TICKET_KEY_SIZE, MTLB_TICKET_KEY_SIZE);
        return -EINVAL;
    }
    if (count > cap) {
        snprintf(why, whylen, "holds %zu keys, at most %zu are allowed", count, cap);
        return -EINVAL;
    }
    for (size_t i = 0; i < count; i++) {
        const unsigned char *p = buf + i * MTLB_TICKET_KEY_SIZE;
        /* nginx (ngx_ssl_session_ticket_keys, 80-byte keys): name 0-15, HMAC 16-47, AES 48-79.
         * (HAProxy's tls-ticket-keys orders AES before HMAC; its base64 files are not read.) */
        memcpy(keys[i].name, p, 16);
        memcpy(keys[i].hmac, p + 16, 32);
        memcpy(keys[i].aes, p + 48, 32);
        for (size_t j = 0; j < i; j++) {
            if (memcmp(keys[j].name, keys[i].name, 16) == 0) {
                snprintf(why, whylen, "keys %zu and %zu have the same name (first 16 bytes)", j + 1,
                         i + 1);
                OPENSSL_cleanse(keys, (i + 1) * sizeof(*keys));
                return -EINVAL;
            }
        }
    }
    *n = count;
    return 0;
}

static int read_key_file(const char *path, unsigned char *buf, size_t cap, size_t *len, char *err,
                         size_t errlen)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int e = 0;

    if (fd == -1) {
        e = errno;
    } else if (fstat(fd, &st) == -1) {
        e = errno;
    } else if (S_ISDIR(st.st_mode)) {
        e = EISDIR;
    }
    *len = 0;
    while (e == 0 && *len < cap) {
        ssize_t r = read(fd, buf + *len, cap - *len);
        if (r == -1 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            e = r == 0 ? 0 : errno;
            break;
        }
        *len += (size_t)r;
    }
    if (fd != -1) {
        close(fd);
    }
    if (e != 0) {
        snprintf(err, errlen, "%s: tls.ticket_keys: %s", path, strerror(e));
        return -e;
    }
    return 0;
}

int mtlb_tickets_init_file(struct mtlb_tickets *t, const char *path, char *err, size_t errlen)
{
    /* One byte more than the largest valid file, so an oversized one is recognised. */
    unsigned char buf[MTLB_TICKET_KEYS_MAX * MTLB_TICKET_KEY_SIZE + 1];
    char why[128];
    size_t len = 0;
    int rc = read_key_file(path, buf, sizeof(buf), &len, err, errlen);

    memset(t, 0, sizeof(*t));
    if (rc == 0) {
        rc = mtlb_tickets_parse(buf, len, t->keys, MTLB_TICKET_KEYS_MAX, &t->n, why, sizeof(why));
        if (rc != 0 && len == sizeof(buf)) {
            snprintf(why, sizeof(why), "is larger than %d keys (%zu bytes)", MTLB_TICKET_KEYS_MAX,
                     sizeof(buf) - 1);
        }
        if (rc != 0) {
            snprintf(err, errlen, "%s: tls.ticket_keys: %s", path, why);
        }
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    if (rc != 0) {
        return rc;
    }
    t->from_file = true;
    rc = pthread_mutex_init(&t->lock, NULL);
    if (rc != 0) {
        OPENSSL_cleanse(t->keys, sizeof(t->keys));
        snprintf(err, errlen, "%s: tls.ticket_keys: %s", path, strerror(rc));
        return -rc;
    }
    return 0;
}

static int random_key(struct mtlb_ticket_key *k)
{
    return RAND_bytes((unsigned char *)k, (int)sizeof(*k)) == 1 ? 0 : -ENOMEM;
}

int mtlb_tickets_init_random(struct mtlb_tickets *t, time_t now, size_t cache_cap)
{
    memset(t, 0, sizeof(*t));
    if (random_key(&t->keys[0]) != 0) {
        return -ENOMEM;
    }
    t->n = 1;
    t->rotate_at = now + MTLB_TICKET_ROTATE_SECONDS;
    t->cache_cap = cache_cap;
    if (cache_cap > 0 && mtlb_session_cache_new(&t->cache, cache_cap) != 0) {
        OPENSSL_cleanse(t->keys, sizeof(t->keys));
        return -ENOMEM;
    }
    if (pthread_mutex_init(&t->lock, NULL) != 0) {
        mtlb_session_cache_free(t->cache);
        OPENSSL_cleanse(t->keys, sizeof(t->keys));
        return -ENOMEM;
    }
    return 0;
}

void mtlb_tickets_fini(struct mtlb_tickets *t)
{
    OPENSSL_cleanse(t->keys, sizeof(t->keys));
    t->n = 0;
    mtlb_session_cache_free(t->cache);
    t->cache = NULL;
    pthread_mutex_destroy(&t->lock);
}

/* Under t->lock. The previous key keeps decrypting for one more period: a ticket issued just
 * before a rotation still resumes up to 12 hours later (session_lifetime may end it sooner). */
static void rotate_if_due(struct mtlb_tickets *t, time_t now)
{
    struct mtlb_ticket_key fresh;

    if (t->from_file || now < t->rotate_at || random_key(&fresh) != 0) {
        return;
    }
    t->keys[1] = t->keys[0];
    t->keys[0] = fresh;
    t->n = 2;
    OPENSSL_cleanse(&fresh, sizeof(fresh));
    /* A process idle for several periods must not keep an old key: the next rotation is a
     * full period from now. */
    t->rotate_at = now + MTLB_TICKET_ROTATE_SECONDS;
}

int mtlb_tickets_encrypting(struct mtlb_tickets *t, time_t now, struct mtlb_ticket_key *out)
{
    int rc = -ENOENT;

    pthread_mutex_lock(&t->lock);
    rotate_if_due(t, now);
    if (t->n > 0) {
        *out = t->keys[0];
        rc = 0;
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

int mtlb_tickets_find(struct mtlb_tickets *t, const unsigned char name[16], time_t now,
                      struct mtlb_ticket_key *out)
{
    int rc = -ENOENT;

    pthread_mutex_lock(&t->lock);
    rotate_if_due(t, now);
    for (size_t i = 0; i < t->n; i++) {
        if (CRYPTO_memcmp(t->keys[i].name, name, 16) == 0) {
            *out = t->keys[i];
            rc = i == 0 ? 0 : 1;
            break;
        }
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

static int init_hmac(EVP_MAC_CTX *hctx, const struct mtlb_ticket_key *k)
{
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    return EVP_MAC_init(hctx, k->hmac, sizeof(k->hmac), params) == 1;
}

/* SSL_CTX_set_tlsext_ticket_key_evp_cb. OpenSSL calls the callback of the listener's first
 * context (its session context) for every domain, so the keys are the listener's, found
 * through the connection info. Returns 1 (use), 2 (use and issue a fresh ticket: an older
 * key), 0 (no ticket / unknown key: a full handshake), -1 on an internal error. */
static int ticket_key_cb(SSL *ssl, unsigned char name[16], unsigned char iv[16],
                         EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx, int enc)
{
    const struct mtlb_tls_conn_info *info = mtlb_tls_conn_info_get(ssl);
    struct mtlb_ticket_key k;
    int rc;

    if (info == NULL || info->listener == NULL || info->listener->tickets == NULL) {
        return 0;
    }
    if (enc) {
        rc = mtlb_tickets_encrypting(info->listener->tickets, time(NULL), &k);
        if (rc == 0) {
            memcpy(name, k.name, 16);
            rc = RAND_bytes(iv, 16) == 1 && init_hmac(hctx, &k) &&
                         EVP_EncryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k.aes, iv) == 1
                     ? 1
                     : -1;
        } else {
            rc = 0;
        }
    } else {
        rc = mtlb_tickets_find(info->listener->tickets, name, time(NULL), &k);
        if (rc >= 0) {
            int renew = rc;
            rc = init_hmac(hctx, &k) &&
                         EVP_DecryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k.aes, iv) == 1
                     ? 1 + renew
                     : -1;
        } else {
            rc = 0;
        }
    }
    OPENSSL_cleanse(&k, sizeof(k));
    return rc;
}

int mtlb_tls_tickets_setup(SSL_CTX *ctx)
{
    return SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_cb) == 1 ? 0 : -ENOMEM;
}
