/* Round robin and passive health: order, skipping, backoff growth and cap, recovery, the
 * active checks' verdict and generation, the panic rule. */
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

Test(rr, all_down_after_a_try_is_unreachable_and_keeps_cursor)
{
    struct mtlb_health h[3];
    struct mtlb_rr rr;

    mtlb_rr_init(&rr, h, 3, 1);
    for (size_t i = 0; i < 3; i++) {
        mtlb_rr_fail(&rr, i, 100);
    }
    /* The request already tried server 0: no panic choice for it. */
    cr_assert_eq(mtlb_rr_next(&rr, 100, 1), -EHOSTUNREACH);
    cr_assert_eq(mtlb_rr_next(&rr, 1099, 1), -EHOSTUNREACH);
    cr_assert_eq(rr.cursor, 1);
    cr_assert_eq(rr.panics, 0);
    cr_assert_eq(mtlb_rr_next(&rr, 1100, 0), 1);
}

Test(rr, panic_tries_the_server_whose_backoff_ends_first)
{
    struct mtlb_health h[3];
    struct mtlb_rr rr;

    mtlb_rr_init(&rr, h, 3, 0);
    mtlb_rr_fail(&rr, 0, 500);
    mtlb_rr_fail(&rr, 1, 100); /* ends first: 1100 */
    mtlb_rr_fail(&rr, 2, 300);
    cr_assert_eq(mtlb_rr_next(&rr, 200, 0), 1);
    cr_assert_eq(rr.panics, 1);
    cr_assert_eq(rr.cursor, 2);
    /* Its state is untouched: a failure of the trial is a late one, an ok clears it. */
    cr_assert_eq(h[1].down_until_ms, 1100);
    cr_assert_eq(mtlb_rr_next(&rr, 200, 0), 1);
    cr_assert_eq(rr.panics, 2);
}

Test(rr, panic_ties_go_in_rotation)
{
    struct mtlb_health h[3];
    struct mtlb_rr rr;

    mtlb_rr_init(&rr, h, 3, 2);
    for (size_t i = 0; i < 3; i++) {
        mtlb_rr_fail(&rr, i, 100);
    }
    cr_assert_eq(mtlb_rr_next(&rr, 100, 0), 2);
    cr_assert_eq(mtlb_rr_next(&rr, 100, 0), 0);
    cr_assert_eq(mtlb_rr_next(&rr, 100, 0), 1);
}

Test(rr, fail_and_ok_report_transitions_once)
{
    struct mtlb_health h[2];
    struct mtlb_rr rr;

    mtlb_rr_init(&rr, h, 2, 0);
    cr_assert_not(mtlb_rr_ok(&rr, 0));
    cr_assert(mtlb_rr_fail(&rr, 0, 100));
    cr_assert_not(mtlb_rr_fail(&rr, 0, 200)); /* late report, same outage */
    cr_assert(mtlb_rr_fail(&rr, 0, 1100));    /* trial after the backoff failed too */
    cr_assert(mtlb_rr_ok(&rr, 0));
    cr_assert_not(mtlb_rr_ok(&rr, 0));
    cr_assert_not(mtlb_rr_fail(&rr, 5, 0));
    cr_assert_not(mtlb_rr_ok(&rr, 5));
}

Test(rr, checked_down_is_skipped_and_a_new_generation_clears_backoff)
{
    struct mtlb_health h[2];
    struct mtlb_rr rr;

    mtlb_rr_init(&rr, h, 2, 0);
    mtlb_rr_sync(&rr, 0, true, 0);
    cr_assert_eq(mtlb_rr_next(&rr, 0, 0), 1);
    cr_assert_eq(mtlb_rr_next(&rr, 0, 0), 1);
    /* Server 1 fails passively: its backoff holds across syncs of the same generation. */
    for (int i = 0; i < 3; i++) {
        mtlb_rr_fail(&rr, 1, 1000 + 40000 * (uint64_t)i);
    }
    mtlb_rr_sync(&rr, 0, false, 0);
    mtlb_rr_sync(&rr, 1, false, 0);
    cr_assert_eq(h[1].failures, 3);
    cr_assert_eq(mtlb_rr_next(&rr, 81000, 0), 0);
    cr_assert_eq(mtlb_rr_next(&rr, 81000, 0), 0);
    /* A passing probe (new generation) clears it at once, 4 s before the backoff would. */
    mtlb_rr_sync(&rr, 1, false, 1);
    cr_assert_eq(h[1].failures, 0);
    cr_assert_eq(mtlb_rr_next(&rr, 81000, 0), 1);
}

Test(rr, panic_applies_when_the_checks_say_all_down)
{
    struct mtlb_health h[2];
    struct mtlb_rr rr;

    mtlb_rr_init(&rr, h, 2, 0);
    mtlb_rr_sync(&rr, 0, true, 0);
    mtlb_rr_sync(&rr, 1, true, 0);
    cr_assert_eq(mtlb_rr_next(&rr, 0, 0), 0);
    cr_assert_eq(mtlb_rr_next(&rr, 0, 0), 1);
    cr_assert_eq(mtlb_rr_next(&rr, 0, 1), -EHOSTUNREACH);
    cr_assert_eq(rr.panics, 2);
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
        cr_assert_eq(mtlb_rr_next(&rr, h[0].down_until_ms - 1, 1), -EHOSTUNREACH);
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

/* A request's tried set covers every server of a large pool: each of 100 servers is tried
 * exactly once, then the pool is exhausted (no panic choice after a try). */
Test(rr, skip_set_tracks_every_server_of_a_pool_of_100)
{
    struct mtlb_health h[100];
    struct mtlb_rr rr;
    struct mtlb_rr_skip sk = {0};
    unsigned seen[100] = {0};

    mtlb_rr_init(&rr, h, 100, 37);
    cr_assert_eq(mtlb_rr_skip_reset(&sk, 100), 0);
    for (int i = 0; i < 100; i++) {
        int idx = mtlb_rr_next_skip(&rr, 0, &sk);
        cr_assert(idx >= 0 && idx < 100, "pick %d: got %d", i, idx);
        cr_assert_eq(seen[idx]++, 0, "server %d picked twice", idx);
        mtlb_rr_skip_set(&sk, (size_t)idx);
    }
    cr_assert_eq(mtlb_rr_next_skip(&rr, 0, &sk), -EHOSTUNREACH);
    /* A stale pooled connection: the same server may be tried again, and only it. */
    mtlb_rr_skip_clear(&sk, 99);
    cr_assert_eq(mtlb_rr_next_skip(&rr, 0, &sk), 99);
    /* The next request starts over with every server. */
    cr_assert_eq(mtlb_rr_skip_reset(&sk, 100), 0);
    cr_assert(mtlb_rr_next_skip(&rr, 0, &sk) >= 0);
    mtlb_rr_skip_fini(&sk);
}

/* Up to 64 servers the set needs no allocation; an empty set allows the panic rule. */
Test(rr, skip_set_small_pool_is_inline_and_panics_when_empty)
{
    struct mtlb_health h[3];
    struct mtlb_rr rr;
    struct mtlb_rr_skip sk = {0};

    mtlb_rr_init(&rr, h, 3, 0);
    cr_assert_eq(mtlb_rr_skip_reset(&sk, 3), 0);
    cr_assert_null(sk.big);
    for (size_t i = 0; i < 3; i++) {
        mtlb_rr_fail(&rr, i, 0);
    }
    cr_assert_geq(mtlb_rr_next_skip(&rr, 0, &sk), 0);
    mtlb_rr_skip_set(&sk, 0);
    cr_assert_eq(mtlb_rr_next_skip(&rr, 0, &sk), -EHOSTUNREACH);
    mtlb_rr_skip_fini(&sk);
}
