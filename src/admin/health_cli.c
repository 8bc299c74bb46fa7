/* `mtlb health [--cert F --key F] [--cacert F] URL`: an HTTP/1.1 GET for container HEALTHCHECKs
 * and exec probes on images without curl, over http:// or https:// (an mTLS admin listener:
 * the server is verified against --cacert, else the system's CAs, and its name or IP; the
 * client certificate is --cert/--key). Exit 0 when the answer's status is 200, 1 for anything
 * else (another status, refused, handshake failed, timeout, bad answer), 2 for a usage error. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "mtlb/admin.h"
#include "mtlb/log.h"

#define HEALTH_TIMEOUT_MS 3000

struct url {
    char host[256];
    char port[8];
    const char *path;
    bool tls; /* https */
};

/* The files of an https probe (NULL when not given). */
struct health_opts {
    const char *url, *cert, *key, *cacert;
};

/* The connection: the socket, and the SSL on it for https. */
struct chan {
    int fd;
    SSL *ssl;
};

/* http[s]://HOST[:PORT][/PATH], HOST may be [v6]. 0 or -EINVAL. */
static int parse_url(const char *s, struct url *u)
{
    u->tls = strncmp(s, "https://", 8) == 0;
    if (!u->tls && strncmp(s, "http://", 7) != 0) {
        return -EINVAL;
    }
    s += u->tls ? 8 : 7;
    const char *end = s + strcspn(s, "/");
    const char *colon = NULL;
    const char *h = s, *he;
    if (*s == '[') {
        h = s + 1;
        he = memchr(h, ']', (size_t)(end - h));
        if (he == NULL) {
            return -EINVAL;
        }
        colon = he + 1 < end && he[1] == ':' ? he + 1 : NULL;
    } else {
        colon = memchr(s, ':', (size_t)(end - s));
        he = colon != NULL ? colon : end;
    }
    size_t hl = (size_t)(he - h);
    size_t pl = colon != NULL ? (size_t)(end - colon - 1) : 2;
    if (hl == 0 || hl >= sizeof(u->host) || pl == 0 || pl >= sizeof(u->port)) {
        return -EINVAL;
    }
    memcpy(u->host, h, hl);
    u->host[hl] = '\0';
    snprintf(u->port, sizeof(u->port), "%.*s", (int)pl,
             colon != NULL ? colon + 1
             : u->tls      ? "443"
                           : "80");
    u->path = *end ? end : "/";
    return 0;
}

static int wait_fd(int fd, short events, uint64_t deadline)
{
    uint64_t now = mtlb_now_ms();
    struct pollfd p = {.fd = fd, .events = events};
    int rc = now < deadline ? poll(&p, 1, (int)(deadline - now)) : 0;

    return rc == 1 ? 0 : rc == 0 ? -ETIMEDOUT : -errno;
}

static int connect_to(const struct url *u, uint64_t deadline)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int err = 0;

    if (getaddrinfo(u->host, u->port, &hints, &res) != 0) {
        return -EHOSTUNREACH;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    socklen_t el = sizeof(err);
    int rc = fd == -1 ? -errno : 0;
    if (rc == 0 && connect(fd, res->ai_addr, res->ai_addrlen) == -1) {
        rc = errno == EINPROGRESS ? wait_fd(fd, POLLOUT, deadline) : -errno;
        if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err != 0) {
            rc = -err;
        }
    }
    freeaddrinfo(res);
    if (rc != 0 && fd != -1) {
        close(fd);
    }
    return rc != 0 ? rc : fd;
}

/* Waits for what the SSL call that returned rc needs; 0 to retry it, else -errno. */
static int ssl_wait(struct chan *ch, int rc, uint64_t deadline)
{
    switch (SSL_get_error(ch->ssl, rc)) {
    case SSL_ERROR_WANT_READ:
        return wait_fd(ch->fd, POLLIN, deadline);
    case SSL_ERROR_WANT_WRITE:
        return wait_fd(ch->fd, POLLOUT, deadline);
    case SSL_ERROR_ZERO_RETURN:
        return -ECONNRESET;
    default:
        return -EPROTO;
    }
}

/* The client side of an https probe: TLS 1.2+, the server verified against --cacert (else
 * the default CAs) and the URL's host (name or IP), the client certificate when given. */
static SSL_CTX *client_ctx(const struct health_opts *o)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    bool ok =
        ctx != NULL && SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 &&
        (o->cacert != NULL ? SSL_CTX_load_verify_locations(ctx, o->cacert, NULL)
                           : SSL_CTX_set_default_verify_paths(ctx)) == 1 &&
        (o->cert == NULL || (SSL_CTX_use_certificate_chain_file(ctx, o->cert) == 1 &&
                             SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) == 1 &&
                             SSL_CTX_check_private_key(ctx) == 1));
    if (!ok) {
        unsigned long e = ERR_peek_last_error();
        fprintf(stderr, "mtlb health: cannot load --cert, --key or --cacert: %s\n",
                e != 0 ? ERR_reason_error_string(e) : "unknown error");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
}

static int tls_start(struct chan *ch, SSL_CTX *ctx, const struct url *u, uint64_t deadline)
{
    ch->ssl = SSL_new(ctx);
    if (ch->ssl == NULL || SSL_set_fd(ch->ssl, ch->fd) != 1) {
        return -ENOMEM;
    }
    X509_VERIFY_PARAM *vp = SSL_get0_param(ch->ssl);
    if (X509_VERIFY_PARAM_set1_ip_asc(vp, u->host) != 1) {
        /* A name, not an IP literal: checked against the certificate and sent as SNI. */
        if (SSL_set1_host(ch->ssl, u->host) != 1 ||
            SSL_set_tlsext_host_name(ch->ssl, u->host) != 1) {
            return -ENOMEM;
        }
    }
    for (;;) {
        int rc = SSL_connect(ch->ssl);
        if (rc == 1) {
            return 0;
        }
        if ((rc = ssl_wait(ch, rc, deadline)) != 0) {
            return rc;
        }
    }
}

static int chan_send(struct chan *ch, const char *p, size_t len, uint64_t deadline)
{
    while (ch->ssl != NULL) {
        size_t done = 0;
        int rc = SSL_write_ex(ch->ssl, p, len, &done);
        if (rc == 1) {
            return 0;
        }
        if ((rc = ssl_wait(ch, rc, deadline)) != 0) {
            return rc;
        }
    }
    return send(ch->fd, p, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -EIO;
}

/* Some bytes, 0 at the end, or -errno. */
static ssize_t chan_recv(struct chan *ch, char *p, size_t cap, uint64_t deadline)
{
    while (ch->ssl != NULL) {
        size_t got = 0;
        int rc = SSL_read_ex(ch->ssl, p, cap, &got);
        if (rc == 1) {
            return (ssize_t)got;
        }
        if ((rc = ssl_wait(ch, rc, deadline)) != 0) {
            return rc == -ECONNRESET ? 0 : rc;
        }
    }
    int rc = wait_fd(ch->fd, POLLIN, deadline);
    if (rc != 0) {
        return rc;
    }
    ssize_t r = recv(ch->fd, p, cap, 0);
    return r >= 0 ? r : -errno;
}

/* Sends the request and reads until the status line is complete. Returns the status or -errno. */
static int get_status(struct chan *ch, const struct url *u, uint64_t deadline)
{
    char req[1024], buf[256];
    size_t len = 0;
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: mtlb-health\r\n"
                     "Connection: close\r\n\r\n",
                     u->path, u->host, u->port);
    if (n < 0 || (size_t)n >= sizeof(req) || chan_send(ch, req, (size_t)n, deadline) != 0) {
        return -EIO;
    }
    while (len < sizeof(buf) - 1 && memchr(buf, '\n', len) == NULL) {
        ssize_t r = chan_recv(ch, buf + len, sizeof(buf) - 1 - len, deadline);
        if (r <= 0) {
            return r == 0 ? -ECONNRESET : (int)r;
        }
        len += (size_t)r;
    }
    buf[len] = '\0';
    int status = 0;
    if (sscanf(buf, "HTTP/1.%*1[01] %3d ", &status) != 1) {
        return -EPROTO;
    }
    return status;
}

/* argv[2..]: the options in any order and one URL. 0 or -EINVAL. */
static int parse_args(int argc, char **argv, struct health_opts *o, struct url *u)
{
    static const char *const names[] = {"--cert", "--key", "--cacert"};
    const char **dst[] = {&o->cert, &o->key, &o->cacert};

    memset(o, 0, sizeof(*o));
    for (int i = 2; i < argc; i++) {
        size_t k = 0;
        while (k < 3 && strcmp(argv[i], names[k]) != 0) {
            k++;
        }
        if (k < 3 && i + 1 < argc && *dst[k] == NULL) {
            *dst[k] = argv[++i];
        } else if (k == 3 && o->url == NULL && argv[i][0] != '-') {
            o->url = argv[i];
        } else {
            return -EINVAL;
        }
    }
    if (o->url == NULL || parse_url(o->url, u) != 0 || (o->cert == NULL) != (o->key == NULL)) {
        return -EINVAL;
    }
    /* Client files for a plain URL would be silently unused. */
    return !u->tls && (o->cert != NULL || o->cacert != NULL) ? -EINVAL : 0;
}

static int probe(const struct health_opts *o, const struct url *u)
{
    uint64_t deadline = mtlb_now_ms() + HEALTH_TIMEOUT_MS;
    SSL_CTX *ctx = u->tls ? client_ctx(o) : NULL;
    struct chan ch = {.fd = -1, .ssl = NULL};
    int status = u->tls && ctx == NULL ? -EINVAL : 0;

    if (status == 0) {
        ch.fd = connect_to(u, deadline);
        status = ch.fd < 0 ? ch.fd : 0;
    }
    if (status == 0 && ctx != NULL && (status = tls_start(&ch, ctx, u, deadline)) != 0) {
        unsigned long e = ERR_peek_last_error();
        long v = ch.ssl != NULL ? SSL_get_verify_result(ch.ssl) : X509_V_OK;
        fprintf(stderr, "mtlb health: %s: TLS handshake failed: %s\n", o->url,
                v != X509_V_OK ? X509_verify_cert_error_string(v)
                : e != 0       ? ERR_reason_error_string(e)
                               : strerror(-status));
        status = -ECONNABORTED;
    }
    if (status == 0) {
        status = get_status(&ch, u, deadline);
    }
    SSL_free(ch.ssl);
    SSL_CTX_free(ctx);
    if (ch.fd >= 0) {
        close(ch.fd);
    }
    return status;
}

int mtlb_health_main(int argc, char **argv)
{
    struct health_opts o;
    struct url u;

    if (parse_args(argc, argv, &o, &u) != 0) {
        fprintf(stderr,
                "usage: mtlb health [--cert FILE --key FILE] [--cacert FILE] URL\n"
                "  GET the URL (http:// or https://, timeout 3 s); exit 0 on status 200, 1\n"
                "  otherwise. https: the server is verified against --cacert (else the system\n"
                "  CAs) and the URL's host; --cert/--key: the client certificate (PEM)\n");
        return 2;
    }
    int status = probe(&o, &u);
    if (status == 200) {
        printf("200\n");
        return 0;
    }
    if (status > 0) {
        fprintf(stderr, "mtlb health: %s: status %d\n", o.url, status);
    } else if (status != -ECONNABORTED && status != -EINVAL) {
        fprintf(stderr, "mtlb health: %s: %s\n", o.url, strerror(-status));
    }
    return 1;
}
