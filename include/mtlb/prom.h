/* Prometheus text exposition format 0.0.4: a growing text buffer, label-value escaping and
 * the request-duration histogram's buckets. Pure: allocates, no I/O, no locks; any thread
 * (each buffer belongs to its caller). */
#ifndef MTLB_PROM_H
#define MTLB_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A text buffer that grows as needed. After an allocation failure `failed` is set and further
 * appends do nothing, so a renderer checks once at the end. */
struct mtlb_prom_buf {
    char *p;
    size_t len, cap;
    bool failed;
};

void mtlb_prom_init(struct mtlb_prom_buf *b);
void mtlb_prom_fini(struct mtlb_prom_buf *b); /* frees p */
void mtlb_prom_printf(struct mtlb_prom_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s as a label value body: backslash, double quote and line feed escaped as \\, \"
 * and \n (the only escapes the format knows); every other byte as is. */
void mtlb_prom_label(struct mtlb_prom_buf *b, const char *s);
/* Appends "# HELP name help\n# TYPE name type\n". */
void mtlb_prom_family(struct mtlb_prom_buf *b, const char *name, const char *type,
                      const char *help);

/* mtlb_request_duration_seconds: upper bounds in microseconds, 0.5 ms .. 30 s; one more
 * bucket (+Inf) follows them. */
#define MTLB_PROM_BUCKETS 16
extern const uint64_t mtlb_prom_bucket_us[MTLB_PROM_BUCKETS];
/* Index of the first bucket whose bound is >= us (Prometheus buckets are "less than or equal"),
 * MTLB_PROM_BUCKETS for +Inf. */
unsigned mtlb_prom_bucket(uint64_t us);
/* Appends the bound of bucket i as the `le` label's text ("0.0005", "30", "+Inf"). */
void mtlb_prom_le(struct mtlb_prom_buf *b, unsigned i);

#endif
