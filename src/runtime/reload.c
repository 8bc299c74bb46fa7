/* Configuration reload: loads the file again through the `mtlb -t` path, refuses changes that
 * need a restart, publishes the new snapshot and restarts the health checks for it. Any thread
 * (main on SIGHUP, admin on POST /reload, the watch thread); serialized by srv->reload_lock.
 * The workers and acceptors switch on their own when they see the new generation. Also the
 * validation the reload shares with `mtlb -t` (mtlb_server_build). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mtlb/config.h"
#include "mtlb/config_diff.h"
#include "mtlb/handoff.h"
#include "mtlb/health.h"
#include "mtlb/ktls.h"
#include "mtlb/log.h"
#include "mtlb/server.h"
#include "mtlb/snapshot.h"
#include "mtlb/worker_types.h"

/* The access log must be a file mtlb can append to (or create) at start; -t checks it without
 * creating anything. */
static int check_access_log(const struct mtlb_config *cfg, char *err, size_t errlen)
{
    const char *p = cfg->log.access_log;
    struct stat st;

    if (p == NULL || strcmp(p, "stdout") == 0 || strcmp(p, "stderr") == 0) {
        return 0;
    }
    if (stat(p, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "%s: log.access_log: %s is a directory, expected a file path",
                     cfg->path, p);
            return -EISDIR;
        }
        if (access(p, W_OK) != 0) {
            int e = errno;
            snprintf(err, errlen, "%s: log.access_log: %s: %s", cfg->path, p, strerror(e));
            return -e;
        }
        return 0;
    }
    char dir[4096];
    const char *slash = strrchr(p, '/');
    snprintf(dir, sizeof(dir), "%.*s",
             slash == NULL ? 1
             : slash == p  ? 1
                           : (int)(slash - p),
             slash == NULL ? "." : p);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: log.access_log: %s: directory %s does not exist", cfg->path, p,
                 dir);
        return -ENOENT;
    }
    if (access(dir, W_OK) != 0) {
        int e = errno;
        snprintf(err, errlen, "%s: log.access_log: %s: cannot create a file in %s: %s", cfg->path,
                 p, dir, strerror(e));
        return -e;
    }
    return 0;
}

int mtlb_server_build(struct mtlb_server *srv, struct mtlb_config *cfg, bool for_test,
                      struct mtlb_snapshot **out, char *err, size_t errlen)
{
    *out = NULL;
    int rc = check_access_log(cfg, err, errlen);
    if (rc != 0) {
        mtlb_config_destroy(cfg);
        return rc;
    }
    char why[128] = "";
    int probe = srv != NULL ? srv->ktls_probe : mtlb_ktls_probe(why, sizeof(why));
    return mtlb_snapshot_create(cfg, srv != NULL ? srv->snap : NULL,
                                srv != NULL && !for_test ? &srv->slots : NULL, probe,
                                srv != NULL ? srv->ktls_why : why, out, err, errlen);
}

static int reload_failed(struct mtlb_server *srv, const char *trigger, int rc, char *err,
                         size_t errlen)
{
    char q[1200];

    if (err[0] == '\0') {
        snprintf(err, errlen, "%s", strerror(-rc));
    }
    atomic_fetch_add(&srv->reloads_failed, 1);
    mtlb_log(MTLB_LOG_ERROR, "event=reload_failed trigger=%s generation=%llu error=%s", trigger,
             (unsigned long long)atomic_load(&srv->generation), mtlb_log_quote(err, q, sizeof(q)));
    return rc;
}

/* Loads and checks the file; on success *out is the new snapshot (not yet published). */
static int load(struct mtlb_server *srv, struct mtlb_snapshot **out, char *err, size_t errlen)
{
    const struct mtlb_config *old = srv->snap->cfg;
    struct mtlb_config *cfg = NULL;
    char why[512];

    if (atomic_load(&srv->stop)) {
        snprintf(err, errlen, "shutting down");
        return -ECANCELED;
    }
    int rc = mtlb_config_load(old->path, &cfg, err, errlen);
    if (rc != 0) {
        return rc;
    }
    if (mtlb_config_diff_restart(old, cfg, why, sizeof(why))) {
        snprintf(err, errlen, "%s: restart needed: %s", old->path, why);
        mtlb_config_destroy(cfg);
        return -EPERM;
    }
    return mtlb_server_build(srv, cfg, false, out, err, errlen);
}

static bool any_checks(const struct mtlb_config *cfg)
{
    for (size_t p = 0; p < cfg->n_backends; p++) {
        if (cfg->backends[p].health.enabled) {
            return true;
        }
    }
    return false;
}

/* headers.client_cert turned on: the connections made before the reload encode the PEM at
 * their next request from the leaf their SSL still holds (routing.c), except kTLS ones, which
 * released their SSL at the handoff. Keeping each kTLS leaf for such a reload would cost 0.5 to
 * 1.5 KiB per idle connection (its DER or encoded PEM), so an operator is told instead. */
static void note_client_cert(const struct mtlb_snapshot *old, const struct mtlb_snapshot *snap)
{
    const struct mtlb_id_names *was = &old->cfg->id_headers, *now = &snap->cfg->id_headers;
    bool ktls = false;

    if (was->name[MTLB_IDH_CERT][0] != '\0' || now->name[MTLB_IDH_CERT][0] == '\0') {
        return;
    }
    for (size_t l = 0; l < old->cfg->n_listeners; l++) {
        ktls = ktls || old->ktls[l];
    }
    mtlb_log(MTLB_LOG_INFO,
             "event=reload_note key=headers.client_cert ktls_before=%s note=\"connections made "
             "before this reload send %s from their next request, except kTLS ones (their "
             "certificate was released when the kernel took over their TLS): those go without "
             "it until the client reconnects\"",
             ktls ? "yes" : "no", now->name[MTLB_IDH_CERT]);
}

/* Swaps srv->snap; returns the old one (the server's reference, for the caller to drop). */
static struct mtlb_snapshot *publish(struct mtlb_server *srv, struct mtlb_snapshot *snap)
{
    struct mtlb_snapshot *old = srv->snap;

    snap->generation = old->generation + 1;
    pthread_mutex_lock(&srv->snap_lock);
    srv->snap = snap;
    pthread_mutex_unlock(&srv->snap_lock);
    atomic_store_explicit(&srv->generation, snap->generation, memory_order_release);
    return old;
}

int mtlb_server_reload(struct mtlb_server *srv, const char *trigger, uint64_t *generation,
                       char *err, size_t errlen)
{
    struct mtlb_snapshot *snap = NULL;
    char changed[1024], q[1100];

    err[0] = '\0';
    pthread_mutex_lock(&srv->reload_lock);
    int rc = load(srv, &snap, err, errlen);
    if (rc != 0) {
        reload_failed(srv, trigger, rc, err, errlen);
        pthread_mutex_unlock(&srv->reload_lock);
        return rc;
    }
    mtlb_config_diff_summary(srv->snap->cfg, snap->cfg, changed, sizeof(changed));
    bool checks = any_checks(srv->snap->cfg) || any_checks(snap->cfg);
    struct mtlb_snapshot *old = publish(srv, snap);
    mtlb_log_set_level(snap->cfg->log.level);
    if (checks) {
        mtlb_health_stop(srv);
        int hrc = mtlb_health_start(srv, snap);
        if (hrc != 0) {
            mtlb_log(MTLB_LOG_ERROR, "event=health_start_failed error=\"%s\"", strerror(-hrc));
        }
    }
    for (unsigned i = 0; i < srv->n_workers; i++) {
        mtlb_worker_wake(&srv->workers[i]); /* switch now, not at the next tick */
    }
    atomic_fetch_add(&srv->reloads_ok, 1);
    atomic_store(&srv->last_reload_ok_s, (uint64_t)time(NULL));
    *generation = snap->generation;
    mtlb_log(MTLB_LOG_INFO, "event=reloaded generation=%llu trigger=%s changed=%s",
             (unsigned long long)snap->generation, trigger, mtlb_log_quote(changed, q, sizeof(q)));
    note_client_cert(old, snap);
    mtlb_snapshot_put(old);
    pthread_mutex_unlock(&srv->reload_lock);
    return 0;
}
