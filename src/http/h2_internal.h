/* The HTTP/2 session glue's connection state, shared by h2_session.c (nghttp2 callbacks,
 * streams, creation) and h2_io.c (bytes in and out, responses, state queries). Private to
 * src/http. */
#ifndef MTLB_H2_INTERNAL_H
#define MTLB_H2_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "mtlb/h2.h"

struct mtlb_h2_conn {
    nghttp2_session *ss;
    const struct mtlb_h2_ops *ops;
    void *owner;
    struct mtlb_h2_settings st;
    struct mtlb_h2_stream *streams; /* open streams, a doubly linked list */
    unsigned n_streams;
    /* Output. Small frames are gathered into cbuf (up to COALESCE bytes) so that the owner
     * encrypts one TLS record for many frames; a large frame is handed out as nghttp2 made
     * it (direct). out/out_len: what is left of nghttp2's last chunk, valid until the next
     * mem_send (recv moves it into cbuf first). */
    const uint8_t *out;
    size_t out_len;
    uint8_t *cbuf;
    size_t ccap, coff, clen;
    bool direct;
    /* Frame-flood budget: junk frames within the current second. */
    uint64_t junk_window_ms, now_ms;
    uint32_t junk;
    bool goaway, dead;
    bool busy; /* inside nghttp2: no recv/output now */
    /* The header list being received. Header blocks never interleave (RFC 9113 section
     * 4.3), so one list per connection serves every stream in turn; its arrays are reused. */
    struct mtlb_h2_stream *fowner;
    struct mtlb_h2_field *f;
    nghttp2_rcbuf **rc;
    size_t nf, fcap, hbytes;
    struct mtlb_h1_header *hdrs; /* request view scratch, reused */
    size_t hdrs_cap;
    char *scratch;
    size_t scratch_cap;
    /* nghttp2's frame buffer (h2_mem.c): its pages are handed back while idle. dirty: a frame
     * larger than a page was built in it since. watch: the session is being created. */
    void *fbuf;
    size_t fbuf_len;
    bool fbuf_dirty, fbuf_watch;
};

/* The allocator for h's nghttp2 session (user data h): the C allocator, noting the frame
 * buffer allocated while h->fbuf_watch is set. */
nghttp2_mem mtlb_h2_mem(struct mtlb_h2_conn *h);
/* Gives the frame buffer's whole pages back to the kernel (madvise MADV_DONTNEED); only when
 * nghttp2 holds no output in it (nothing to send, the last output taken). */
void mtlb_h2_mem_release(struct mtlb_h2_conn *h);
/* A frame of more than this many bytes touched the frame buffer beyond its first page. */
#define MTLB_H2_FBUF_CLEAN 4000

/* The stream nghttp2 knows by id, or NULL. */
struct mtlb_h2_stream *mtlb_h2_stream_of(struct mtlb_h2_conn *h, int32_t id);

/* Grows a reusable buffer to at least need bytes (contents kept); NULL when out of memory. */
void *mtlb_h2_grow(void **buf, size_t *cap, size_t need);

#endif
