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

/* The opt-in identity headers (headers.client_cert, client_san, fingerprint). */
enum mtlb_id_header {
    MTLB_IDH_CERT = 0,    /* the leaf as URL-encoded PEM (mtlb_identity.cert_escaped) */
    MTLB_IDH_SAN,         /* its subject alternative names (mtlb_identity.san) */
    MTLB_IDH_FINGERPRINT, /* SHA-256 of its DER, hex (mtlb_identity.fingerprint) */
    MTLB_IDH_COUNT,
};
#define MTLB_IDH_NAME_MAX 64 /* longest name accepted for one of them */

/* How client header and trailer fields are filtered; the zero value is the default. */
struct mtlb_header_policy {
    enum mtlb_underscores underscores;
    bool forward_trailers; /* headers.request_trailers: forward (true) or drop (false) */
};

/* The name each opt-in identity header is sent under (headers.client_cert, client_san,
 * fingerprint); "" (the zero value, the default): not sent. A configured name is protected
 * as the built-in ones are: every client copy, in any spelling, is dropped. */
struct mtlb_id_names {
    char name[MTLB_IDH_COUNT][MTLB_IDH_NAME_MAX + 1];
};

/* What filters a trailer section (mtlb_rewrite_trailer_filter_rules' argument). */
struct mtlb_trailer_rules {
    const struct mtlb_header_policy *policy; /* NULL: the defaults */
    const struct mtlb_id_names *names;       /* NULL: none configured */
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
    const struct mtlb_id_names *id_names; /* opt-in identity headers; NULL: none */
};

/* Protected names: every name that, with "_" read as "-" and in any letter case, starts with
 * "x-ssl" or "x-forwarded-", or is "x-real-ip", "forwarded" or "x-request-id". A client copy
 * of any of them is a forgery at the edge (or, for X-Request-Id, replaced by the one value
 * mtlb logs); they are always dropped, whatever the policy. */
bool mtlb_rewrite_is_protected(struct mtlb_slice name);

/* Why `name` cannot be the name of opt-in identity header `which` (the other names of
 * `names`, which may be NULL, are compared with it), or NULL when it can: it must
 * be 1..MTLB_IDH_NAME_MAX token characters (RFC 9110 section 5.6.2), and, with "_" read as "-" and
 * in any letter case, neither a name mtlb writes itself (X-SSL-Client-Verify, X-SSL-Client-DN,
 * X-SSL-Issuer, X-SSL-Client-Serial), nor a forwarding name (X-Forwarded-*, Forwarded, X-Real-IP,
 * X-Request-Id), nor Host or a hop-by-hop or framing field, nor another configured id name.
 * Pure; any thread (config loading). */
const char *mtlb_rewrite_check_id_name(const struct mtlb_id_names *names, enum mtlb_id_header which,
                                       const char *name);

/* The MTLB_IDENTITY_* extras the identity must carry for the configured names (the
 * fingerprint is always there). Pure. */
unsigned mtlb_rewrite_id_extras(const struct mtlb_id_names *names);

/* Bytes a request head needs for the configured opt-in identity headers at their longest
 * (MTLB_IDENTITY_*_MAX): the room to keep beside the client's own head. Pure. */
size_t mtlb_rewrite_id_room(const struct mtlb_id_names *names);

/* The verdict for a field a client sent in a trailer section: DROP for protected names, for
 * hop-by-hop and framing fields (Connection, Keep-Alive, Proxy-Connection, TE, Upgrade,
 * Transfer-Encoding, Content-Length, Host, Trailer), and for names with "_" unless the
 * policy is MTLB_US_PASS (MTLB_US_REJECT acts as DROP here: the head is already forwarded);
 * KEEP otherwise. policy NULL: the defaults. Pure; any thread. */
enum mtlb_field_verdict mtlb_rewrite_trailer_field(struct mtlb_slice name,
                                                   const struct mtlb_header_policy *policy);

/* The same, and DROP too for a configured opt-in identity name of `names` (NULL: none) in
 * any spelling. Pure; any thread. */
enum mtlb_field_verdict mtlb_rewrite_trailer_verdict(struct mtlb_slice name,
                                                     const struct mtlb_header_policy *policy,
                                                     const struct mtlb_id_names *names);

/* The same as an mtlb_h1_trailer_filter for mtlb_h1_chunked_relay: 1 to keep, 0 to drop;
 * policy is a const struct mtlb_header_policy * (NULL: the defaults). */
int mtlb_rewrite_trailer_filter(struct mtlb_slice name, void *policy);
/* The same with mtlb_rewrite_trailer_verdict: rules is a const struct mtlb_trailer_rules *. */
int mtlb_rewrite_trailer_filter_rules(struct mtlb_slice name, void *rules);

/* Writes the request head to send to a backend into out[0..cap): the request line with the
 * method as received, rw->target's target (origin form, even when the client sent the
 * absolute form) and HTTP/1.1 (always, towards the backend), then "Host:" with rw->target's
 * normalized authority (host[:port]; empty only for an HTTP/1.0 request that had none), then
 * every client header except
 *   - Host (every client copy: the one written above replaces it);
 *   - hop-by-hop ones: Connection and every header it names, Keep-Alive, Proxy-Connection,
 *     TE, Upgrade, Trailer is kept (end-to-end) unless trailers are dropped by the policy;
 *   - protected names (mtlb_rewrite_is_protected: any case, "_" for "-"), and the names of
 *     rw->id_names in the same spellings;
 *   - names holding "_", per rw->policy (dropped by default; MTLB_US_REJECT gives -EBADMSG);
 *   - Content-Length and Transfer-Encoding as the client wrote them: the framing is written
 *     from the parsed message instead, "Transfer-Encoding: chunked" for MTLB_BODY_CHUNKED,
 *     "Content-Length: N" (decimal, no leading zero) when a Content-Length was given;
 * then X-SSL-Client-Verify (always), X-SSL-Client-DN, X-SSL-Issuer, X-SSL-Client-Serial
 * (when a certificate was presented), then, each under its configured name and only when
 * the identity has a value for it, the opt-in fingerprint, SAN and certificate headers, then
 * X-Forwarded-For, X-Real-IP, X-Forwarded-Proto, X-Request-Id (when rw->request_id is not NULL).
 * An HTTP/1.0 request without a body framing keeps its (lack of) body.
 * Returns the length written, -ENOSPC if it does not fit, -EBADMSG when the policy rejects a
 * name with "_" (answer 400), -E2BIG when a configured opt-in header's value was left out of
 * the identity for exceeding its limit (mtlb_identity.oversize: answer 431, never a truncated
 * or silently missing header).
 * Addition: -EINVAL when an added value (identity strings, client_ip, proto, request_id) holds
 * a control character, so that nothing can inject a field. client_ip or proto NULL: that field
 * is omitted. Each identity string is written only when non-NULL.
 * Host is written from the resolved authority (never the client's copy), and the framing
 * written is the one the proxy used to delimit the body (anything else would desynchronise it
 * with the backend). */
ssize_t mtlb_rewrite_request(const struct mtlb_h1_message *req, const struct mtlb_rewrite_req *rw,
                             char *out, size_t cap);

/* The status to answer when mtlb_rewrite_request failed with err: 431 for -ENOSPC (the head
 * grew past the limit) and -E2BIG (an identity header too large to send), 400 for -EBADMSG (the
 * policy refused a field), 500 otherwise (an identity value that cannot be sent safely: mtlb's
 * fault, not the client's). */
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
