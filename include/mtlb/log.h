/* Logging: key=value lines on stderr (rate-limited per call site) and the access log
 * (JSON lines, buffered, one per request). Safe from any thread. Never log key material. */
#ifndef MTLB_LOG_H
#define MTLB_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

enum mtlb_log_level {
    MTLB_LOG_ERROR = 0,
    MTLB_LOG_WARN = 1,
    MTLB_LOG_INFO = 2,
    MTLB_LOG_DEBUG = 3,
};

/* Sets the level and names this thread ("main", "acceptor-0", "worker-1") for every line it
 * writes. Call once per thread at start. */
void mtlb_log_set_level(int level);
void mtlb_log_set_thread(const char *name);
bool mtlb_log_enabled(int level);

/* Writes one line: "ts=<rfc3339> level=<l> thread=<name> <fmt...>\n". `fmt` is the rest of the
 * key=value pairs, e.g. "conn=%llu event=handshake_failed reason=\"%s\"". Values that may
 * contain spaces or quotes go through mtlb_log_quote. Lines are written with one write(2). */
void mtlb_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like mtlb_log but at most `per_sec` lines per second per `key` call-site state (a static
 * struct owned by the caller, see mtlb_ratelimit); suppressed lines are counted and reported
 * on the next line that passes. */
struct mtlb_ratelimit {
    uint64_t window_start_ms;
    uint32_t count;
    uint32_t suppressed;
};
void mtlb_log_rl(struct mtlb_ratelimit *rl, unsigned per_sec, int level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Copies s into buf as a double-quoted value with \" \\ and control bytes escaped; returns buf. */
const char *mtlb_log_quote(const char *s, char *buf, size_t cap);

/* Access log. `path` is a file, "stdout", "stderr" or NULL (off). */
int mtlb_access_open(const char *path);
void mtlb_access_close(void);
/* Main thread only (SIGUSR1, after logrotate moved the file): opens the access-log path again
 * and puts the new file behind the same descriptor. 0 (also when the log is off, stdout or
 * stderr), or -errno when the path cannot be opened: then the old file stays in use. */
int mtlb_access_reopen(void);
/* The access-log file path, or NULL when it is off, stdout or stderr. */
const char *mtlb_access_path(void);
/* Appends one finished JSON line (without newline) to this thread's buffer; flushed when the
 * buffer fills and by mtlb_access_flush (workers call it once per loop iteration). */
void mtlb_access_write(const char *json_line, size_t len);
void mtlb_access_flush(void);
/* False when the access log is off: callers skip building the line at all. */
bool mtlb_access_enabled(void);

uint64_t mtlb_now_ms(void); /* CLOCK_MONOTONIC in milliseconds */
uint64_t mtlb_now_us(void); /* CLOCK_MONOTONIC in microseconds */

#endif
