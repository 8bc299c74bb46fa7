/* Balancing keys of a backend pool: servers entries with an optional weight, and balance:
 * (the algorithm). Pure: reads parsed YAML nodes only. */
#include <stddef.h>
#include <stdint.h>

#include "config_int.h"

static int read_address(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    struct mtlb_server_cfg *s = dst;

    (void)f;
    return mtlb_cfg_addr(ctx, v, false, &s->host, &s->port);
}

static int read_weight(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    uint32_t w = 0;
    int rc = mtlb_cfg_uint(ctx, v, f->min, f->max, &w);

    if (rc == 0) {
        ((struct mtlb_server_cfg *)dst)->weight = (uint16_t)w;
    }
    return rc;
}

int mtlb_cfg_read_server(struct cfg_ctx *ctx, yaml_node_t *v, struct mtlb_server_cfg *s)
{
    static const struct cfg_field fields[] = {
        {"address", read_address, true, 0, 0, 0},
        {"weight", read_weight, false, 0, 1, MTLB_WEIGHT_MAX},
    };

    s->weight = 1;
    if (v->type != YAML_MAPPING_NODE) {
        return mtlb_cfg_addr(ctx, v, false, &s->host, &s->port);
    }
    return mtlb_cfg_walk_map(ctx, v, fields, sizeof(fields) / sizeof(fields[0]), s);
}

int mtlb_cfg_read_resolve(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    (void)f;
    return mtlb_cfg_duration(ctx, v, dst);
}

int mtlb_cfg_read_balance(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const char *const words[] = {"round_robin", "least_requests"};
    static const enum mtlb_balance_algo vals[] = {MTLB_BALANCE_ROUND_ROBIN,
                                                  MTLB_BALANCE_LEAST_REQUESTS};
    int i = 0;
    int rc = mtlb_cfg_choice(ctx, v, words, sizeof(words) / sizeof(words[0]), &i);

    (void)f;
    if (rc == 0) {
        *(enum mtlb_balance_algo *)dst = vals[i];
    }
    return rc;
}
