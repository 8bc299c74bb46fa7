/* HTTP/2 on a client connection: the connection protocol (h2.c, mtlb_h2_proto) and each
 * stream's exchange with a backend (h2_stream.c, struct mtlb_h2x behind mtlb_h2x_ops, the
 * session glue's ops table of h2.h). Worker thread only. */
#ifndef MTLB_H2_STREAM_H
#define MTLB_H2_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "mtlb/access.h"
#include "mtlb/exchange.h"
#include "mtlb/h1.h"
#include "mtlb/h2.h"
#include "mtlb/loop.h"

/* The size of the worker's h2_scratch (h2.c): a response head as large as the backend read
 * buffer (32 KiB), mapped to HTTP/2, fits. */
#define MTLB_H2_SCRATCH_CAP (32 * 1024 + 64)

struct mtlb_client;
struct mtlb_pool_set;
struct mtlb_proto_ops;

/* ---- one HTTP/2 stream's exchange with a backend (h2_stream.c; worker-owned) ---- */
struct mtlb_h2x {
    struct mtlb_client *c;
    struct mtlb_h2_stream *s; /* NULL once the stream closed */
    struct mtlb_exchange ex;  /* with the backend: connection, retries, response head */
    struct mtlb_timer timer;  /* MTLB_T_H2_STREAM while the stream waits on its client */
    struct mtlb_pool_set *ps; /* the worker's pool set when the stream began (a reference) */
    /* request towards the backend: head, then units of [chunk size][body][CRLF][last chunk] */
    char *head;
    uint32_t head_len;
    bool chunked;        /* body sent with chunked coding */
    uint64_t body_limit; /* the stream's route's or listener's limits.max_body_bytes; 0: none */
    bool dropped;        /* body bytes were consumed: the request cannot be sent again */
    uint32_t held;       /* a small whole body, written but kept for a resend until the answer */
    bool req_done;       /* everything of the request went to the backend */
    bool unit_last;      /* the current unit ends the request */
    char pre[20];        /* chunk-size line of the current unit */
    uint32_t pre_len;    /* 0 when no unit is being sent */
    uint32_t data_len;
    const char *suf; /* CRLF after chunk data, and/or the last chunk */
    uint32_t suf_len;
    const char *tail; /* request trailers block (last chunk included) */
    uint32_t tail_len;
    uint32_t unit_sent, unit_len; /* bytes of the current unit on the wire / in all */
    bool head_in_unit;
    /* response */
    bool resp_started, resp_done, keepalive;
    uint64_t resp_left;
    struct mtlb_h1_chunked ck;
    char *trailer_buf; /* backend trailer section, collected while decoding */
    size_t trailer_len;
    int status;
    uint64_t resp_bytes, started_ms;
    uint64_t started_us; /* for mtlb_request_duration_seconds */
    char method[16];
    char *path;
    struct mtlb_access_rec rec;
    /* On c->h2_pending from on_request to the end of the read batch (mtlb_h2x_start_pending):
     * a stream reset in the same batch (rapid reset) never reaches a backend. */
    struct mtlb_h2x *pend_next;
    bool start_pending;
};

/* Starts the backend exchanges of c's streams whose request head arrived in the read batch
 * just parsed and that are still open. Worker thread, after mtlb_h2_conn_recv. */
void mtlb_h2x_start_pending(struct mtlb_client *c);

/* Stream exchange, handed by h2.c to the session glue (mtlb_h2_conn_new), which calls it. */
extern const struct mtlb_h2_ops mtlb_h2x_ops;
/* The HTTP/2 protocol of a client connection (h2.c), chosen by ALPN "h2". */
extern const struct mtlb_proto_ops mtlb_h2_proto;

#endif
