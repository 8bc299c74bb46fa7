/* Private to src/config: the parse context and helpers shared by the API (config.c), the
 * schema (config_schema.c), the document walk (config_walk.c) and the scalar/address/path
 * readers (config_values.c). Not part of the public contract. */
#ifndef MTLB_CONFIG_INT_H
#define MTLB_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "mtlb/config.h"

/* Alias expansion can make a small document walk like a huge one; past this many visited
 * nodes the document is refused instead of using unbounded time and memory. */
#define MTLB_CONFIG_MAX_VISITS 1000000u

struct cfg_ctx {
    yaml_document_t *doc;
    const char *name;     /* file name used in messages */
    const char *base_dir; /* for relative paths; "" when none */
    char *err;
    size_t errlen;
    char key[512]; /* dotted key path of the node being read, e.g. "listeners[0].bind" */
    size_t keylen;
    size_t visits;
    int rc; /* first error, so handlers deep in the walk can tell -ENOMEM from -EINVAL */
};

/* One entry of a duplicate check: a string (plus port for binds, else 0), where it was seen
 * and its position in document order. */
struct cfg_dup {
    const char *s;
    unsigned port;
    size_t order;
    const yaml_node_t *node;
};

/* A key the schema accepts in a mapping and the handler that reads its value into obj. */
struct cfg_field {
    const char *key;
    int (*read)(struct cfg_ctx *ctx, yaml_node_t *value, void *dst, const struct cfg_field *f);
    bool required;
    size_t off;        /* dst = obj + off */
    uint32_t min, max; /* for numeric readers */
};

/* Errors: write "NAME:LINE:COL: KEY: message" (or without KEY when the path is empty) and
 * return -EINVAL; mtlb_cfg_oom writes "NAME: out of memory" and returns -ENOMEM. */
int mtlb_cfg_err(struct cfg_ctx *ctx, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int mtlb_cfg_oom(struct cfg_ctx *ctx);
int mtlb_cfg_visit(struct cfg_ctx *ctx, const yaml_node_t *node);

/* Key path: push returns the previous length to hand back to pop. */
size_t mtlb_cfg_push(struct cfg_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void mtlb_cfg_pop(struct cfg_ctx *ctx, size_t mark);

/* Copies a value into dst for use in a message: printable ASCII, escapes, truncated. */
void mtlb_cfg_quote(const yaml_node_t *node, char *dst, size_t cap);

/* Walks a mapping: rejects non-mappings, unknown and repeated keys, null-valued keys count
 * as absent, calls each field's reader on obj + off, then reports the first missing
 * required key. At most CFG_MAX_FIELDS fields. */
#define CFG_MAX_FIELDS 16
int mtlb_cfg_walk_map(struct cfg_ctx *ctx, yaml_node_t *node, const struct cfg_field *fields,
                      size_t n_fields, void *obj);
/* Checks node is a non-empty sequence (when nonempty) and returns its item count. */
int mtlb_cfg_seq(struct cfg_ctx *ctx, yaml_node_t *node, bool nonempty, size_t *count);
int mtlb_cfg_item(struct cfg_ctx *ctx, yaml_node_t *seq, size_t i, yaml_node_t **item);
/* Item i of a sequence node, or NULL when seq is not a sequence or too short. No error
 * reporting and no visit counting: for re-finding nodes that were already read. */
yaml_node_t *mtlb_cfg_nth(struct cfg_ctx *ctx, yaml_node_t *seq, size_t i);
/* The value of key in a mapping node, or NULL. No error reporting. */
yaml_node_t *mtlb_cfg_lookup(struct cfg_ctx *ctx, yaml_node_t *map, const char *key);

/* Scalars. */
bool mtlb_cfg_is_null(const yaml_node_t *node);
int mtlb_cfg_str(struct cfg_ctx *ctx, const yaml_node_t *node, char **out);
int mtlb_cfg_uint(struct cfg_ctx *ctx, const yaml_node_t *node, uint32_t min, uint32_t max,
                  uint32_t *out);
int mtlb_cfg_duration(struct cfg_ctx *ctx, const yaml_node_t *node, uint32_t *out_ms);
/* The same, 0 allowed (a delay that may be off). */
int mtlb_cfg_duration0(struct cfg_ctx *ctx, const yaml_node_t *node, uint32_t *out_ms);
/* True for an IP literal in 127.0.0.0/8 or ::1 (no name lookup). */
bool mtlb_cfg_is_loopback(const char *host);
/* "2xx-3xx", "200-299", "200" or "2xx" into [*lo, *hi] (100-599, lo <= hi). */
int mtlb_cfg_status_range(struct cfg_ctx *ctx, const yaml_node_t *node, uint16_t *lo, uint16_t *hi);
int mtlb_cfg_choice(struct cfg_ctx *ctx, const yaml_node_t *node, const char *const *words,
                    size_t n_words, int *out);
int mtlb_cfg_path(struct cfg_ctx *ctx, const yaml_node_t *node, char **out);
int mtlb_cfg_addr(struct cfg_ctx *ctx, const yaml_node_t *node, bool allow_empty_host, char **host,
                  uint16_t *port);
int mtlb_cfg_sni_name(struct cfg_ctx *ctx, const yaml_node_t *node, char **out);

/* The whole document: root mapping into cfg, then the cross-section checks. */
int mtlb_cfg_read_root(struct cfg_ctx *ctx, yaml_node_t *root, struct mtlb_config *cfg);

/* Sorts entries and reports the first repeated (s, port) with what, e.g. "SNI name". */
int mtlb_cfg_check_dups(struct cfg_ctx *ctx, struct cfg_dup *d, size_t n, const char *what);

/* TLS policy (config_tls.c). Readers for listeners[].tls (ticket_keys and the policy keys;
 * dst: the listener) and domains[].tls (dst: the domain); the merge of a listener's policy
 * into each of its domains (0 or -ENOMEM); free, deep copy (0 or -ENOMEM, free a partial copy
 * too) and equality of the values (origins ignored). */
int mtlb_cfg_read_listener_tls(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                               const struct cfg_field *f);
int mtlb_cfg_read_domain_tls(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                             const struct cfg_field *f);
int mtlb_cfg_tls_inherit(struct cfg_ctx *ctx, struct mtlb_listener_cfg *l);
void mtlb_cfg_tls_policy_free(struct mtlb_tls_policy_cfg *p);
/* A TLS version as the YAML spells it (TLS1.2, TLS1.3) into *out (0x0303, 0x0304). */
int mtlb_cfg_tls_version(struct cfg_ctx *ctx, const yaml_node_t *v, int *out);
int mtlb_cfg_tls_policy_copy(struct mtlb_tls_policy_cfg *d, const struct mtlb_tls_policy_cfg *s);
bool mtlb_cfg_tls_policy_same(const struct mtlb_tls_policy_cfg *a,
                              const struct mtlb_tls_policy_cfg *b);
/* domains[].ocsp_response (dst: the domain): the path and its line; the file is read by the tls
 * module (mtlb -t). */
int mtlb_cfg_read_ocsp_response(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                                const struct cfg_field *f);

/* Request body limits (config_limits.c). A size ("1048576", "512k", "8m", "unlimited") into a
 * uint64_t (dst); listeners[].limits (dst: the listener); after the whole document is read,
 * the process limit into every listener that sets none, "unlimited" into 0. */
int mtlb_cfg_read_body_size(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                            const struct cfg_field *f);
int mtlb_cfg_read_listener_limits(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                                  const struct cfg_field *f);
void mtlb_cfg_limits_inherit(struct mtlb_config *cfg);
/* routes[].limits (dst: the route), merged over the listener's by mtlb_cfg_limits_inherit. */
int mtlb_cfg_read_route_limits(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                               const struct cfg_field *f);

/* Balancing (config_balance.c). One backends[].servers entry: "host:port" (weight 1) or
 * {address: "host:port", weight: 1..256} (dst: struct mtlb_server_cfg); backends[].balance
 * (dst: enum mtlb_balance_algo). */
int mtlb_cfg_read_server(struct cfg_ctx *ctx, yaml_node_t *v, struct mtlb_server_cfg *s);
int mtlb_cfg_read_balance(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                          const struct cfg_field *f);
/* backends[].resolve: a duration (dst: uint32_t milliseconds). */
int mtlb_cfg_read_resolve(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                          const struct cfg_field *f);

/* HTTPS to backends (config_backend_tls.c): the reader of backends[].tls (dst: the backend),
 * free, and equality of the values (lines ignored). */
int mtlb_cfg_read_backend_tls(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                              const struct cfg_field *f);
void mtlb_cfg_backend_tls_free(struct mtlb_backend_tls_cfg *t);
bool mtlb_cfg_backend_tls_same(const struct mtlb_backend_tls_cfg *a,
                               const struct mtlb_backend_tls_cfg *b);

/* Route identity policy (config_require.c). The reader of a require: mapping (dst: a zeroed
 * struct mtlb_require_cfg; an empty mapping, a mapping of nulls only, an unknown or repeated
 * key, a bad value or a regular expression regcomp refuses is an error at its file:line:col;
 * what was read before an error stays in dst for the caller's free); free (leaves it zeroed;
 * a zeroed one is fine), deep copy (0 or -ENOMEM; *d is overwritten, free a partial copy too)
 * and equality of the normalized values (list order counts). */
int mtlb_cfg_read_require(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                          const struct cfg_field *f);
void mtlb_cfg_require_free(struct mtlb_require_cfg *r);
int mtlb_cfg_require_copy(struct mtlb_require_cfg *d, const struct mtlb_require_cfg *s);
bool mtlb_cfg_require_same(const struct mtlb_require_cfg *a, const struct mtlb_require_cfg *b);

/* Routes (config_routes.c): the reader of listeners[].routes (dst: the listener); the
 * resolution of every route's, domain's backend against pools (sorted by name, order: the
 * backend's index), after the listener's own; free; equality of a listener's routes and
 * default backend (config_diff). */
int mtlb_cfg_read_routes(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f);
int mtlb_cfg_routes_resolve(struct cfg_ctx *ctx, yaml_node_t *listeners, struct mtlb_config *cfg,
                            const struct cfg_dup *pools, size_t n_pools);
void mtlb_cfg_routes_free(struct mtlb_route_cfg *r, size_t n);
bool mtlb_cfg_routes_same(const struct mtlb_listener_cfg *a, const struct mtlb_listener_cfg *b);
/* Edge policy (config_acl.c). Readers for listeners[].allow, deny and proxy_protocol_from
 * (dst: the struct mtlb_cidr_list) and proxy_protocol (dst: the listener); the listener-level
 * check (proxy_protocol needs proxy_protocol_from and the reverse; v: the listener's mapping)
 * and the free of the lists. */
int mtlb_cfg_read_cidrs(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f);
int mtlb_cfg_read_proxy_protocol(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                                 const struct cfg_field *f);
int mtlb_cfg_acl_check(struct cfg_ctx *ctx, yaml_node_t *v, const struct mtlb_listener_cfg *l);
void mtlb_cfg_acl_free(struct mtlb_listener_cfg *l);
/* Plain HTTP listeners (config_plain.c). listeners[].tls: false (a plain listener), true (the
 * default) or the TLS mapping (mtlb_cfg_read_listener_tls); http: and https_port: (dst: the
 * listener). mtlb_cfg_plain_check runs after the listener's walk (v: its mapping): keys that
 * have no use on a plain listener (domains, ktls, alpn, session_lifetime) and plain-only keys
 * on a TLS listener are errors, a TLS listener needs domains. 0 or -EINVAL. */
int mtlb_cfg_read_listener_tls_or_plain(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                                        const struct cfg_field *f);
int mtlb_cfg_read_plain_http(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                             const struct cfg_field *f);
int mtlb_cfg_read_https_port(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                             const struct cfg_field *f);
int mtlb_cfg_plain_check(struct cfg_ctx *ctx, yaml_node_t *v, struct mtlb_listener_cfg *l);
/* listeners[].splice: true (default) or false (config_splice.c; dst: the listener). */
int mtlb_cfg_read_splice(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f);

#endif
