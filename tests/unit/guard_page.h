/* Test helper shared by the parser suites: copies input to the very end of a readable mapping
 * followed by a PROT_NONE page, so that any read at or past buf + len faults (picohttpparser's
 * technique). Header-only so that each test executable stays a single source file. */
#ifndef MTLB_TEST_GUARD_PAGE_H
#define MTLB_TEST_GUARD_PAGE_H

#include <criterion/criterion.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct guarded {
    char *map;
    size_t map_len;
    char *p; /* the copy; p + len is the first byte of the guard page */
    size_t len;
};

static inline char *guard_copy(struct guarded *g, const void *data, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t data_pages = len / page + 1;

    g->map_len = (data_pages + 1) * page;
    g->map = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert(g->map != MAP_FAILED, "mmap failed");
    cr_assert(mprotect(g->map + data_pages * page, page, PROT_NONE) == 0, "mprotect failed");
    g->p = g->map + data_pages * page - len;
    g->len = len;
    if (len > 0) {
        memcpy(g->p, data, len);
    }
    return g->p;
}

static inline void guard_free(struct guarded *g)
{
    munmap(g->map, g->map_len);
    g->map = NULL;
}

#endif
