/* Uses of a worker's pool sets: the last user frees the set and its snapshot reference. */
#include <stdlib.h>

#include <openssl/ssl.h>

#include "mtlb/pool_set.h"
#include "mtlb/snapshot.h"
#include "mtlb/worker_types.h"

void mtlb_pool_set_hold(struct mtlb_pool_set *ps)
{
    ps->users++;
}

void mtlb_pool_set_drop(struct mtlb_pool_set *ps)
{
    if (ps == NULL || --ps->users > 0) {
        return;
    }
    for (size_t p = 0; ps->pools != NULL && p < ps->snap->cfg->n_backends; p++) {
        free(ps->pools[p].health);
        free(ps->pools[p].idle);
        for (size_t k = 0;
             ps->pools[p].sessions != NULL && k < ps->snap->cfg->backends[p].n_servers; k++) {
            SSL_SESSION_free(ps->pools[p].sessions[k]);
        }
        free(ps->pools[p].sessions);
    }
    free(ps->pools);
    mtlb_snapshot_put(ps->snap);
    free(ps);
}

void mtlb_pool_set_take(struct mtlb_worker *w, struct mtlb_pool_set **slot)
{
    if (*slot == w->ps) {
        return;
    }
    mtlb_pool_set_drop(*slot);
    *slot = w->ps;
    mtlb_pool_set_hold(w->ps);
}
