/* Round robin over a pool's servers with passive health.
 * Pure module: time comes in as an argument; no I/O, no locks. Each worker owns its own
 * struct mtlb_rr and health array, so no state is shared between threads. */
#ifndef MTLB_BALANCE_H
#define MTLB_BALANCE_H

#include <stddef.h>
#include <stdint.h>

struct mtlb_health {
    uint64_t down_until_ms; /* 0 = up */
    uint32_t failures;      /* consecutive failures: backoff doubles from 1 s to 30 s */
};

struct mtlb_rr {
    size_t n;                   /* number of servers */
    size_t cursor;              /* next index to try */
    struct mtlb_health *health; /* n entries, owned by the caller */
};

/* Initialises rr over n servers with caller-owned health[n] (zeroed here). `start` offsets
 * the cursor so that workers do not all begin on server 0. */
void mtlb_rr_init(struct mtlb_rr *rr, struct mtlb_health *health, size_t n, size_t start);

/* Returns the index of the next server that is up at now_ms, advancing the cursor, or
 * -EHOSTUNREACH when every server is down. A server whose backoff has expired counts as up
 * (it gets one trial request). `skip_mask` bit i set excludes server i (servers already
 * tried for this request; pools over 64 servers only use the mask for the first 64). */
int mtlb_rr_next(struct mtlb_rr *rr, uint64_t now_ms, uint64_t skip_mask);

/* Records a connect failure or timeout: marks the server down for the next backoff step. */
void mtlb_rr_fail(struct mtlb_rr *rr, size_t idx, uint64_t now_ms);

/* Records a success: the server is up and its backoff resets. */
void mtlb_rr_ok(struct mtlb_rr *rr, size_t idx);

#endif
