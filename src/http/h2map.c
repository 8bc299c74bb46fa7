/* Mapping between HTTP/2 header lists and HTTP/1.1 messages for the HTTP/2 front end: the
 * HTTP/1.1 view of a request (for mtlb_rewrite_request), nghttp2 lists for responses and
 * trailers, and the trailer section towards the backend. Pure: no I/O, no logging, no
 * allocation; nothing that could change the framing or inject a line is let through. */
#include "mtlb/h2map.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "h1_chars.h"
#include "mtlb/authority.h"

/* Bump allocator over the caller's scratch buffer. */
struct scratch {
    char *p;
    size_t cap;
    size_t len;
};

static char *scratch_take(struct scratch *s, size_t n)
{
    if (n > s->cap - s->len) {
        return NULL;
    }
    char *r = s->p + s->len;
    s->len += n;
    return r;
}

static struct mtlb_slice slice_of(const char *s)
{
    return (struct mtlb_slice){s, strlen(s)};
}

/* Exact (case-sensitive) comparison: pseudo-header names and methods are case-sensitive. */
static bool slice_eq(struct mtlb_slice a, const char *s)
{
    size_t n = strlen(s);

    return a.len == n && (n == 0 || memcmp(a.p, s, n) == 0);
}

static bool is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

static bool is_token(struct mtlb_slice t)
{
    for (size_t i = 0; i < t.len; i++) {
        if (!h1_is_tchar((unsigned char)t.p[i])) {
            return false;
        }
    }
    return t.len > 0;
}

/* HTTP/2 field names are lower-case tokens (RFC 9113 section 8.2.1). */
static bool valid_name(struct mtlb_slice n)
{
    for (size_t i = 0; i < n.len; i++) {
        if (n.p[i] >= 'A' && n.p[i] <= 'Z') {
            return false;
        }
    }
    return is_token(n);
}

/* The bytes the HTTP/1.1 parser accepts in a value: no CTL but HTAB, no DEL (so no CR, LF, NUL). */
static bool valid_value(struct mtlb_slice v)
{
    for (size_t i = 0; i < v.len; i++) {
        if (!h1_is_field((unsigned char)v.p[i])) {
            return false;
        }
    }
    return true;
}

static bool valid_target(struct mtlb_slice t)
{
    for (size_t i = 0; i < t.len; i++) {
        if (!h1_is_target((unsigned char)t.p[i])) {
            return false;
        }
    }
    return true;
}

/* ---- requests ---- */

enum pseudo { P_METHOD, P_PATH, P_SCHEME, P_AUTHORITY, P_COUNT };

#define SEEN(p) (1u << (p))
#define SEEN_REQUIRED (SEEN(P_METHOD) | SEEN(P_PATH) | SEEN(P_SCHEME))

/* What the first pass over the fields found. */
struct req_scan {
    struct mtlb_slice pseudo[P_COUNT];
    unsigned seen;                    /* SEEN() bits */
    const struct mtlb_h2_field *host; /* the "host" field, when any */
    size_t cookies;                   /* number of "cookie" fields */
    size_t cookie_len;                /* their values joined with "; " */
    bool has_cl;
    uint64_t content_length;
};

enum kind { K_KEEP, K_DROP, K_HOST, K_COOKIE, K_CL, K_TE, K_REFUSE };

static enum kind request_kind(const struct mtlb_h2_field *f)
{
    struct mtlb_slice n = f->name;

    /* RFC 9113 section 8.2.2: connection-specific fields make the request malformed. */
    switch (n.len) {
    case 2:
        return mtlb_h1_name_is(n, "te") ? K_TE : K_KEEP;
    case 4:
        return mtlb_h1_name_is(n, "host") ? K_HOST : K_KEEP;
    case 6:
        if (mtlb_h1_name_is(n, "cookie")) {
            return K_COOKIE;
        }
        /* HTTP/2 relays the body as it comes: nothing waits for a 100 (Continue) */
        return mtlb_h1_name_is(n, "expect") && mtlb_h1_name_is(f->value, "100-continue") ? K_DROP
                                                                                         : K_KEEP;
    case 7:
        return mtlb_h1_name_is(n, "upgrade") ? K_REFUSE : K_KEEP;
    case 10:
        return mtlb_h1_name_is(n, "connection") || mtlb_h1_name_is(n, "keep-alive") ? K_REFUSE
                                                                                    : K_KEEP;
    case 14:
        return mtlb_h1_name_is(n, "content-length") ? K_CL : K_KEEP;
    case 16:
        return mtlb_h1_name_is(n, "proxy-connection") ? K_REFUSE : K_KEEP;
    case 17:
        return mtlb_h1_name_is(n, "transfer-encoding") ? K_REFUSE : K_KEEP;
    default:
        return K_KEEP;
    }
}

static int scan_pseudo(struct req_scan *s, const struct mtlb_h2_field *f)
{
    static const char *const names[P_COUNT] = {":method", ":path", ":scheme", ":authority"};

    for (int i = 0; i < P_COUNT; i++) {
        if (slice_eq(f->name, names[i])) {
            if (s->seen & SEEN(i)) {
                return -EINVAL;
            }
            s->seen |= SEEN(i);
            s->pseudo[i] = f->value;
            return 0;
        }
    }
    return -EINVAL; /* :status, :protocol (extended CONNECT is not offered) or unknown */
}

static int scan_regular(struct req_scan *s, const struct mtlb_h2_field *f)
{
    if (!valid_name(f->name) || !valid_value(f->value)) {
        return -EINVAL;
    }
    switch (request_kind(f)) {
    case K_REFUSE:
        return -EINVAL;
    case K_TE: /* RFC 9113 section 8.2.2: "trailers" is the only value allowed */
        return mtlb_h1_name_is(f->value, "trailers") ? 0 : -EINVAL;
    case K_HOST:
        if (s->host != NULL) {
            return -EINVAL;
        }
        s->host = f;
        return 0;
    case K_COOKIE:
        s->cookie_len += (s->cookies++ > 0 ? 2 : 0) + f->value.len;
        return 0;
    case K_CL:
        if (s->has_cl || !mtlb_h1_parse_length(f->value, &s->content_length)) {
            return -EINVAL;
        }
        s->has_cl = true;
        return 0;
    default:
        return 0;
    }
}

/* :authority and host go through the authority parser that decides 421 (no userinfo, RFC
 * 9113 section 8.3.1; nothing that could break the Host line). With both, they must name the
 * same origin (section 8.3.1: "SHOULD treat as malformed" a host that differs; compared after
 * scheme-based normalization): a backend or a log must never see one and mtlb check the
 * other. */
static int check_authority(const struct req_scan *s, struct mtlb_slice a)
{
    struct mtlb_authority pa, ph;
    bool has_a = (s->seen & SEEN(P_AUTHORITY)) != 0;

    if (!has_a && s->host == NULL) {
        return -EINVAL; /* the backend speaks HTTP/1.1, which requires Host */
    }
    if ((has_a && mtlb_authority_parse(a, &pa) != 0) ||
        (s->host != NULL && mtlb_authority_parse(s->host->value, &ph) != 0)) {
        return -EINVAL;
    }
    if (has_a && s->host != NULL &&
        !mtlb_authority_same(&pa, &ph, mtlb_authority_default_port(s->pseudo[P_SCHEME]))) {
        return -EINVAL;
    }
    return 0;
}

static int check_pseudo(const struct req_scan *s)
{
    struct mtlb_slice m = s->pseudo[P_METHOD];
    struct mtlb_slice p = s->pseudo[P_PATH];
    struct mtlb_slice a = s->pseudo[P_AUTHORITY];

    if ((s->seen & SEEN(P_METHOD)) && slice_eq(m, "CONNECT")) {
        return -ENOTSUP;
    }
    if ((s->seen & SEEN_REQUIRED) != SEEN_REQUIRED || !is_token(m) ||
        !is_token(s->pseudo[P_SCHEME])) {
        return -EINVAL;
    }
    /* RFC 9113 section 8.3.1: origin form, or "*" for a server-wide OPTIONS */
    if (p.len == 0 || !valid_target(p) ||
        (p.p[0] != '/' && !(slice_eq(p, "*") && slice_eq(m, "OPTIONS")))) {
        return -EINVAL;
    }
    return check_authority(s, a);
}

static int scan_request(const struct mtlb_h2_field *f, size_t n, struct req_scan *s)
{
    bool regular = false;

    for (size_t i = 0; i < n; i++) {
        int r;
        if (f[i].name.len > 0 && f[i].name.p[0] == ':') {
            if (regular) {
                return -EINVAL; /* RFC 9113 section 8.3: pseudo-headers come first */
            }
            r = scan_pseudo(s, &f[i]);
        } else {
            regular = true;
            r = scan_regular(s, &f[i]);
        }
        if (r != 0) {
            return r;
        }
    }
    return check_pseudo(s);
}

static int push(struct mtlb_h1_message *m, struct mtlb_slice name, struct mtlb_slice value)
{
    if (m->num_headers >= m->max_headers) {
        return -ENOSPC;
    }
    m->headers[m->num_headers++] = (struct mtlb_h1_header){name, value};
    return 0;
}

/* RFC 9113 section 8.2.3: cookie-pairs split over several fields go back into one. */
static int join_cookies(const struct mtlb_h2_field *f, size_t n, const struct req_scan *s,
                        struct scratch *sc, struct mtlb_slice *out)
{
    char *p = s->cookies > 1 ? scratch_take(sc, s->cookie_len) : NULL;
    size_t at = 0;

    if (s->cookies > 1 && p == NULL) {
        return -ENOSPC;
    }
    for (size_t i = 0; i < n; i++) {
        struct mtlb_slice v = f[i].value;
        if (request_kind(&f[i]) != K_COOKIE) {
            continue;
        }
        if (s->cookies == 1) {
            *out = v; /* nothing to join: point into the field */
            return 0;
        }
        if (at > 0) {
            memcpy(p + at, "; ", 2);
            at += 2;
        }
        if (v.len > 0) {
            memcpy(p + at, v.p, v.len);
            at += v.len;
        }
    }
    *out = (struct mtlb_slice){p, at};
    return 0;
}

/* Host first, then the forwarded fields in arrival order, the cookies where the first was. */
static int build_headers(const struct mtlb_h2_field *f, size_t n, const struct req_scan *s,
                         struct mtlb_h1_message *m, struct scratch *sc)
{
    struct mtlb_slice host = s->seen & SEEN(P_AUTHORITY) ? s->pseudo[P_AUTHORITY] : s->host->value;
    bool cookie_done = false;
    int r = push(m, slice_of("host"), host);

    for (size_t i = 0; i < n && r == 0; i++) {
        const struct mtlb_h2_field *h = &f[i];
        struct mtlb_slice v;
        if (h->name.len > 0 && h->name.p[0] == ':') {
            continue;
        }
        switch (request_kind(h)) {
        case K_KEEP:
        case K_CL:
            r = push(m, h->name, h->value);
            break;
        case K_COOKIE:
            if (!cookie_done) {
                cookie_done = true;
                r = join_cookies(f, n, s, sc, &v);
                r = r != 0 ? r : push(m, h->name, v);
            }
            break;
        default: /* host (already first), te, expect: 100-continue */
            break;
        }
    }
    return r;
}

/* As mtlb_h1_parse_request leaves a request without Expect or Upgrade. */
static void reset_msg(struct mtlb_h1_message *m)
{
    m->method = m->target = m->reason = (struct mtlb_slice){NULL, 0};
    m->status = 0;
    m->minor_version = 1;
    m->num_headers = 0;
    m->body = MTLB_BODY_NONE;
    m->content_length = 0;
    m->keep_alive = true;
    m->expect_continue = m->upgrade = false;
    m->error_offset = 0;
    m->error_reason = NULL;
    m->error_status = 0;
}

int mtlb_h2_request_msg(const struct mtlb_h2_field *f, size_t n, bool end_stream,
                        struct mtlb_h1_message *msg, char *scratch, size_t cap)
{
    struct req_scan s = {0};
    struct scratch sc = {.p = scratch, .cap = cap};
    int r;

    reset_msg(msg);
    if ((r = scan_request(f, n, &s)) != 0) {
        return r;
    }
    /* RFC 9113 section 8.1.1: a Content-Length the DATA frames cannot match is malformed */
    if (end_stream && s.has_cl && s.content_length > 0) {
        return -EINVAL;
    }
    msg->method = s.pseudo[P_METHOD];
    msg->target = s.pseudo[P_PATH];
    if ((r = build_headers(f, n, &s, msg, &sc)) != 0) {
        return r;
    }
    if (end_stream) {
        return 0;
    }
    if (s.has_cl) {
        msg->content_length = s.content_length;
        msg->body = s.content_length > 0 ? MTLB_BODY_LENGTH : MTLB_BODY_NONE;
        return 0;
    }
    msg->body = MTLB_BODY_CHUNKED;
    return push(msg, slice_of("transfer-encoding"), slice_of("chunked"));
}

/* ---- responses and trailers ---- */

static void set_nv(nghttp2_nv *nv, struct mtlb_slice name, struct mtlb_slice value)
{
    /* nghttp2 copies both (NGHTTP2_NV_FLAG_NONE) and never writes through these pointers */
    nv->name = (uint8_t *)(uintptr_t)name.p;
    nv->namelen = name.len;
    nv->value = (uint8_t *)(uintptr_t)value.p;
    nv->valuelen = value.len;
    nv->flags = NGHTTP2_NV_FLAG_NONE;
}

/* HTTP/2 field names must be lower case (RFC 9113 section 8.2.1). */
static int lower_name(struct scratch *sc, struct mtlb_slice n, struct mtlb_slice *out)
{
    char *p = scratch_take(sc, n.len);

    if (p == NULL) {
        return -ENOSPC;
    }
    for (size_t i = 0; i < n.len; i++) {
        char ch = n.p[i];
        p[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch | 0x20) : ch;
    }
    *out = (struct mtlb_slice){p, n.len};
    return 0;
}

/* True when the comma-separated list holds name as one of its elements. */
static bool list_has(struct mtlb_slice list, struct mtlb_slice name)
{
    size_t i = 0;

    while (i < list.len) {
        size_t s = i;
        while (i < list.len && list.p[i] != ',') {
            i++;
        }
        size_t e = i++;
        while (s < e && is_ows(list.p[s])) {
            s++;
        }
        while (e > s && is_ows(list.p[e - 1])) {
            e--;
        }
        if (e - s == name.len && strncasecmp(list.p + s, name.p, name.len) == 0) {
            return true;
        }
    }
    return false;
}

/* RFC 9110 section 7.6.1; Transfer-Encoding too, since HTTP/2 has its own framing. */
static bool hop_by_hop(struct mtlb_slice n)
{
    return mtlb_h1_name_is(n, "connection") || mtlb_h1_name_is(n, "keep-alive") ||
           mtlb_h1_name_is(n, "proxy-connection") || mtlb_h1_name_is(n, "te") ||
           mtlb_h1_name_is(n, "upgrade") || mtlb_h1_name_is(n, "transfer-encoding");
}

/* Content-Length stays even when Connection names it: it is end-to-end framing information,
 * except on a 204, which has no body and must not say a length (RFC 9110 8.6; nghttp2 clients
 * reset the stream when it says one other than 0). */
static bool drop_response_field(const struct mtlb_h1_message *m, struct mtlb_slice name)
{
    if (hop_by_hop(name)) {
        return true;
    }
    if (mtlb_h1_name_is(name, "content-length")) {
        return m->status == 204;
    }
    for (size_t i = 0; i < m->num_headers; i++) {
        if (mtlb_h1_name_is(m->headers[i].name, "connection") &&
            list_has(m->headers[i].value, name)) {
            return true;
        }
    }
    return false;
}

ssize_t mtlb_h2_response_nv(const struct mtlb_h1_message *resp, nghttp2_nv *nva, size_t max,
                            char *scratch, size_t cap)
{
    struct scratch sc = {.p = scratch, .cap = cap};
    int st = resp->status;
    char *code = scratch_take(&sc, 3);
    size_t k = 0;

    if (st < 100 || st > 999) {
        return -EINVAL;
    }
    if (code == NULL || max == 0) {
        return -ENOSPC;
    }
    code[0] = (char)('0' + st / 100);
    code[1] = (char)('0' + st / 10 % 10);
    code[2] = (char)('0' + st % 10);
    set_nv(&nva[k++], slice_of(":status"), (struct mtlb_slice){code, 3});
    for (size_t i = 0; i < resp->num_headers; i++) {
        const struct mtlb_h1_header *h = &resp->headers[i];
        struct mtlb_slice name;
        if (drop_response_field(resp, h->name)) {
            continue;
        }
        if (k == max || lower_name(&sc, h->name, &name) != 0) {
            return -ENOSPC;
        }
        set_nv(&nva[k++], name, h->value);
    }
    return (ssize_t)k;
}

/* Framing, routing and connection fields have no meaning in a trailer section (RFC 9110
 * section 6.5.1) and would confuse the receiver. */
static bool trailer_forbidden(struct mtlb_slice n)
{
    return hop_by_hop(n) || mtlb_h1_name_is(n, "content-length") || mtlb_h1_name_is(n, "host");
}

/* Splits the field line at block[*at]: name before the colon, value without OWS. */
static int next_line(const char *block, size_t len, size_t *at, struct mtlb_slice *name,
                     struct mtlb_slice *value)
{
    const char *p = block + *at;
    const char *end = memmem(p, len - *at, "\r\n", 2);
    const char *colon = end != NULL ? memchr(p, ':', (size_t)(end - p)) : NULL;

    if (colon == NULL) {
        return -EINVAL;
    }
    *name = (struct mtlb_slice){p, (size_t)(colon - p)};
    const char *v = colon + 1;
    const char *ve = end;
    while (v < ve && is_ows(*v)) {
        v++;
    }
    while (ve > v && is_ows(ve[-1])) {
        ve--;
    }
    *value = (struct mtlb_slice){v, (size_t)(ve - v)};
    *at += (size_t)(end + 2 - p);
    return is_token(*name) ? 0 : -EINVAL;
}

ssize_t mtlb_h2_trailer_nv(const char *block, size_t len, nghttp2_nv *nva, size_t max,
                           char *scratch, size_t cap)
{
    struct scratch sc = {.p = scratch, .cap = cap};
    size_t at = 0;
    size_t k = 0;

    while (at < len) {
        struct mtlb_slice name;
        struct mtlb_slice value;
        int r = next_line(block, len, &at, &name, &value);
        if (r != 0) {
            return r;
        }
        if (trailer_forbidden(name)) {
            continue;
        }
        if (k == max || lower_name(&sc, name, &name) != 0) {
            return -ENOSPC;
        }
        set_nv(&nva[k++], name, value);
    }
    return (ssize_t)k;
}

struct out {
    char *p;
    size_t cap;
    size_t len;
    bool overflow;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->overflow || n > o->cap - o->len) {
        o->overflow = true;
        return;
    }
    if (n > 0) {
        memcpy(o->p + o->len, s, n);
        o->len += n;
    }
}

ssize_t mtlb_h2_trailer_block(const struct mtlb_h2_field *f, size_t n,
                              const struct mtlb_header_policy *policy, char *out, size_t cap)
{
    return mtlb_h2_trailer_block_named(f, n, policy, NULL, out, cap);
}

ssize_t mtlb_h2_trailer_block_named(const struct mtlb_h2_field *f, size_t n,
                                    const struct mtlb_header_policy *policy,
                                    const struct mtlb_id_names *names, char *out, size_t cap)
{
    struct out o = {.p = out, .cap = cap};

    put(&o, "0\r\n", 3);
    for (size_t i = 0; i < n; i++) {
        struct mtlb_slice name = f[i].name;
        if (name.len > 0 && name.p[0] == ':') {
            continue;
        }
        if (!valid_name(name) || !valid_value(f[i].value)) {
            return -EINVAL;
        }
        if (mtlb_rewrite_trailer_verdict(name, policy, names) != MTLB_FIELD_KEEP) {
            continue; /* the same rule as HTTP/1.1 trailers: no protected name, no framing */
        }
        put(&o, name.p, name.len);
        put(&o, ": ", 2);
        put(&o, f[i].value.p, f[i].value.len);
        put(&o, "\r\n", 2);
    }
    put(&o, "\r\n", 2);
    return o.overflow ? -ENOSPC : (ssize_t)o.len;
}
