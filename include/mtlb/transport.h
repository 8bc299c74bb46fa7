/* A client connection's transport (transport.c) and the protocol it runs. The transport owns
 * the socket, the reads (with kTLS, each read's record type), TLS through OpenSSL's ring BIO
 * or the kernel, the send queue (tout), close_notify and the close paths. The protocol,
 * HTTP/1.1 (client.c, response.c) or HTTP/2 (h2.c), is chosen once after the handshake by
 * ALPN (by the worker taking the handoff); the transport calls it only through struct
 * mtlb_proto_ops, and the protocol calls down into the functions below. Worker thread only. */
#ifndef MTLB_TRANSPORT_H
#define MTLB_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

struct mtlb_client;
struct mtlb_worker;

/* Largest plaintext handed to one SSL_write (one TLS record). */
#define MTLB_TLS_CHUNK 16384

/* What a protocol does on the events of its connection. c is alive (not aborted) in every
 * hook but free. Hooks that may be NULL say so. */
struct mtlb_proto_ops {
    /* Right after the handoff: set the protocol up and arm c's timer. 0, or -errno (c is then
     * aborted). */
    int (*start)(struct mtlb_client *c);
    /* Input may be waiting (in tin or in OpenSSL) and tout may have room: read what the
     * protocol wants (mtlb_client_read_plain), advance, queue output (mtlb_client_tls_put).
     * While c is closing (MTLB_C_CLOSING) it writes what is left of its last output and calls
     * mtlb_client_finish_close. */
    void (*on_input)(struct mtlb_client *c);
    /* The transport received (sent false) or sent (sent true) bytes: re-arm the timer that
     * times the client. NULL: the protocol arms its timers in on_input. */
    void (*on_progress)(struct mtlb_client *c, bool sent);
    /* c's timer expired and c is not closing. */
    void (*on_timeout)(struct mtlb_client *c);
    /* The worker drains: announce the end (HTTP/2 GOAWAY); c closes when it is done. NULL:
     * nothing to announce. */
    void (*shutdown)(struct mtlb_client *c);
    /* Between requests, nothing of a next one received: c may be closed without cutting
     * anything, and a close_notify now is a clean end. HTTP/2 answers false (its shutdown
     * closes it). */
    bool (*idle)(const struct mtlb_client *c);
    /* May a read be posted now? NULL: always. (HTTP/1.1 reads nothing more while a whole
     * request waits for its response.) */
    bool (*wants_input)(const struct mtlb_client *c);
    /* The transport has nothing buffered and would give the buffer block back: true when the
     * protocol holds nothing in it either (it may drop caches that refer to it first). */
    bool (*park)(struct mtlb_client *c);
    /* The peer will send nothing more (close_notify, a kTLS KeyUpdate): true when the protocol
     * takes it from here (HTTP/1.1 finishes the response in flight, or aborts), false to
     * close now. NULL: close now. */
    bool (*peer_closed)(struct mtlb_client *c);
    /* c is being aborted: drop the protocol's state (session, backend connection). NULL:
     * none. */
    void (*free)(struct mtlb_client *c);
};

/* ---- the connection's life ---- */
/* Takes a handed-off connection onto w and starts proto on it (the caller chose it by ALPN:
 * mtlb_h1_proto, h1_client.h, or mtlb_h2_proto, h2_stream.h). */
void mtlb_client_start(struct mtlb_worker *w, struct mtlb_client *c,
                       const struct mtlb_proto_ops *proto);
/* Acceptor side, or the worker's graveyard: frees a connection that is on no ring. */
void mtlb_client_free(struct mtlb_client *c);
/* Ends the connection now: no more output; the protocol's free runs; the struct goes to the
 * graveyard once its last ring operation completed. Idempotent. */
void mtlb_client_abort(struct mtlb_client *c);
/* Worker drain, once per loop turn for each live connection: the protocol's shutdown (unless
 * force), then an abort when it is idle or force is set. */
void mtlb_client_drain(struct mtlb_client *c, bool force);
/* The protocol hands c over to another protocol (HTTP/1.1 to HTTP/2 on a prior-knowledge
 * preface, plain listeners only): proto starts on c with what is in rx (nothing read is lost)
 * and runs on it at once. c is aborted when proto's start fails. */
void mtlb_client_switch_proto(struct mtlb_client *c, const struct mtlb_proto_ops *proto);

/* A protocol's own operation on c's socket (a response body splice) starts (hold true) or
 * ended (false): c is not freed until then, even when aborted meanwhile. */
void mtlb_client_hold(struct mtlb_client *c, bool hold);

/* ---- input ---- */
/* Runs the protocol on what arrived, sends what it queued, gives the buffers back when idle
 * and posts the next read. Called by the transport after each completion and by the protocol
 * (and its backend side) when it can make progress again. */
void mtlb_client_pump(struct mtlb_client *c);
/* Reads plaintext into rx until OpenSSL has nothing more or rx is full; false when the
 * connection was closed (a close_notify while idle closes gracefully). */
bool mtlb_client_read_plain(struct mtlb_client *c);

/* ---- output ---- */
/* Plaintext through TLS into tout: bytes taken (at most MTLB_TLS_CHUNK), 0 when tout is full,
 * -1 after an abort. */
int mtlb_client_tls_put(struct mtlb_client *c, const char *p, uint32_t len);
/* Sends what is in tout (one send in flight at a time). */
void mtlb_client_flush(struct mtlb_client *c);

/* ---- closing ---- */
/* Marks c closing (MTLB_C_CLOSING, client_body timer): no more reads, no new requests. */
void mtlb_client_begin_close(struct mtlb_client *c);
/* Once the last output is in tout: close_notify after it, then abort after the last send.
 * Called again after each send until done. */
void mtlb_client_finish_close(struct mtlb_client *c);
/* begin_close and finish_close: close_notify after what is in tout, then close. */
void mtlb_client_close_now(struct mtlb_client *c);
/* The peer will send nothing more: the protocol's peer_closed, else close now. */
void mtlb_client_close_gracefully(struct mtlb_client *c);

#endif
