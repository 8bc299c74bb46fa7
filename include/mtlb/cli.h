/* Subcommands of the mtlb binary that run offline, for the people who fill truststores
 * (main.c dispatches `mtlb verify-client ...` and `mtlb truststore-lint ...` here). Each
 * takes main's argc/argv (argv[1] is the subcommand), prints its result on stdout and its
 * errors on stderr, and returns the process exit code. Main thread, before anything else. */
#ifndef MTLB_CLI_H
#define MTLB_CLI_H

/* `mtlb verify-client -c CONFIG [--domain NAME] [--listener [HOST]:PORT] CLIENT.pem`
 * (src/tls/verify_cli.c): 0 on
 * SUCCESS, 1 on FAILED or a configuration that does not load, 2 on a usage error. */
int mtlb_verify_cli_main(int argc, char **argv);

/* `mtlb truststore-lint FILE` (src/tls/lint_cli.c): 0 without errors (warnings allowed), 1
 * with at least one error, 2 on a usage error. */
int mtlb_lint_cli_main(int argc, char **argv);

#endif
