/* The admin listener: a thread of its own with a small epoll loop serving HTTP/1.1 on
 * admin.bind, plain on a loopback address or over mutual TLS (admin.certificate, key,
 * client_auth) on any address: GET /metrics, /healthz, /readyz, /config, and POST /reload
 * (which runs the reload on the admin thread). It only reads what
 * other threads publish (per-thread counters and heartbeats in struct mtlb_stats, the server's
 * phase) and never blocks or wakes a worker. */
#ifndef MTLB_ADMIN_H
#define MTLB_ADMIN_H

#include <stddef.h>

#include "mtlb/config.h"
#include "mtlb/prom.h"
#include "mtlb/tls.h"

struct mtlb_server;
struct mtlb_admin;

/* The admin listener's TLS: its own copy of the admin block's certificate, key and
 * client_auth (it outlives the configuration it came from) and the one-domain context the tls
 * module builds from it (same loaders and verification as a domain; HTTP/1.1, no resumption,
 * no kTLS). Built once at start-up: a reload does not change it. */
struct mtlb_admin_tls {
    struct mtlb_domain_cfg cfg;
    struct mtlb_tls_listener tl;
};

/* Loads ac's TLS files (ac->tls_on) into t. 0, or -errno with "FILE:LINE: admin (admin): KEY:
 * PATH: problem" in err (t is then empty). Main thread; `mtlb -t` and start-up. */
int mtlb_admin_tls_init(struct mtlb_admin_tls *t, const struct mtlb_admin_cfg *ac, char *err,
                        size_t errlen);
void mtlb_admin_tls_fini(struct mtlb_admin_tls *t);

/* Main thread, at start-up after the first snapshot is built: loads the admin TLS files (when
 * admin has them) and binds admin.bind. 0 and *out set, or -errno with "FILE:LINE: admin.bind
 * ...: problem" (or the TLS file's problem) in err. */
int mtlb_admin_create(struct mtlb_server *srv, struct mtlb_admin **out, char *err, size_t errlen);
/* Main thread: starts the admin thread. 0 or -errno. */
int mtlb_admin_start(struct mtlb_admin *a);
/* Main thread: stops and joins the thread (if started), closes the socket, frees a. NULL ok. */
void mtlb_admin_destroy(struct mtlb_admin *a);

/* The texts a snapshot carries for the admin listener, built with it (the thread that loads
 * configurations): GET /config, the running configuration as "key: value" lines (file paths,
 * never key material); and mtlb_certificate_not_after_timestamp_seconds for every server
 * certificate, truststore certificate and CRL of tls[cfg->n_listeners]. */
void mtlb_admin_config_text(const struct mtlb_config *cfg, struct mtlb_prom_buf *b);
void mtlb_admin_cert_metrics(const struct mtlb_config *cfg, const struct mtlb_tls_listener *tls,
                             struct mtlb_prom_buf *b);
/* The series lines (no family header) of one domain's certificates under domain=label: the
 * admin listener's own (label "admin"), printed right after the snapshot's family. */
void mtlb_admin_cert_lines(const struct mtlb_tls_domain *td, const char *label,
                           struct mtlb_prom_buf *b);

/* `mtlb health URL`: GET an http:// URL with a short timeout; exit code 0 on a 200 answer,
 * 1 otherwise (with the reason on stderr), 2 on a usage error. */
int mtlb_health_main(int argc, char **argv);

#endif
