/* The admin listener's mutual TLS: its own copy of admin.certificate, key and client_auth, the
 * SSL_CTX the tls module builds from it exactly as for a domain (same loaders, same verify
 * callbacks, mode mandatory), and the non-blocking handshake and record I/O of one admin
 * connection. It never blocks: every call returns what the socket needs next. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <openssl/err.h>

#include "admin_int.h"
#include "mtlb/admin.h"
#include "mtlb/log.h"

int mtlb_admin_tls_init(struct mtlb_admin_tls *t, const struct mtlb_admin_cfg *ac, char *err,
                        size_t errlen)
{
    memset(t, 0, sizeof(*t));
    if (mtlb_config_domain_copy(&t->cfg, &ac->tls) != 0) {
        snprintf(err, errlen, "admin: out of memory");
        mtlb_config_domain_copy_free(&t->cfg);
        return -ENOMEM;
    }
    /* One domain, HTTP/1.1 only, no resumption: every admin client is verified in full. */
    struct mtlb_listener_cfg l = {.bind_host = ac->bind_host,
                                  .bind_port = ac->bind_port,
                                  .alpn = MTLB_ALPN_HTTP11,
                                  .domains = &t->cfg,
                                  .n_domains = 1};
    int rc = mtlb_tls_listener_init(&t->tl, &l, err, errlen);
    if (rc != 0) {
        mtlb_config_domain_copy_free(&t->cfg);
        return rc;
    }
    /* The admin's few connections use plain socket BIOs; kTLS buys nothing there. */
    SSL_CTX_clear_options(t->tl.domains[0].ctx, SSL_OP_ENABLE_KTLS);
    return 0;
}

void mtlb_admin_tls_fini(struct mtlb_admin_tls *t)
{
    if (t->tl.domains != NULL) {
        mtlb_tls_listener_fini(&t->tl);
    }
    mtlb_config_domain_copy_free(&t->cfg);
}

/* What the socket must become before the SSL call can go on; 0 for a failure. */
static uint32_t want_events(SSL *ssl, int rc)
{
    switch (SSL_get_error(ssl, rc)) {
    case SSL_ERROR_WANT_READ:
        return EPOLLIN;
    case SSL_ERROR_WANT_WRITE:
        return EPOLLOUT;
    default:
        return 0;
    }
}

int mtlb_admin_tls_handshake(SSL *ssl, const struct mtlb_tls_conn_info *info, uint32_t *want)
{
    static struct mtlb_ratelimit rl;
    char why[256], q[300];

    ERR_clear_error();
    int rc = SSL_do_handshake(ssl);
    if (rc == 1) {
        mtlb_log(MTLB_LOG_DEBUG, "conn=%llu peer=%s event=admin_handshake_done version=%s",
                 (unsigned long long)info->conn_id, info->peer, SSL_get_version(ssl));
        return 1;
    }
    *want = want_events(ssl, rc);
    if (*want != 0) {
        return 0;
    }
    /* A refused or missing certificate was logged at warn by the verify callbacks (peer,
     * reason, subject): one line per refused client. Anything else is logged here. */
    int reason = ERR_GET_REASON(ERR_peek_error());
    bool refused =
        info->first_error != X509_V_OK || reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE;
    /* A connect and close with no byte sent is a TCP probe (a kubelet tcpSocket check). */
    bool probe =
        reason == SSL_R_UNEXPECTED_EOF_WHILE_READING && BIO_number_read(SSL_get_rbio(ssl)) == 0;
    mtlb_tls_error_string(ssl, why, sizeof(why));
    mtlb_log_rl(&rl, 20, refused || probe ? MTLB_LOG_DEBUG : MTLB_LOG_WARN,
                "conn=%llu peer=%s event=admin_handshake_failed reason=%s",
                (unsigned long long)info->conn_id, info->peer, mtlb_log_quote(why, q, sizeof(q)));
    return -EPROTO;
}

ssize_t mtlb_admin_tls_io(SSL *ssl, bool write, void *buf, size_t len, uint32_t *want)
{
    size_t done = 0;

    ERR_clear_error();
    int rc = write ? SSL_write_ex(ssl, buf, len, &done) : SSL_read_ex(ssl, buf, len, &done);
    if (rc == 1) {
        return (ssize_t)done;
    }
    *want = want_events(ssl, rc);
    ERR_clear_error();
    return *want != 0 ? -EAGAIN : 0;
}
