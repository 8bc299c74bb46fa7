/* Private to src/balance: the choice algorithms beside round robin (one file each) and the
 * eligibility rule they share with it. Not part of the public contract. */
#ifndef MTLB_BALANCE_INT_H
#define MTLB_BALANCE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtlb/balance.h"

/* The servers a request must not go to: a bitset of nwords words (servers past it are
 * allowed). */
struct mtlb_rr_mask {
    const uint64_t *words;
    size_t nwords;
};

/* Server idx may take the request at now_ms: up (backoff over, checks not down) and not in
 * the mask. Inline here so that the algorithms beside rr.c never call back into it. */
static inline bool mtlb_rr_eligible(const struct mtlb_rr *rr, size_t idx, uint64_t now_ms,
                                    const struct mtlb_rr_mask *mask)
{
    const struct mtlb_health *h = &rr->health[idx];
    bool skipped = idx / 64 < mask->nwords && (mask->words[idx / 64] >> (idx % 64) & 1u) != 0;
    return !skipped && !h->checked_down && (h->down_until_ms == 0 || now_ms >= h->down_until_ms);
}

/* Smooth weighted round robin (wrr.c) over the eligible servers: each gains its weight, the
 * highest score wins and loses the sum. -1 when none is eligible (nothing changes then). */
int mtlb_wrr_pick(struct mtlb_rr *rr, uint64_t now_ms, const struct mtlb_rr_mask *mask);

/* Least requests (least.c): two distinct eligible servers drawn at random, the one with fewer
 * in-flight requests per weight wins (a tie: the first drawn); the only eligible server when
 * there is one; -1 when none is. */
int mtlb_least_pick(struct mtlb_rr *rr, uint64_t now_ms, const struct mtlb_rr_mask *mask);

#endif
