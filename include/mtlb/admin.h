/* The admin listener: a thread of its own with a small epoll loop serving plain HTTP/1.1 on a
 * loopback address (admin.bind): GET /metrics, /healthz, /readyz, /config. It only reads what
 * other threads publish (per-thread counters and heartbeats in struct mtlb_stats, the server's
 * phase) and never blocks or wakes a worker. */
#ifndef MTLB_ADMIN_H
#define MTLB_ADMIN_H

#include <stddef.h>

struct mtlb_server;
struct mtlb_admin;

/* Main thread, at start-up after the TLS contexts are built: binds admin.bind and prepares
 * the texts that do not change while running (/config, certificate expiry). 0 and *out set,
 * or -errno with "FILE:LINE: admin.bind ...: problem" in err. */
int mtlb_admin_create(struct mtlb_server *srv, struct mtlb_admin **out, char *err, size_t errlen);
/* Main thread: starts the admin thread. 0 or -errno. */
int mtlb_admin_start(struct mtlb_admin *a);
/* Main thread: stops and joins the thread (if started), closes the socket, frees a. NULL ok. */
void mtlb_admin_destroy(struct mtlb_admin *a);

/* `mtlb health URL`: GET an http:// URL with a short timeout; exit code 0 on a 200 answer,
 * 1 otherwise (with the reason on stderr), 2 on a usage error. */
int mtlb_health_main(int argc, char **argv);

#endif
