/* Request ids: the value of X-Request-Id that mtlb sends to the backend and writes to the
 * access log. Pure module: no I/O, no logging, no randomness of its own (the caller seeds the
 * generator). Any thread, on its own generator. */
#ifndef MTLB_REQUEST_ID_H
#define MTLB_REQUEST_ID_H

#include <stdbool.h>
#include <stdint.h>

#include "mtlb/h1.h"

/* Longest value mtlb accepts from a client and longest it writes, without the NUL. */
#define MTLB_REQUEST_ID_MAX 128
/* Length of a generated id: 24 hex digits of prefix, 16 of counter. */
#define MTLB_REQUEST_ID_GEN_LEN 40

/* Whether v is a well-formed client id: 1 to MTLB_REQUEST_ID_MAX bytes, each of
 * A-Z a-z 0-9 . _ : - (no space, no quote, nothing a log or header parser could misread). */
bool mtlb_request_id_valid(struct mtlb_slice v);

/* The client's id for req: the value of its one X-Request-Id field (name in any letter case,
 * with hyphens: "X_Request_Id" is another name, a forged spelling) when it is well-formed.
 * Returns the empty slice when there is none, when it is malformed, or when the field appears
 * more than once (which copy the client meant is unknowable). The slice points into req. */
struct mtlb_slice mtlb_request_id_from(const struct mtlb_h1_message *req);

/* Per-thread generator: ids are unique per generator by the counter and across generators
 * (workers, processes) by the prefix. */
struct mtlb_request_id_gen {
    unsigned char prefix[12];
    uint64_t next;
};

/* seed: 10 random bytes (the caller reads them from the kernel); index: the worker's index,
 * so that two workers of one process never share a prefix whatever the seed. */
void mtlb_request_id_gen_init(struct mtlb_request_id_gen *g, const unsigned char seed[10],
                              uint16_t index);

/* Writes the next id, MTLB_REQUEST_ID_GEN_LEN lower-case hex digits and a NUL, into out
 * (at least MTLB_REQUEST_ID_GEN_LEN + 1 bytes). */
void mtlb_request_id_next(struct mtlb_request_id_gen *g, char *out);

/* Picks the id of a request into out (MTLB_REQUEST_ID_MAX + 1 bytes, NUL-terminated): the
 * client's (mtlb_request_id_from) when there is one, else the generator's next. req may be
 * NULL (a request refused before its head was read): then a generated one. */
void mtlb_request_id_pick(struct mtlb_request_id_gen *g, const struct mtlb_h1_message *req,
                          char *out);

#endif
