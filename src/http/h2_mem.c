/* nghttp2's memory for one session: the C allocator, except that the session's frame buffer
 * (a 16 KiB payload chunk allocated with the session and kept for its life) is noted, so that
 * its pages go back to the kernel when nothing in them is needed: at creation (the allocator
 * may hand out pages an earlier connection touched) and when an idle connection is trimmed
 * after a frame larger than a page. Frames are built in it one at a time and it holds nothing
 * between them once the owner took the output. No I/O. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "h2_internal.h"

/* The frame buffer is the one allocation of at least this size made while the session is
 * created (nghttp2 1.52: realloc(NULL, 16394)). */
#define FBUF_MIN 16384

static void note_fbuf(struct mtlb_h2_conn *h, void *p, size_t size)
{
    if (h->fbuf_watch && p != NULL && size >= FBUF_MIN) {
        h->fbuf = p;
        h->fbuf_len = size;
        h->fbuf_watch = false;
    }
}

static void *mem_malloc(size_t size, void *ud)
{
    void *p = malloc(size);

    note_fbuf(ud, p, size);
    return p;
}

static void mem_free(void *p, void *ud)
{
    struct mtlb_h2_conn *h = ud;

    if (p != NULL && p == h->fbuf) {
        h->fbuf = NULL;
        h->fbuf_len = 0;
    }
    free(p);
}

static void *mem_calloc(size_t n, size_t size, void *ud)
{
    (void)ud;
    return calloc(n, size);
}

static void *mem_realloc(void *p, size_t size, void *ud)
{
    struct mtlb_h2_conn *h = ud;
    void *q = realloc(p, size);

    if (q != NULL && p != NULL && p == h->fbuf) {
        h->fbuf = q;
        h->fbuf_len = size;
    } else if (p == NULL) {
        note_fbuf(h, q, size);
    }
    return q;
}

nghttp2_mem mtlb_h2_mem(struct mtlb_h2_conn *h)
{
    return (nghttp2_mem){h, mem_malloc, mem_free, mem_calloc, mem_realloc};
}

void mtlb_h2_mem_release(struct mtlb_h2_conn *h)
{
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t from = ((uintptr_t)h->fbuf + pg - 1) & ~(pg - 1);
    uintptr_t to = ((uintptr_t)h->fbuf + h->fbuf_len) & ~(pg - 1);

    h->fbuf_dirty = false;
    if (h->fbuf != NULL && to > from) {
        /* Whole pages inside the block only: the allocator's own data is never touched. The
         * pages read back as zeros, which nghttp2 overwrites before it reads. */
        madvise((void *)from, to - from, MADV_DONTNEED);
    }
}
