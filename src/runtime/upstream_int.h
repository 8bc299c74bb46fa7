/* Private to the backend connections (upstream.c: one connection's connect, TLS, sends, reads
 * and close; upstream_pool.c: the idle pools and the choice of a server). Calls go one way,
 * from upstream_pool.c into upstream.c. Worker thread that owns the connection. */
#ifndef MTLB_UPSTREAM_INT_H
#define MTLB_UPSTREAM_INT_H

#include <stddef.h>

#include "mtlb/upstream.h"

/* Opens a connection to server `server` of pool `pool` under ps (its TLS layer for an HTTPS
 * backend), connect submitted and timed. 0 with *out set, or -errno (nothing left behind). */
int mtlb_upstream_connect(struct mtlb_worker *w, struct mtlb_pool_set *ps, size_t pool,
                          size_t server, struct mtlb_upstream **out);
/* Marks u dead: out of its pool, its owner forgotten, the socket shut; freed once no
 * operation is pending. Again on a dead one: nothing. */
void mtlb_upstream_close(struct mtlb_upstream *u);
/* Takes u out of its server's idle list (nothing when it is in none). */
void mtlb_upstream_unlink(struct mtlb_upstream *u);
/* The receive buffer, from the worker's spares or new: 0 or -ENOMEM; and its return. */
int mtlb_upstream_rbuf_take(struct mtlb_upstream *u);
void mtlb_upstream_rbuf_give(struct mtlb_upstream *u);

#endif
