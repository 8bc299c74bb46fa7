/* Config document walking: error messages with file:line:col and the dotted key path,
 * generic mapping/sequence traversal against a field table, and duplicate detection.
 * Pure: works on an already loaded libyaml document; no I/O. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

__attribute__((format(printf, 3, 0))) static void
cfg_vwrite(struct cfg_ctx *ctx, const yaml_node_t *node, const char *fmt, va_list ap)
{
    size_t n = 0;
    int w;

    if (ctx->err == NULL || ctx->errlen == 0) {
        return;
    }
    if (node != NULL) {
        w = snprintf(ctx->err, ctx->errlen, "%s:%zu:%zu: ", ctx->name, node->start_mark.line + 1,
                     node->start_mark.column + 1);
    } else {
        w = snprintf(ctx->err, ctx->errlen, "%s: ", ctx->name);
    }
    n = w > 0 ? (size_t)w : 0;
    if (ctx->keylen > 0 && n < ctx->errlen) {
        w = snprintf(ctx->err + n, ctx->errlen - n, "%s: ", ctx->key);
        n += w > 0 ? (size_t)w : 0;
    }
    if (n < ctx->errlen) {
        vsnprintf(ctx->err + n, ctx->errlen - n, fmt, ap);
    }
}

int mtlb_cfg_err(struct cfg_ctx *ctx, const yaml_node_t *node, const char *fmt, ...)
{
    va_list ap;

    /* Only the first error is kept: later ones are consequences of unwinding. */
    if (ctx->rc == 0) {
        va_start(ap, fmt);
        cfg_vwrite(ctx, node, fmt, ap);
        va_end(ap);
        ctx->rc = -EINVAL;
    }
    return ctx->rc;
}

int mtlb_cfg_oom(struct cfg_ctx *ctx)
{
    if (ctx->rc == 0) {
        if (ctx->err != NULL && ctx->errlen > 0) {
            snprintf(ctx->err, ctx->errlen, "%s: out of memory", ctx->name);
        }
        ctx->rc = -ENOMEM;
    }
    return ctx->rc;
}

int mtlb_cfg_visit(struct cfg_ctx *ctx, const yaml_node_t *node)
{
    if (++ctx->visits > MTLB_CONFIG_MAX_VISITS) {
        return mtlb_cfg_err(ctx, node, "document too large (more than %u nodes after aliases)",
                            MTLB_CONFIG_MAX_VISITS);
    }
    return 0;
}

size_t mtlb_cfg_push(struct cfg_ctx *ctx, const char *fmt, ...)
{
    size_t mark = ctx->keylen;
    va_list ap;

    if (ctx->keylen < sizeof(ctx->key)) {
        va_start(ap, fmt);
        int w = vsnprintf(ctx->key + ctx->keylen, sizeof(ctx->key) - ctx->keylen, fmt, ap);
        va_end(ap);
        if (w > 0) {
            ctx->keylen += (size_t)w;
        }
        if (ctx->keylen >= sizeof(ctx->key)) {
            ctx->keylen = sizeof(ctx->key) - 1; /* truncated path still names the start */
        }
    }
    return mark;
}

void mtlb_cfg_pop(struct cfg_ctx *ctx, size_t mark)
{
    ctx->keylen = mark;
    ctx->key[mark] = '\0';
}

/* Printable copy of a user string for a message: bytes outside ASCII are \xHH, long values
 * end in "...". */
static void cfg_escape(const char *s, size_t len, char *dst, size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; i < len && n + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
            dst[n++] = (char)c;
        } else {
            n += (size_t)snprintf(dst + n, cap - n, "\\x%02X", c);
        }
        if (i + 1 < len && n + 8 >= cap) {
            memcpy(dst + n, "...", 3);
            n += 3;
        }
    }
    dst[cap > 0 ? n : 0] = '\0';
}

void mtlb_cfg_quote(const yaml_node_t *node, char *dst, size_t cap)
{
    if (node->type == YAML_MAPPING_NODE) {
        snprintf(dst, cap, "a mapping");
    } else if (node->type == YAML_SEQUENCE_NODE) {
        snprintf(dst, cap, "a sequence");
    } else if (mtlb_cfg_is_null(node)) {
        snprintf(dst, cap, "null");
    } else {
        char tmp[72];
        cfg_escape((const char *)node->data.scalar.value, node->data.scalar.length, tmp,
                   sizeof(tmp));
        snprintf(dst, cap, "\"%s\"", tmp);
    }
}

static bool cfg_key_is(const yaml_node_t *k, const char *key)
{
    size_t len = strlen(key);
    return k->type == YAML_SCALAR_NODE && k->data.scalar.length == len &&
           memcmp(k->data.scalar.value, key, len) == 0;
}

static int cfg_unknown_key(struct cfg_ctx *ctx, const yaml_node_t *k,
                           const struct cfg_field *fields, size_t n_fields)
{
    char keys[256] = "";
    char name[72];
    size_t n = 0;

    for (size_t i = 0; i < n_fields && n < sizeof(keys); i++) {
        int w = snprintf(keys + n, sizeof(keys) - n, "%s%s", i ? ", " : "", fields[i].key);
        n += w > 0 ? (size_t)w : 0;
    }
    cfg_escape((const char *)k->data.scalar.value, k->data.scalar.length, name, sizeof(name));
    mtlb_cfg_push(ctx, "%s%s", ctx->keylen ? "." : "", name);
    return mtlb_cfg_err(ctx, k, "unknown key (expected one of %s)", keys);
}

/* One key/value pair: resolves the field into *idx, rejects repeats, runs the reader. A null
 * value leaves the field as if absent. */
static int cfg_walk_pair(struct cfg_ctx *ctx, const yaml_node_pair_t *pair,
                         const struct cfg_field *fields, size_t n_fields, void *obj,
                         const yaml_node_t **seen, size_t *idx)
{
    yaml_node_t *k = yaml_document_get_node(ctx->doc, pair->key);
    yaml_node_t *v = yaml_document_get_node(ctx->doc, pair->value);
    size_t i = 0;
    char what[80];

    if (mtlb_cfg_visit(ctx, k) || mtlb_cfg_visit(ctx, v)) {
        return ctx->rc;
    }
    if (k->type != YAML_SCALAR_NODE) {
        mtlb_cfg_quote(k, what, sizeof(what));
        return mtlb_cfg_err(ctx, k, "keys must be plain strings, got %s", what);
    }
    while (i < n_fields && !cfg_key_is(k, fields[i].key)) {
        i++;
    }
    if (i == n_fields) {
        return cfg_unknown_key(ctx, k, fields, n_fields);
    }
    size_t mark = mtlb_cfg_push(ctx, "%s%s", ctx->keylen ? "." : "", fields[i].key);
    if (seen[i] != NULL) {
        return mtlb_cfg_err(ctx, k, "duplicate key (first at %zu:%zu)",
                            seen[i]->start_mark.line + 1, seen[i]->start_mark.column + 1);
    }
    seen[i] = k;
    *idx = i;
    int rc =
        mtlb_cfg_is_null(v) ? 0 : fields[i].read(ctx, v, (char *)obj + fields[i].off, &fields[i]);
    mtlb_cfg_pop(ctx, mark);
    return rc;
}

int mtlb_cfg_walk_map(struct cfg_ctx *ctx, yaml_node_t *node, const struct cfg_field *fields,
                      size_t n_fields, void *obj)
{
    const yaml_node_t *seen[CFG_MAX_FIELDS] = {0};
    bool present[CFG_MAX_FIELDS] = {0};
    char what[80];

    if (n_fields > CFG_MAX_FIELDS) {
        return mtlb_cfg_err(ctx, node, "internal error: schema table too large");
    }
    if (node->type != YAML_MAPPING_NODE) {
        mtlb_cfg_quote(node, what, sizeof(what));
        return mtlb_cfg_err(ctx, node, "expected a mapping, got %s", what);
    }
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        size_t i = 0;
        int rc = cfg_walk_pair(ctx, p, fields, n_fields, obj, seen, &i);
        if (rc != 0) {
            return rc;
        }
        present[i] = !mtlb_cfg_is_null(yaml_document_get_node(ctx->doc, p->value));
    }
    for (size_t i = 0; i < n_fields; i++) {
        if (fields[i].required && !present[i]) {
            mtlb_cfg_push(ctx, "%s%s", ctx->keylen ? "." : "", fields[i].key);
            return mtlb_cfg_err(ctx, node, "missing required key");
        }
    }
    return 0;
}

int mtlb_cfg_seq(struct cfg_ctx *ctx, yaml_node_t *node, bool nonempty, size_t *count)
{
    char what[80];

    if (node->type != YAML_SEQUENCE_NODE) {
        mtlb_cfg_quote(node, what, sizeof(what));
        return mtlb_cfg_err(ctx, node, "expected a sequence, got %s", what);
    }
    *count = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    if (nonempty && *count == 0) {
        return mtlb_cfg_err(ctx, node, "must not be empty");
    }
    return 0;
}

int mtlb_cfg_item(struct cfg_ctx *ctx, yaml_node_t *seq, size_t i, yaml_node_t **item)
{
    *item = yaml_document_get_node(ctx->doc, seq->data.sequence.items.start[i]);
    return mtlb_cfg_visit(ctx, *item);
}

yaml_node_t *mtlb_cfg_nth(struct cfg_ctx *ctx, yaml_node_t *seq, size_t i)
{
    if (seq == NULL || seq->type != YAML_SEQUENCE_NODE ||
        i >= (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start)) {
        return NULL;
    }
    return yaml_document_get_node(ctx->doc, seq->data.sequence.items.start[i]);
}

yaml_node_t *mtlb_cfg_lookup(struct cfg_ctx *ctx, yaml_node_t *map, const char *key)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE) {
        return NULL;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        if (cfg_key_is(yaml_document_get_node(ctx->doc, p->key), key)) {
            return yaml_document_get_node(ctx->doc, p->value);
        }
    }
    return NULL;
}

static int cfg_dup_cmp(const void *a, const void *b)
{
    const struct cfg_dup *x = a;
    const struct cfg_dup *y = b;
    int c = strcmp(x->s, y->s);

    if (c == 0) {
        c = (x->port > y->port) - (x->port < y->port);
    }
    if (c == 0) {
        c = (x->order > y->order) - (x->order < y->order);
    }
    return c;
}

int mtlb_cfg_check_dups(struct cfg_ctx *ctx, struct cfg_dup *d, size_t n, const char *what)
{
    const struct cfg_dup *first = NULL;
    const struct cfg_dup *dup = NULL;

    if (n > 1) {
        qsort(d, n, sizeof(*d), cfg_dup_cmp);
    }
    /* Within a group of equal keys entries are in file order; report the group whose second
     * occurrence comes earliest in the file, so messages are stable. */
    for (size_t i = 0; i + 1 < n;) {
        size_t j = i + 1;
        while (j < n && d[j].port == d[i].port && strcmp(d[j].s, d[i].s) == 0) {
            j++;
        }
        if (j - i > 1 && (dup == NULL || d[i + 1].order < dup->order)) {
            first = &d[i];
            dup = &d[i + 1];
        }
        i = j;
    }
    if (dup == NULL) {
        return 0;
    }
    char s[72];
    cfg_escape(dup->s, strlen(dup->s), s, sizeof(s));
    if (dup->port != 0) {
        bool v6 = strchr(dup->s, ':') != NULL;
        return mtlb_cfg_err(ctx, dup->node, "duplicate %s \"%s%s%s:%u\" (first at %zu:%zu)", what,
                            v6 ? "[" : "", s, v6 ? "]" : "", dup->port,
                            first->node->start_mark.line + 1, first->node->start_mark.column + 1);
    }
    return mtlb_cfg_err(ctx, dup->node, "duplicate %s \"%s\" (first at %zu:%zu)", what, s,
                        first->node->start_mark.line + 1, first->node->start_mark.column + 1);
}
