/* The epoll backend's user_data index (io_epoll_index.h): from a pending operation's user_data
 * to the fd and side it waits on, for cancels. A hash table only: it knows nothing of epoll,
 * fds or completions, and never does I/O. */
#include "io_epoll_index.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#define INDEX_BITS_INITIAL 10

static unsigned slot_home(const struct ep_index *x, uint64_t ud)
{
    return (unsigned)((ud * 0x9E3779B97F4A7C15ULL) >> (64 - x->bits));
}

static void slots_clear(struct ep_slot *slots, unsigned bits)
{
    for (unsigned i = 0; i < 1u << bits; i++) {
        slots[i].ref = -1;
    }
}

int mtlb_io_epoll_index_init(struct ep_index *x)
{
    x->bits = INDEX_BITS_INITIAL;
    x->n = 0;
    x->slots = malloc(sizeof(*x->slots) << x->bits);
    if (x->slots == NULL) {
        return -ENOMEM;
    }
    slots_clear(x->slots, x->bits);
    return 0;
}

void mtlb_io_epoll_index_fini(struct ep_index *x)
{
    free(x->slots);
    x->slots = NULL;
}

static void slot_put(struct ep_index *x, uint64_t ud, int32_t ref)
{
    unsigned mask = (1u << x->bits) - 1;
    unsigned i = slot_home(x, ud);
    while (x->slots[i].ref >= 0) {
        i = (i + 1) & mask;
    }
    x->slots[i].ud = ud;
    x->slots[i].ref = ref;
    x->n++;
}

/* Allocation failure aborts: the io contract has no way to fail a submit, and a worker that
 * silently lost a completion would leak the connection forever. */
static void slots_rehash(struct ep_index *x)
{
    struct ep_slot *old = x->slots;
    unsigned old_cap = 1u << x->bits;

    x->bits++;
    x->slots = malloc(sizeof(*x->slots) << x->bits);
    if (x->slots == NULL) {
        abort();
    }
    slots_clear(x->slots, x->bits);
    x->n = 0;
    for (unsigned i = 0; i < old_cap; i++) {
        if (old[i].ref >= 0) {
            slot_put(x, old[i].ud, old[i].ref);
        }
    }
    free(old);
}

void mtlb_io_epoll_index_insert(struct ep_index *x, uint64_t ud, int32_t ref)
{
    if ((x->n + 1) * 2 > 1u << x->bits) {
        slots_rehash(x);
    }
    slot_put(x, ud, ref);
}

int mtlb_io_epoll_index_find(const struct ep_index *x, uint64_t ud, int32_t ref)
{
    unsigned mask = (1u << x->bits) - 1;
    for (unsigned i = slot_home(x, ud); x->slots[i].ref >= 0; i = (i + 1) & mask) {
        if (x->slots[i].ud == ud && (ref < 0 || x->slots[i].ref == ref)) {
            return (int)i;
        }
    }
    return -1;
}

/* Backward-shift deletion keeps every probe chain unbroken without tombstones. */
void mtlb_io_epoll_index_remove(struct ep_index *x, unsigned slot)
{
    unsigned mask = (1u << x->bits) - 1;
    unsigned i = slot;
    unsigned j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (x->slots[j].ref < 0) {
            break;
        }
        unsigned k = slot_home(x, x->slots[j].ud);
        /* Move j into the hole at i unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            x->slots[i] = x->slots[j];
            i = j;
        }
    }
    x->slots[i].ref = -1;
    x->n--;
}
