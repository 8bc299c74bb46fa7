/* The access log line of one exchange: JSON, one line per request, with the client identity
 * and the transport. Built on the worker's stack and appended to the thread's buffer. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mtlb/log.h"
#include "mtlb/runtime.h"

void mtlb_access_log_exchange(struct mtlb_client *c);

/* Appends s (len bytes) as a JSON string body; returns the new position. */
static size_t json_str(char *out, size_t pos, size_t cap, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < len && pos + 7 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            out[pos++] = '\\';
            out[pos++] = (char)ch;
        } else if (ch < 0x20 || ch >= 0x7f) {
            memcpy(out + pos, "\\u00", 4);
            out[pos + 4] = hex[ch >> 4];
            out[pos + 5] = hex[ch & 15];
            pos += 6;
        } else {
            out[pos++] = (char)ch;
        }
    }
    return pos;
}

static size_t json_field(char *out, size_t pos, size_t cap, const char *key, const char *s,
                         size_t len)
{
    int n = snprintf(out + pos, cap - pos, ",\"%s\":\"", key);
    if (n < 0 || (size_t)n >= cap - pos) {
        return pos;
    }
    pos = json_str(out, pos + (size_t)n, cap - 2, s, len);
    out[pos++] = '"';
    return pos;
}

void mtlb_access_log_line(struct mtlb_client *c, int status, uint64_t bytes, uint64_t started_ms,
                          const struct mtlb_upstream *up, struct mtlb_slice method,
                          struct mtlb_slice path, const char *proto)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;

    if (!mtlb_access_enabled()) {
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    const struct mtlb_server *srv = c->w->srv;
    const char *upstream = up ? srv->backend_addrs[up->pool][up->server].text : "";
    int n = snprintf(line, sizeof(line),
                     "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"conn\":%llu,"
                     "\"client\":\"%s\",\"status\":%d,\"bytes\":%llu,\"duration_ms\":%llu,"
                     "\"transport\":\"%s\",\"proto\":\"%s\",\"verify\":\"%s\",\"upstream\":\"%s\"",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, (unsigned long long)c->id, c->ip, status,
                     (unsigned long long)bytes, (unsigned long long)(c->w->now_ms - started_ms),
                     mtlb_transport_name(c->transport), proto,
                     mtlb_identity_verify_word(c->identity.verify), upstream);
    if (n < 0 || (size_t)n >= sizeof(line)) {
        return;
    }
    size_t pos = (size_t)n;
    if (method.len > 0) {
        pos = json_field(line, pos, sizeof(line), "method", method.p, method.len);
        pos = json_field(line, pos, sizeof(line), "path", path.p, path.len);
    }
    if (c->identity.subject != NULL) {
        pos = json_field(line, pos, sizeof(line), "dn", c->identity.subject,
                         strlen(c->identity.subject));
    }
    if (pos + 1 < sizeof(line)) {
        line[pos++] = '}';
        mtlb_access_write(line, pos);
    }
}

void mtlb_access_log_exchange(struct mtlb_client *c)
{
    struct mtlb_slice none = {0};
    bool named = c->state == MTLB_C_EXCHANGE || c->head_len > 0;

    mtlb_access_log_line(c, c->status, c->resp_bytes, c->started_ms, c->up,
                         named ? c->req.method : none, named ? c->req.target : none, "http/1.1");
}
