/* Config of plain HTTP listeners: listeners[].tls as a scalar (false: no TLS at all), http:
 * (redirect, allow, drop) and https_port:, and the checks that keep TLS keys off a plain
 * listener and plain keys off a TLS one. Syntax only, pure: no I/O. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config_int.h"

int mtlb_cfg_read_listener_tls_or_plain(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                                        const struct cfg_field *f)
{
    bool is_false = v->type == YAML_SCALAR_NODE && v->data.scalar.length == 5 &&
                    memcmp(v->data.scalar.value, "false", 5) == 0;
    bool is_true = v->type == YAML_SCALAR_NODE && v->data.scalar.length == 4 &&
                   memcmp(v->data.scalar.value, "true", 4) == 0;

    if (!is_false && !is_true) {
        return mtlb_cfg_read_listener_tls(ctx, v, dst, f); /* a mapping, or its error */
    }
    ((struct mtlb_listener_cfg *)dst)->plain = is_false;
    return 0;
}

int mtlb_cfg_read_plain_http(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                             const struct cfg_field *f)
{
    static const char *const w[] = {"redirect", "allow", "drop"};
    static const enum mtlb_plain_http vals[] = {MTLB_PLAIN_REDIRECT, MTLB_PLAIN_ALLOW,
                                                MTLB_PLAIN_DROP};
    int i = 0;
    int rc = mtlb_cfg_choice(ctx, v, w, sizeof(w) / sizeof(w[0]), &i);

    (void)f;
    if (rc == 0) {
        ((struct mtlb_listener_cfg *)dst)->plain_http = vals[i];
    }
    return rc;
}

int mtlb_cfg_read_https_port(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                             const struct cfg_field *f)
{
    uint32_t port = 0;
    int rc = mtlb_cfg_uint(ctx, v, 1, 65535, &port);

    (void)f;
    if (rc == 0) {
        ((struct mtlb_listener_cfg *)dst)->https_port = (uint16_t)port;
    }
    return rc;
}

/* The value of key in the listener's mapping when it is present and not null. */
static yaml_node_t *given(struct cfg_ctx *ctx, yaml_node_t *v, const char *key)
{
    yaml_node_t *n = mtlb_cfg_lookup(ctx, v, key);

    return n != NULL && !mtlb_cfg_is_null(n) ? n : NULL;
}

static int key_err(struct cfg_ctx *ctx, yaml_node_t *at, const char *key, const char *why)
{
    size_t mark = mtlb_cfg_push(ctx, "%s%s", ctx->keylen ? "." : "", key);
    int rc = mtlb_cfg_err(ctx, at, "%s", why);

    mtlb_cfg_pop(ctx, mark);
    return rc;
}

int mtlb_cfg_plain_check(struct cfg_ctx *ctx, yaml_node_t *v, struct mtlb_listener_cfg *l)
{
    static const char *const tls_keys[] = {"domains", "ktls", "alpn", "session_lifetime"};
    static const char *const plain_keys[] = {"http", "https_port"};

    if (l->https_port == 0) {
        l->https_port = 443;
    }
    if (!l->plain) {
        for (size_t i = 0; i < sizeof(plain_keys) / sizeof(plain_keys[0]); i++) {
            yaml_node_t *n = given(ctx, v, plain_keys[i]);
            if (n != NULL) {
                return key_err(ctx, n, plain_keys[i],
                               "is for a plain HTTP listener only (tls: false)");
            }
        }
        if (l->n_domains == 0) {
            return key_err(ctx, v, "domains", "missing required key");
        }
        return 0;
    }
    for (size_t i = 0; i < sizeof(tls_keys) / sizeof(tls_keys[0]); i++) {
        yaml_node_t *n = given(ctx, v, tls_keys[i]);
        if (n != NULL) {
            return key_err(ctx, n, tls_keys[i],
                           "has no use on a plain HTTP listener (tls: false): it does no TLS, "
                           "so it has no certificates, truststores or TLS settings");
        }
    }
    l->session_lifetime = 0; /* no TLS, no sessions (nor ticket keys) */
    return 0;
}
