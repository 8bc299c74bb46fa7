/* Config schema, admin: the admin listener's bind and its optional mutual TLS, with the rule
 * that a plain admin listener binds to loopback only. Pure: no I/O. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "config_schema.h"

static int read_admin_bind(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                           const struct cfg_field *f)
{
    struct mtlb_admin_cfg *a = dst;

    (void)f;
    a->bind_line = (unsigned)v->start_mark.line + 1;
    return mtlb_cfg_addr(ctx, v, false, &a->bind_host, &a->bind_port);
}

/* The admin's TLS block is a domain's certificate, key and client_auth, all three or none.
 * Without it the listener answers anyone who reaches it, so it binds to loopback only; with
 * it every client must present a certificate of the truststore (mode mandatory). Checked
 * here, so `mtlb -t` and start-up say so with file:line:col. */
static int check_admin_tls(struct cfg_ctx *ctx, yaml_node_t *v, struct mtlb_admin_cfg *a)
{
    static const char *const keys[] = {"certificate", "key", "client_auth"};
    yaml_node_t *n[3];
    size_t given = 0;

    for (size_t i = 0; i < 3; i++) {
        n[i] = mtlb_cfg_lookup(ctx, v, keys[i]);
        n[i] = n[i] != NULL && !mtlb_cfg_is_null(n[i]) ? n[i] : NULL;
        given += n[i] != NULL;
    }
    if (given == 0 && !mtlb_cfg_is_loopback(a->bind_host)) {
        mtlb_cfg_push(ctx, ".bind");
        return mtlb_cfg_err(ctx, mtlb_cfg_lookup(ctx, v, "bind"),
                            "%s is not a loopback address: plain HTTP binds to 127.0.0.0/8 "
                            "or ::1 only; to bind elsewhere give admin certificate, key and "
                            "client_auth (mutual TLS)",
                            a->bind_host);
    }
    for (size_t i = 0; given > 0 && i < 3; i++) {
        if (n[i] == NULL) {
            return mtlb_cfg_err(ctx, v,
                                "%s is missing: the admin listener's TLS needs certificate, key "
                                "and client_auth (with a truststore) together",
                                keys[i]);
        }
    }
    if (given > 0 && a->tls.mode != MTLB_CLIENT_AUTH_MANDATORY) {
        mtlb_cfg_push(ctx, ".client_auth");
        return mtlb_cfg_err(ctx, n[2],
                            "the admin listener verifies every client: mode mandatory with a "
                            "truststore (mode %s is not allowed here)",
                            mtlb_config_mode_name(a->tls.mode));
    }
    return 0;
}

int mtlb_cfg_read_admin(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const struct cfg_field fields[] = {
        {"bind", read_admin_bind, true, 0, 0, 0},
        {"certificate", mtlb_cfg_read_cert, false, offsetof(struct mtlb_admin_cfg, tls), 0, 0},
        {"key", mtlb_cfg_read_key, false, offsetof(struct mtlb_admin_cfg, tls), 0, 0},
        {"client_auth", mtlb_cfg_read_client_auth, false, offsetof(struct mtlb_admin_cfg, tls), 0,
         0},
    };
    struct mtlb_admin_cfg *a = dst;

    (void)f;
    a->tls.verify_depth = 10;
    a->tls.require_client_auth_eku = true;
    int rc = mtlb_cfg_walk_map(ctx, v, fields, N_FIELDS(fields), a);
    if (rc == 0) {
        rc = check_admin_tls(ctx, v, a);
    }
    if (rc != 0 || a->tls.certificate == NULL) {
        return rc;
    }
    a->tls.names = calloc(1, sizeof(*a->tls.names));
    a->tls.cfg_key = strdup("admin");
    if (a->tls.names == NULL || a->tls.cfg_key == NULL ||
        (a->tls.names[0] = strdup("admin")) == NULL) {
        return mtlb_cfg_oom(ctx);
    }
    a->tls.n_names = 1;
    a->tls_on = true;
    return 0;
}
