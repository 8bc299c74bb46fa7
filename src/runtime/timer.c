/* The worker's timers (loop.h): one list per kind, sorted by deadline; the loop expires them. */
#include <stddef.h>

#include "mtlb/loop.h"
#include "mtlb/worker_types.h"

void mtlb_timer_init(struct mtlb_timer *t, void (*expire)(struct mtlb_timer *t))
{
    t->prev = t->next = NULL;
    t->kind = -1;
    t->expire = expire;
}

void mtlb_timer_disarm(struct mtlb_timer *t)
{
    if (t->kind < 0 || t->next == NULL) {
        t->kind = -1;
        return;
    }
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->next = t->prev = NULL;
    t->kind = -1;
}

void mtlb_timer_arm(struct mtlb_worker *w, struct mtlb_timer *t, int kind)
{
    mtlb_timer_disarm(t);
    struct mtlb_timer_list *l = &w->timers[kind];
    t->kind = kind;
    t->deadline_ms = w->now_ms + l->duration_ms;
    /* Normally the tail: every entry has the same duration. After a reload shortened it,
     * entries armed before may end later: walk back past them to keep the list sorted. */
    struct mtlb_timer *after = l->head.prev;
    while (after != &l->head && after->deadline_ms > t->deadline_ms) {
        after = after->prev;
    }
    t->prev = after;
    t->next = after->next;
    after->next->prev = t;
    after->next = t;
}
