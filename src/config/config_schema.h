/* Private to the config schema files (config_schema.c and config_<section>.c): the field
 * readers that several sections' tables share and the readers of the sections the root table
 * names. Each reader has the cfg_field signature: value node v into dst (obj + off). */
#ifndef MTLB_CONFIG_SCHEMA_H
#define MTLB_CONFIG_SCHEMA_H

#include "config_int.h"

#define N_FIELDS(a) (sizeof(a) / sizeof((a)[0]))

/* Shared readers (config_fields.c): a string, a path resolved against the config's directory,
 * a uint32_t or int within [f->min, f->max], a duration in milliseconds, true/false. */
int mtlb_cfg_read_str(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f);
int mtlb_cfg_read_path(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f);
int mtlb_cfg_read_u32(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f);
int mtlb_cfg_read_duration(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                           const struct cfg_field *f);
int mtlb_cfg_read_int(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f);
int mtlb_cfg_read_bool(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f);
/* A sequence of items into a calloc'd array of elem-sized entries, published through *arr and
 * *n before the items are read so that mtlb_config_destroy frees partial results. */
int mtlb_cfg_read_array(struct cfg_ctx *ctx, yaml_node_t *v, void **arr, size_t *n, size_t elem,
                        int (*item)(struct cfg_ctx *, yaml_node_t *, void *));

/* A TLS domain (config_domain.c; dst: struct mtlb_domain_cfg): its certificate and key files
 * (path and line), client_auth with its defaults; listeners[].domains (dst: the listener), SNI
 * names unique within the listener. */
int mtlb_cfg_read_cert(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f);
int mtlb_cfg_read_key(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f);
int mtlb_cfg_read_client_auth(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                              const struct cfg_field *f);
int mtlb_cfg_read_domains(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                          const struct cfg_field *f);

/* Sections of the root (dst: struct mtlb_config, or struct mtlb_admin_cfg for admin):
 * listeners[] (config_listener.c), backends[] (config_backend.c), admin (config_admin.c). */
int mtlb_cfg_read_listeners(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                            const struct cfg_field *f);
int mtlb_cfg_read_backends(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                           const struct cfg_field *f);
int mtlb_cfg_read_admin(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f);

#endif
