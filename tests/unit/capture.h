/* Test helpers shared by the unit suites that assert on log output: redirect fd 2 into a
 * temporary file for the duration of a test step, then read it back. */
#ifndef MTLB_TEST_CAPTURE_H
#define MTLB_TEST_CAPTURE_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct capture {
    int saved;
    int fd;
};

static inline void capture_start(struct capture *cap)
{
    char path[] = "/tmp/mtlb-test-log-XXXXXX";

    cap->fd = mkstemp(path);
    cr_assert_neq(cap->fd, -1);
    unlink(path);
    cap->saved = dup(2);
    cr_assert_neq(dup2(cap->fd, 2), -1);
}

/* Restores fd 2 and copies what was written (NUL-terminated) into out; returns its length. */
static inline size_t capture_end(struct capture *cap, char *out, size_t cap_len)
{
    dup2(cap->saved, 2);
    close(cap->saved);
    ssize_t n = pread(cap->fd, out, cap_len - 1, 0);
    close(cap->fd);
    out[n > 0 ? n : 0] = '\0';
    return n > 0 ? (size_t)n : 0;
}

/* Occurrences of needle in hay. */
static inline int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

#endif
