/* `mtlb verify-client -c CONFIG [--domain NAME] [--listener [HOST]:PORT] CLIENT.pem`: loads the
 * configuration and the TLS contexts exactly as mtlb does, picks the domain, and verifies the
 * client's certificate (with the chain that follows it in the file, as the client would send it)
 * through mtlb_tls_verify_offline, the handshake's own code. Prints SUCCESS or "FAILED: <reason
 * token> <text>", and the missing issuer's DN for an incomplete chain. Exit 0 on SUCCESS, 1
 * on FAILED or a configuration that does not load, 2 on a usage error. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "mtlb/cli.h"
#include "mtlb/config.h"
#include "mtlb/log.h"
#include "mtlb/pem.h"
#include "mtlb/tls.h"
#include "tls_internal.h"

#define EXIT_USAGE 2
#define DN_MAX 512

/* The configuration's TLS contexts, one per listener, and the domain chosen. */
struct vc {
    const struct mtlb_config *cfg;
    struct mtlb_tls_listener *tls;
    size_t n_tls;     /* initialised listeners */
    const char *only; /* --listener: HOST:PORT or :PORT, NULL for every listener */
    size_t listener, domain;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: mtlb verify-client -c CONFIG [--domain NAME] [--listener [HOST]:PORT]\n"
            "                          CLIENT.pem\n"
            "  Verifies CLIENT.pem (the client's certificate, then any chain the client sends\n"
            "  after it) exactly as a handshake on the domain does: its truststore, CRLs,\n"
            "  verify depth and clientAuth rule, at the current time.\n"
            "  -c, --config FILE  the mtlb configuration\n"
            "  -d, --domain NAME  the domain (a name of it, as sent in SNI); required when more\n"
            "                     than one domain verifies client certificates\n"
            "  -l, --listener [HOST]:PORT  only the listener bound there (its bind address,\n"
            "                     or :PORT); for a name that several listeners serve\n"
            "  Prints SUCCESS, or FAILED: REASON TEXT (REASON as in\n"
            "  mtlb_client_verify_failures_total) and for an incomplete chain the missing\n"
            "  issuer's DN. Exit 0 on SUCCESS, 1 on FAILED or a configuration that does not\n"
            "  load, 2 on a usage error.\n");
}

static void listener_name(const struct mtlb_listener_cfg *l, char *out, size_t cap)
{
    snprintf(out, cap, strchr(l->bind_host, ':') ? "[%s]:%u" : "%s:%u", l->bind_host, l->bind_port);
}

/* "NAME, ALIAS (listener HOST:PORT, client_auth MODE)" */
static void describe_domain(const struct mtlb_config *cfg, size_t l, size_t d, FILE *out)
{
    const struct mtlb_domain_cfg *dc = &cfg->listeners[l].domains[d];
    char ln[300];

    listener_name(&cfg->listeners[l], ln, sizeof(ln));
    for (size_t i = 0; i < dc->n_names; i++) {
        fprintf(out, "%s%s", i ? ", " : "", dc->names[i]);
    }
    fprintf(out, "%s(listener %s, client_auth %s)", dc->n_names ? " " : "", ln,
            mtlb_config_mode_name(dc->mode));
}

static void list_domains(const struct mtlb_config *cfg, FILE *out)
{
    fprintf(out, "domains in %s:\n", cfg->path);
    for (size_t l = 0; l < cfg->n_listeners; l++) {
        for (size_t d = 0; d < cfg->listeners[l].n_domains; d++) {
            fprintf(out, "  ");
            describe_domain(cfg, l, d, out);
            fprintf(out, "\n");
        }
    }
}

/* Whether --listener selects listener l: ":PORT" by port, else "HOST:PORT" as it is bound. */
static bool listener_wanted(const struct vc *v, size_t l)
{
    const struct mtlb_listener_cfg *lc = &v->cfg->listeners[l];
    char ln[300];

    if (v->only == NULL) {
        return true;
    }
    if (v->only[0] == ':') {
        char port[8];
        snprintf(port, sizeof(port), "%u", lc->bind_port);
        return strcmp(v->only + 1, port) == 0;
    }
    listener_name(lc, ln, sizeof(ln));
    return strcmp(v->only, ln) == 0;
}

static int usage_error(const struct vc *v, const char *what, const char *name)
{
    fprintf(stderr, "mtlb verify-client: %s%s%s\n", name ? name : "", name ? ": " : "", what);
    if (v != NULL) {
        list_domains(v->cfg, stderr);
    }
    return EXIT_USAGE;
}

/* The domain SNI `name` selects (mtlb_tls_match_domain: exact names, then wildcards), on
 * whichever listener has one; listeners that disagree on how they verify it are ambiguous. */
static int choose_named(struct vc *v, const char *name)
{
    bool found = false;

    for (size_t l = 0; l < v->n_tls; l++) {
        int d = listener_wanted(v, l) ? mtlb_tls_match_domain(&v->tls[l], name) : -1;
        if (d < 0) {
            continue;
        }
        if (found && !mtlb_tls_same_client_auth(v->tls[v->listener].domains[v->domain].cfg,
                                                v->tls[l].domains[d].cfg)) {
            return usage_error(v,
                               "served by several listeners that verify clients differently: "
                               "choose one with --listener [HOST]:PORT",
                               name);
        }
        if (!found) {
            v->listener = l;
            v->domain = (size_t)d;
            found = true;
        }
    }
    if (!found) {
        return usage_error(v,
                           v->only != NULL ? "no domain has this name on that listener"
                                           : "no domain has this name",
                           name);
    }
    if (v->tls[v->listener].domains[v->domain].cfg->mode == MTLB_CLIENT_AUTH_OFF) {
        return usage_error(v,
                           "client_auth is off for this domain: mtlb does not verify its "
                           "clients' certificates",
                           name);
    }
    return 0;
}

/* Without --domain: the one domain that verifies client certificates. */
static int choose_only(struct vc *v)
{
    size_t n = 0;

    for (size_t l = 0; l < v->n_tls; l++) {
        for (size_t d = 0; listener_wanted(v, l) && d < v->tls[l].n_domains; d++) {
            if (v->tls[l].domains[d].cfg->mode != MTLB_CLIENT_AUTH_OFF) {
                v->listener = l;
                v->domain = d;
                n++;
            }
        }
    }
    if (n == 0) {
        return usage_error(v, "no domain verifies client certificates (client_auth off)", NULL);
    }
    if (n > 1) {
        return usage_error(v,
                           "several domains verify client certificates: choose one with "
                           "--domain NAME (and --listener [HOST]:PORT)",
                           NULL);
    }
    return 0;
}

/* The certificates of a PEM file in order (other blocks, such as the client's key, are
 * skipped), or of a DER file holding one certificate. 0, or EXIT_USAGE with a message. */
static int read_chain(const char *path, STACK_OF(X509) * chain)
{
    char why[128];
    BIO *bio = BIO_new_file(path, "rb");
    int rc = 0;

    if (bio == NULL) {
        fprintf(stderr, "mtlb verify-client: %s: cannot open (%s)\n", path,
                mtlb_tls_ssl_reason(why, sizeof(why)));
        return EXIT_USAGE;
    }
    struct mtlb_pem_block blk;
    int got;
    for (int n = 1; rc == 0 && (got = mtlb_pem_next(bio, &blk)) != 0; n++) {
        if (got < 0) {
            fprintf(stderr, "mtlb verify-client: %s: entry %d is not valid PEM\n", path, n);
            rc = EXIT_USAGE;
            break;
        }
        X509 *x = mtlb_pem_is_cert(blk.name) ? mtlb_pem_cert(&blk) : NULL;
        if (mtlb_pem_is_cert(blk.name) && (x == NULL || sk_X509_push(chain, x) == 0)) {
            X509_free(x);
            fprintf(stderr, "mtlb verify-client: %s: entry %d is a corrupted certificate\n", path,
                    n);
            rc = EXIT_USAGE;
        }
        mtlb_pem_block_free(&blk);
    }
    if (rc == 0 && sk_X509_num(chain) == 0 && BIO_reset(bio) == 0) {
        X509 *x = d2i_X509_bio(bio, NULL);
        if (x != NULL && sk_X509_push(chain, x) == 0) {
            X509_free(x);
        }
    }
    BIO_free(bio);
    ERR_clear_error();
    if (rc == 0 && sk_X509_num(chain) == 0) {
        fprintf(stderr, "mtlb verify-client: %s: no certificate in the file (PEM or DER)\n", path);
        rc = EXIT_USAGE;
    }
    return rc;
}

static void print_dn(const char *label, int depth, const X509_NAME *name)
{
    char dn[DN_MAX];

    mtlb_identity_format_dn(name, MTLB_DN_SLASH, dn, sizeof(dn));
    if (depth > 0) {
        printf("%s at depth %d: %s\n", label, depth, dn);
    } else {
        printf("%s: %s\n", label, dn);
    }
}

/* The verdict, then what it is about and what to do. DNs in the handshake log's format. */
static void print_verdict(const struct vc *v, STACK_OF(X509) * chain,
                          const struct mtlb_tls_offline *r)
{
    const struct mtlb_domain_cfg *d = v->tls[v->listener].domains[v->domain].cfg;
    X509 *leaf = sk_X509_value(chain, 0);
    char when[64];

    if (r->x509_error == X509_V_OK) {
        printf("SUCCESS\n");
    } else {
        printf("FAILED: %s %s\n", mtlb_verify_reason_token(r->reason),
               X509_verify_cert_error_string(r->x509_error));
    }
    X509 *at = r->cert;
    if (r->x509_error == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
        r->x509_error == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT) {
        print_dn("missing issuer", 0, X509_get_issuer_name(at != NULL ? at : leaf));
    } else if (r->x509_error == X509_V_ERR_UNABLE_TO_GET_CRL && at != NULL) {
        print_dn("no CRL from", 0, X509_get_issuer_name(at));
    }
    print_dn("subject", 0, X509_get_subject_name(leaf));
    print_dn("issuer", 0, X509_get_issuer_name(leaf));
    if (r->x509_error != X509_V_OK && at != NULL && r->depth > 0) {
        print_dn("failing certificate", r->depth, X509_get_subject_name(at));
    }
    if (r->x509_error == X509_V_ERR_CERT_HAS_EXPIRED && at != NULL) {
        mtlb_tls_format_time(X509_get0_notAfter(at), when, sizeof(when));
        printf("not after: %s\n", when);
    } else if (r->x509_error == X509_V_ERR_CERT_NOT_YET_VALID && at != NULL) {
        mtlb_tls_format_time(X509_get0_notBefore(at), when, sizeof(when));
        printf("not before: %s\n", when);
    }
    const char *hint = r->x509_error != X509_V_OK ? mtlb_tls_verify_hint(r->x509_error, at) : NULL;
    if (hint != NULL) {
        printf("hint: %s\n", hint);
    }
    printf("domain: ");
    describe_domain(v->cfg, v->listener, v->domain, stdout);
    printf("\n");
    if (r->x509_error != X509_V_OK && d->mode == MTLB_CLIENT_AUTH_OPTIONAL) {
        printf("note: client_auth is optional here: the handshake completes and the backend is "
               "sent X-SSL-Client-Verify: FAILED\n");
    }
}

static int init_listeners(struct vc *v)
{
    char err[2048] = "";

    v->tls = calloc(v->cfg->n_listeners ? v->cfg->n_listeners : 1, sizeof(*v->tls));
    if (v->tls == NULL) {
        fprintf(stderr, "mtlb verify-client: out of memory\n");
        return 1;
    }
    for (size_t l = 0; l < v->cfg->n_listeners; l++) {
        if (mtlb_tls_listener_init(&v->tls[l], &v->cfg->listeners[l], err, sizeof(err)) != 0) {
            fprintf(stderr, "mtlb verify-client: %s\n", err);
            return 1;
        }
        v->n_tls = l + 1;
    }
    return 0;
}

/* Loads, chooses, verifies, prints; the exit code. */
static int run(struct vc *v, const char *domain, const char *client)
{
    STACK_OF(X509) *chain = sk_X509_new_null();
    struct mtlb_tls_offline r = {.depth = -1};
    int rc = chain == NULL ? 1 : init_listeners(v);

    bool any = v->only == NULL;
    for (size_t l = 0; rc == 0 && l < v->n_tls; l++) {
        any = any || listener_wanted(v, l);
    }
    if (rc == 0 && !any) {
        rc = usage_error(v, "no listener is bound there", v->only);
    }
    if (rc == 0) {
        rc = domain != NULL ? choose_named(v, domain) : choose_only(v);
    }
    if (rc == 0) {
        rc = read_chain(client, chain);
    }
    int vrc = rc == 0 ? mtlb_tls_verify_offline(&v->tls[v->listener], v->domain, chain, &r) : 0;
    if (vrc != 0) {
        fprintf(stderr, "mtlb verify-client: cannot verify: %s\n", strerror(-vrc));
        rc = 1;
    } else if (rc == 0) {
        print_verdict(v, chain, &r);
        rc = r.x509_error == X509_V_OK ? 0 : 1;
    }
    X509_free(r.cert);
    sk_X509_pop_free(chain, X509_free);
    for (size_t l = 0; l < v->n_tls; l++) {
        mtlb_tls_listener_fini(&v->tls[l]);
    }
    free(v->tls);
    return rc;
}

int mtlb_verify_cli_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"domain", required_argument, NULL, 'd'},
        {"listener", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL, *domain = NULL, *only = NULL;
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc - 1, argv + 1, "c:d:l:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'd':
            domain = optarg;
            break;
        case 'l':
            only = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (path == NULL || optind != argc - 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    /* The verify callbacks log a refusal as in a handshake; the verdict printed here says
     * the same, so only errors reach stderr. */
    mtlb_log_set_thread("verify-client");
    mtlb_log_set_level(MTLB_LOG_ERROR);
    char err[1024] = "";
    struct mtlb_config *cfg = NULL;
    if (mtlb_config_load(path, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "mtlb verify-client: %s\n", err);
        return 1;
    }
    struct vc v = {.cfg = cfg, .only = only};
    int rc = run(&v, domain, argv[argc - 1]);
    mtlb_config_destroy(cfg);
    return rc;
}
