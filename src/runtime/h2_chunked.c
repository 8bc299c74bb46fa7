/* A backend's chunked response body on an HTTP/2 stream (h2_chunked.h): the chunks decoded
 * into DATA bytes, the trailer section kept and submitted as HTTP/2 trailers. Reads only the
 * stream's exchange record and the response buffer; answers and errors are h2_stream.c's. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "h2_chunked.h"
#include "mtlb/client_types.h"
#include "mtlb/config.h"
#include "mtlb/h1.h"
#include "mtlb/h2.h"
#include "mtlb/h2map.h"
#include "mtlb/snapshot.h"
#include "mtlb/worker_types.h"

#define TRAILER_CAP (16 * 1024)

/* Backend trailers (chunked trailer section) become HTTP/2 trailers. */
static int submit_trailers(struct mtlb_h2x *x)
{
    struct mtlb_worker *w = x->c->w;
    ssize_t n = mtlb_h2_trailer_nv(x->trailer_buf, x->trailer_len, w->h2_nva,
                                   (size_t)x->c->snap->cfg->limits.max_headers + 2, w->h2_scratch,
                                   MTLB_H2_SCRATCH_CAP);
    if (n <= 0 || mtlb_h2_submit_trailers(x->s, w->h2_nva, (size_t)n) != 0) {
        return 0; /* none left after filtering, or too many: trailers may be dropped */
    }
    return MTLB_H2_TRAILERS;
}

static int keep_trailer(struct mtlb_h2x *x, const char *p, size_t n)
{
    if (x->trailer_len + n > TRAILER_CAP) {
        return -EMSGSIZE;
    }
    if (x->trailer_buf == NULL && (x->trailer_buf = malloc(TRAILER_CAP)) == NULL) {
        return -ENOMEM;
    }
    memcpy(x->trailer_buf + x->trailer_len, p, n);
    x->trailer_len += n;
    return 0;
}

ssize_t mtlb_h2_chunked_read(struct mtlb_h2x *x, struct mtlb_buf *b, uint8_t *buf, size_t len,
                             int *flags)
{
    size_t out = 0;

    while (out < len && !(*flags & MTLB_H2_EOF)) {
        size_t dlen = 0, tlen = 0;
        bool done = false;
        ssize_t k = mtlb_h1_chunked_next(&x->ck, b->data + b->off, b->len, &dlen, &tlen, &done);
        size_t tend = (size_t)k - (done ? 2 : 0); /* trailer lines precede the final CRLF */
        if (k < 0 || (tlen > 0 && keep_trailer(x, b->data + b->off + tend - tlen, tlen) != 0)) {
            return -EBADMSG;
        }
        b->off += (uint32_t)k;
        b->len -= (uint32_t)k;
        if (done) {
            *flags |= MTLB_H2_EOF;
            if (x->trailer_len > 0) {
                *flags |= submit_trailers(x);
            }
            break;
        }
        if (dlen == 0) {
            break;
        }
        size_t n = dlen < len - out ? dlen : len - out;
        memcpy(buf + out, b->data + b->off, n);
        mtlb_h1_chunked_take(&x->ck, n);
        b->off += (uint32_t)n;
        b->len -= (uint32_t)n;
        out += n;
    }
    return (ssize_t)out;
}
