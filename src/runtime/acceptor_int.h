/* Private to the acceptor (acceptor.c: the thread, its listeners, accept and deadlines;
 * acceptor_hs.c: one connection's PROXY header, first record and handshake; acceptor_linger.c:
 * the lingering close of a failed handshake). Calls go one way: acceptor.c into the other two,
 * acceptor_hs.c into acceptor_linger.c. Acceptor thread only. */
#ifndef MTLB_ACCEPTOR_INT_H
#define MTLB_ACCEPTOR_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtlb/access_hs.h"
#include "mtlb/client_types.h"
#include "mtlb/edge.h"

/* epoll data: a pointer (8-aligned) or a listener index, told apart by the low two bits. */
#define TAG_MASK 3ULL
#define TAG_CLIENT 0ULL   /* struct mtlb_client * in its handshake */
#define TAG_LISTENER 1ULL /* listener index << 2 */
#define TAG_LINGER 2ULL   /* struct lingerer * */

/* A failed handshake in its lingering close: the alert is sent and our side shut for writing;
 * the peer's bytes are read and dropped until it closes, LINGER_BYTES were read or LINGER_MS
 * passed. Closing with unread bytes makes the kernel send a reset, and clients report the
 * failed write or read instead of the alert (TLS 1.3 refuses after the client's Finished, when
 * its request is already on the way). It keeps its live_conns place (max_connections). */
struct lingerer {
    struct lingerer *prev, *next; /* deadline order (all share LINGER_MS) */
    int fd;
    uint32_t left;
    uint64_t deadline_ms;
};

struct mtlb_acceptor {
    struct mtlb_server *srv;
    unsigned index;
    pthread_t thread;
    bool started;
    int epfd;
    struct mtlb_client pending;         /* sentinel: handshakes in deadline order */
    struct lingerer lingering;          /* sentinel: lingering closes in deadline order */
    struct mtlb_snapshot *snap;         /* current as of the last loop turn (a reference) */
    struct mtlb_stats *stats;           /* owned by the server; this thread is its only writer */
    struct mtlb_access_hs_limit hs_log; /* handshake_failed lines in the access log */
    uint64_t paused_until_ms;           /* listeners unwatched until then (EMFILE); 0: not */
};

/* ---- acceptor_hs.c: a connection from its accept to its worker ---- */

/* Takes c, a fresh connection of listener l (fd, id and snapshot set): on a plain listener
 * without PROXY it goes to a worker at once; otherwise it waits in a->pending for its PROXY
 * header, first record and handshake, under timeouts.handshake. */
void mtlb_acceptor_hs_begin(struct mtlb_acceptor *a, struct mtlb_client *c);
/* An epoll event on c: its PROXY header, first record or handshake, whichever it waits for. */
void mtlb_acceptor_hs_event(struct mtlb_acceptor *a, struct mtlb_client *c, uint32_t events);
/* Drives c's handshake one step (c has its SSL). */
void mtlb_acceptor_hs_step(struct mtlb_acceptor *a, struct mtlb_client *c);
/* c's deadline passed: counted, logged and closed. */
void mtlb_acceptor_hs_expire(struct mtlb_acceptor *a, struct mtlb_client *c);
/* Closes c without a word and frees it (its live_conns place too). */
void mtlb_acceptor_hs_drop(struct mtlb_acceptor *a, struct mtlb_client *c);
/* "ip:port" of ss into peer, the address alone into ip. */
void mtlb_acceptor_hs_peer_text(const struct sockaddr_storage *ss, char *ip, size_t iplen,
                                char *peer, size_t peerlen);
/* A connection the edge policy refused: counted and logged (edge.c). peer: the socket's
 * "ip:port"; client: the PROXY-carried address or "". */
void mtlb_acceptor_hs_edge_refused(struct mtlb_acceptor *a, size_t l, uint64_t conn,
                                   const char *peer, const char *client, enum mtlb_edge_reason r,
                                   const char *detail);

/* ---- acceptor_linger.c: lingering closes ---- */

/* Shuts fd for writing (after the alert) and makes its lingerer; NULL when that failed (fd
 * untouched). */
struct lingerer *mtlb_acceptor_linger_new(int fd);
/* lg (from mtlb_acceptor_linger_new) joins a->lingering and takes its fd and its live_conns
 * place; it reads what is already there at once. */
void mtlb_acceptor_linger_start(struct mtlb_acceptor *a, struct lingerer *lg);
/* Reads and drops what the peer sent; ends the linger at EOF, error or the byte budget. */
void mtlb_acceptor_linger_read(struct mtlb_acceptor *a, struct lingerer *lg);
/* Closes lg's fd and frees it (its live_conns place too). */
void mtlb_acceptor_linger_end(struct mtlb_acceptor *a, struct lingerer *lg);

#endif
