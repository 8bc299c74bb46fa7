/* The retry rule: whether a request may go to a backend again after its connection failed,
 * from the method, how far the exchange got and whether the body is still held. Shared by
 * the HTTP/1.1 and HTTP/2 exchanges. Pure: no I/O, no logging, no state. */
#include <string.h>

#include "mtlb/retry.h"

bool mtlb_retry_idempotent(struct mtlb_slice method)
{
    static const char *const idempotent[] = {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"};

    for (size_t i = 0; i < MTLB_ARRAY_LEN(idempotent); i++) {
        if (method.len == strlen(idempotent[i]) &&
            memcmp(method.p, idempotent[i], method.len) == 0) {
            return true;
        }
    }
    return false;
}

bool mtlb_retry_allowed(struct mtlb_slice method, enum mtlb_retry_stage stage, bool body_held)
{
    switch (stage) {
    case MTLB_RETRY_CONNECT_FAILED:
    case MTLB_RETRY_NOT_WRITTEN:
        return true;
    case MTLB_RETRY_WRITTEN_REUSED:
        /* The stale-pool race: worth a second try only when a repeat is harmless. */
        return body_held && mtlb_retry_idempotent(method);
    case MTLB_RETRY_WRITTEN:
    case MTLB_RETRY_RESPONDED:
    default:
        return false;
    }
}
