/* floodgen (bench/): shared declarations of the flood tool: the attack modes (flood.c) and the
 * established clients whose latency the attacks must not spoil (flood_clients.c). A benchmark
 * tool, not part of mtlb. */
#ifndef MTLB_BENCH_FLOODGEN_H
#define MTLB_BENCH_FLOODGEN_H

#include <stddef.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

struct flood_opts {
    const char *mode;
    const char *connect;
    const char *sni;
    const char *cert;
    const char *key;
    const char *path;
    int conns;
    double duration;
    double rate;     /* clients: requests per second over all connections */
    double interval; /* slow modes: seconds between bytes (slowhello) or header lines */
    double quiet;    /* clients: > 0 splits the report: [0, quiet) and [quiet + ramp, end) */
    double ramp;
    const char *samples; /* clients: a file for every request's time and latency, or NULL */
    struct sockaddr_storage addr;
    socklen_t addr_len;
};

/* Monotonic seconds. */
double flood_now(void);

/* A blocking TCP connection to o->addr with TCP_NODELAY and send/receive timeouts of
 * timeout_s. Returns the fd or -1. */
int flood_tcp_connect(const struct flood_opts *o, double timeout_s);

/* A blocking TLS connection: TCP connect, SNI, ALPN (alpn: wire format, or NULL), handshake.
 * Returns the SSL (its fd is SSL_get_fd) or NULL. The caller frees both (flood_tls_close). */
SSL *flood_tls_connect(const struct flood_opts *o, SSL_CTX *ctx, const unsigned char *alpn,
                       size_t alpn_len);

/* A non-blocking TLS connection under way: TCP connect started, SNI and ALPN set. Drive it
 * with flood_tls_step. Returns the SSL or NULL. The caller frees both (flood_tls_close). */
SSL *flood_tls_start(const struct flood_opts *o, SSL_CTX *ctx, const unsigned char *alpn,
                     size_t alpn_len);

/* One step of a flood_tls_start handshake, to call once its fd is ready for *events (POLLOUT
 * at first). Returns 1 when done (the fd stays non-blocking), 0 when it waits (*events: POLLIN
 * or POLLOUT), -1 when it failed. */
int flood_tls_step(SSL *ssl, short *events);

void flood_tls_close(SSL *ssl);

/* Writes all of buf (on a non-blocking socket, waiting up to 5 s each time it is full).
 * Returns 0 or -1 (the peer closed or reset, or the write timed out). */
int flood_tls_write(SSL *ssl, const void *buf, size_t len);

/* The clients mode: o->conns keep-alive HTTP/1.1 connections (threads), o->rate requests per
 * second in all, for o->duration seconds. Prints one key=value line, or with o->quiet two
 * ("phase=quiet" for requests scheduled in [0, quiet), "phase=flood" for [quiet + ramp, end)),
 * so that one set of connections, established before an attack, measures both. Returns 0 or 1. */
int flood_run_clients(const struct flood_opts *o, SSL_CTX *ctx);

#endif
