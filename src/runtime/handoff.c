/* Handoff of established TLS sessions from an acceptor to a worker: a mutex-protected list
 * plus an eventfd write that completes the worker's pending ring read. The only lock on the
 * connection path; it is taken once per connection, never per request. */
#include <unistd.h>

#include "mtlb/client_types.h"
#include "mtlb/handoff.h"
#include "mtlb/worker_types.h"

void mtlb_handoff_init(struct mtlb_handoff_queue *q)
{
    pthread_mutex_init(&q->lock, NULL);
    q->head = q->tail = NULL;
}

void mtlb_handoff_fini(struct mtlb_handoff_queue *q)
{
    pthread_mutex_destroy(&q->lock);
}

void mtlb_handoff_push(struct mtlb_worker *w, struct mtlb_client *c)
{
    struct mtlb_handoff_queue *q = w->queue;

    c->next = NULL;
    pthread_mutex_lock(&q->lock);
    bool was_empty = q->head == NULL;
    if (q->tail != NULL) {
        q->tail->next = c;
    } else {
        q->head = c;
    }
    q->tail = c;
    pthread_mutex_unlock(&q->lock);
    /* Only the first push after a drain needs to wake the worker. */
    if (was_empty) {
        mtlb_worker_wake(w);
    }
}

struct mtlb_client *mtlb_handoff_take(struct mtlb_handoff_queue *q)
{
    pthread_mutex_lock(&q->lock);
    struct mtlb_client *list = q->head;
    q->head = q->tail = NULL;
    pthread_mutex_unlock(&q->lock);
    return list;
}

void mtlb_worker_wake(struct mtlb_worker *w)
{
    uint64_t one = 1;
    ssize_t r = write(w->wake_fd, &one, sizeof(one));
    (void)r; /* EAGAIN means the counter is already non-zero: the worker wakes anyway */
}
