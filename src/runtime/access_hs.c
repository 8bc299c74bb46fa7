/* The access log's handshake_failed lines: one per refused or broken TLS handshake, written by
 * the acceptor thread that saw it into its own access-log buffer, at most
 * MTLB_ACCESS_HS_PER_SEC a second per acceptor; the rest are counted and reported in one
 * handshake_failed_suppressed line when the second is over. The edge policy's
 * connection_refused lines share that quota. */
#include <stdio.h>

#include "access_int.h"
#include "mtlb/access_hs.h"
#include "mtlb/log.h"

/* Emits the summary of the window that ended, if it suppressed anything. */
static void flush_suppressed(struct mtlb_access_hs_limit *rl)
{
    char line[MTLB_ACCESS_LINE_MAX];
    struct mtlb_jline l;

    if (rl->suppressed == 0) {
        return;
    }
    mtlb_jline_start(&l, line);
    mtlb_jline_cstr(&l, "event", "handshake_failed_suppressed", 32);
    mtlb_jline_raw(&l, "suppressed", "%llu", (unsigned long long)rl->suppressed);
    mtlb_jline_raw(&l, "per_second", "%u", MTLB_ACCESS_HS_PER_SEC);
    mtlb_jline_write(&l);
    rl->suppressed = 0;
}

void mtlb_access_hs_tick(struct mtlb_access_hs_limit *rl, uint64_t now_ms)
{
    if (now_ms - rl->window_ms >= 1000) {
        flush_suppressed(rl);
        rl->window_ms = now_ms;
        rl->count = 0;
    }
}

/* Whether one more line of the acceptor's quota may be written now (counted), or it is
 * suppressed (counted too, reported by the next window's first line). */
static bool hs_line_due(struct mtlb_access_hs_limit *rl, uint64_t now_ms)
{
    if (!mtlb_access_enabled()) {
        return false;
    }
    mtlb_access_hs_tick(rl, now_ms);
    if (rl->count >= MTLB_ACCESS_HS_PER_SEC) {
        rl->suppressed++;
        return false;
    }
    rl->count++;
    return true;
}

void mtlb_access_handshake_failed(struct mtlb_access_hs_limit *rl, uint64_t now_ms,
                                  const struct mtlb_access_hs *hs)
{
    char line[MTLB_ACCESS_LINE_MAX];
    struct mtlb_jline l;

    if (!hs_line_due(rl, now_ms)) {
        return;
    }
    mtlb_jline_start(&l, line);
    mtlb_jline_cstr(&l, "event", "handshake_failed", 32);
    mtlb_jline_raw(&l, "conn", "%llu", (unsigned long long)hs->conn);
    mtlb_jline_cstr(&l, "peer", hs->peer, 80);
    mtlb_jline_cstr(&l, "sni", hs->sni, 256);
    mtlb_jline_cstr(&l, "domain", hs->domain, 256);
    mtlb_jline_cstr(&l, "reason", hs->reason, 32);
    if (hs->subject != NULL) {
        mtlb_jline_cstr(&l, "dn", hs->subject, 1024);
    }
    if (hs->missing_issuer != NULL) {
        mtlb_jline_cstr(&l, "missing_issuer", hs->missing_issuer, 1024);
    }
    mtlb_jline_cstr(&l, "detail", hs->detail, 1024);
    mtlb_jline_write(&l);
}

void mtlb_access_conn_refused(struct mtlb_access_hs_limit *rl, uint64_t now_ms,
                              const struct mtlb_access_refused *r)
{
    char line[MTLB_ACCESS_LINE_MAX];
    struct mtlb_jline l;

    if (!hs_line_due(rl, now_ms)) {
        return;
    }
    mtlb_jline_start(&l, line);
    mtlb_jline_cstr(&l, "event", "connection_refused", 32);
    if (r->conn != 0) {
        mtlb_jline_raw(&l, "conn", "%llu", (unsigned long long)r->conn);
    }
    mtlb_jline_cstr(&l, "peer", r->peer, 80);
    if (r->client[0] != '\0') {
        mtlb_jline_cstr(&l, "client", r->client, 64);
    }
    mtlb_jline_cstr(&l, "listener", r->listener, 80);
    mtlb_jline_cstr(&l, "reason", r->reason, 32);
    if (r->detail[0] != '\0') {
        mtlb_jline_cstr(&l, "detail", r->detail, 256);
    }
    mtlb_jline_write(&l);
}
