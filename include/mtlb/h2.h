/* HTTP/2 server session glue: one libnghttp2 server session per client connection, driven
 * through nghttp2's in-memory API (bytes in, bytes out; no sockets). It turns request streams
 * into HTTP/1.1 request messages for the owner (the worker's relay, or a test or fuzz stub)
 * and takes responses back. Limits and flood defences live here. Pure module: no I/O, no
 * logging; it allocates (streams, header lists, request body windows). One thread. */
#ifndef MTLB_H2_H
#define MTLB_H2_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <nghttp2/nghttp2.h>

#include "mtlb/h1.h"
#include "mtlb/h2map.h"

struct mtlb_h2_settings {
    uint32_t max_streams;              /* SETTINGS_MAX_CONCURRENT_STREAMS */
    uint32_t max_header_bytes;         /* header list size (RFC 9113 accounting) -> 431 */
    uint32_t max_headers;              /* fields per header list -> 431 */
    uint32_t stream_window;            /* request body bytes buffered per stream (flow control) */
    uint32_t conn_window;              /* the same for the whole connection */
    uint32_t junk_per_sec;             /* frames that cost work without progress, per second */
    struct mtlb_header_policy headers; /* request trailers: dropped or filtered */
    struct mtlb_id_names id_names;     /* opt-in identity names, dropped from trailers too */
};

struct mtlb_h2_conn;
struct mtlb_h2_stream;

/* Response body flags returned by read_body. */
enum {
    MTLB_H2_EOF = 1,      /* nothing follows */
    MTLB_H2_TRAILERS = 2, /* with EOF: mtlb_h2_submit_trailers was called */
};

/* Implemented by the owner. Callbacks run inside mtlb_h2_conn_recv / mtlb_h2_conn_output;
 * they may call the mtlb_h2_stream functions below but never recv/output themselves. */
struct mtlb_h2_ops {
    /* A request head is complete: s->msg is valid until this returns (s->head_status is 0).
     * When the head is refused (s->head_status 400 or 431) the glue answers by itself and
     * on_request is not called. */
    void (*on_request)(struct mtlb_h2_stream *s);
    /* New request body bytes in s->body, or s->end_stream became true. */
    void (*on_body)(struct mtlb_h2_stream *s);
    /* The stream is closed (finished or reset, error_code as in RST_STREAM). s and what it
     * holds are freed right after; s->user must be let go here. */
    void (*on_close)(struct mtlb_h2_stream *s, uint32_t error_code);
    /* Response body: copies at most len bytes into buf and returns the count (0 allowed
     * with MTLB_H2_EOF), setting *flags. -EAGAIN: nothing yet, the stream waits for
     * mtlb_h2_resume. Another negative value resets the stream (INTERNAL_ERROR). */
    ssize_t (*read_body)(struct mtlb_h2_stream *s, uint8_t *buf, size_t len, int *flags);
};

struct mtlb_h2_stream {
    struct mtlb_h2_conn *conn;
    struct mtlb_h2_stream *next, *prev; /* the connection's open streams */
    int32_t id;
    void *user; /* the owner's state for this stream */

    /* Request head: valid during on_request only. */
    struct mtlb_h1_message msg;
    int head_status; /* non-zero: the head was refused with this status */

    /* Request body bytes received and not yet consumed: body[0 .. body_len). The buffer
     * never moves once allocated (sends may point into it). */
    char *body;
    uint32_t body_len, body_cap;
    bool end_stream;     /* the client has sent everything */
    uint64_t body_total; /* request body bytes (DATA payload) received in all */
    bool discard;        /* the owner wants no more body: it is consumed on arrival */
    /* For a request sent chunked: request trailers as the HTTP/1.1 last chunk and trailer
     * section ("0\r\n...\r\n"), filtered by st.headers, or NULL when none came or the
     * settings drop request trailers. */
    char *trailers;
    size_t trailers_len;
    bool responded; /* a response head was submitted */

    bool in_trailers;     /* glue internal: the stream's second header list */
    const char *err_body; /* error page body still to send */
    size_t err_left;
    char err_text[40];
};

/* Creates the session and queues the server SETTINGS. 0, -ENOMEM. */
int mtlb_h2_conn_new(struct mtlb_h2_conn **out, const struct mtlb_h2_settings *st,
                     const struct mtlb_h2_ops *ops, void *owner);
/* Calls on_close(NGHTTP2_CANCEL) for every open stream, then frees everything. */
void mtlb_h2_conn_free(struct mtlb_h2_conn *h);
void *mtlb_h2_conn_owner(const struct mtlb_h2_conn *h);

/* The header policy and opt-in identity names that filter request trailers from now on (a
 * reload may add a protected name; heads already follow the current configuration). */
void mtlb_h2_conn_set_header_policy(struct mtlb_h2_conn *h, const struct mtlb_header_policy *p,
                                    const struct mtlb_id_names *names);
/* Feeds received plaintext; everything is consumed. Returns 0, or a negative nghttp2 error
 * when the connection is finished (a GOAWAY may be queued: send the output, then close).
 * now_ms paces the frame-flood budget. */
int mtlb_h2_conn_recv(struct mtlb_h2_conn *h, const uint8_t *p, size_t n, uint64_t now_ms);
/* The next bytes to send (0 when nothing is queued); valid until mtlb_h2_conn_sent or the
 * next recv. Returns a negative nghttp2 error when the session failed. */
ssize_t mtlb_h2_conn_output(struct mtlb_h2_conn *h, const uint8_t **p);
void mtlb_h2_conn_sent(struct mtlb_h2_conn *h, size_t n);
/* False once the session wants neither to read nor to write (after GOAWAY both ways, a
 * fatal error, or a drained graceful shutdown), and nothing is left to send. */
bool mtlb_h2_conn_alive(const struct mtlb_h2_conn *h);
unsigned mtlb_h2_conn_streams(const struct mtlb_h2_conn *h);
/* Graceful: GOAWAY(NO_ERROR) naming the last stream taken; open streams finish. */
void mtlb_h2_conn_shutdown(struct mtlb_h2_conn *h);
/* Immediate: GOAWAY with error_code; the connection ends once it is sent. */
void mtlb_h2_conn_terminate(struct mtlb_h2_conn *h, uint32_t error_code);
bool mtlb_h2_conn_goaway_sent(const struct mtlb_h2_conn *h);
/* No open stream and nothing to send: the owner may give its buffers back. */
bool mtlb_h2_conn_idle(const struct mtlb_h2_conn *h);
/* When idle, frees the glue's own scratch (output gathering, request views); it grows back on
 * demand. */
void mtlb_h2_conn_trim(struct mtlb_h2_conn *h);
/* True while nghttp2 runs (inside recv or output): callbacks must not ask for output. */
bool mtlb_h2_conn_busy(const struct mtlb_h2_conn *h);

/* Submits the response head; with body, read_body supplies it. 0 or negative. */
int mtlb_h2_respond(struct mtlb_h2_stream *s, const nghttp2_nv *nva, size_t n, bool body);
/* A short text/plain error response with this status. */
int mtlb_h2_respond_error(struct mtlb_h2_stream *s, int status);
int mtlb_h2_submit_trailers(struct mtlb_h2_stream *s, const nghttp2_nv *nva, size_t n);
/* The stream's read_body has something now. */
void mtlb_h2_resume(struct mtlb_h2_stream *s);
/* n bytes at the front of s->body went out: drop them and reopen the flow-control window. */
void mtlb_h2_consume(struct mtlb_h2_stream *s, uint32_t n);
/* RST_STREAM with error_code. */
void mtlb_h2_reset(struct mtlb_h2_stream *s, uint32_t error_code);

#endif
