/* Round robin over a pool's servers with passive health, the active checks' verdict and a
 * panic rule. Pure module: time and the active verdict come in as arguments; no I/O, no
 * locks. Each worker owns its own struct mtlb_rr and health array. */
#ifndef MTLB_BALANCE_H
#define MTLB_BALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mtlb_health {
    uint64_t down_until_ms; /* 0 = up */
    uint32_t failures;      /* consecutive failures: backoff doubles from 1 s to 30 s */
    uint32_t check_gen;     /* last active-check generation seen (mtlb_rr_sync) */
    bool checked_down;      /* the active checks say down */
};

struct mtlb_rr {
    size_t n;                   /* number of servers */
    size_t cursor;              /* next index to try */
    struct mtlb_health *health; /* n entries, owned by the caller */
    uint64_t panics;            /* choices made by the panic rule (every server down) */
};

/* Initialises rr over n servers with caller-owned health[n] (zeroed here). `start` offsets
 * the cursor so that workers do not all begin on server 0. */
void mtlb_rr_init(struct mtlb_rr *rr, struct mtlb_health *health, size_t n, size_t start);

/* Returns the index of the next server that is up at now_ms, advancing the cursor. A server
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
