/* The file watch (reload.watch: true): one thread that watches, with inotify, the directories
 * of the configuration file and of every file it names (mtlb_watchset), waits until they have
 * been quiet for reload.debounce, then reloads through mtlb_server_reload(srv, "watch", ...).
 * It never touches a worker, an acceptor or the running configuration. */
#ifndef MTLB_WATCH_H
#define MTLB_WATCH_H

#include "mtlb/config.h"

struct mtlb_server;
struct mtlb_watch;

/* Main thread, before the files cfg names are read for the first time (so that a change made
 * while they are being loaded is not missed): when cfg->reload.watch is set, arms the watches
 * for cfg; otherwise does nothing. *out is NULL or the watch. 0, or -errno with err set
 * ("reload.watch: ...") when inotify is unavailable or a directory cannot be watched. Changes
 * queue in the kernel until mtlb_watch_start. cfg is only read here. */
int mtlb_watch_create(const struct mtlb_config *cfg, struct mtlb_watch **out, char *err,
                      size_t errlen);

/* Main thread: starts the thread (named "watch") that reloads srv through
 * mtlb_server_reload(srv, "watch", ...). NULL does nothing. 0 or -EAGAIN. */
int mtlb_watch_start(struct mtlb_watch *w, struct mtlb_server *srv);

/* Main thread: stops the thread if it runs (within 100 ms, or when a reload it started
 * returns), joins it and frees everything. NULL does nothing. */
void mtlb_watch_destroy(struct mtlb_watch *w);

#endif
