/* A client connection (struct mtlb_client): its transport state, the HTTP/1.1 exchange in
 * flight and the access record. Owned by one worker once handed off; included by every module
 * that touches a connection, so it holds types only (functions: transport.h, h1_client.h). */
#ifndef MTLB_CLIENT_TYPES_H
#define MTLB_CLIENT_TYPES_H

#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "mtlb/access.h"
#include "mtlb/buf.h"
#include "mtlb/exchange.h"
#include "mtlb/h1.h"
#include "mtlb/identity.h"
#include "mtlb/ktls.h"
#include "mtlb/loop.h"
#include "mtlb/splice.h"
#include "mtlb/tls.h"
#include "mtlb/tls_facts.h"

struct mtlb_worker;
struct mtlb_snapshot;
struct mtlb_pool_set;
struct mtlb_proto_ops;
struct mtlb_h2_conn;

/* ---- per-request state of a client connection ---- */
enum mtlb_client_state {
    MTLB_C_HEAD = 0, /* reading a request head */
    MTLB_C_EXCHANGE, /* a request is being proxied */
    MTLB_C_CLOSING,  /* flushing a last response, then close */
    MTLB_C_H2,       /* an HTTP/2 connection: streams carry the exchanges */
};

struct mtlb_client {
    struct mtlb_worker *w;
    struct mtlb_client *next, *prev; /* worker's list of live clients */
    struct mtlb_client *grave_next;  /* freed at the end of the loop iteration */
    struct mtlb_timer timer;
    struct mtlb_op recv_op, send_op; /* its ring operations (loop.h) */
    int fd;
    int pending; /* ops in flight on the ring */
    uint64_t id;
    size_t listener;
    /* The snapshot current at accept (a reference): its SSL_CTX and tls_info.listener stay
     * this connection's TLS settings and buffer sizes until it closes. */
    struct mtlb_snapshot *snap;
    /* OpenSSL's state: NULL on a plain listener, and on a kTLS connection from its handoff
     * on (the kernel carries the records; acceptor_hs.c frees it). What the worker needs of the
     * handshake is in tls_facts, identity and tls_info, which outlive it. */
    SSL *ssl;
    struct mtlb_tls_conn_info tls_info;
    struct mtlb_tls_facts tls_facts;
    struct mtlb_identity identity;
    /* Fields from here on are ordered so that the struct has no holes: it is malloc'd once per
     * connection, idle ones included, and its size picks the allocator's size class. */
    char ip[INET6_ADDRSTRLEN];
    bool recv_pending, send_pending, eof, dead, closing, close_after;
    bool hs_started;  /* acceptor: the handshake has run at least once */
    bool proxy_wait;  /* acceptor: the PROXY header is still to be read (edge.h) */
    bool idle_recv;   /* the pending read targets idle_buf */
    bool park_cancel; /* the pending read into the block is being cancelled, to park */
    enum mtlb_client_state state;
    enum mtlb_transport transport;
    const struct mtlb_proto_ops *proto; /* chosen by ALPN at start (transport.h) */
    struct mtlb_h2_conn *h2;     /* the HTTP/2 session when ALPN chose h2 (state MTLB_C_H2) */
    struct mtlb_h2x *h2_pending; /* streams whose backend work waits for the read batch's end */
    /* kTLS receive: plaintext lands in rx; the record type of each read comes as a cmsg */
    struct msghdr rmsg;
    struct iovec riov;
    union {
        size_t align; /* cmsghdr alignment */
        char buf[CMSG_SPACE(sizeof(unsigned char))];
    } rcmsg;

    /* tin, rx, tout, up_head, hdrs and rec live in one block taken from the worker's pool while
     * the connection is busy and given back when it is idle (mtlb_client_bufs_*); an idle
     * connection reads its next bytes into idle_buf. */
    void *block;
    char idle_buf[1024];
    struct mtlb_buf tin;  /* ciphertext received, read by the ring BIO */
    struct mtlb_buf tout; /* ciphertext to send, written by the ring BIO */
    /* plaintext from the client: head, then body bytes. Without a block it may still hold the
     * start of a request head, in a heap copy (len == cap) until the block is back. */
    struct mtlb_buf rx;

    /* current request */
    struct mtlb_h1_message req;
    struct mtlb_h1_header *hdrs;
    uint32_t head_len;
    uint32_t head_scanned;  /* read_head: rx bytes searched for the head's end (0: not parsed) */
    uint64_t req_body_left; /* Content-Length bytes not yet taken from rx */
    uint64_t body_limit;    /* of the current request (its route's or listener's); 0: none */
    struct mtlb_h1_chunked req_ck;
    bool req_body_done;
    bool req_retryable; /* whole request is still in rx: may be resent */
    /* The rest of the request body moves by splice (splice_req.c): planned when the head was
     * read (no client read is posted then); the relay and its backend connection are below. */
    bool req_spl_plan;
    /* TLS 1.3 session tickets still owed (userspace TLS): sent with the first bytes the
     * client sends after its handshake, so a client that leaves at once costs none. */
    uint8_t tickets_owed;
    uint32_t req_fwd; /* bytes of rx (after head_len) that belong to the body in flight */
    /* The worker's pool set when the current request began (a reference, kept until the next
     * request begins or the connection closes): the exchange's indices point into it. */
    struct mtlb_pool_set *ps;
    struct mtlb_exchange ex; /* with the backend: connection, retries, response head */
    char *up_head;           /* rewritten request head, then the response head */
    uint32_t up_head_len, up_head_sent, up_head_cap;
    uint32_t req_sent; /* request bytes sent to the backend in this attempt */

    /* current response (its head: ex.resp) */
    uint64_t resp_body_left;
    struct mtlb_h1_chunked resp_ck;
    uint32_t resp_head_off; /* bytes of up_head already written to the client */
    uint32_t resp_ready;    /* bytes at the front of up->rbuf known to belong to the body */
    bool resp_head_done, resp_done, resp_keepalive;
    bool resp_framed;  /* the end of the response body has been seen */
    bool resp_started; /* a final response head went to the client: no error page now */
    bool shut_sent;    /* close_notify queued */
    bool resp_local;   /* the response is mtlb's own (a redirect), no backend */
    bool h1_served;    /* an HTTP/1.1 request was read: no HTTP/2 preface now */
    /* The rest of the response body moves by splice (response.c): the relay, and the
     * backend connection it holds (mtlb_upstream_hold) until it ends. */
    struct mtlb_splice spl;
    struct mtlb_upstream *spl_up;
    /* The request body's splice (req_spl_plan above): the relay and the backend connection it
     * holds. */
    struct mtlb_splice req_spl;
    struct mtlb_upstream *req_spl_up;
    /* What an HTTP/2 prior-knowledge preface switches an HTTP/1.1 connection to (the worker
     * sets it for a plain http: allow listener), else NULL. */
    const struct mtlb_proto_ops *h2_prior;
    uint64_t resp_bytes;
    int status;
    uint64_t started_ms;
    uint64_t started_us; /* for mtlb_request_duration_seconds */
    /* The access record of the request in flight (HTTP/1.1): it lives in the block
     * (client_bufs.c), which a connection holds from a request's first byte to its access line,
     * so an idle connection does not carry its 496 bytes. NULL while it holds no block. */
    struct mtlb_access_rec *rec;
};

#endif
