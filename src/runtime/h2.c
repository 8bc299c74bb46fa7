/* The HTTP/2 protocol of a client connection (mtlb_h2_proto): plaintext from the transport
 * (through TLS or kTLS) feeds the nghttp2 session, its output goes through TLS into tout. Without
 * open streams it gives its buffer block back like an idle HTTP/1.1 connection; streams carry the
 * exchanges (h2_stream.c). Timers: the connection's own timer is client_idle while no stream is
 * open and client_body while output waits for the client to read; each stream has its own. Worker
 * thread only. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mtlb/client_bufs.h"
#include "mtlb/client_types.h"
#include "mtlb/config.h"
#include "mtlb/h2.h"
#include "mtlb/h2_output.h"
#include "mtlb/h2_stream.h"
#include "mtlb/log.h"
#include "mtlb/loop.h"
#include "mtlb/snapshot.h"
#include "mtlb/transport.h"
#include "mtlb/worker_types.h"

#define H2_STREAM_WINDOW 65535 /* request body bytes buffered per stream */
#define H2_CONN_WINDOW (1u << 20)
#define H2_JUNK_PER_SEC 1000

static int h2c_start(struct mtlb_client *c)
{
    struct mtlb_worker *w = c->w;
    /* The connection's own snapshot: its buffers and SETTINGS are fixed for its life. */
    const struct mtlb_limits_cfg *lim = &c->snap->cfg->limits;
    const struct mtlb_h2_settings st = {
        .max_streams = lim->h2_max_streams,
        .max_header_bytes = lim->max_header_bytes,
        .max_headers = lim->max_headers,
        .stream_window = H2_STREAM_WINDOW,
        .conn_window = H2_CONN_WINDOW,
        .junk_per_sec = H2_JUNK_PER_SEC,
        .headers = c->snap->cfg->header_policy,
        .id_names = c->snap->cfg->id_headers,
    };

    /* The response-head scratch is shared by the worker's connections: large enough for the
     * largest max_headers any of them has (a reload may raise it). */
    if (w->h2_nva == NULL || w->h2_nva_cap < (size_t)lim->max_headers + 2) {
        nghttp2_nv *nva = realloc(w->h2_nva, ((size_t)lim->max_headers + 2) * sizeof(*nva));
        if (nva == NULL) {
            return -ENOMEM;
        }
        w->h2_nva = nva;
        w->h2_nva_cap = (size_t)lim->max_headers + 2;
    }
    if (w->h2_scratch == NULL && (w->h2_scratch = malloc(MTLB_H2_SCRATCH_CAP)) == NULL) {
        return -ENOMEM;
    }
    if (mtlb_client_bufs_take(c) != 0 || mtlb_h2_conn_new(&c->h2, &st, &mtlb_h2x_ops, c) != 0) {
        return -ENOMEM;
    }
    c->state = MTLB_C_H2;
    mtlb_timer_arm(w, &c->timer, MTLB_T_CLIENT_IDLE);
    return 0;
}

static void h2c_free(struct mtlb_client *c)
{
    struct mtlb_h2_conn *h = c->h2;

    c->h2 = NULL;
    mtlb_h2_conn_free(h);
}

static void h2c_pump(struct mtlb_client *c)
{
    if (c->state == MTLB_C_CLOSING) {
        mtlb_client_finish_close(c); /* what is in tout goes first, then close_notify */
        return;
    }
    while (!c->dead && c->state == MTLB_C_H2) {
        if (!mtlb_client_read_plain(c)) {
            return;
        }
        if (c->rx.len == 0) {
            break;
        }
        /* Trailers are filtered as heads are, with the worker's current configuration: a
         * reload may have added a protected name since this connection began. */
        const struct mtlb_config *cfg = c->w->snap->cfg;
        mtlb_h2_conn_set_header_policy(c->h2, &cfg->header_policy, &cfg->id_headers);
        int rc = mtlb_h2_conn_recv(c->h2, (const uint8_t *)c->rx.data, c->rx.len, c->w->now_ms);
        c->rx.len = 0;
        if (rc < 0) {
            static struct mtlb_ratelimit rl;
            mtlb_log_rl(&rl, 10, MTLB_LOG_INFO, "conn=%llu peer=%s event=h2_error reason=\"%s\"",
                        (unsigned long long)c->id, c->ip, nghttp2_strerror(rc));
            break;
        }
    }
    if (!c->dead && c->state == MTLB_C_H2) {
        /* Only now, with every plaintext byte read so far parsed, do the new streams reach
         * the backends: those already reset cost nothing (h2_stream.c). */
        mtlb_h2x_start_pending(c);
        mtlb_h2c_flush(c);
    }
}

static void h2c_on_timeout(struct mtlb_client *c)
{
    static struct mtlb_ratelimit rl;

    if (mtlb_h2_conn_streams(c->h2) == 0 && c->tout.len == 0) {
        /* Idle: say goodbye properly. */
        mtlb_h2_conn_shutdown(c->h2);
        mtlb_h2c_kick(c);
        return;
    }
    mtlb_log_rl(&rl, 10, MTLB_LOG_INFO, "conn=%llu peer=%s event=client_timeout phase=h2_send",
                (unsigned long long)c->id, c->ip);
    mtlb_client_abort(c);
}

static void h2c_shutdown(struct mtlb_client *c)
{
    if (c->h2 == NULL || mtlb_h2_conn_goaway_sent(c->h2)) {
        return;
    }
    mtlb_h2_conn_shutdown(c->h2);
    mtlb_h2c_kick(c);
}

/* Never idle for the drain: its shutdown sends GOAWAY and it closes when its streams end. */
static bool h2c_idle(const struct mtlb_client *c)
{
    (void)c;
    return false;
}

/* Without streams an HTTP/2 connection gives its buffers back and keeps only nghttp2's
 * state. */
static bool h2c_park(struct mtlb_client *c)
{
    if (!mtlb_h2_conn_idle(c->h2)) {
        return false;
    }
    mtlb_h2_conn_trim(c->h2);
    return true;
}

const struct mtlb_proto_ops mtlb_h2_proto = {
    .start = h2c_start,
    .on_input = h2c_pump,
    .on_progress = NULL,
    .on_timeout = h2c_on_timeout,
    .shutdown = h2c_shutdown,
    .idle = h2c_idle,
    .wants_input = NULL,
    .park = h2c_park,
    .peer_closed = NULL,
    .free = h2c_free,
};
