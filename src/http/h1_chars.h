/* Character classes of RFC 9110/9112 shared by the HTTP/1.1 parsers (h1.c, chunked.c).
 * Internal to src/http: one lookup per byte instead of a chain of comparisons. */
#ifndef MTLB_H1_CHARS_H
#define MTLB_H1_CHARS_H

#include <stdbool.h>

enum {
    H1_TCHAR = 1,  /* token: "!#$%&'*+-.^_`|~", DIGIT, ALPHA */
    H1_FIELD = 2,  /* field value or reason byte: VCHAR, SP, HTAB, obs-text (not CTL, not DEL) */
    H1_TARGET = 4, /* request-target byte: anything but CTL, SP and DEL (obs-text passes) */
};

static const unsigned char h1_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    2, 7, 6, 7, 7, 7, 7, 7, 6, 6, 7, 7, 6, 7, 7, 6, /* 0x20 */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 6, 6, 6, /* 0x30 */
    6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, /* 0x40 */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 6, 6, 7, 7, /* 0x50 */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, /* 0x60 */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 7, 6, 7, 0, /* 0x70 */
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0x80 */
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0x90 */
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0xa0 */
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0xb0 */
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0xc0 */
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0xd0 */
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0xe0 */
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0xf0 */
};

static inline bool h1_is_tchar(unsigned char ch)
{
    return (h1_class[ch] & H1_TCHAR) != 0;
}

static inline bool h1_is_field(unsigned char ch)
{
    return (h1_class[ch] & H1_FIELD) != 0;
}

static inline bool h1_is_target(unsigned char ch)
{
    return (h1_class[ch] & H1_TARGET) != 0;
}

#endif
