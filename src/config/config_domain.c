/* Config schema, one TLS domain: SNI names, certificate and key files, client_auth and its
 * defaults, and unique SNI names per listener. Shared by listeners[].domains and the admin
 * listener. Pure: no I/O; paths are resolved as strings only. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "config_schema.h"

static int read_mode(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const char *const w[] = {"mandatory", "optional", "off"};
    static const enum mtlb_client_auth modes[] = {MTLB_CLIENT_AUTH_MANDATORY,
                                                  MTLB_CLIENT_AUTH_OPTIONAL, MTLB_CLIENT_AUTH_OFF};
    int i = 0;
    int rc = mtlb_cfg_choice(ctx, v, w, N_FIELDS(w), &i);

    (void)f;
    if (rc == 0) {
        *(enum mtlb_client_auth *)dst = modes[i];
    }
    return rc;
}

static int item_sni(struct cfg_ctx *ctx, yaml_node_t *v, void *dst)
{
    return mtlb_cfg_sni_name(ctx, v, dst);
}

static int read_names(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    struct mtlb_domain_cfg *d = dst;

    (void)f;
    return mtlb_cfg_read_array(ctx, v, (void **)&d->names, &d->n_names, sizeof(char *), item_sni);
}

/* The domain's files: the path, and the line that named it for messages about the file. */
static int read_file(struct cfg_ctx *ctx, yaml_node_t *v, char **path, unsigned *line)
{
    *line = (unsigned)v->start_mark.line + 1;
    return mtlb_cfg_path(ctx, v, path);
}

int mtlb_cfg_read_cert(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    struct mtlb_domain_cfg *d = dst;

    (void)f;
    return read_file(ctx, v, &d->certificate, &d->certificate_line);
}

int mtlb_cfg_read_key(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    struct mtlb_domain_cfg *d = dst;

    (void)f;
    return read_file(ctx, v, &d->key, &d->key_line);
}

static int read_truststore(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                           const struct cfg_field *f)
{
    struct mtlb_domain_cfg *d = dst;

    (void)f;
    return read_file(ctx, v, &d->truststore, &d->truststore_line);
}

static int read_crl(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    struct mtlb_domain_cfg *d = dst;

    (void)f;
    return read_file(ctx, v, &d->crl, &d->crl_line);
}

int mtlb_cfg_read_client_auth(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                              const struct cfg_field *f)
{
    static const struct cfg_field fields[] = {
        {"mode", read_mode, false, offsetof(struct mtlb_domain_cfg, mode), 0, 0},
        {"truststore", read_truststore, false, 0, 0, 0},
        {"crl", read_crl, false, 0, 0, 0},
        {"verify_depth", mtlb_cfg_read_int, false, offsetof(struct mtlb_domain_cfg, verify_depth),
         1, 100},
        {"require_client_auth_eku", mtlb_cfg_read_bool, false,
         offsetof(struct mtlb_domain_cfg, require_client_auth_eku), 0, 0},
    };
    struct mtlb_domain_cfg *d = dst;
    int rc = mtlb_cfg_walk_map(ctx, v, fields, N_FIELDS(fields), d);
    yaml_node_t *mode = mtlb_cfg_lookup(ctx, v, "mode");

    (void)f;
    if (rc != 0) {
        return rc;
    }
    bool mode_set = mode != NULL && !mtlb_cfg_is_null(mode);
    if (!mode_set) {
        d->mode = d->truststore != NULL ? MTLB_CLIENT_AUTH_MANDATORY : MTLB_CLIENT_AUTH_OFF;
    } else if (d->mode != MTLB_CLIENT_AUTH_OFF && d->truststore == NULL) {
        mtlb_cfg_push(ctx, ".mode");
        return mtlb_cfg_err(ctx, mode, "%s requires client_auth.truststore",
                            mtlb_config_mode_name(d->mode));
    }
    /* A setting that would be silently unused is an error: an operator who wrote a CRL
     * believes revoked clients are refused. */
    static const char *const unused[] = {"crl", "verify_depth", "truststore"};
    for (size_t i = 0; d->mode == MTLB_CLIENT_AUTH_OFF && i < 3; i++) {
        yaml_node_t *n = mtlb_cfg_lookup(ctx, v, unused[i]);
        if (n == NULL || mtlb_cfg_is_null(n)) {
            continue;
        }
        mtlb_cfg_push(ctx, ".%s", unused[i]);
        return mtlb_cfg_err(ctx, n,
                            mode_set ? "unused: mode off requests no client certificate (remove "
                                       "it, or set mode optional or mandatory)"
                                     : "requires client_auth.truststore (without one no client "
                                       "certificate is requested)");
    }
    return 0;
}

static int item_domain(struct cfg_ctx *ctx, yaml_node_t *v, void *dst)
{
    static const struct cfg_field fields[] = {
        {"names", read_names, true, 0, 0, 0},
        {"certificate", mtlb_cfg_read_cert, true, 0, 0, 0},
        {"key", mtlb_cfg_read_key, true, 0, 0, 0},
        {"client_auth", mtlb_cfg_read_client_auth, false, 0, 0, 0},
        {"tls", mtlb_cfg_read_domain_tls, false, 0, 0, 0},
        {"backend", mtlb_cfg_read_str, false, offsetof(struct mtlb_domain_cfg, backend), 0, 0},
        {"ocsp_response", mtlb_cfg_read_ocsp_response, false, 0, 0, 0},
    };
    struct mtlb_domain_cfg *d = dst;

    d->verify_depth = 10;
    d->require_client_auth_eku = true;
    d->cfg_key = strdup(ctx->key);
    if (d->cfg_key == NULL) {
        return mtlb_cfg_oom(ctx);
    }
    return mtlb_cfg_walk_map(ctx, v, fields, N_FIELDS(fields), d);
}

/* SNI names must be unique across all domains of one listener. */
static int check_sni_dups(struct cfg_ctx *ctx, yaml_node_t *domains,
                          const struct mtlb_listener_cfg *l)
{
    size_t total = 0;
    size_t k = 0;

    for (size_t i = 0; i < l->n_domains; i++) {
        total += l->domains[i].n_names;
    }
    struct cfg_dup *d = calloc(total ? total : 1, sizeof(*d));
    if (d == NULL) {
        return mtlb_cfg_oom(ctx);
    }
    for (size_t i = 0; i < l->n_domains; i++) {
        yaml_node_t *names = mtlb_cfg_lookup(ctx, mtlb_cfg_nth(ctx, domains, i), "names");
        for (size_t j = 0; j < l->domains[i].n_names; j++, k++) {
            d[k] = (struct cfg_dup){l->domains[i].names[j], 0, k, mtlb_cfg_nth(ctx, names, j)};
        }
    }
    int rc = mtlb_cfg_check_dups(ctx, d, total, "SNI name");
    free(d);
    return rc;
}

int mtlb_cfg_read_domains(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    struct mtlb_listener_cfg *l = dst;
    int rc = mtlb_cfg_read_array(ctx, v, (void **)&l->domains, &l->n_domains, sizeof(*l->domains),
                                 item_domain);

    (void)f;
    return rc != 0 ? rc : check_sni_dups(ctx, v, l);
}

const char *mtlb_config_mode_name(enum mtlb_client_auth mode)
{
    switch (mode) {
    case MTLB_CLIENT_AUTH_OFF:
        return "off";
    case MTLB_CLIENT_AUTH_OPTIONAL:
        return "optional";
    case MTLB_CLIENT_AUTH_MANDATORY:
        return "mandatory";
    }
    return "unknown";
}
