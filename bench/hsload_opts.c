/* hsload's start-up: command line, address resolution, the client SSL_CTX (certificate chain
 * and key, no server verification) and the descriptor limit. The load loop is hsload.c. */
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "hsload.h"

void hsload_usage(FILE *f)
{
    fprintf(f, "usage: hsload --connect HOST:PORT [--sni NAME] [--cert CHAIN.pem --key KEY]\n"
               "              [--conns N] [--duration S] [--warmup S] [--resume] [--path P]\n"
               "              [--timeout S] [--idle N [--hold S]] [--leave]\n"
               "              [--sess-out FILE | --sess-in FILE] [--tls 1.2|1.3]\n"
               "Each connection: handshake, GET P (default /size/64), response, close.\n"
               "--leave closes each connection right after its handshake (the client's\n"
               "Finished sent, a FIN, no request), as scanners, probes and floods do.\n"
               "--resume reuses the session of the slot's previous connection.\n"
               "--sess-out FILE makes one connection per slot (--conns), writes their\n"
               "sessions (TLS 1.3 tickets) to FILE and exits; --sess-in FILE resumes every\n"
               "connection with one of FILE's sessions, never the server's new ticket, so a\n"
               "file written against one server measures resumption of its tickets on another\n"
               "(the same ticket key file on both).\n"
               "--idle N opens N keep-alive connections (--conns at a time), prints a\n"
               "\"ready\" line and holds them --hold seconds (default 60) or until SIGTERM.\n"
               "Output: one key=value line (handshakes/s, latency p50/p99 connect to\n"
               "response, client CPU share).\n");
}

int hsload_parse_opts(struct opts *o, int argc, char **argv)
{
    *o = (struct opts){
        .path = "/size/64", .conns = 64, .duration = 5.0, .timeout = 10.0, .hold = 60.0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            return 1;
        }
        if (strcmp(a, "--resume") == 0) {
            o->resume = 1;
            continue;
        }
        if (strcmp(a, "--leave") == 0) {
            o->leave = 1;
            continue;
        }
        if (v == NULL) {
            return -1;
        }
        i++;
        if (strcmp(a, "--connect") == 0) {
            o->connect = v;
        } else if (strcmp(a, "--sni") == 0) {
            o->sni = v;
        } else if (strcmp(a, "--cert") == 0) {
            o->cert = v;
        } else if (strcmp(a, "--key") == 0) {
            o->key = v;
        } else if (strcmp(a, "--path") == 0) {
            o->path = v;
        } else if (strcmp(a, "--conns") == 0) {
            o->conns = atoi(v);
        } else if (strcmp(a, "--duration") == 0) {
            o->duration = atof(v);
        } else if (strcmp(a, "--warmup") == 0) {
            o->warmup = atof(v);
        } else if (strcmp(a, "--timeout") == 0) {
            o->timeout = atof(v);
        } else if (strcmp(a, "--idle") == 0) {
            o->idle = atol(v);
        } else if (strcmp(a, "--hold") == 0) {
            o->hold = atof(v);
        } else if (strcmp(a, "--sess-out") == 0) {
            o->sess_out = v;
        } else if (strcmp(a, "--sess-in") == 0) {
            o->sess_in = v;
        } else if (strcmp(a, "--tls") == 0) {
            o->max_version = strcmp(v, "1.2") == 0   ? TLS1_2_VERSION
                             : strcmp(v, "1.3") == 0 ? TLS1_3_VERSION
                                                     : -1;
        } else {
            return -1;
        }
    }
    if (o->connect == NULL || o->conns <= 0 || o->duration <= 0 || o->idle < 0 ||
        o->max_version < 0 || (o->cert == NULL) != (o->key == NULL) ||
        (o->sess_out != NULL && o->sess_in != NULL) ||
        ((o->sess_out != NULL || o->sess_in != NULL) && (o->resume || o->idle > 0))) {
        return -1;
    }
    return 0;
}

int hsload_resolve(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;

    if (colon == NULL || (size_t)(colon - spec) >= sizeof(host)) {
        return -1;
    }
    const char *h = spec;
    size_t hlen = (size_t)(colon - h);
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || res == NULL) {
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

SSL_CTX *hsload_make_ctx(const struct opts *o)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL) {
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (o->max_version > 0) {
        SSL_CTX_set_max_proto_version(ctx, o->max_version);
    }
    if (o->cert != NULL && (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1 ||
                            SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1 ||
                            SSL_CTX_check_private_key(ctx) != 1)) {
        ERR_print_errors_fp(stderr);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

int hsload_read_sessions(const char *path, SSL_SESSION ***out)
{
    BIO *bio = BIO_new_file(path, "r");
    SSL_SESSION **v = NULL;
    int n = 0;
    SSL_SESSION *s;

    if (bio == NULL) {
        return -1;
    }
    while ((s = PEM_read_bio_SSL_SESSION(bio, NULL, NULL, NULL)) != NULL) {
        SSL_SESSION **nv = realloc(v, (size_t)(n + 1) * sizeof(*v));
        if (nv == NULL) {
            SSL_SESSION_free(s);
            break;
        }
        v = nv;
        v[n++] = s;
    }
    ERR_clear_error();
    BIO_free(bio);
    *out = v;
    return n;
}

int hsload_write_sessions(const char *path, SSL_SESSION *const *s, size_t n)
{
    BIO *bio = BIO_new_file(path, "w");
    int written = 0;

    if (bio == NULL) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] != NULL && PEM_write_bio_SSL_SESSION(bio, s[i]) == 1) {
            written++;
        }
    }
    return BIO_free(bio) == 1 ? written : -1;
}

/* The idle mode needs one descriptor per connection: take the hard limit. */
void hsload_raise_nofile(long need)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && (long)rl.rlim_cur < need + 16) {
        fprintf(stderr, "hsload: RLIMIT_NOFILE %ld is below the %ld connections asked for\n",
                (long)rl.rlim_cur, need);
    }
}
