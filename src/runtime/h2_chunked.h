/* Private to one HTTP/2 stream's exchange (h2_stream.c) and the decoding of its backend's
 * chunked response body (h2_chunked.c). h2_chunked.c only reads and fills struct mtlb_h2x and
 * never calls back into h2_stream.c. Worker thread only. */
#ifndef MTLB_H2_CHUNKED_H
#define MTLB_H2_CHUNKED_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mtlb/buf.h"
#include "mtlb/h2_stream.h"

/* Decodes chunked body bytes from b into buf (len bytes at most); at the last chunk sets
 * MTLB_H2_EOF in *flags, and MTLB_H2_TRAILERS when the trailers were submitted. Returns bytes
 * written or -EBADMSG. */
ssize_t mtlb_h2_chunked_read(struct mtlb_h2x *x, struct mtlb_buf *b, uint8_t *buf, size_t len,
                             int *flags);

#endif
