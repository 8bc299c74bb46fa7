/* listeners[].routes (ordered path rules towards backend pools) and their resolution against
 * backends[], with domains[].backend and the listener's now optional backend. Reads and checks
 * only: the route module (mtlb/route.h) compiles and matches them. Pure: no I/O. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "mtlb/cidr.h"
#include "mtlb/route.h"

#define N_FIELDS(a) (sizeof(a) / sizeof((a)[0]))

static int read_kind_path(struct cfg_ctx *ctx, yaml_node_t *v, struct mtlb_route_cfg *r,
                          enum mtlb_route_kind kind)
{
    char why[256];

    if (r->path != NULL) {
        return mtlb_cfg_err(ctx, v, "only one of path_prefix, path_exact, path_pattern");
    }
    int rc = mtlb_cfg_str(ctx, v, &r->path);
    if (rc != 0) {
        return rc;
    }
    r->kind = kind;
    if (mtlb_route_check_path(r, why, sizeof(why)) != 0) {
        return mtlb_cfg_err(ctx, v, "%s", why);
    }
    return 0;
}

static int read_prefix(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    (void)f;
    return read_kind_path(ctx, v, dst, MTLB_ROUTE_PREFIX);
}

static int read_exact(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    (void)f;
    return read_kind_path(ctx, v, dst, MTLB_ROUTE_EXACT);
}

static int read_pattern(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    (void)f;
    return read_kind_path(ctx, v, dst, MTLB_ROUTE_PATTERN);
}

static int read_host(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    (void)f;
    return mtlb_cfg_sni_name(ctx, v, &((struct mtlb_route_cfg *)dst)->host);
}

static int read_string(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    (void)f;
    int rc = mtlb_cfg_str(ctx, v, dst);
    if (rc == 0 && **(char **)dst == '\0') {
        return mtlb_cfg_err(ctx, v, "must not be empty");
    }
    return rc;
}

static int read_strip(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const char *const w[] = {"true", "false"};
    int i = 0;
    int rc = mtlb_cfg_choice(ctx, v, w, N_FIELDS(w), &i);

    (void)f;
    if (rc == 0) {
        ((struct mtlb_route_cfg *)dst)->strip_prefix = i == 0;
    }
    return rc;
}

static int read_rewrite(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    struct mtlb_route_cfg *r = dst;
    char why[256];
    int rc = mtlb_cfg_str(ctx, v, &r->rewrite_prefix);

    (void)f;
    if (rc != 0) {
        return rc;
    }
    struct mtlb_route_cfg as_path = {.kind = MTLB_ROUTE_PREFIX, .path = r->rewrite_prefix};
    if (mtlb_route_check_path(&as_path, why, sizeof(why)) != 0) {
        return mtlb_cfg_err(ctx, v, "%s", why);
    }
    return 0;
}

static int read_require(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    struct mtlb_route_cfg *r = dst;

    r->has_require = true;
    return mtlb_cfg_read_require(ctx, v, &r->require, f);
}

static int item_route(struct cfg_ctx *ctx, yaml_node_t *v, struct mtlb_route_cfg *r)
{
    static const struct cfg_field fields[] = {
        {"path_prefix", read_prefix, false, 0, 0, 0},
        {"path_exact", read_exact, false, 0, 0, 0},
        {"path_pattern", read_pattern, false, 0, 0, 0},
        {"host", read_host, false, 0, 0, 0},
        {"backend", read_string, true, offsetof(struct mtlb_route_cfg, backend), 0, 0},
        {"strip_prefix", read_strip, false, 0, 0, 0},
        {"rewrite_prefix", read_rewrite, false, 0, 0, 0},
        {"name", read_string, false, offsetof(struct mtlb_route_cfg, name), 0, 0},
        {"require", read_require, false, 0, 0, 0},
        {"limits", mtlb_cfg_read_route_limits, false, 0, 0, 0},
        {"allow", mtlb_cfg_read_cidrs, false, offsetof(struct mtlb_route_cfg, allow), 0, 0},
        {"deny", mtlb_cfg_read_cidrs, false, offsetof(struct mtlb_route_cfg, deny), 0, 0},
    };

    r->line = (unsigned)v->start_mark.line + 1;
    int rc = mtlb_cfg_walk_map(ctx, v, fields, N_FIELDS(fields), r);
    if (rc != 0) {
        return rc;
    }
    if (r->path == NULL) {
        return mtlb_cfg_err(ctx, v, "needs one of path_prefix, path_exact, path_pattern");
    }
    if (r->strip_prefix && r->rewrite_prefix != NULL) {
        return mtlb_cfg_err(ctx, v, "strip_prefix and rewrite_prefix exclude each other");
    }
    return 0;
}

int mtlb_cfg_read_routes(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    struct mtlb_listener_cfg *l = dst;
    size_t count = 0;
    int rc = mtlb_cfg_seq(ctx, v, false, &count);

    (void)f;
    if (rc != 0) {
        return rc;
    }
    l->routes = calloc(count ? count : 1, sizeof(*l->routes));
    if (l->routes == NULL) {
        return mtlb_cfg_oom(ctx);
    }
    l->n_routes = count;
    for (size_t i = 0; i < count && rc == 0; i++) {
        yaml_node_t *it = NULL;
        size_t mark = mtlb_cfg_push(ctx, "[%zu]", i);
        l->routes[i].backend_index = MTLB_ROUTE_NO_POOL;
        rc = mtlb_cfg_item(ctx, v, i, &it);
        if (rc == 0) {
            rc = item_route(ctx, it, &l->routes[i]);
        }
        mtlb_cfg_pop(ctx, mark);
    }
    return rc;
}

static int cmp_name(const void *key, const void *elem)
{
    return strcmp(key, ((const struct cfg_dup *)elem)->s);
}

/* The pool named at key `what` of `map` (a mapping node), or an error at that value. */
static int resolve(struct cfg_ctx *ctx, yaml_node_t *map, const char *name,
                   const struct cfg_dup *pools, size_t n_pools, size_t *out)
{
    const struct cfg_dup *hit = bsearch(name, pools, n_pools, sizeof(*pools), cmp_name);
    char quoted[80];

    if (hit != NULL) {
        *out = hit->order;
        return 0;
    }
    yaml_node_t *n = mtlb_cfg_lookup(ctx, map, "backend");
    mtlb_cfg_quote(n, quoted, sizeof(quoted));
    size_t mark = mtlb_cfg_push(ctx, ".backend");
    int rc = mtlb_cfg_err(ctx, n, "unknown backend %s", quoted);
    mtlb_cfg_pop(ctx, mark);
    return rc;
}

static int resolve_route(struct cfg_ctx *ctx, yaml_node_t *node, struct mtlb_route_cfg *r,
                         const struct cfg_dup *pools, size_t n_pools)
{
    if (r->kind != MTLB_ROUTE_PATTERN || strchr(r->backend, '{') == NULL) {
        return resolve(ctx, node, r->backend, pools, n_pools, &r->backend_index);
    }
    /* backend names the pattern's segment: checked by compiling the route alone */
    struct mtlb_routes *one = NULL;
    int rc = mtlb_route_compile(r, 1, NULL, 0, &one);
    mtlb_route_destroy(one);
    if (rc == -ENOMEM) {
        return mtlb_cfg_oom(ctx);
    }
    if (rc != 0) {
        size_t mark = mtlb_cfg_push(ctx, ".backend");
        rc = mtlb_cfg_err(ctx, mtlb_cfg_lookup(ctx, node, "backend"),
                          "a {name} in backend must be the one of path_pattern (%s)", r->path);
        mtlb_cfg_pop(ctx, mark);
    }
    return rc;
}

int mtlb_cfg_routes_resolve(struct cfg_ctx *ctx, yaml_node_t *listeners, struct mtlb_config *cfg,
                            const struct cfg_dup *pools, size_t n_pools)
{
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < cfg->n_listeners; i++) {
        struct mtlb_listener_cfg *l = &cfg->listeners[i];
        yaml_node_t *ln = mtlb_cfg_nth(ctx, listeners, i);
        yaml_node_t *rs = mtlb_cfg_lookup(ctx, ln, "routes");
        yaml_node_t *ds = mtlb_cfg_lookup(ctx, ln, "domains");
        /* Every request needs a pool, except on a plain listener that redirects or drops. */
        bool all_domains = l->n_domains > 0 || (l->plain && l->plain_http != MTLB_PLAIN_ALLOW);
        for (size_t d = 0; rc == 0 && d < l->n_domains; d++) {
            struct mtlb_domain_cfg *dc = &l->domains[d];
            dc->backend_index = MTLB_ROUTE_NO_POOL;
            all_domains = all_domains && dc->backend != NULL;
            if (dc->backend != NULL) {
                size_t mark = mtlb_cfg_push(ctx, "listeners[%zu].domains[%zu]", i, d);
                rc = resolve(ctx, mtlb_cfg_nth(ctx, ds, d), dc->backend, pools, n_pools,
                             &dc->backend_index);
                mtlb_cfg_pop(ctx, mark);
            }
        }
        for (size_t k = 0; rc == 0 && k < l->n_routes; k++) {
            size_t mark = mtlb_cfg_push(ctx, "listeners[%zu].routes[%zu]", i, k);
            rc = resolve_route(ctx, mtlb_cfg_nth(ctx, rs, k), &l->routes[k], pools, n_pools);
            mtlb_cfg_pop(ctx, mark);
        }
        if (rc == 0 && l->backend == NULL && l->n_routes == 0 && !all_domains) {
            /* the message of a missing key, as before routes made backend optional */
            size_t mark = mtlb_cfg_push(ctx, "listeners[%zu].backend", i);
            rc = mtlb_cfg_err(ctx, ln, "missing required key");
            mtlb_cfg_pop(ctx, mark);
        }
    }
    return rc;
}

void mtlb_cfg_routes_free(struct mtlb_route_cfg *r, size_t n)
{
    for (size_t i = 0; r != NULL && i < n; i++) {
        free(r[i].path);
        free(r[i].host);
        free(r[i].name);
        free(r[i].backend);
        free(r[i].rewrite_prefix);
        mtlb_cfg_require_free(&r[i].require);
        mtlb_cidr_list_fini(&r[i].allow);
        mtlb_cidr_list_fini(&r[i].deny);
    }
    free(r);
}

static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

bool mtlb_cfg_routes_same(const struct mtlb_listener_cfg *a, const struct mtlb_listener_cfg *b)
{
    if (a->n_routes != b->n_routes || !same_str(a->backend, b->backend)) {
        return false;
    }
    for (size_t i = 0; i < a->n_routes; i++) {
        const struct mtlb_route_cfg *x = &a->routes[i], *y = &b->routes[i];
        if (x->kind != y->kind || x->strip_prefix != y->strip_prefix ||
            !same_str(x->path, y->path) || !same_str(x->host, y->host) ||
            !same_str(x->name, y->name) || !same_str(x->backend, y->backend) ||
            !same_str(x->rewrite_prefix, y->rewrite_prefix) || x->has_require != y->has_require ||
            x->max_body_bytes != y->max_body_bytes || !mtlb_cidr_list_same(&x->allow, &y->allow) ||
            !mtlb_cidr_list_same(&x->deny, &y->deny) ||
            !mtlb_cfg_require_same(&x->require, &y->require)) {
            return false;
        }
    }
    return true;
}
