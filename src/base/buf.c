/* Byte buffers with a read offset (mtlb/buf.h). Owns only the allocation of the bytes; it
 * knows nothing of connections, rings or TLS, so that the TLS layer can use it without the
 * runtime. */
#include "mtlb/buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int mtlb_buf_init(struct mtlb_buf *b, uint32_t cap)
{
    b->data = malloc(cap);
    b->off = b->len = 0;
    b->cap = b->data ? cap : 0;
    return b->data ? 0 : -ENOMEM;
}

void mtlb_buf_fini(struct mtlb_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->off = b->len = b->cap = 0;
}

void mtlb_buf_compact(struct mtlb_buf *b)
{
    if (b->off == 0) {
        return;
    }
    if (b->len > 0) {
        memmove(b->data, b->data + b->off, b->len);
    }
    b->off = 0;
}
