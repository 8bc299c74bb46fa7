/* Uses of a worker's pool sets (pool_set.c; struct mtlb_pool_set: worker_types.h). Worker
 * thread. */
#ifndef MTLB_POOL_SET_H
#define MTLB_POOL_SET_H

struct mtlb_worker;
struct mtlb_pool_set;

/* Takes a use of ps / gives one back (the last frees it). NULL is ignored by drop. */
void mtlb_pool_set_hold(struct mtlb_pool_set *ps);
void mtlb_pool_set_drop(struct mtlb_pool_set *ps);
/* The worker's current pool set into *slot (held), dropping what *slot held before. */
void mtlb_pool_set_take(struct mtlb_worker *w, struct mtlb_pool_set **slot);

#endif
