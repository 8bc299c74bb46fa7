/* Private to src/admin: the renderers behind the admin endpoints. */
#ifndef MTLB_ADMIN_INT_H
#define MTLB_ADMIN_INT_H

#include <stdbool.h>

#include "mtlb/prom.h"
#include "mtlb/runtime.h"

/* GET /metrics: every series from the threads' stats, plus the current snapshot's certificate
 * expiry series (rendered when it was built). Admin thread. */
void mtlb_admin_metrics(struct mtlb_server *srv, const struct mtlb_snapshot *snap,
                        struct mtlb_prom_buf *b);
/* /healthz: every live worker and acceptor loop turned within the last second. */
bool mtlb_admin_healthy(struct mtlb_server *srv, char *why, size_t cap);
/* /readyz: serving, and every pool has a server up. */
bool mtlb_admin_ready(struct mtlb_server *srv, const struct mtlb_snapshot *snap, char *why,
                      size_t cap);

#endif
