/* Private to src/admin: the renderers behind the admin endpoints. */
#ifndef MTLB_ADMIN_INT_H
#define MTLB_ADMIN_INT_H

#include <stdbool.h>

#include "mtlb/prom.h"
#include "mtlb/runtime.h"

/* GET /metrics: every series from the threads' stats, plus certs (the certificate expiry
 * series, rendered once at start-up). Admin thread. */
void mtlb_admin_metrics(struct mtlb_server *srv, const char *certs, struct mtlb_prom_buf *b);
/* mtlb_certificate_not_after_timestamp_seconds for every server certificate, truststore
 * certificate and CRL. Main thread, once. */
void mtlb_admin_cert_metrics(const struct mtlb_server *srv, struct mtlb_prom_buf *b);
/* GET /config: the running configuration as "key: value" lines (file paths, never key
 * material). Main thread, once. */
void mtlb_admin_config_text(const struct mtlb_config *cfg, struct mtlb_prom_buf *b);
/* /healthz: every live worker and acceptor loop turned within the last second. */
bool mtlb_admin_healthy(struct mtlb_server *srv, char *why, size_t cap);
/* /readyz: serving, and every pool has a server up. */
bool mtlb_admin_ready(struct mtlb_server *srv, char *why, size_t cap);

#endif
