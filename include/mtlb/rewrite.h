/* Header rewriting between the client and the backend.
 * Pure module: builds new head blocks from a parsed mtlb_h1_message; no I/O, no logging. */
#ifndef MTLB_REWRITE_H
#define MTLB_REWRITE_H

#include <stdbool.h>
#include <sys/types.h>

#include "mtlb/authority.h"
#include "mtlb/h1.h"
#include "mtlb/identity.h"

/* headers.underscores: what becomes of a client field whose name holds "_". CGI, WSGI and
 * Rack map "_" and "-" to the same variable, so such a name can pose as another one. */
enum mtlb_underscores {
    MTLB_US_DROP = 0, /* not forwarded (default, as nginx's underscores_in_headers off) */
    MTLB_US_REJECT,   /* a request head holding one is refused with 400 */
    MTLB_US_PASS,     /* forwarded, except the spellings of protected names (always dropped) */
};

/* How client header and trailer fields are filtered; the zero value is the default. */
struct mtlb_header_policy {
    enum mtlb_underscores underscores;
    bool forward_trailers; /* headers.request_trailers: forward (true) or drop (false) */
};

/* What becomes of one client field (see mtlb_rewrite_field). */
enum mtlb_field_verdict {
    MTLB_FIELD_KEEP = 0,
    MTLB_FIELD_DROP,
    MTLB_FIELD_REJECT, /* the request must be refused (400) */
};

struct mtlb_rewrite_req {
    const struct mtlb_identity *identity;    /* never NULL */
    const char *client_ip;                   /* textual client address */
    const char *proto;                       /* "https" */
    const struct mtlb_header_policy *policy; /* NULL: the defaults */
    /* never NULL: what mtlb_authority_from_request resolved for this request (the 421 check
     * looked at the same authority) */
    const struct mtlb_authority_request *target;
    /* X-Request-Id to send (mtlb_request_id_pick); NULL: none is written */
    const char *request_id;
};

/* Protected names: every name that, with "_" read as "-" and in any letter case, starts with
 * "x-ssl" or "x-forwarded-", or is "x-real-ip", "forwarded" or "x-request-id". A client copy
 * of any of them is a forgery at the edge (or, for X-Request-Id, replaced by the one value
 * mtlb logs); they are always dropped, whatever the policy. */
bool mtlb_rewrite_is_protected(struct mtlb_slice name);

/* The verdict for a field a client sent in a trailer section: DROP for protected names, for
 * hop-by-hop and framing fields (Connection, Keep-Alive, Proxy-Connection, TE, Upgrade,
 * Transfer-Encoding, Content-Length, Host, Trailer), and for names with "_" unless the
 * policy is MTLB_US_PASS (MTLB_US_REJECT acts as DROP here: the head is already forwarded);
 * KEEP otherwise. policy NULL: the defaults. Pure; any thread. */
enum mtlb_field_verdict mtlb_rewrite_trailer_field(struct mtlb_slice name,
                                                   const struct mtlb_header_policy *policy);

/* The same as an mtlb_h1_trailer_filter for mtlb_h1_chunked_relay: 1 to keep, 0 to drop;
 * policy is a const struct mtlb_header_policy * (NULL: the defaults). */
int mtlb_rewrite_trailer_filter(struct mtlb_slice name, void *policy);

/* Writes the request head to send to a backend into out[0..cap): the request line with the
 * method as received, rw->target's target (origin form, even when the client sent the
 * absolute form) and HTTP/1.1 (always, towards the backend), then "Host:" with rw->target's
 * normalized authority (host[:port]; empty only for an HTTP/1.0 request that had none), then
 * every client header except
 *   - Host (every client copy: the one written above replaces it);
 *   - hop-by-hop ones: Connection and every header it names, Keep-Alive, Proxy-Connection,
 *     TE, Upgrade, Trailer is kept (end-to-end) unless trailers are dropped by the policy;
 *   - protected names (mtlb_rewrite_is_protected: any case, "_" for "-");
 *   - names holding "_", per rw->policy (dropped by default; MTLB_US_REJECT gives -EBADMSG);
 *   - Content-Length and Transfer-Encoding as the client wrote them: the framing is written
 *     from the parsed message instead, "Transfer-Encoding: chunked" for MTLB_BODY_CHUNKED,
 *     "Content-Length: N" (decimal, no leading zero) when a Content-Length was given;
 * then X-SSL-Client-Verify (always), X-SSL-Client-DN, X-SSL-Issuer, X-SSL-Client-Serial
 * (when a certificate was presented), X-Forwarded-For, X-Real-IP, X-Forwarded-Proto,
 * X-Request-Id (when rw->request_id is not NULL).
 * An HTTP/1.0 request without a body framing keeps its (lack of) body.
 * Returns the length written, -ENOSPC if it does not fit, -EBADMSG when the policy rejects a
 * name with "_" (answer 400).
 * Addition: -EINVAL when an added value (identity strings, client_ip, proto, request_id) holds
 * a control character, so that nothing can inject a field. client_ip or proto NULL: that field
 * is omitted. Each identity string is written only when non-NULL.
 * Host is written from the resolved authority (never the client's copy), and the framing
 * written is the one the proxy used to delimit the body (anything else would desynchronise it
 * with the backend). */
ssize_t mtlb_rewrite_request(const struct mtlb_h1_message *req, const struct mtlb_rewrite_req *rw,
                             char *out, size_t cap);

/* The status to answer when mtlb_rewrite_request failed with err: 431 for -ENOSPC (the head
 * grew past the limit), 400 for -EBADMSG (the policy refused a field), 500 otherwise (an
 * identity value that cannot be sent safely: mtlb's fault, not the client's). */
int mtlb_rewrite_status(ssize_t err);

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
