/* Chunked transfer-coding scanner (RFC 9112 section 7.1): finds where a chunked body ends and
 * validates its framing, rewrites it in place into canonical framing for the HTTP/1.1 relay, or
 * walks it for a decoding relay (HTTP/2), all with the same state machine. State lives in the
 * caller's struct mtlb_h1_chunked, so input may be split anywhere. No I/O, no allocation, no byte
 * at or past buf + len is read. */
#include "mtlb/h1.h"

#include <limits.h>
#include <string.h>

#include "h1_chars.h"

enum {
    S_SIZE_START = 0, /* first byte of a chunk-size line: a hex digit */
    S_SIZE,           /* more hex digits */
    S_SIZE_WS,        /* BWS after the size, before ";" or CR */
    S_EXT_PRE_NAME,   /* after ";": BWS then the extension name */
    S_EXT_NAME,
    S_EXT_POST_NAME, /* BWS after the name */
    S_EXT_PRE_VAL,   /* after "=": BWS then a token or a quoted-string */
    S_EXT_VAL,
    S_EXT_QUOTED,
    S_EXT_QESC,     /* after a backslash inside the quoted-string */
    S_EXT_POST_VAL, /* BWS after the value */
    S_SIZE_LF,      /* CR seen at the end of the size line */
    S_DATA,
    S_DATA_CR,
    S_DATA_LF,
    S_TRAILER_START, /* first byte of a trailer line, or CR of the final empty line */
    S_TRAILER_NAME,
    S_TRAILER_VALUE,
    S_TRAILER_LF,
    S_FINAL_LF,
    S_DONE,
    S_INVALID,
};

#define LINE_LIMIT 4096
#define CHUNK_SIZE_LIMIT (UINT64_C(1) << 60)

enum step { STEP_MORE, STEP_DONE, STEP_INVALID };

static bool is_ows(unsigned char ch)
{
    return ch == ' ' || ch == '\t';
}

static int hex_value(unsigned char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    ch |= 0x20;
    return (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10 : -1;
}

/* Bytes of a size line or a trailer line count against LINE_LIMIT; the CRLF does not. */
static bool in_line(int state)
{
    return (state >= S_SIZE_START && state <= S_EXT_POST_VAL) ||
           (state >= S_TRAILER_START && state <= S_TRAILER_VALUE);
}

/* The end of a size line (CR) or an extension separator (";") is valid in several states. */
static enum step ext_boundary(struct mtlb_h1_chunked *c, unsigned char ch)
{
    if (ch == '\r') {
        c->state = S_SIZE_LF;
    } else if (ch == ';') {
        c->state = S_EXT_PRE_NAME;
    } else {
        return STEP_INVALID;
    }
    return STEP_MORE;
}

static enum step ext_step(struct mtlb_h1_chunked *c, unsigned char ch)
{
    switch (c->state) {
    case S_EXT_PRE_NAME:
        if (is_ows(ch)) {
            return STEP_MORE;
        }
        c->state = S_EXT_NAME;
        return h1_is_tchar(ch) ? STEP_MORE : STEP_INVALID;
    case S_EXT_NAME:
    case S_EXT_POST_NAME:
        if (c->state == S_EXT_NAME && h1_is_tchar(ch)) {
            return STEP_MORE;
        }
        if (is_ows(ch)) {
            c->state = S_EXT_POST_NAME;
            return STEP_MORE;
        }
        if (ch == '=') {
            c->state = S_EXT_PRE_VAL;
            return STEP_MORE;
        }
        return ext_boundary(c, ch);
    case S_EXT_PRE_VAL:
        if (is_ows(ch)) {
            return STEP_MORE;
        }
        c->state = (ch == '"') ? S_EXT_QUOTED : S_EXT_VAL;
        return (ch == '"' || h1_is_tchar(ch)) ? STEP_MORE : STEP_INVALID;
    case S_EXT_VAL:
    case S_EXT_POST_VAL:
        if (c->state == S_EXT_VAL && h1_is_tchar(ch)) {
            return STEP_MORE;
        }
        if (is_ows(ch)) {
            c->state = S_EXT_POST_VAL;
            return STEP_MORE;
        }
        return ext_boundary(c, ch);
    case S_EXT_QUOTED:
        if (ch == '"') {
            c->state = S_EXT_POST_VAL;
        } else if (ch == '\\') {
            c->state = S_EXT_QESC;
        }
        return h1_is_field(ch) ? STEP_MORE : STEP_INVALID;
    default: /* S_EXT_QESC */
        c->state = S_EXT_QUOTED;
        return h1_is_field(ch) ? STEP_MORE : STEP_INVALID;
    }
}

/* After the last size digit: BWS, then ";" for an extension or CR to end the line. */
static enum step after_size(struct mtlb_h1_chunked *c, unsigned char ch)
{
    if (is_ows(ch)) {
        c->state = S_SIZE_WS;
        return STEP_MORE;
    }
    return ext_boundary(c, ch);
}

static enum step size_step(struct mtlb_h1_chunked *c, unsigned char ch)
{
    int d = hex_value(ch);

    switch (c->state) {
    case S_SIZE_START:
    case S_SIZE:
        if (d >= 0) {
            if (c->remaining > (CHUNK_SIZE_LIMIT - (uint64_t)d) / 16) {
                return STEP_INVALID;
            }
            c->remaining = c->remaining * 16 + (uint64_t)d;
            c->state = S_SIZE;
            return STEP_MORE;
        }
        return c->state == S_SIZE_START ? STEP_INVALID : after_size(c, ch);
    case S_SIZE_WS:
        return after_size(c, ch);
    default: /* S_SIZE_LF */
        if (ch != '\n') {
            return STEP_INVALID;
        }
        c->line_len = 0;
        c->state = c->remaining == 0 ? S_TRAILER_START : S_DATA;
        return STEP_MORE;
    }
}

static enum step trailer_step(struct mtlb_h1_chunked *c, unsigned char ch)
{
    switch (c->state) {
    case S_TRAILER_START:
        c->state = (ch == '\r') ? S_FINAL_LF : S_TRAILER_NAME;
        return (ch == '\r' || h1_is_tchar(ch)) ? STEP_MORE : STEP_INVALID;
    case S_TRAILER_NAME:
        if (ch == ':') {
            c->state = S_TRAILER_VALUE;
        }
        return (ch == ':' || h1_is_tchar(ch)) ? STEP_MORE : STEP_INVALID;
    case S_TRAILER_VALUE:
        if (ch == '\r') {
            c->state = S_TRAILER_LF;
            return STEP_MORE;
        }
        return h1_is_field(ch) ? STEP_MORE : STEP_INVALID;
    case S_TRAILER_LF:
        c->line_len = 0;
        c->state = S_TRAILER_START;
        return ch == '\n' ? STEP_MORE : STEP_INVALID;
    default: /* S_FINAL_LF */
        c->state = S_DONE;
        return ch == '\n' ? STEP_DONE : STEP_INVALID;
    }
}

static enum step step(struct mtlb_h1_chunked *c, unsigned char ch)
{
    if (in_line(c->state) && ch != '\r' && ++c->line_len > LINE_LIMIT) {
        return STEP_INVALID;
    }
    if (c->state <= S_SIZE_WS || c->state == S_SIZE_LF) {
        return size_step(c, ch);
    }
    if (c->state <= S_EXT_POST_VAL) {
        return ext_step(c, ch);
    }
    if (c->state == S_DATA_CR) {
        c->state = S_DATA_LF;
        return ch == '\r' ? STEP_MORE : STEP_INVALID;
    }
    if (c->state == S_DATA_LF) {
        c->state = S_SIZE_START;
        c->remaining = 0;
        c->line_len = 0;
        return ch == '\n' ? STEP_MORE : STEP_INVALID;
    }
    return trailer_step(c, ch);
}

void mtlb_h1_chunked_init(struct mtlb_h1_chunked *c)
{
    memset(c, 0, sizeof(*c));
    c->state = S_SIZE_START;
}

ssize_t mtlb_h1_chunked_scan(struct mtlb_h1_chunked *c, const char *buf, size_t len, bool *done)
{
    size_t i = 0;

    *done = c->state == S_DONE;
    if (c->state == S_DONE) {
        return 0;
    }
    if (c->state == S_INVALID) {
        return MTLB_INVALID;
    }
    if (len > SSIZE_MAX) {
        len = SSIZE_MAX;
    }
    while (i < len) {
        if (c->state == S_DATA) {
            /* chunk data is opaque: skip it in one step */
            uint64_t n = len - i < c->remaining ? len - i : c->remaining;
            i += (size_t)n;
            c->remaining -= n;
            c->body_bytes += n;
            c->state = c->remaining == 0 ? S_DATA_CR : S_DATA;
            continue;
        }
        enum step s = step(c, (unsigned char)buf[i++]);
        if (s == STEP_INVALID) {
            c->state = S_INVALID;
            return MTLB_INVALID;
        }
        if (s == STEP_DONE) {
            *done = true;
            break;
        }
    }
    return (ssize_t)i;
}

/* Trailer field-line bytes, CRLF included; the final empty line is not one of them. */
static bool in_trailer_field(int state, unsigned char ch)
{
    return (state == S_TRAILER_START && ch != '\r') ||
           (state >= S_TRAILER_NAME && state <= S_TRAILER_LF);
}

ssize_t mtlb_h1_chunked_next(struct mtlb_h1_chunked *c, const char *buf, size_t len,
                             size_t *data_len, size_t *trailer_len, bool *done)
{
    size_t i = 0;

    *data_len = *trailer_len = 0;
    *done = false;
    if (c->state == S_DONE) {
        return 0; /* done was reported once, by the call that consumed the end */
    }
    if (c->state == S_INVALID) {
        return MTLB_INVALID;
    }
    if (len > SSIZE_MAX) {
        len = SSIZE_MAX;
    }
    while (i < len && c->state != S_DATA) {
        unsigned char ch = (unsigned char)buf[i];
        /* The final CR is consumed only with its LF, so that a body ending within the consumed
         * bytes always ends in CRLF and the trailer bytes sit right before it. */
        if (c->state == S_TRAILER_START && ch == '\r' && i + 1 == len) {
            break;
        }
        *trailer_len += in_trailer_field(c->state, ch);
        enum step s = step(c, ch);
        i++;
        if (s == STEP_INVALID) {
            c->state = S_INVALID;
            *trailer_len = 0;
            return MTLB_INVALID;
        }
        if (s == STEP_DONE) {
            *done = true;
            return (ssize_t)i;
        }
    }
    if (c->state == S_DATA) {
        *data_len = len - i < c->remaining ? len - i : (size_t)c->remaining;
    }
    return (ssize_t)i;
}

void mtlb_h1_chunked_take(struct mtlb_h1_chunked *c, size_t n)
{
    if (n == 0) {
        return;
    }
    if (c->state != S_DATA || n > c->remaining) {
        c->state = S_INVALID; /* a caller bug: never let it pass as framing */
        return;
    }
    c->remaining -= n;
    c->body_bytes += n;
    c->state = c->remaining == 0 ? S_DATA_CR : S_DATA;
}

/* Feeds one whole line (through its LF) to the state machine. */
static enum step feed_line(struct mtlb_h1_chunked *c, const char *p, size_t n)
{
    enum step s = STEP_MORE;

    for (size_t i = 0; i < n && s == STEP_MORE; i++) {
        s = step(c, (unsigned char)p[i]);
    }
    return s;
}

/* Length of the line at p (through its LF), 0 when it is not whole yet, or -1 when it is
 * already longer than any valid line. */
static ssize_t whole_line(const char *p, size_t avail)
{
    size_t window = avail < LINE_LIMIT + 2 ? avail : LINE_LIMIT + 2;
    const char *lf = window > 0 ? memchr(p, '\n', window) : NULL;

    if (lf == NULL) {
        return window == LINE_LIMIT + 2 ? -1 : 0;
    }
    return lf + 1 - p;
}

/* Writes the canonical size line of the chunk just announced; returns its length. */
static size_t put_size_line(char *out, uint64_t size)
{
    char hex[16];
    size_t n = 0;

    do {
        hex[n++] = "0123456789abcdef"[size & 15];
        size >>= 4;
    } while (size > 0);
    for (size_t i = 0; i < n; i++) {
        out[i] = hex[n - 1 - i];
    }
    out[n] = '\r';
    out[n + 1] = '\n';
    return n + 2;
}

/* One whole line at buf + *in (size line, data CRLF, trailer line or final CRLF): validated,
 * then its canonical form written at buf + *out. STEP_MORE with *in unchanged: not whole yet. */
static enum step relay_line(struct mtlb_h1_chunked *c, char *buf, size_t len, size_t *in,
                            size_t *out, mtlb_h1_trailer_filter filter, void *arg)
{
    int before = c->state;
    ssize_t n = before == S_DATA_CR ? (len - *in >= 2 ? 2 : 0) : whole_line(buf + *in, len - *in);

    if (n <= 0) {
        return n < 0 ? STEP_INVALID : STEP_MORE;
    }
    const char *line = buf + *in;
    enum step s = feed_line(c, line, (size_t)n);
    if (s == STEP_INVALID || (s == STEP_MORE && c->state != S_SIZE_START && c->state != S_DATA &&
                              c->state != S_TRAILER_START)) {
        return STEP_INVALID; /* the LF found was not the end of a valid line */
    }
    if (before == S_SIZE_START) {
        *out += put_size_line(buf + *out, c->remaining);
    } else if (before == S_DATA_CR || s == STEP_DONE) {
        memcpy(buf + *out, "\r\n", 2);
        *out += 2;
    } else {
        const char *colon = memchr(line, ':', (size_t)n);
        int keep =
            filter != NULL ? filter((struct mtlb_slice){line, (size_t)(colon - line)}, arg) : 0;
        if (keep < 0) {
            return STEP_INVALID;
        }
        if (keep > 0) {
            memmove(buf + *out, line, (size_t)n);
            *out += (size_t)n;
        }
    }
    *in += (size_t)n;
    return s;
}

ssize_t mtlb_h1_chunked_relay(struct mtlb_h1_chunked *c, char *buf, size_t len, size_t *out_len,
                              bool *done, mtlb_h1_trailer_filter filter, void *arg)
{
    size_t in = 0;
    size_t out = 0;

    *out_len = 0;
    *done = c->state == S_DONE;
    if (c->state == S_DONE) {
        return 0;
    }
    if (c->state == S_INVALID || len > SSIZE_MAX) {
        c->state = S_INVALID;
        return MTLB_INVALID;
    }
    while (in < len) {
        if (c->state == S_DATA) {
            size_t n = len - in < c->remaining ? len - in : (size_t)c->remaining;
            memmove(buf + out, buf + in, n);
            in += n;
            out += n;
            mtlb_h1_chunked_take(c, n);
            continue;
        }
        size_t was = in;
        enum step s = relay_line(c, buf, len, &in, &out, filter, arg);
        if (s == STEP_INVALID) {
            c->state = S_INVALID;
            return MTLB_INVALID;
        }
        if (s == STEP_DONE) {
            *done = true;
            break;
        }
        if (in == was) {
            break; /* an incomplete line: wait for more bytes */
        }
    }
    *out_len = out;
    return (ssize_t)in;
}
