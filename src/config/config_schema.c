/* Config schema, the document root: the top-level field table, the small top-level sections
 * (threads, timeouts, limits, log, headers, io, tls, reload) and the checks that span sections
 * (unique names and binds, backend references). Listeners, domains, backends and admin are read
 * by their own config_<section>.c files. Pure: no I/O. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "config_schema.h"

static int read_workers(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    if (v->type == YAML_SCALAR_NODE && v->data.scalar.length == 4 &&
        memcmp(v->data.scalar.value, "auto", 4) == 0) {
        *(unsigned *)dst = 0;
        return 0;
    }
    return mtlb_cfg_read_u32(ctx, v, dst, f);
}

static int read_level(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const char *const w[] = {"error", "warn", "info", "debug"};

    (void)f;
    return mtlb_cfg_choice(ctx, v, w, N_FIELDS(w), dst);
}

static int read_dn_format(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const char *const w[] = {"slash", "rfc2253"};
    int i = 0;
    int rc = mtlb_cfg_choice(ctx, v, w, N_FIELDS(w), &i);

    (void)f;
    if (rc == 0) {
        *(enum mtlb_dn_format *)dst = i == 1 ? MTLB_DN_RFC2253 : MTLB_DN_SLASH;
    }
    return rc;
}

static int read_underscores(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                            const struct cfg_field *f)
{
    static const char *const w[] = {"drop", "reject", "pass"};
    static const enum mtlb_underscores vals[] = {MTLB_US_DROP, MTLB_US_REJECT, MTLB_US_PASS};
    int i = 0;
    int rc = mtlb_cfg_choice(ctx, v, w, N_FIELDS(w), &i);

    (void)f;
    if (rc == 0) {
        *(enum mtlb_underscores *)dst = vals[i];
    }
    return rc;
}

static int read_request_trailers(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                                 const struct cfg_field *f)
{
    static const char *const w[] = {"drop", "forward"};
    int i = 0;
    int rc = mtlb_cfg_choice(ctx, v, w, N_FIELDS(w), &i);

    (void)f;
    if (rc == 0) {
        *(bool *)dst = i == 1;
    }
    return rc;
}

static int read_io(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const char *const w[] = {"auto", "uring", "epoll"};
    static const enum mtlb_io_backend vals[] = {MTLB_IO_AUTO, MTLB_IO_URING, MTLB_IO_EPOLL};
    int i = 0;
    int rc = mtlb_cfg_choice(ctx, v, w, N_FIELDS(w), &i);

    (void)f;
    if (rc == 0) {
        ((struct mtlb_config *)dst)->io = vals[i];
    }
    return rc;
}

static int read_access_log(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                           const struct cfg_field *f)
{
    char **out = dst;
    int rc = mtlb_cfg_str(ctx, v, out);

    (void)f;
    if (rc != 0 || strcmp(*out, "stdout") == 0 || strcmp(*out, "stderr") == 0) {
        return rc;
    }
    if (strcmp(*out, "off") == 0) {
        free(*out);
        *out = NULL;
        return 0;
    }
    return mtlb_cfg_path(ctx, v, out);
}

/* tls: {ticket_keys: PATH} at the top level (dst: the char * to fill); the file itself is
 * read when the TLS contexts are built (mtlb -t). A listener's tls: adds the TLS policy
 * (config_tls.c). */
static int read_tls(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const struct cfg_field fields[] = {
        {"ticket_keys", mtlb_cfg_read_path, false, 0, 0, 0},
    };
    (void)f;
    return mtlb_cfg_walk_map(ctx, v, fields, N_FIELDS(fields), dst);
}

static int read_delay(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    (void)f;
    return mtlb_cfg_duration0(ctx, v, dst);
}

/* A bare number is seconds, so "debounce: 500" meant as milliseconds would hold every change
 * back for 8 minutes: over a minute is refused as a likely mistake. */
static int read_debounce(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    int rc = mtlb_cfg_duration(ctx, v, dst);

    (void)f;
    if (rc == 0 && *(uint32_t *)dst > MTLB_RELOAD_DEBOUNCE_MAX_MS) {
        rc = mtlb_cfg_err(ctx, v, "at most %us (the reload waits this long after each change)",
                          MTLB_RELOAD_DEBOUNCE_MAX_MS / 1000);
    }
    return rc;
}

static int read_reload(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const struct cfg_field fields[] = {
        {"watch", mtlb_cfg_read_bool, false, offsetof(struct mtlb_reload_cfg, watch), 0, 0},
        {"debounce", read_debounce, false, offsetof(struct mtlb_reload_cfg, debounce_ms), 0, 0},
    };
    (void)f;
    return mtlb_cfg_walk_map(ctx, v, fields, N_FIELDS(fields), dst);
}

#define TM(key, field)                                                                             \
    {                                                                                              \
        key, mtlb_cfg_read_duration, false, offsetof(struct mtlb_timeouts_cfg, field), 0, 0        \
    }

static int read_timeouts(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const struct cfg_field fields[] = {
        TM("handshake", handshake_ms),
        TM("client_header", client_header_ms),
        TM("client_body", client_body_ms),
        TM("client_idle", client_idle_ms),
        TM("backend_connect", backend_connect_ms),
        TM("backend_response", backend_response_ms),
        TM("backend_idle", backend_idle_ms),
        TM("drain", drain_ms),
        {"shutdown_delay", read_delay, false, offsetof(struct mtlb_timeouts_cfg, shutdown_delay_ms),
         0, 0},
    };
    (void)f;
    return mtlb_cfg_walk_map(ctx, v, fields, N_FIELDS(fields), dst);
}

static int read_limits(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const struct cfg_field fields[] = {
        {"max_header_bytes", mtlb_cfg_read_u32, false,
         offsetof(struct mtlb_limits_cfg, max_header_bytes), 1024, 1048576},
        {"max_headers", mtlb_cfg_read_u32, false, offsetof(struct mtlb_limits_cfg, max_headers), 1,
         10000},
        {"max_connections", mtlb_cfg_read_u32, false,
         offsetof(struct mtlb_limits_cfg, max_connections), 1, 10000000},
        {"h2_max_concurrent_streams", mtlb_cfg_read_u32, false,
         offsetof(struct mtlb_limits_cfg, h2_max_streams), 1, 10000},
        {"max_body_bytes", mtlb_cfg_read_body_size, false,
         offsetof(struct mtlb_limits_cfg, max_body_bytes), 0, 0},
    };
    (void)f;
    return mtlb_cfg_walk_map(ctx, v, fields, N_FIELDS(fields), dst);
}

static int read_threads(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const struct cfg_field fields[] = {
        {"acceptors", mtlb_cfg_read_u32, false, offsetof(struct mtlb_config, acceptors), 1, 256},
        {"workers", read_workers, false, offsetof(struct mtlb_config, workers), 1, 256},
    };
    (void)f;
    return mtlb_cfg_walk_map(ctx, v, fields, N_FIELDS(fields), dst);
}

static int read_log(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const struct cfg_field fields[] = {
        {"level", read_level, false, offsetof(struct mtlb_log_cfg, level), 0, 0},
        {"access_log", read_access_log, false, offsetof(struct mtlb_log_cfg, access_log), 0, 0},
    };
    (void)f;
    return mtlb_cfg_walk_map(ctx, v, fields, N_FIELDS(fields), dst);
}

/* headers.client_cert / client_san / fingerprint: the header name, checked in read_headers
 * once all three are known. */
static int read_id_name(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    char *name = NULL;
    int rc = mtlb_cfg_str(ctx, v, &name);

    (void)f;
    if (rc == 0 && strlen(name) > MTLB_IDH_NAME_MAX) {
        rc = mtlb_cfg_err(ctx, v, "a header name of at most %d characters is expected",
                          MTLB_IDH_NAME_MAX);
    }
    if (rc == 0) {
        memcpy(dst, name, strlen(name) + 1);
    }
    free(name);
    return rc;
}

#define ID_NAME(key, which)                                                                        \
    {                                                                                              \
        key, read_id_name, false, offsetof(struct mtlb_config, id_headers.name[which]), 0, 0       \
    }

static int read_headers(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const struct cfg_field fields[] = {
        {"dn_format", read_dn_format, false, offsetof(struct mtlb_config, dn_format), 0, 0},
        {"underscores", read_underscores, false,
         offsetof(struct mtlb_config, header_policy.underscores), 0, 0},
        {"request_trailers", read_request_trailers, false,
         offsetof(struct mtlb_config, header_policy.forward_trailers), 0, 0},
        ID_NAME("client_cert", MTLB_IDH_CERT),
        ID_NAME("client_san", MTLB_IDH_SAN),
        ID_NAME("fingerprint", MTLB_IDH_FINGERPRINT),
    };
    static const char *const id_keys[MTLB_IDH_COUNT] = {"client_cert", "client_san", "fingerprint"};
    const struct mtlb_id_names *p = &((struct mtlb_config *)dst)->id_headers;
    int rc = mtlb_cfg_walk_map(ctx, v, fields, N_FIELDS(fields), dst);

    (void)f;
    for (int i = 0; rc == 0 && i < MTLB_IDH_COUNT; i++) {
        const char *why = p->name[i][0] != '\0'
                              ? mtlb_rewrite_check_id_name(p, (enum mtlb_id_header)i, p->name[i])
                              : NULL;
        if (why != NULL) {
            yaml_node_t *node = mtlb_cfg_lookup(ctx, v, id_keys[i]);
            char quoted[96];
            mtlb_cfg_quote(node, quoted, sizeof(quoted));
            size_t mark = mtlb_cfg_push(ctx, "%s%s", ctx->keylen ? "." : "", id_keys[i]);
            rc = mtlb_cfg_err(ctx, node, "%s %s", quoted, why);
            mtlb_cfg_pop(ctx, mark);
        }
    }
    return rc;
}

static const struct cfg_field root_fields[] = {
    {"listeners", mtlb_cfg_read_listeners, true, 0, 0, 0},
    {"backends", mtlb_cfg_read_backends, true, 0, 0, 0},
    {"threads", read_threads, false, 0, 0, 0},
    {"timeouts", read_timeouts, false, offsetof(struct mtlb_config, timeouts), 0, 0},
    {"limits", read_limits, false, offsetof(struct mtlb_config, limits), 0, 0},
    {"log", read_log, false, offsetof(struct mtlb_config, log), 0, 0},
    {"headers", read_headers, false, 0, 0, 0},
    {"io", read_io, false, 0, 0, 0},
    {"admin", mtlb_cfg_read_admin, false, offsetof(struct mtlb_config, admin), 0, 0},
    {"tls", read_tls, false, offsetof(struct mtlb_config, ticket_keys), 0, 0},
    {"reload", read_reload, false, offsetof(struct mtlb_config, reload), 0, 0},
};

static int cmp_dup_name(const void *key, const void *elem)
{
    return strcmp(key, ((const struct cfg_dup *)elem)->s);
}

/* Unique backend names, unique binds, and every listener's backend resolved to an index.
 * Sorted arrays keep this n log n however large an aliased document grows. */
static int check_cross(struct cfg_ctx *ctx, yaml_node_t *root, struct mtlb_config *cfg)
{
    yaml_node_t *bes = mtlb_cfg_lookup(ctx, root, "backends");
    yaml_node_t *ls = mtlb_cfg_lookup(ctx, root, "listeners");
    struct cfg_dup *b = calloc(cfg->n_backends, sizeof(*b));
    struct cfg_dup *l = calloc(cfg->n_listeners, sizeof(*l));
    int rc = b && l ? 0 : mtlb_cfg_oom(ctx);

    for (size_t i = 0; rc == 0 && i < cfg->n_backends; i++) {
        yaml_node_t *n = mtlb_cfg_lookup(ctx, mtlb_cfg_nth(ctx, bes, i), "name");
        b[i] = (struct cfg_dup){cfg->backends[i].name, 0, i, n};
    }
    for (size_t i = 0; rc == 0 && i < cfg->n_listeners; i++) {
        yaml_node_t *n = mtlb_cfg_lookup(ctx, mtlb_cfg_nth(ctx, ls, i), "bind");
        l[i] = (struct cfg_dup){cfg->listeners[i].bind_host, cfg->listeners[i].bind_port, i, n};
    }
    if (rc == 0) {
        size_t mark = mtlb_cfg_push(ctx, "backends");
        rc = mtlb_cfg_check_dups(ctx, b, cfg->n_backends, "backend name");
        mtlb_cfg_pop(ctx, mark);
    }
    if (rc == 0) {
        size_t mark = mtlb_cfg_push(ctx, "listeners");
        rc = mtlb_cfg_check_dups(ctx, l, cfg->n_listeners, "bind");
        mtlb_cfg_pop(ctx, mark);
    }
    for (size_t i = 0; rc == 0 && i < cfg->n_listeners; i++) {
        struct mtlb_listener_cfg *li = &cfg->listeners[i];
        li->backend_index = MTLB_ROUTE_NO_POOL; /* optional with routes (config_routes.c) */
        if (li->backend == NULL) {
            continue;
        }
        const struct cfg_dup *hit =
            bsearch(li->backend, b, cfg->n_backends, sizeof(*b), cmp_dup_name);
        if (hit != NULL) {
            li->backend_index = hit->order;
            continue;
        }
        char name[80];
        yaml_node_t *n = mtlb_cfg_lookup(ctx, mtlb_cfg_nth(ctx, ls, i), "backend");
        mtlb_cfg_quote(n, name, sizeof(name));
        mtlb_cfg_push(ctx, "listeners[%zu].backend", i);
        rc = mtlb_cfg_err(ctx, n, "unknown backend %s", name);
    }
    if (rc == 0) {
        rc = mtlb_cfg_routes_resolve(ctx, ls, cfg, b, cfg->n_backends);
    }
    free(b);
    free(l);
    return rc;
}

int mtlb_cfg_read_root(struct cfg_ctx *ctx, yaml_node_t *root, struct mtlb_config *cfg)
{
    int rc = mtlb_cfg_walk_map(ctx, root, root_fields, N_FIELDS(root_fields), cfg);

    /* The top-level ticket key file serves every listener that issues tickets and names no
     * file of its own; one that serves none would be silently unused. */
    size_t users = 0;
    for (size_t i = 0; rc == 0 && cfg->ticket_keys != NULL && i < cfg->n_listeners; i++) {
        struct mtlb_listener_cfg *l = &cfg->listeners[i];
        if (l->ticket_keys == NULL && l->session_lifetime != 0) {
            users++;
            if ((l->ticket_keys = strdup(cfg->ticket_keys)) == NULL) {
                rc = mtlb_cfg_oom(ctx);
            }
        }
    }
    if (rc == 0 && cfg->ticket_keys != NULL && users == 0) {
        size_t mark = mtlb_cfg_push(ctx, "tls.ticket_keys");
        yaml_node_t *keys = mtlb_cfg_lookup(ctx, mtlb_cfg_lookup(ctx, root, "tls"), "ticket_keys");
        rc = mtlb_cfg_err(ctx, keys,
                          "is used by no listener (each has session_lifetime: off or its own "
                          "tls.ticket_keys)");
        mtlb_cfg_pop(ctx, mark);
    }
    if (rc == 0) {
        mtlb_cfg_limits_inherit(cfg);
    }
    return rc != 0 ? rc : check_cross(ctx, root, cfg);
}
