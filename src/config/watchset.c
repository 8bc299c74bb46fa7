/* The file watch's set: the configuration file and the files it names, split into directory
 * and base name, each directory once. Pure: string work only; never opens, stats or resolves
 * a path (the watch thread does that). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mtlb/watchset.h"

static struct mtlb_watch_dir *find_dir(struct mtlb_watchset *ws, const char *dir, size_t len)
{
    for (size_t i = 0; i < ws->n_dirs; i++) {
        if (strlen(ws->dirs[i].dir) == len && memcmp(ws->dirs[i].dir, dir, len) == 0) {
            return &ws->dirs[i];
        }
    }
    return NULL;
}

static struct mtlb_watch_dir *add_dir(struct mtlb_watchset *ws, const char *dir, size_t len)
{
    struct mtlb_watch_dir *d = find_dir(ws, dir, len);

    if (d != NULL) {
        return d;
    }
    char *copy = strndup(dir, len);
    d = realloc(ws->dirs, (ws->n_dirs + 1) * sizeof(*ws->dirs));
    if (d == NULL || copy == NULL) {
        free(copy);
        ws->dirs = d != NULL ? d : ws->dirs;
        return NULL;
    }
    ws->dirs = d;
    d = &ws->dirs[ws->n_dirs++];
    *d = (struct mtlb_watch_dir){.dir = copy, .wd = -1};
    return d;
}

static int add_name(struct mtlb_watch_dir *d, const char *name)
{
    for (size_t i = 0; i < d->n_names; i++) {
        if (strcmp(d->names[i], name) == 0) {
            return 0;
        }
    }
    char *copy = strdup(name);
    char **names = realloc(d->names, (d->n_names + 1) * sizeof(*d->names));
    if (names == NULL || copy == NULL) {
        free(copy);
        d->names = names != NULL ? names : d->names;
        return -ENOMEM;
    }
    d->names = names;
    d->names[d->n_names++] = copy;
    return 0;
}

int mtlb_watchset_add(struct mtlb_watchset *ws, const char *path)
{
    size_t len = path != NULL ? strlen(path) : 0;

    if (len == 0 || path[len - 1] == '/') {
        return -EINVAL;
    }
    const char *slash = strrchr(path, '/');
    const char *dir = ".";
    size_t dlen = 1;
    if (slash != NULL) {
        dir = path;
        dlen = slash == path ? 1 : (size_t)(slash - path); /* "/ca.pem" lives in "/" */
    }
    struct mtlb_watch_dir *d = add_dir(ws, dir, dlen);
    if (d == NULL) {
        return -ENOMEM;
    }
    return add_name(d, slash != NULL ? slash + 1 : path);
}

/* An absent file is no file to watch; a path that cannot name one (ending in '/') has been
 * refused by the config already, and is skipped rather than stopping the rest. */
static int add_opt(struct mtlb_watchset *ws, const char *path)
{
    int rc = path != NULL ? mtlb_watchset_add(ws, path) : 0;

    return rc == -EINVAL ? 0 : rc;
}

int mtlb_watchset_from_config(struct mtlb_watchset *ws, const struct mtlb_config *cfg)
{
    int rc = add_opt(ws, cfg->path);

    for (size_t l = 0; rc == 0 && l < cfg->n_listeners; l++) {
        const struct mtlb_listener_cfg *lc = &cfg->listeners[l];
        rc = add_opt(ws, lc->ticket_keys);
        for (size_t i = 0; rc == 0 && i < lc->n_domains; i++) {
            const struct mtlb_domain_cfg *dc = &lc->domains[i];
            rc = add_opt(ws, dc->certificate);
            rc = rc != 0 ? rc : add_opt(ws, dc->key);
            rc = rc != 0 ? rc : add_opt(ws, dc->truststore);
            rc = rc != 0 ? rc : add_opt(ws, dc->crl);
            rc = rc != 0 ? rc : add_opt(ws, dc->ocsp_response);
            rc = rc != 0 ? rc : add_opt(ws, dc->policy.str[MTLB_TLSP_PASSPHRASE]);
        }
    }
    return rc;
}

bool mtlb_watchset_concerns(const struct mtlb_watch_dir *d, const char *name)
{
    if (name == NULL || name[0] == '\0') {
        return false;
    }
    if (strcmp(name, MTLB_WATCHSET_K8S_DATA) == 0) {
        return true;
    }
    for (size_t i = 0; i < d->n_names; i++) {
        if (strcmp(d->names[i], name) == 0) {
            return true;
        }
    }
    return false;
}

size_t mtlb_watchset_count(const struct mtlb_watchset *ws)
{
    size_t n = 0;

    for (size_t i = 0; i < ws->n_dirs; i++) {
        n += ws->dirs[i].n_names;
    }
    return n;
}

void mtlb_watchset_fini(struct mtlb_watchset *ws)
{
    for (size_t i = 0; i < ws->n_dirs; i++) {
        for (size_t j = 0; j < ws->dirs[i].n_names; j++) {
            free(ws->dirs[i].names[j]);
        }
        free(ws->dirs[i].names);
        free(ws->dirs[i].dir);
    }
    free(ws->dirs);
    ws->dirs = NULL;
    ws->n_dirs = 0;
}
