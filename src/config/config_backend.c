/* Config schema, backends[]: name, servers, health probe and the backend's field table
 * (balancing and backend TLS are read by their own files). Pure: no I/O. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "config_schema.h"

static int item_server(struct cfg_ctx *ctx, yaml_node_t *v, void *dst)
{
    return mtlb_cfg_read_server(ctx, v, dst);
}

static int read_servers(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    struct mtlb_backend_cfg *b = dst;

    (void)f;
    return mtlb_cfg_read_array(ctx, v, (void **)&b->servers, &b->n_servers, sizeof(*b->servers),
                               item_server);
}

/* The probe's request target goes into a request line as it is: an origin-form path of
 * visible ASCII only, so a typo cannot put a space or a line break into the probe. */
static int read_health_path(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                            const struct cfg_field *f)
{
    char **out = dst;
    int rc = mtlb_cfg_str(ctx, v, out);

    (void)f;
    if (rc != 0) {
        return rc;
    }
    bool ok = (*out)[0] == '/' && strlen(*out) <= 1024;
    for (const char *p = *out; ok && *p != '\0'; p++) {
        ok = *p > 0x20 && *p < 0x7f;
    }
    if (!ok) {
        return mtlb_cfg_err(ctx, v,
                            "expected a path starting with '/' (visible ASCII, no "
                            "spaces, at most 1024 bytes)");
    }
    return 0;
}

static int read_status_range(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                             const struct cfg_field *f)
{
    struct mtlb_health_cfg *h = dst;

    (void)f;
    return mtlb_cfg_status_range(ctx, v, &h->status_min, &h->status_max);
}

static int read_health(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const struct cfg_field fields[] = {
        {"path", read_health_path, true, offsetof(struct mtlb_health_cfg, path), 0, 0},
        {"interval", mtlb_cfg_read_duration, false, offsetof(struct mtlb_health_cfg, interval_ms),
         0, 0},
        {"timeout", mtlb_cfg_read_duration, false, offsetof(struct mtlb_health_cfg, timeout_ms), 0,
         0},
        {"rise", mtlb_cfg_read_u32, false, offsetof(struct mtlb_health_cfg, rise), 1, 100},
        {"fall", mtlb_cfg_read_u32, false, offsetof(struct mtlb_health_cfg, fall), 1, 100},
        {"expected_status", read_status_range, false, 0, 0, 0},
    };
    struct mtlb_health_cfg *h = &((struct mtlb_backend_cfg *)dst)->health;

    (void)f;
    *h = (struct mtlb_health_cfg){true, NULL, 2000, 1000, 2, 3, 200, 399};
    int rc = mtlb_cfg_walk_map(ctx, v, fields, N_FIELDS(fields), h);
    if (rc == 0 && h->timeout_ms > h->interval_ms) {
        yaml_node_t *t = mtlb_cfg_lookup(ctx, v, "timeout");
        return mtlb_cfg_err(ctx, t ? t : v, "timeout (%ums) must not exceed interval (%ums)",
                            h->timeout_ms, h->interval_ms);
    }
    return rc;
}

static int item_backend(struct cfg_ctx *ctx, yaml_node_t *v, void *dst)
{
    static const struct cfg_field fields[] = {
        {"name", mtlb_cfg_read_str, true, offsetof(struct mtlb_backend_cfg, name), 0, 0},
        {"servers", read_servers, true, 0, 0, 0},
        {"health", read_health, false, 0, 0, 0},
        {"balance", mtlb_cfg_read_balance, false, offsetof(struct mtlb_backend_cfg, balance), 0, 0},
        {"resolve", mtlb_cfg_read_resolve, false, offsetof(struct mtlb_backend_cfg, resolve_ms), 0,
         0},
        {"tls", mtlb_cfg_read_backend_tls, false, 0, 0, 0},
    };
    return mtlb_cfg_walk_map(ctx, v, fields, N_FIELDS(fields), dst);
}

int mtlb_cfg_read_backends(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                           const struct cfg_field *f)
{
    struct mtlb_config *cfg = dst;

    (void)f;
    return mtlb_cfg_read_array(ctx, v, (void **)&cfg->backends, &cfg->n_backends,
                               sizeof(*cfg->backends), item_backend);
}
