/* The worker thread's loop (worker.c): set up by the server, then runs until the stop flag and
 * the drain are done. */
#ifndef MTLB_WORKER_H
#define MTLB_WORKER_H

struct mtlb_server;
struct mtlb_worker;

/* Main thread: sets up worker `index` of srv (ring, wake eventfd, timers, first snapshot).
 * 0 or -errno. */
int mtlb_worker_init(struct mtlb_worker *w, struct mtlb_server *srv, unsigned index);
/* Main thread, after the thread was joined: frees what init and the loop left. */
void mtlb_worker_fini(struct mtlb_worker *w);
/* The thread's body (arg: the struct mtlb_worker): loops until stopped and drained. */
void *mtlb_worker_main(void *arg);
/* Frees the connections whose last ring operation completed (the loop, after each batch). */
void mtlb_worker_bury(struct mtlb_worker *w);

#endif
