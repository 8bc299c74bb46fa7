/* Request routing: a listener's ordered routes (listeners[].routes) compiled into a byte trie
 * per host, so that choosing the backend pool of a request costs the length of its path, not
 * the number of rules, while the first route in configuration order that matches still wins.
 * Also the path normalization the rules are matched on and the target rewrite of the route.
 * Pure module: no I/O, no logging; compile on the configuration thread, match on any thread. */
#ifndef MTLB_ROUTE_H
#define MTLB_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "mtlb/common.h"
#include "mtlb/config.h"

struct mtlb_routes;
struct mtlb_require;

/* Normalizes the path part of an origin-form target (in[0..len), without the query) into
 * out[0..cap): percent-encodings of unreserved characters (ALPHA DIGIT - . _ ~) decoded, other
 * percent-encodings kept with upper-case hex digits, "." and ".." segments resolved as RFC 3986
 * section 5.2.4 does (".." above the root stays at the root; a final dot segment leaves a
 * trailing "/"), empty segments ("//") kept. An empty path is "/".
 * Returns the length written, -EINVAL when the path does not start with "/", holds a bad
 * percent-encoding, a control character, space, '#' or a byte above 0x7e, or a segment that
 * an encoded or back slash (%2F, %5C, '\') would split into a dot segment ("..%2F", "%2F.."):
 * a backend that decodes those must not be able to climb out of the matched prefix, or a "." or
 * ".." segment with parameters ("..;x": servlet containers drop them and climb).
 * -ENOSPC when out is too small (len + 1 bytes are always enough). */
ssize_t mtlb_route_normalize(const char *in, size_t len, char *out, size_t cap);

/* Checks one route's path as configured (config reader): 0, or -EINVAL with why[0..cap) a
 * message ("must start with /", "is not normalized: write /x/", for a pattern "needs one
 * {name} segment" ...). */
int mtlb_route_check_path(const struct mtlb_route_cfg *r, char *why, size_t cap);

/* Compiles routes[0..n) (listener l's, pools resolved; a pattern's backend template resolved
 * against backends[0..n_backends) by name at match time) and their require: policies
 * (mtlb_require_compile). 0 and *out (free with mtlb_route_destroy; n == 0 gives a valid empty
 * table), -ENOMEM or -EINVAL (a path mtlb_route_check_path refuses, a bad require). The structure
 * keeps pointers to routes' strings and to backends' names: it must not outlive them (the snapshot
 * owns both). */
int mtlb_route_compile(const struct mtlb_route_cfg *routes, size_t n,
                       const struct mtlb_backend_cfg *backends, size_t n_backends,
                       struct mtlb_routes **out);
void mtlb_route_destroy(struct mtlb_routes *rt);

/* What mtlb_route_match decided. */
struct mtlb_route_result {
    int status;  /* 0: send to pool; 400 (target not origin form), 404 (no route, no pool) */
    size_t pool; /* valid when status is 0 */
    int route;   /* index of the route that matched, -1 for the default pool or none */
    const struct mtlb_route_cfg *cfg;   /* the route that matched, or NULL */
    const struct mtlb_require *require; /* its compiled require: (mtlb/require.h), or NULL */
    /* 404 only: "no_route" (nothing matched, no default pool) or "unknown_pool" (a pattern
     * named a pool that does not exist; pool_name says which, NUL-terminated, cut to fit). */
    const char *reason;
    char pool_name[64];
    bool rewritten;           /* target below is a new one in buf */
    struct mtlb_slice target; /* rewritten: path and query as sent on, in buf */
};

/* Routes one request: host is the request's normalized authority host (lower case, no
 * trailing dot; "" when none), target the origin-form target as received (path and query;
 * slash: write "/" before it, as struct mtlb_authority_request says), default_pool the pool
 * of the domain or listener (MTLB_ROUTE_NO_POOL: none). The path is normalized
 * (mtlb_route_normalize) and matched; the query is never matched. A target of "*" matches no
 * route. The match is on a key made from the normalized path: each segment's parameters
 * (";..." to the next '/') left out, runs of '/' merged, and a final '/' added when the key has
 * none, which only prefixes and patterns see ("/admin/" matches "/admin"; an exact "/admin/"
 * does not). The matched route's strip_prefix / rewrite_prefix replace the matched part of the
 * normalized path (the rest stays normalized, the query as received) into buf[0..cap)
 * (target.len + rewrite_prefix length + 2 bytes are enough; too small gives 400... never with
 * that size). Without a rewrite the target is left to the caller's bytes, unchanged.
 * Returns res->status. rt NULL: no routes. Any thread; rt is read only. */
int mtlb_route_match(const struct mtlb_routes *rt, const char *host, struct mtlb_slice target,
                     bool slash, size_t default_pool, char *buf, size_t cap,
                     struct mtlb_route_result *res);

/* Bytes of buf mtlb_route_match needs for a target of target_len bytes. */
size_t mtlb_route_buf_size(const struct mtlb_routes *rt, size_t target_len);

/* Configuration warnings (mtlb -t): calls warn(arg, i, msg) for each route i that can never
 * match (a prefix or exact path that an earlier prefix on the same host covers, with the same
 * require policy; a repeated exact path) or that overlaps an earlier one. Returns the count. */
size_t mtlb_route_lint(const struct mtlb_route_cfg *routes, size_t n,
                       void (*warn)(void *arg, size_t i, const char *msg), void *arg);

#endif
