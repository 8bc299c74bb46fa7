/* Private to src/runtime: the epoll backend's entry points. io_uring.c implements
 * include/mtlb/io.h and forwards here when a worker's backend is epoll (both backends' structs
 * begin with enum mtlb_io_backend, which is how io_uring.c tells them apart). */
#ifndef MTLB_IO_EPOLL_H
#define MTLB_IO_EPOLL_H

#include "mtlb/io.h"

int mtlb_io_epoll_create(struct mtlb_io **out);
void mtlb_io_epoll_destroy(struct mtlb_io *io);
void mtlb_io_epoll_recv(struct mtlb_io *io, int fd, void *buf, uint32_t len, uint64_t ud);
void mtlb_io_epoll_recvmsg(struct mtlb_io *io, int fd, struct msghdr *msg, uint64_t ud);
void mtlb_io_epoll_read(struct mtlb_io *io, int fd, void *buf, uint32_t len, uint64_t ud);
void mtlb_io_epoll_send(struct mtlb_io *io, int fd, const void *buf, uint32_t len, uint64_t ud);
void mtlb_io_epoll_sendmsg(struct mtlb_io *io, int fd, const struct msghdr *msg, uint64_t ud);
void mtlb_io_epoll_connect(struct mtlb_io *io, int fd, const struct sockaddr *sa, socklen_t len,
                           uint64_t ud);
void mtlb_io_epoll_poll(struct mtlb_io *io, int fd, unsigned events, uint64_t ud);
void mtlb_io_epoll_splice(struct mtlb_io *io, int fd_in, int fd_out, uint32_t len, uint64_t ud);
void mtlb_io_epoll_timeout(struct mtlb_io *io, struct __kernel_timespec *ts, uint64_t ud);
void mtlb_io_epoll_cancel(struct mtlb_io *io, uint64_t ud);
int mtlb_io_epoll_wait(struct mtlb_io *io, struct mtlb_io_cqe *out, unsigned max);

#endif
