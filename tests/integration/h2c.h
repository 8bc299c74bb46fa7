/* h2c, the HTTP/2 test client: options and per-stream state shared by h2c.c (the connection)
 * and h2c_args.c (the command line). Test tool only. */
#ifndef MTLB_IT_H2C_H
#define MTLB_IT_H2C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>

#define H2C_MAX_HDRS 16
#define H2C_MAX_SHOW 16
#define H2C_FNV_BASIS 0xcbf29ce484222325ULL

/* A growable byte buffer, NUL-terminated after len. */
struct h2c_sb {
    char *p;
    size_t len, cap;
};

/* What one --stream SPEC asks for (shared by its n copies). */
struct h2c_spec {
    const char *path;
    const char *method;    /* NULL: GET, or POST with a body or trailers */
    const char *authority; /* NULL: the connection's --authority */
    uint64_t body;         /* request body bytes, byte i = 'a' + i % 26 */
    bool no_cl;            /* send the body without content-length */
    bool no_authority;     /* send no :authority (a host header may stand in) */
    nghttp2_nv hdrs[H2C_MAX_HDRS];
    size_t n_hdrs;
    nghttp2_nv trailers[H2C_MAX_HDRS];
    size_t n_trailers;
    size_t big_header; /* > 0: an x-big header of this many bytes */
    char *big_value;
    long long reset_recv; /* >= 0: RST_STREAM(CANCEL) after this many response body bytes */
    long long reset_send; /* >= 0: RST_STREAM(CANCEL) after this many request body bytes */
    long long stall_send; /* >= 0: send nothing more after this many request body bytes */
    uint64_t delay_ms;    /* open this long after the stream's group became ready */
};

struct h2c_stream {
    const struct h2c_spec *sp;
    int group; /* streams of group g open once every stream of groups < g has closed */
    int32_t id;
    int status;
    uint64_t rbytes, fnv, sent;
    int n_trailers;
    bool opened, closed, in_trailers, want_reset, reset_sent, reset_by_peer;
    uint32_t error;
    char cl[24];
    struct h2c_sb lines; /* header and trailer lines to print */
    struct h2c_sb body;  /* with --print-body */
};

struct h2c_opts {
    const char *host, *sni, *cert, *key, *authority;
    const char *session; /* --session FILE: TLS session offered, then saved (PEM) */
    int port;
    int timeout_ms, linger_ms;
    uint32_t window;
    bool all_headers, print_body, offer_h1, tls12;
    const char *show[H2C_MAX_SHOW];
    size_t n_show;
    long rapid_reset;
    long rapid_reset_batch;  /* pairs per write (default 1) */
    long continuation_flood; /* CONTINUATION frames after an unended HEADERS */
    const char *proxy_hex;   /* --proxy-header HEX: bytes sent before the TLS handshake */
};

/* Parses argv into *o and a malloc'd stream array. 0, or -1 after printing usage. */
int h2c_parse_args(int argc, char **argv, struct h2c_opts *o, struct h2c_stream **streams,
                   size_t *n);

#endif
