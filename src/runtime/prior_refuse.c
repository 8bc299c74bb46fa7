/* A redirect listener's answer to an HTTP/2 preface (mtlb_prior_refuse_proto): one SETTINGS
 * and one GOAWAY with HTTP_1_1_REQUIRED (RFC 9113 sections 3.4 and 7), then the close. It reads
 * nothing more and runs no HTTP/2 session: the connection costs no nghttp2 state. */
#include <errno.h>
#include <string.h>

#include "mtlb/client_bufs.h"
#include "mtlb/client_types.h"
#include "mtlb/log.h"
#include "mtlb/loop.h"
#include "mtlb/prior_refuse.h"
#include "mtlb/transport.h"
#include "mtlb/worker_types.h"

#define H2_FRAME_SETTINGS 0x4
#define H2_FRAME_GOAWAY 0x7
#define H2_HTTP_1_1_REQUIRED 0xd

/* The GOAWAY's debug data: what a client that logs it (nghttp2, curl -v) shows the operator. */
static const char reason[] = "this listener redirects HTTP/1.1 to https; HTTP/2 is not served";

static size_t frame_head(unsigned char *p, size_t len, unsigned type)
{
    p[0] = (unsigned char)(len >> 16);
    p[1] = (unsigned char)(len >> 8);
    p[2] = (unsigned char)len;
    p[3] = (unsigned char)type;
    memset(p + 4, 0, 5); /* no flags, stream 0 */
    return 9;
}

static int refuse_start(struct mtlb_client *c)
{
    static struct mtlb_ratelimit rl;
    unsigned char out[9 + 9 + 8 + sizeof(reason)];
    size_t n = frame_head(out, 0, H2_FRAME_SETTINGS);

    if (mtlb_client_bufs_take(c) != 0) {
        return -ENOMEM;
    }
    n += frame_head(out + n, 8 + sizeof(reason) - 1, H2_FRAME_GOAWAY);
    memset(out + n, 0, 8); /* last stream id 0 (none was processed), then the error code */
    out[n + 7] = H2_HTTP_1_1_REQUIRED;
    n += 8;
    memcpy(out + n, reason, sizeof(reason) - 1);
    n += sizeof(reason) - 1;
    mtlb_log_rl(&rl, 10, MTLB_LOG_INFO,
                "conn=%llu peer=%s event=h2c_refused listener=%zu reason=\"HTTP/2 prior-knowledge "
                "preface on an http: redirect listener (GOAWAY HTTP_1_1_REQUIRED)\"",
                (unsigned long long)c->id, c->ip, c->listener);
    c->rx.len = 0; /* the preface and whatever followed it are not read */
    if (mtlb_client_tls_put(c, (const char *)out, (uint32_t)n) != (int)n) {
        return -ENOBUFS;
    }
    mtlb_client_begin_close(c);
    return 0;
}

static void refuse_on_input(struct mtlb_client *c)
{
    mtlb_client_finish_close(c); /* the frames go first, then the close */
}

static void refuse_on_timeout(struct mtlb_client *c)
{
    mtlb_client_abort(c); /* the client does not read its two frames */
}

static bool refuse_idle(const struct mtlb_client *c)
{
    (void)c;
    return false; /* it closes by itself as soon as its frames are out */
}

static bool refuse_park(struct mtlb_client *c)
{
    (void)c;
    return false;
}

static bool refuse_wants_input(const struct mtlb_client *c)
{
    (void)c;
    return false;
}

const struct mtlb_proto_ops mtlb_prior_refuse_proto = {
    .start = refuse_start,
    .on_input = refuse_on_input,
    .on_progress = NULL,
    .on_timeout = refuse_on_timeout,
    .shutdown = NULL,
    .idle = refuse_idle,
    .wants_input = refuse_wants_input,
    .park = refuse_park,
    .peer_closed = NULL,
    .free = NULL,
};
