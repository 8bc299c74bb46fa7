/* Logging: key=value lines on stderr, one write(2) per line, rate-limited per call site, and
 * the buffered JSON-lines access log. Owns the process-wide level, the access log fd and the
 * per-thread name and access buffer. Must not allocate on the logging path or log key material.
 * A leaf module (src/base): it includes only libc and its own header, so every layer but the
 * pure ones (which never log) may link it.
 */
#include "mtlb/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096
#define ACCESS_BUF_SIZE (64 * 1024)

/* Process-wide and set once at start; read by every thread. */
static atomic_int log_level = MTLB_LOG_INFO;
static atomic_int access_fd = -1;
static atomic_bool access_owned; /* true when access_fd is a file we opened */
static char access_path[4096];   /* the file behind access_fd (for reopen), main thread only */

/* Thread-locals are limited to the thread's name and its access-log buffer (see log.h). */
static _Thread_local char thread_name[32] = "-";
static _Thread_local struct {
    size_t len;
    char buf[ACCESS_BUF_SIZE];
} access_buf;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void mtlb_log_set_level(int level)
{
    if (level < MTLB_LOG_ERROR) {
        level = MTLB_LOG_ERROR;
    }
    if (level > MTLB_LOG_DEBUG) {
        level = MTLB_LOG_DEBUG;
    }
    atomic_store_explicit(&log_level, level, memory_order_relaxed);
}

void mtlb_log_set_thread(const char *name)
{
    snprintf(thread_name, sizeof(thread_name), "%s", name ? name : "-");
    /* The kernel's name too, so that top -H, ps -L and perf tell an acceptor from a worker.
     * Not for the main thread: its name is the process's (pidof, pkill, ps -C). */
    if (name != NULL && gettid() != getpid()) {
        char comm[16]; /* the kernel keeps 15 bytes */
        snprintf(comm, sizeof(comm), "%s", name);
        pthread_setname_np(pthread_self(), comm);
    }
}

bool mtlb_log_enabled(int level)
{
    return level <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

uint64_t mtlb_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t mtlb_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Writes the whole of buf, retrying on EINTR and short writes; 0 or -errno. The error log
 * drops its errors (there is nowhere left to report them); the access log reports its own. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static size_t format_prefix(char *buf, size_t cap, int level)
{
    struct timespec ts;
    struct tm tm;
    char date[32];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    if (level < MTLB_LOG_ERROR || level > MTLB_LOG_DEBUG) {
        level = MTLB_LOG_ERROR;
    }
    int n = snprintf(buf, cap, "ts=%s.%03ldZ level=%s thread=%s ", date, ts.tv_nsec / 1000000L,
                     level_names[level], thread_name);
    return n < 0 ? 0 : ((size_t)n >= cap ? cap - 1 : (size_t)n);
}

/* Formats prefix, message and optional " suppressed=N" into one buffer (truncated to
 * LOG_LINE_MAX, newline kept) and writes it with a single write(2). */
static void log_emit(int level, uint32_t suppressed, const char *fmt, va_list ap)
{
    char line[LOG_LINE_MAX];
    const size_t room = sizeof(line) - 1; /* keep one byte for the newline */
    size_t len = format_prefix(line, room, level);

    int n = vsnprintf(line + len, room - len, fmt, ap);
    if (n > 0) {
        len += (size_t)n < room - len ? (size_t)n : room - len - 1;
    }
    if (suppressed > 0 && len < room - 1) {
        n = snprintf(line + len, room - len, " suppressed=%u", suppressed);
        if (n > 0) {
            len += (size_t)n < room - len ? (size_t)n : room - len - 1;
        }
    }
    line[len++] = '\n';
    write_all(STDERR_FILENO, line, len);
}

void mtlb_log(int level, const char *fmt, ...)
{
    va_list ap;

    if (!mtlb_log_enabled(level)) {
        return;
    }
    va_start(ap, fmt);
    log_emit(level, 0, fmt, ap);
    va_end(ap);
}

/* The fields are updated with __atomic builtins so concurrent callers never tear them. The
 * window reset (CAS on window_start_ms, then count = 0) is not one atomic step: a caller that
 * counts between the two may be forgotten, letting one extra line through in that second.
 * That race is benign and accepted. */
void mtlb_log_rl(struct mtlb_ratelimit *rl, unsigned per_sec, int level, const char *fmt, ...)
{
    va_list ap;

    if (!mtlb_log_enabled(level)) {
        return;
    }
    uint64_t now = mtlb_now_ms();
    uint64_t start = __atomic_load_n(&rl->window_start_ms, __ATOMIC_RELAXED);
    if (now - start >= 1000 && __atomic_compare_exchange_n(&rl->window_start_ms, &start, now, false,
                                                           __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
        __atomic_store_n(&rl->count, 0, __ATOMIC_RELAXED);
    }
    if (__atomic_fetch_add(&rl->count, 1, __ATOMIC_RELAXED) >= per_sec) {
        __atomic_fetch_add(&rl->suppressed, 1, __ATOMIC_RELAXED);
        return;
    }
    uint32_t suppressed = __atomic_exchange_n(&rl->suppressed, 0, __ATOMIC_RELAXED);
    va_start(ap, fmt);
    log_emit(level, suppressed, fmt, ap);
    va_end(ap);
}

const char *mtlb_log_quote(const char *s, char *buf, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    if (cap < 3) {
        if (cap > 0) {
            buf[0] = '\0';
        }
        return buf;
    }
    buf[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p != '\0'; p++) {
        char esc[4];
        size_t n = 0;
        if (*p == '"' || *p == '\\') {
            esc[n++] = '\\';
            esc[n++] = (char)*p;
        } else if (*p < 0x20 || *p == 0x7f) {
            esc[n++] = '\\';
            esc[n++] = 'x';
            esc[n++] = hex[*p >> 4];
            esc[n++] = hex[*p & 0xf];
        } else {
            esc[n++] = (char)*p;
        }
        /* Never split an escape; always leave room for the closing quote and NUL. */
        if (o + n + 2 > cap) {
            break;
        }
        memcpy(buf + o, esc, n);
        o += n;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

/* Main thread only, before workers start writing (and after they stopped, for close). */
int mtlb_access_open(const char *path)
{
    int fd;
    bool owned = false;

    mtlb_access_close();
    if (path == NULL) {
        return 0;
    }
    if (strcmp(path, "stdout") == 0) {
        fd = STDOUT_FILENO;
    } else if (strcmp(path, "stderr") == 0) {
        fd = STDERR_FILENO;
    } else {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd == -1) {
            return -errno;
        }
        owned = true;
        snprintf(access_path, sizeof(access_path), "%s", path);
    }
    atomic_store(&access_owned, owned);
    atomic_store(&access_fd, fd);
    return 0;
}

/* Main thread only. dup2 swaps the file behind the same descriptor number in one step, so
 * workers that are writing keep a valid fd throughout: each line lands whole in the old file
 * or in the new one. Lines still buffered in a worker go to the new file at its next flush. */
int mtlb_access_reopen(void)
{
    int fd = atomic_load(&access_fd);

    if (fd < 0 || !atomic_load(&access_owned)) {
        return 0; /* off, stdout or stderr: nothing to reopen */
    }
    int nfd = open(access_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (nfd == -1) {
        return -errno;
    }
    int rc = dup3(nfd, fd, O_CLOEXEC) == -1 ? -errno : 0;
    close(nfd);
    return rc;
}

const char *mtlb_access_path(void)
{
    return atomic_load(&access_owned) ? access_path : NULL;
}

/* Flushes the calling thread's buffer; other threads must have flushed theirs already. */
void mtlb_access_close(void)
{
    mtlb_access_flush();
    int fd = atomic_exchange(&access_fd, -1);
    if (fd >= 0 && atomic_exchange(&access_owned, false)) {
        close(fd);
    }
}

bool mtlb_access_enabled(void)
{
    return atomic_load_explicit(&access_fd, memory_order_relaxed) >= 0;
}

/* A failed access-log write (a full disk, an I/O error) loses those lines; the error log says
 * so, at most once a second for the whole process, with the errno. */
static void access_failed(int err, const char *buf, size_t len)
{
    static struct mtlb_ratelimit rl;
    size_t lines = 0;
    for (const char *p = buf; (p = memchr(p, '\n', len - (size_t)(p - buf))) != NULL; p++) {
        lines++;
    }
    mtlb_log_rl(&rl, 1, MTLB_LOG_ERROR, "event=access_log_write_failed error=\"%s\" lines_lost=%zu",
                strerror(err), lines);
}

void mtlb_access_flush(void)
{
    int fd = atomic_load_explicit(&access_fd, memory_order_relaxed);

    if (access_buf.len > 0 && fd >= 0) {
        int rc = write_all(fd, access_buf.buf, access_buf.len);
        if (rc != 0) {
            access_failed(-rc, access_buf.buf, access_buf.len);
        }
    }
    access_buf.len = 0;
}

void mtlb_access_write(const char *json_line, size_t len)
{
    int fd = atomic_load_explicit(&access_fd, memory_order_relaxed);

    if (fd < 0) {
        return;
    }
    if (access_buf.len + len + 1 > sizeof(access_buf.buf)) {
        mtlb_access_flush();
    }
    if (len + 1 > sizeof(access_buf.buf)) {
        /* Larger than the whole buffer: one writev keeps the line in one append. */
        struct iovec iov[2] = {{(void *)json_line, len}, {(void *)"\n", 1}};
        ssize_t n;
        do {
            n = writev(fd, iov, 2);
        } while (n == -1 && errno == EINTR);
        if (n == -1) {
            access_failed(errno, "\n", 1);
        }
        return;
    }
    memcpy(access_buf.buf + access_buf.len, json_line, len);
    access_buf.len += len;
    access_buf.buf[access_buf.len++] = '\n';
}
