/* HTTP/1.1 head parsing (RFC 9112), strict enough to refuse request smuggling.
 * Owns the request/status line and field syntax and the entry points; the framing rules derived
 * from the fields are h1_framing.c's. It never allocates, never logs, and never reads a byte at
 * or beyond buf + len: every access is bounds-checked first. */
#include "mtlb/h1.h"

#include <string.h>

#include "h1_chars.h"
#include "h1_int.h"

/* Leading empty lines accepted before a request line (RFC 9112 section 2.2 asks for at least
 * one; two covers clients that send an extra CRLF after a POST body). A third is refused. */
#define MAX_LEADING_CRLF 2

/* Consumes CR LF at the cursor. A lone LF or a CR followed by anything but LF is refused. */
static int expect_crlf(struct h1_cur *c)
{
    if (c->pos >= c->len) {
        return MTLB_INCOMPLETE;
    }
    if (c->buf[c->pos] == '\n') {
        return h1_fail_at(c, 400, "bare LF");
    }
    if (c->buf[c->pos] != '\r') {
        return h1_fail_at(c, 400, "expected CRLF");
    }
    if (c->pos + 1 >= c->len) {
        return MTLB_INCOMPLETE;
    }
    if (c->buf[c->pos + 1] != '\n') {
        return h1_fail(c, c->pos + 1, 400, "bare CR");
    }
    c->pos += 2;
    return 0;
}

/* Advances over bytes of class `cls` (H1_*). Locals keep the hot loop free of reloads: the
 * compiler must otherwise assume that char data may alias the cursor. */
static void skip_class(struct h1_cur *c, unsigned cls)
{
    const unsigned char *p = (const unsigned char *)c->buf;
    size_t pos = c->pos;
    size_t len = c->len;

    while (pos < len && (h1_class[p[pos]] & cls) != 0) {
        pos++;
    }
    c->pos = pos;
}

/* Scans a (possibly empty) run of token characters; stops on the first other byte. */
static int scan_token(struct h1_cur *c, struct mtlb_slice *out)
{
    size_t start = c->pos;

    skip_class(c, H1_TCHAR);
    if (c->pos >= c->len) {
        return MTLB_INCOMPLETE;
    }
    out->p = c->buf + start;
    out->len = c->pos - start;
    return 0;
}

/* "HTTP/" DIGIT "." DIGIT; only 1.0 and 1.1 are spoken (505 otherwise). */
static int parse_version(struct h1_cur *c)
{
    static const char pfx[] = "HTTP/";
    size_t start = c->pos;

    for (size_t i = 0; i < sizeof(pfx) - 1; i++, c->pos++) {
        if (c->pos >= c->len) {
            return MTLB_INCOMPLETE;
        }
        if (c->buf[c->pos] != pfx[i]) {
            return h1_fail_at(c, 400, "invalid HTTP version");
        }
    }
    for (int i = 0; i < 3; i++, c->pos++) {
        if (c->pos >= c->len) {
            return MTLB_INCOMPLETE;
        }
        char ch = c->buf[c->pos];
        bool ok = (i == 1) ? ch == '.' : (ch >= '0' && ch <= '9');
        if (!ok) {
            return h1_fail_at(c, 400, "invalid HTTP version");
        }
    }
    const char *v = c->buf + start + sizeof(pfx) - 1;
    if (v[0] != '1' || (v[2] != '0' && v[2] != '1')) {
        return h1_fail(c, start, 505, "unsupported HTTP version");
    }
    c->msg->minor_version = v[2] - '0';
    return 0;
}

static int skip_leading_crlf(struct h1_cur *c)
{
    for (int n = 0;; n++) {
        if (c->pos >= c->len) {
            return MTLB_INCOMPLETE;
        }
        if (c->buf[c->pos] != '\r' && c->buf[c->pos] != '\n') {
            return 0;
        }
        if (n == MAX_LEADING_CRLF) {
            return h1_fail_at(c, 400, "too many empty lines before the request line");
        }
        int r = expect_crlf(c);
        if (r != 0) {
            return r;
        }
    }
}

static int parse_request_line(struct h1_cur *c)
{
    struct mtlb_h1_message *m = c->msg;
    int r = skip_leading_crlf(c);

    if (r == 0) {
        r = scan_token(c, &m->method);
    }
    if (r != 0) {
        return r;
    }
    if (m->method.len == 0 || c->buf[c->pos] != ' ') {
        return h1_fail_at(c, 400, "invalid character in method");
    }
    size_t start = ++c->pos;
    skip_class(c, H1_TARGET);
    if (c->pos >= c->len) {
        return MTLB_INCOMPLETE;
    }
    if (c->buf[c->pos] != ' ') {
        return h1_fail_at(c, 400,
                          c->buf[c->pos] == '\n' ? "bare LF" : "invalid character in target");
    }
    if (c->pos == start) {
        return h1_fail_at(c, 400, "empty request target");
    }
    m->target.p = c->buf + start;
    m->target.len = c->pos - start;
    c->pos++;
    r = parse_version(c);
    return r != 0 ? r : expect_crlf(c);
}

static int parse_status_line(struct h1_cur *c)
{
    struct mtlb_h1_message *m = c->msg;
    int r = parse_version(c);

    if (r != 0) {
        return r;
    }
    if (c->pos >= c->len) {
        return MTLB_INCOMPLETE;
    }
    if (c->buf[c->pos++] != ' ') {
        return h1_fail(c, c->pos - 1, 400, "expected SP after version");
    }
    for (int i = 0; i < 3; i++, c->pos++) {
        if (c->pos >= c->len) {
            return MTLB_INCOMPLETE;
        }
        char ch = c->buf[c->pos];
        if (ch < '0' || ch > '9') {
            return h1_fail_at(c, 400, "invalid status code");
        }
        m->status = m->status * 10 + (ch - '0');
    }
    if (m->status < 100) {
        return h1_fail(c, c->pos - 3, 400, "invalid status code");
    }
    if (c->pos >= c->len) {
        return MTLB_INCOMPLETE;
    }
    /* The SP before an empty reason phrase is often omitted by servers: accepted. */
    if (c->buf[c->pos] == ' ') {
        c->pos++;
    } else if (c->buf[c->pos] != '\r') {
        return h1_fail_at(c, 400, "invalid status code");
    }
    size_t start = c->pos;
    skip_class(c, H1_FIELD);
    if (c->pos < c->len && c->buf[c->pos] != '\r') {
        return h1_fail_at(c, 400,
                          c->buf[c->pos] == '\n' ? "bare LF" : "invalid character in reason");
    }
    m->reason.p = c->buf + start;
    m->reason.len = c->pos - start;
    return expect_crlf(c);
}

/* One field line: token ":" OWS value OWS CRLF. The value slice excludes the OWS. */
static int parse_field_line(struct h1_cur *c, struct mtlb_h1_header *h)
{
    int r = scan_token(c, &h->name);

    if (r != 0) {
        return r;
    }
    char ch = c->buf[c->pos];
    if (ch != ':') {
        return h1_fail_at(
            c, 400, h1_is_ows(ch) ? "whitespace before colon" : "invalid character in field name");
    }
    if (h->name.len == 0) {
        return h1_fail_at(c, 400, "empty field name");
    }
    c->pos++;
    while (c->pos < c->len && h1_is_ows(c->buf[c->pos])) {
        c->pos++;
    }
    size_t start = c->pos;
    skip_class(c, H1_FIELD);
    if (c->pos < c->len && c->buf[c->pos] != '\r') {
        return h1_fail_at(c, 400,
                          c->buf[c->pos] == '\n' ? "bare LF" : "invalid character in field value");
    }
    size_t end = c->pos;
    while (end > start && h1_is_ows(c->buf[end - 1])) {
        end--;
    }
    h->value.p = c->buf + start;
    h->value.len = end - start;
    return expect_crlf(c);
}

static int parse_fields(struct h1_cur *c)
{
    struct mtlb_h1_message *m = c->msg;

    for (;;) {
        if (c->pos >= c->len) {
            return MTLB_INCOMPLETE;
        }
        char ch = c->buf[c->pos];
        if (ch == '\r' || ch == '\n') {
            return expect_crlf(c);
        }
        if (h1_is_ows(ch)) {
            /* obs-fold, or whitespace between the start line and the first field */
            return h1_fail_at(c, 400, "line folding or leading whitespace");
        }
        if (m->num_headers >= m->max_headers) {
            return h1_fail_at(c, 431, "too many header fields");
        }
        int r = parse_field_line(c, &m->headers[m->num_headers]);
        if (r != 0) {
            return r;
        }
        m->num_headers++;
    }
}

static void reset(struct mtlb_h1_message *m)
{
    m->method = m->target = m->reason = (struct mtlb_slice){NULL, 0};
    m->status = 0;
    m->minor_version = 0;
    m->num_headers = 0;
    m->body = MTLB_BODY_NONE;
    m->content_length = 0;
    m->keep_alive = m->expect_continue = m->upgrade = false;
    m->error_offset = 0;
    m->error_reason = NULL;
    m->error_status = 0;
}

/* The return value is an int: a head that does not fit in one is never complete. */
static size_t clamp_len(size_t len)
{
    return len > INT32_MAX ? INT32_MAX : len;
}

int mtlb_h1_parse_request(const char *buf, size_t len, struct mtlb_h1_message *msg)
{
    struct h1_cur c = {.buf = buf, .len = clamp_len(len), .pos = 0, .msg = msg};
    int r;

    reset(msg);
    if ((r = parse_request_line(&c)) != 0 || (r = parse_fields(&c)) != 0 ||
        (r = mtlb_h1_framing_request(&c)) != 0) {
        return r;
    }
    return (int)c.pos;
}

int mtlb_h1_head_end(const char *buf, size_t len, size_t *scanned)
{
    len = clamp_len(len);
    /* Each byte is judged with a look back only, so the search resumes exactly where the last
     * one stopped, across read boundaries. */
    for (size_t i = *scanned; i < len; i++) {
        bool after_cr = i > 0 && buf[i - 1] == '\r';
        bool end = false;
        if (buf[i] == '\n') {
            end = !after_cr || (i >= 3 && buf[i - 2] == '\n' && buf[i - 3] == '\r');
        } else {
            end = after_cr; /* bare CR */
        }
        if (end) {
            *scanned = i + 1;
            return (int)(i + 1);
        }
    }
    *scanned = len;
    return MTLB_INCOMPLETE;
}

int mtlb_h1_parse_response(const char *buf, size_t len, bool request_was_head,
                           struct mtlb_h1_message *msg)
{
    struct h1_cur c = {.buf = buf, .len = clamp_len(len), .pos = 0, .msg = msg};
    int r;

    reset(msg);
    if ((r = parse_status_line(&c)) != 0 || (r = parse_fields(&c)) != 0 ||
        (r = mtlb_h1_framing_response(&c, request_was_head)) != 0) {
        return r;
    }
    return (int)c.pos;
}
