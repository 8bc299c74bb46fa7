/* Private to src/admin: the renderers behind the admin endpoints. */
#ifndef MTLB_ADMIN_INT_H
#define MTLB_ADMIN_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "mtlb/prom.h"
#include "mtlb/server.h"
#include "mtlb/tls.h"

/* GET /metrics: every series from the threads' stats, plus the current snapshot's certificate
 * expiry series (rendered when it was built). Admin thread. */
void mtlb_admin_metrics(struct mtlb_server *srv, const struct mtlb_snapshot *snap,
                        struct mtlb_prom_buf *b);
/* /healthz: every live worker and acceptor loop turned within the last second. */
bool mtlb_admin_healthy(struct mtlb_server *srv, char *why, size_t cap);
/* /readyz: serving, and every pool has a server up. */
bool mtlb_admin_ready(struct mtlb_server *srv, const struct mtlb_snapshot *snap, char *why,
                      size_t cap);

/* One step of an admin connection's TLS handshake (non-blocking socket BIO): 1 done, 0 when
 * the socket must first turn *want (EPOLLIN or EPOLLOUT), -EPROTO when it failed (logged at
 * warn once, with the peer and the reason; a refused certificate by the verify callbacks). */
int mtlb_admin_tls_handshake(SSL *ssl, const struct mtlb_tls_conn_info *info, uint32_t *want);
/* SSL_read (write false) or SSL_write of up to len bytes: the count, -EAGAIN with *want set,
 * or 0 at the peer's close or an error. */
ssize_t mtlb_admin_tls_io(SSL *ssl, bool write, void *buf, size_t len, uint32_t *want);

#endif
