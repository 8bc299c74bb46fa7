/* Request routing: the compiled route table (one byte trie per route host,
 * each trie node listing the routes that end there in configuration order) and the target
 * rewrite of the route that wins. Pure: no I/O, no logging; the caller logs and answers. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtlb/authority.h"
#include "mtlb/require.h"
#include "mtlb/route.h"
#include "route_int.h"

struct rt_node {
    uint32_t child; /* first child, 0: none (the root is never a child) */
    uint32_t next;  /* next sibling, 0: none */
    uint32_t ends;  /* first of this node's entries in rt->ends */
    uint32_t n_ends;
    unsigned char byte;
};

struct rt_tree {
    const char *host; /* NULL: any host */
    uint32_t root;
};

/* What matching needs of one route beyond its configuration. */
struct rt_info {
    size_t lit_len;     /* the trie key: the path, or a pattern's part before "{" */
    const char *suffix; /* pattern: after "}" */
    size_t suffix_len;
    const char *tpl_pre; /* pattern backend: around the {name} (tpl_pre NULL: static pool) */
    size_t tpl_pre_len;
    const char *tpl_post;
};

struct rt_pool {
    const char *name;
    size_t index;
};

struct mtlb_routes {
    const struct mtlb_route_cfg *routes;
    size_t n;
    struct rt_info *info;
    struct rt_node *nodes;
    size_t n_nodes, cap_nodes;
    uint32_t *ends;
    struct rt_tree *trees; /* [0]: any host when any_tree; then by host, sorted */
    size_t n_trees;
    bool any_tree;
    struct rt_pool *pools; /* sorted by name */
    size_t n_pools;
    size_t max_prefix;         /* longest rewrite_prefix */
    struct mtlb_require **req; /* [route]: compiled require:, NULL when none */
};

/* ---- compilation ---- */

static int cmp_pool(const void *a, const void *b)
{
    return strcmp(((const struct rt_pool *)a)->name, ((const struct rt_pool *)b)->name);
}

static int cmp_tree(const void *a, const void *b)
{
    return strcmp(((const struct rt_tree *)a)->host, ((const struct rt_tree *)b)->host);
}

static int new_node(struct mtlb_routes *rt, unsigned char byte, uint32_t *out)
{
    if (rt->n_nodes == rt->cap_nodes) {
        size_t cap = rt->cap_nodes ? rt->cap_nodes * 2 : 64;
        struct rt_node *n = realloc(rt->nodes, cap * sizeof(*n));
        if (n == NULL) {
            return -ENOMEM;
        }
        rt->nodes = n;
        rt->cap_nodes = cap;
    }
    rt->nodes[rt->n_nodes] = (struct rt_node){.byte = byte};
    *out = (uint32_t)rt->n_nodes++;
    return 0;
}

static uint32_t find_child(const struct mtlb_routes *rt, uint32_t node, unsigned char byte)
{
    for (uint32_t c = rt->nodes[node].child; c != 0; c = rt->nodes[c].next) {
        if (rt->nodes[c].byte == byte) {
            return c;
        }
    }
    return 0;
}

/* The node of key[0..len) under root, created as needed. */
static int insert(struct mtlb_routes *rt, uint32_t root, const char *key, size_t len, uint32_t *out)
{
    uint32_t node = root;

    for (size_t i = 0; i < len; i++) {
        uint32_t c = find_child(rt, node, (unsigned char)key[i]);
        if (c == 0) {
            if (new_node(rt, (unsigned char)key[i], &c) != 0) {
                return -ENOMEM;
            }
            rt->nodes[c].next = rt->nodes[node].child;
            rt->nodes[node].child = c;
        }
        node = c;
    }
    *out = node;
    return 0;
}

/* The trie of host (NULL: any), created as needed (trees are sorted after all inserts). */
static int tree_of(struct mtlb_routes *rt, const char *host, uint32_t *root)
{
    for (size_t i = 0; i < rt->n_trees; i++) {
        const char *h = rt->trees[i].host;
        if ((h == NULL && host == NULL) || (h != NULL && host != NULL && strcmp(h, host) == 0)) {
            *root = rt->trees[i].root;
            return 0;
        }
    }
    if (new_node(rt, 0, root) != 0) {
        return -ENOMEM;
    }
    rt->trees[rt->n_trees++] = (struct rt_tree){host, *root};
    rt->any_tree = rt->any_tree || host == NULL;
    return 0;
}

static int fill_info(struct mtlb_routes *rt, size_t i)
{
    const struct mtlb_route_cfg *r = &rt->routes[i];
    struct rt_info *in = &rt->info[i];
    size_t vl;
    const char *var;

    in->lit_len = strlen(r->path);
    if (r->rewrite_prefix != NULL && strlen(r->rewrite_prefix) > rt->max_prefix) {
        rt->max_prefix = strlen(r->rewrite_prefix);
    }
    if (r->kind != MTLB_ROUTE_PATTERN) {
        return 0;
    }
    if (!mtlb_route_split_pattern(r->path, &in->lit_len, &var, &vl, &in->suffix)) {
        return -EINVAL;
    }
    in->suffix_len = strlen(in->suffix);
    if (r->backend_index != MTLB_ROUTE_NO_POOL) {
        return 0;
    }
    /* backend: "pre{name}post" with the pattern's name */
    const char *open = strchr(r->backend, '{');
    if (open == NULL || strncmp(open + 1, var, vl) != 0 || open[1 + vl] != '}') {
        return -EINVAL;
    }
    in->tpl_pre = r->backend;
    in->tpl_pre_len = (size_t)(open - r->backend);
    in->tpl_post = open + vl + 2;
    return 0;
}

static int build(struct mtlb_routes *rt, const struct mtlb_backend_cfg *backends, size_t nb)
{
    uint32_t *at = calloc(rt->n ? rt->n : 1, sizeof(*at));
    uint32_t root = 0;
    int rc = at != NULL ? 0 : -ENOMEM;

    for (size_t i = 0; rc == 0 && i < rt->n; i++) {
        rc = fill_info(rt, i);
        if (rc == 0 && rt->routes[i].has_require) {
            rc = mtlb_require_compile(&rt->routes[i].require, &rt->req[i]);
        }
        if (rc == 0) {
            rc = tree_of(rt, rt->routes[i].host, &root);
        }
        if (rc == 0) {
            rc = insert(rt, root, rt->routes[i].path, rt->info[i].lit_len, &at[i]);
        }
    }
    /* Each node's entries in route order: counted, then placed in ascending index. */
    for (size_t i = 0; rc == 0 && i < rt->n; i++) {
        rt->nodes[at[i]].n_ends++;
    }
    uint32_t sum = 0;
    for (size_t k = 0; rc == 0 && k < rt->n_nodes; k++) {
        rt->nodes[k].ends = sum;
        sum += rt->nodes[k].n_ends;
        rt->nodes[k].n_ends = 0;
    }
    for (size_t i = 0; rc == 0 && i < rt->n; i++) {
        struct rt_node *nd = &rt->nodes[at[i]];
        rt->ends[nd->ends + nd->n_ends++] = (uint32_t)i;
    }
    free(at);
    /* Any-host tree first, then the named ones sorted for bsearch. */
    for (size_t i = 0; rc == 0 && rt->any_tree && i < rt->n_trees; i++) {
        if (rt->trees[i].host == NULL) {
            struct rt_tree t = rt->trees[0];
            rt->trees[0] = rt->trees[i];
            rt->trees[i] = t;
            break;
        }
    }
    if (rc == 0 && rt->n_trees > (size_t)rt->any_tree) {
        qsort(rt->trees + rt->any_tree, rt->n_trees - rt->any_tree, sizeof(*rt->trees), cmp_tree);
    }
    for (size_t i = 0; rc == 0 && i < nb; i++) {
        rt->pools[i] = (struct rt_pool){backends[i].name, i};
    }
    if (rc == 0 && nb > 0) {
        qsort(rt->pools, nb, sizeof(*rt->pools), cmp_pool);
    }
    return rc;
}

int mtlb_route_compile(const struct mtlb_route_cfg *routes, size_t n,
                       const struct mtlb_backend_cfg *backends, size_t n_backends,
                       struct mtlb_routes **out)
{
    struct mtlb_routes *rt = calloc(1, sizeof(*rt));

    if (rt == NULL) {
        return -ENOMEM;
    }
    rt->routes = routes;
    rt->n = n;
    rt->n_pools = n_backends;
    rt->info = calloc(n ? n : 1, sizeof(*rt->info));
    rt->ends = calloc(n ? n : 1, sizeof(*rt->ends));
    rt->trees = calloc(n ? n : 1, sizeof(*rt->trees));
    rt->pools = calloc(n_backends ? n_backends : 1, sizeof(*rt->pools));
    rt->req = calloc(n ? n : 1, sizeof(*rt->req));
    int rc = rt->info && rt->ends && rt->trees && rt->pools && rt->req ? 0 : -ENOMEM;
    if (rc == 0) {
        rc = build(rt, backends, n_backends);
    }
    if (rc != 0) {
        mtlb_route_destroy(rt);
        return rc;
    }
    *out = rt;
    return 0;
}

void mtlb_route_destroy(struct mtlb_routes *rt)
{
    if (rt == NULL) {
        return;
    }
    for (size_t i = 0; rt->req != NULL && i < rt->n; i++) {
        mtlb_require_free(rt->req[i]);
    }
    free(rt->req);
    free(rt->info);
    free(rt->nodes);
    free(rt->ends);
    free(rt->trees);
    free(rt->pools);
    free(rt);
}

/* ---- matching ---- */

/* The route being chosen: the lowest index that matched so far and how much of the path. */
struct rt_best {
    size_t route;
    size_t matched;      /* bytes of the normalized path the rule covers */
    size_t seg, seg_len; /* pattern: the segment that names the pool */
};

/* Does route i, whose key ends at depth, match path[0..len)? path may end with a '/' added by
 * the matcher (added: then only prefixes and patterns see it, an exact path does not). */
static bool route_fits(const struct mtlb_routes *rt, size_t i, const char *path, size_t len,
                       bool added, size_t depth, struct rt_best *b)
{
    const struct rt_info *in = &rt->info[i];

    switch (rt->routes[i].kind) {
    case MTLB_ROUTE_PREFIX:
        *b = (struct rt_best){i, depth, 0, 0};
        return true;
    case MTLB_ROUTE_EXACT:
        *b = (struct rt_best){i, depth, 0, 0};
        return depth == len - added;
    case MTLB_ROUTE_PATTERN:
        break;
    }
    size_t end = depth;
    while (end < len && path[end] != '/') {
        end++;
    }
    if (end == depth || len - end < in->suffix_len ||
        memcmp(path + end, in->suffix, in->suffix_len) != 0) {
        return false;
    }
    *b = (struct rt_best){i, end + in->suffix_len, depth, end - depth};
    return true;
}

static void walk(const struct mtlb_routes *rt, uint32_t node, const char *path, size_t len,
                 bool added, struct rt_best *b)
{
    for (size_t depth = 0;; depth++) {
        const struct rt_node *nd = &rt->nodes[node];
        for (uint32_t k = 0; k < nd->n_ends; k++) {
            size_t i = rt->ends[nd->ends + k];
            struct rt_best cand;
            if (i >= b->route) {
                break;
            }
            if (route_fits(rt, i, path, len, added, depth, &cand)) {
                *b = cand;
                break;
            }
        }
        if (depth == len || (node = find_child(rt, node, (unsigned char)path[depth])) == 0) {
            return;
        }
    }
}

static const struct rt_tree *find_tree(const struct mtlb_routes *rt, const char *host)
{
    struct rt_tree key = {host, 0};
    size_t skip = rt->any_tree;

    return bsearch(&key, rt->trees + skip, rt->n_trees - skip, sizeof(key), cmp_tree);
}

static void match_path(const struct mtlb_routes *rt, const char *host, const char *path, size_t len,
                       bool added, struct rt_best *b)
{
    if (rt->any_tree) {
        walk(rt, rt->trees[0].root, path, len, added, b);
    }
    if (host[0] == '\0' || rt->n_trees == (size_t)rt->any_tree) {
        return;
    }
    const struct rt_tree *t = find_tree(rt, host);
    if (t != NULL) {
        walk(rt, t->root, path, len, added, b);
    }
    /* "*.suffix" covers one more label */
    const char *dot = strchr(host, '.');
    char wild[MTLB_AUTHORITY_HOST_MAX + 2];
    if (dot != NULL && dot != host && strlen(dot) + 2 <= sizeof(wild)) {
        snprintf(wild, sizeof(wild), "*%s", dot);
        if ((t = find_tree(rt, wild)) != NULL) {
            walk(rt, t->root, path, len, added, b);
        }
    }
}

/* The key a normalized path is matched on: each segment's parameters (";..." up to the next
 * '/') left out and runs of '/' merged, so that "/admin;x/", "//admin/" and "/admin//" meet a
 * rule on "/admin/" as the many backends that strip parameters or merge slashes would see them.
 * Writes key[0..return); with stop < SIZE_MAX, instead returns the offset in path where the
 * key's first stop bytes end (for the rewrite, which keeps the path's own bytes). */
static size_t match_key(const char *path, size_t len, char *key, size_t stop)
{
    size_t k = 0;
    char last = '\0'; /* the last byte put in the key */
    bool param = false;

    for (size_t i = 0; i < len; i++) {
        if (k == stop) {
            return i;
        }
        char ch = path[i];
        if (ch == '/') {
            param = false;
            if (last == '/') {
                continue;
            }
        } else if (ch == ';' || param) {
            param = true;
            continue;
        }
        if (key != NULL) {
            key[k] = ch;
        }
        last = ch;
        k++;
    }
    return stop == SIZE_MAX ? k : len;
}

/* The pool a pattern route names with its segment, or 404. */
static int pattern_pool(const struct mtlb_routes *rt, const struct rt_info *in, const char *seg,
                        size_t seg_len, struct mtlb_route_result *res)
{
    size_t post = strlen(in->tpl_post);
    int k = snprintf(res->pool_name, sizeof(res->pool_name), "%.*s%.*s%s", (int)in->tpl_pre_len,
                     in->tpl_pre, (int)seg_len, seg, in->tpl_post);
    struct rt_pool key = {res->pool_name, 0};
    const struct rt_pool *hit = NULL;

    if (k >= 0 && (size_t)k == in->tpl_pre_len + seg_len + post) {
        hit = bsearch(&key, rt->pools, rt->n_pools, sizeof(key), cmp_pool);
    }
    if (hit == NULL) {
        res->reason = "unknown_pool";
        return res->status = 404;
    }
    res->pool = hit->index;
    return 0;
}

/* Writes the rewritten target: the replacement, the rest of the normalized path, the query. */
static void rewrite(const struct mtlb_route_cfg *r, const char *path, size_t len, size_t matched,
                    struct mtlb_slice query, char *out, struct mtlb_route_result *res)
{
    const char *pre = r->rewrite_prefix != NULL ? r->rewrite_prefix : "/";
    size_t pl = strlen(pre);
    const char *rest = path + matched;
    size_t rl = len - matched;
    size_t o = pl; /* at least "/": the config requires rewrite_prefix to start with it */

    memcpy(out, pre, pl);
    if (o > 0 && out[o - 1] == '/' && rl > 0 && rest[0] == '/') {
        rest++;
        rl--;
    }
    memcpy(out + o, rest, rl);
    o += rl;
    memcpy(out + o, query.p, query.len);
    o += query.len;
    res->rewritten = true;
    res->target = (struct mtlb_slice){out, o};
}

/* A backend that decodes %2F, %5C or '\\' into a path separator (many do, or sit behind a
 * framework that does) reads "/admin%2Fx" as "/admin/x". When that reading would pick another
 * rule than the bytes as sent, the request could reach a route's pool past its policy (or
 * another route's backend), so it is refused; encoded slashes that change nothing (an ID such
 * as "group%2Fproject" under one rule) pass. scratch holds len + 2 bytes. */
static bool slash_reading_differs(const struct mtlb_routes *rt, const char *host, const char *path,
                                  size_t len, char *scratch, const struct rt_best *b)
{
    size_t w = 0;
    bool any = false;

    for (size_t i = 0; i < len; i++) {
        bool enc = i + 2 < len && path[i] == '%' &&
                   ((path[i + 1] == '2' && path[i + 2] == 'F') ||
                    (path[i + 1] == '5' && path[i + 2] == 'C'));
        if (enc || path[i] == '\\') {
            any = true;
            scratch[w++] = '/';
            i += enc ? 2 : 0;
        } else {
            scratch[w++] = path[i];
        }
    }
    if (!any) {
        return false;
    }
    /* the key of that reading, made as the request's own key was (in place: never longer) */
    size_t kl = match_key(scratch, w, scratch, SIZE_MAX);
    bool added = scratch[kl - 1] != '/';
    if (added) {
        scratch[kl++] = '/';
    }
    struct rt_best alt = {SIZE_MAX, 0, 0, 0};
    match_path(rt, host, scratch, kl, added, &alt);
    return alt.route != b->route;
}

size_t mtlb_route_buf_size(const struct mtlb_routes *rt, size_t target_len)
{
    return 3 * target_len + (rt != NULL ? rt->max_prefix : 0) + 6;
}

int mtlb_route_match(const struct mtlb_routes *rt, const char *host, struct mtlb_slice target,
                     bool slash, size_t default_pool, char *buf, size_t cap,
                     struct mtlb_route_result *res)
{
    *res = (struct mtlb_route_result){.pool = default_pool, .route = -1, .reason = "no_route"};
    bool star = !slash && target.len == 1 && target.p[0] == '*';
    if (rt != NULL && rt->n > 0 && !star) {
        const char *q = memchr(target.p, '?', target.len);
        size_t plen = slash ? 0 : (q != NULL ? (size_t)(q - target.p) : target.len);
        struct mtlb_slice query = {target.p + plen, target.len - plen};
        if (cap < mtlb_route_buf_size(rt, target.len)) {
            return res->status = 400;
        }
        ssize_t n = mtlb_route_normalize(target.p, plen, buf, target.len + 1);
        if (n < 0) {
            return res->status = 400;
        }
        /* The key, with a '/' added when it has none at its end: a prefix "/admin/" also
         * covers "/admin", which many backends serve as the same directory. */
        char *key = buf + target.len + 1;
        size_t kl = match_key(buf, (size_t)n, key, SIZE_MAX);
        bool added = key[kl - 1] != '/';
        if (added) {
            key[kl++] = '/';
        }
        struct rt_best b = {SIZE_MAX, 0, 0, 0};
        match_path(rt, host, key, kl, added, &b);
        if (slash_reading_differs(rt, host, buf, (size_t)n, key + target.len + 2, &b)) {
            res->reason = "encoded_slash";
            return res->status = 400;
        }
        if (b.route != SIZE_MAX) {
            const struct mtlb_route_cfg *r = &rt->routes[b.route];
            res->route = (int)b.route;
            res->cfg = r;
            res->require = rt->req[b.route];
            res->pool = r->backend_index;
            if (r->backend_index == MTLB_ROUTE_NO_POOL &&
                pattern_pool(rt, &rt->info[b.route], key + b.seg, b.seg_len, res) != 0) {
                return res->status;
            }
            if (r->strip_prefix || r->rewrite_prefix != NULL) {
                size_t matched = match_key(buf, (size_t)n, NULL, b.matched);
                rewrite(r, buf, (size_t)n, matched, query, key + target.len + 2, res);
            }
            return res->status = 0;
        }
    }
    if (res->pool == MTLB_ROUTE_NO_POOL) {
        return res->status = 404;
    }
    return res->status = 0;
}

/* ---- configuration warnings ---- */

static bool hosts_meet(const char *a, const char *b)
{
    return a == NULL || b == NULL || strcmp(a, b) == 0;
}

/* Does every request for host b also match host a? */
static bool host_covers(const char *a, const char *b)
{
    return a == NULL || (b != NULL && strcmp(a, b) == 0);
}

/* The literal part of a route's path that every request it matches starts with. */
static size_t key_len(const struct mtlb_route_cfg *r)
{
    const char *open = r->kind == MTLB_ROUTE_PATTERN ? strchr(r->path, '{') : NULL;

    return open != NULL ? (size_t)(open - r->path) : strlen(r->path);
}

size_t mtlb_route_lint(const struct mtlb_route_cfg *routes, size_t n,
                       void (*warn)(void *arg, size_t i, const char *msg), void *arg)
{
    size_t count = 0;
    char msg[256];

    for (size_t j = 0; j < n; j++) {
        const struct mtlb_route_cfg *b = &routes[j];
        for (size_t i = 0; i < j; i++) {
            const struct mtlb_route_cfg *a = &routes[i];
            size_t al = key_len(a);
            size_t bl = key_len(b);
            bool covers = a->kind == MTLB_ROUTE_PREFIX && host_covers(a->host, b->host) &&
                          bl >= al && strncmp(a->path, b->path, al) == 0;
            bool dup = a->kind == MTLB_ROUTE_EXACT && b->kind == MTLB_ROUTE_EXACT &&
                       host_covers(a->host, b->host) && strcmp(a->path, b->path) == 0;
            if (covers || dup) {
                snprintf(msg, sizeof(msg),
                         "unreachable: routes[%zu] (%s) matches every request it would%s", i,
                         a->path,
                         a->has_require != b->has_require ? " (its require is never checked)" : "");
                warn(arg, j, msg);
                count++;
                break;
            }
            bool overlap = hosts_meet(a->host, b->host) && a->kind != MTLB_ROUTE_EXACT &&
                           b->kind != MTLB_ROUTE_EXACT &&
                           strncmp(a->path, b->path, al < bl ? al : bl) == 0;
            if (overlap) {
                snprintf(msg, sizeof(msg),
                         "overlaps routes[%zu] (%s): requests both match go to routes[%zu]", i,
                         a->path, i);
                warn(arg, j, msg);
                count++;
                break;
            }
        }
    }
    return count;
}
