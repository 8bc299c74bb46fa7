/* Config schema, listeners[]: bind, kTLS, ALPN, session lifetime and the listener's field
 * table (domains, routes, ACLs, plain HTTP and limits are read by their own files). Pure: no
 * I/O. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "config_schema.h"

static int read_ktls(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const char *const w[] = {"auto", "on", "off"};
    static const enum mtlb_ktls_mode vals[] = {MTLB_KTLS_AUTO, MTLB_KTLS_ON, MTLB_KTLS_OFF};
    int i = 0;
    int rc = mtlb_cfg_choice(ctx, v, w, N_FIELDS(w), &i);

    (void)f;
    if (rc == 0) {
        ((struct mtlb_listener_cfg *)dst)->ktls = vals[i];
    }
    return rc;
}

/* alpn: [h2, http/1.1]: the protocols offered, in any order (h2 is preferred when both are). */
static int read_alpn(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const char *const w[] = {"h2", "http/1.1"};
    struct mtlb_listener_cfg *l = dst;
    size_t n = 0;
    int rc = mtlb_cfg_seq(ctx, v, true, &n);

    (void)f;
    l->alpn = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        yaml_node_t *item = NULL;
        int k = 0;
        rc = mtlb_cfg_item(ctx, v, i, &item);
        if (rc == 0) {
            rc = mtlb_cfg_choice(ctx, item, w, N_FIELDS(w), &k);
        }
        if (rc == 0) {
            l->alpn |= k == 0 ? MTLB_ALPN_H2 : MTLB_ALPN_HTTP11;
        }
    }
    return rc;
}

/* session_lifetime: a duration in whole seconds up to 7 days, or off (no resumption). */
static int read_session_lifetime(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                                 const struct cfg_field *f)
{
    uint32_t *out = &((struct mtlb_listener_cfg *)dst)->session_lifetime;
    uint32_t ms = 0;

    (void)f;
    if (v->type == YAML_SCALAR_NODE && v->data.scalar.length == 3 &&
        memcmp(v->data.scalar.value, "off", 3) == 0) {
        *out = 0;
        return 0;
    }
    if (v->type == YAML_SCALAR_NODE && v->data.scalar.length == 1 &&
        v->data.scalar.value[0] == '0') {
        return mtlb_cfg_err(ctx, v, "write off to disable session resumption");
    }
    int rc = mtlb_cfg_duration(ctx, v, &ms);
    if (rc != 0) {
        return rc;
    }
    if (ms % 1000 != 0 || ms / 1000 > MTLB_SESSION_LIFETIME_MAX) {
        return mtlb_cfg_err(ctx, v, "expected whole seconds from 1s to 168h, or off");
    }
    *out = ms / 1000;
    return 0;
}

static int read_bind(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    struct mtlb_listener_cfg *l = dst;

    (void)f;
    l->bind_line = (unsigned)v->start_mark.line + 1;
    return mtlb_cfg_addr(ctx, v, true, &l->bind_host, &l->bind_port);
}

static int item_listener(struct cfg_ctx *ctx, yaml_node_t *v, void *dst)
{
    static const struct cfg_field fields[] = {
        {"bind", read_bind, true, 0, 0, 0},
        {"backend", mtlb_cfg_read_str, false, offsetof(struct mtlb_listener_cfg, backend), 0, 0},
        {"domains", mtlb_cfg_read_domains, false, 0, 0, 0}, /* required with TLS: plain_check */
        {"ktls", read_ktls, false, 0, 0, 0},
        {"alpn", read_alpn, false, 0, 0, 0},
        {"session_lifetime", read_session_lifetime, false, 0, 0, 0},
        {"tls", mtlb_cfg_read_listener_tls_or_plain, false, 0, 0, 0},
        {"routes", mtlb_cfg_read_routes, false, 0, 0, 0},
        {"allow", mtlb_cfg_read_cidrs, false, offsetof(struct mtlb_listener_cfg, allow), 0, 0},
        {"deny", mtlb_cfg_read_cidrs, false, offsetof(struct mtlb_listener_cfg, deny), 0, 0},
        {"proxy_protocol", mtlb_cfg_read_proxy_protocol, false, 0, 0, 0},
        {"proxy_protocol_from", mtlb_cfg_read_cidrs, false,
         offsetof(struct mtlb_listener_cfg, proxy_from), 0, 0},
        {"http", mtlb_cfg_read_plain_http, false, 0, 0, 0},
        {"https_port", mtlb_cfg_read_https_port, false, 0, 0, 0},
        {"limits", mtlb_cfg_read_listener_limits, false, 0, 0, 0},
        {"splice", mtlb_cfg_read_splice, false, 0, 0, 0},
    };
    struct mtlb_listener_cfg *l = dst;
    l->alpn = MTLB_ALPN_H2 | MTLB_ALPN_HTTP11;
    l->session_lifetime = MTLB_SESSION_LIFETIME_DEFAULT;
    int rc = mtlb_cfg_walk_map(ctx, v, fields, N_FIELDS(fields), dst);
    rc = rc != 0 ? rc : mtlb_cfg_acl_check(ctx, v, l);
    rc = rc != 0 ? rc : mtlb_cfg_plain_check(ctx, v, l);
    if (rc == 0 && l->ticket_keys != NULL && l->session_lifetime == 0) {
        yaml_node_t *keys = mtlb_cfg_lookup(ctx, mtlb_cfg_lookup(ctx, v, "tls"), "ticket_keys");
        size_t mark = mtlb_cfg_push(ctx, "%stls.ticket_keys", ctx->keylen ? "." : "");
        rc = mtlb_cfg_err(ctx, keys, "has no use with session_lifetime: off (no tickets)");
        mtlb_cfg_pop(ctx, mark);
    }
    return rc != 0 ? rc : mtlb_cfg_tls_inherit(ctx, l);
}

int mtlb_cfg_read_listeners(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                            const struct cfg_field *f)
{
    struct mtlb_config *cfg = dst;

    (void)f;
    return mtlb_cfg_read_array(ctx, v, (void **)&cfg->listeners, &cfg->n_listeners,
                               sizeof(*cfg->listeners), item_listener);
}
