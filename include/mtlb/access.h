/* The access log's record of one exchange (an HTTP/1.1 request or an HTTP/2 stream): what is
 * learnt while it runs and written in its line at the end (access.c). Embedded in the client
 * and in each HTTP/2 stream's exchange; worker-owned. */
#ifndef MTLB_ACCESS_H
#define MTLB_ACCESS_H

#include <stdbool.h>
#include <stdint.h>

#include "mtlb/common.h"
#include "mtlb/h1.h"
#include "mtlb/request_id.h"

#define MTLB_ACCESS_UA_MAX 255 /* user agent bytes kept; a longer one is cut and marked */

struct mtlb_access_rec {
    char request_id[MTLB_REQUEST_ID_MAX + 1]; /* "" until the request is known */
    char user_agent[MTLB_ACCESS_UA_MAX + 1];
    bool user_agent_cut;
    uint64_t bytes_in;      /* request body bytes received from the client */
    int64_t up_connect_us;  /* -1: no connection made; 0: a pooled one was reused */
    uint64_t up_sent_at;    /* us: the request head started towards the backend; 0: not yet */
    int64_t up_response_us; /* -1: no response head received */
    char route[64];         /* "route": the route's name or index; "" when none matched */
    const char *denied;     /* "denied": why a route's require refused (static), or NULL */
};

struct mtlb_worker;
struct mtlb_client;
struct mtlb_upstream;

/* Empties r (no id, no timings): called once per exchange after its line is written. */
void mtlb_access_rec_reset(struct mtlb_access_rec *r);

/* When a request head is complete: picks its id (the client's well-formed X-Request-Id or the
 * worker's next generated one, mtlb_request_id_pick) and keeps its User-Agent. The same for
 * HTTP/1.1 and HTTP/2; worker thread. */
void mtlb_access_rec_start(struct mtlb_access_rec *r, struct mtlb_worker *w,
                           const struct mtlb_h1_message *req);

/* A backend answered: upstream_response_ms is from the head's first write to now (us). */
void mtlb_access_rec_response(struct mtlb_access_rec *r, uint64_t now_us);

/* Writes one access line: the connection's TLS facts and identity, then the exchange's. `error`
 * (an enum mtlb_up_error) is written as "error" only on a status of 500 or more;
 * MTLB_UPE_NONE writes nothing. rec without a request id gets a generated one. */
void mtlb_access_log_line(struct mtlb_client *c, int status, uint64_t bytes, uint64_t started_ms,
                          const struct mtlb_upstream *up, struct mtlb_slice method,
                          struct mtlb_slice path, const char *proto, int error,
                          struct mtlb_access_rec *rec);
/* The access line of c's HTTP/1.1 exchange that just ended (with c->status), named by its
 * request line once that was read; counts it and resets c->rec for the next request. */
void mtlb_access_log_exchange(struct mtlb_client *c);

#endif
