/* The acceptor's lingering closes (acceptor_int.h, struct lingerer): after a failed handshake's
 * alert, the peer's last bytes are read and dropped until it closes, a byte budget or a
 * deadline, so that it sees the alert and not a reset. Only the socket: no SSL, no client
 * record. Acceptor thread. */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acceptor_int.h"
#include "mtlb/log.h"
#include "mtlb/server.h"

/* Lingering close: how long and how much a refused client may still send before the close. */
#define LINGER_MS 2000
#define LINGER_BYTES (64u * 1024)

void mtlb_acceptor_linger_end(struct mtlb_acceptor *a, struct lingerer *lg)
{
    lg->prev->next = lg->next;
    lg->next->prev = lg->prev;
    close(lg->fd);
    atomic_fetch_sub(&a->srv->live_conns, 1);
    free(lg);
}

void mtlb_acceptor_linger_read(struct mtlb_acceptor *a, struct lingerer *lg)
{
    char buf[8192];

    while (lg->left > 0) {
        ssize_t n = recv(lg->fd, buf, lg->left < sizeof(buf) ? lg->left : sizeof(buf), 0);
        if (n > 0) {
            lg->left -= (uint32_t)n;
        } else if (n == -1 && errno == EINTR) {
            continue;
        } else if (n == -1 && errno == EAGAIN) {
            return;
        } else {
            break;
        }
    }
    mtlb_acceptor_linger_end(a, lg);
}

/* OpenSSL wrote its alert through the socket BIO (into the kernel's send buffer, which a fresh
 * connection always has room for): our FIN follows the alert at once. */
struct lingerer *mtlb_acceptor_linger_new(int fd)
{
    struct lingerer *lg = calloc(1, sizeof(*lg));

    if (lg == NULL || shutdown(fd, SHUT_WR) == -1) {
        free(lg);
        return NULL;
    }
    lg->fd = fd;
    return lg;
}

void mtlb_acceptor_linger_start(struct mtlb_acceptor *a, struct lingerer *lg)
{
    lg->left = LINGER_BYTES;
    lg->deadline_ms = mtlb_now_ms() + LINGER_MS;
    lg->next = &a->lingering;
    lg->prev = a->lingering.prev;
    a->lingering.prev->next = lg;
    a->lingering.prev = lg;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP,
                             .data.u64 = (uint64_t)(uintptr_t)lg | TAG_LINGER};
    if (epoll_ctl(a->epfd, EPOLL_CTL_MOD, lg->fd, &ev) == -1) {
        mtlb_acceptor_linger_end(a, lg);
        return;
    }
    mtlb_acceptor_linger_read(a, lg);
}
