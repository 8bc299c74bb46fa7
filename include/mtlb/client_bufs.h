/* A client connection's buffer block (client_bufs.c): taken while busy, given back when idle. */
#ifndef MTLB_CLIENT_BUFS_H
#define MTLB_CLIENT_BUFS_H

#include <stdbool.h>
#include <stddef.h>

struct mtlb_client;
struct mtlb_config;

/* Client side (client.c): take before touching rx/tout/up_head/hdrs; 0 or -ENOMEM. */
int mtlb_client_bufs_take(struct mtlb_client *c);
/* Gives the block back when c is idle (nothing buffered, sent or read); else does nothing.
 * An HTTP/1.1 head cut short (state MTLB_C_HEAD, up to 2 KiB in rx) does not keep the block:
 * rx then points to a heap copy of it (len == cap), which take puts back into the block; c->req
 * is cleared and head_scanned set to 0, so the head must be parsed again before c->req is
 * read. */
void mtlb_client_bufs_give(struct mtlb_client *c);
/* Nothing is left to do but a send: could c park once it completes? (Then no read is posted
 * into the block meanwhile, which would pin it.) */
bool mtlb_client_bufs_parkable_after_send(const struct mtlb_client *c);
/* At the connection's end: frees the block, or the parked head. */
void mtlb_client_bufs_free(struct mtlb_client *c);
/* True when only a read pending into the block keeps c from giving it back (an HTTP/2
 * connection whose last stream ended while its next read was posted): the caller cancels
 * that read and parks once it completes. */
bool mtlb_client_bufs_pinned_by_read(struct mtlb_client *c);
/* Bytes of the block a connection needs under cfg's limits (tin, tout, rx, up_head, hdrs). */
size_t mtlb_client_block_size(const struct mtlb_config *cfg);

#endif
