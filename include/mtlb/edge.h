/* Edge policy at accept (edge.c): a listener's allow/deny lists and its PROXY protocol header,
 * applied by the acceptor before any TLS (or HTTP) byte is read. Protocol-agnostic: it sees a
 * socket and a listener's configuration, never the connection's record. Acceptor threads. */
#ifndef MTLB_EDGE_H
#define MTLB_EDGE_H

#include <stdbool.h>
#include <sys/socket.h>

#include "mtlb/access_hs.h"
#include "mtlb/config.h"
#include "mtlb/stats.h"

/* Why a connection was refused: the reason label of mtlb_connections_refused_total. */
enum mtlb_edge_reason {
    MTLB_EDGE_ACL = 0,         /* the client address is denied, or not allowed */
    MTLB_EDGE_PROXY_UNTRUSTED, /* a PROXY listener's peer is not in proxy_protocol_from */
    MTLB_EDGE_PROXY_INVALID,   /* no valid PROXY header (garbage, closed before it) */
    MTLB_EDGE_PROXY_TIMEOUT,   /* no complete PROXY header within timeouts.handshake */
    MTLB_EDGE_REASONS,
};

/* "acl", "proxy_untrusted", "proxy_invalid", "proxy_timeout". */
const char *mtlb_edge_reason_name(enum mtlb_edge_reason r);

/* Whether l's lists let the client address sa in: not in deny, and in allow when l has one. */
bool mtlb_edge_allowed(const struct mtlb_listener_cfg *l, const struct sockaddr *sa);

/* The check at accept, on the socket's peer address. A PROXY listener admits only its
 * proxy_protocol_from senders (the lists wait for the header's address); any other listener
 * applies its lists. True to go on, else false with *why set. */
bool mtlb_edge_admit(const struct mtlb_listener_cfg *l, const struct sockaddr *peer,
                     enum mtlb_edge_reason *why);

/* Reads the PROXY header at the start of fd's stream without touching what follows it: peeks
 * (MSG_PEEK), parses, and consumes exactly the header's bytes once it is complete. Returns 1
 * with *client set to the address the header carries (or, when it carries none: v1 UNKNOWN,
 * v2 LOCAL, to fd's peer address), 0 when the header is not complete yet (wait for more bytes;
 * the fd should be watched edge-triggered, since the peeked bytes stay readable), -1 when
 * the connection cannot carry a valid header (*detail: a static description; a peer that
 * closed after a partial header included), or -2 when the peer closed without sending a byte
 * (a TCP health check). fd is non-blocking. */
int mtlb_edge_proxy_read(int fd, struct sockaddr_storage *client, const char **detail);

/* A refused connection, for mtlb_edge_report. */
struct mtlb_edge_refusal {
    size_t listener;
    uint64_t conn;      /* 0 when refused at accept */
    const char *peer;   /* the socket's "ip:port" */
    const char *client; /* the address the PROXY header carried, "" without */
    enum mtlb_edge_reason reason;
    const char *detail; /* "" or a short description */
};

/* Counts e in refused[listener * MTLB_EDGE_REASONS + reason] (the calling acceptor's own
 * stats), writes a rate-limited connection_refused line to the error log and one to the
 * access log under rl's quota. lc: the listener's configuration (its bind names it). */
void mtlb_edge_report(const struct mtlb_listener_cfg *lc, mtlb_counter *refused,
                      struct mtlb_access_hs_limit *rl, const struct mtlb_edge_refusal *e);

#endif
