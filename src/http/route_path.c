/* Request routing: path normalization and the checks of configured paths (mtlb/route.h).
 * Pure: no I/O, no logging, no allocation. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "route_int.h"

/* ---- normalization ---- */

static bool unreserved(unsigned c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static ssize_t decode(const char *in, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c <= 0x20 || c >= 0x7f || c == '#') {
            return -EINVAL;
        }
        if (c != '%') {
            if (o + 1 > cap) {
                return -ENOSPC;
            }
            out[o++] = (char)c;
            continue;
        }
        int h = i + 2 < len ? hexval(in[i + 1]) : -1;
        int l = h >= 0 ? hexval(in[i + 2]) : -1;
        if (l < 0) {
            return -EINVAL;
        }
        unsigned v = (unsigned)(h * 16 + l);
        i += 2;
        if (unreserved(v)) {
            if (o + 1 > cap) {
                return -ENOSPC;
            }
            out[o++] = (char)v;
        } else {
            if (o + 3 > cap) {
                return -ENOSPC;
            }
            out[o++] = '%';
            out[o++] = hex[h];
            out[o++] = hex[l];
        }
    }
    return (ssize_t)o;
}

static bool is_dots(const char *p, size_t n)
{
    return (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.');
}

/* Length of a slash spelled otherwise (%2F, %5C, '\') at p, or 0. */
static size_t alt_slash(const char *p, size_t n)
{
    if (n >= 1 && p[0] == '\\') {
        return 1;
    }
    if (n >= 3 && p[0] == '%' && ((p[1] == '2' && p[2] == 'F') || (p[1] == '5' && p[2] == 'C'))) {
        return 3;
    }
    return 0;
}

/* Would a backend that decodes slashes see a dot segment in this segment? */
static bool hidden_dots(const char *seg, size_t n)
{
    size_t start = 0;
    bool split = false;

    for (size_t i = 0; i <= n;) {
        size_t k = i < n ? alt_slash(seg + i, n - i) : 1;
        if (k == 0) {
            i++;
            continue;
        }
        if (is_dots(seg + start, i - start) && (split || i < n)) {
            return true;
        }
        split = true;
        i += k;
        start = i;
    }
    return false;
}

ssize_t mtlb_route_normalize(const char *in, size_t len, char *out, size_t cap)
{
    ssize_t n = decode(in, len, out, cap);

    if (n < 0) {
        return n;
    }
    if (n == 0) {
        if (cap < 1) {
            return -ENOSPC;
        }
        out[0] = '/';
        return 1;
    }
    if (out[0] != '/') {
        return -EINVAL;
    }
    /* In place: the output never overtakes the input. */
    size_t r = 0;
    size_t w = 0;
    while (r < (size_t)n) {
        size_t start = ++r;
        while (r < (size_t)n && out[r] != '/') {
            r++;
        }
        size_t sl = r - start;
        bool last = r == (size_t)n;
        /* ".." or "." with parameters ("..;x"): servlet containers drop the parameters and
         * climb, so the segment could lead out of the prefix it was matched under. */
        const char *semi = memchr(out + start, ';', sl);
        if (hidden_dots(out + start, sl) ||
            (semi != NULL && is_dots(out + start, (size_t)(semi - (out + start))))) {
            return -EINVAL;
        }
        if (is_dots(out + start, sl)) {
            if (sl == 2) {
                while (w > 0 && out[w - 1] != '/') {
                    w--;
                }
                w = w > 0 ? w - 1 : 0;
            }
            if (last) {
                out[w++] = '/';
            }
            continue;
        }
        out[w++] = '/';
        memmove(out + w, out + start, sl);
        w += sl;
    }
    return (ssize_t)w;
}

/* ---- configuration checks ---- */

bool mtlb_route_split_pattern(const char *p, size_t *lit_len, const char **var, size_t *var_len,
                              const char **suffix)
{
    const char *open = strchr(p, '{');
    const char *close = open ? strchr(open, '}') : NULL;

    if (open == NULL || close == NULL || open == p || open[-1] != '/' || close == open + 1) {
        return false;
    }
    for (const char *q = open + 1; q < close; q++) {
        if (!(unreserved((unsigned char)*q) && *q != '.' && *q != '~' && *q != '-')) {
            return false;
        }
    }
    if ((close[1] != '\0' && close[1] != '/') || strpbrk(close + 1, "{}") != NULL ||
        memchr(p, '}', (size_t)(open - p)) != NULL) {
        return false;
    }
    *lit_len = (size_t)(open - p);
    *var = open + 1;
    *var_len = (size_t)(close - open - 1);
    *suffix = close + 1;
    return true;
}

/* Is s (without braces) in normalized form? */
static int check_normal(const char *s, size_t n, char *why, size_t cap)
{
    char buf[1024];

    if (n == 0 || s[0] != '/') {
        snprintf(why, cap, "must start with /");
        return -EINVAL;
    }
    if (n >= sizeof(buf)) {
        snprintf(why, cap, "is too long (at most %zu bytes)", sizeof(buf) - 1);
        return -EINVAL;
    }
    ssize_t k = mtlb_route_normalize(s, n, buf, sizeof(buf));
    if (k < 0) {
        snprintf(why, cap, "is not a valid path (percent-encoding, dot segments, characters)");
        return -EINVAL;
    }
    if ((size_t)k != n || memcmp(buf, s, n) != 0) {
        snprintf(why, cap, "is not in normalized form: write %.*s", (int)k, buf);
        return -EINVAL;
    }
    return 0;
}

int mtlb_route_check_path(const struct mtlb_route_cfg *r, char *why, size_t cap)
{
    if (r->kind != MTLB_ROUTE_PATTERN) {
        if (strpbrk(r->path, "{}") != NULL) {
            snprintf(why, cap, "holds a brace: write it as path_pattern");
            return -EINVAL;
        }
        return check_normal(r->path, strlen(r->path), why, cap);
    }
    size_t lit, vl;
    const char *var, *suffix;
    if (!mtlb_route_split_pattern(r->path, &lit, &var, &vl, &suffix)) {
        snprintf(why, cap,
                 "needs exactly one {name} segment (name: letters, digits, _), after a / and "
                 "followed by / or the end, as \"/{app}/\"");
        return -EINVAL;
    }
    int rc = check_normal(r->path, lit, why, cap);
    if (rc == 0 && *suffix != '\0') {
        rc = check_normal(suffix, strlen(suffix), why, cap);
    }
    return rc;
}
