/* Config schema, shared field readers: the value readers that several sections' field tables
 * use (strings, paths, numbers, durations, booleans) and the reader of a sequence into an
 * array. Pure: no I/O. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "config_schema.h"

int mtlb_cfg_read_str(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    (void)f;
    return mtlb_cfg_str(ctx, v, dst);
}

int mtlb_cfg_read_path(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    (void)f;
    return mtlb_cfg_path(ctx, v, dst);
}

int mtlb_cfg_read_u32(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    return mtlb_cfg_uint(ctx, v, f->min, f->max, dst);
}

int mtlb_cfg_read_duration(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                           const struct cfg_field *f)
{
    (void)f;
    return mtlb_cfg_duration(ctx, v, dst);
}

int mtlb_cfg_read_int(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    uint32_t u = 0;
    int rc = mtlb_cfg_uint(ctx, v, f->min, f->max, &u);

    *(int *)dst = (int)u;
    return rc;
}

int mtlb_cfg_read_bool(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const char *const w[] = {"true", "false"};
    int i = 0;
    int rc = mtlb_cfg_choice(ctx, v, w, N_FIELDS(w), &i);

    (void)f;
    if (rc == 0) {
        *(bool *)dst = i == 0;
    }
    return rc;
}

/* Reads a sequence of count items into a calloc'd array of size elem, published through
 * *arr and *n before the items are read so that destroy frees partial results. */
int mtlb_cfg_read_array(struct cfg_ctx *ctx, yaml_node_t *v, void **arr, size_t *n, size_t elem,
                        int (*item)(struct cfg_ctx *, yaml_node_t *, void *))
{
    size_t count = 0;
    int rc = mtlb_cfg_seq(ctx, v, true, &count);

    if (rc != 0) {
        return rc;
    }
    *arr = calloc(count, elem);
    if (*arr == NULL) {
        return mtlb_cfg_oom(ctx);
    }
    *n = count;
    for (size_t i = 0; i < count && rc == 0; i++) {
        yaml_node_t *it = NULL;
        size_t mark = mtlb_cfg_push(ctx, "[%zu]", i);
        rc = mtlb_cfg_item(ctx, v, i, &it);
        if (rc == 0) {
            rc = item(ctx, it, (char *)*arr + i * elem);
        }
        mtlb_cfg_pop(ctx, mark);
    }
    return rc;
}
