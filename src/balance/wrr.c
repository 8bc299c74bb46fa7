/* Smooth weighted round robin (as nginx's upstream module): every choice adds each eligible
 * server's weight to its score, takes the highest score and subtracts the sum of the weights
 * from it. Over any window of sum-of-weights choices each server is chosen exactly weight
 * times, spread out rather than in runs. Pure: no I/O, no clock of its own. */
#include "balance_int.h"

int mtlb_wrr_pick(struct mtlb_rr *rr, uint64_t now_ms, const struct mtlb_rr_mask *mask)
{
    int best = -1;
    int32_t total = 0;

    for (size_t i = 0; i < rr->n; i++) {
        if (!mtlb_rr_eligible(rr, i, now_ms, mask)) {
            continue;
        }
        struct mtlb_health *h = &rr->health[i];
        h->current += h->weight;
        total += h->weight;
        if (best < 0 || h->current > rr->health[best].current) {
            best = (int)i;
        }
    }
    if (best >= 0) {
        rr->health[best].current -= total;
    }
    return best;
}
