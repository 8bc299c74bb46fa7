/* Route identity policy: a route's require: conditions (struct mtlb_require_cfg) compiled once
 * per configuration snapshot and checked against a connection's struct mtlb_identity per
 * request. Pure module: no I/O, no logging, no allocation in the check. */
#ifndef MTLB_REQUIRE_H
#define MTLB_REQUIRE_H

#include "mtlb/config.h"
#include "mtlb/identity.h"

struct mtlb_require;

/* Compiles cfg (read by the config module, already normalized) into *out, which owns copies of
 * everything it needs: cfg may be freed afterwards. Returns 0, -EINVAL (a regular expression
 * regcomp refuses, a malformed fingerprint; the config reader reports these first, so only a
 * hand-made cfg gets here) or -ENOMEM; *out is NULL on failure. Any thread. */
int mtlb_require_compile(const struct mtlb_require_cfg *cfg, struct mtlb_require **out);

/* Checks id against r. Returns NULL when every condition holds, else the reason token of the
 * first that fails, in this fixed order: "verify", "subject", "issuer", "san", "fingerprint",
 * "serial" (a static string, e.g. for the access log's "denied"). Semantics:
 * - verify: id->verify is one of the listed outcomes. Without a verify: key, any outcome when
 *   the policy has no certificate condition, else only SUCCESS (the fields of a FAILED
 *   certificate are the client's choice; write verify: [SUCCESS, FAILED] to accept them, e.g.
 *   to pin self-signed certificates by fingerprint).
 * - subject / issuer: regexec (POSIX extended) finds a match in the DN as the identity holds it
 *   (headers.dn_format). No implicit anchors: "CN=a" matches "/O=x/CN=abc"; write ^...$.
 * - san: each present list (san_dns, san_uri, san_email) has an entry equal to one of the
 *   certificate's SANs of that type. DNS: ASCII case-insensitive; "*.example.com" matches
 *   exactly one extra label of letters, digits, '-' or '_' (not "example.com", not
 *   "a.b.example.com", not a certificate's own "*.example.com"). URI: byte-exact. email: the
 *   local part byte-exact, the domain after the last '@' case-insensitive. The SANs are read
 *   from id->san (the runtime always adds them), decoding its escapes, so a value that holds
 *   ", " or a NUL byte stays one value and never matches a shorter name. id->san NULL (no
 *   extension, not asked for, or over MTLB_IDENTITY_SAN_MAX) fails a SAN condition.
 * - fingerprint: id->fingerprint equals one of the listed SHA-256 fingerprints.
 * - serial: id->serial equals one of the listed serials.
 * A condition on a field the identity lacks (no certificate) fails. Any number of threads may
 * check one r at once, but glibc's regexec holds a lock per compiled pattern while it runs, so
 * workers checking one shared r with subject/issuer contend on it: an owner that checks on
 * many workers can compile one r per worker. No allocation; about 8 KiB of stack for SANs. */
const char *mtlb_require_check(const struct mtlb_require *r, const struct mtlb_identity *id);

/* The reasons of a refusal, in the order mtlb_require_check tries the conditions: indexes for
 * counters (the reason label of mtlb_requests_denied_total). */
enum mtlb_require_reason {
    MTLB_REQUIRE_VERIFY = 0,
    MTLB_REQUIRE_SUBJECT,
    MTLB_REQUIRE_ISSUER,
    MTLB_REQUIRE_SAN,
    MTLB_REQUIRE_FINGERPRINT,
    MTLB_REQUIRE_SERIAL,
    MTLB_REQUIRE_REASONS,
};

/* mtlb_require_check as an index: -1 when every condition holds, else the enum
 * mtlb_require_reason of the first that fails (the same one mtlb_require_check names). Same
 * threads and costs. */
int mtlb_require_eval(const struct mtlb_require *r, const struct mtlb_identity *id);

/* The token of r ("verify", "subject", "issuer", "san", "fingerprint", "serial"; a static
 * string), "" out of range. */
const char *mtlb_require_reason_name(enum mtlb_require_reason r);

/* Frees r (NULL is fine). */
void mtlb_require_free(struct mtlb_require *r);

#endif
