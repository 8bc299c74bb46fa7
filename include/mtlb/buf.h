/* A byte buffer with a read offset, the unit the worker's ring fills and drains and the ring
 * BIO reads and writes. Leaf module (src/base/buf.c): libc only. A buffer belongs to the
 * thread that owns the connection it is embedded in. */
#ifndef MTLB_BUF_H
#define MTLB_BUF_H

#include <stdint.h>

/* The bytes are data[off .. off+len); data[off+len .. cap) is free space. */
struct mtlb_buf {
    char *data;
    uint32_t off, len, cap;
};

/* Allocates cap bytes into b (empty). 0, or -ENOMEM with b empty and cap 0. */
int mtlb_buf_init(struct mtlb_buf *b, uint32_t cap);
/* Frees b's bytes and leaves b empty (cap 0); safe on a buffer that init failed on. */
void mtlb_buf_fini(struct mtlb_buf *b);
/* Moves the bytes to the start (off 0). Only when no I/O is in flight into or out of b. */
void mtlb_buf_compact(struct mtlb_buf *b);

#endif
