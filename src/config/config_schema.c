/* Config schema: one field table per YAML mapping, the readers that fill struct mtlb_config,
 * client_auth defaults, and the checks that span sections (unique names and binds, backend
 * references). Pure: no I/O; paths are resolved as strings only. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

#define N_FIELDS(a) (sizeof(a) / sizeof((a)[0]))

static int read_str(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    (void)f;
    return mtlb_cfg_str(ctx, v, dst);
}

static int read_path(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    (void)f;
    return mtlb_cfg_path(ctx, v, dst);
}

static int read_u32(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    return mtlb_cfg_uint(ctx, v, f->min, f->max, dst);
}

static int read_duration(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    (void)f;
    return mtlb_cfg_duration(ctx, v, dst);
}

static int read_int(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    uint32_t u = 0;
    int rc = mtlb_cfg_uint(ctx, v, f->min, f->max, &u);

    *(int *)dst = (int)u;
    return rc;
}

static int read_workers(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    if (v->type == YAML_SCALAR_NODE && v->data.scalar.length == 4 &&
        memcmp(v->data.scalar.value, "auto", 4) == 0) {
        *(unsigned *)dst = 0;
        return 0;
    }
    return read_u32(ctx, v, dst, f);
}

/* Readers for the word-valued keys. */
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

static int read_bool(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const char *const w[] = {"true", "false"};
    int i = 0;
    int rc = mtlb_cfg_choice(ctx, v, w, N_FIELDS(w), &i);

    (void)f;
    if (rc == 0) {
        *(bool *)dst = i == 0;
    }
    return rc;
}

static int read_level(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const char *const w[] = {"error", "warn", "info", "debug"};

    (void)f;
    return mtlb_cfg_choice(ctx, v, w, N_FIELDS(w), dst);
}

static int read_dn_format(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const char *const w[] = {"slash", "rfc2253"};
    int i = 0;
    int rc = mtlb_cfg_choice(ctx, v, w, N_FIELDS(w), &i);

    (void)f;
    if (rc == 0) {
        *(enum mtlb_dn_format *)dst = i == 1 ? MTLB_DN_RFC2253 : MTLB_DN_SLASH;
    }
    return rc;
}

static int read_underscores(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                            const struct cfg_field *f)
{
    static const char *const w[] = {"drop", "reject", "pass"};
    static const enum mtlb_underscores vals[] = {MTLB_US_DROP, MTLB_US_REJECT, MTLB_US_PASS};
    int i = 0;
    int rc = mtlb_cfg_choice(ctx, v, w, N_FIELDS(w), &i);

    (void)f;
    if (rc == 0) {
        *(enum mtlb_underscores *)dst = vals[i];
    }
    return rc;
}

static int read_request_trailers(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                                 const struct cfg_field *f)
{
    static const char *const w[] = {"drop", "forward"};
    int i = 0;
    int rc = mtlb_cfg_choice(ctx, v, w, N_FIELDS(w), &i);

    (void)f;
    if (rc == 0) {
        *(bool *)dst = i == 1;
    }
    return rc;
}

static int read_io(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const char *const w[] = {"auto", "uring", "epoll"};
    static const enum mtlb_io_backend vals[] = {MTLB_IO_AUTO, MTLB_IO_URING, MTLB_IO_EPOLL};
    int i = 0;
    int rc = mtlb_cfg_choice(ctx, v, w, N_FIELDS(w), &i);

    (void)f;
    if (rc == 0) {
        ((struct mtlb_config *)dst)->io = vals[i];
    }
    return rc;
}

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

static int read_access_log(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                           const struct cfg_field *f)
{
    char **out = dst;
    int rc = mtlb_cfg_str(ctx, v, out);

    (void)f;
    if (rc != 0 || strcmp(*out, "stdout") == 0 || strcmp(*out, "stderr") == 0) {
        return rc;
    }
    if (strcmp(*out, "off") == 0) {
        free(*out);
        *out = NULL;
        return 0;
    }
    return mtlb_cfg_path(ctx, v, out);
}

/* Reads a sequence of count items into a calloc'd array of size elem, published through
 * *arr and *n before the items are read so that destroy frees partial results. */
static int read_array(struct cfg_ctx *ctx, yaml_node_t *v, void **arr, size_t *n, size_t elem,
                      int (*item)(struct cfg_ctx *, yaml_node_t *, void *))
{
    size_t count = 0;
    int rc = mtlb_cfg_seq(ctx, v, true, &count);

    if (rc != 0) {
        return rc;
    }
    *arr = calloc(count, elem);
    if (*arr == NULL) {
        return mtlb_cfg_oom(ctx);
    }
    *n = count;
    for (size_t i = 0; i < count && rc == 0; i++) {
        yaml_node_t *it = NULL;
        size_t mark = mtlb_cfg_push(ctx, "[%zu]", i);
        rc = mtlb_cfg_item(ctx, v, i, &it);
        if (rc == 0) {
            rc = item(ctx, it, (char *)*arr + i * elem);
        }
        mtlb_cfg_pop(ctx, mark);
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
    return read_array(ctx, v, (void **)&d->names, &d->n_names, sizeof(char *), item_sni);
}

/* The domain's files: the path, and the line that named it for messages about the file. */
static int read_file(struct cfg_ctx *ctx, yaml_node_t *v, char **path, unsigned *line)
{
    *line = (unsigned)v->start_mark.line + 1;
    return mtlb_cfg_path(ctx, v, path);
}

static int read_cert(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    struct mtlb_domain_cfg *d = dst;

    (void)f;
    return read_file(ctx, v, &d->certificate, &d->certificate_line);
}

static int read_key(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
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

static int read_client_auth(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                            const struct cfg_field *f)
{
    static const struct cfg_field fields[] = {
        {"mode", read_mode, false, offsetof(struct mtlb_domain_cfg, mode), 0, 0},
        {"truststore", read_truststore, false, 0, 0, 0},
        {"crl", read_crl, false, 0, 0, 0},
        {"verify_depth", read_int, false, offsetof(struct mtlb_domain_cfg, verify_depth), 1, 100},
        {"require_client_auth_eku", read_bool, false,
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
        {"certificate", read_cert, true, 0, 0, 0},
        {"key", read_key, true, 0, 0, 0},
        {"client_auth", read_client_auth, false, 0, 0, 0},
        {"tls", mtlb_cfg_read_domain_tls, false, 0, 0, 0},
        {"backend", read_str, false, offsetof(struct mtlb_domain_cfg, backend), 0, 0},
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

static int read_domains(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    struct mtlb_listener_cfg *l = dst;
    int rc =
        read_array(ctx, v, (void **)&l->domains, &l->n_domains, sizeof(*l->domains), item_domain);

    (void)f;
    return rc != 0 ? rc : check_sni_dups(ctx, v, l);
}

static int read_bind(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    struct mtlb_listener_cfg *l = dst;

    (void)f;
    l->bind_line = (unsigned)v->start_mark.line + 1;
    return mtlb_cfg_addr(ctx, v, true, &l->bind_host, &l->bind_port);
}

/* tls: {ticket_keys: PATH} at the top level (dst: the char * to fill); the file itself is
 * read when the TLS contexts are built (mtlb -t). A listener's tls: adds the TLS policy
 * (config_tls.c). */
static int read_tls(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const struct cfg_field fields[] = {
        {"ticket_keys", read_path, false, 0, 0, 0},
    };
    (void)f;
    return mtlb_cfg_walk_map(ctx, v, fields, N_FIELDS(fields), dst);
}

static int item_listener(struct cfg_ctx *ctx, yaml_node_t *v, void *dst)
{
    static const struct cfg_field fields[] = {
        {"bind", read_bind, true, 0, 0, 0},
        {"backend", read_str, false, offsetof(struct mtlb_listener_cfg, backend), 0, 0},
        {"domains", read_domains, false, 0, 0, 0}, /* required with TLS: plain_check */
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

static int read_listeners(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    struct mtlb_config *cfg = dst;

    (void)f;
    return read_array(ctx, v, (void **)&cfg->listeners, &cfg->n_listeners, sizeof(*cfg->listeners),
                      item_listener);
}

static int item_server(struct cfg_ctx *ctx, yaml_node_t *v, void *dst)
{
    return mtlb_cfg_read_server(ctx, v, dst);
}

static int read_servers(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    struct mtlb_backend_cfg *b = dst;

    (void)f;
    return read_array(ctx, v, (void **)&b->servers, &b->n_servers, sizeof(*b->servers),
                      item_server);
}

/* The probe's request target goes into a request line as it is: an origin-form path of
 * visible ASCII only, so a typo cannot put a space or a line break into the probe. */
static int read_health_path(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                            const struct cfg_field *f)
{
    char **out = dst;
    int rc = mtlb_cfg_str(ctx, v, out);

    (void)f;
    if (rc != 0) {
        return rc;
    }
    bool ok = (*out)[0] == '/' && strlen(*out) <= 1024;
    for (const char *p = *out; ok && *p != '\0'; p++) {
        ok = *p > 0x20 && *p < 0x7f;
    }
    if (!ok) {
        return mtlb_cfg_err(ctx, v,
                            "expected a path starting with '/' (visible ASCII, no "
                            "spaces, at most 1024 bytes)");
    }
    return 0;
}

static int read_status_range(struct cfg_ctx *ctx, yaml_node_t *v, void *dst,
                             const struct cfg_field *f)
{
    struct mtlb_health_cfg *h = dst;

    (void)f;
    return mtlb_cfg_status_range(ctx, v, &h->status_min, &h->status_max);
}

static int read_health(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const struct cfg_field fields[] = {
        {"path", read_health_path, true, offsetof(struct mtlb_health_cfg, path), 0, 0},
        {"interval", read_duration, false, offsetof(struct mtlb_health_cfg, interval_ms), 0, 0},
        {"timeout", read_duration, false, offsetof(struct mtlb_health_cfg, timeout_ms), 0, 0},
        {"rise", read_u32, false, offsetof(struct mtlb_health_cfg, rise), 1, 100},
        {"fall", read_u32, false, offsetof(struct mtlb_health_cfg, fall), 1, 100},
        {"expected_status", read_status_range, false, 0, 0, 0},
    };
    struct mtlb_health_cfg *h = &((struct mtlb_backend_cfg *)dst)->health;

    (void)f;
    *h = (struct mtlb_health_cfg){true, NULL, 2000, 1000, 2, 3, 200, 399};
    int rc = mtlb_cfg_walk_map(ctx, v, fields, N_FIELDS(fields), h);
    if (rc == 0 && h->timeout_ms > h->interval_ms) {
        yaml_node_t *t = mtlb_cfg_lookup(ctx, v, "timeout");
        return mtlb_cfg_err(ctx, t ? t : v, "timeout (%ums) must not exceed interval (%ums)",
                            h->timeout_ms, h->interval_ms);
    }
    return rc;
}

static int item_backend(struct cfg_ctx *ctx, yaml_node_t *v, void *dst)
{
    static const struct cfg_field fields[] = {
        {"name", read_str, true, offsetof(struct mtlb_backend_cfg, name), 0, 0},
        {"servers", read_servers, true, 0, 0, 0},
        {"health", read_health, false, 0, 0, 0},
        {"balance", mtlb_cfg_read_balance, false, offsetof(struct mtlb_backend_cfg, balance), 0, 0},
        {"resolve", mtlb_cfg_read_resolve, false, offsetof(struct mtlb_backend_cfg, resolve_ms), 0,
         0},
        {"tls", mtlb_cfg_read_backend_tls, false, 0, 0, 0},
    };
    return mtlb_cfg_walk_map(ctx, v, fields, N_FIELDS(fields), dst);
}

static int read_backends(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    struct mtlb_config *cfg = dst;

    (void)f;
    return read_array(ctx, v, (void **)&cfg->backends, &cfg->n_backends, sizeof(*cfg->backends),
                      item_backend);
}

static int read_delay(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    (void)f;
    return mtlb_cfg_duration0(ctx, v, dst);
}

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

static int read_admin(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const struct cfg_field fields[] = {
        {"bind", read_admin_bind, true, 0, 0, 0},
        {"certificate", read_cert, false, offsetof(struct mtlb_admin_cfg, tls), 0, 0},
        {"key", read_key, false, offsetof(struct mtlb_admin_cfg, tls), 0, 0},
        {"client_auth", read_client_auth, false, offsetof(struct mtlb_admin_cfg, tls), 0, 0},
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

/* A bare number is seconds, so "debounce: 500" meant as milliseconds would hold every change
 * back for 8 minutes: over a minute is refused as a likely mistake. */
static int read_debounce(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    int rc = mtlb_cfg_duration(ctx, v, dst);

    (void)f;
    if (rc == 0 && *(uint32_t *)dst > MTLB_RELOAD_DEBOUNCE_MAX_MS) {
        rc = mtlb_cfg_err(ctx, v, "at most %us (the reload waits this long after each change)",
                          MTLB_RELOAD_DEBOUNCE_MAX_MS / 1000);
    }
    return rc;
}

static int read_reload(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const struct cfg_field fields[] = {
        {"watch", read_bool, false, offsetof(struct mtlb_reload_cfg, watch), 0, 0},
        {"debounce", read_debounce, false, offsetof(struct mtlb_reload_cfg, debounce_ms), 0, 0},
    };
    (void)f;
    return mtlb_cfg_walk_map(ctx, v, fields, N_FIELDS(fields), dst);
}

#define TM(key, field)                                                                             \
    {                                                                                              \
        key, read_duration, false, offsetof(struct mtlb_timeouts_cfg, field), 0, 0                 \
    }

static int read_timeouts(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const struct cfg_field fields[] = {
        TM("handshake", handshake_ms),
        TM("client_header", client_header_ms),
        TM("client_body", client_body_ms),
        TM("client_idle", client_idle_ms),
        TM("backend_connect", backend_connect_ms),
        TM("backend_response", backend_response_ms),
        TM("backend_idle", backend_idle_ms),
        TM("drain", drain_ms),
        {"shutdown_delay", read_delay, false, offsetof(struct mtlb_timeouts_cfg, shutdown_delay_ms),
         0, 0},
    };
    (void)f;
    return mtlb_cfg_walk_map(ctx, v, fields, N_FIELDS(fields), dst);
}

static int read_limits(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const struct cfg_field fields[] = {
        {"max_header_bytes", read_u32, false, offsetof(struct mtlb_limits_cfg, max_header_bytes),
         1024, 1048576},
        {"max_headers", read_u32, false, offsetof(struct mtlb_limits_cfg, max_headers), 1, 10000},
        {"max_connections", read_u32, false, offsetof(struct mtlb_limits_cfg, max_connections), 1,
         10000000},
        {"h2_max_concurrent_streams", read_u32, false,
         offsetof(struct mtlb_limits_cfg, h2_max_streams), 1, 10000},
        {"max_body_bytes", mtlb_cfg_read_body_size, false,
         offsetof(struct mtlb_limits_cfg, max_body_bytes), 0, 0},
    };
    (void)f;
    return mtlb_cfg_walk_map(ctx, v, fields, N_FIELDS(fields), dst);
}

static int read_threads(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const struct cfg_field fields[] = {
        {"acceptors", read_u32, false, offsetof(struct mtlb_config, acceptors), 1, 256},
        {"workers", read_workers, false, offsetof(struct mtlb_config, workers), 1, 256},
    };
    (void)f;
    return mtlb_cfg_walk_map(ctx, v, fields, N_FIELDS(fields), dst);
}

static int read_log(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const struct cfg_field fields[] = {
        {"level", read_level, false, offsetof(struct mtlb_log_cfg, level), 0, 0},
        {"access_log", read_access_log, false, offsetof(struct mtlb_log_cfg, access_log), 0, 0},
    };
    (void)f;
    return mtlb_cfg_walk_map(ctx, v, fields, N_FIELDS(fields), dst);
}

/* headers.client_cert / client_san / fingerprint: the header name, checked in read_headers
 * once all three are known. */
static int read_id_name(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    char *name = NULL;
    int rc = mtlb_cfg_str(ctx, v, &name);

    (void)f;
    if (rc == 0 && strlen(name) > MTLB_IDH_NAME_MAX) {
        rc = mtlb_cfg_err(ctx, v, "a header name of at most %d characters is expected",
                          MTLB_IDH_NAME_MAX);
    }
    if (rc == 0) {
        memcpy(dst, name, strlen(name) + 1);
    }
    free(name);
    return rc;
}

#define ID_NAME(key, which)                                                                        \
    {                                                                                              \
        key, read_id_name, false, offsetof(struct mtlb_config, id_headers.name[which]), 0, 0       \
    }

static int read_headers(struct cfg_ctx *ctx, yaml_node_t *v, void *dst, const struct cfg_field *f)
{
    static const struct cfg_field fields[] = {
        {"dn_format", read_dn_format, false, offsetof(struct mtlb_config, dn_format), 0, 0},
        {"underscores", read_underscores, false,
         offsetof(struct mtlb_config, header_policy.underscores), 0, 0},
        {"request_trailers", read_request_trailers, false,
         offsetof(struct mtlb_config, header_policy.forward_trailers), 0, 0},
        ID_NAME("client_cert", MTLB_IDH_CERT),
        ID_NAME("client_san", MTLB_IDH_SAN),
        ID_NAME("fingerprint", MTLB_IDH_FINGERPRINT),
    };
    static const char *const id_keys[MTLB_IDH_COUNT] = {"client_cert", "client_san", "fingerprint"};
    const struct mtlb_id_names *p = &((struct mtlb_config *)dst)->id_headers;
    int rc = mtlb_cfg_walk_map(ctx, v, fields, N_FIELDS(fields), dst);

    (void)f;
    for (int i = 0; rc == 0 && i < MTLB_IDH_COUNT; i++) {
        const char *why = p->name[i][0] != '\0'
                              ? mtlb_rewrite_check_id_name(p, (enum mtlb_id_header)i, p->name[i])
                              : NULL;
        if (why != NULL) {
            yaml_node_t *node = mtlb_cfg_lookup(ctx, v, id_keys[i]);
            char quoted[96];
            mtlb_cfg_quote(node, quoted, sizeof(quoted));
            size_t mark = mtlb_cfg_push(ctx, "%s%s", ctx->keylen ? "." : "", id_keys[i]);
            rc = mtlb_cfg_err(ctx, node, "%s %s", quoted, why);
            mtlb_cfg_pop(ctx, mark);
        }
    }
    return rc;
}

static const struct cfg_field root_fields[] = {
    {"listeners", read_listeners, true, 0, 0, 0},
    {"backends", read_backends, true, 0, 0, 0},
    {"threads", read_threads, false, 0, 0, 0},
    {"timeouts", read_timeouts, false, offsetof(struct mtlb_config, timeouts), 0, 0},
    {"limits", read_limits, false, offsetof(struct mtlb_config, limits), 0, 0},
    {"log", read_log, false, offsetof(struct mtlb_config, log), 0, 0},
    {"headers", read_headers, false, 0, 0, 0},
    {"io", read_io, false, 0, 0, 0},
    {"admin", read_admin, false, offsetof(struct mtlb_config, admin), 0, 0},
    {"tls", read_tls, false, offsetof(struct mtlb_config, ticket_keys), 0, 0},
    {"reload", read_reload, false, offsetof(struct mtlb_config, reload), 0, 0},
};

static int cmp_dup_name(const void *key, const void *elem)
{
    return strcmp(key, ((const struct cfg_dup *)elem)->s);
}

/* Unique backend names, unique binds, and every listener's backend resolved to an index.
 * Sorted arrays keep this n log n however large an aliased document grows. */
static int check_cross(struct cfg_ctx *ctx, yaml_node_t *root, struct mtlb_config *cfg)
{
    yaml_node_t *bes = mtlb_cfg_lookup(ctx, root, "backends");
    yaml_node_t *ls = mtlb_cfg_lookup(ctx, root, "listeners");
    struct cfg_dup *b = calloc(cfg->n_backends, sizeof(*b));
    struct cfg_dup *l = calloc(cfg->n_listeners, sizeof(*l));
    int rc = b && l ? 0 : mtlb_cfg_oom(ctx);

    for (size_t i = 0; rc == 0 && i < cfg->n_backends; i++) {
        yaml_node_t *n = mtlb_cfg_lookup(ctx, mtlb_cfg_nth(ctx, bes, i), "name");
        b[i] = (struct cfg_dup){cfg->backends[i].name, 0, i, n};
    }
    for (size_t i = 0; rc == 0 && i < cfg->n_listeners; i++) {
        yaml_node_t *n = mtlb_cfg_lookup(ctx, mtlb_cfg_nth(ctx, ls, i), "bind");
        l[i] = (struct cfg_dup){cfg->listeners[i].bind_host, cfg->listeners[i].bind_port, i, n};
    }
    if (rc == 0) {
        size_t mark = mtlb_cfg_push(ctx, "backends");
        rc = mtlb_cfg_check_dups(ctx, b, cfg->n_backends, "backend name");
        mtlb_cfg_pop(ctx, mark);
    }
    if (rc == 0) {
        size_t mark = mtlb_cfg_push(ctx, "listeners");
        rc = mtlb_cfg_check_dups(ctx, l, cfg->n_listeners, "bind");
        mtlb_cfg_pop(ctx, mark);
    }
    for (size_t i = 0; rc == 0 && i < cfg->n_listeners; i++) {
        struct mtlb_listener_cfg *li = &cfg->listeners[i];
        li->backend_index = MTLB_ROUTE_NO_POOL; /* optional with routes (config_routes.c) */
        if (li->backend == NULL) {
            continue;
        }
        const struct cfg_dup *hit =
            bsearch(li->backend, b, cfg->n_backends, sizeof(*b), cmp_dup_name);
        if (hit != NULL) {
            li->backend_index = hit->order;
            continue;
        }
        char name[80];
        yaml_node_t *n = mtlb_cfg_lookup(ctx, mtlb_cfg_nth(ctx, ls, i), "backend");
        mtlb_cfg_quote(n, name, sizeof(name));
        mtlb_cfg_push(ctx, "listeners[%zu].backend", i);
        rc = mtlb_cfg_err(ctx, n, "unknown backend %s", name);
    }
    if (rc == 0) {
        rc = mtlb_cfg_routes_resolve(ctx, ls, cfg, b, cfg->n_backends);
    }
    free(b);
    free(l);
    return rc;
}

int mtlb_cfg_read_root(struct cfg_ctx *ctx, yaml_node_t *root, struct mtlb_config *cfg)
{
    int rc = mtlb_cfg_walk_map(ctx, root, root_fields, N_FIELDS(root_fields), cfg);

    /* The top-level ticket key file serves every listener that issues tickets and names no
     * file of its own; one that serves none would be silently unused. */
    size_t users = 0;
    for (size_t i = 0; rc == 0 && cfg->ticket_keys != NULL && i < cfg->n_listeners; i++) {
        struct mtlb_listener_cfg *l = &cfg->listeners[i];
        if (l->ticket_keys == NULL && l->session_lifetime != 0) {
            users++;
            if ((l->ticket_keys = strdup(cfg->ticket_keys)) == NULL) {
                rc = mtlb_cfg_oom(ctx);
            }
        }
    }
    if (rc == 0 && cfg->ticket_keys != NULL && users == 0) {
        size_t mark = mtlb_cfg_push(ctx, "tls.ticket_keys");
        yaml_node_t *keys = mtlb_cfg_lookup(ctx, mtlb_cfg_lookup(ctx, root, "tls"), "ticket_keys");
        rc = mtlb_cfg_err(ctx, keys,
                          "is used by no listener (each has session_lifetime: off or its own "
                          "tls.ticket_keys)");
        mtlb_cfg_pop(ctx, mark);
    }
    if (rc == 0) {
        mtlb_cfg_limits_inherit(cfg);
    }
    return rc != 0 ? rc : check_cross(ctx, root, cfg);
}
