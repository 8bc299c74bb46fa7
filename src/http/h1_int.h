/* Private to the HTTP/1.1 head parser (h1.c: lines and fields; h1_framing.c: what the fields
 * mean for the body and the connection): the cursor over the caller's buffer and the one way
 * to record a refusal. */
#ifndef MTLB_H1_INT_H
#define MTLB_H1_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "mtlb/h1.h"

/* Cursor over the caller's buffer; pos only ever moves forward and never passes len. */
struct h1_cur {
    const char *buf;
    size_t len;
    size_t pos;
    struct mtlb_h1_message *msg;
};

static inline bool h1_is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Records where and why the head is refused (status: the answer the caller should send). */
static inline int h1_fail(struct h1_cur *c, size_t off, int status, const char *reason)
{
    c->msg->error_offset = off;
    c->msg->error_status = status;
    c->msg->error_reason = reason;
    return MTLB_INVALID;
}

static inline int h1_fail_at(struct h1_cur *c, int status, const char *reason)
{
    return h1_fail(c, c->pos, status, reason);
}

/* After the fields of a request (c->pos just past the empty line) or a response: reads the
 * framing fields into c->msg (body, content_length, keep_alive, expect_continue, upgrade).
 * Returns 0, or MTLB_INVALID with the error recorded (400, or 501 for an unknown coding in a
 * request). request_was_head: the response answers HEAD, so it has no body. */
int mtlb_h1_framing_request(struct h1_cur *c);
int mtlb_h1_framing_response(struct h1_cur *c, bool request_was_head);

#endif
