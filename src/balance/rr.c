/* Round robin with passive health for one pool, owned by one worker.
 * Pure module: the caller passes the clock in; nothing here sleeps, locks, logs or does I/O.
 * A failed server is skipped for 1 s, 2 s, 4 s ... up to 30 s; once that expires it is tried
 * again, and a success clears its state. */
#include <errno.h>

#include "mtlb/balance.h"

#define RR_BACKOFF_BASE_MS 1000u
#define RR_BACKOFF_CAP_MS 30000u

void mtlb_rr_init(struct mtlb_rr *rr, struct mtlb_health *health, size_t n, size_t start)
{
    rr->n = n;
    rr->cursor = n ? start % n : 0;
    rr->health = health;
    for (size_t i = 0; i < n; i++) {
        health[i].down_until_ms = 0;
        health[i].failures = 0;
    }
}

static int rr_is_up(const struct mtlb_health *h, uint64_t now_ms)
{
    return h->down_until_ms == 0 || now_ms >= h->down_until_ms;
}

static int rr_is_skipped(size_t idx, uint64_t skip_mask)
{
    return idx < 64 && (skip_mask & ((uint64_t)1 << idx)) != 0;
}

int mtlb_rr_next(struct mtlb_rr *rr, uint64_t now_ms, uint64_t skip_mask)
{
    size_t idx = rr->cursor;

    for (size_t tried = 0; tried < rr->n; tried++) {
        if (!rr_is_skipped(idx, skip_mask) && rr_is_up(&rr->health[idx], now_ms)) {
            rr->cursor = idx + 1 == rr->n ? 0 : idx + 1;
            return (int)idx;
        }
        idx = idx + 1 == rr->n ? 0 : idx + 1;
    }
    return -EHOSTUNREACH;
}

static uint32_t rr_backoff_ms(uint32_t failures)
{
    /* failures >= 1 here; 1 s << 5 already exceeds the cap, so larger shifts never happen. */
    if (failures > 5) {
        return RR_BACKOFF_CAP_MS;
    }
    uint32_t ms = RR_BACKOFF_BASE_MS << (failures - 1);
    return ms > RR_BACKOFF_CAP_MS ? RR_BACKOFF_CAP_MS : ms;
}

void mtlb_rr_fail(struct mtlb_rr *rr, size_t idx, uint64_t now_ms)
{
    if (idx >= rr->n) {
        return;
    }
    struct mtlb_health *h = &rr->health[idx];

    /* Requests already in flight when the server was marked down report their failures
     * late; they are the same outage, so they must not push the backoff further. */
    if (h->down_until_ms != 0 && now_ms < h->down_until_ms) {
        return;
    }
    if (h->failures < UINT32_MAX) {
        h->failures++;
    }
    h->down_until_ms = now_ms + rr_backoff_ms(h->failures);
}

void mtlb_rr_ok(struct mtlb_rr *rr, size_t idx)
{
    if (idx >= rr->n) {
        return;
    }
    rr->health[idx].down_until_ms = 0;
    rr->health[idx].failures = 0;
}
