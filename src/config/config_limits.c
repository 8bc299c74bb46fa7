/* Request body limits: limits.max_body_bytes and listeners[].limits.max_body_bytes (a size in
 * bytes, with an optional k/m/g suffix in powers of 1024, or "unlimited"), and the merge of the
 * process value into each listener. Pure: reads parsed YAML nodes only. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config_int.h"

/* A listener's limit written as "unlimited", until the merge turns it into 0. */
#define BODY_UNLIMITED UINT64_MAX
/* 1 TiB: far above any body a proxy is meant to hold back, low enough to rule out typos
 * that overflow. */
#define BODY_MAX (1ull << 40)

static bool parse_size(const char *s, size_t len, uint64_t *out)
{
    static const struct {
        char unit;
        unsigned shift;
    } units[] = {{'k', 10}, {'K', 10}, {'m', 20}, {'M', 20}, {'g', 30}, {'G', 30}};
    uint64_t v = 0;
    size_t i = 0;
    unsigned shift = 0;

    while (i < len && s[i] >= '0' && s[i] <= '9') {
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > BODY_MAX) {
            return false;
        }
        i++;
    }
    if (i == 0) {
        return false;
    }
    for (size_t u = 0; i + 1 == len && u < sizeof(units) / sizeof(units[0]); u++) {
        if (s[i] == units[u].unit) {
            shift = units[u].shift;
            i++;
        }
    }
    if (i != len || v > (BODY_MAX >> shift)) {
        return false;
    }
    *out = v << shift;
    return true;
}

int mtlb_cfg_read_body_size(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                            const struct cfg_field *f)
{
    uint64_t *out = dst;
    const char *s = "";
    size_t len = 0;
    char what[80];

    (void)f;
    if (v->type == YAML_SCALAR_NODE) {
        s = (const char *)v->data.scalar.value;
        len = v->data.scalar.length;
    }
    if (len == 9 && memcmp(s, "unlimited", 9) == 0) {
        *out = BODY_UNLIMITED;
        return 0;
    }
    if (!parse_size(s, len, out) || *out == 0) {
        mtlb_cfg_quote(v, what, sizeof(what));
        return mtlb_cfg_err(ctx, v,
                            "expected a size in bytes (1 to 1T, with an optional k, m or g "
                            "suffix) or unlimited, got %s",
                            what);
    }
    return 0;
}

int mtlb_cfg_read_listener_limits(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                                  const struct cfg_field *f)
{
    static const struct cfg_field fields[] = {
        {"max_body_bytes", mtlb_cfg_read_body_size, false,
         offsetof(struct mtlb_listener_cfg, max_body_bytes), 0, 0},
    };
    (void)f;
    return mtlb_cfg_walk_map(ctx, v, fields, sizeof(fields) / sizeof(fields[0]), dst);
}

int mtlb_cfg_read_route_limits(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                               const struct cfg_field *f)
{
    static const struct cfg_field fields[] = {
        {"max_body_bytes", mtlb_cfg_read_body_size, false,
         offsetof(struct mtlb_route_cfg, max_body_bytes), 0, 0},
    };
    (void)f;
    return mtlb_cfg_walk_map(ctx, v, fields, sizeof(fields) / sizeof(fields[0]), dst);
}

/* A value as written (0: not given) over the one it inherits, as the runtime reads it. */
static uint64_t inherit(uint64_t own, uint64_t outer)
{
    return own == 0 ? outer : own == BODY_UNLIMITED ? 0 : own;
}

void mtlb_cfg_limits_inherit(struct mtlb_config *cfg)
{
    if (cfg->limits.max_body_bytes == BODY_UNLIMITED) {
        cfg->limits.max_body_bytes = 0;
    }
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        struct mtlb_listener_cfg *l = &cfg->listeners[i];
        l->max_body_bytes = inherit(l->max_body_bytes, cfg->limits.max_body_bytes);
        for (size_t r = 0; r < l->n_routes; r++) {
            l->routes[r].max_body_bytes = inherit(l->routes[r].max_body_bytes, l->max_body_bytes);
        }
    }
}
