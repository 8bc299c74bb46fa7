/* The answer of a plain listener that does not proxy (http: redirect) to an HTTP/2
 * prior-knowledge preface: an HTTP/2 refusal the client's HTTP/2 stack can read, instead of an
 * HTTP/1.1 page it would take for a broken frame. Worker thread only. */
#ifndef MTLB_PRIOR_REFUSE_H
#define MTLB_PRIOR_REFUSE_H

struct mtlb_proto_ops;

/* Set as c->h2_prior on a redirect listener (worker.c): on the preface it sends the server's
 * (empty) SETTINGS and a GOAWAY (last stream 0, HTTP_1_1_REQUIRED, a short reason in the debug
 * data), logs event=h2c_refused once per connection (rate-limited) and closes. */
extern const struct mtlb_proto_ops mtlb_prior_refuse_proto;

#endif
