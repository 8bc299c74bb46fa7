/* The whole process (struct mtlb_server): start, run, stop (server.c), reload (reload.c),
 * `mtlb -t`, and the server health a snapshot holds (written by the health checks). */
#ifndef MTLB_SERVER_H
#define MTLB_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mtlb/config.h"
#include "mtlb/stats.h"

struct mtlb_admin;
struct mtlb_watch;
struct mtlb_worker;
struct mtlb_acceptor;
struct mtlb_snapshot;

/* One server's health as the active checks see it: written by the health-check thread,
 * read lock-free by the workers (relaxed loads; a late read only delays by one request).
 * Without backends[].health, `down` only remembers the last transition that was logged
 * (set by the worker that saw it), so that each one is logged once, not once per worker.
 * One per server of a snapshot (mtlb_snapshot.health). */
struct mtlb_server_health {
    atomic_bool down;
    atomic_uint gen; /* bumped by each passing probe of an up server: workers drop backoff */
};

struct mtlb_healthd; /* the health-check thread (health.c) */

/* The whole process. What a reload can change lives in the current snapshot (snap); the rest
 * (sockets, threads, stats blocks) is fixed at start. */
struct mtlb_server {
    /* Current snapshot: snap_lock guards the pointer while a reference is taken
     * (mtlb_snapshot_current); generation is its generation, polled by the threads. */
    struct mtlb_snapshot *snap;
    pthread_mutex_t snap_lock;
    atomic_uint_fast64_t generation;
    pthread_mutex_t reload_lock; /* one reload at a time (signal, admin, watch) */
    atomic_uint_fast64_t reloads_ok, reloads_failed, last_reload_ok_s;
    int ktls_probe; /* mtlb_ktls_probe at start, and its explanation */
    char ktls_why[128];
    size_t n_listeners;           /* fixed: a change needs a restart */
    struct mtlb_healthd *healthd; /* NULL when no pool has health checks */
    struct mtlb_worker *workers;
    unsigned n_workers;
    int *listen_fds; /* one listening socket per listener, shared by all acceptors */
    struct mtlb_acceptor **acceptors;
    unsigned n_acceptors;
    atomic_bool stop;
    atomic_uint_fast64_t next_conn_id;
    atomic_int live_conns;
    atomic_uint next_worker;
    struct mtlb_stats_slots slots;
    struct mtlb_stats_layout layout;
    struct mtlb_stats **acceptor_stats; /* [n_acceptors], each written by its acceptor */
    atomic_int phase;                   /* enum mtlb_phase, written by main, read by admin */
    struct mtlb_admin *admin;           /* NULL when admin.bind is not set */
    struct mtlb_watch *watch;           /* NULL unless reload.watch (watch.h) */
};

enum mtlb_phase {
    MTLB_PHASE_STARTING = 0, /* threads are being started */
    MTLB_PHASE_READY,        /* every listener accepts */
    MTLB_PHASE_DRAINING,     /* SIGTERM: shutdown_delay, then the drain */
};

/* Takes ownership of cfg (also on failure). */
int mtlb_server_init(struct mtlb_server *srv, struct mtlb_config *cfg, char *err, size_t errlen);
/* Main thread: starts the workers, acceptors, health checks and admin, then waits for the stop
 * flag, drains and joins them. 0 or -errno. */
int mtlb_server_run(struct mtlb_server *srv);
/* Frees what init and run left (safe after a failed init). */
void mtlb_server_fini(struct mtlb_server *srv);
/* Any thread (main on SIGHUP, admin on POST /reload, the watch thread): loads and validates the
 * configuration file again exactly as `mtlb -t` does, and on success publishes it as the new
 * snapshot. Serialized by a mutex. Returns 0 and the new generation in *generation, or -errno
 * with the problem (file, line, reason; or "restart needed: KEY changed") in err; on failure
 * nothing changes. Logs event=reloaded / event=reload_failed itself. trigger: "signal", "admin",
 * "watch". */
int mtlb_server_reload(struct mtlb_server *srv, const char *trigger, uint64_t *generation,
                       char *err, size_t errlen);
/* `mtlb -t`: loads every file the config names. Conditions mtlb would start with but that
 * refuse clients or will soon (mtlb_tls_listener_audit) are printed to stderr as
 * "mtlb: warning: ..." lines and counted in *warnings. 0 or -errno with err set. Takes
 * ownership of cfg. */
int mtlb_server_check(struct mtlb_config *cfg, unsigned *warnings, char *err, size_t errlen);
/* The reload's validation (reload.c), shared with mtlb_server_check: `mtlb -t`'s checks of cfg
 * (taking ownership of it), then the snapshot. 0 and *out, or -errno with err. */
int mtlb_server_build(struct mtlb_server *srv, struct mtlb_config *cfg, bool for_test,
                      struct mtlb_snapshot **out, char *err, size_t errlen);

#endif
