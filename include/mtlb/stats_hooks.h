/* The workers' counting of requests and backend answers into their stats block (stats.c). */
#ifndef MTLB_STATS_HOOKS_H
#define MTLB_STATS_HOOKS_H

#include <stddef.h>
#include <stdint.h>

struct mtlb_worker;
struct mtlb_snapshot;

/* Counts one finished request (HTTP/1.1 or HTTP/2 stream) in the worker's stats. */
void mtlb_stats_exchange(struct mtlb_worker *w, size_t listener, int proto, int status,
                         uint64_t started_us);
/* Counts a response head received from server (pool, server) of snap. */
void mtlb_stats_backend(struct mtlb_worker *w, const struct mtlb_snapshot *snap, size_t pool,
                        size_t server, int status);
/* Counts a failed or timed-out connect to (pool, server) of snap. */
void mtlb_stats_connect_failed(struct mtlb_worker *w, const struct mtlb_snapshot *snap, size_t pool,
                               size_t server);
/* Counts a request of listener refused by its route for reason (0 ..
 * MTLB_STATS_DENIED_REASONS - 1, stats.h; anything else is ignored). */
void mtlb_stats_denied(struct mtlb_worker *w, size_t listener, int reason);

#endif
