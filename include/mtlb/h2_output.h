/* Sending an HTTP/2 connection's session output (h2_output.c), for the connection (h2.c) and
 * its streams (h2_stream.c). Worker thread only. */
#ifndef MTLB_H2_OUTPUT_H
#define MTLB_H2_OUTPUT_H

struct mtlb_client;

/* Moves session output into tout, then decides the connection's fate (close once the session
 * is done) and its timer. c may be aborted on return. */
void mtlb_h2c_flush(struct mtlb_client *c);
/* Output from outside the session's callbacks (a backend event): sends it now, unless nghttp2
 * is running (its caller sends it then). */
void mtlb_h2c_kick(struct mtlb_client *c);

#endif
