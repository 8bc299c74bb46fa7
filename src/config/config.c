/* Configuration API: loads the YAML file (the only file this module reads), applies the
 * defaults, runs the schema walk and owns the snapshot's memory. Certificate paths are only
 * resolved as strings for the tls module to open. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_int.h"

#define MTLB_CONFIG_MAX_FILE (16u << 20)

static struct mtlb_config *config_new(const char *name)
{
    struct mtlb_config *cfg = calloc(1, sizeof(*cfg));

    if (cfg == NULL) {
        return NULL;
    }
    cfg->acceptors = 1;
    cfg->workers = 0;
    cfg->timeouts = (struct mtlb_timeouts_cfg){
        .handshake_ms = 10000,
        .client_header_ms = 10000,
        .client_body_ms = 30000,
        .client_idle_ms = 60000,
        .backend_connect_ms = 3000,
        .backend_response_ms = 30000,
        .backend_idle_ms = 30000,
        .drain_ms = 10000,
    };
    cfg->limits = (struct mtlb_limits_cfg){16384, 100, 10000, 100, 0};
    cfg->reload.debounce_ms = 1000;
    cfg->log.level = 2;
    cfg->log.access_log = strdup("stdout");
    cfg->dn_format = MTLB_DN_SLASH;
    cfg->path = strdup(name);
    if (cfg->log.access_log == NULL || cfg->path == NULL) {
        mtlb_config_destroy(cfg);
        return NULL;
    }
    return cfg;
}

static int parser_error(struct cfg_ctx *ctx, const yaml_parser_t *p)
{
    if (p->error == YAML_MEMORY_ERROR) {
        return mtlb_cfg_oom(ctx);
    }
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (p->error == YAML_READER_ERROR) {
        snprintf(ctx->err, ctx->errlen, "%s: byte %zu: %s", ctx->name, p->problem_offset, problem);
    } else {
        snprintf(ctx->err, ctx->errlen, "%s:%zu:%zu: %s%s%s", ctx->name, p->problem_mark.line + 1,
                 p->problem_mark.column + 1, problem, p->context ? " " : "",
                 p->context ? p->context : "");
    }
    ctx->rc = -EINVAL;
    return ctx->rc;
}

/* Loads the one document the file may hold; a second document is an error. */
static int load_document(struct cfg_ctx *ctx, yaml_parser_t *p, yaml_document_t *doc)
{
    yaml_document_t extra;

    if (!yaml_parser_load(p, doc)) {
        return parser_error(ctx, p);
    }
    ctx->doc = doc;
    if (yaml_document_get_root_node(doc) == NULL) {
        return mtlb_cfg_err(ctx, NULL, "empty document");
    }
    if (!yaml_parser_load(p, &extra)) {
        return parser_error(ctx, p);
    }
    yaml_node_t *root2 = yaml_document_get_root_node(&extra);
    int rc = root2 ? mtlb_cfg_err(ctx, root2, "only one YAML document is allowed") : 0;
    yaml_document_delete(&extra);
    return rc;
}

int mtlb_config_parse(const char *yaml, size_t len, const char *name, const char *base_dir,
                      struct mtlb_config **out, char *err, size_t errlen)
{
    char dummy[1];
    struct cfg_ctx ctx = {
        .name = name ? name : "config",
        .base_dir = base_dir ? base_dir : "",
        .err = errlen ? err : dummy,
        .errlen = errlen ? errlen : sizeof(dummy),
    };
    yaml_parser_t parser;
    yaml_document_t doc;
    struct mtlb_config *cfg = NULL;

    *out = NULL;
    ctx.err[0] = '\0';
    memset(&doc, 0, sizeof(doc));
    if (!yaml_parser_initialize(&parser)) {
        return mtlb_cfg_oom(&ctx);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)(yaml ? yaml : ""), len);
    int rc = load_document(&ctx, &parser, &doc);
    if (rc == 0) {
        cfg = config_new(ctx.name);
        rc = cfg ? 0 : mtlb_cfg_oom(&ctx);
    }
    if (rc == 0) {
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        rc = mtlb_cfg_read_root(&ctx, root, cfg);
    }
    if (ctx.doc != NULL) {
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    if (rc != 0) {
        mtlb_config_destroy(cfg);
        return rc;
    }
    for (size_t l = 0; l < cfg->n_listeners; l++) {
        for (size_t d = 0; d < cfg->listeners[l].n_domains; d++) {
            cfg->listeners[l].domains[d].cfg_file = cfg->path;
        }
    }
    cfg->admin.tls.cfg_file = cfg->admin.tls_on ? cfg->path : NULL;
    *out = cfg;
    return 0;
}

/* Directory of path, made absolute with the working directory when path is relative, so
 * that resolved certificate paths survive a later chdir. NULL on allocation failure. */
static char *config_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) : 0;
    char *cwd = NULL;
    char *dir;

    if (slash == path) {
        return strdup("/");
    }
    if (dlen == 1 && path[0] == '.') {
        dlen = 0;
    }
    if (path[0] != '/') {
        cwd = getcwd(NULL, 0);
    }
    if (cwd == NULL) {
        return strndup(path, dlen); /* relative paths stay relative if cwd is unknown */
    }
    size_t clen = strlen(cwd);
    dir = malloc(clen + 1 + dlen + 1);
    if (dir != NULL) {
        memcpy(dir, cwd, clen);
        dir[clen] = '/';
        memcpy(dir + clen + 1, path, dlen);
        dir[clen + (dlen ? 1 + dlen : 0)] = '\0';
    }
    free(cwd);
    return dir;
}

/* Reads the whole file; -errno with a message on failure. */
static int read_file(const char *path, char **data, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 4096;
    char *buf = NULL;

    *len = 0;
    if (f == NULL) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
        return -e;
    }
    for (;;) {
        if (buf == NULL || cap - *len < 2) {
            char *nb = realloc(buf, cap *= 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        size_t n = fread(buf + *len, 1, cap - *len - 1, f);
        *len += n;
        if (n == 0 || *len > MTLB_CONFIG_MAX_FILE) {
            break;
        }
    }
    int rc = buf == NULL ? -ENOMEM : ferror(f) ? -EIO : *len > MTLB_CONFIG_MAX_FILE ? -EFBIG : 0;
    fclose(f);
    if (rc != 0) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-rc));
        free(buf);
        return rc;
    }
    *data = buf;
    return 0;
}

int mtlb_config_load(const char *path, struct mtlb_config **out, char *err, size_t errlen)
{
    char dummy[1];
    char *data = NULL;
    size_t len = 0;

    *out = NULL;
    if (errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    int rc = read_file(path, &data, &len, err, errlen);
    if (rc != 0) {
        return rc;
    }
    char *dir = config_dir(path);
    if (dir == NULL) {
        free(data);
        snprintf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    rc = mtlb_config_parse(data, len, path, dir, out, err, errlen);
    free(dir);
    free(data);
    return rc;
}

static void domain_free(struct mtlb_domain_cfg *d)
{
    for (size_t i = 0; i < d->n_names; i++) {
        free(d->names[i]);
    }
    free(d->names);
    free(d->certificate);
    free(d->key);
    free(d->truststore);
    free(d->crl);
    free(d->ocsp_response);
    free(d->cfg_key);
    free(d->backend);
    mtlb_cfg_tls_policy_free(&d->policy);
}

static bool dup_str(char **dst, const char *src)
{
    *dst = src != NULL ? strdup(src) : NULL;
    return src == NULL || *dst != NULL;
}

int mtlb_config_domain_copy(struct mtlb_domain_cfg *d, const struct mtlb_domain_cfg *s)
{
    char *file = NULL;

    *d = *s;
    d->names = calloc(s->n_names ? s->n_names : 1, sizeof(*d->names));
    d->n_names = 0;
    d->certificate = d->key = d->truststore = d->crl = d->cfg_key = d->ocsp_response = NULL;
    d->cfg_file = NULL;
    d->backend = NULL;
    if (d->names == NULL) {
        return -ENOMEM;
    }
    for (; d->n_names < s->n_names; d->n_names++) {
        if (!dup_str(&d->names[d->n_names], s->names[d->n_names])) {
            return -ENOMEM;
        }
    }
    bool ok = dup_str(&d->certificate, s->certificate) && dup_str(&d->key, s->key) &&
              dup_str(&d->truststore, s->truststore) && dup_str(&d->crl, s->crl) &&
              dup_str(&d->cfg_key, s->cfg_key) && dup_str(&file, s->cfg_file) &&
              dup_str(&d->ocsp_response, s->ocsp_response) && dup_str(&d->backend, s->backend);
    d->cfg_file = file;
    ok = mtlb_cfg_tls_policy_copy(&d->policy, &s->policy) == 0 && ok;
    return ok ? 0 : -ENOMEM;
}

void mtlb_config_domain_copy_free(struct mtlb_domain_cfg *d)
{
    domain_free(d);
    free((char *)d->cfg_file);
    memset(d, 0, sizeof(*d));
}

void mtlb_config_destroy(struct mtlb_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        struct mtlb_listener_cfg *l = &cfg->listeners[i];
        for (size_t j = 0; j < l->n_domains; j++) {
            domain_free(&l->domains[j]);
        }
        free(l->domains);
        free(l->bind_host);
        free(l->backend);
        free(l->ticket_keys);
        mtlb_cfg_tls_policy_free(&l->policy);
        mtlb_cfg_routes_free(l->routes, l->n_routes);
        mtlb_cfg_acl_free(l);
    }
    free(cfg->listeners);
    for (size_t i = 0; i < cfg->n_backends; i++) {
        for (size_t j = 0; j < cfg->backends[i].n_servers; j++) {
            free(cfg->backends[i].servers[j].host);
        }
        free(cfg->backends[i].servers);
        free(cfg->backends[i].name);
        free(cfg->backends[i].health.path);
        mtlb_cfg_backend_tls_free(&cfg->backends[i].tls);
    }
    free(cfg->backends);
    free(cfg->log.access_log);
    free(cfg->admin.bind_host);
    domain_free(&cfg->admin.tls);
    free(cfg->ticket_keys);
    free(cfg->path);
    free(cfg);
}
