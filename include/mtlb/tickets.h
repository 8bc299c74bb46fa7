/* Session ticket keys of one listener: the keys that seal and open TLS 1.2 session tickets and
 * TLS 1.3 PSK tickets. Either read from a key file (tls.ticket_keys) that every replica shares,
 * so a session from one process resumes on another, or random per process and rotated every
 * 12 hours. Key material never leaves this module except as a copy for one ticket. */
#ifndef MTLB_TICKETS_H
#define MTLB_TICKETS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* One key as nginx's ssl_session_ticket_key reads an 80-byte file: bytes 0-15 the key name
 * (sent in clear in the ticket, selects the key), 16-47 the HMAC-SHA256 secret, 48-79 the
 * AES-256-CBC key. A key file is one or more such records back to back; the first encrypts,
 * all decrypt. */
#define MTLB_TICKET_KEY_SIZE 80
#define MTLB_TICKET_KEYS_MAX 32
/* Random keys: a new encrypting key every 12 hours; the previous one still decrypts. */
#define MTLB_TICKET_ROTATE_SECONDS (12 * 3600)
struct mtlb_session_cache;

struct mtlb_ticket_key {
    unsigned char name[16];
    unsigned char hmac[32];
    unsigned char aes[32];
};

struct mtlb_tickets {
    /* Acceptor threads run handshakes concurrently; the lock guards keys, n and rotate_at
     * (random keys rotate in place). Held only to copy one key. */
    pthread_mutex_t lock;
    struct mtlb_ticket_key keys[MTLB_TICKET_KEYS_MAX]; /* keys[0] encrypts */
    size_t n;
    bool from_file;
    time_t rotate_at; /* random keys: when keys[0] is replaced; 0 for a key file */
    /* The listeners of the snapshots sharing these keys (random keys survive reloads);
     * the last mtlb_tls_listener_fini frees them. */
    atomic_uint refs;
    /* Random keys only (NULL with a key file): the sessions that stateful tickets name. */
    struct mtlb_session_cache *cache;
    size_t cache_cap; /* its size (listeners[].tls.session_cache); 0 without one */
};

/* Pure: splits a key file's bytes into keys (at most cap). 0 with *n set, or -EINVAL with the
 * problem in why ("is empty", "is 81 bytes, not a multiple of 80", ...). Any thread. */
int mtlb_tickets_parse(const unsigned char *buf, size_t len, struct mtlb_ticket_key *keys,
                       size_t cap, size_t *n, char *why, size_t whylen);

/* Initialises t from the key file at path (not a directory, readable, see parse). 0, or
 * -errno with "PATH: tls.ticket_keys: problem" in err (t then needs no fini). Main thread. */
int mtlb_tickets_init_file(struct mtlb_tickets *t, const char *path, char *err, size_t errlen);

/* Initialises t with one random key, rotated MTLB_TICKET_ROTATE_SECONDS after now, and a
 * store of cache_cap sessions for stateful tickets and TLS 1.2 ids (0: none, sealed tickets;
 * the oldest session goes first when it is full). 0 or -ENOMEM. Main thread. */
int mtlb_tickets_init_random(struct mtlb_tickets *t, time_t now, size_t cache_cap);

/* Sessions kept by the listener (session_cache.c): a cache of cap sessions, or -ENOMEM. */
int mtlb_session_cache_new(struct mtlb_session_cache **out, size_t cap);
void mtlb_session_cache_free(struct mtlb_session_cache *c);
size_t mtlb_session_cache_count(struct mtlb_session_cache *c);

/* Wipes the keys (and drops the cached sessions). After every handshake that could use t has ended.
 */
void mtlb_tickets_fini(struct mtlb_tickets *t);

/* Copies the encrypting key into *out, first rotating random keys when now is past
 * rotate_at (the old key stays for decryption, the one before it is wiped). 0 or -ENOENT.
 * Any thread. */
int mtlb_tickets_encrypting(struct mtlb_tickets *t, time_t now, struct mtlb_ticket_key *out);

/* Copies the key named name into *out (rotating as above first): 0 when it is the encrypting
 * key, 1 when it is an older one (the ticket should be renewed), -ENOENT when no key has that
 * name. Any thread. */
int mtlb_tickets_find(struct mtlb_tickets *t, const unsigned char name[16], time_t now,
                      struct mtlb_ticket_key *out);

#endif
