/* hsload (bench/): the command line and start-up helpers shared by hsload.c and
 * hsload_opts.c. A benchmark tool, not part of mtlb. */
#ifndef MTLB_BENCH_HSLOAD_H
#define MTLB_BENCH_HSLOAD_H

#include <stdio.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

/* Options; strings point into argv. */
struct opts {
    const char *connect;
    const char *sni;
    const char *cert;
    const char *key;
    const char *path;
    int conns;
    double duration;
    double warmup;
    double timeout;
    int resume;
    int leave; /* --leave: close right after the handshake (FIN), no request */
    long idle;
    double hold;
    const char *sess_out; /* write one session per slot to this PEM file, then exit */
    const char *sess_in;  /* resume every connection with one of these (never replaced) */
    int max_version;      /* --tls 1.2|1.3: the highest version offered (0: OpenSSL's) */
};

/* Fills *o from argv. Returns 0, 1 for --help, -1 for a bad command line. */
int hsload_parse_opts(struct opts *o, int argc, char **argv);

void hsload_usage(FILE *f);

/* Resolves HOST:PORT or [V6]:PORT. Returns 0 or -1. */
int hsload_resolve(const char *spec, struct sockaddr_storage *ss, socklen_t *len);

/* The client context: TLS 1.2/1.3, no server verification, the client certificate chain and
 * key when o->cert is set. NULL (errors on stderr) when they do not load. */
SSL_CTX *hsload_make_ctx(const struct opts *o);

/* Reads every PEM session of path into *out (malloc'd array). Returns the count, -1 on error. */
int hsload_read_sessions(const char *path, SSL_SESSION ***out);

/* Writes the sessions (NULLs skipped) to path as PEM. Returns how many, -1 on error. */
int hsload_write_sessions(const char *path, SSL_SESSION *const *s, size_t n);

/* Raises the soft descriptor limit to the hard one; warns when it stays below need. */
void hsload_raise_nofile(long need);

#endif
