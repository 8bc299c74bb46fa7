/* TEMPORARY placeholder until the epoll backend lands (being written now): creation fails
 * with -ENOSYS so `io: auto` uses io_uring and `io: epoll` refuses to start. */
#include <errno.h>
#include <stdlib.h>

#include "mtlb/io.h"

void mtlb_io_epoll_destroy(struct mtlb_io *io);
int mtlb_io_epoll_create(struct mtlb_io **out);
void mtlb_io_epoll_recv(struct mtlb_io *io, int fd, void *buf, uint32_t len, uint64_t ud);
void mtlb_io_epoll_recvmsg(struct mtlb_io *io, int fd, struct msghdr *msg, uint64_t ud);
void mtlb_io_epoll_read(struct mtlb_io *io, int fd, void *buf, uint32_t len, uint64_t ud);
void mtlb_io_epoll_send(struct mtlb_io *io, int fd, const void *buf, uint32_t len, uint64_t ud);
void mtlb_io_epoll_sendmsg(struct mtlb_io *io, int fd, const struct msghdr *msg, uint64_t ud);
void mtlb_io_epoll_connect(struct mtlb_io *io, int fd, const struct sockaddr *sa, socklen_t len,
                           uint64_t ud);
void mtlb_io_epoll_timeout(struct mtlb_io *io, struct __kernel_timespec *ts, uint64_t ud);
void mtlb_io_epoll_cancel(struct mtlb_io *io, uint64_t ud);
int mtlb_io_epoll_wait(struct mtlb_io *io, struct mtlb_io_cqe *out, unsigned max);

int mtlb_io_epoll_create(struct mtlb_io **out)
{
    *out = NULL;
    return -ENOSYS;
}
void mtlb_io_epoll_destroy(struct mtlb_io *io) { (void)io; }
void mtlb_io_epoll_recv(struct mtlb_io *io, int fd, void *buf, uint32_t len, uint64_t ud) { (void)io; (void)fd; (void)buf; (void)len; (void)ud; abort(); }
void mtlb_io_epoll_recvmsg(struct mtlb_io *io, int fd, struct msghdr *msg, uint64_t ud) { (void)io; (void)fd; (void)msg; (void)ud; abort(); }
void mtlb_io_epoll_read(struct mtlb_io *io, int fd, void *buf, uint32_t len, uint64_t ud) { (void)io; (void)fd; (void)buf; (void)len; (void)ud; abort(); }
void mtlb_io_epoll_send(struct mtlb_io *io, int fd, const void *buf, uint32_t len, uint64_t ud) { (void)io; (void)fd; (void)buf; (void)len; (void)ud; abort(); }
void mtlb_io_epoll_sendmsg(struct mtlb_io *io, int fd, const struct msghdr *msg, uint64_t ud) { (void)io; (void)fd; (void)msg; (void)ud; abort(); }
void mtlb_io_epoll_connect(struct mtlb_io *io, int fd, const struct sockaddr *sa, socklen_t len, uint64_t ud) { (void)io; (void)fd; (void)sa; (void)len; (void)ud; abort(); }
void mtlb_io_epoll_timeout(struct mtlb_io *io, struct __kernel_timespec *ts, uint64_t ud) { (void)io; (void)ts; (void)ud; abort(); }
void mtlb_io_epoll_cancel(struct mtlb_io *io, uint64_t ud) { (void)io; (void)ud; abort(); }
int mtlb_io_epoll_wait(struct mtlb_io *io, struct mtlb_io_cqe *out, unsigned max) { (void)io; (void)out; (void)max; return -ENOSYS; }
