/* Request authorities (Host, the authority of an absolute-form target, HTTP/2 :authority):
 * parsed, checked and normalized by one function, so that the 421 check and the Host the
 * backend receives are the same name whatever the spelling.
 * Pure module: no I/O, no logging, no allocation. */
#ifndef MTLB_AUTHORITY_H
#define MTLB_AUTHORITY_H

#include <stdbool.h>
#include <stddef.h>

#include "mtlb/common.h"
#include "mtlb/h1.h"

#define MTLB_AUTHORITY_HOST_MAX 255

/* A normalized authority. */
struct mtlb_authority {
    /* NUL-terminated, host_len bytes: a name in lower case without its trailing dot, an IPv4
     * address as given, or an IP literal with its brackets ("[::1]", hex digits lower-cased).
     * Empty only for an HTTP/1.0 request without Host (mtlb_authority_from_request). */
    char host[MTLB_AUTHORITY_HOST_MAX + 1];
    size_t host_len;
    int port; /* 0..65535, or -1 when absent (an empty port "host:" counts as absent) */
};

/* Parses an authority as found in Host, an absolute-form target or :authority:
 * host [":" port] (RFC 3986 section 3.2, RFC 9110 section 7.2).
 *   - host: a name of ALPHA, DIGIT, "-", ".", "_", "~" (so also IPv4 addresses), or an IPv6
 *     literal "[" HEXDIG / ":" / "." "]"; lower-cased; one trailing dot removed;
 *   - port: decimal digits, at most 5, at most 65535; "host:" is taken as no port.
 * Returns 0, or -EINVAL for: an empty host (also "" and "."), userinfo (any "@"),
 * percent-encoding, sub-delims or any other byte outside the sets above, an empty label
 * ("a..b", ".a", "a.." after the one dot removed), a host over MTLB_AUTHORITY_HOST_MAX bytes,
 * a bad IP literal (IPvFuture, zone identifiers, no ":", unclosed, anything after "]" but a
 * port), a bad port. *out is only meaningful on 0. Any thread. */
int mtlb_authority_parse(struct mtlb_slice in, struct mtlb_authority *out);

/* The default port of a URI scheme (case-insensitive): 443 for "https", 80 for "http", -1
 * for any other. */
int mtlb_authority_default_port(struct mtlb_slice scheme);

/* Whether two parsed authorities name the same origin: same host and same port, an absent
 * port standing for default_port (RFC 3986 section 6.2.3). */
bool mtlb_authority_same(const struct mtlb_authority *a, const struct mtlb_authority *b,
                         int default_port);

/* What a request resolves to: the authority it is for and the target to send onwards. */
struct mtlb_authority_request {
    struct mtlb_authority authority; /* the Host the backend receives */
    struct mtlb_slice target;        /* origin form (or "*"): into the request or static */
    bool slash;                      /* write "/" before target (absolute form "http://h?q") */
};

/* Resolves the authority of a parsed request (mtlb_h1_parse_request, or the HTTP/1.1 view of
 * an HTTP/2 request from mtlb_h2_request_msg: same rules). The request target decides:
 *   - origin form ("/..."): the authority is Host's;
 *   - "*" (OPTIONS only): Host's;
 *   - absolute form ("http://" or "https://", scheme in any case): the target's authority,
 *     which wins over Host (RFC 9112 section 3.2.2); the target sent on is the path and
 *     query ("/" for an empty path, "*" for OPTIONS with neither path nor query);
 *   - anything else (authority form, other schemes): -EINVAL.
 * Host, when present, must parse (even when the target's authority wins: RFC 9112 section
 * 3.2 makes an invalid Host a 400). No Host: allowed only for HTTP/1.0, and then the
 * authority is the absolute-form target's or empty (host_len 0). Several Host fields, or
 * any authority refused by mtlb_authority_parse: -EINVAL. Returns 0 or -EINVAL; out's
 * target points into req's buffer or static storage. Any thread. */
int mtlb_authority_from_request(const struct mtlb_h1_message *req,
                                struct mtlb_authority_request *out);

#endif
