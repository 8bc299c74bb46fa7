/* Request authorities: one parser and normalizer for Host, absolute-form targets and
 * :authority, and the rule that picks a request's authority. A spelling this module accepts
 * normalizes to exactly one name, and the backend is sent that name, so no spelling can name
 * one domain to the 421 check and another to the backend. Pure: no I/O, no logging. */
#include "mtlb/authority.h"

#include <errno.h>
#include <string.h>

static unsigned char lower(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') ? (unsigned char)(ch | 0x20) : ch;
}

static bool is_alnum(unsigned char ch)
{
    ch = lower(ch);
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

static bool is_hex(unsigned char ch)
{
    ch = lower(ch);
    return (ch >= 'a' && ch <= 'f') || (ch >= '0' && ch <= '9');
}

/* reg-name restricted to what names and IPv4 addresses use: no pct-encoding (a backend that
 * decodes "%2e" would see another name) and no sub-delims. */
static bool is_name_char(unsigned char ch)
{
    return is_alnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

/* "[" IPv6address "]" with the brackets: only hex digits, ":" and "." (an IPv4 tail) inside,
 * at least two colons; IPvFuture ("v1.x") and zone identifiers ("%25eth0") are refused. */
static bool ip_literal_ok(const char *p, size_t n)
{
    size_t colons = 0;

    if (n < 4 || n > 47 || p[0] != '[' || p[n - 1] != ']') {
        return false;
    }
    for (size_t i = 1; i + 1 < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == ':') {
            colons++;
        } else if (!is_hex(ch) && ch != '.') {
            return false;
        }
    }
    return colons >= 2;
}

/* A name without empty labels (the one trailing dot is already gone). */
static bool name_ok(const char *p, size_t n)
{
    if (n == 0 || p[0] == '.' || p[n - 1] == '.') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_name_char((unsigned char)p[i]) || (p[i] == '.' && p[i + 1] == '.')) {
            return false;
        }
    }
    return true;
}

/* Decimal digits, at most 5, at most 65535; empty means no port. */
static int parse_port(const char *p, size_t n, int *port)
{
    int v = 0;

    if (n == 0) {
        *port = -1;
        return 0;
    }
    if (n > 5) {
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -EINVAL;
        }
        v = v * 10 + (p[i] - '0');
    }
    if (v > 65535) {
        return -EINVAL;
    }
    *port = v;
    return 0;
}

int mtlb_authority_parse(struct mtlb_slice in, struct mtlb_authority *out)
{
    const char *p = in.p;
    size_t n = in.len;
    size_t host_len;

    if (n == 0 || memchr(p, '@', n) != NULL) {
        return -EINVAL; /* empty, or userinfo: never let "x@" pose as part of the host */
    }
    if (p[0] == '[') {
        const char *close = memchr(p, ']', n);
        host_len = close != NULL ? (size_t)(close - p) + 1 : 0;
        if (host_len == 0 || !ip_literal_ok(p, host_len)) {
            return -EINVAL;
        }
    } else {
        const char *colon = memchr(p, ':', n);
        host_len = colon != NULL ? (size_t)(colon - p) : n;
    }
    if (host_len < n && p[host_len] != ':') {
        return -EINVAL; /* "[::1]x" */
    }
    size_t port_at = host_len < n ? host_len + 1 : n;
    if (parse_port(p + port_at, n - port_at, &out->port) != 0) {
        return -EINVAL;
    }
    if (p[0] != '[' && host_len > 0 && p[host_len - 1] == '.') {
        host_len--; /* "example.com." is the same name, as a DNS root-qualified name */
    }
    if (host_len == 0 || host_len > MTLB_AUTHORITY_HOST_MAX ||
        (p[0] != '[' && !name_ok(p, host_len))) {
        return -EINVAL;
    }
    for (size_t i = 0; i < host_len; i++) {
        out->host[i] = (char)lower((unsigned char)p[i]);
    }
    out->host[host_len] = '\0';
    out->host_len = host_len;
    return 0;
}

static bool slice_is_ci(struct mtlb_slice s, const char *lower_str)
{
    return mtlb_h1_name_is(s, lower_str);
}

int mtlb_authority_default_port(struct mtlb_slice scheme)
{
    if (slice_is_ci(scheme, "https")) {
        return 443;
    }
    return slice_is_ci(scheme, "http") ? 80 : -1;
}

bool mtlb_authority_same(const struct mtlb_authority *a, const struct mtlb_authority *b,
                         int default_port)
{
    int pa = a->port >= 0 ? a->port : default_port;
    int pb = b->port >= 0 ? b->port : default_port;

    return a->host_len == b->host_len && memcmp(a->host, b->host, a->host_len) == 0 && pa == pb;
}

/* The single Host field of req: 0 with *host set (len 0 and NULL p when absent), or -EINVAL
 * when there are several (the parsers refuse that already; this module does not rely on it). */
static int find_host(const struct mtlb_h1_message *req, const struct mtlb_slice **host)
{
    *host = NULL;
    for (size_t i = 0; i < req->num_headers; i++) {
        if (mtlb_h1_name_is(req->headers[i].name, "host")) {
            if (*host != NULL) {
                return -EINVAL;
            }
            *host = &req->headers[i].value;
        }
    }
    return 0;
}

/* Length of "http://" or "https://" at the start of t (any case), or 0. */
static size_t scheme_len(struct mtlb_slice t)
{
    if (t.len >= 7 && slice_is_ci((struct mtlb_slice){t.p, 7}, "http://")) {
        return 7;
    }
    if (t.len >= 8 && slice_is_ci((struct mtlb_slice){t.p, 8}, "https://")) {
        return 8;
    }
    return 0;
}

/* Methods are case-sensitive (RFC 9110 section 9.1). */
static bool is_options(struct mtlb_slice m)
{
    return m.len == 7 && memcmp(m.p, "OPTIONS", 7) == 0;
}

/* Absolute form: the authority ends at the first "/", "?" or "#" (RFC 3986 section 3.2). */
static int absolute_form(const struct mtlb_h1_message *req, size_t skip,
                         struct mtlb_authority_request *out)
{
    struct mtlb_slice t = req->target;
    size_t end = skip;

    while (end < t.len && t.p[end] != '/' && t.p[end] != '?' && t.p[end] != '#') {
        end++;
    }
    if (mtlb_authority_parse((struct mtlb_slice){t.p + skip, end - skip}, &out->authority) != 0) {
        return -EINVAL;
    }
    if (end == t.len) {
        /* RFC 9112 section 3.2.1 ("/") and 3.2.4 ("*" for OPTIONS) */
        out->target =
            is_options(req->method) ? (struct mtlb_slice){"*", 1} : (struct mtlb_slice){"/", 1};
        return 0;
    }
    if (t.p[end] == '#') {
        return -EINVAL; /* a request target carries no fragment */
    }
    out->target = (struct mtlb_slice){t.p + end, t.len - end};
    out->slash = t.p[end] == '?';
    return 0;
}

int mtlb_authority_from_request(const struct mtlb_h1_message *req,
                                struct mtlb_authority_request *out)
{
    struct mtlb_slice t = req->target;
    const struct mtlb_slice *host;
    struct mtlb_authority from_host;
    size_t skip = scheme_len(t);

    memset(out, 0, sizeof(*out));
    out->authority.port = -1;
    out->target = t;
    if (find_host(req, &host) != 0 ||
        (host != NULL && mtlb_authority_parse(*host, &from_host) != 0)) {
        return -EINVAL;
    }
    if (skip > 0) {
        return absolute_form(req, skip, out); /* the target's authority wins over Host */
    }
    if (t.len == 0 ||
        (t.p[0] != '/' && !(t.len == 1 && t.p[0] == '*' && is_options(req->method)))) {
        return -EINVAL; /* authority form, another scheme, or no target at all */
    }
    if (host != NULL) {
        out->authority = from_host;
        return 0;
    }
    return req->minor_version == 0 ? 0 : -EINVAL; /* RFC 9112 section 3.2 */
}
