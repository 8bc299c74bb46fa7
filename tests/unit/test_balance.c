/* Balancing beyond plain round robin: smooth weighted round robin (exact shares, interleaving,
 * with skipping, backoff and the panic rule), least requests by two random choices (prefers
 * the less loaded, weights, in-flight bookkeeping), and the configuration keys. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mtlb/balance.h"
#include "mtlb/config.h"

static void setup_rr(struct mtlb_rr *rr, struct mtlb_health *h, size_t n,
                     enum mtlb_balance_algo algo, const unsigned *weights)
{
    mtlb_rr_init(rr, h, n, 0);
    mtlb_rr_configure(rr, algo, 42);
    for (size_t i = 0; weights != NULL && i < n; i++) {
        mtlb_rr_set_weight(rr, i, weights[i]);
    }
}

Test(wrr, weights_3_1_give_exactly_750_250_of_1000)
{
    struct mtlb_health h[2];
    struct mtlb_rr rr;
    unsigned count[2] = {0};
    setup_rr(&rr, h, 2, MTLB_BALANCE_ROUND_ROBIN, (const unsigned[]){3, 1});
    for (int i = 0; i < 1000; i++) {
        int idx = mtlb_rr_next(&rr, 0, 0);
        cr_assert(idx == 0 || idx == 1);
        count[idx]++;
    }
    cr_expect_eq(count[0], 750);
    cr_expect_eq(count[1], 250);
}

Test(wrr, exact_shares_for_uneven_weights_in_every_window)
{
    static const unsigned w[] = {1, 7, 256, 13};
    const unsigned sum = 1 + 7 + 256 + 13;
    struct mtlb_health h[4];
    struct mtlb_rr rr;
    setup_rr(&rr, h, 4, MTLB_BALANCE_ROUND_ROBIN, w);
    for (int window = 0; window < 4; window++) {
        unsigned count[4] = {0};
        for (unsigned i = 0; i < sum; i++) {
            count[mtlb_rr_next(&rr, 0, 0)]++;
        }
        for (int s = 0; s < 4; s++) {
            cr_expect_eq(count[s], w[s], "window %d server %d: %u", window, s, count[s]);
        }
    }
}

Test(wrr, smooth_interleaving_as_nginx)
{
    struct mtlb_health h[3];
    struct mtlb_rr rr;
    static const int want[] = {0, 0, 1, 0, 2, 0, 0}; /* weights 5,1,1: a a b a c a a */
    setup_rr(&rr, h, 3, MTLB_BALANCE_ROUND_ROBIN, (const unsigned[]){5, 1, 1});
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
            cr_expect_eq(mtlb_rr_next(&rr, 0, 0), want[i], "round %d pick %zu", round, i);
        }
    }
}

Test(wrr, weights_are_clamped_and_equal_weights_stay_plain_round_robin)
{
    struct mtlb_health h[3];
    struct mtlb_rr rr;
    setup_rr(&rr, h, 3, MTLB_BALANCE_ROUND_ROBIN, (const unsigned[]){0, 999, 1});
    cr_expect_eq(h[0].weight, 1);
    cr_expect_eq(h[1].weight, MTLB_WEIGHT_MAX);
    cr_expect(rr.weighted);
    setup_rr(&rr, h, 3, MTLB_BALANCE_ROUND_ROBIN, (const unsigned[]){4, 4, 4});
    cr_expect(!rr.weighted);
    for (int i = 0; i < 9; i++) {
        cr_expect_eq(mtlb_rr_next(&rr, 0, 0), i % 3);
    }
}

Test(wrr, skip_and_backoff_keep_working_with_weights)
{
    struct mtlb_health h[3];
    struct mtlb_rr rr;
    struct mtlb_rr_skip sk = {0};
    setup_rr(&rr, h, 3, MTLB_BALANCE_ROUND_ROBIN, (const unsigned[]){3, 1, 1});
    /* A retry never returns a server the request already tried. */
    cr_assert_eq(mtlb_rr_skip_reset(&sk, 3), 0);
    for (int tries = 0; tries < 3; tries++) {
        int idx = mtlb_rr_next_skip(&rr, 0, &sk);
        cr_assert(idx >= 0 && !mtlb_rr_skip_test(&sk, (size_t)idx));
        mtlb_rr_skip_set(&sk, (size_t)idx);
    }
    cr_expect_eq(mtlb_rr_next_skip(&rr, 0, &sk), -EHOSTUNREACH);
    mtlb_rr_skip_fini(&sk);
    /* Server 0 (weight 3) backs off: the others share the picks until its backoff ends. */
    cr_assert(mtlb_rr_fail(&rr, 0, 1000));
    unsigned count[3] = {0};
    for (int i = 0; i < 100; i++) {
        count[mtlb_rr_next(&rr, 1500, 0)]++;
    }
    cr_expect_eq(count[0], 0);
    cr_expect_eq(count[1], 50);
    cr_expect_eq(count[2], 50);
    cr_expect_gt(mtlb_rr_next(&rr, 1000 + 1000, 0), -1); /* backoff over: eligible again */
    /* All down: the panic rule still picks one when nothing was tried. */
    for (size_t s = 0; s < 3; s++) {
        (void)mtlb_rr_fail(&rr, s, 5000);
    }
    uint64_t panics = rr.panics;
    cr_expect_geq(mtlb_rr_next(&rr, 5001, 0), 0);
    cr_expect_eq(rr.panics, panics + 1);
    cr_expect_eq(mtlb_rr_next(&rr, 5001, 1), -EHOSTUNREACH);
}

Test(least, prefers_the_less_loaded_server)
{
    struct mtlb_health h[2];
    struct mtlb_rr rr;
    setup_rr(&rr, h, 2, MTLB_BALANCE_LEAST_REQUESTS, NULL);
    for (int i = 0; i < 5; i++) {
        mtlb_rr_begin(&rr, 0);
    }
    for (int i = 0; i < 1000; i++) {
        cr_assert_eq(mtlb_rr_next(&rr, 0, 0), 1);
    }
    for (int i = 0; i < 5; i++) {
        mtlb_rr_end(&rr, 0);
    }
    mtlb_rr_end(&rr, 0); /* more ends than begins: stays at 0 */
    cr_expect_eq(h[0].inflight, 0);
}

Test(least, the_most_loaded_of_three_is_never_chosen_and_the_others_share)
{
    struct mtlb_health h[3];
    struct mtlb_rr rr;
    unsigned count[3] = {0};
    setup_rr(&rr, h, 3, MTLB_BALANCE_LEAST_REQUESTS, NULL);
    mtlb_rr_begin(&rr, 1);
    mtlb_rr_begin(&rr, 1);
    for (int i = 0; i < 1000; i++) {
        count[mtlb_rr_next(&rr, 0, 0)]++;
    }
    cr_expect_eq(count[1], 0);
    cr_expect(count[0] > 350 && count[2] > 350, "%u %u", count[0], count[2]);
}

Test(least, keeps_requests_spread_when_they_stay_in_flight)
{
    struct mtlb_health h[4];
    struct mtlb_rr rr;
    setup_rr(&rr, h, 4, MTLB_BALANCE_LEAST_REQUESTS, NULL);
    for (int i = 0; i < 400; i++) {
        mtlb_rr_begin(&rr, (size_t)mtlb_rr_next(&rr, 0, 0));
    }
    for (int s = 0; s < 4; s++) {
        cr_expect(h[s].inflight >= 90 && h[s].inflight <= 110, "server %d: %u", s, h[s].inflight);
    }
}

Test(least, load_is_per_weight)
{
    struct mtlb_health h[2];
    struct mtlb_rr rr;
    setup_rr(&rr, h, 2, MTLB_BALANCE_LEAST_REQUESTS, (const unsigned[]){4, 1});
    for (int i = 0; i < 3; i++) {
        mtlb_rr_begin(&rr, 0); /* 3/4 < 1/1 */
    }
    mtlb_rr_begin(&rr, 1);
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(mtlb_rr_next(&rr, 0, 0), 0);
    }
}

Test(least, skip_backoff_and_panic_as_round_robin)
{
    struct mtlb_health h[3];
    struct mtlb_rr rr;
    setup_rr(&rr, h, 3, MTLB_BALANCE_LEAST_REQUESTS, NULL);
    cr_assert(mtlb_rr_fail(&rr, 2, 0));
    for (int i = 0; i < 200; i++) {
        int idx = mtlb_rr_next(&rr, 10, 1); /* server 0 tried, 2 backing off */
        cr_assert_eq(idx, 1);
    }
    cr_expect_eq(mtlb_rr_next(&rr, 10, 3), -EHOSTUNREACH);
    (void)mtlb_rr_fail(&rr, 0, 0);
    (void)mtlb_rr_fail(&rr, 1, 0);
    cr_expect_geq(mtlb_rr_next(&rr, 10, 0), 0); /* panic rule */
    cr_expect_eq(rr.panics, 1);
}

/* ---- configuration ---- */

static struct mtlb_config *parse(const char *backend, char *err)
{
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             "listeners: [{bind: \":8443\", backend: app, domains: [{names: [a.example], "
             "certificate: c.crt, key: c.key}]}]\n"
             "backends:\n  - name: app\n%s",
             backend);
    struct mtlb_config *cfg = NULL;
    int rc = mtlb_config_parse(yaml, strlen(yaml), "mtlb.yaml", "/etc", &cfg, err, 256);
    return rc == 0 ? cfg : NULL;
}

Test(config_balance, servers_take_strings_or_mappings_with_weights)
{
    char err[256] = "";
    struct mtlb_config *cfg = parse("    servers: [\"10.0.0.1:80\", {address: \"10.0.0.2:81\", "
                                    "weight: 3}, {address: \"b.internal:82\"}]\n"
                                    "    balance: least_requests\n",
                                    err);
    cr_assert_not_null(cfg, "%s", err);
    const struct mtlb_backend_cfg *b = &cfg->backends[0];
    cr_assert_eq(b->n_servers, 3);
    cr_expect_str_eq(b->servers[1].host, "10.0.0.2");
    cr_expect_eq(b->servers[1].port, 81);
    cr_expect_eq(b->servers[0].weight, 1);
    cr_expect_eq(b->servers[1].weight, 3);
    cr_expect_eq(b->servers[2].weight, 1);
    cr_expect_eq(b->balance, MTLB_BALANCE_LEAST_REQUESTS);
    mtlb_config_destroy(cfg);
    cfg = parse("    servers: [\"10.0.0.1:80\"]\n", err);
    cr_assert_not_null(cfg, "%s", err);
    cr_expect_eq(cfg->backends[0].balance, MTLB_BALANCE_ROUND_ROBIN);
    mtlb_config_destroy(cfg);
}

Test(config_balance, errors_name_the_key)
{
    static const struct {
        const char *yaml, *msg;
    } bad[] = {
        {"    servers: [{address: \"10.0.0.1:80\", weight: 0}]\n",
         "backends[0].servers[0].weight: expected an integer in 1..256, got \"0\""},
        {"    servers: [{address: \"10.0.0.1:80\", weight: 257}]\n", "in 1..256"},
        {"    servers: [{weight: 2}]\n", "backends[0].servers[0].address: missing required key"},
        {"    servers: [{address: \"10.0.0.1:80\", weigth: 2}]\n", "unknown key"},
        {"    servers: [\"10.0.0.1:80\"]\n    balance: random\n",
         "backends[0].balance: expected one of round_robin, least_requests"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        cr_expect_null(parse(bad[i].yaml, err), "%s", bad[i].yaml);
        cr_expect(strstr(err, bad[i].msg) != NULL, "%s: %s", bad[i].msg, err);
    }
}
