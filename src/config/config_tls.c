/* Config TLS policy: the listeners[].tls and domains[].tls mappings (min_version, ciphers,
 * ciphersuites, groups, key_passphrase_file), the merge of a listener's keys into its domains,
 * and copy/compare/free of a policy. Syntax only: whether OpenSSL knows a name is checked by
 * the tls module, which reports it with the origin recorded here. Pure: no I/O. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

/* "FILE:LINE:COL: KEY" of the value node, for the tls module's messages. */
static int set_origin(struct cfg_ctx *ctx, const yaml_node_t *v, char **out)
{
    char buf[1024];

    snprintf(buf, sizeof(buf), "%s:%zu:%zu: %s", ctx->name, v->start_mark.line + 1,
             v->start_mark.column + 1, ctx->key);
    free(*out);
    *out = strdup(buf);
    return *out != NULL ? 0 : mtlb_cfg_oom(ctx);
}

/* One OpenSSL name: visible ASCII without ':' (the list separator) or spaces. */
static int check_name(struct cfg_ctx *ctx, const yaml_node_t *v, const char *s, size_t len)
{
    bool ok = len > 0 && len <= 128;

    for (size_t i = 0; ok && i < len; i++) {
        ok = s[i] > 0x20 && s[i] < 0x7f && s[i] != ':';
    }
    if (!ok) {
        return mtlb_cfg_err(ctx, v,
                            "expected OpenSSL names (visible ASCII, no spaces, 1 to 128 bytes "
                            "each), as a list or one string joined with ':'");
    }
    return 0;
}

/* Appends the names of scalar v (one name, or several joined with ':') to the list. */
static int add_names(struct cfg_ctx *ctx, const yaml_node_t *v, char **list, size_t *len)
{
    char *s = NULL;
    int rc = mtlb_cfg_str(ctx, v, &s);

    for (char *p = s, *end; rc == 0 && p != NULL; p = *end != '\0' ? end + 1 : NULL) {
        end = strchr(p, ':');
        end = end != NULL ? end : p + strlen(p);
        rc = check_name(ctx, v, p, (size_t)(end - p));
    }
    if (rc == 0) {
        size_t n = strlen(s);
        char *grown = realloc(*list, *len + n + 2);
        if (grown == NULL) {
            rc = mtlb_cfg_oom(ctx);
        } else {
            snprintf(grown + *len, n + 2, "%s%s", *len > 0 ? ":" : "", s);
            *list = grown;
            *len += n + (*len > 0);
        }
    }
    free(s);
    return rc;
}

/* ciphers, ciphersuites, groups: a non-empty list of names, or one "A:B" string. f->min is
 * the policy key. */
static int read_names(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    struct mtlb_tls_policy_cfg *p = dst;
    char *list = NULL;
    size_t len = 0, n = 0;
    int rc = 0;

    if (v->type == YAML_SEQUENCE_NODE) {
        rc = mtlb_cfg_seq(ctx, v, true, &n);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            yaml_node_t *item = NULL;
            size_t mark = mtlb_cfg_push(ctx, "[%zu]", i);
            rc = mtlb_cfg_item(ctx, v, i, &item);
            rc = rc != 0 ? rc : add_names(ctx, item, &list, &len);
            mtlb_cfg_pop(ctx, mark);
        }
    } else {
        rc = add_names(ctx, v, &list, &len);
    }
    if (rc == 0) {
        free(p->str[f->min]);
        p->str[f->min] = list;
        return set_origin(ctx, v, &p->origin[f->min]);
    }
    free(list);
    return rc;
}

static int read_passphrase(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                           const struct cfg_field *f)
{
    struct mtlb_tls_policy_cfg *p = dst;
    int rc = mtlb_cfg_path(ctx, v, &p->str[MTLB_TLSP_PASSPHRASE]);

    (void)f;
    return rc != 0 ? rc : set_origin(ctx, v, &p->origin[MTLB_TLSP_PASSPHRASE]);
}

int mtlb_cfg_tls_version(struct cfg_ctx *ctx, const yaml_node_t *v, int *out)
{
    static const char *const w[] = {"TLS1.2", "TLS1.3"};
    int i = 0;
    int rc = mtlb_cfg_choice(ctx, v, w, 2, &i);

    if (rc == 0) {
        *out = i == 0 ? 0x0303 : 0x0304;
    }
    return rc;
}

static int read_min_version(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                            const struct cfg_field *f)
{
    (void)f;
    return mtlb_cfg_tls_version(ctx, v, &((struct mtlb_tls_policy_cfg *)dst)->min_version);
}

#define POLICY_FIELDS(base)                                                                        \
    {"min_version", read_min_version, false, (base), 0, 0},                                        \
        {"ciphers", read_names, false, (base), MTLB_TLSP_CIPHERS, 0},                              \
        {"ciphersuites", read_names, false, (base), MTLB_TLSP_CIPHERSUITES, 0},                    \
        {"groups", read_names, false, (base), MTLB_TLSP_GROUPS, 0},                                \
    {                                                                                              \
        "key_passphrase_file", read_passphrase, false, (base), 0, 0                                \
    }

static int read_ticket_keys(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                            const struct cfg_field *f)
{
    (void)f;
    return mtlb_cfg_path(ctx, v, dst);
}

/* tickets: how many TLS 1.3 session tickets a full handshake earns (0 to MTLB_TICKETS_MAX);
 * 0 is kept as MTLB_TICKETS_OFF, since a zero field means "not written". */
static int read_tickets(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    uint32_t *out = dst;
    int rc = mtlb_cfg_uint(ctx, v, 0, MTLB_TICKETS_MAX, out);

    (void)f;
    if (rc == 0 && *out == 0) {
        *out = MTLB_TICKETS_OFF;
    }
    return rc;
}

/* session_cache: sessions kept for stateful tickets; 0 is kept as MTLB_SESSION_CACHE_OFF. */
static int read_session_cache(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                              const struct cfg_field *f)
{
    uint32_t *out = dst;
    int rc = mtlb_cfg_uint(ctx, v, 0, MTLB_SESSION_CACHE_MAX, out);

    (void)f;
    if (rc == 0 && *out == 0) {
        *out = MTLB_SESSION_CACHE_OFF;
    }
    return rc;
}

int mtlb_cfg_read_listener_tls(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                               const struct cfg_field *f)
{
    static const struct cfg_field fields[] = {
        {"ticket_keys", read_ticket_keys, false, offsetof(struct mtlb_listener_cfg, ticket_keys), 0,
         0},
        POLICY_FIELDS(offsetof(struct mtlb_listener_cfg, policy)),
        {"tickets", read_tickets, false, offsetof(struct mtlb_listener_cfg, tickets), 0, 0},
        {"session_cache", read_session_cache, false,
         offsetof(struct mtlb_listener_cfg, session_cache), 0, 0},
    };
    (void)f;
    return mtlb_cfg_walk_map(ctx, v, fields, sizeof(fields) / sizeof(fields[0]), dst);
}

int mtlb_cfg_read_domain_tls(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                             const struct cfg_field *f)
{
    static const struct cfg_field fields[] = {
        POLICY_FIELDS(offsetof(struct mtlb_domain_cfg, policy)),
    };
    (void)f;
    return mtlb_cfg_walk_map(ctx, v, fields, sizeof(fields) / sizeof(fields[0]), dst);
}

int mtlb_cfg_tls_inherit(struct cfg_ctx *ctx, struct mtlb_listener_cfg *l)
{
    const struct mtlb_tls_policy_cfg *lp = &l->policy;

    for (size_t i = 0; i < l->n_domains; i++) {
        struct mtlb_tls_policy_cfg *dp = &l->domains[i].policy;
        if (dp->min_version == 0) {
            dp->min_version = lp->min_version;
        }
        for (int k = 0; k < MTLB_TLSP_N; k++) {
            if (dp->str[k] != NULL || lp->str[k] == NULL) {
                continue;
            }
            dp->str[k] = strdup(lp->str[k]);
            dp->origin[k] = strdup(lp->origin[k]);
            if (dp->str[k] == NULL || dp->origin[k] == NULL) {
                return mtlb_cfg_oom(ctx);
            }
        }
    }
    return 0;
}

void mtlb_cfg_tls_policy_free(struct mtlb_tls_policy_cfg *p)
{
    for (int k = 0; k < MTLB_TLSP_N; k++) {
        free(p->str[k]);
        free(p->origin[k]);
        p->str[k] = p->origin[k] = NULL;
    }
}

int mtlb_cfg_tls_policy_copy(struct mtlb_tls_policy_cfg *d, const struct mtlb_tls_policy_cfg *s)
{
    int rc = 0;

    d->min_version = s->min_version;
    for (int k = 0; k < MTLB_TLSP_N; k++) {
        d->str[k] = s->str[k] != NULL ? strdup(s->str[k]) : NULL;
        d->origin[k] = s->origin[k] != NULL ? strdup(s->origin[k]) : NULL;
        if ((s->str[k] != NULL && d->str[k] == NULL) ||
            (s->origin[k] != NULL && d->origin[k] == NULL)) {
            rc = -ENOMEM;
        }
    }
    return rc;
}

static bool same(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

bool mtlb_cfg_tls_policy_same(const struct mtlb_tls_policy_cfg *a,
                              const struct mtlb_tls_policy_cfg *b)
{
    bool eq = a->min_version == b->min_version;

    for (int k = 0; eq && k < MTLB_TLSP_N; k++) {
        eq = same(a->str[k], b->str[k]);
    }
    return eq;
}

int mtlb_cfg_read_ocsp_response(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                                const struct cfg_field *f)
{
    struct mtlb_domain_cfg *d = dst;

    (void)f;
    d->ocsp_response_line = (unsigned)v->start_mark.line + 1;
    return mtlb_cfg_path(ctx, v, &d->ocsp_response);
}
