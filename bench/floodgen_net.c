/* floodgen's connections: blocking TCP and TLS clients with bounded waits, so that one stalled
 * socket never stalls an attack loop or a client thread for long, and non-blocking TLS
 * handshakes, so that one attack thread can have many in flight. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "floodgen.h"

double flood_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int flood_tcp_connect(const struct flood_opts *o, double timeout_s)
{
    int fd = socket(o->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    struct timeval tv = {.tv_sec = (time_t)timeout_s,
                         .tv_usec = (suseconds_t)((timeout_s - (double)(time_t)timeout_s) * 1e6)};

    if (fd == -1) {
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (const struct sockaddr *)&o->addr, o->addr_len) == -1) {
        close(fd);
        return -1;
    }
    return fd;
}

/* An SSL on fd with SNI and ALPN, in client mode; NULL (fd closed) on failure. */
static SSL *tls_on(const struct flood_opts *o, SSL_CTX *ctx, int fd, const unsigned char *alpn,
                   size_t alpn_len)
{
    SSL *ssl = SSL_new(ctx);

    if (ssl == NULL) {
        close(fd);
        return NULL;
    }
    SSL_set_fd(ssl, fd);
    SSL_set_connect_state(ssl);
    if (o->sni != NULL) {
        SSL_set_tlsext_host_name(ssl, (char *)o->sni);
    }
    if (alpn != NULL) {
        SSL_set_alpn_protos(ssl, alpn, (unsigned)alpn_len);
    }
    return ssl;
}

SSL *flood_tls_connect(const struct flood_opts *o, SSL_CTX *ctx, const unsigned char *alpn,
                       size_t alpn_len)
{
    int fd = flood_tcp_connect(o, 5.0);
    SSL *ssl;

    if (fd == -1) {
        return NULL;
    }
    ssl = tls_on(o, ctx, fd, alpn, alpn_len);
    if (ssl != NULL && SSL_connect(ssl) != 1) {
        ERR_clear_error();
        flood_tls_close(ssl);
        return NULL;
    }
    return ssl;
}

SSL *flood_tls_start(const struct flood_opts *o, SSL_CTX *ctx, const unsigned char *alpn,
                     size_t alpn_len)
{
    int fd = socket(o->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;

    if (fd == -1) {
        return NULL;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)&o->addr, o->addr_len) == -1 && errno != EINPROGRESS) {
        close(fd);
        return NULL;
    }
    return tls_on(o, ctx, fd, alpn, alpn_len);
}

int flood_tls_step(SSL *ssl, short *events)
{
    int rc = SSL_do_handshake(ssl);

    if (rc == 1) {
        return 1;
    }
    switch (SSL_get_error(ssl, rc)) {
    case SSL_ERROR_WANT_READ:
        *events = POLLIN;
        return 0;
    case SSL_ERROR_WANT_WRITE:
        *events = POLLOUT;
        return 0;
    default:
        ERR_clear_error();
        return -1;
    }
}

void flood_tls_close(SSL *ssl)
{
    int fd = SSL_get_fd(ssl);

    SSL_free(ssl);
    if (fd != -1) {
        close(fd);
    }
}

int flood_tls_write(SSL *ssl, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        int n = SSL_write(ssl, p, len > (1u << 30) ? 1 << 30 : (int)len);
        if (n <= 0) {
            /* a non-blocking socket (flood_tls_start's) waits as long as a blocking one */
            int err = SSL_get_error(ssl, n);
            struct pollfd pf = {.fd = SSL_get_fd(ssl),
                                .events = err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT};
            ERR_clear_error();
            /* on a blocking socket a WANT_* is its SO_SNDTIMEO expiring: give up, as before */
            if ((err != SSL_ERROR_WANT_WRITE && err != SSL_ERROR_WANT_READ) ||
                !(fcntl(pf.fd, F_GETFL) & O_NONBLOCK) || poll(&pf, 1, 5000) != 1) {
                return -1;
            }
            continue;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}
