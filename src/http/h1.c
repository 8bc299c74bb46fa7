/* HTTP/1.1 head parsing (RFC 9112), strict enough to refuse request smuggling.
 * Owns the request/status line and field syntax, and the framing rules derived from the
 * fields (Content-Length, Transfer-Encoding, Connection). It never allocates, never logs, and
 * never reads a byte at or beyond buf + len: every access is bounds-checked first. */
#include "mtlb/h1.h"

#include <string.h>

#include "h1_chars.h"

/* Cursor over the caller's buffer; pos only ever moves forward and never passes len. */
struct cur {
    const char *buf;
    size_t len;
    size_t pos;
    struct mtlb_h1_message *msg;
};

/* Leading empty lines accepted before a request line (RFC 9112 section 2.2 asks for at least
 * one; two covers clients that send an extra CRLF after a POST body). A third is refused. */
#define MAX_LEADING_CRLF 2

static bool is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

static unsigned char ascii_lower(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') ? (unsigned char)(ch | 0x20) : ch;
}

bool mtlb_h1_name_is(struct mtlb_slice name, const char *lower)
{
    /* no strlen: the first differing byte (usually the first) decides */
    for (size_t i = 0; i < name.len; i++) {
        if (lower[i] == '\0' || ascii_lower((unsigned char)name.p[i]) != (unsigned char)lower[i]) {
            return false;
        }
    }
    return lower[name.len] == '\0';
}

static int fail(struct cur *c, size_t off, int status, const char *reason)
{
    c->msg->error_offset = off;
    c->msg->error_status = status;
    c->msg->error_reason = reason;
    return MTLB_INVALID;
}

static int fail_at(struct cur *c, int status, const char *reason)
{
    return fail(c, c->pos, status, reason);
}

/* Consumes CR LF at the cursor. A lone LF or a CR followed by anything but LF is refused. */
static int expect_crlf(struct cur *c)
{
    if (c->pos >= c->len) {
        return MTLB_INCOMPLETE;
    }
    if (c->buf[c->pos] == '\n') {
        return fail_at(c, 400, "bare LF");
    }
    if (c->buf[c->pos] != '\r') {
        return fail_at(c, 400, "expected CRLF");
    }
    if (c->pos + 1 >= c->len) {
        return MTLB_INCOMPLETE;
    }
    if (c->buf[c->pos + 1] != '\n') {
        return fail(c, c->pos + 1, 400, "bare CR");
    }
    c->pos += 2;
    return 0;
}

/* Advances over bytes of class `cls` (H1_*). Locals keep the hot loop free of reloads: the
 * compiler must otherwise assume that char data may alias the cursor. */
static void skip_class(struct cur *c, unsigned cls)
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
static int scan_token(struct cur *c, struct mtlb_slice *out)
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
static int parse_version(struct cur *c)
{
    static const char pfx[] = "HTTP/";
    size_t start = c->pos;

    for (size_t i = 0; i < sizeof(pfx) - 1; i++, c->pos++) {
        if (c->pos >= c->len) {
            return MTLB_INCOMPLETE;
        }
        if (c->buf[c->pos] != pfx[i]) {
            return fail_at(c, 400, "invalid HTTP version");
        }
    }
    for (int i = 0; i < 3; i++, c->pos++) {
        if (c->pos >= c->len) {
            return MTLB_INCOMPLETE;
        }
        char ch = c->buf[c->pos];
        bool ok = (i == 1) ? ch == '.' : (ch >= '0' && ch <= '9');
        if (!ok) {
            return fail_at(c, 400, "invalid HTTP version");
        }
    }
    const char *v = c->buf + start + sizeof(pfx) - 1;
    if (v[0] != '1' || (v[2] != '0' && v[2] != '1')) {
        return fail(c, start, 505, "unsupported HTTP version");
    }
    c->msg->minor_version = v[2] - '0';
    return 0;
}

static int skip_leading_crlf(struct cur *c)
{
    for (int n = 0;; n++) {
        if (c->pos >= c->len) {
            return MTLB_INCOMPLETE;
        }
        if (c->buf[c->pos] != '\r' && c->buf[c->pos] != '\n') {
            return 0;
        }
        if (n == MAX_LEADING_CRLF) {
            return fail_at(c, 400, "too many empty lines before the request line");
        }
        int r = expect_crlf(c);
        if (r != 0) {
            return r;
        }
    }
}

static int parse_request_line(struct cur *c)
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
        return fail_at(c, 400, "invalid character in method");
    }
    size_t start = ++c->pos;
    skip_class(c, H1_TARGET);
    if (c->pos >= c->len) {
        return MTLB_INCOMPLETE;
    }
    if (c->buf[c->pos] != ' ') {
        return fail_at(c, 400, c->buf[c->pos] == '\n' ? "bare LF" : "invalid character in target");
    }
    if (c->pos == start) {
        return fail_at(c, 400, "empty request target");
    }
    m->target.p = c->buf + start;
    m->target.len = c->pos - start;
    c->pos++;
    r = parse_version(c);
    return r != 0 ? r : expect_crlf(c);
}

static int parse_status_line(struct cur *c)
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
        return fail(c, c->pos - 1, 400, "expected SP after version");
    }
    for (int i = 0; i < 3; i++, c->pos++) {
        if (c->pos >= c->len) {
            return MTLB_INCOMPLETE;
        }
        char ch = c->buf[c->pos];
        if (ch < '0' || ch > '9') {
            return fail_at(c, 400, "invalid status code");
        }
        m->status = m->status * 10 + (ch - '0');
    }
    if (m->status < 100) {
        return fail(c, c->pos - 3, 400, "invalid status code");
    }
    if (c->pos >= c->len) {
        return MTLB_INCOMPLETE;
    }
    /* The SP before an empty reason phrase is often omitted by servers: accepted. */
    if (c->buf[c->pos] == ' ') {
        c->pos++;
    } else if (c->buf[c->pos] != '\r') {
        return fail_at(c, 400, "invalid status code");
    }
    size_t start = c->pos;
    skip_class(c, H1_FIELD);
    if (c->pos < c->len && c->buf[c->pos] != '\r') {
        return fail_at(c, 400, c->buf[c->pos] == '\n' ? "bare LF" : "invalid character in reason");
    }
    m->reason.p = c->buf + start;
    m->reason.len = c->pos - start;
    return expect_crlf(c);
}

/* One field line: token ":" OWS value OWS CRLF. The value slice excludes the OWS. */
static int parse_field_line(struct cur *c, struct mtlb_h1_header *h)
{
    int r = scan_token(c, &h->name);

    if (r != 0) {
        return r;
    }
    char ch = c->buf[c->pos];
    if (ch != ':') {
        return fail_at(c, 400,
                       is_ows(ch) ? "whitespace before colon" : "invalid character in field name");
    }
    if (h->name.len == 0) {
        return fail_at(c, 400, "empty field name");
    }
    c->pos++;
    while (c->pos < c->len && is_ows(c->buf[c->pos])) {
        c->pos++;
    }
    size_t start = c->pos;
    skip_class(c, H1_FIELD);
    if (c->pos < c->len && c->buf[c->pos] != '\r') {
        return fail_at(c, 400,
                       c->buf[c->pos] == '\n' ? "bare LF" : "invalid character in field value");
    }
    size_t end = c->pos;
    while (end > start && is_ows(c->buf[end - 1])) {
        end--;
    }
    h->value.p = c->buf + start;
    h->value.len = end - start;
    return expect_crlf(c);
}

static int parse_fields(struct cur *c)
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
        if (is_ows(ch)) {
            /* obs-fold, or whitespace between the start line and the first field */
            return fail_at(c, 400, "line folding or leading whitespace");
        }
        if (m->num_headers >= m->max_headers) {
            return fail_at(c, 431, "too many header fields");
        }
        int r = parse_field_line(c, &m->headers[m->num_headers]);
        if (r != 0) {
            return r;
        }
        m->num_headers++;
    }
}

/* What the framing fields said, gathered in one pass before any decision is taken. */
struct framing {
    const struct mtlb_h1_header *cl;           /* the Content-Length field */
    const struct mtlb_h1_header *te;           /* the last Transfer-Encoding field */
    const struct mtlb_h1_header *te_other;     /* first field naming a coding other than chunked */
    const struct mtlb_h1_header *te_bad;       /* empty element or chunked applied twice */
    bool chunked_final;                        /* the last coding seen is chunked */
    const struct mtlb_h1_header *host, *host2; /* the first and second Host fields */
    bool conn_close, conn_keep_alive;
};

/* Calls fn on every element of a comma-separated list, OWS trimmed; empty ones included. */
static void for_each_element(struct mtlb_slice v, void (*fn)(struct mtlb_slice, void *), void *arg)
{
    size_t i = 0;

    while (i <= v.len) {
        size_t s = i;
        while (i < v.len && v.p[i] != ',') {
            i++;
        }
        size_t e = i;
        while (s < e && is_ows(v.p[s])) {
            s++;
        }
        while (e > s && is_ows(v.p[e - 1])) {
            e--;
        }
        fn((struct mtlb_slice){v.p + s, e - s}, arg);
        i++;
    }
}

static void connection_token(struct mtlb_slice tok, void *arg)
{
    struct framing *f = arg;

    if (mtlb_h1_name_is(tok, "close")) {
        f->conn_close = true;
    } else if (mtlb_h1_name_is(tok, "keep-alive")) {
        f->conn_keep_alive = true;
    }
}

/* Transfer-Encoding state for the field currently being split, across all TE fields. */
struct te_scan {
    struct framing *f;
    const struct mtlb_h1_header *h;
    bool chunked_seen;
};

static void te_coding(struct mtlb_slice tok, void *arg)
{
    struct te_scan *t = arg;
    struct framing *f = t->f;

    if (tok.len == 0 || (mtlb_h1_name_is(tok, "chunked") && t->chunked_seen)) {
        f->te_bad = f->te_bad ? f->te_bad : t->h;
    }
    if (tok.len == 0) {
        return;
    }
    if (mtlb_h1_name_is(tok, "chunked")) {
        t->chunked_seen = true;
        f->chunked_final = true;
        return;
    }
    f->chunked_final = false;
    f->te_other = f->te_other ? f->te_other : t->h;
}

bool mtlb_h1_parse_length(struct mtlb_slice v, uint64_t *out)
{
    uint64_t n = 0;

    if (v.len == 0) {
        return false;
    }
    for (size_t i = 0; i < v.len; i++) {
        unsigned d = (unsigned char)v.p[i] - '0';
        if (d > 9 || n > ((uint64_t)INT64_MAX - d) / 10) {
            return false;
        }
        n = n * 10 + d;
    }
    *out = n;
    return true;
}

static size_t off_of(struct cur *c, const struct mtlb_h1_header *h)
{
    return (size_t)(h->name.p - c->buf);
}

/* The only field names the framing depends on, one per length (so one comparison each). */
static const char *framing_name(size_t len)
{
    switch (len) {
    case 4:
        return "host";
    case 6:
        return "expect";
    case 7:
        return "upgrade";
    case 10:
        return "connection";
    case 14:
        return "content-length";
    case 17:
        return "transfer-encoding";
    default:
        return NULL;
    }
}

static int gather_framing(struct cur *c, struct framing *f)
{
    struct mtlb_h1_message *m = c->msg;
    struct te_scan t = {.f = f};

    for (size_t i = 0; i < m->num_headers; i++) {
        const struct mtlb_h1_header *h = &m->headers[i];
        const char *name = framing_name(h->name.len);
        if (name == NULL || !mtlb_h1_name_is(h->name, name)) {
            continue;
        }
        switch (h->name.len) {
        case 14: /* Content-Length */
            if (f->cl != NULL) {
                return fail(c, off_of(c, h), 400, "multiple Content-Length fields");
            }
            if (!mtlb_h1_parse_length(h->value, &m->content_length)) {
                return fail(c, off_of(c, h), 400, "invalid Content-Length");
            }
            f->cl = h;
            break;
        case 17: /* Transfer-Encoding */
            f->te = t.h = h;
            for_each_element(h->value, te_coding, &t);
            break;
        case 10: /* Connection */
            for_each_element(h->value, connection_token, f);
            break;
        case 4: /* Host */
            f->host2 = (f->host != NULL && f->host2 == NULL) ? h : f->host2;
            f->host = f->host ? f->host : h;
            break;
        case 7: /* Upgrade */
            m->upgrade = true;
            break;
        default: /* Expect */
            m->expect_continue = mtlb_h1_name_is(h->value, "100-continue");
        }
    }
    return 0;
}

/* Checks shared by requests and responses, in a fixed order so that the answer is stable. */
static int check_transfer_encoding(struct cur *c, const struct framing *f, bool is_request)
{
    if (f->te == NULL) {
        return 0;
    }
    if (f->cl != NULL) {
        return fail(c, off_of(c, f->cl), 400, "Content-Length with Transfer-Encoding");
    }
    if (c->msg->minor_version == 0) {
        return fail(c, off_of(c, f->te), 400, "Transfer-Encoding in an HTTP/1.0 message");
    }
    if (f->te_bad != NULL) {
        return fail(c, off_of(c, f->te_bad), 400, "invalid Transfer-Encoding");
    }
    if (is_request && f->te_other != NULL) {
        return fail(c, off_of(c, f->te_other), 501, "unsupported transfer coding");
    }
    return 0;
}

static void set_keep_alive(struct mtlb_h1_message *m, const struct framing *f)
{
    if (m->minor_version == 1) {
        m->keep_alive = !f->conn_close;
    } else {
        m->keep_alive = f->conn_keep_alive && !f->conn_close;
    }
}

static int finish_request(struct cur *c)
{
    struct mtlb_h1_message *m = c->msg;
    struct framing f = {0};
    int r = gather_framing(c, &f);

    if (r == 0) {
        r = check_transfer_encoding(c, &f, true);
    }
    if (r != 0) {
        return r;
    }
    /* RFC 9112 section 3.2: exactly one Host in HTTP/1.1, at most one in HTTP/1.0. */
    if (f.host2 != NULL) {
        return fail(c, off_of(c, f.host2), 400, "multiple Host fields");
    }
    if (f.host == NULL && m->minor_version == 1) {
        return fail(c, c->pos - 2, 400, "missing Host field"); /* at the empty line */
    }
    if (f.te != NULL) {
        m->body = MTLB_BODY_CHUNKED;
    } else if (f.cl != NULL && m->content_length > 0) {
        m->body = MTLB_BODY_LENGTH;
    }
    /* RFC 9110 section 10.1.1: a server ignores 100-continue from an HTTP/1.0 client. */
    m->expect_continue = m->expect_continue && m->minor_version == 1;
    set_keep_alive(m, &f);
    return 0;
}

static int finish_response(struct cur *c, bool request_was_head)
{
    struct mtlb_h1_message *m = c->msg;
    struct framing f = {0};
    int r = gather_framing(c, &f);

    if (r == 0) {
        r = check_transfer_encoding(c, &f, false);
    }
    if (r != 0) {
        return r;
    }
    m->expect_continue = false;
    set_keep_alive(m, &f);
    if (request_was_head || m->status < 200 || m->status == 204 || m->status == 304) {
        m->body = MTLB_BODY_NONE;
        m->content_length = 0;
    } else if (f.te != NULL) {
        m->body = f.chunked_final ? MTLB_BODY_CHUNKED : MTLB_BODY_UNTIL_CLOSE;
    } else if (f.cl != NULL) {
        m->body = m->content_length > 0 ? MTLB_BODY_LENGTH : MTLB_BODY_NONE;
    } else {
        m->body = MTLB_BODY_UNTIL_CLOSE;
    }
    if (m->body == MTLB_BODY_UNTIL_CLOSE) {
        m->keep_alive = false; /* the close is what delimits the body */
    }
    return 0;
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
    struct cur c = {.buf = buf, .len = clamp_len(len), .pos = 0, .msg = msg};
    int r;

    reset(msg);
    if ((r = parse_request_line(&c)) != 0 || (r = parse_fields(&c)) != 0 ||
        (r = finish_request(&c)) != 0) {
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
    struct cur c = {.buf = buf, .len = clamp_len(len), .pos = 0, .msg = msg};
    int r;

    reset(msg);
    if ((r = parse_status_line(&c)) != 0 || (r = parse_fields(&c)) != 0 ||
        (r = finish_response(&c, request_was_head)) != 0) {
        return r;
    }
    return (int)c.pos;
}
