/* JSON line building shared by the access log's writers (access.c: one line per exchange,
 * access_hs.c: handshake failures). A line is built in a caller's stack buffer and never
 * dropped for length: fields are cut to their budget and the line is marked. */
#ifndef MTLB_ACCESS_INT_H
#define MTLB_ACCESS_INT_H

#include <stdbool.h>
#include <stddef.h>

#define MTLB_ACCESS_LINE_MAX 8192
/* Room kept at the end of the line for `,"truncated":true}`. */
#define MTLB_ACCESS_TAIL 24

struct mtlb_jline {
    char *p;
    size_t pos;
    size_t cap; /* where fields must stop: the buffer size minus MTLB_ACCESS_TAIL */
    bool truncated;
};

/* Starts a line in buf (MTLB_ACCESS_LINE_MAX bytes) with `{"ts":"<UTC time, ms>"`. */
void mtlb_jline_start(struct mtlb_jline *l, char *buf);
/* ,"key":"value" with value (s, len bytes) escaped and cut to at most max_out bytes of JSON
 * (and to the line's room); s may be NULL when len is 0. */
void mtlb_jline_str(struct mtlb_jline *l, const char *key, const char *s, size_t len,
                    size_t max_out);
/* The same for a NUL-terminated s; NULL writes "". */
void mtlb_jline_cstr(struct mtlb_jline *l, const char *key, const char *s, size_t max_out);
/* ,"key":<raw> where raw is a JSON number, true, false or null, printf-formatted. */
void mtlb_jline_raw(struct mtlb_jline *l, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* ,"key":<ms> with us written as milliseconds with three decimals, or null when us < 0. */
void mtlb_jline_ms(struct mtlb_jline *l, const char *key, long long us);
/* Closes the line (marked `"truncated":true` when something was cut) and appends it to the
 * calling thread's access-log buffer. */
void mtlb_jline_write(struct mtlb_jline *l);

#endif
