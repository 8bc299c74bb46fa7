/* Prometheus text format helpers: a growing buffer, label escaping, histogram buckets.
 * Pure: no I/O, no logging; the admin thread renders /metrics with them. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtlb/prom.h"

const uint64_t mtlb_prom_bucket_us[MTLB_PROM_BUCKETS] = {
    500,    1000,   2500,    5000,    10000,   25000,    50000,    100000,
    250000, 500000, 1000000, 2500000, 5000000, 10000000, 20000000, 30000000,
};

void mtlb_prom_init(struct mtlb_prom_buf *b)
{
    b->p = NULL;
    b->len = b->cap = 0;
    b->failed = false;
}

void mtlb_prom_fini(struct mtlb_prom_buf *b)
{
    free(b->p);
    mtlb_prom_init(b);
}

static bool reserve(struct mtlb_prom_buf *b, size_t more)
{
    if (b->failed) {
        return false;
    }
    if (b->len + more + 1 <= b->cap) {
        return true;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1) {
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->failed = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void mtlb_prom_printf(struct mtlb_prom_buf *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n)) {
        b->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void mtlb_prom_label(struct mtlb_prom_buf *b, const char *s)
{
    size_t n = strlen(s);

    if (!reserve(b, 2 * n)) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' || c == '"') {
            b->p[b->len++] = '\\';
            b->p[b->len++] = c;
        } else if (c == '\n') {
            b->p[b->len++] = '\\';
            b->p[b->len++] = 'n';
        } else {
            b->p[b->len++] = c;
        }
    }
    b->p[b->len] = '\0';
}

void mtlb_prom_family(struct mtlb_prom_buf *b, const char *name, const char *type, const char *help)
{
    mtlb_prom_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

unsigned mtlb_prom_bucket(uint64_t us)
{
    unsigned lo = 0, hi = MTLB_PROM_BUCKETS;

    /* First bound >= us: a binary search over 16 bounds. */
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (mtlb_prom_bucket_us[mid] >= us) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return lo;
}

void mtlb_prom_le(struct mtlb_prom_buf *b, unsigned i)
{
    if (i >= MTLB_PROM_BUCKETS) {
        mtlb_prom_printf(b, "+Inf");
        return;
    }
    uint64_t us = mtlb_prom_bucket_us[i];
    /* Exact decimal seconds without trailing zeros: 500 -> 0.0005, 2500000 -> 2.5. */
    char frac[8];
    snprintf(frac, sizeof(frac), "%06llu", (unsigned long long)(us % 1000000));
    size_t n = strlen(frac);
    while (n > 0 && frac[n - 1] == '0') {
        frac[--n] = '\0';
    }
    mtlb_prom_printf(b, "%llu%s%s", (unsigned long long)(us / 1000000), n ? "." : "", frac);
}
