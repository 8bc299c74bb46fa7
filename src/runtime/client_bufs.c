/* A client connection's buffers: one block per busy connection (tin, rx, tout, the rewritten
 * head, the header array, the access record of the request in flight), taken from and given back to
 * the worker's pool, so that idle keep-alive connections hold none, nor do connections waiting
 * for the rest of a small request head. Worker thread only. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mtlb/access.h"
#include "mtlb/blocks.h"
#include "mtlb/buf.h"
#include "mtlb/client_bufs.h"
#include "mtlb/client_types.h"
#include "mtlb/config.h"
#include "mtlb/h1.h"
#include "mtlb/ktls.h"
#include "mtlb/rewrite.h"
#include "mtlb/snapshot.h"
#include "mtlb/transport.h"

#define TIN_CAP (32 * 1024)
#define TOUT_CAP (40 * 1024)
#define BODY_WINDOW (32 * 1024)
#define HEAD_EXTRA 4096 /* room for the headers the rewrite adds */
#define RX_CAP(cfg) ((cfg)->limits.max_header_bytes + BODY_WINDOW)
/* The opt-in identity headers get room of their own, at their longest: a certificate of
 * several KiB cannot push the client's head out, nor the other way round. */
#define UP_HEAD_CAP(cfg)                                                                           \
    ((cfg)->limits.max_header_bytes + HEAD_EXTRA + mtlb_rewrite_id_room(&(cfg)->id_headers))
#define HDRS_SIZE(cfg) ((size_t)(cfg)->limits.max_headers * sizeof(struct mtlb_h1_header))
/* tin | rx | tout | up_head | hdrs | rec, the last two 16-byte aligned */
#define HDRS_OFF(cfg)                                                                              \
    (((size_t)TIN_CAP + RX_CAP(cfg) + TOUT_CAP + UP_HEAD_CAP(cfg) + 15) & ~(size_t)15)
#define REC_OFF(cfg) ((HDRS_OFF(cfg) + HDRS_SIZE(cfg) + 15) & ~(size_t)15)
#define BLOCK_SIZE(cfg) (REC_OFF(cfg) + sizeof(struct mtlb_access_rec))
/* A request head cut short (a slow client, a slowloris) is kept in a heap copy of its own while
 * the connection waits, up to this size: a block would hold three or four touched pages of
 * 4 KiB (tin, rx, tout for the session tickets, the header array) for the whole wait. Larger
 * partial heads keep their block: every read of a parked head copies it in and out and parses
 * it again, which must stay small beside the read itself. */
#define HEAD_STASH_MAX 2048

/* Every connection, idle or silent, holds one struct mtlb_client: 2,560 bytes is a jemalloc
 * size class (the next is 3,072); it was 3,152 bytes (a 3,584-byte block) before the access
 * record moved into the block. A field that does not fit goes where it is used (the block,
 * the protocol's state) rather than into every idle connection; bench/mem-parts measures it. */
_Static_assert(sizeof(struct mtlb_client) <= 2560, "struct mtlb_client outgrew its size class");

/* Out of line: mtlb_client_bufs_take runs on every event of every connection and nearly always
 * returns at once; inlined, this part's register saves came first and cost every request 57
 * instructions (callgrind). */
__attribute__((noinline)) static int take_block(struct mtlb_client *c)
{
    /* Sized by the connection's own snapshot: a reload that changes the limits applies to
     * connections accepted after it. */
    const struct mtlb_config *cfg = c->snap->cfg;

    char *b = mtlb_worker_block_get(c->w, BLOCK_SIZE(cfg));
    if (b == NULL) {
        return -ENOMEM;
    }
    char *stash = c->rx.data; /* a partial head kept while parked (mtlb_client_bufs_give) */
    uint32_t stash_len = c->rx.len;
    c->block = b;
    c->tin = (struct mtlb_buf){.data = b, .cap = TIN_CAP};
    c->rx = (struct mtlb_buf){.data = b + TIN_CAP, .cap = RX_CAP(cfg)};
    c->tout = (struct mtlb_buf){.data = b + TIN_CAP + RX_CAP(cfg), .cap = TOUT_CAP};
    c->up_head = b + TIN_CAP + RX_CAP(cfg) + TOUT_CAP;
    c->up_head_cap = UP_HEAD_CAP(cfg);
    c->hdrs = (struct mtlb_h1_header *)(void *)(b + HDRS_OFF(cfg));
    /* A block comes back from the pool with another connection's bytes; a connection gives
     * its block back only between requests, so the record always starts clean here. */
    c->rec = (struct mtlb_access_rec *)(void *)(b + REC_OFF(cfg));
    mtlb_access_rec_reset(c->rec);
    if (stash != NULL) {
        memcpy(c->rx.data, stash, stash_len);
        c->rx.len = stash_len;
        free(stash);
    }
    return 0;
}

int mtlb_client_bufs_take(struct mtlb_client *c)
{
    return c->block != NULL ? 0 : take_block(c);
}

/* rx holds nothing, or only the start of a request head small enough to be kept aside. */
static bool rx_parkable(const struct mtlb_client *c)
{
    return c->rx.len == 0 ||
           (c->state == MTLB_C_HEAD && c->rx.off == 0 && c->rx.len <= HEAD_STASH_MAX);
}

/* Nothing buffered, read or written but a small partial head, a read posted into the block
 * aside, and the protocol holds nothing in it either. */
static bool parkable(struct mtlb_client *c)
{
    return c->block != NULL && rx_parkable(c) && c->tin.len == 0 && c->tout.len == 0 &&
           !c->send_pending &&
           (c->transport == MTLB_TRANSPORT_KTLS || c->ssl == NULL || !SSL_has_pending(c->ssl)) &&
           c->proto->park(c);
}

/* Copies the partial head in rx into a heap block of its own (out of line, as take_block). The
 * parsed request's slices and header array point into the block: the head is parsed again from
 * its first byte once it is back (head_scanned 0, client.c). */
__attribute__((noinline)) static int stash_head(struct mtlb_client *c, struct mtlb_buf *head)
{
    head->data = malloc(c->rx.len);
    if (head->data == NULL) {
        return -ENOMEM;
    }
    memcpy(head->data, c->rx.data, c->rx.len);
    head->len = head->cap = c->rx.len;
    c->req = (struct mtlb_h1_message){0};
    c->head_scanned = 0;
    return 0;
}

/* An idle connection (between requests, or an HTTP/2 connection without streams; nothing
 * buffered, read or written) gives all its buffers back and waits for its next request with a small
 * read into idle_buf: a parked keep-alive connection costs its TLS state and this struct, no more.
 * A connection in the middle of a small request head parks too, its head copied aside. */
void mtlb_client_bufs_give(struct mtlb_client *c)
{
    if (c->recv_pending || !parkable(c)) {
        return;
    }
    struct mtlb_buf head = {0};
    if (c->rx.len > 0 && stash_head(c, &head) != 0) {
        return; /* keeps the block: no worse than before */
    }
    mtlb_worker_block_put(c->w, c->block, BLOCK_SIZE(c->snap->cfg));
    c->block = NULL;
    c->tin = (struct mtlb_buf){0};
    c->rx = head; /* the parked head: len == cap, never written until the block is back */
    c->tout = (struct mtlb_buf){0};
    c->up_head = NULL;
    c->up_head_cap = 0;
    c->hdrs = NULL;
    c->rec = NULL;
}

bool mtlb_client_bufs_parkable_after_send(const struct mtlb_client *c)
{
    return c->tin.len == 0 && rx_parkable(c) && c->send_pending;
}

void mtlb_client_bufs_free(struct mtlb_client *c)
{
    free(c->block != NULL ? c->block : c->rx.data);
    c->block = NULL;
    c->rx = (struct mtlb_buf){0};
}

bool mtlb_client_bufs_pinned_by_read(struct mtlb_client *c)
{
    return c->recv_pending && !c->idle_recv && !c->park_cancel && parkable(c);
}

size_t mtlb_client_block_size(const struct mtlb_config *cfg)
{
    return BLOCK_SIZE(cfg);
}
