/* Server choice for a pool: round robin (smooth weighted when servers have weights) or least
 * requests (power of two random choices on this worker's in-flight requests), with passive
 * health, the active checks' verdict and a panic rule. Pure module: time and the active
 * verdict come in as arguments; no I/O, no locks. Each worker owns its own struct mtlb_rr and
 * health array. */
#ifndef MTLB_BALANCE_H
#define MTLB_BALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* backends[].balance. */
enum mtlb_balance_algo {
    MTLB_BALANCE_ROUND_ROBIN = 0, /* default; smooth weighted when weights differ */
    MTLB_BALANCE_LEAST_REQUESTS,  /* power of two random choices on in-flight requests */
};
#define MTLB_WEIGHT_MAX 256u

struct mtlb_health {
    uint64_t down_until_ms; /* 0 = up */
    uint32_t failures;      /* consecutive failures: backoff doubles from 1 s to 30 s */
    uint32_t check_gen;     /* last active-check generation seen (mtlb_rr_sync) */
    bool checked_down;      /* the active checks say down */
    /* Balancing state of the server, set by mtlb_rr_configure / mtlb_rr_set_weight (a copy
     * carried over from another struct mtlb_rr is overwritten there). */
    uint16_t weight;   /* 1..MTLB_WEIGHT_MAX */
    int32_t current;   /* smooth weighted round robin: the server's running score */
    uint32_t inflight; /* requests this worker has on the server (mtlb_rr_begin/end) */
};

struct mtlb_rr {
    size_t n;                   /* number of servers */
    size_t cursor;              /* next index to try */
    struct mtlb_health *health; /* n entries, owned by the caller */
    uint64_t panics;            /* choices made by the panic rule (every server down) */
    enum mtlb_balance_algo algo;
    bool weighted;   /* round robin: some weight differs from the others */
    uint64_t random; /* least requests: xorshift64 state, never 0 */
};

/* Initialises rr over n servers with caller-owned health[n] (zeroed here). `start` offsets
 * the cursor so that workers do not all begin on server 0. */
void mtlb_rr_init(struct mtlb_rr *rr, struct mtlb_health *health, size_t n, size_t start);

/* The pool's algorithm, and a seed for least_requests' random choices (any value; workers
 * pass different ones). Every server's weight becomes 1, its score and in-flight count 0. */
void mtlb_rr_configure(struct mtlb_rr *rr, enum mtlb_balance_algo algo, uint64_t seed);
/* Server idx's weight (clamped to 1..MTLB_WEIGHT_MAX). Round robin then gives each up server
 * weight/sum of the choices, interleaved (nginx's smooth weighting: weights 5,1,1 give
 * a a b a c a a, not a a a a a b c); least_requests compares in-flight counts divided by
 * weight. */
void mtlb_rr_set_weight(struct mtlb_rr *rr, size_t idx, unsigned weight);
/* A request starts / ends on server idx: least_requests' in-flight count (this worker's). */
void mtlb_rr_begin(struct mtlb_rr *rr, size_t idx);
void mtlb_rr_end(struct mtlb_rr *rr, size_t idx);

/* Returns the index of the next server that is up at now_ms, by the pool's algorithm (round
 * robin: advancing the cursor; see mtlb_rr_configure for the others). A server
 * is up when its backoff has expired (it gets one trial request) and the active checks do
 * not say down. `skip_mask` bit i set excludes server i (servers already tried for this
 * request; pools over 64 servers only use the mask for the first 64).
 * Panic rule (Envoy's panic threshold at 100%): when no server is up and nothing was tried
 * for this request yet (skip_mask 0), the server whose backoff ends first is returned anyway
 * (ties: the next in rotation) and rr->panics counts it, so that a pool whose servers all
 * failed once is tried instead of answered 503 from memory. -EHOSTUNREACH when no server is
 * up and this request already tried one, or n is 0. */
int mtlb_rr_next(struct mtlb_rr *rr, uint64_t now_ms, uint64_t skip_mask);

/* The servers one request already tried, for a pool of any size: a bitset kept inline for up
 * to 64 servers and on the heap beyond. Zero-initialise, then mtlb_rr_skip_reset before each
 * request; mtlb_rr_skip_fini frees it. Owned by the request's owner; one thread. */
struct mtlb_rr_skip {
    uint64_t small; /* the bits when big is NULL */
    uint64_t *big;  /* cap_words words for pools over 64 servers */
    size_t cap_words;
    size_t count; /* bits set */
};

/* Empties sk and sizes it for n servers. 0, or -ENOMEM (sk then tracks only the first 64). */
int mtlb_rr_skip_reset(struct mtlb_rr_skip *sk, size_t n);
void mtlb_rr_skip_fini(struct mtlb_rr_skip *sk);
/* Marks / unmarks server idx as tried; an index past the size given to reset is ignored. */
void mtlb_rr_skip_set(struct mtlb_rr_skip *sk, size_t idx);
void mtlb_rr_skip_clear(struct mtlb_rr_skip *sk, size_t idx);
bool mtlb_rr_skip_test(const struct mtlb_rr_skip *sk, size_t idx);

/* mtlb_rr_next with the tried servers in sk (any pool size); the panic rule applies when sk
 * is empty. */
int mtlb_rr_next_skip(struct mtlb_rr *rr, uint64_t now_ms, const struct mtlb_rr_skip *sk);

/* Records a connect failure or timeout: marks the server down for the next backoff step.
 * Returns true when this call took the server from up to down (a failure during a backoff,
 * reported late by a request already in flight, changes nothing and returns false). */
bool mtlb_rr_fail(struct mtlb_rr *rr, size_t idx, uint64_t now_ms);

/* Records a success: the server is up and its backoff resets. Returns true when it had
 * failures recorded (it was down, or on trial after a backoff). */
bool mtlb_rr_ok(struct mtlb_rr *rr, size_t idx);

/* Feeds the active checks' verdict for server idx: `down` as published by the checker and
 * `gen`, a counter the checker bumps on every passing probe of an up server. A new gen
 * clears the passive backoff, so a server the checker sees answer again is used at once
 * rather than when this worker's backoff (up to 30 s) runs out. */
void mtlb_rr_sync(struct mtlb_rr *rr, size_t idx, bool down, uint32_t gen);

#endif
