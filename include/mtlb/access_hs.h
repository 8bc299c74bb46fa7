/* Handshake failures in the access log (access_hs.c): what the acceptor knows of a handshake
 * that did not complete, and the per-acceptor rate limit of those lines. */
#ifndef MTLB_ACCESS_HS_H
#define MTLB_ACCESS_HS_H

#include <stdint.h>

/* Lines per second and per acceptor thread; beyond, failures are only counted. */
#define MTLB_ACCESS_HS_PER_SEC 100

/* One acceptor's window; zero-initialised. Acceptor thread only. */
struct mtlb_access_hs_limit {
    uint64_t window_ms;  /* start of the current one-second window */
    uint32_t count;      /* lines written in it */
    uint64_t suppressed; /* failures not written in it */
};

/* A failed handshake. Strings are NUL-terminated; subject and missing_issuer may be NULL. */
struct mtlb_access_hs {
    uint64_t conn;
    const char *peer;           /* "ip:port" */
    const char *sni;            /* as the client sent it, "" without */
    const char *domain;         /* first name of the domain chosen so far */
    const char *reason;         /* a mtlb_verify_reason token, "timeout" or "tls_error" */
    const char *subject;        /* the refused client certificate's subject DN */
    const char *missing_issuer; /* the DN of the issuer the chain lacked */
    const char *detail;         /* OpenSSL's description */
};

/* Writes hs's handshake_failed line into the calling thread's access-log buffer unless this
 * window's quota is spent (then it is counted). Does nothing when the access log is off. */
void mtlb_access_handshake_failed(struct mtlb_access_hs_limit *rl, uint64_t now_ms,
                                  const struct mtlb_access_hs *hs);
/* Ends a window that is over: writes `{"event":"handshake_failed_suppressed","suppressed":N}`
 * when it suppressed N > 0 lines. Call at least once a second (the acceptor's loop does). */
void mtlb_access_hs_tick(struct mtlb_access_hs_limit *rl, uint64_t now_ms);

/* A connection the acceptor refused before any TLS (edge policy: allow/deny, PROXY header). */
struct mtlb_access_refused {
    uint64_t conn;        /* 0 when refused at accept, before it had an id */
    const char *peer;     /* "ip:port" of the socket's peer */
    const char *client;   /* the client address the PROXY header carried, "" without */
    const char *listener; /* "host:port" */
    const char *reason;   /* mtlb_edge_reason_name */
    const char *detail;   /* "" or a short description */
};

/* Writes r's connection_refused line, under the same per-acceptor quota as the
 * handshake_failed lines (and counted with them when over it). Nothing when the log is off. */
void mtlb_access_conn_refused(struct mtlb_access_hs_limit *rl, uint64_t now_ms,
                              const struct mtlb_access_refused *r);

#endif
