/* An HTTP/2 connection's session output: into tout through TLS, then the connection's fate and
 * timer. Used by the connection (h2.c) and by its streams' backend events (h2_stream.c). */
#include <stdint.h>

#include "mtlb/client_bufs.h"
#include "mtlb/client_types.h"
#include "mtlb/h2.h"
#include "mtlb/h2_output.h"
#include "mtlb/loop.h"
#include "mtlb/transport.h"

void mtlb_h2c_flush(struct mtlb_client *c)
{
    /* An idle connection gave its buffers back; output (a GOAWAY) needs them again. */
    if (mtlb_client_bufs_take(c) != 0) {
        mtlb_client_abort(c);
        return;
    }
    for (;;) {
        const uint8_t *p;
        ssize_t n = mtlb_h2_conn_output(c->h2, &p);
        if (n < 0) {
            mtlb_client_abort(c);
            return;
        }
        if (n == 0) {
            break;
        }
        int k = mtlb_client_tls_put(c, (const char *)p, n > UINT32_MAX ? UINT32_MAX : (uint32_t)n);
        if (k < 0) {
            return; /* aborted */
        }
        if (k == 0) {
            break; /* tout is full: on_send brings us back */
        }
        mtlb_h2_conn_sent(c->h2, (size_t)k);
    }
    if (!mtlb_h2_conn_alive(c->h2)) {
        mtlb_client_close_now(c); /* GOAWAY (if any) is in tout: close_notify follows */
        return;
    }
    if (c->tout.len > 0) {
        /* A client that stops reading is timed like one that stops sending. */
        mtlb_timer_arm(c->w, &c->timer, MTLB_T_CLIENT_BODY);
    } else if (mtlb_h2_conn_streams(c->h2) == 0) {
        if (c->timer.kind != MTLB_T_CLIENT_IDLE) {
            mtlb_timer_arm(c->w, &c->timer, MTLB_T_CLIENT_IDLE);
        }
    } else {
        mtlb_timer_disarm(&c->timer); /* each stream has its own timer */
    }
}

void mtlb_h2c_kick(struct mtlb_client *c)
{
    if (c->dead || c->state != MTLB_C_H2 || c->h2 == NULL || mtlb_h2_conn_busy(c->h2)) {
        return;
    }
    mtlb_h2c_flush(c);
    if (!c->dead) {
        mtlb_client_flush(c);
    }
}
