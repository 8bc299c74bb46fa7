/* Private to the epoll backend (io_epoll.c): the index from a pending operation's user_data to
 * where it waits (fd * 2 + side), which a cancel needs. Open addressing, linear probing,
 * backward-shift deletion; grows at half full. Worker thread only, as its backend. */
#ifndef MTLB_IO_EPOLL_INDEX_H
#define MTLB_IO_EPOLL_INDEX_H

#include <stdint.h>

struct ep_slot {
    uint64_t ud;
    int32_t ref; /* -1 when empty */
};

struct ep_index {
    struct ep_slot *slots;
    unsigned bits, n; /* 1 << bits slots, n of them used */
};

/* 0, or -ENOMEM. */
int mtlb_io_epoll_index_init(struct ep_index *x);
void mtlb_io_epoll_index_fini(struct ep_index *x);
/* Adds (ud, ref); growing aborts when memory runs out (a submit cannot fail, io.h). */
void mtlb_io_epoll_index_insert(struct ep_index *x, uint64_t ud, int32_t ref);
/* The slot of ud (and, if ref >= 0, of exactly that op), or -1; x->slots[slot].ref says where
 * it waits. */
int mtlb_io_epoll_index_find(const struct ep_index *x, uint64_t ud, int32_t ref);
/* Empties a slot found by mtlb_io_epoll_index_find. */
void mtlb_io_epoll_index_remove(struct ep_index *x, unsigned slot);

#endif
