/* Config scalars: strings, bounded integers, durations, word choices, file paths resolved
 * against the config directory, host:port addresses and SNI names.
 * Pure: paths are only joined as strings, never opened or checked on disk. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

bool mtlb_cfg_is_null(const yaml_node_t *node)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};

    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        return false;
    }
    for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++) {
        if (node->data.scalar.length == strlen(nulls[i]) &&
            memcmp(node->data.scalar.value, nulls[i], node->data.scalar.length) == 0) {
            return true;
        }
    }
    return false;
}

static bool cfg_isalnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The text of a non-null, non-empty scalar without NUL bytes; false for anything else. */
static bool cfg_scalar(const yaml_node_t *node, const char **s, size_t *len)
{
    if (node->type != YAML_SCALAR_NODE || mtlb_cfg_is_null(node)) {
        return false;
    }
    *s = (const char *)node->data.scalar.value;
    *len = node->data.scalar.length;
    return *len > 0 && memchr(*s, '\0', *len) == NULL;
}

/* The scalar's text if node is a non-null scalar without NUL bytes, else an error. */
static int cfg_text(struct cfg_ctx *ctx, const yaml_node_t *node, const char **s, size_t *len)
{
    char what[80];

    if (node->type != YAML_SCALAR_NODE || mtlb_cfg_is_null(node)) {
        mtlb_cfg_quote(node, what, sizeof(what));
        return mtlb_cfg_err(ctx, node, "expected a string, got %s", what);
    }
    *s = (const char *)node->data.scalar.value;
    *len = node->data.scalar.length;
    if (memchr(*s, '\0', *len) != NULL) {
        return mtlb_cfg_err(ctx, node, "must not contain a NUL byte");
    }
    if (*len == 0) {
        return mtlb_cfg_err(ctx, node, "must not be empty");
    }
    return 0;
}

int mtlb_cfg_str(struct cfg_ctx *ctx, const yaml_node_t *node, char **out)
{
    const char *s = NULL;
    size_t len = 0;
    int rc = cfg_text(ctx, node, &s, &len);

    if (rc != 0) {
        return rc;
    }
    char *copy = strndup(s, len);
    if (copy == NULL) {
        return mtlb_cfg_oom(ctx);
    }
    free(*out); /* defaults are heap strings too */
    *out = copy;
    return 0;
}

/* Decimal digits only, no sign or spaces; *end is set past them. False on overflow. */
static bool cfg_digits(const char *s, size_t len, uint64_t *v, size_t *end)
{
    size_t i = 0;

    *v = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
        *v = *v * 10 + (uint64_t)(s[i] - '0');
        if (*v > UINT32_MAX) {
            return false;
        }
        i++;
    }
    *end = i;
    return i > 0;
}

int mtlb_cfg_uint(struct cfg_ctx *ctx, const yaml_node_t *node, uint32_t min, uint32_t max,
                  uint32_t *out)
{
    const char *s = "";
    size_t len = 0;
    size_t end = 0;
    uint64_t v = 0;
    char what[80];

    if (!cfg_scalar(node, &s, &len) || !cfg_digits(s, len, &v, &end) || end != len || v < min ||
        v > max) {
        mtlb_cfg_quote(node, what, sizeof(what));
        return mtlb_cfg_err(ctx, node, "expected an integer in %u..%u, got %s", min, max, what);
    }
    *out = (uint32_t)v;
    return 0;
}

static int cfg_duration(struct cfg_ctx *ctx, const yaml_node_t *node, bool allow_zero,
                        uint32_t *out_ms)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {{"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    const char *s = "";
    size_t len = 0;
    size_t end = 0;
    uint64_t v = 0;
    char what[80];

    if (cfg_scalar(node, &s, &len) && cfg_digits(s, len, &v, &end)) {
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            if (len - end != strlen(units[i].unit) || memcmp(s + end, units[i].unit, len - end)) {
                continue;
            }
            if (v == 0 && !allow_zero) {
                return mtlb_cfg_err(ctx, node, "duration must be greater than 0");
            }
            if (v * units[i].ms > UINT32_MAX) {
                return mtlb_cfg_err(ctx, node, "duration too long (at most %ums)", UINT32_MAX);
            }
            *out_ms = (uint32_t)(v * units[i].ms);
            return 0;
        }
    }
    mtlb_cfg_quote(node, what, sizeof(what));
    return mtlb_cfg_err(ctx, node, "expected a duration such as 500ms, 10s, 2m or 30, got %s",
                        what);
}

int mtlb_cfg_duration(struct cfg_ctx *ctx, const yaml_node_t *node, uint32_t *out_ms)
{
    return cfg_duration(ctx, node, false, out_ms);
}

int mtlb_cfg_duration0(struct cfg_ctx *ctx, const yaml_node_t *node, uint32_t *out_ms)
{
    return cfg_duration(ctx, node, true, out_ms);
}

/* One end of a status range: "200" or "2xx" (the low end reads 200, the high end 299). */
static bool status_end(const char *s, size_t len, bool hi, unsigned *out)
{
    if (len != 3 || s[0] < '1' || s[0] > '5') {
        return false;
    }
    if (s[1] == 'x' && s[2] == 'x') {
        *out = (unsigned)(s[0] - '0') * 100 + (hi ? 99 : 0);
        return true;
    }
    if (s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9') {
        return false;
    }
    *out = (unsigned)(s[0] - '0') * 100 + (unsigned)(s[1] - '0') * 10 + (unsigned)(s[2] - '0');
    return true;
}

int mtlb_cfg_status_range(struct cfg_ctx *ctx, const yaml_node_t *node, uint16_t *lo, uint16_t *hi)
{
    char *s = NULL;
    int rc = mtlb_cfg_str(ctx, node, &s);

    if (rc != 0) {
        return rc;
    }
    const char *dash = strchr(s, '-');
    size_t first = dash ? (size_t)(dash - s) : strlen(s);
    const char *second = dash ? dash + 1 : s;
    unsigned a = 0, b = 0;
    bool ok =
        status_end(s, first, false, &a) && status_end(second, strlen(second), true, &b) && a <= b;
    free(s);
    if (!ok) {
        return mtlb_cfg_err(ctx, node,
                            "expected a status range such as 2xx-3xx, 200-299, 200 or "
                            "2xx (statuses 100-599, low end first)");
    }
    *lo = (uint16_t)a;
    *hi = (uint16_t)b;
    return 0;
}

int mtlb_cfg_choice(struct cfg_ctx *ctx, const yaml_node_t *node, const char *const *words,
                    size_t n_words, int *out)
{
    char list[160] = "";
    char what[80];
    size_t n = 0;

    if (node->type == YAML_SCALAR_NODE) {
        for (size_t i = 0; i < n_words; i++) {
            if (node->data.scalar.length == strlen(words[i]) &&
                memcmp(node->data.scalar.value, words[i], node->data.scalar.length) == 0) {
                *out = (int)i;
                return 0;
            }
        }
    }
    for (size_t i = 0; i < n_words && n < sizeof(list); i++) {
        int w = snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", words[i]);
        n += w > 0 ? (size_t)w : 0;
    }
    mtlb_cfg_quote(node, what, sizeof(what));
    return mtlb_cfg_err(ctx, node, "expected one of %s, got %s", list, what);
}

int mtlb_cfg_path(struct cfg_ctx *ctx, const yaml_node_t *node, char **out)
{
    const char *s;
    size_t len;
    int rc = cfg_text(ctx, node, &s, &len);

    if (rc != 0) {
        return rc;
    }
    while (s[0] != '/' && len > 2 && s[0] == '.' && s[1] == '/') {
        s += 2;
        len -= 2;
    }
    const char *dir = s[0] == '/' ? "" : ctx->base_dir;
    size_t dlen = strlen(dir);
    bool sep = dlen > 0 && dir[dlen - 1] != '/';
    char *p = malloc(dlen + sep + len + 1);
    if (p == NULL) {
        return mtlb_cfg_oom(ctx);
    }
    memcpy(p, dir, dlen);
    if (sep) {
        p[dlen] = '/';
    }
    memcpy(p + dlen + sep, s, len);
    p[dlen + sep + len] = '\0';
    free(*out);
    *out = p;
    return 0;
}

static bool cfg_host_ok(const char *h, size_t len, bool v6)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)h[i];
        bool ok =
            cfg_isalnum(c) || c == '.' || c == '-' || c == '_' || (v6 && (c == ':' || c == '%'));
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* Splits "host:port", "[v6]:port" or ":port" into host (no brackets) and port text. */
/* A host of digits and dots only can be nothing but an IPv4 literal (a DNS name's last label
 * is never all-numeric): four decimal parts of 0..255, as inet_pton(AF_INET) reads it. */
static bool cfg_numeric_host(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '.' && (s[i] < '0' || s[i] > '9')) {
            return false;
        }
    }
    return len > 0;
}

static bool cfg_ipv4_ok(const char *s, size_t len)
{
    size_t parts = 0, i = 0;

    while (i <= len) {
        size_t digits = 0;
        unsigned v = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && digits < 4) {
            v = v * 10 + (unsigned)(s[i++] - '0');
            digits++;
        }
        if (digits == 0 || digits > 3 || v > 255 || (digits > 1 && s[i - digits] == '0')) {
            return false;
        }
        parts++;
        if (i == len) {
            break;
        }
        if (s[i++] != '.') {
            return false;
        }
    }
    return parts == 4;
}

static const char *cfg_split_addr(const char *s, size_t len, size_t *hlen, const char **port,
                                  size_t *plen)
{
    const char *host = s;
    const char *colon;

    if (s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL || close + 1 == s + len || close[1] != ':') {
            return "expected [v6]:port";
        }
        host = s + 1;
        *hlen = (size_t)(close - host);
        colon = close + 1;
        if (*hlen == 0 || !cfg_host_ok(host, *hlen, true) || !memchr(host, ':', *hlen)) {
            return "invalid IPv6 address";
        }
    } else {
        colon = memrchr(s, ':', len);
        if (colon == NULL) {
            return "expected host:port";
        }
        *hlen = (size_t)(colon - s);
        if (memchr(s, ':', *hlen) != NULL) {
            return "IPv6 addresses need brackets, e.g. [::1]:8443";
        }
        if (!cfg_host_ok(host, *hlen, false)) {
            return "invalid host";
        }
        if (cfg_numeric_host(host, *hlen) && !cfg_ipv4_ok(host, *hlen)) {
            return "invalid IPv4 address (four parts of 0..255)";
        }
    }
    *port = colon + 1;
    *plen = len - (size_t)(*port - s);
    return NULL;
}

int mtlb_cfg_addr(struct cfg_ctx *ctx, const yaml_node_t *node, bool allow_empty_host, char **host,
                  uint16_t *port)
{
    const char *s, *p = NULL;
    size_t len, hlen = 0, plen = 0, end = 0;
    uint64_t v = 0;
    char what[80];
    int rc = cfg_text(ctx, node, &s, &len);

    if (rc != 0) {
        return rc;
    }
    const char *problem = cfg_split_addr(s, len, &hlen, &p, &plen);
    if (problem == NULL && hlen == 0 && !allow_empty_host) {
        problem = "missing host";
    }
    if (problem == NULL && (!cfg_digits(p, plen, &v, &end) || end != plen || v < 1 || v > 65535)) {
        problem = "port must be 1..65535";
    }
    if (problem != NULL) {
        mtlb_cfg_quote(node, what, sizeof(what));
        return mtlb_cfg_err(ctx, node, "%s, got %s", problem, what);
    }
    const char *h = s[0] == '[' ? s + 1 : s;
    char *copy = hlen ? strndup(h, hlen) : strdup("0.0.0.0");
    if (copy == NULL) {
        return mtlb_cfg_oom(ctx);
    }
    free(*host);
    *host = copy;
    *port = (uint16_t)v;
    return 0;
}

/* Host-name labels: letters, digits, '-' and '_', none empty. */
static bool cfg_labels_ok(const char *s, size_t len)
{
    size_t label = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0) {
                return false;
            }
            label = 0;
        } else if (cfg_isalnum(c) || c == '-' || c == '_') {
            label++;
        } else {
            return false;
        }
    }
    return label > 0;
}

int mtlb_cfg_sni_name(struct cfg_ctx *ctx, const yaml_node_t *node, char **out)
{
    const char *s;
    size_t len;
    char what[80];
    int rc = cfg_text(ctx, node, &s, &len);

    if (rc != 0) {
        return rc;
    }
    size_t skip = len > 2 && s[0] == '*' && s[1] == '.' ? 2 : 0;
    if (len > 253 || !cfg_labels_ok(s + skip, len - skip)) {
        mtlb_cfg_quote(node, what, sizeof(what));
        return mtlb_cfg_err(ctx, node, "expected a host name or *.domain, got %s", what);
    }
    char *name = strndup(s, len);
    if (name == NULL) {
        return mtlb_cfg_oom(ctx);
    }
    for (char *c = name; *c; c++) {
        if (*c >= 'A' && *c <= 'Z') {
            *c = (char)(*c - 'A' + 'a');
        }
    }
    *out = name;
    return 0;
}

/* A literal only: a name could resolve anywhere, and the check must not depend on DNS or
 * /etc/hosts (inet_pton parses, it does no I/O). */
bool mtlb_cfg_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;

    if (inet_pton(AF_INET, host, &a4) == 1) {
        return (ntohl(a4.s_addr) >> 24) == 127;
    }
    return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}
