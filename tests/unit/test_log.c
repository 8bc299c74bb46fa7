/* Logging: line format and single-write lines on fd 2, quoting, truncation, per-call-site
 * rate limiting with the suppressed count, and the buffered access log. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture.h"
#include "mtlb/log.h"

Test(log_quote, escapes_quotes_backslashes_and_controls)
{
    char buf[64];

    cr_assert_str_eq(mtlb_log_quote("a\"b\\c\nd\x7f"
                                    "e\x01",
                                    buf, sizeof(buf)),
                     "\"a\\\"b\\\\c\\x0ad\\x7fe\\x01\"");
    cr_assert_str_eq(mtlb_log_quote("", buf, sizeof(buf)), "\"\"");
    cr_assert_str_eq(mtlb_log_quote(NULL, buf, sizeof(buf)), "\"\"");
    cr_assert_str_eq(mtlb_log_quote("/C=PL/CN=é", buf, sizeof(buf)), "\"/C=PL/CN=é\"");
}

Test(log_quote, truncates_without_splitting_an_escape)
{
    char buf[8];

    /* Room for 5 payload bytes: "ab" then \x0a (4 bytes) does not fit. */
    cr_assert_str_eq(mtlb_log_quote("ab\ncd", buf, sizeof(buf)), "\"ab\"");
    cr_assert_str_eq(mtlb_log_quote("abcdefgh", buf, sizeof(buf)), "\"abcde\"");
    cr_assert_str_eq(mtlb_log_quote("abc", buf, 2), "");
}

Test(log_line, format_and_level)
{
    struct capture cap;
    char out[1024];
    int y, mo, d, h, mi, s, ms;
    char rest[512];

    mtlb_log_set_level(MTLB_LOG_WARN);
    mtlb_log_set_thread("acceptor-0");
    cr_assert(mtlb_log_enabled(MTLB_LOG_ERROR));
    cr_assert_not(mtlb_log_enabled(MTLB_LOG_INFO));
    capture_start(&cap);
    mtlb_log(MTLB_LOG_INFO, "event=hidden");
    mtlb_log(MTLB_LOG_WARN, "conn=%d event=%s", 17, "x");
    capture_end(&cap, out, sizeof(out));
    cr_assert_eq(count(out, "\n"), 1, "%s", out);
    cr_assert_eq(sscanf(out, "ts=%4d-%2d-%2dT%2d:%2d:%2d.%3dZ %511[^\n]", &y, &mo, &d, &h, &mi, &s,
                        &ms, rest),
                 8, "%s", out);
    cr_assert_geq(y, 2024);
    cr_assert_str_eq(rest, "level=warn thread=acceptor-0 conn=17 event=x");
}

Test(log_line, long_lines_are_truncated_to_4k)
{
    struct capture cap;
    static char out[16384];
    static char big[10000];

    memset(big, 'a', sizeof(big) - 1);
    mtlb_log_set_level(MTLB_LOG_INFO);
    capture_start(&cap);
    mtlb_log(MTLB_LOG_ERROR, "v=%s", big);
    size_t n = capture_end(&cap, out, sizeof(out));
    cr_assert_leq(n, 4096);
    cr_assert_gt(n, 4000);
    cr_assert_eq(out[n - 1], '\n');
    cr_assert_eq(count(out, "\n"), 1);
    cr_assert(strstr(out, "level=error") != NULL);
}

Test(log_rl, suppresses_and_reports_count)
{
    static struct mtlb_ratelimit rl;
    struct capture cap;
    char out[4096];

    mtlb_log_set_level(MTLB_LOG_INFO);
    capture_start(&cap);
    for (int i = 0; i < 10; i++) {
        mtlb_log_rl(&rl, 3, MTLB_LOG_WARN, "event=flood i=%d", i);
    }
    /* Pretend the second is over. */
    rl.window_start_ms -= 1000;
    mtlb_log_rl(&rl, 3, MTLB_LOG_WARN, "event=flood i=%d", 10);
    mtlb_log_rl(&rl, 3, MTLB_LOG_WARN, "event=flood i=%d", 11);
    capture_end(&cap, out, sizeof(out));
    cr_assert_eq(count(out, "event=flood"), 5, "%s", out);
    cr_assert(strstr(out, "i=2\n") != NULL, "%s", out);
    cr_assert_null(strstr(out, "i=3"), "%s", out);
    cr_assert(strstr(out, "event=flood i=10 suppressed=7\n") != NULL, "%s", out);
    cr_assert(strstr(out, "event=flood i=11\n") != NULL, "%s", out);
}

Test(log_time, monotonic_ms)
{
    uint64_t a = mtlb_now_ms();
    usleep(20000);
    uint64_t b = mtlb_now_ms();

    cr_assert_geq(b - a, 15);
    cr_assert_lt(b - a, 5000);
}

static off_t file_size(const char *path)
{
    struct stat st;

    cr_assert_eq(stat(path, &st), 0);
    return st.st_size;
}

Test(access_log, buffers_until_flush_and_appends)
{
    char path[] = "/tmp/mtlb-test-access-XXXXXX";
    int fd = mkstemp(path);

    cr_assert_neq(fd, -1);
    cr_assert_eq(write(fd, "old\n", 4), 4);
    close(fd);
    cr_assert_eq(mtlb_access_open(path), 0);
    mtlb_access_write("{\"a\":1}", 7);
    mtlb_access_write("{\"b\":2}", 7);
    cr_assert_eq(file_size(path), 4, "nothing is written before a flush");
    mtlb_access_flush();
    cr_assert_eq(file_size(path), 4 + 16);

    /* Filling the 64 KiB buffer flushes it without an explicit call. */
    static char line[1000];
    memset(line, 'x', sizeof(line));
    for (int i = 0; i < 70; i++) {
        mtlb_access_write(line, sizeof(line));
    }
    off_t mid = file_size(path);
    cr_assert_gt(mid, 4 + 16);
    cr_assert_eq((mid - 20) % 1001, 0, "only whole lines are written");
    mtlb_access_close();
    cr_assert_eq(file_size(path), 4 + 16 + 70 * 1001, "close flushes the rest");

    FILE *fp = fopen(path, "r");
    char first[16];
    cr_assert(fgets(first, sizeof(first), fp) != NULL);
    cr_assert_str_eq(first, "old\n");
    cr_assert(fgets(first, sizeof(first), fp) != NULL);
    cr_assert_str_eq(first, "{\"a\":1}\n");
    fclose(fp);
    unlink(path);
}

Test(access_log, oversized_line_is_written_whole)
{
    char path[] = "/tmp/mtlb-test-access-XXXXXX";
    int fd = mkstemp(path);
    static char big[100000];

    cr_assert_neq(fd, -1);
    close(fd);
    memset(big, 'y', sizeof(big));
    cr_assert_eq(mtlb_access_open(path), 0);
    mtlb_access_write("{}", 2);
    mtlb_access_write(big, sizeof(big));
    cr_assert_eq(file_size(path), 3 + (off_t)sizeof(big) + 1, "order kept, one line each");
    mtlb_access_close();
    unlink(path);
}

Test(access_log, off_and_errors)
{
    cr_assert_eq(mtlb_access_open(NULL), 0);
    mtlb_access_write("{}", 2); /* ignored, must not crash */
    mtlb_access_flush();
    cr_assert_eq(mtlb_access_open("/nonexistent-dir/access.log"), -ENOENT);
    mtlb_access_close();
}
