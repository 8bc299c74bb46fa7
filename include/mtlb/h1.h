/* HTTP/1.1 message parsing: stateless, zero-copy, strict (RFC 9112).
 * Pure module: no I/O, no logging, no allocation. All slices point into the caller's buffer. */
#ifndef MTLB_H1_H
#define MTLB_H1_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "mtlb/common.h"

struct mtlb_h1_header {
    struct mtlb_slice name;
    struct mtlb_slice value; /* leading/trailing OWS removed */
};

enum mtlb_h1_body {
    MTLB_BODY_NONE = 0,   /* no body follows the head */
    MTLB_BODY_LENGTH,     /* content_length bytes follow */
    MTLB_BODY_CHUNKED,    /* chunked coding follows; use mtlb_h1_chunked_scan */
    MTLB_BODY_UNTIL_CLOSE /* responses only: body ends when the server closes */
};

/* Filled by the parsers. `headers` is caller-owned storage of `max_headers` entries. Fields
 * are grouped by size, not only by role, so that the struct has no holes: it is embedded twice
 * in every client connection (the request, and the exchange's response head). */
struct mtlb_h1_message {
    /* request line */
    struct mtlb_slice method;
    struct mtlb_slice target;
    /* status line */
    struct mtlb_slice reason;
    int status;
    int minor_version; /* 0 or 1 */

    struct mtlb_h1_header *headers;
    size_t max_headers; /* in: capacity of headers */
    size_t num_headers; /* out */

    /* framing and connection semantics derived from the headers */
    uint64_t content_length;
    enum mtlb_h1_body body;

    /* on MTLB_INVALID: where and why, and the HTTP status to answer (400, 431, 501, 505) */
    int error_status;
    size_t error_offset;
    const char *error_reason;

    bool keep_alive;      /* HTTP/1.1 without "close", or HTTP/1.0 with "keep-alive" */
    bool expect_continue; /* request had Expect: 100-continue */
    bool upgrade;         /* Upgrade header present (not proxied) */
};

/* Parses a request head from buf[0..len).
 * Returns the head length in bytes (through the final CRLF CRLF), MTLB_INCOMPLETE when more
 * bytes are needed, or MTLB_INVALID with error_* set. Refuses: bare LF or CR, obs-fold,
 * whitespace before the colon, invalid token/field characters, Content-Length together with
 * Transfer-Encoding, several Content-Length headers, a non-numeric or overflowing
 * Content-Length, a Transfer-Encoding other than a final "chunked" (501), more headers than
 * max_headers (431). Any thread; reentrant.
 * Details of the policy (all refusals are 400 unless noted):
 *   - up to two empty lines (CRLF) before the request line are skipped and counted in the
 *     returned length; a third is refused;
 *   - HTTP versions other than 1.0 and 1.1: 505;
 *   - the request target may hold any byte but CTLs, DEL and SP (obs-text passes);
 *   - Host: exactly one in HTTP/1.1, at most one in HTTP/1.0 (RFC 9112 section 3.2);
 *   - Transfer-Encoding: in an HTTP/1.0 message, with an empty list element, or with chunked
 *     applied twice is refused; any coding other than chunked is 501 (requests only);
 *   - Content-Length 0 gives MTLB_BODY_NONE with content_length 0;
 *   - expect_continue is set only for HTTP/1.1 (RFC 9110 section 10.1.1);
 *   - slices and header entries are only meaningful when the return value is >= 0. */
int mtlb_h1_parse_request(const char *buf, size_t len, struct mtlb_h1_message *msg);

/* Where a request head may end, found incrementally so that a head arriving in many small reads
 * is searched once, not from byte 0 on every read (picohttpparser's last_len). *scanned is the
 * caller's state for one head: 0 before the first call, then left as this function set it
 * (every byte before it has been looked at; the bytes of buf must not change between calls).
 * Looks at buf[*scanned .. len), reading up to 3 bytes before *scanned, and returns the length
 * through the first of:
 *   - CR LF CR LF (the end of a head, or of empty lines before the request line);
 *   - an LF not preceded by CR, or a CR followed by anything but LF (mtlb_h1_parse_request
 *     refuses both wherever they appear);
 * and moves *scanned past it, or returns MTLB_INCOMPLETE with *scanned = len. A request head
 * can only become complete, or be refused for its line endings, at such a point: a caller that
 * parses the whole buffer there (and wherever else it wants an early verdict, such as the first
 * bytes) parses a head a bounded number of times whatever the read sizes. Other refusals (a
 * byte the grammar forbids) are found by that parse, not here. Any thread. */
int mtlb_h1_head_end(const char *buf, size_t len, size_t *scanned);

/* Parses a response head. `request_was_head` and the status decide whether a body follows
 * (HEAD, 1xx, 204, 304: none). Without Content-Length or chunked the body is
 * MTLB_BODY_UNTIL_CLOSE. Same return protocol as mtlb_h1_parse_request.
 * Transfer-Encoding whose final coding is not chunked gives MTLB_BODY_UNTIL_CLOSE (RFC 9112
 * section 6.3); keep_alive is false whenever the body is MTLB_BODY_UNTIL_CLOSE. The status
 * line may omit the SP before an empty reason phrase. Content-Length is still validated when
 * no body follows, and content_length is 0 when body is MTLB_BODY_NONE. */
int mtlb_h1_parse_response(const char *buf, size_t len, bool request_was_head,
                           struct mtlb_h1_message *msg);

/* Chunked-body scanner. It does not decode: it finds where a chunked body ends and validates
 * its framing so that the bytes can be forwarded verbatim. Embedded by the caller. */
struct mtlb_h1_chunked {
    uint64_t remaining;  /* data bytes left in the current chunk */
    uint64_t body_bytes; /* total chunk data seen so far (decoded length) */
    uint32_t line_len;   /* bytes seen on the current size or trailer line (at most 4097) */
    int state;
};

void mtlb_h1_chunked_init(struct mtlb_h1_chunked *c);

/* Scans the next len bytes of a chunked body (state carries over between calls).
 * Returns how many bytes of buf belong to the body (== len unless the body ended inside buf),
 * and sets *done when the last chunk and the trailer section are complete. Returns
 * MTLB_INVALID on a bad chunk size (non-hex, overflow past 2^60), a missing CRLF after chunk
 * data, a bare LF, or a size or trailer line over 4096 bytes.
 * Also refused: chunk extensions that are not `;name[=token|quoted-string]` (BWS allowed
 * around ";" and "="), trailer fields with invalid names or values, obs-fold in trailers.
 * After MTLB_INVALID every later call returns MTLB_INVALID; after done, later calls return 0
 * with *done set. Any thread; one scanner per body. */
ssize_t mtlb_h1_chunked_scan(struct mtlb_h1_chunked *c, const char *buf, size_t len, bool *done);

/* Verdict on one trailer field by name for mtlb_h1_chunked_relay: 1 keep, 0 drop, negative
 * to refuse the body. */
typedef int (*mtlb_h1_trailer_filter)(struct mtlb_slice name, void *arg);

/* Canonicalising relay of a chunked body, in place, for relays that forward the body from
 * the buffer it arrived in (HTTP/1.1). Same validation and state as mtlb_h1_chunked_scan (the
 * two may not be mixed on one body). Reads buf[0..len) and writes the body in canonical
 * framing to buf[0..*out_len): each chunk-size line becomes "<hex size, no leading
 * zero>\r\n" (extensions and whitespace dropped), chunk data and its CRLF are copied, trailer
 * field lines are copied verbatim when filter keeps them (filter NULL: all dropped), and the
 * final empty line ends it. The output never outgrows the input: *out_len <= the return value.
 * Returns how many bytes of buf were read, or MTLB_INVALID (bad framing as for the scanner,
 * or the filter refused a field). Bytes at and after the returned count are untouched: an
 * incomplete size, trailer or data-end line is left there, to be passed again with more bytes
 * (so a line never spans two calls), and so are the bytes after the body. *done is set when
 * the body ended in the bytes read; later calls return 0 with *done set. Any thread. */
ssize_t mtlb_h1_chunked_relay(struct mtlb_h1_chunked *c, char *buf, size_t len, size_t *out_len,
                              bool *done, mtlb_h1_trailer_filter filter, void *arg);

/* Decoding walk over a chunked body for relays that need the data without its framing
 * (HTTP/2). Same validation and same state as mtlb_h1_chunked_scan, so the two may not be
 * mixed on one body. Consumes framing bytes from the front of buf[0..len) up to the first
 * byte of chunk data, the end of the body, or the end of buf, and returns how many it
 * consumed, or MTLB_INVALID. Then:
 *   *data_len: how many chunk-data bytes start right after the consumed bytes (at most the
 *     rest of the current chunk and at most what buf holds). They are not consumed: the
 *     caller takes any n <= *data_len of them and reports that with mtlb_h1_chunked_take;
 *   *trailer_len: how many of the consumed bytes are trailer field lines, each with its CRLF
 *     (the final empty line is not counted): the last ones, or when *done the ones right
 *     before the final CRLF;
 *   *done: the body ended within the consumed bytes.
 * A call with data pending (*data_len > 0 last time and not all taken) consumes nothing and
 * reports the data again.
 * Additions: the CR of the final empty line is consumed only together with its LF (when buf
 * ends in that CR it is left unconsumed, to be passed again with more bytes), so when *done
 * the consumed bytes end in that CRLF and the trailer bytes are the *trailer_len bytes just
 * before it; otherwise they are the last *trailer_len consumed bytes. A trailer line may be
 * reported across several calls: the caller concatenates. *done is reported once; later calls
 * return 0 with nothing reported. After MTLB_INVALID every later call returns MTLB_INVALID.
 * mtlb_h1_chunked_take(c, 0) does nothing; taking more than the pending data (a caller bug)
 * makes the walk invalid. */
ssize_t mtlb_h1_chunked_next(struct mtlb_h1_chunked *c, const char *buf, size_t len,
                             size_t *data_len, size_t *trailer_len, bool *done);
void mtlb_h1_chunked_take(struct mtlb_h1_chunked *c, size_t n);

/* A Content-Length value: digits only (no sign, list or inner whitespace), at most INT64_MAX.
 * Returns false otherwise. */
bool mtlb_h1_parse_length(struct mtlb_slice v, uint64_t *out);

/* Case-insensitive comparison of a slice with a NUL-terminated lower-case name. */
bool mtlb_h1_name_is(struct mtlb_slice name, const char *lower);

#endif
