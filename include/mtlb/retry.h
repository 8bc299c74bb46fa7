/* When a request may be sent again after its backend connection failed: the one rule that
 * the HTTP/1.1 and the HTTP/2 exchanges both apply (README "Proxying behaviour").
 * Pure module: no I/O, no logging, no state; any thread. */
#ifndef MTLB_RETRY_H
#define MTLB_RETRY_H

#include <stdbool.h>

#include "mtlb/common.h"

/* How far the exchange with one backend connection got before it failed. */
enum mtlb_retry_stage {
    /* Connect refused, unreachable or timed out: nothing was sent. */
    MTLB_RETRY_CONNECT_FAILED = 0,
    /* Connected, but the connection failed (reset, EOF, send error) before any byte of this
     * request was written to it: the backend cannot have read the request. */
    MTLB_RETRY_NOT_WRITTEN,
    /* Some or all of the request was written (or a write was in flight) on a new
     * connection, and it closed before any response byte: the backend itself failed on it. */
    MTLB_RETRY_WRITTEN,
    /* The same on a connection reused from the idle pool: a backend that closed the idle
     * connection without reading is indistinguishable from one that processed the request
     * and then died. */
    MTLB_RETRY_WRITTEN_REUSED,
    /* Response bytes (even a 1xx) arrived: the backend has the request. */
    MTLB_RETRY_RESPONDED,
};

/* True for the methods RFC 9110 9.2.2 defines as idempotent: GET, HEAD, OPTIONS, TRACE, PUT,
 * DELETE. Methods are case-sensitive (RFC 9110 9.1): "get" and unknown methods are not. */
bool mtlb_retry_idempotent(struct mtlb_slice method);

/* May the request be sent again on another connection? `body_held` says the whole request
 * body received so far is still buffered (nothing of it was discarded after being written).
 * - CONNECT_FAILED, NOT_WRITTEN: yes, whatever the method (the backend never saw it; the
 *   caller keeps everything until a write succeeds, so nothing is missing);
 * - WRITTEN_REUSED: only an idempotent method with body_held;
 * - WRITTEN, RESPONDED: never (a backend that dies on a fresh connection is not sent the
 *   same request again; one that started answering has it). */
bool mtlb_retry_allowed(struct mtlb_slice method, enum mtlb_retry_stage stage, bool body_held);

#endif
