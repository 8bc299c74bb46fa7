/* The file watch thread: inotify on the directories of the configuration file and of the files
 * it names, a debounce, then mtlb_server_reload(srv, "watch"). It owns its inotify descriptor
 * and its watch set; it never reads the running configuration or touches another thread's
 * state (the reload does the work, under its own lock). */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "mtlb/config.h"
#include "mtlb/log.h"
#include "mtlb/server.h"
#include "mtlb/watch.h"
#include "mtlb/watchset.h"

/* The longest the thread sleeps without looking at its stop flag. */
#define STOP_POLL_MS 100
/* Changes of a watched name, plus the directory itself going away or being moved (a mount
 * replaced, a symlinked directory's target deleted by a Kubernetes swap): then the paths are
 * resolved again after the debounce. IN_MODIFY is left out: IN_CLOSE_WRITE follows it. */
#define WATCH_MASK                                                                                 \
    (IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE | IN_ATTRIB | IN_MOVED_FROM |            \
     IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

struct mtlb_watch {
    struct mtlb_server *srv;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    char *path;           /* the configuration file, as given to mtlb -c */
    uint32_t debounce_ms; /* reload.debounce at start */
    int fd;               /* inotify */
    struct mtlb_watchset ws;
    bool pending;         /* a change is waiting for the debounce */
    uint64_t deadline_ms; /* when it fires, unless another change comes first */
    unsigned changes;     /* events that concerned a watched file since the last reload */
    char first[PATH_MAX + 64];
};

/* A watched path may be a symbolic link to a file elsewhere (a shared PKI directory, or
 * Kubernetes' NAME -> ..data/NAME -> ..TIMESTAMP/NAME): an edit of the target changes nothing
 * in the link's directory, so the target's directory is watched too. */
static int add_link_targets(struct mtlb_watchset *ws)
{
    size_t n = mtlb_watchset_count(ws), k = 0;
    char **extra = calloc(n ? n : 1, sizeof(*extra));
    char full[PATH_MAX + NAME_MAX + 2];
    int rc = extra != NULL ? 0 : -ENOMEM;

    for (size_t i = 0; rc == 0 && i < ws->n_dirs; i++) {
        const struct mtlb_watch_dir *d = &ws->dirs[i];
        for (size_t j = 0; j < d->n_names; j++) {
            snprintf(full, sizeof(full), "%s/%s", strcmp(d->dir, "/") ? d->dir : "", d->names[j]);
            char *real = realpath(full, NULL);
            if (real != NULL && strcmp(real, full) != 0) {
                extra[k++] = real;
            } else {
                free(real);
            }
        }
    }
    for (size_t i = 0; i < k; i++) {
        int arc = mtlb_watchset_add(ws, extra[i]);
        rc = rc != 0 ? rc : arc == -EINVAL ? 0 : arc;
        free(extra[i]);
    }
    free(extra);
    return rc;
}

static int build_set(struct mtlb_watchset *ws, const struct mtlb_config *cfg)
{
    int rc = mtlb_watchset_from_config(ws, cfg);

    return rc != 0 ? rc : add_link_targets(ws);
}

/* Arms every directory of ws on a new inotify descriptor (*fd). Returns 0, or the first
 * -errno with err set; a directory that cannot be watched keeps wd -1 and the rest is armed. */
static int arm(struct mtlb_watchset *ws, int *fd, char *err, size_t errlen)
{
    int rc = 0;

    *fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (*fd == -1) {
        rc = -errno;
        snprintf(err, errlen, "reload.watch: inotify: %s%s", strerror(-rc),
                 rc == -EMFILE ? " (fs.inotify.max_user_instances)" : "");
        return rc;
    }
    for (size_t i = 0; i < ws->n_dirs; i++) {
        struct mtlb_watch_dir *d = &ws->dirs[i];
        d->wd = inotify_add_watch(*fd, d->dir, WATCH_MASK);
        if (d->wd == -1 && rc == 0) {
            rc = -errno;
            snprintf(err, errlen, "reload.watch: cannot watch directory %s: %s%s", d->dir,
                     strerror(-rc), rc == -ENOSPC ? " (fs.inotify.max_user_watches)" : "");
        }
    }
    return rc;
}

/* After the debounce, before the reload reads anything: the set is derived again from the
 * configuration file as it is now (the one the reload is about to load), its links resolved
 * again, and armed on a new descriptor before the old one is closed, so no change is missed in
 * between. When the file does not parse, the old set is armed again: fixing it is a change. */
static void rearm(struct mtlb_watch *w)
{
    struct mtlb_config *cfg = NULL;
    struct mtlb_watchset ws = {0};
    char err[1024];
    int fd = -1;
    bool fresh = mtlb_config_load(w->path, &cfg, err, sizeof(err)) == 0;

    if (fresh && (!cfg->reload.watch || cfg->reload.debounce_ms != w->debounce_ms)) {
        mtlb_log(MTLB_LOG_WARN,
                 "event=watch_setting_changed watch=%s debounce_ms=%u "
                 "note=\"reload.watch and reload.debounce take effect at the next restart\"",
                 cfg->reload.watch ? "true" : "false", cfg->reload.debounce_ms);
    }
    fresh = fresh && build_set(&ws, cfg) == 0;
    mtlb_config_destroy(cfg);
    struct mtlb_watchset *use = fresh ? &ws : &w->ws;
    if (arm(use, &fd, err, sizeof(err)) != 0) {
        char q[1100];
        mtlb_log(MTLB_LOG_WARN, "event=watch_incomplete error=%s",
                 mtlb_log_quote(err, q, sizeof(q)));
    }
    if (fd == -1) {
        mtlb_watchset_fini(&ws);
        return; /* no descriptor at all: keep the old one and its watches */
    }
    close(w->fd);
    w->fd = fd;
    if (fresh) {
        mtlb_watchset_fini(&w->ws);
        w->ws = ws;
    }
    mtlb_log(MTLB_LOG_DEBUG, "event=watch_armed dirs=%zu files=%zu", w->ws.n_dirs,
             mtlb_watchset_count(&w->ws));
}

static void note(struct mtlb_watch *w, const char *dir, const char *name)
{
    if (!w->pending) {
        w->changes = 0;
        snprintf(w->first, sizeof(w->first), "%s%s%s", dir, name[0] ? "/" : "", name);
    }
    w->pending = true;
    w->changes++;
    w->deadline_ms = mtlb_now_ms() + w->debounce_ms;
    if (mtlb_log_enabled(MTLB_LOG_DEBUG)) {
        char q[PATH_MAX + 96], n[NAME_MAX * 2 + 8];
        mtlb_log(MTLB_LOG_DEBUG, "event=watch_event dir=%s name=%s",
                 mtlb_log_quote(dir, q, sizeof(q)), mtlb_log_quote(name, n, sizeof(n)));
    }
}

static void on_event(struct mtlb_watch *w, const struct inotify_event *ev)
{
    const struct mtlb_watch_dir *hit = NULL;
    bool self = (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) != 0;

    if (ev->mask & IN_Q_OVERFLOW) {
        note(w, "(inotify queue overflow)", "");
        return;
    }
    /* Two directory strings may be one inode (a link and its target, "." and its path): the
     * same wd. The event counts once; a dropped watch is dropped for all of them. */
    for (size_t i = 0; i < w->ws.n_dirs; i++) {
        struct mtlb_watch_dir *d = &w->ws.dirs[i];
        if (d->wd == -1 || d->wd != ev->wd) {
            continue;
        }
        if (hit == NULL && (self || mtlb_watchset_concerns(d, ev->len ? ev->name : NULL))) {
            hit = d;
        }
        if (ev->mask & IN_IGNORED) {
            d->wd = -1; /* the kernel dropped the watch; rearm adds it again */
        }
    }
    if (hit != NULL) {
        note(w, hit->dir, self ? "" : ev->name);
    }
}

static void read_events(struct mtlb_watch *w)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

    for (;;) {
        ssize_t n = read(w->fd, buf, sizeof(buf));
        if (n <= 0) {
            return; /* EAGAIN: all read */
        }
        for (ssize_t off = 0; off + (ssize_t)sizeof(struct inotify_event) <= n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(buf + off);
            on_event(w, ev);
            off += (ssize_t)(sizeof(*ev) + ev->len);
        }
    }
}

static void fire(struct mtlb_watch *w)
{
    char q[PATH_MAX + 96];
    char err[1024] = "";
    uint64_t generation = 0;

    int phase = atomic_load(&w->srv->phase);
    if (phase == MTLB_PHASE_STARTING) {
        w->deadline_ms = mtlb_now_ms() + w->debounce_ms; /* reload once every thread runs */
        return;
    }
    w->pending = false;
    if (phase == MTLB_PHASE_DRAINING) {
        return; /* shutting down: the next start reads the files anyway */
    }
    mtlb_log(MTLB_LOG_INFO, "event=watch_changed changes=%u first=%s debounce_ms=%u", w->changes,
             mtlb_log_quote(w->first, q, sizeof(q)), w->debounce_ms);
    rearm(w);
    /* The reload logs reloaded or reload_failed itself; its result changes nothing here. */
    (void)mtlb_server_reload(w->srv, "watch", &generation, err, sizeof(err));
}

static void *watch_main(void *arg)
{
    struct mtlb_watch *w = arg;

    mtlb_log_set_thread("watch");
    while (!atomic_load(&w->stop)) {
        int timeout = STOP_POLL_MS;
        if (w->pending) {
            uint64_t now = mtlb_now_ms();
            uint64_t left = w->deadline_ms > now ? w->deadline_ms - now : 0;
            timeout = left < STOP_POLL_MS ? (int)left : STOP_POLL_MS;
        }
        struct pollfd p = {.fd = w->fd, .events = POLLIN};
        if (poll(&p, 1, timeout) > 0) {
            read_events(w);
        }
        if (w->pending && mtlb_now_ms() >= w->deadline_ms && !atomic_load(&w->stop)) {
            fire(w);
        }
    }
    return NULL;
}

int mtlb_watch_create(const struct mtlb_config *cfg, struct mtlb_watch **out, char *err,
                      size_t errlen)
{
    *out = NULL;
    if (!cfg->reload.watch) {
        return 0;
    }
    struct mtlb_watch *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        snprintf(err, errlen, "reload.watch: out of memory");
        return -ENOMEM;
    }
    w->fd = -1;
    w->debounce_ms = cfg->reload.debounce_ms;
    w->path = strdup(cfg->path);
    int rc = w->path != NULL ? build_set(&w->ws, cfg) : -ENOMEM;
    if (rc != 0) {
        snprintf(err, errlen, "reload.watch: out of memory");
    } else {
        rc = arm(&w->ws, &w->fd, err, errlen);
    }
    if (rc != 0) {
        mtlb_watch_destroy(w);
        return rc;
    }
    *out = w;
    return 0;
}

int mtlb_watch_start(struct mtlb_watch *w, struct mtlb_server *srv)
{
    if (w == NULL) {
        return 0;
    }
    w->srv = srv;
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
        return -EAGAIN;
    }
    w->started = true;
    mtlb_log(MTLB_LOG_INFO, "event=watch_started dirs=%zu files=%zu debounce_ms=%u", w->ws.n_dirs,
             mtlb_watchset_count(&w->ws), w->debounce_ms);
    return 0;
}

void mtlb_watch_destroy(struct mtlb_watch *w)
{
    if (w == NULL) {
        return;
    }
    atomic_store(&w->stop, true);
    if (w->started) {
        pthread_join(w->thread, NULL);
    }
    if (w->fd != -1) {
        close(w->fd);
    }
    mtlb_watchset_fini(&w->ws);
    free(w->path);
    free(w);
}
