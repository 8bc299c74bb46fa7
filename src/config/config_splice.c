/* listeners[].splice: whether HTTP/1.1 bodies with Content-Length may move between the backend
 * socket and the client socket by splice, either way (kTLS and plain listeners, see
 * include/mtlb/splice.h). On unless `splice: false`. Pure: no I/O. */
#include "config_int.h"

int mtlb_cfg_read_splice(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const char *const w[] = {"true", "false"};
    int i = 0;
    int rc = mtlb_cfg_choice(ctx, v, w, 2, &i);

    (void)f;
    if (rc == 0) {
        ((struct mtlb_listener_cfg *)dst)->no_splice = i == 1;
    }
    return rc;
}
