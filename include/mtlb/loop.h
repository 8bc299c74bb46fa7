/* The worker loop's two kinds of event source, as seen by the objects that own them: an I/O
 * operation in flight (struct mtlb_op) and a deadline (struct mtlb_timer). Each carries the
 * callback that handles it, set by its owner, so the loop calls up through a pointer and never
 * names an owner's type (libuv's watchers, h2o's timers). Worker thread only. */
#ifndef MTLB_LOOP_H
#define MTLB_LOOP_H

#include <stdint.h>

#include "mtlb/common.h"

struct mtlb_worker;

/* ---- I/O operations ----
 * One per kind of operation an object submits (a client's recv and send, a backend
 * connection's connect, recv and send, the worker's wake read and tick): embedded in the
 * object, its address is the submission's user_data (mtlb_op_ud), and the worker calls done
 * with the completion's result (bytes or 0, or -errno). user_data 0 belongs to no operation
 * (io_uring's cancellations) and is ignored. The object must outlive its pending operations. */
struct mtlb_op {
    void (*done)(struct mtlb_op *op, int res);
};

static inline uint64_t mtlb_op_ud(struct mtlb_op *op)
{
    return (uint64_t)(uintptr_t)op;
}

/* ---- timers: one FIFO list per timeout class, all entries of a list share one duration, so
 * appending keeps each list sorted and expiry is O(1) per entry. The class selects only the
 * list (and so the duration); what an expiry does is the timer's own callback. ---- */
struct mtlb_timer {
    struct mtlb_timer *prev, *next;
    uint64_t deadline_ms;
    int kind; /* enum mtlb_timer_kind it is armed in; -1 when not armed */
    /* Called once the deadline passed, the timer already disarmed (it may re-arm itself). */
    void (*expire)(struct mtlb_timer *t);
};

enum mtlb_timer_kind {
    MTLB_T_CLIENT_HEADER = 0,
    MTLB_T_CLIENT_BODY,
    MTLB_T_CLIENT_IDLE,
    MTLB_T_UP_CONNECT,
    MTLB_T_UP_RESPONSE,
    MTLB_T_UP_IDLE,
    MTLB_T_H2_STREAM, /* an HTTP/2 stream waiting on its client (client_body) */
    MTLB_T_COUNT
};

struct mtlb_timer_list {
    struct mtlb_timer head; /* sentinel */
    uint32_t duration_ms;
};

/* Prepares t (not armed) with its expiry callback. Before the first arm. */
void mtlb_timer_init(struct mtlb_timer *t, void (*expire)(struct mtlb_timer *t));
/* (Re)arms t in list `kind` of w: it expires the list's duration from w->now_ms. */
void mtlb_timer_arm(struct mtlb_worker *w, struct mtlb_timer *t, int kind);
/* Takes t off its list; harmless when not armed. */
void mtlb_timer_disarm(struct mtlb_timer *t);

#endif
