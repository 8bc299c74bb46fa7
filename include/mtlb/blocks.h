/* A worker's exchange buffer blocks (blocks.c), kept warm for reuse. Worker thread. */
#ifndef MTLB_BLOCKS_H
#define MTLB_BLOCKS_H

#include <stddef.h>

struct mtlb_worker;

/* Exchange buffer blocks of `size` bytes (a connection's size comes from its own
 * snapshot's limits; only the worker's current size is kept for reuse): get returns NULL when
 * out of memory. */
void *mtlb_worker_block_get(struct mtlb_worker *w, size_t size);
/* Gives a block of `size` bytes back: kept for reuse, or freed. */
void mtlb_worker_block_put(struct mtlb_worker *w, void *block, size_t size);

#endif
