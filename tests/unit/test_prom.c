/* prom: the Prometheus text helpers behind /metrics: label escaping (the three escapes the
 * format knows, nothing else), bucket choice at and around every bound, `le` spelling, and a
 * buffer that grows across many appends. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "mtlb/prom.h"

static char *label_of(const char *in)
{
    static char out[256];
    struct mtlb_prom_buf b;
    mtlb_prom_init(&b);
    mtlb_prom_label(&b, in);
    cr_assert_not(b.failed);
    snprintf(out, sizeof(out), "%s", b.p ? b.p : "");
    mtlb_prom_fini(&b);
    return out;
}

Test(prom, label_escapes_backslash_quote_and_newline_only)
{
    cr_assert_str_eq(label_of("CN=a,O=b"), "CN=a,O=b");
    cr_assert_str_eq(label_of("a\"b"), "a\\\"b");
    cr_assert_str_eq(label_of("a\\b"), "a\\\\b");
    cr_assert_str_eq(label_of("a\nb"), "a\\nb");
    cr_assert_str_eq(label_of("\\\"\n"), "\\\\\\\"\\n");
    /* A DN with a forged label continuation stays inside the value. */
    cr_assert_str_eq(label_of("x\"} 1\nmtlb_fake{a=\"b"), "x\\\"} 1\\nmtlb_fake{a=\\\"b");
    cr_assert_str_eq(label_of("tab\there, é"), "tab\there, é");
    cr_assert_str_eq(label_of(""), "");
}

Test(prom, bucket_bounds_are_inclusive)
{
    cr_assert_eq(mtlb_prom_bucket(0), 0);
    cr_assert_eq(mtlb_prom_bucket(500), 0, "le=0.0005 includes 0.5 ms");
    cr_assert_eq(mtlb_prom_bucket(501), 1);
    for (unsigned i = 0; i < MTLB_PROM_BUCKETS; i++) {
        cr_assert_eq(mtlb_prom_bucket(mtlb_prom_bucket_us[i]), i, "bound %u", i);
        cr_assert_eq(mtlb_prom_bucket(mtlb_prom_bucket_us[i] + 1), i + 1, "above bound %u", i);
        if (i > 0) {
            cr_assert(mtlb_prom_bucket_us[i] > mtlb_prom_bucket_us[i - 1], "bounds ascend");
        }
    }
    cr_assert_eq(mtlb_prom_bucket_us[0], 500, "first bucket 0.5 ms");
    cr_assert_eq(mtlb_prom_bucket_us[MTLB_PROM_BUCKETS - 1], 30000000, "last bucket 30 s");
    cr_assert_eq(mtlb_prom_bucket(30000001), MTLB_PROM_BUCKETS, "+Inf");
    cr_assert_eq(mtlb_prom_bucket(UINT64_MAX), MTLB_PROM_BUCKETS, "+Inf");
}

Test(prom, le_labels_are_plain_decimals)
{
    static const char *const want[MTLB_PROM_BUCKETS + 1] = {
        "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
        "0.5",    "1",     "2.5",    "5",     "10",   "20",    "30",   "+Inf"};
    for (unsigned i = 0; i <= MTLB_PROM_BUCKETS; i++) {
        struct mtlb_prom_buf b;
        mtlb_prom_init(&b);
        mtlb_prom_le(&b, i);
        cr_assert_str_eq(b.p, want[i], "bucket %u", i);
        mtlb_prom_fini(&b);
    }
}

Test(prom, buffer_grows_and_family_lines)
{
    struct mtlb_prom_buf b;
    mtlb_prom_init(&b);
    mtlb_prom_family(&b, "mtlb_x_total", "counter", "Things.");
    cr_assert_str_eq(b.p, "# HELP mtlb_x_total Things.\n# TYPE mtlb_x_total counter\n");
    size_t start = b.len;
    for (int i = 0; i < 10000; i++) {
        mtlb_prom_printf(&b, "mtlb_x_total{i=\"%d\"} %d\n", i, i);
    }
    cr_assert_not(b.failed);
    cr_assert_eq(strlen(b.p), b.len, "NUL-terminated at len");
    cr_assert(strstr(b.p + start, "mtlb_x_total{i=\"9999\"} 9999\n") != NULL);
    cr_assert_eq(b.p[b.len - 1], '\n');
    mtlb_prom_fini(&b);
    cr_assert_null(b.p);
}
