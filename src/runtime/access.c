/* The access log line of one exchange: JSON, one line per request, with the client identity
 * and the transport. Built on the worker's stack and appended to the thread's buffer. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mtlb/log.h"
#include "mtlb/runtime.h"

void mtlb_access_log_exchange(struct mtlb_client *c);

#define ACCESS_LINE_MAX 4096
/* Room kept at the end of the line for `,"truncated":true}`: a long field is cut, the line is
 * never dropped (an audit trail with holes is worse than one with a cut URL). */
#define ACCESS_TAIL 24

struct jline {
    char *p;
    size_t pos;
    size_t cap; /* where fields must stop: the buffer size minus ACCESS_TAIL */
    bool truncated;
};

/* Appends s (len bytes) as a JSON string body, at most up to `limit`; an escape is never
 * split. Sets truncated when a byte of s did not fit. */
static void json_str(struct jline *l, size_t limit, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        size_t need = (ch == '"' || ch == '\\') ? 2 : (ch < 0x20 || ch >= 0x7f) ? 6 : 1;
        if (l->pos + need > limit) {
            l->truncated = true;
            return;
        }
        if (need == 2) {
            l->p[l->pos++] = '\\';
            l->p[l->pos++] = (char)ch;
        } else if (need == 6) {
            memcpy(l->p + l->pos, "\\u00", 4);
            l->p[l->pos + 4] = hex[ch >> 4];
            l->p[l->pos + 5] = hex[ch & 15];
            l->pos += 6;
        } else {
            l->p[l->pos++] = (char)ch;
        }
    }
}

/* ,"key":"value" with value cut to at most max_out bytes of JSON (and to the line's room). */
static void json_field(struct jline *l, const char *key, const char *s, size_t len, size_t max_out)
{
    size_t klen = strlen(key);
    if (l->pos + klen + 6 > l->cap) {
        l->truncated = true;
        return;
    }
    l->p[l->pos++] = ',';
    l->p[l->pos++] = '"';
    memcpy(l->p + l->pos, key, klen);
    l->pos += klen;
    memcpy(l->p + l->pos, "\":\"", 3);
    l->pos += 3;
    size_t limit = l->cap - 1; /* the closing quote */
    if (max_out < limit - l->pos) {
        limit = l->pos + max_out;
    }
    json_str(l, limit, s, len);
    l->p[l->pos++] = '"';
}

void mtlb_access_log_line(struct mtlb_client *c, int status, uint64_t bytes, uint64_t started_ms,
                          const struct mtlb_upstream *up, struct mtlb_slice method,
                          struct mtlb_slice path, const char *proto, int error)
{
    char line[ACCESS_LINE_MAX];
    struct timespec ts;
    struct tm tm;

    if (!mtlb_access_enabled()) {
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    const char *upstream = up ? mtlb_upstream_name(up) : "";
    uint64_t now = c->w->now_ms;
    int n = snprintf(
        line, sizeof(line),
        "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"conn\":%llu,"
        "\"client\":\"%s\",\"status\":%d,\"bytes\":%llu,\"duration_ms\":%llu,"
        "\"transport\":\"%s\",\"proto\":\"%s\",\"verify\":\"%s\",\"upstream\":\"%s\"",
        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
        ts.tv_nsec / 1000000, (unsigned long long)c->id, c->ip, status, (unsigned long long)bytes,
        (unsigned long long)(started_ms != 0 && started_ms <= now ? now - started_ms : 0),
        mtlb_transport_name(c->transport), proto, mtlb_identity_verify_word(c->identity.verify),
        upstream);
    if (n < 0 || (size_t)n >= sizeof(line) - ACCESS_TAIL) {
        return; /* fixed-size fields only: cannot happen */
    }
    struct jline l = {line, (size_t)n, sizeof(line) - ACCESS_TAIL, false};
    const char *why = status >= 500 ? mtlb_upstream_error_name(error) : NULL;
    if (why != NULL) {
        json_field(&l, "error", why, strlen(why), 32);
    }
    /* Budgets keep the identity visible whatever the URL's length. */
    if (method.len > 0) {
        json_field(&l, "method", method.p, method.len, 64);
        /* Below the 2048 bytes an HTTP/2 stream keeps of its path, so a cut shows. */
        json_field(&l, "path", path.p, path.len, 2000);
    }
    if (c->identity.subject != NULL) {
        json_field(&l, "dn", c->identity.subject, strlen(c->identity.subject), 1024);
    }
    if (l.truncated) {
        memcpy(line + l.pos, ",\"truncated\":true", 17);
        l.pos += 17;
    }
    line[l.pos++] = '}';
    mtlb_access_write(line, l.pos);
}

void mtlb_access_log_exchange(struct mtlb_client *c)
{
    struct mtlb_slice none = {0};
    /* A request refused while its head was parsed still names what it asked for once its
     * request line was read (the parser fills target only then). */
    bool named =
        c->state == MTLB_C_EXCHANGE || c->head_len > 0 || (c->rx.len > 0 && c->req.target.len > 0);

    mtlb_stats_exchange(c->w, c->listener, MTLB_STATS_H1, c->status, c->started_us);
    mtlb_access_log_line(c, c->status, c->resp_bytes, c->started_ms, c->up,
                         named ? c->req.method : none, named ? c->req.target : none, "http/1.1",
                         c->up_error);
}
