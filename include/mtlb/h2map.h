/* Mapping between HTTP/2 header lists and HTTP/1.1 messages for the HTTP/2 front end
 * (backends speak HTTP/1.1). Pure module: no I/O, no logging, no allocation; every output
 * points into the caller's buffers. */
#ifndef MTLB_H2MAP_H
#define MTLB_H2MAP_H

#include <stdbool.h>
#include <sys/types.h>

#include <nghttp2/nghttp2.h>

#include "mtlb/h1.h"
#include "mtlb/rewrite.h"

/* One header field of an HTTP/2 request as nghttp2 delivered it (names are lower case and
 * already validated by nghttp2; pseudo-header fields come first). */
struct mtlb_h2_field {
    struct mtlb_slice name;
    struct mtlb_slice value;
};

/* Builds the HTTP/1.1 view of an HTTP/2 request so that mtlb_rewrite_request can write the
 * head sent to the backend. f[0..n) are the request's fields in arrival order.
 *   - method and target come from :method and :path; :scheme is checked to be present;
 *   - Host: the :authority value becomes a "host" header entry placed first; a "host" field
 *     is used only when there is no :authority (RFC 9113 section 8.3.1);
 *   - several "cookie" fields are joined with "; " into one entry (RFC 9113 section 8.2.3),
 *     written into scratch;
 *   - body framing: end_stream true means no body (MTLB_BODY_NONE); otherwise a valid
 *     "content-length" gives MTLB_BODY_LENGTH with content_length, and without one the body
 *     is MTLB_BODY_CHUNKED and a "transfer-encoding: chunked" entry is appended (the relay
 *     chunk-encodes DATA frames towards the backend);
 *   - minor_version 1, keep_alive true; other fields of msg as mtlb_h1_parse_request leaves
 *     them for a request without Expect/Upgrade ("expect: 100-continue" is dropped: HTTP/2
 *     relays bodies as they come);
 *   - msg->headers is caller storage of msg->max_headers entries (set both before calling).
 * Returns 0, -EINVAL when a pseudo-header is missing or repeated, or CONNECT is asked
 * (-ENOTSUP), -ENOSPC when headers or scratch are too small. Entries point into f's bytes,
 * scratch, or static strings.
 * Additions (all -EINVAL, the request is malformed; answer 400 / reset the stream):
 *   - a pseudo-header after a regular field, or one other than :method, :path, :scheme,
 *     :authority (so :status and :protocol too);
 *   - :method or :scheme not a token; :path empty, with a byte the HTTP/1.1 request line
 *     cannot carry (CTL, SP, DEL), or not starting with "/" (except "*" for OPTIONS);
 *   - :authority or "host" refused by mtlb_authority_parse (userinfo, bad bytes, empty...);
 *     both present but naming different origins (mtlb_authority_same, absent port = the
 *     :scheme's default); neither present (the backend needs Host); several "host" fields;
 *   - a name that is not a lower-case token, or a value with a CTL other than HTAB or DEL;
 *   - connection-specific fields (connection, keep-alive, proxy-connection,
 *     transfer-encoding, upgrade: RFC 9113 section 8.2.2), "te" other than "trailers";
 *   - content-length not plain decimal digits (or over INT64_MAX), given twice, or above 0
 *     with end_stream.
 * On success headers[0] is always the "host" entry, as received: mtlb_authority_from_request
 * resolves it for the 421 check and the Host the backend is sent.
 * A content-length of 0 without end_stream gives MTLB_BODY_NONE with content_length 0, as
 * mtlb_h1_parse_request does (MTLB_BODY_LENGTH always has content_length > 0); the entry is
 * forwarded. A single "cookie" field is pointed to, not copied. "te: trailers" is dropped. */
int mtlb_h2_request_msg(const struct mtlb_h2_field *f, size_t n, bool end_stream,
                        struct mtlb_h1_message *msg, char *scratch, size_t cap);

/* Response head for HTTP/2: ":status" first (its 3 digits written into scratch), then every
 * header of resp except the hop-by-hop ones (Connection and every header it names,
 * Keep-Alive, Proxy-Connection, TE, Upgrade, Transfer-Encoding), names lowercased into
 * scratch. Content-Length is kept. Values point into resp's buffer. Flags are
 * NGHTTP2_NV_FLAG_NONE. Returns the number of entries, or -ENOSPC (nva or scratch full).
 * Additions: Content-Length is kept even when Connection names it (as mtlb_rewrite_response);
 * a status outside 100..999 gives -EINVAL. */
ssize_t mtlb_h2_response_nv(const struct mtlb_h1_message *resp, nghttp2_nv *nva, size_t max,
                            char *scratch, size_t cap);

/* Trailer fields for HTTP/2 from an HTTP/1.1 chunked trailer section (field lines, each
 * ending in CRLF, as mtlb_h1_chunked_next reports them; already validated by the scanner).
 * Names lowercased into scratch, values without surrounding whitespace; hop-by-hop fields and
 * the ones not allowed in trailers (Content-Length, Transfer-Encoding, Host, TE, Connection,
 * Keep-Alive, Proxy-Connection, Upgrade) are dropped. Returns the count or -ENOSPC.
 * Addition: a block that is not a sequence of "name:value\r\n" lines (no colon, a name that is
 * not a token, a last line without CRLF) gives -EINVAL. */
ssize_t mtlb_h2_trailer_nv(const char *block, size_t len, nghttp2_nv *nva, size_t max,
                           char *scratch, size_t cap);

/* Writes the last chunk and trailer section for the backend from HTTP/2 request trailers:
 * "0\r\n" then "name: value\r\n" for each field that mtlb_rewrite_trailer_field keeps under
 * policy (pseudo-headers, protected names in any spelling, hop-by-hop and framing fields, and
 * names with "_" unless the policy passes them are dropped), then "\r\n". Returns the length
 * or -ENOSPC. Values with
 * CR, LF or NUL are refused with -EINVAL (nghttp2 already refuses them; belt and braces).
 * Addition: so are values with any other CTL but HTAB, or DEL (the HTTP/1.1 parser refuses
 * them), and names that are not lower-case tokens (they could break the line too). */
ssize_t mtlb_h2_trailer_block(const struct mtlb_h2_field *f, size_t n,
                              const struct mtlb_header_policy *policy, char *out, size_t cap);

/* The same with mtlb_rewrite_trailer_verdict: a configured opt-in identity name of `names`
 * (NULL: none) is dropped as well, in any spelling. */
ssize_t mtlb_h2_trailer_block_named(const struct mtlb_h2_field *f, size_t n,
                                    const struct mtlb_header_policy *policy,
                                    const struct mtlb_id_names *names, char *out, size_t cap);

#endif
