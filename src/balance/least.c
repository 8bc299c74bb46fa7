/* Least requests by the power of two random choices (Mitzenmacher; Envoy's LEAST_REQUEST):
 * two distinct eligible servers at random, the less loaded one wins. Load is this worker's
 * in-flight requests on the server, divided by its weight. Comparing two random servers
 * rather than scanning for the minimum keeps workers, which each see only their own load,
 * from all herding onto the same server. Pure: the random state lives in struct mtlb_rr. */
#include "balance_int.h"

static uint64_t next_random(struct mtlb_rr *rr)
{
    /* xorshift64 (Marsaglia): plenty for spreading load, and never 0 from a non-0 state. */
    uint64_t x = rr->random;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rr->random = x;
    return x;
}

/* The k-th (0-based) eligible server. */
static size_t nth_eligible(const struct mtlb_rr *rr, uint64_t now_ms,
                           const struct mtlb_rr_mask *mask, size_t k)
{
    for (size_t i = 0; i < rr->n; i++) {
        if (mtlb_rr_eligible(rr, i, now_ms, mask) && k-- == 0) {
            return i;
        }
    }
    return 0; /* not reached: k < the number of eligible servers */
}

int mtlb_least_pick(struct mtlb_rr *rr, uint64_t now_ms, const struct mtlb_rr_mask *mask)
{
    size_t m = 0;

    for (size_t i = 0; i < rr->n; i++) {
        m += mtlb_rr_eligible(rr, i, now_ms, mask);
    }
    if (m == 0) {
        return -1;
    }
    if (m == 1) {
        return (int)nth_eligible(rr, now_ms, mask, 0);
    }
    size_t ka = (size_t)(next_random(rr) % m);
    size_t kb = (size_t)(next_random(rr) % (m - 1));
    kb += kb >= ka; /* distinct from ka, uniform over the others */
    size_t a = nth_eligible(rr, now_ms, mask, ka);
    size_t b = nth_eligible(rr, now_ms, mask, kb);
    const struct mtlb_health *ha = &rr->health[a], *hb = &rr->health[b];
    /* inflight/weight compared without division. */
    uint64_t la = (uint64_t)ha->inflight * hb->weight;
    uint64_t lb = (uint64_t)hb->inflight * ha->weight;
    return (int)(lb < la ? b : a);
}
