/* A configuration snapshot: everything the running process derives from one configuration
 * file (the parsed config, the listeners' SSL_CTXs, the backend addresses, the shared health
 * verdicts, the stats slots of its domains and servers, the admin texts). A reload builds a
 * new one and publishes it; the old one lives on while anything still holds a reference (an
 * open connection's TLS state, a worker, an exchange's pool set) and is freed by the last
 * mtlb_snapshot_put, on whichever thread that is. Immutable once published, except the
 * health atomics. */
#ifndef MTLB_SNAPSHOT_H
#define MTLB_SNAPSHOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "mtlb/backend_tls.h"
#include "mtlb/config.h"
#include "mtlb/prom.h"
#include "mtlb/tls.h"

struct mtlb_routes;
struct mtlb_server;
struct mtlb_server_health;
struct mtlb_stats_slots;

/* A resolved backend server address. */
struct mtlb_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    char text[64];
};

struct mtlb_snapshot {
    atomic_uint refs;
    uint64_t generation;                /* 1 at start, +1 per successful reload */
    struct mtlb_config *cfg;            /* owned */
    struct mtlb_tls_listener *tls;      /* [listener] */
    bool *ktls;                         /* [listener]: kTLS allowed (config and kernel) */
    struct mtlb_addr **backend_addrs;   /* [pool][server] */
    struct mtlb_server_health **health; /* [pool][server]: the active checks' verdict */
    size_t **domain_slot;               /* [listener][domain]: stats slot (mtlb_stats_slots) */
    size_t **server_slot;               /* [pool][server]: stats slot */
    struct mtlb_prom_buf config_text;   /* GET /config (empty without admin.bind) */
    struct mtlb_prom_buf certs;         /* certificate expiry series (idem) */
    struct mtlb_routes **routes;        /* [listener]: compiled listeners[].routes (route.h) */
    /* Each server's current address (backends[].resolve moves it): connect to
     * mtlb_snapshot_addr, not to backend_addrs, which holds what the build resolved. */
    struct mtlb_resolve_state *resolve;
    /* [pool]: HTTPS to backends (ctx NULL: plain HTTP) */
    struct mtlb_backend_tls *backend_tls;
};

/* Builds a snapshot of cfg (taking ownership of it, also on failure): SSL_CTXs, kTLS choice
 * (probe: mtlb_ktls_probe's result), backend addresses, health state (a server with the same
 * pool name and address as in `prev` keeps its verdict), stats slots from `slots` (NULL: none,
 * as for `mtlb -t`) and, when admin.bind is set, the admin texts. refs = 1. 0 and *out, or
 * -errno with the problem in err ("restart needed: ..." when the stats slots are exhausted).
 * The thread that loads configurations (main, admin, watch: serialized by the caller). */
int mtlb_snapshot_create(struct mtlb_config *cfg, const struct mtlb_snapshot *prev,
                         struct mtlb_stats_slots *slots, int ktls_probe, const char *ktls_why,
                         struct mtlb_snapshot **out, char *err, size_t errlen);
/* Any thread. */
void mtlb_snapshot_get(struct mtlb_snapshot *s);
/* Any thread: drops a reference; the last one frees everything. NULL is ignored. */
void mtlb_snapshot_put(struct mtlb_snapshot *s);

/* Any thread: a reference to the current snapshot (srv's mutex held for the increment). */
struct mtlb_snapshot *mtlb_snapshot_current(struct mtlb_server *srv);
/* Any thread: the published generation, for a cheap "has it changed?" poll. */
uint64_t mtlb_snapshot_generation(struct mtlb_server *srv);

/* The address to connect to for server `server` of pool `pool`: where backends[].resolve moved
 * it (mtlb_resolve_addr), else the one the build resolved (also for a snapshot put together
 * by hand, without resolve state). Any thread that holds s. */
const struct mtlb_addr *mtlb_snapshot_addr(const struct mtlb_snapshot *s, size_t pool,
                                           size_t server);

/* Resolves host:port (getaddrinfo, AI_NUMERICSERV | flags) into *out. 0 or -errno. */
int mtlb_resolve(const char *host, uint16_t port, int flags, struct mtlb_addr *out);

#endif
