/* `mtlb health URL`: a plain HTTP/1.1 GET for container HEALTHCHECKs on images without curl.
 * Exit 0 when the answer's status is 200, 1 for anything else (another status, refused,
 * timeout, bad answer), 2 for a usage error. Numeric hosts or names (getaddrinfo), http only. */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mtlb/admin.h"
#include "mtlb/log.h"

#define HEALTH_TIMEOUT_MS 3000

struct url {
    char host[256];
    char port[8];
    const char *path;
};

/* http://HOST[:PORT][/PATH], HOST may be [v6]. 0 or -EINVAL. */
static int parse_url(const char *s, struct url *u)
{
    if (strncmp(s, "http://", 7) != 0) {
        return -EINVAL;
    }
    s += 7;
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
    snprintf(u->port, sizeof(u->port), "%.*s", (int)pl, colon != NULL ? colon + 1 : "80");
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

/* Sends the request and reads until the status line is complete. Returns the status or -errno. */
static int get_status(int fd, const struct url *u, uint64_t deadline)
{
    char req[1024], buf[256];
    size_t len = 0;
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: mtlb-health\r\n"
                     "Connection: close\r\n\r\n",
                     u->path, u->host, u->port);
    if (n < 0 || (size_t)n >= sizeof(req) || send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        return -EIO;
    }
    while (len < sizeof(buf) - 1 && memchr(buf, '\n', len) == NULL) {
        int rc = wait_fd(fd, POLLIN, deadline);
        if (rc != 0) {
            return rc;
        }
        ssize_t r = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (r <= 0) {
            return r == 0 ? -ECONNRESET : -errno;
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

int mtlb_health_main(int argc, char **argv)
{
    struct url u;

    if (argc != 3 || parse_url(argv[2], &u) != 0) {
        fprintf(stderr, "usage: mtlb health http://HOST:PORT/PATH\n"
                        "  GET the URL (timeout 3 s); exit 0 on status 200, 1 otherwise\n");
        return 2;
    }
    uint64_t deadline = mtlb_now_ms() + HEALTH_TIMEOUT_MS;
    int fd = connect_to(&u, deadline);
    int status = fd < 0 ? fd : get_status(fd, &u, deadline);
    if (fd >= 0) {
        close(fd);
    }
    if (status == 200) {
        printf("200\n");
        return 0;
    }
    if (status > 0) {
        fprintf(stderr, "mtlb health: %s: status %d\n", argv[2], status);
    } else {
        fprintf(stderr, "mtlb health: %s: %s\n", argv[2], strerror(-status));
    }
    return 1;
}
