/* The files a configuration depends on, grouped by directory, for the file watch
 * (reload.watch): which directories to watch and whether a name that changed in one of them
 * concerns a watched file. Pure: strings only, no I/O; the watch thread (src/runtime/watch.c)
 * owns inotify and adds the targets of symbolic links itself. */
#ifndef MTLB_WATCHSET_H
#define MTLB_WATCHSET_H

#include <stdbool.h>
#include <stddef.h>

#include "mtlb/config.h"

/* Kubernetes mounts a Secret or ConfigMap as NAME -> ..data/NAME and replaces ..data with one
 * rename (..data_tmp -> ..data), so an update shows as events on this name, never on NAME. */
#define MTLB_WATCHSET_K8S_DATA "..data"

struct mtlb_watch_dir {
    char *dir;    /* "/etc/mtlb/ca"; "/" for the root; "." for a bare relative name */
    char **names; /* base names of the watched files in it, each once */
    size_t n_names;
    int wd; /* for the watch thread (inotify watch descriptor); -1 when none */
};

struct mtlb_watchset {
    struct mtlb_watch_dir *dirs; /* each directory once (compared as strings) */
    size_t n_dirs;
};

/* Adds the file at path: its directory (everything before the last '/') and its base name.
 * A path already in the set changes nothing. 0, -EINVAL for an empty path or one that ends in
 * '/' (not a file), -ENOMEM. The set owns copies of the strings. */
int mtlb_watchset_add(struct mtlb_watchset *ws, const char *path);

/* Adds cfg->path and every file cfg names that a reload reads again: each domain's
 * certificate, key, truststore and CRL, and each listener's ticket key file. Not the access
 * log (mtlb writes it; a watch on it would reload at every request). 0 or -ENOMEM. */
int mtlb_watchset_from_config(struct mtlb_watchset *ws, const struct mtlb_config *cfg);

/* Does a change of `name` (an inotify event's name, NULL or "" for the directory itself) in d
 * concern a watched file? True for a watched base name and for MTLB_WATCHSET_K8S_DATA; false
 * for the directory itself and for any other name (an editor's swap or temp file, an
 * unrelated file next to ours). */
bool mtlb_watchset_concerns(const struct mtlb_watch_dir *d, const char *name);

/* Total watched names over all directories. */
size_t mtlb_watchset_count(const struct mtlb_watchset *ws);

/* Frees everything; ws is empty afterwards (and may be reused). */
void mtlb_watchset_fini(struct mtlb_watchset *ws);

#endif
