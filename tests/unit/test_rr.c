/* Round robin and passive health: order, skipping, backoff growth and cap, recovery. */
#include <criterion/criterion.h>
#include <errno.h>

#include "mtlb/balance.h"

#define N 4

Test(rr, distribution_is_exact_round_robin)
{
    struct mtlb_health h[N];
    struct mtlb_rr rr;
    unsigned count[N] = {0};

    mtlb_rr_init(&rr, h, N, 0);
    for (int i = 0; i < 4 * N; i++) {
        int idx = mtlb_rr_next(&rr, 0, 0);
        cr_assert_eq(idx, i % N, "pick %d: got %d", i, idx);
        count[idx]++;
    }
    for (int i = 0; i < N; i++) {
        cr_assert_eq(count[i], 4);
    }
}

Test(rr, init_zeroes_health_and_applies_start_offset)
{
    struct mtlb_health h[N];
    struct mtlb_rr rr;

    for (int i = 0; i < N; i++) {
        h[i].down_until_ms = 12345;
        h[i].failures = 7;
    }
    mtlb_rr_init(&rr, h, N, 6); /* 6 % 4 = 2 */
    for (int i = 0; i < N; i++) {
        cr_assert_eq(h[i].down_until_ms, 0);
        cr_assert_eq(h[i].failures, 0);
    }
    cr_assert_eq(mtlb_rr_next(&rr, 0, 0), 2);
    cr_assert_eq(mtlb_rr_next(&rr, 0, 0), 3);
    cr_assert_eq(mtlb_rr_next(&rr, 0, 0), 0);
    cr_assert_eq(mtlb_rr_next(&rr, 0, 0), 1);
}

Test(rr, down_server_is_skipped_until_backoff_expires)
{
    struct mtlb_health h[3];
    struct mtlb_rr rr;

    mtlb_rr_init(&rr, h, 3, 0);
    mtlb_rr_fail(&rr, 1, 5000);
    cr_assert_eq(h[1].failures, 1);
    cr_assert_eq(h[1].down_until_ms, 6000);
    int expect[] = {0, 2, 0, 2};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(mtlb_rr_next(&rr, 5500, 0), expect[i]);
    }
    /* At exactly down_until the backoff has expired: the server gets its trial. */
    cr_assert_eq(mtlb_rr_next(&rr, 6000, 0), 0);
    cr_assert_eq(mtlb_rr_next(&rr, 6000, 0), 1);
}

Test(rr, all_down_is_unreachable_and_keeps_cursor)
{
    struct mtlb_health h[3];
    struct mtlb_rr rr;

    mtlb_rr_init(&rr, h, 3, 1);
    for (size_t i = 0; i < 3; i++) {
        mtlb_rr_fail(&rr, i, 100);
    }
    cr_assert_eq(mtlb_rr_next(&rr, 100, 0), -EHOSTUNREACH);
    cr_assert_eq(mtlb_rr_next(&rr, 1099, 0), -EHOSTUNREACH);
    cr_assert_eq(rr.cursor, 1);
    cr_assert_eq(mtlb_rr_next(&rr, 1100, 0), 1);
}

Test(rr, empty_pool_is_unreachable)
{
    struct mtlb_rr rr;

    mtlb_rr_init(&rr, NULL, 0, 3);
    cr_assert_eq(mtlb_rr_next(&rr, 0, 0), -EHOSTUNREACH);
}

Test(rr, backoff_doubles_and_caps_at_30s)
{
    struct mtlb_health h[1];
    struct mtlb_rr rr;
    uint64_t expect[] = {1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
    uint64_t now = 1000000;

    mtlb_rr_init(&rr, h, 1, 0);
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
        mtlb_rr_fail(&rr, 0, now);
        cr_assert_eq(h[0].failures, i + 1);
        cr_assert_eq(h[0].down_until_ms - now, expect[i], "step %zu: %llu", i,
                     (unsigned long long)(h[0].down_until_ms - now));
        cr_assert_eq(mtlb_rr_next(&rr, h[0].down_until_ms - 1, 0), -EHOSTUNREACH);
        now = h[0].down_until_ms; /* trial request at expiry fails again */
        cr_assert_eq(mtlb_rr_next(&rr, now, 0), 0);
    }
}

Test(rr, late_failures_during_backoff_do_not_escalate)
{
    struct mtlb_health h[2];
    struct mtlb_rr rr;

    mtlb_rr_init(&rr, h, 2, 0);
    mtlb_rr_fail(&rr, 0, 0);
    mtlb_rr_fail(&rr, 0, 10);
    mtlb_rr_fail(&rr, 0, 999);
    cr_assert_eq(h[0].failures, 1);
    cr_assert_eq(h[0].down_until_ms, 1000);
}

Test(rr, ok_recovers_and_resets_backoff)
{
    struct mtlb_health h[2];
    struct mtlb_rr rr;

    mtlb_rr_init(&rr, h, 2, 0);
    mtlb_rr_fail(&rr, 0, 0);
    mtlb_rr_fail(&rr, 0, 1000);
    mtlb_rr_fail(&rr, 0, 3000);
    cr_assert_eq(h[0].failures, 3);
    mtlb_rr_ok(&rr, 0);
    cr_assert_eq(h[0].failures, 0);
    cr_assert_eq(h[0].down_until_ms, 0);
    cr_assert_eq(mtlb_rr_next(&rr, 3001, 0), 0);
    /* Next failure starts again from 1 s. */
    mtlb_rr_fail(&rr, 0, 4000);
    cr_assert_eq(h[0].down_until_ms, 5000);
}

Test(rr, out_of_range_index_is_ignored)
{
    struct mtlb_health h[2];
    struct mtlb_rr rr;

    mtlb_rr_init(&rr, h, 2, 0);
    mtlb_rr_fail(&rr, 2, 0);
    mtlb_rr_ok(&rr, 7);
    cr_assert_eq(h[0].failures + h[1].failures, 0);
}

Test(rr, skip_mask_excludes_tried_servers)
{
    struct mtlb_health h[N];
    struct mtlb_rr rr;

    mtlb_rr_init(&rr, h, N, 0);
    cr_assert_eq(mtlb_rr_next(&rr, 0, 1u << 0), 1);
    cr_assert_eq(mtlb_rr_next(&rr, 0, (1u << 2) | (1u << 3)), 0);
    cr_assert_eq(mtlb_rr_next(&rr, 0, 0xF), -EHOSTUNREACH);
    cr_assert_eq(mtlb_rr_next(&rr, 0, 0), 1);
    /* Skipped and down together: only server 3 is left. */
    mtlb_rr_fail(&rr, 2, 0);
    cr_assert_eq(mtlb_rr_next(&rr, 0, 1u << 0 | 1u << 1), 3);
}

Test(rr, servers_beyond_64_ignore_the_mask)
{
    struct mtlb_health h[70];
    struct mtlb_rr rr;

    mtlb_rr_init(&rr, h, 70, 64);
    cr_assert_eq(mtlb_rr_next(&rr, 0, UINT64_MAX), 64);
    cr_assert_eq(mtlb_rr_next(&rr, 0, UINT64_MAX), 65);
    mtlb_rr_init(&rr, h, 70, 68);
    cr_assert_eq(mtlb_rr_next(&rr, 0, UINT64_MAX), 68);
    cr_assert_eq(mtlb_rr_next(&rr, 0, UINT64_MAX), 69);
    cr_assert_eq(mtlb_rr_next(&rr, 0, UINT64_MAX), 64);
}
