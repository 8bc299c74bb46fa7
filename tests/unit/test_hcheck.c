/* Active health checks, pure part: rise/fall transitions reported once, and the probe's
 * status line read strictly (a banner or a truncated line is not a pass). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <string.h>

#include "mtlb/hcheck.h"

Test(hcheck, starts_up_and_goes_down_after_fall_failures)
{
    struct mtlb_hcheck h;

    mtlb_hcheck_init(&h);
    cr_assert_not(h.down);
    cr_assert_eq(mtlb_hcheck_record(&h, false, 2, 3), MTLB_HCHECK_SAME);
    cr_assert_eq(mtlb_hcheck_record(&h, false, 2, 3), MTLB_HCHECK_SAME);
    cr_assert_eq(mtlb_hcheck_record(&h, false, 2, 3), MTLB_HCHECK_WENT_DOWN);
    cr_assert(h.down);
    /* Further failures change nothing: one line per transition. */
    cr_assert_eq(mtlb_hcheck_record(&h, false, 2, 3), MTLB_HCHECK_SAME);
    cr_assert(h.down);
}

Test(hcheck, a_success_breaks_the_failure_run)
{
    struct mtlb_hcheck h;

    mtlb_hcheck_init(&h);
    mtlb_hcheck_record(&h, false, 2, 3);
    mtlb_hcheck_record(&h, false, 2, 3);
    cr_assert_eq(mtlb_hcheck_record(&h, true, 2, 3), MTLB_HCHECK_SAME);
    cr_assert_eq(mtlb_hcheck_record(&h, false, 2, 3), MTLB_HCHECK_SAME);
    cr_assert_eq(mtlb_hcheck_record(&h, false, 2, 3), MTLB_HCHECK_SAME);
    cr_assert_not(h.down);
    cr_assert_eq(mtlb_hcheck_record(&h, false, 2, 3), MTLB_HCHECK_WENT_DOWN);
}

Test(hcheck, comes_up_after_rise_successes_in_a_row)
{
    struct mtlb_hcheck h;

    mtlb_hcheck_init(&h);
    cr_assert_eq(mtlb_hcheck_record(&h, false, 2, 1), MTLB_HCHECK_WENT_DOWN);
    cr_assert_eq(mtlb_hcheck_record(&h, true, 2, 1), MTLB_HCHECK_SAME);
    cr_assert_eq(mtlb_hcheck_record(&h, false, 2, 1), MTLB_HCHECK_SAME); /* run broken */
    cr_assert_eq(mtlb_hcheck_record(&h, true, 2, 1), MTLB_HCHECK_SAME);
    cr_assert(h.down);
    cr_assert_eq(mtlb_hcheck_record(&h, true, 2, 1), MTLB_HCHECK_WENT_UP);
    cr_assert_not(h.down);
    cr_assert_eq(mtlb_hcheck_record(&h, true, 2, 1), MTLB_HCHECK_SAME);
}

Test(hcheck, rise_and_fall_of_zero_count_as_one)
{
    struct mtlb_hcheck h;

    mtlb_hcheck_init(&h);
    cr_assert_eq(mtlb_hcheck_record(&h, false, 0, 0), MTLB_HCHECK_WENT_DOWN);
    cr_assert_eq(mtlb_hcheck_record(&h, true, 0, 0), MTLB_HCHECK_WENT_UP);
}

struct status_case {
    char in[48]; /* an array: Criterion copies parameters into the test process */
    int want;
};

static struct status_case cases[] = {
    {"HTTP/1.1 200 OK\r\n", 200},
    {"HTTP/1.0 503 Service Unavailable\r\n", 503},
    {"HTTP/1.1 204\r\n", 204},
    {"HTTP/1.1 301 \r\n", 301},
    {"HTTP/1.1 200\n", 200},
    {"", 0},
    {"HTT", 0},
    {"HTTP/1.1 20", 0},
    {"HTTP/1.1 200", 0}, /* "2000" may follow */
    {"SSH-2.0-OpenSSH\r\n", -EBADMSG},
    {"HTTP/2 200\r\n", -EBADMSG},
    {"HTTP/1.2 200 OK\r\n", -EBADMSG},
    {"HTTP/1.1  200 OK\r\n", -EBADMSG},
    {"HTTP/1.1 2000 OK\r\n", -EBADMSG},
    {"HTTP/1.1 20x OK\r\n", -EBADMSG},
    {"HTTP/1.1 099 OK\r\n", -EBADMSG},
    {"HTTP/1.1 600 OK\r\n", -EBADMSG},
    {"http/1.1 200 OK\r\n", -EBADMSG},
};

ParameterizedTestParameters(hcheck, status_line)
{
    return cr_make_param_array(struct status_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct status_case *c, hcheck, status_line)
{
    cr_assert_eq(mtlb_hcheck_status(c->in, strlen(c->in)), c->want, "%s", c->in);
}
