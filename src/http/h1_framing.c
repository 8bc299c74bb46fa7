/* HTTP/1.1 framing (RFC 9112 section 6, RFC 9110 section 7.6.1): from the parsed fields, the
 * body kind and length, keep-alive, Expect and Upgrade, and the refusals that stop request
 * smuggling (CL with TE, repeated CL or Host, unknown codings). Field-name comparison lives here
 * too. Pure: no allocation, no logging; it reads only the caller's header slices. */
#include <string.h>

#include "h1_int.h"
#include "mtlb/h1.h"

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
        while (s < e && h1_is_ows(v.p[s])) {
            s++;
        }
        while (e > s && h1_is_ows(v.p[e - 1])) {
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

static size_t off_of(struct h1_cur *c, const struct mtlb_h1_header *h)
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

static int gather_framing(struct h1_cur *c, struct framing *f)
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
                return h1_fail(c, off_of(c, h), 400, "multiple Content-Length fields");
            }
            if (!mtlb_h1_parse_length(h->value, &m->content_length)) {
                return h1_fail(c, off_of(c, h), 400, "invalid Content-Length");
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
static int check_transfer_encoding(struct h1_cur *c, const struct framing *f, bool is_request)
{
    if (f->te == NULL) {
        return 0;
    }
    if (f->cl != NULL) {
        return h1_fail(c, off_of(c, f->cl), 400, "Content-Length with Transfer-Encoding");
    }
    if (c->msg->minor_version == 0) {
        return h1_fail(c, off_of(c, f->te), 400, "Transfer-Encoding in an HTTP/1.0 message");
    }
    if (f->te_bad != NULL) {
        return h1_fail(c, off_of(c, f->te_bad), 400, "invalid Transfer-Encoding");
    }
    if (is_request && f->te_other != NULL) {
        return h1_fail(c, off_of(c, f->te_other), 501, "unsupported transfer coding");
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

int mtlb_h1_framing_request(struct h1_cur *c)
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
        return h1_fail(c, off_of(c, f.host2), 400, "multiple Host fields");
    }
    if (f.host == NULL && m->minor_version == 1) {
        return h1_fail(c, c->pos - 2, 400, "missing Host field"); /* at the empty line */
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

int mtlb_h1_framing_response(struct h1_cur *c, bool request_was_head)
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
