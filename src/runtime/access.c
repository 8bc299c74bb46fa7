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

void mtlb_access_log_exchange(struct mtlb_client *c)
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
    const char *upstream = c->up ? srv->backend_addrs[c->up->pool][c->up->server].text : "";
    int n = snprintf(
        line, sizeof(line),
        "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"conn\":%llu,"
        "\"client\":\"%s\",\"status\":%d,\"bytes\":%llu,\"duration_ms\":%llu,"
        "\"transport\":\"%s\",\"verify\":\"%s\",\"upstream\":\"%s\"",
        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
        ts.tv_nsec / 1000000, (unsigned long long)c->id, c->ip, c->status,
        (unsigned long long)c->resp_bytes, (unsigned long long)(c->w->now_ms - c->started_ms),
        mtlb_transport_name(c->transport), mtlb_identity_verify_word(c->identity.verify), upstream);
    if (n < 0 || (size_t)n >= sizeof(line)) {
        return;
    }
    size_t pos = (size_t)n;
    if (c->state == MTLB_C_EXCHANGE || c->head_len > 0) {
        pos = json_field(line, pos, sizeof(line), "method", c->req.method.p, c->req.method.len);
        pos = json_field(line, pos, sizeof(line), "path", c->req.target.p, c->req.target.len);
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
