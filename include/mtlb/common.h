/* Shared definitions for every mtlb module: return-code protocol and slices. */
#ifndef MTLB_COMMON_H
#define MTLB_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define MTLB_VERSION "0.1.0"

/* Parser return protocol (picohttpparser style): >= 0 bytes consumed, or one of these. */
#define MTLB_INVALID (-1)
#define MTLB_INCOMPLETE (-2)

#define MTLB_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The struct of type `type` whose member `member` is at ptr (an embedded op, timer or list
 * entry back to its owner). */
#define mtlb_container_of(ptr, type, member)                                                       \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* A pointer/length view into a caller-owned buffer; never outlives the buffer. */
struct mtlb_slice {
    const char *p;
    size_t len;
};

#endif
