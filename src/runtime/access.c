/* The access log line of one exchange: JSON, one line per request, with the client identity,
 * the TLS facts of its connection, its request id and its timings. Built on the worker's stack
 * and appended to the thread's buffer; the JSON helpers it shares with access_hs.c. */
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "access_int.h"
#include "mtlb/access.h"
#include "mtlb/client_types.h"
#include "mtlb/h1.h"
#include "mtlb/identity.h"
#include "mtlb/ktls.h"
#include "mtlb/log.h"
#include "mtlb/request_id.h"
#include "mtlb/stats.h"
#include "mtlb/stats_hooks.h"
#include "mtlb/tls.h"
#include "mtlb/upstream.h"
#include "mtlb/worker_types.h"

/* Appends s (len bytes) as a JSON string body, at most up to `limit`; an escape is never
 * split. Sets truncated when a byte of s did not fit. */
static void json_str(struct mtlb_jline *l, size_t limit, const char *s, size_t len)
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

/* ,"key": — false (and truncated) when not even the key and an empty value fit. */
static bool json_key(struct mtlb_jline *l, const char *key, size_t value_min)
{
    size_t klen = strlen(key);
    if (l->pos + klen + 4 + value_min > l->cap) {
        l->truncated = true;
        return false;
    }
    l->p[l->pos++] = ',';
    l->p[l->pos++] = '"';
    memcpy(l->p + l->pos, key, klen);
    l->pos += klen;
    l->p[l->pos++] = '"';
    l->p[l->pos++] = ':';
    return true;
}

void mtlb_jline_start(struct mtlb_jline *l, char *buf)
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(buf, MTLB_ACCESS_LINE_MAX, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\"",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000);
    *l = (struct mtlb_jline){buf, n > 0 ? (size_t)n : 0, MTLB_ACCESS_LINE_MAX - MTLB_ACCESS_TAIL,
                             false};
}

void mtlb_jline_str(struct mtlb_jline *l, const char *key, const char *s, size_t len,
                    size_t max_out)
{
    if (!json_key(l, key, 2)) {
        return;
    }
    l->p[l->pos++] = '"';
    size_t limit = l->cap - 1; /* the closing quote */
    if (max_out < limit - l->pos) {
        limit = l->pos + max_out;
    }
    json_str(l, limit, s, len);
    l->p[l->pos++] = '"';
}

void mtlb_jline_cstr(struct mtlb_jline *l, const char *key, const char *s, size_t max_out)
{
    mtlb_jline_str(l, key, s != NULL ? s : "", s != NULL ? strlen(s) : 0, max_out);
}

void mtlb_jline_raw(struct mtlb_jline *l, const char *key, const char *fmt, ...)
{
    char v[48];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(v, sizeof(v), fmt, ap);
    va_end(ap);
    if (n <= 0 || (size_t)n >= sizeof(v) || !json_key(l, key, (size_t)n)) {
        return;
    }
    memcpy(l->p + l->pos, v, (size_t)n);
    l->pos += (size_t)n;
}

void mtlb_jline_ms(struct mtlb_jline *l, const char *key, long long us)
{
    if (us < 0) {
        mtlb_jline_raw(l, key, "null");
    } else {
        mtlb_jline_raw(l, key, "%lld.%03lld", us / 1000, us % 1000);
    }
}

void mtlb_jline_write(struct mtlb_jline *l)
{
    if (l->truncated) {
        memcpy(l->p + l->pos, ",\"truncated\":true", 17);
        l->pos += 17;
    }
    l->p[l->pos++] = '}';
    mtlb_access_write(l->p, l->pos);
}

/* ---- the exchange's record ---- */

void mtlb_access_rec_reset(struct mtlb_access_rec *r)
{
    r->request_id[0] = '\0';
    r->user_agent[0] = '\0';
    r->user_agent_cut = false;
    r->bytes_in = 0;
    r->up_sent_at = 0;
    r->up_connect_us = r->up_response_us = -1;
    r->route[0] = '\0';
    r->denied = NULL;
}

void mtlb_access_rec_start(struct mtlb_access_rec *r, struct mtlb_worker *w,
                           const struct mtlb_h1_message *req)
{
    mtlb_access_rec_reset(r);
    mtlb_request_id_pick(&w->reqid, req, r->request_id);
    for (size_t i = 0; i < req->num_headers; i++) {
        const struct mtlb_h1_header *h = &req->headers[i];
        if (mtlb_h1_name_is(h->name, "user-agent")) {
            size_t n = h->value.len < MTLB_ACCESS_UA_MAX ? h->value.len : MTLB_ACCESS_UA_MAX;
            memcpy(r->user_agent, h->value.p, n);
            r->user_agent[n] = '\0';
            r->user_agent_cut = n < h->value.len;
            break;
        }
    }
}

void mtlb_access_rec_response(struct mtlb_access_rec *r, uint64_t now_us)
{
    if (r->up_sent_at != 0 && now_us >= r->up_sent_at) {
        r->up_response_us = (int64_t)(now_us - r->up_sent_at);
    }
}

/* ---- the exchange's line ---- */

/* The connection's TLS facts: SNI as the client sent it ("" without), the domain that served
 * it (its first name), version, cipher, resumption. */
static void put_tls(struct mtlb_jline *l, const struct mtlb_client *c)
{
    const struct mtlb_tls_listener *tl = c->tls_info.listener;
    const char *domain = "";
    const char *sni = c->tls_info.sni;

    if (tl != NULL && c->tls_info.domain < tl->n_domains &&
        tl->domains[c->tls_info.domain].cfg->n_names > 0) {
        domain = tl->domains[c->tls_info.domain].cfg->names[0];
    }
    mtlb_jline_cstr(l, "sni", sni, 256);
    mtlb_jline_cstr(l, "domain", domain, 256);
    mtlb_jline_cstr(l, "tls_version", c->tls_facts.version, 32);
    mtlb_jline_cstr(l, "cipher", c->tls_facts.cipher, 64);
    mtlb_jline_raw(l, "resumed", "%s", c->tls_facts.resumed ? "true" : "false");
}

/* The client certificate: absent fields when none was presented. */
static void put_identity(struct mtlb_jline *l, const struct mtlb_identity *id)
{
    mtlb_jline_cstr(l, "verify", mtlb_identity_verify_word(id->verify), 16);
    if (id->verify == MTLB_VERIFY_NONE) {
        return;
    }
    mtlb_jline_cstr(l, "dn", id->subject, 1024);
    mtlb_jline_cstr(l, "issuer", id->issuer, 1024);
    mtlb_jline_cstr(l, "serial", id->serial, 128);
    mtlb_jline_cstr(l, "fingerprint_sha256", id->fingerprint, 64);
    if (id->verify == MTLB_VERIFY_FAILED) {
        mtlb_jline_cstr(l, "verify_reason",
                        mtlb_verify_reason_token(mtlb_tls_verify_reason(id->x509_error)), 32);
    }
}

void mtlb_access_log_line(struct mtlb_client *c, int status, uint64_t bytes, uint64_t started_ms,
                          const struct mtlb_upstream *up, struct mtlb_slice method,
                          struct mtlb_slice path, const char *proto, int error,
                          struct mtlb_access_rec *rec)
{
    char line[MTLB_ACCESS_LINE_MAX];
    struct mtlb_jline l;

    if (!mtlb_access_enabled()) {
        return;
    }
    if (rec->request_id[0] == '\0') {
        mtlb_request_id_next(&c->w->reqid, rec->request_id); /* refused before its head */
    }
    uint64_t now = c->w->now_ms;
    mtlb_jline_start(&l, line);
    mtlb_jline_raw(&l, "conn", "%llu", (unsigned long long)c->id);
    mtlb_jline_cstr(&l, "request_id", rec->request_id, MTLB_REQUEST_ID_MAX);
    mtlb_jline_cstr(&l, "client", c->ip, 64);
    mtlb_jline_raw(&l, "status", "%d", status);
    mtlb_jline_raw(&l, "bytes", "%llu", (unsigned long long)bytes);
    mtlb_jline_raw(&l, "bytes_in", "%llu", (unsigned long long)rec->bytes_in);
    mtlb_jline_raw(
        &l, "duration_ms", "%llu",
        (unsigned long long)(started_ms != 0 && started_ms <= now ? now - started_ms : 0));
    mtlb_jline_ms(&l, "upstream_connect_ms", rec->up_connect_us);
    mtlb_jline_ms(&l, "upstream_response_ms", rec->up_response_us);
    mtlb_jline_cstr(&l, "transport", mtlb_transport_name(c->transport), 16);
    mtlb_jline_cstr(&l, "proto", proto, 16);
    put_tls(&l, c);
    mtlb_jline_cstr(&l, "upstream", up ? mtlb_upstream_name(up) : "", 64);
    const char *why = status >= 500 ? mtlb_upstream_error_name(error) : NULL;
    if (why != NULL) {
        mtlb_jline_cstr(&l, "error", why, 32);
    }
    if (rec->route[0] != '\0') {
        mtlb_jline_cstr(&l, "route", rec->route, 64);
    }
    if (rec->denied != NULL) {
        mtlb_jline_cstr(&l, "denied", rec->denied, 32);
    }
    /* Budgets keep the identity visible whatever the URL's length. */
    put_identity(&l, &c->identity);
    if (method.len > 0) {
        mtlb_jline_str(&l, "method", method.p, method.len, 64);
        /* Below the 2048 bytes an HTTP/2 stream keeps of its path, so a cut shows. */
        mtlb_jline_str(&l, "path", path.p, path.len, 2000);
    }
    mtlb_jline_cstr(&l, "user_agent", rec->user_agent, 2 * MTLB_ACCESS_UA_MAX);
    l.truncated = l.truncated || rec->user_agent_cut;
    mtlb_jline_write(&l);
}

void mtlb_access_log_exchange(struct mtlb_client *c)
{
    struct mtlb_slice none = {0};
    struct mtlb_access_rec empty;
    struct mtlb_access_rec *rec = c->rec;
    if (rec == NULL) { /* not expected: the block is held from a request's first byte to its line */
        mtlb_access_rec_reset(&empty);
        rec = &empty;
    }
    /* A request refused while its head was parsed still names what it asked for once its
     * request line was read (the parser fills target only then). */
    bool named =
        c->state == MTLB_C_EXCHANGE || c->head_len > 0 || (c->rx.len > 0 && c->req.target.len > 0);

    mtlb_stats_exchange(c->w, c->listener, MTLB_STATS_H1, c->status, c->started_us);
    mtlb_access_log_line(c, c->status, c->resp_bytes, c->started_ms, c->ex.up,
                         named ? c->req.method : none, named ? c->req.target : none, "http/1.1",
                         c->ex.up_error, rec);
    mtlb_access_rec_reset(rec); /* the next request on this connection starts clean */
}
