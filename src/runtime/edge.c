/* Edge policy at accept: allow/deny lists and the PROXY protocol header read off a fresh
 * socket (edge.h). It owns the peek-then-consume read that leaves the bytes after the header
 * to TLS, and the report of a refusal (counter, error log, access log); closing stays with
 * the acceptor. No protocol knowledge. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "mtlb/cidr.h"
#include "mtlb/edge.h"
#include "mtlb/log.h"
#include "mtlb/proxy_proto.h"

const char *mtlb_edge_reason_name(enum mtlb_edge_reason r)
{
    static const char *const names[MTLB_EDGE_REASONS] = {"acl", "proxy_untrusted", "proxy_invalid",
                                                         "proxy_timeout"};
    return (unsigned)r < MTLB_EDGE_REASONS ? names[r] : "other";
}

bool mtlb_edge_allowed(const struct mtlb_listener_cfg *l, const struct sockaddr *sa)
{
    if (mtlb_cidr_list_match(&l->deny, sa)) {
        return false;
    }
    return l->allow.n == 0 || mtlb_cidr_list_match(&l->allow, sa);
}

bool mtlb_edge_admit(const struct mtlb_listener_cfg *l, const struct sockaddr *peer,
                     enum mtlb_edge_reason *why)
{
    if (l->proxy_protocol) {
        *why = MTLB_EDGE_PROXY_UNTRUSTED;
        return mtlb_cidr_list_match(&l->proxy_from, peer);
    }
    *why = MTLB_EDGE_ACL;
    return mtlb_edge_allowed(l, peer);
}

/* The header's source as a socket address. */
static void header_addr(const struct mtlb_proxy_hdr *h, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (h->family == 4) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        memcpy(&s4->sin_addr, h->src, 4);
        s4->sin_port = htons(h->src_port);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        memcpy(&s6->sin6_addr, h->src, 16);
        s6->sin6_port = htons(h->src_port);
    }
}

int mtlb_edge_proxy_read(int fd, struct sockaddr_storage *client, const char **detail)
{
    uint8_t buf[MTLB_PROXY_MAX];
    struct mtlb_proxy_hdr h;
    ssize_t n;

    do {
        n = recv(fd, buf, sizeof(buf), MSG_PEEK);
    } while (n == -1 && errno == EINTR);
    if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return 0;
    }
    if (n == 0) {
        /* a peer that never sent a byte: a balancer's TCP health check, not a refusal */
        return -2;
    }
    if (n < 0) {
        *detail = "read error";
        return -1;
    }
    int r = mtlb_proxy_parse(buf, (size_t)n, &h, detail);
    if (r == MTLB_INCOMPLETE) {
        return 0;
    }
    if (r < 0) {
        return -1;
    }
    /* The header's bytes are in the receive queue (the peek saw them): this read takes them
     * and nothing after. */
    if (recv(fd, buf, (size_t)r, 0) != r) {
        *detail = "read error";
        return -1;
    }
    if (h.has_addr) {
        header_addr(&h, client);
        return 1;
    }
    socklen_t len = sizeof(*client);
    if (getpeername(fd, (struct sockaddr *)client, &len) == -1) {
        *detail = "getpeername failed";
        return -1;
    }
    return 1;
}

void mtlb_edge_report(const struct mtlb_listener_cfg *lc, mtlb_counter *refused,
                      struct mtlb_access_hs_limit *rl, const struct mtlb_edge_refusal *e)
{
    static _Thread_local struct mtlb_ratelimit log_rl;
    const char *reason = mtlb_edge_reason_name(e->reason);
    char ln[80], q[300];

    mtlb_counter_add(&refused[e->listener * MTLB_EDGE_REASONS + e->reason], 1);
    snprintf(ln, sizeof(ln), strchr(lc->bind_host, ':') ? "[%s]:%u" : "%s:%u", lc->bind_host,
             lc->bind_port);
    mtlb_log_rl(&log_rl, 10, MTLB_LOG_INFO,
                "conn=%llu peer=%s client=%s listener=%s event=connection_refused reason=%s "
                "detail=%s",
                (unsigned long long)e->conn, e->peer, e->client[0] ? e->client : "-", ln, reason,
                mtlb_log_quote(e->detail, q, sizeof(q)));
    struct mtlb_access_refused ar = {.conn = e->conn,
                                     .peer = e->peer,
                                     .client = e->client,
                                     .listener = ln,
                                     .reason = reason,
                                     .detail = e->detail};
    mtlb_access_conn_refused(rl, mtlb_now_ms(), &ar);
}
