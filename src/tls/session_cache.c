/* Stateful session tickets: a bounded cache of TLS sessions, owned by a listener's random
 * ticket keys (struct mtlb_tickets, so it survives reloads as they do), that OpenSSL consults
 * through its external cache callbacks. A TLS 1.3 ticket is then the session id of a cached
 * session instead of the sealed session itself: OpenSSL 3.0 builds a sealed ticket by encoding
 * the session, decoding it again (the client certificate with it, about five OSSL_DECODER
 * contexts) and encoding it once more, which was about a third of mtlb's CPU for a full mTLS
 * handshake with one request; a stateful ticket costs a hash insert. Resuming costs a lookup
 * instead of a decryption and a decode. TLS 1.2 sessions resume by id from the same cache.
 * Listeners with a ticket key file keep sealed tickets: those resume on every replica.
 * This file is the store; session.c installs the OpenSSL callbacks that use it and decides,
 * through the refusal function it passes, which sessions may still be resumed. No socket I/O,
 * no logging. */
#include "mtlb/tickets.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "tls_internal.h"

struct cache_entry {
    struct cache_entry *hnext;         /* bucket chain */
    struct cache_entry *older, *newer; /* insertion order, for eviction */
    SSL_SESSION *sess;                 /* one reference, the cache's */
    unsigned int idlen;
    unsigned char id[SSL_MAX_SSL_SESSION_ID_LENGTH];
};

struct mtlb_session_cache {
    pthread_mutex_t lock; /* acceptors (handshakes) and workers (deferred tickets) */
    struct cache_entry **buckets;
    size_t mask;
    size_t n, cap;
    struct cache_entry *oldest, *newest;
};

/* Session ids are random (OpenSSL's RAND_bytes): their first bytes hash well enough. */
static size_t bucket_of(const struct mtlb_session_cache *c, const unsigned char *id,
                        unsigned int len)
{
    uint64_t h = 0;

    memcpy(&h, id, len < sizeof(h) ? len : sizeof(h));
    return (size_t)(h ^ (h >> 29)) & c->mask;
}

int mtlb_session_cache_new(struct mtlb_session_cache **out, size_t cap)
{
    struct mtlb_session_cache *c = calloc(1, sizeof(*c));
    size_t nb = 1;

    while (nb < cap) {
        nb <<= 1;
    }
    if (c == NULL || (c->buckets = calloc(nb, sizeof(*c->buckets))) == NULL) {
        free(c);
        return -ENOMEM;
    }
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c->buckets);
        free(c);
        return -ENOMEM;
    }
    c->mask = nb - 1;
    c->cap = cap;
    *out = c;
    return 0;
}

/* Under c->lock: unlinks e from its bucket and the order list; the caller frees it. */
static void unlink_entry(struct mtlb_session_cache *c, struct cache_entry *e)
{
    struct cache_entry **pp = &c->buckets[bucket_of(c, e->id, e->idlen)];

    while (*pp != e) {
        pp = &(*pp)->hnext;
    }
    *pp = e->hnext;
    *(e->older != NULL ? &e->older->newer : &c->oldest) = e->newer;
    *(e->newer != NULL ? &e->newer->older : &c->newest) = e->older;
    c->n--;
}

static struct cache_entry *find(struct mtlb_session_cache *c, const unsigned char *id,
                                unsigned int len)
{
    struct cache_entry *e = c->buckets[bucket_of(c, id, len)];

    while (e != NULL && (e->idlen != len || memcmp(e->id, id, len) != 0)) {
        e = e->hnext;
    }
    return e;
}

void mtlb_session_cache_free(struct mtlb_session_cache *c)
{
    if (c == NULL) {
        return;
    }
    while (c->oldest != NULL) {
        struct cache_entry *e = c->oldest;
        unlink_entry(c, e);
        SSL_SESSION_free(e->sess);
        free(e);
    }
    pthread_mutex_destroy(&c->lock);
    free(c->buckets);
    free(c);
}

size_t mtlb_session_cache_count(struct mtlb_session_cache *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->n;
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* Takes the caller's reference to sess. A full cache drops its oldest session: that client
 * makes a full handshake next time, as when its ticket has expired. */
int mtlb_session_cache_put(struct mtlb_session_cache *c, SSL_SESSION *sess)
{
    unsigned int len = 0;
    const unsigned char *id = SSL_SESSION_get_id(sess, &len);
    struct cache_entry *e = malloc(sizeof(*e));
    struct cache_entry *gone = NULL, *dup;

    if (e == NULL || len == 0 || len > sizeof(e->id)) {
        free(e);
        return -EINVAL;
    }
    memcpy(e->id, id, len);
    e->idlen = len;
    e->sess = sess;
    e->hnext = NULL;
    pthread_mutex_lock(&c->lock);
    if ((dup = find(c, id, len)) != NULL) {
        unlink_entry(c, dup); /* the same id again: OpenSSL never reuses one, but be exact */
    }
    if (c->n >= c->cap) {
        gone = c->oldest;
        unlink_entry(c, gone);
    }
    size_t b = bucket_of(c, id, len);
    e->hnext = c->buckets[b];
    c->buckets[b] = e;
    e->older = c->newest;
    e->newer = NULL;
    *(c->newest != NULL ? &c->newest->newer : &c->oldest) = e;
    c->newest = e;
    c->n++;
    pthread_mutex_unlock(&c->lock);
    struct cache_entry *drop[2] = {gone, dup};
    for (size_t i = 0; i < 2; i++) {
        if (drop[i] != NULL) {
            SSL_SESSION_free(drop[i]->sess);
            free(drop[i]);
        }
    }
    return 0;
}

/* A new reference to the session with that id, or NULL. A session past its deadline or whose
 * certificate is outside its validity period now is dropped: the client makes a full
 * handshake. OpenSSL's not_resumable mark is not consulted: it sets it on the session of any
 * connection freed without a close_notify sent (and most clients just close), which would
 * void the last ticket of nearly every connection (cache_new_session keeps copies for that
 * reason); a sealed ticket ignores it too. */
SSL_SESSION *mtlb_session_cache_get(struct mtlb_session_cache *c, const unsigned char *id,
                                    unsigned int len, time_t now, mtlb_session_refusal_fn refusal,
                                    const char **why)
{
    SSL_SESSION *sess = NULL;
    struct cache_entry *e;

    *why = NULL;
    pthread_mutex_lock(&c->lock);
    e = find(c, id, len);
    if (e != NULL) {
        *why = refusal(e->sess, false, now);
        if (*why != NULL) {
            unlink_entry(c, e);
        } else {
            sess = e->sess;
            SSL_SESSION_up_ref(sess);
            e = NULL;
        }
    }
    pthread_mutex_unlock(&c->lock);
    if (e != NULL) {
        SSL_SESSION_free(e->sess);
        free(e);
    }
    return sess;
}
