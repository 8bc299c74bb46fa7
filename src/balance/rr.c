/* Server choice with passive health for one pool, owned by one worker: round robin here, the
 * weighted and least-requests choices in wrr.c and least.c, the rules around them (who is
 * eligible, the panic rule, backoff) here for all three.
 * Pure module: the caller passes the clock and the active checks' verdict in; nothing here
 * sleeps, locks, logs or does I/O. A failed server is skipped for 1 s, 2 s, 4 s ... up to
 * 30 s; once that expires it is tried again, and a success clears its state. When every
 * server is down one is tried anyway (panic rule). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "balance_int.h"

#define RR_BACKOFF_BASE_MS 1000u
#define RR_BACKOFF_CAP_MS 30000u

void mtlb_rr_init(struct mtlb_rr *rr, struct mtlb_health *health, size_t n, size_t start)
{
    rr->n = n;
    rr->cursor = n ? start % n : 0;
    rr->health = health;
    rr->panics = 0;
    rr->algo = MTLB_BALANCE_ROUND_ROBIN;
    rr->weighted = false;
    rr->random = 1;
    for (size_t i = 0; i < n; i++) {
        health[i] = (struct mtlb_health){.weight = 1};
    }
}

void mtlb_rr_configure(struct mtlb_rr *rr, enum mtlb_balance_algo algo, uint64_t seed)
{
    rr->algo = algo;
    rr->weighted = false;
    /* splitmix64's finaliser: nearby seeds (worker indices) give unrelated states. */
    seed += 0x9e3779b97f4a7c15ull;
    seed = (seed ^ (seed >> 30)) * 0xbf58476d1ce4e5b9ull;
    seed = (seed ^ (seed >> 27)) * 0x94d049bb133111ebull;
    seed ^= seed >> 31;
    rr->random = seed != 0 ? seed : 1;
    for (size_t i = 0; i < rr->n; i++) {
        rr->health[i].weight = 1;
        rr->health[i].current = 0;
        rr->health[i].inflight = 0;
    }
}

void mtlb_rr_set_weight(struct mtlb_rr *rr, size_t idx, unsigned weight)
{
    if (idx >= rr->n) {
        return;
    }
    weight = weight < 1 ? 1 : weight > MTLB_WEIGHT_MAX ? MTLB_WEIGHT_MAX : weight;
    rr->health[idx].weight = (uint16_t)weight;
    rr->weighted = false;
    for (size_t i = 1; i < rr->n; i++) {
        rr->weighted = rr->weighted || rr->health[i].weight != rr->health[0].weight;
    }
}

void mtlb_rr_begin(struct mtlb_rr *rr, size_t idx)
{
    if (idx < rr->n && rr->health[idx].inflight < UINT32_MAX) {
        rr->health[idx].inflight++;
    }
}

void mtlb_rr_end(struct mtlb_rr *rr, size_t idx)
{
    if (idx < rr->n && rr->health[idx].inflight > 0) {
        rr->health[idx].inflight--;
    }
}

static size_t rr_step(const struct mtlb_rr *rr, size_t idx)
{
    return idx + 1 == rr->n ? 0 : idx + 1;
}

/* Every server is down: the one whose backoff ends first, the next in rotation on a tie. */
static int rr_panic(struct mtlb_rr *rr)
{
    size_t best = rr->cursor;
    size_t idx = rr->cursor;

    for (size_t tried = 0; tried < rr->n; tried++) {
        if (rr->health[idx].down_until_ms < rr->health[best].down_until_ms) {
            best = idx;
        }
        idx = rr_step(rr, idx);
    }
    rr->cursor = rr_step(rr, best);
    rr->panics++;
    return (int)best;
}

/* words[nwords] is a bitset of the servers to skip; servers past it are not skipped. */
static bool rr_is_skipped(size_t idx, const uint64_t *words, size_t nwords)
{
    return idx / 64 < nwords && (words[idx / 64] & ((uint64_t)1 << (idx % 64))) != 0;
}

static int rr_pick(struct mtlb_rr *rr, uint64_t now_ms, const uint64_t *words, size_t nwords,
                   bool none_skipped)
{
    const struct mtlb_rr_mask mask = {words, nwords};
    size_t idx = rr->cursor;
    int got = -1;

    if (rr->algo == MTLB_BALANCE_LEAST_REQUESTS) {
        got = mtlb_least_pick(rr, now_ms, &mask);
    } else if (rr->weighted) {
        got = mtlb_wrr_pick(rr, now_ms, &mask);
    } else {
        for (size_t tried = 0; got < 0 && tried < rr->n; tried++) {
            if (mtlb_rr_eligible(rr, idx, now_ms, &mask)) {
                rr->cursor = rr_step(rr, idx);
                got = (int)idx;
            }
            idx = rr_step(rr, idx);
        }
    }
    if (got >= 0) {
        return got;
    }
    if (none_skipped && rr->n > 0) {
        return rr_panic(rr);
    }
    return -EHOSTUNREACH;
}

int mtlb_rr_next(struct mtlb_rr *rr, uint64_t now_ms, uint64_t skip_mask)
{
    return rr_pick(rr, now_ms, &skip_mask, 1, skip_mask == 0);
}

static uint64_t *skip_words(struct mtlb_rr_skip *sk, size_t *nwords)
{
    *nwords = sk->big != NULL ? sk->cap_words : 1;
    return sk->big != NULL ? sk->big : &sk->small;
}

int mtlb_rr_skip_reset(struct mtlb_rr_skip *sk, size_t n)
{
    size_t need = (n + 63) / 64;
    int rc = 0;

    if (need > 1 && need > sk->cap_words) {
        uint64_t *big = realloc(sk->big, need * sizeof(*big));
        if (big != NULL) {
            sk->big = big;
            sk->cap_words = need;
        } else {
            rc = -ENOMEM;
        }
    }
    sk->small = 0;
    if (sk->big != NULL) {
        memset(sk->big, 0, sk->cap_words * sizeof(*sk->big));
    }
    sk->count = 0;
    return rc;
}

void mtlb_rr_skip_fini(struct mtlb_rr_skip *sk)
{
    free(sk->big);
    *sk = (struct mtlb_rr_skip){0};
}

bool mtlb_rr_skip_test(const struct mtlb_rr_skip *sk, size_t idx)
{
    size_t nwords = sk->big != NULL ? sk->cap_words : 1;
    return rr_is_skipped(idx, sk->big != NULL ? sk->big : &sk->small, nwords);
}

void mtlb_rr_skip_set(struct mtlb_rr_skip *sk, size_t idx)
{
    size_t nwords;
    uint64_t *w = skip_words(sk, &nwords);

    if (idx / 64 < nwords && !mtlb_rr_skip_test(sk, idx)) {
        w[idx / 64] |= (uint64_t)1 << (idx % 64);
        sk->count++;
    }
}

void mtlb_rr_skip_clear(struct mtlb_rr_skip *sk, size_t idx)
{
    size_t nwords;
    uint64_t *w = skip_words(sk, &nwords);

    if (idx / 64 < nwords && mtlb_rr_skip_test(sk, idx)) {
        w[idx / 64] &= ~((uint64_t)1 << (idx % 64));
        sk->count--;
    }
}

int mtlb_rr_next_skip(struct mtlb_rr *rr, uint64_t now_ms, const struct mtlb_rr_skip *sk)
{
    size_t nwords = sk->big != NULL ? sk->cap_words : 1;
    return rr_pick(rr, now_ms, sk->big != NULL ? sk->big : &sk->small, nwords, sk->count == 0);
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

bool mtlb_rr_fail(struct mtlb_rr *rr, size_t idx, uint64_t now_ms)
{
    if (idx >= rr->n) {
        return false;
    }
    struct mtlb_health *h = &rr->health[idx];

    /* Requests already in flight when the server was marked down report their failures
     * late; they are the same outage, so they must not push the backoff further. */
    if (h->down_until_ms != 0 && now_ms < h->down_until_ms) {
        return false;
    }
    if (h->failures < UINT32_MAX) {
        h->failures++;
    }
    h->down_until_ms = now_ms + rr_backoff_ms(h->failures);
    return true;
}

bool mtlb_rr_ok(struct mtlb_rr *rr, size_t idx)
{
    if (idx >= rr->n) {
        return false;
    }
    bool was_down = rr->health[idx].failures > 0;
    rr->health[idx].down_until_ms = 0;
    rr->health[idx].failures = 0;
    return was_down;
}

void mtlb_rr_sync(struct mtlb_rr *rr, size_t idx, bool down, uint32_t gen)
{
    if (idx >= rr->n) {
        return;
    }
    struct mtlb_health *h = &rr->health[idx];
    h->checked_down = down;
    if (h->check_gen != gen) {
        h->check_gen = gen;
        h->down_until_ms = 0;
        h->failures = 0;
    }
}
