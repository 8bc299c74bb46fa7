/* The request body limit rule, one place for HTTP/1.1 and HTTP/2 (and for any finer-grained
 * limit such as a route's): a body of n bytes is refused with 413 when it is over the limit.
 * Pure; any thread. */
#ifndef MTLB_BODY_LIMIT_H
#define MTLB_BODY_LIMIT_H

#include <stdint.h>

/* 0 when n body bytes (a declared Content-Length, or the bytes received so far) are within
 * limit (0: unlimited), else 413 (Content Too Large). */
static inline int mtlb_body_limit_check(uint64_t limit, uint64_t n)
{
    return limit != 0 && n > limit ? 413 : 0;
}

#endif
