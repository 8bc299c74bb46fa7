/* A worker's exchange buffer blocks: a few of the current size stay warm for reuse. */
#include <stdlib.h>
#include <string.h>

#include "mtlb/blocks.h"
#include "mtlb/worker_types.h"

#define MAX_SPARE_BLOCKS 64

void *mtlb_worker_block_get(struct mtlb_worker *w, size_t size)
{
    void *b = w->spare_blocks;
    if (size != w->block_size) {
        return malloc(size); /* a connection from before a reload that changed the limits */
    }
    if (b != NULL) {
        memcpy(&w->spare_blocks, b, sizeof(void *));
        w->n_spare--;
        return b;
    }
    return malloc(w->block_size);
}

void mtlb_worker_block_put(struct mtlb_worker *w, void *block, size_t size)
{
    if (w->n_spare >= MAX_SPARE_BLOCKS || size != w->block_size) {
        free(block);
        return;
    }
    memcpy(block, &w->spare_blocks, sizeof(void *));
    w->spare_blocks = block;
    w->n_spare++;
}
