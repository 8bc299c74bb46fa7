/* `mtlb truststore-lint FILE`: reads the file, lists its certificates and prints the problems
 * mtlb_lint_check finds, errors and warnings (lint.h defines which is which). Exit 0 without
 * errors, 1 with at least one (or a file that cannot be read), 2 on a usage error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mtlb/cli.h"
#include "mtlb/lint.h"

#define MAX_FILE (64u << 20) /* a truststore is kilobytes; refuse to slurp a disk image */

static int read_all(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rbe");
    size_t cap = 0, n = 0;
    char *buf = NULL;
    int rc = f == NULL ? -errno : 0;

    while (rc == 0) {
        if (n == cap) {
            char *nb = cap < MAX_FILE ? realloc(buf, cap ? cap * 2 : 65536) : NULL;
            if (nb == NULL) {
                rc = cap < MAX_FILE ? -ENOMEM : -EFBIG;
                break;
            }
            buf = nb;
            cap = cap ? cap * 2 : 65536;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            rc = ferror(f) ? -EIO : 0;
            break;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    if (rc != 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* Prints the listing and the findings; returns the number of errors, or -ENOMEM. */
static int report(const struct mtlb_lint_list *l, int64_t now)
{
    struct mtlb_lint_finding *fs = NULL;
    size_t n = 0, errors = 0;
    char line[2600];

    if (mtlb_lint_check(l, now, &fs, &n) != 0) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < l->n_certs; i++) {
        printf("%s\n", mtlb_lint_format_cert(&l->certs[i], line, sizeof(line)));
    }
    for (size_t i = 0; i < n; i++) {
        printf("%s\n", mtlb_lint_describe(l, &fs[i], now, line, sizeof(line)));
        errors += fs[i].error;
    }
    printf("%zu certificate%s, %zu error%s, %zu warning%s\n", l->n_certs,
           l->n_certs == 1 ? "" : "s", errors, errors == 1 ? "" : "s", n - errors,
           n - errors == 1 ? "" : "s");
    free(fs);
    return (int)(errors > 0);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: mtlb truststore-lint FILE\n"
            "  Lists the certificates of a PEM truststore (subject, issuer, not after, CA or\n"
            "  leaf, clientAuth) and its problems. Errors: no certificate, a PEM block that\n"
            "  is not a certificate, a corrupted one, a certificate expired or not yet\n"
            "  valid, a non-CA certificate that issued another. Warnings: expiring within\n"
            "  30 days, a duplicate, an intermediate CA whose issuer is absent.\n"
            "  Exit 0 without errors (warnings allowed), 1 with errors, 2 on a usage error.\n");
}

int mtlb_lint_cli_main(int argc, char **argv)
{
    if (argc == 3 && (strcmp(argv[2], "-h") == 0 || strcmp(argv[2], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc != 3 || argv[2][0] == '-') {
        usage(stderr);
        return 2;
    }
    char *pem = NULL;
    size_t len = 0;
    int rc = read_all(argv[2], &pem, &len);
    if (rc != 0) {
        fprintf(stderr, "mtlb truststore-lint: %s: %s\n", argv[2], strerror(-rc));
        return 1;
    }
    struct mtlb_lint_list l;
    rc = mtlb_lint_parse(pem, len, &l);
    if (rc == 0) {
        rc = report(&l, (int64_t)time(NULL));
    }
    if (rc < 0) {
        fprintf(stderr, "mtlb truststore-lint: %s: %s\n", argv[2], strerror(-rc));
    }
    mtlb_lint_list_fini(&l);
    free(pem);
    return rc != 0;
}
