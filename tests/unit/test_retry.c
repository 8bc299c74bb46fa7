/* The retry rule (mtlb_retry_allowed): every stage for safe, idempotent, unsafe and unknown
 * methods, with and without the body held; method matching as an attacker spells it. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "mtlb/retry.h"

struct method_case {
    char method[16];
    bool idempotent;
};

static struct method_case method_cases[] = {
    {"GET", true},       {"HEAD", true},  {"OPTIONS", true}, {"TRACE", true},    {"PUT", true},
    {"DELETE", true},    {"POST", false}, {"PATCH", false},  {"CONNECT", false}, {"LOCK", false},
    {"PROPFIND", false}, {"get", false},  {"Get", false},    {"delete", false},  {"GETS", false},
    {"GE", false},       {"PUT ", false}, {" GET", false},   {"", false},        {"DELETEX", false},
};

ParameterizedTestParameters(retry, idempotent_methods)
{
    return cr_make_param_array(struct method_case, method_cases,
                               sizeof(method_cases) / sizeof(method_cases[0]));
}

ParameterizedTest(struct method_case *k, retry, idempotent_methods)
{
    struct mtlb_slice m = {k->method, strlen(k->method)};
    cr_assert_eq(mtlb_retry_idempotent(m), k->idempotent, "'%s'", k->method);
}

/* A method compared by length, not up to a NUL: "GET" inside "GETX" is not GET. */
Test(retry, method_slice_is_compared_by_length)
{
    struct mtlb_slice prefix = {"GETX", 3}, longer = {"GET\0", 4};
    cr_assert(mtlb_retry_idempotent(prefix));
    cr_assert_not(mtlb_retry_idempotent(longer));
}

struct rule_case {
    char method[16];
    enum mtlb_retry_stage stage;
    bool body_held;
    bool allowed;
};

#define NW MTLB_RETRY_NOT_WRITTEN
#define CF MTLB_RETRY_CONNECT_FAILED
#define WR MTLB_RETRY_WRITTEN
#define WRR MTLB_RETRY_WRITTEN_REUSED
#define RSP MTLB_RETRY_RESPONDED

static struct rule_case rule_cases[] = {
    /* Nothing reached the backend: any method moves on, body held or not. */
    {"POST", CF, false, true},
    {"POST", CF, true, true},
    {"PATCH", CF, false, true},
    {"GET", CF, true, true},
    {"LOCK", CF, false, true},
    {"POST", NW, false, true},
    {"POST", NW, true, true},
    {"CONNECT", NW, false, true},
    {"DELETE", NW, true, true},
    /* Written on a reused connection: idempotent and whole, or not at all. */
    {"GET", WRR, true, true},
    {"HEAD", WRR, true, true},
    {"OPTIONS", WRR, true, true},
    {"TRACE", WRR, true, true},
    {"PUT", WRR, true, true},
    {"DELETE", WRR, true, true},
    {"PUT", WRR, false, false},
    {"DELETE", WRR, false, false},
    {"GET", WRR, false, false},
    {"POST", WRR, true, false},
    {"POST", WRR, false, false},
    {"PATCH", WRR, true, false},
    {"CONNECT", WRR, true, false},
    {"LOCK", WRR, true, false},
    {"get", WRR, true, false},
    {"", WRR, true, false},
    /* Written on a new connection: the backend failed on it, no resend. */
    {"GET", WR, true, false},
    {"PUT", WR, true, false},
    {"POST", WR, true, false},
    /* The backend answered (even a 1xx): never. */
    {"GET", RSP, true, false},
    {"DELETE", RSP, true, false},
    {"POST", RSP, true, false},
    {"POST", RSP, false, false},
};

ParameterizedTestParameters(retry, rule)
{
    return cr_make_param_array(struct rule_case, rule_cases,
                               sizeof(rule_cases) / sizeof(rule_cases[0]));
}

ParameterizedTest(struct rule_case *k, retry, rule)
{
    static const char *const names[] = {"connect_failed", "not_written", "written",
                                        "written_reused", "responded"};
    struct mtlb_slice m = {k->method, strlen(k->method)};
    cr_assert_eq(mtlb_retry_allowed(m, k->stage, k->body_held), k->allowed,
                 "%s at %s, body %s: expected %s", k->method, names[k->stage],
                 k->body_held ? "held" : "not held", k->allowed ? "retry" : "no retry");
}

/* A stage value outside the enum (a bug elsewhere) must not turn into a resend. */
Test(retry, unknown_stage_is_no_retry)
{
    struct mtlb_slice m = {"GET", 3};
    cr_assert_not(mtlb_retry_allowed(m, (enum mtlb_retry_stage)42, true));
}
