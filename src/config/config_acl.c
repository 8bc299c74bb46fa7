/* Config edge policy of a listener: listeners[].allow, listeners[].deny (CIDR lists checked
 * at accept) and proxy_protocol with proxy_protocol_from (the PROXY header and who may send
 * it). Syntax and consistency only; the acceptor applies them. Pure: no I/O. */
#include <stddef.h>
#include <stdlib.h>

#include "config_int.h"

/* allow, deny, proxy_protocol_from: a non-empty list of "ADDR/N" or bare addresses (dst: the
 * struct mtlb_cidr_list). */
int mtlb_cfg_read_cidrs(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    struct mtlb_cidr_list *list = dst;
    size_t n = 0;
    int rc = mtlb_cfg_seq(ctx, v, true, &n);

    (void)f;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        yaml_node_t *item = NULL;
        char *s = NULL;
        struct mtlb_cidr c;
        size_t mark = mtlb_cfg_push(ctx, "[%zu]", i);
        rc = mtlb_cfg_item(ctx, v, i, &item);
        if (rc == 0) {
            rc = mtlb_cfg_str(ctx, item, &s);
        }
        if (rc == 0 && mtlb_cidr_parse(s, &c) != 0) {
            rc = mtlb_cfg_err(ctx, item,
                              "expected an IP address or a range such as 10.0.0.0/8 or "
                              "2001:db8::/32 (no bits set after the prefix)");
        }
        if (rc == 0 && mtlb_cidr_list_add(list, &c) != 0) {
            rc = mtlb_cfg_oom(ctx);
        }
        free(s);
        mtlb_cfg_pop(ctx, mark);
    }
    return rc;
}

int mtlb_cfg_read_proxy_protocol(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                                 const struct cfg_field *f)
{
    static const char *const w[] = {"true", "false"};
    int i = 0;
    int rc = mtlb_cfg_choice(ctx, v, w, 2, &i);

    (void)f;
    if (rc == 0) {
        ((struct mtlb_listener_cfg *)dst)->proxy_protocol = i == 0;
    }
    return rc;
}

/* A PROXY header from anyone would let any client choose its own address (and pass the allow
 * list): proxy_protocol needs the list of balancers it may come from. */
int mtlb_cfg_acl_check(struct cfg_ctx *ctx, yaml_node_t *v, const struct mtlb_listener_cfg *l)
{
    int rc = 0;

    if (l->proxy_protocol && l->proxy_from.n == 0) {
        size_t mark = mtlb_cfg_push(ctx, "%sproxy_protocol", ctx->keylen ? "." : "");
        rc = mtlb_cfg_err(ctx, mtlb_cfg_lookup(ctx, v, "proxy_protocol"),
                          "needs proxy_protocol_from: the addresses of the load balancers that "
                          "may send the header");
        mtlb_cfg_pop(ctx, mark);
    } else if (!l->proxy_protocol && l->proxy_from.n != 0) {
        size_t mark = mtlb_cfg_push(ctx, "%sproxy_protocol_from", ctx->keylen ? "." : "");
        rc = mtlb_cfg_err(ctx, mtlb_cfg_lookup(ctx, v, "proxy_protocol_from"),
                          "has no use without proxy_protocol: true");
        mtlb_cfg_pop(ctx, mark);
    }
    return rc;
}

void mtlb_cfg_acl_free(struct mtlb_listener_cfg *l)
{
    mtlb_cidr_list_fini(&l->allow);
    mtlb_cidr_list_fini(&l->deny);
    mtlb_cidr_list_fini(&l->proxy_from);
}
