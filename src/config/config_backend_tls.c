/* Config of HTTPS to backends: the backends[].tls mapping (ca, verify, sni, certificate, key,
 * min_version, ciphers), its cross-key rules, and free/compare of the values. Syntax only:
 * the files are loaded (and `mtlb -t` checks them) when the snapshot builds the backend's
 * SSL_CTX (src/tls/backend_tls.c). Pure: no I/O. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

static unsigned line_of(const yaml_node_t *v)
{
    return (unsigned)v->start_mark.line + 1;
}

static int read_ca(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    struct mtlb_backend_tls_cfg *t = dst;

    (void)f;
    t->ca_line = line_of(v);
    return mtlb_cfg_path(ctx, v, &t->ca);
}

static int read_cert(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    struct mtlb_backend_tls_cfg *t = dst;

    (void)f;
    t->certificate_line = line_of(v);
    return mtlb_cfg_path(ctx, v, &t->certificate);
}

static int read_key(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    struct mtlb_backend_tls_cfg *t = dst;

    (void)f;
    t->key_line = line_of(v);
    return mtlb_cfg_path(ctx, v, &t->key);
}

static int read_sni(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    struct mtlb_backend_tls_cfg *t = dst;
    int rc = mtlb_cfg_sni_name(ctx, v, &t->sni);

    (void)f;
    if (rc == 0 && t->sni[0] == '*') {
        return mtlb_cfg_err(ctx, v, "expected a host name, not a wildcard");
    }
    return rc;
}

static int read_verify(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const char *const w[] = {"true", "false"};
    struct mtlb_backend_tls_cfg *t = dst;
    int i = 0;
    int rc = mtlb_cfg_choice(ctx, v, w, 2, &i);

    (void)f;
    t->verify = i == 0;
    t->verify_line = line_of(v);
    return rc;
}

static int read_min_version(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                            const struct cfg_field *f)
{
    static const char *const w[] = {"TLS1.2", "TLS1.3"};
    int i = 0;
    int rc = mtlb_cfg_choice(ctx, v, w, 2, &i);

    (void)f;
    ((struct mtlb_backend_tls_cfg *)dst)->min_version = i == 0 ? 0x0303 : 0x0304;
    return rc;
}

/* One "A:B" string of visible ASCII; whether OpenSSL knows the names is the tls module's. */
static int read_ciphers(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    struct mtlb_backend_tls_cfg *t = dst;
    int rc = mtlb_cfg_str(ctx, v, &t->ciphers);

    (void)f;
    for (const char *c = t->ciphers; rc == 0 && *c != '\0'; c++) {
        if (*c <= 0x20 || *c >= 0x7f) {
            return mtlb_cfg_err(ctx, v, "expected OpenSSL cipher names joined with ':'");
        }
    }
    if (rc == 0 && t->ciphers[0] == '\0') {
        return mtlb_cfg_err(ctx, v, "expected OpenSSL cipher names joined with ':'");
    }
    t->ciphers_line = line_of(v);
    return rc;
}

int mtlb_cfg_read_backend_tls(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                              const struct cfg_field *f)
{
    static const struct cfg_field fields[] = {
        {"ca", read_ca, false, 0, 0, 0},
        {"verify", read_verify, false, 0, 0, 0},
        {"sni", read_sni, false, 0, 0, 0},
        {"certificate", read_cert, false, 0, 0, 0},
        {"key", read_key, false, 0, 0, 0},
        {"min_version", read_min_version, false, 0, 0, 0},
        {"ciphers", read_ciphers, false, 0, 0, 0},
    };
    struct mtlb_backend_tls_cfg *t = &((struct mtlb_backend_cfg *)dst)->tls;

    (void)f;
    t->enabled = true;
    t->verify = true;
    t->line = line_of(v);
    int rc = mtlb_cfg_walk_map(ctx, v, fields, sizeof(fields) / sizeof(fields[0]), t);
    if (rc != 0) {
        return rc;
    }
    if (t->verify && t->ca == NULL) {
        return mtlb_cfg_err(ctx, v,
                            "ca is required (the backends' CA certificates, PEM); verify: false "
                            "turns verification off, which must be written out");
    }
    if ((t->certificate == NULL) != (t->key == NULL)) {
        const char *given = t->key == NULL ? "certificate" : "key";
        yaml_node_t *n = mtlb_cfg_lookup(ctx, v, given);
        size_t mark = mtlb_cfg_push(ctx, ".%s", given);
        rc = mtlb_cfg_err(ctx, n != NULL ? n : v, "certificate and key go together");
        mtlb_cfg_pop(ctx, mark);
        return rc;
    }
    return 0;
}

void mtlb_cfg_backend_tls_free(struct mtlb_backend_tls_cfg *t)
{
    free(t->ca);
    free(t->sni);
    free(t->certificate);
    free(t->key);
    free(t->ciphers);
    memset(t, 0, sizeof(*t));
}

static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

bool mtlb_cfg_backend_tls_same(const struct mtlb_backend_tls_cfg *a,
                               const struct mtlb_backend_tls_cfg *b)
{
    return a->enabled == b->enabled && a->verify == b->verify && same_str(a->ca, b->ca) &&
           same_str(a->sni, b->sni) && same_str(a->certificate, b->certificate) &&
           same_str(a->key, b->key) && a->min_version == b->min_version &&
           same_str(a->ciphers, b->ciphers);
}
