/* The HTTP/1.1 protocol of a client connection (client.c: requests, mtlb_h1_proto; response.c:
 * the backend side of its exchange), and the request checks shared with the HTTP/2 streams.
 * Its transport and life: transport.h. Worker thread only. */
#ifndef MTLB_H1_CLIENT_H
#define MTLB_H1_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "mtlb/authority.h"
#include "mtlb/exchange.h"
#include "mtlb/h1.h"
#include "mtlb/rewrite.h"

struct mtlb_client;
struct mtlb_proto_ops;

/* The HTTP/1.1 protocol (client.c), chosen when ALPN did not agree on h2. */
extern const struct mtlb_proto_ops mtlb_h1_proto;

/* Answers the request in flight with an error page of `status` and closes (response.c). */
void mtlb_client_fail(struct mtlb_client *c, int status);
/* A route's refusal (403 by policy, 404 no route or pool; response.c): the same page, then the
 * next request as after any response, the connection closed only when the request asked for
 * it or left a body unread (a new mTLS handshake for every refused request would cost the
 * client far more than the refusal). */
void mtlb_client_refuse(struct mtlb_client *c, int status);
/* A plain listener's http: redirect (response.c): answers the request in flight with 301 to
 * https://HOST[:https_port]/path?query, HOST and the target as ar resolved them (port omitted
 * when 443), a short body (none for HEAD), then the next request as after any response
 * (Connection: close when the request asked for it or had a body). 400 when ar has no host
 * (HTTP/1.0 without Host) or the target is "*". */
void mtlb_client_redirect(struct mtlb_client *c, const struct mtlb_authority_request *ar,
                          uint16_t https_port);
/* Response bytes arrived in the backend connection's rbuf: relay what the client can take. */
void mtlb_client_on_upstream_data(struct mtlb_client *c);
/* c is being aborted (response.c): a body splice in flight posts nothing more and ends at its
 * next completion. */
void mtlb_client_splice_stop(struct mtlb_client *c);
/* ---- zero-copy request bodies (splice_req.c) ---- */
/* At the head: may the rest of this request's body go by splice (splice.h's rule; not with
 * `Expect: 100-continue`)? Sets c->req_spl_plan; while it is set no client read is posted. */
void mtlb_client_req_splice_plan(struct mtlb_client *c);
/* From the body pump once all that was read went to the backend: true while the splice path
 * owns the body (the relay runs, or a read in flight must land first), false to read and copy
 * (not planned, an HTTPS backend, no pipe: the plan is dropped). */
bool mtlb_client_req_splice_try(struct mtlb_client *c);
/* Drops the plan and stops a relay (it ends at its next completion, into nothing). */
void mtlb_client_req_splice_stop(struct mtlb_client *c);
/* Planned or running: the client's input belongs to the relay. */
bool mtlb_client_req_splice_owns_input(const struct mtlb_client *c);
/* The exchange ended (response relayed or failed): log it, then the next request or close. */
void mtlb_client_exchange_done(struct mtlb_client *c);
/* The HTTP/1.1 side of c's exchange (response.c), given to mtlb_exchange_init. */
extern const struct mtlb_exchange_ops mtlb_client_exchange_ops;

/* ---- shared by the HTTP/1.1 and HTTP/2 relays (routing.c) ---- */
/* Resolves req's authority and target (mtlb_authority_from_request) into *ar and applies the
 * 421 rule (mtlb_tls_misdirected) to it: 0 to go on (ar then holds the Host and target the
 * backend must receive), 400 for a request whose authority is refused, 421 for one that names
 * a domain verifying clients differently from c's. The one check for HTTP/1.1 and HTTP/2. */
int mtlb_client_authority(const struct mtlb_client *c, const struct mtlb_h1_message *req,
                          struct mtlb_authority_request *ar);
/* True when a reload changed how c's domain verifies clients since c's handshake (trust
 * material, mode, depth or EKU rule; a client without a certificate only by the mode): every
 * request of c is refused with 421, so the relays end the connection after that answer. */
bool mtlb_client_trust_stale(const struct mtlb_client *c);
/* What mtlb_rewrite_request needs for one of c's requests (HTTP/1.1 or an HTTP/2 stream): c's
 * verified identity and address, the configured header policy and ar, the authority resolved
 * by mtlb_client_authority. The result refers to c and ar: use it while both live. */
struct mtlb_rewrite_req mtlb_client_rewrite_req(const struct mtlb_client *c,
                                                const struct mtlb_authority_request *ar);
/* Everything decided about one of c's requests before its exchange (routing.c): the authority
 * and the 421 rule (mtlb_client_authority), the route of snap's listener routes (route.h;
 * no match: the SNI domain's backend, else the listener's, else 404), the route's require:
 * against c's identity (403, rec->denied says why), and the head to send
 * (mtlb_rewrite_request with the route's target) into out[0..cap). rec gets the route label
 * (its request id must be picked already). Returns 0 with *pool and *len, or the status to
 * answer (400, 403, 404, 421, 431, 500); *pool is always an index mtlb_exchange_begin accepts.
 * *body_limit: the request's body limit (the route's limits.max_body_bytes, else the
 * listener's; 0: none), set whatever the outcome. snap: the one whose pools the exchange uses. */
struct mtlb_snapshot;
struct mtlb_access_rec;
int mtlb_client_prepare(struct mtlb_client *c, const struct mtlb_h1_message *req,
                        const struct mtlb_snapshot *snap, struct mtlb_access_rec *rec, char *out,
                        size_t cap, size_t *pool, size_t *len, uint64_t *body_limit);

#endif
