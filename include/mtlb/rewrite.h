/* Header rewriting between the client and the backend.
 * Pure module: builds new head blocks from a parsed mtlb_h1_message; no I/O, no logging. */
#ifndef MTLB_REWRITE_H
#define MTLB_REWRITE_H

#include <stdbool.h>
#include <sys/types.h>

#include "mtlb/authority.h"
#include "mtlb/h1.h"
#include "mtlb/identity.h"

struct mtlb_rewrite_req {
    const struct mtlb_identity *identity; /* never NULL */
    const char *client_ip;                /* textual client address */
    const char *proto;                    /* "https" */
    /* never NULL: what mtlb_authority_from_request resolved for this request (the 421 check
     * looked at the same authority) */
    const struct mtlb_authority_request *target;
};

/* Writes the request head to send to a backend into out[0..cap): the request line with the
 * method as received, rw->target's target (origin form, even when the client sent the
 * absolute form) and HTTP/1.1 (always, towards the backend), then "Host:" with rw->target's
 * normalized authority (host[:port]; empty only for an HTTP/1.0 request that had none), then
 * every client header except
 *   - Host (every client copy: the one written above replaces it);
 *   - hop-by-hop ones: Connection and every header it names, Keep-Alive, Proxy-Connection,
 *     TE, Upgrade, Trailer is kept (end-to-end);
 *   - any X-SSL-* or X-Forwarded-* header, Forwarded, X-Real-IP (any letter case);
 * then X-SSL-Client-Verify (always), X-SSL-Client-DN, X-SSL-Issuer, X-SSL-Client-Serial
 * (when a certificate was presented), X-Forwarded-For, X-Real-IP, X-Forwarded-Proto.
 * An HTTP/1.0 request without a body framing keeps its (lack of) body.
 * Returns the length written, or -ENOSPC if it does not fit.
 * Addition: -EINVAL when an added value (identity strings, client_ip, proto) holds a control
 * character, so that nothing can inject a field. client_ip or proto NULL: that field is
 * omitted. Each identity string is written only when non-NULL.
 * Content-Length and Transfer-Encoding are never removed because Connection names them
 * (that would desynchronise the body framing with the backend). */
ssize_t mtlb_rewrite_request(const struct mtlb_h1_message *req, const struct mtlb_rewrite_req *rw,
                             char *out, size_t cap);

/* Writes the response head to send to the client: status line as HTTP/1.1, every backend
 * header except the hop-by-hop ones (Connection and those it names, Keep-Alive,
 * Proxy-Connection, TE, Upgrade), then "Connection: close" when close_client is true.
 * Transfer-Encoding and Content-Length are kept (bodies are forwarded verbatim), even when
 * Connection names them.
 * Returns the length written, or -ENOSPC. */
ssize_t mtlb_rewrite_response(const struct mtlb_h1_message *resp, bool close_client, char *out,
                              size_t cap);

/* Reason phrase of the error statuses mtlb answers with itself, for its error pages in
 * HTTP/1.1 and HTTP/2 ("Error" for others). */
const char *mtlb_http_status_text(int status);

#endif
