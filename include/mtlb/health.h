/* Active health checks (health.c): a thread probing the servers of pools with
 * backends[].health, and the workers' passive reports. */
#ifndef MTLB_HEALTH_H
#define MTLB_HEALTH_H

#include <stdbool.h>
#include <stddef.h>

struct mtlb_server;
struct mtlb_snapshot;
struct mtlb_worker;

/* Main thread (or the reloading thread): starts a health-check thread for snap (taking a
 * reference) when some pool of it has backends[].health; it runs until srv->stop is set or
 * mtlb_health_stop. 0 or -errno. */
int mtlb_health_start(struct mtlb_server *srv, struct mtlb_snapshot *snap);
/* Stops (if running), joins and frees the health-check thread. Safe when none was started. */
void mtlb_health_stop(struct mtlb_server *srv);
/* Worker thread: passive health saw server go down (a connect failed or timed out and this
 * worker started a backoff) or come back (a connect succeeded). On a pool without active
 * checks the first worker to see a transition logs server_down/server_up, once for all
 * workers; on a pool with checks the checker alone decides and logs, so this does nothing. */
void mtlb_health_passive(struct mtlb_worker *w, const struct mtlb_snapshot *snap, size_t pool,
                         size_t server, bool down, const char *reason);

#endif
