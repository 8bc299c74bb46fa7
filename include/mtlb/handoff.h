/* The handoff queue (handoff.c): accepted, handshaken connections from the acceptors to a
 * worker. The one runtime object that crosses threads (its lock guards it). */
#ifndef MTLB_HANDOFF_H
#define MTLB_HANDOFF_H

#include <pthread.h>

struct mtlb_client;
struct mtlb_worker;

struct mtlb_handoff_queue {
    pthread_mutex_t lock;
    struct mtlb_client *head, *tail;
};

/* Sets up an empty queue / destroys its lock (the worker owns the queue). */
void mtlb_handoff_init(struct mtlb_handoff_queue *q);
void mtlb_handoff_fini(struct mtlb_handoff_queue *q);
/* Any thread: appends c and wakes the worker. */
void mtlb_handoff_push(struct mtlb_worker *w, struct mtlb_client *c);
/* Worker thread: takes the whole queue (a list linked through c->next). */
struct mtlb_client *mtlb_handoff_take(struct mtlb_handoff_queue *q);
/* Any thread: wakes w's loop (its eventfd), for a handoff, a reload or the stop flag. */
void mtlb_worker_wake(struct mtlb_worker *w);

#endif
