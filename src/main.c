/* mtlb command line: parse options, load and validate the configuration, run the server.
 * Exit codes: 0 success, 1 configuration or start-up error, 2 usage error. */
#include <getopt.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/opensslv.h>

#include "mtlb/admin.h"
#include "mtlb/cli.h"
#include "mtlb/config.h"
#include "mtlb/log.h"
#include "mtlb/server.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: mtlb -c FILE [-t]\n"
        "       mtlb health [--cert FILE --key FILE] [--cacert FILE] http[s]://HOST:PORT/PATH\n"
        "       mtlb verify-client -c FILE [--domain NAME] [--listener [HOST]:PORT] CLIENT.pem\n"
        "       mtlb truststore-lint FILE\n"
        "  -c, --config FILE  configuration file (YAML)\n"
        "  -t, --test         load and validate the configuration and every certificate,\n"
        "                     key, truststore, CRL and ticket key file it names, then\n"
        "                     exit: 1 on an error; 0 also with warnings\n"
        "                     (\"mtlb: warning: ...\" lines)\n"
        "  -v, --version      print the version and exit\n"
        "  -h, --help         print this help and exit\n"
        "  health URL         GET an admin URL (e.g. /readyz), exit 0 on 200, else 1;\n"
        "                     https: the admin's mutual TLS (--cert, --key, --cacert)\n"
        "  verify-client      verify a client certificate as a domain's handshake does\n"
        "                     (truststore, CRLs, depth, clientAuth): SUCCESS or FAILED\n"
        "  truststore-lint    list a truststore's certificates and its problems\n"
        "  (`mtlb verify-client -h`, `mtlb truststore-lint -h` for details)\n");
}

/* -t: validates cfg (taken) and every file it names; prints the verdict. The exit code. */
static int check_only(const char *path, struct mtlb_config *cfg)
{
    char err[1024] = "";
    unsigned warnings = 0;
    int rc = mtlb_server_check(cfg, &warnings, err, sizeof(err));

    if (rc != 0) {
        fprintf(stderr, "mtlb: %s\n", err[0] ? err : strerror(-rc));
    } else if (warnings > 0) {
        printf("mtlb: configuration %s is valid, with %u warning%s\n", path, warnings,
               warnings == 1 ? "" : "s");
    } else {
        printf("mtlb: configuration %s is valid\n", path);
    }
    return rc != 0;
}

/* Runs the server on cfg (taken) until it stops. The exit code. */
static int serve(struct mtlb_config *cfg)
{
    char err[1024] = "";
    int arc = mtlb_access_open(cfg->log.access_log);

    if (arc != 0) {
        fprintf(stderr, "mtlb: %s: log.access_log: cannot open %s: %s\n", cfg->path,
                cfg->log.access_log, strerror(-arc));
        mtlb_config_destroy(cfg);
        return 1;
    }
    /* Each connection costs a client fd and a backend fd: use the whole hard limit. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct mtlb_server srv;
    int rc = mtlb_server_init(&srv, cfg, err, sizeof(err)); /* takes cfg */
    if (rc != 0) {
        fprintf(stderr, "mtlb: %s\n", err[0] ? err : strerror(-rc));
    } else {
        rc = mtlb_server_run(&srv);
    }
    mtlb_server_fini(&srv);
    mtlb_access_close();
    return rc != 0;
}

/* The subcommands, each with its own options: the exit code, or -1 when argv names none. */
static int subcommand(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "health") == 0) {
        return mtlb_health_main(argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "verify-client") == 0) {
        return mtlb_verify_cli_main(argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "truststore-lint") == 0) {
        return mtlb_lint_cli_main(argc, argv);
    }
    return -1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"test", no_argument, NULL, 't'},
        {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    bool test = false;
    int opt;
    int sub = subcommand(argc, argv);

    if (sub >= 0) {
        return sub;
    }
    while ((opt = getopt_long(argc, argv, "c:tvh", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 't':
            test = true;
            break;
        case 'v':
            printf("mtlb %s (%s)\n", MTLB_VERSION, OpenSSL_version(OPENSSL_VERSION));
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (path == NULL || optind != argc) {
        usage(stderr);
        return 2;
    }
    mtlb_log_set_thread("main");
    char err[1024] = "";
    struct mtlb_config *cfg = NULL;
    if (mtlb_config_load(path, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "mtlb: %s\n", err);
        return 1;
    }
    mtlb_log_set_level(cfg->log.level);
    return test ? check_only(path, cfg) : serve(cfg);
}
