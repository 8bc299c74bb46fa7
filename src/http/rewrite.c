/* Header rewriting between client and backend: drops hop-by-hop fields and any client-sent
 * identity or forwarding fields (in any spelling, headers and trailers alike), writes the body
 * framing canonically, then adds the fields the edge vouches for. Pure: writes into a
 * caller buffer from a parsed message; no I/O, no logging, no allocation. */
#include "mtlb/rewrite.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct out {
    char *p;
    size_t cap;
    size_t len;
    bool overflow;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (n == 0) {
        return; /* an empty slice may carry a NULL pointer */
    }
    if (o->overflow || n > o->cap - o->len) {
        o->overflow = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void put_str(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void put_field(struct out *o, struct mtlb_slice name, struct mtlb_slice value)
{
    put(o, name.p, name.len);
    put(o, ": ", 2);
    put(o, value.p, value.len);
    put(o, "\r\n", 2);
}

static struct mtlb_slice slice_of(const char *s)
{
    return (struct mtlb_slice){s, strlen(s)};
}

static unsigned char ascii_lower(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') ? (unsigned char)(ch | 0x20) : ch;
}

static bool slice_eq_ci(struct mtlb_slice a, struct mtlb_slice b)
{
    if (a.len != b.len) {
        return false;
    }
    for (size_t i = 0; i < a.len; i++) {
        if (ascii_lower((unsigned char)a.p[i]) != ascii_lower((unsigned char)b.p[i])) {
            return false;
        }
    }
    return true;
}

/* True when the comma-separated list `list` holds `name` as one of its elements. */
static bool list_has(struct mtlb_slice list, struct mtlb_slice name)
{
    size_t i = 0;

    while (i < list.len) {
        size_t s = i;
        while (i < list.len && list.p[i] != ',') {
            i++;
        }
        size_t e = i++;
        while (s < e && (list.p[s] == ' ' || list.p[s] == '\t')) {
            s++;
        }
        while (e > s && (list.p[e - 1] == ' ' || list.p[e - 1] == '\t')) {
            e--;
        }
        if (slice_eq_ci((struct mtlb_slice){list.p + s, e - s}, name)) {
            return true;
        }
    }
    return false;
}

enum field_kind {
    F_OTHER,
    F_HOP,       /* RFC 9110 section 7.6.1: connection-specific, never crosses the proxy */
    F_EDGE,      /* only the edge may set it: a client copy would forge identity or address */
    F_PROTECTED, /* never removed, even when Connection names it (see below) */
    F_FRAMING,   /* Content-Length, Transfer-Encoding: requests get them rewritten */
    F_TRAILER,   /* Trailer: announces trailer fields, end-to-end */
};

/* Any byte but a letter or digit reads as "-": CGI, WSGI and Rack give "_" and "-" the same
 * variable name, and lighttpd's CGI/FastCGI/SCGI environments map every other byte too
 * (X.SSL.Client.DN is HTTP_X_SSL_CLIENT_DN there; PHP turns "." into "_" as well). */
static unsigned char fold(unsigned char ch)
{
    ch = ascii_lower(ch);
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ? ch : '-';
}

/* Whether name, folded, starts with (or, with whole, equals) the lower-case `lower`. */
static bool folded_is(struct mtlb_slice name, const char *lower, bool whole)
{
    size_t i = 0;

    for (; lower[i] != '\0'; i++) {
        if (i == name.len || fold((unsigned char)name.p[i]) != (unsigned char)lower[i]) {
            return false;
        }
    }
    return !whole || i == name.len;
}

static bool has_underscore(struct mtlb_slice n)
{
    return n.len > 0 && memchr(n.p, '_', n.len) != NULL;
}

bool mtlb_rewrite_is_protected(struct mtlb_slice n)
{
    /* Every X-SSL-* and X-Forwarded-* (For, Proto, Host, Port, ...) and RFC 7239's
     * Forwarded: at the edge, a client's copy of any of them is a forgery. X-Request-Id is
     * mtlb's to write (the client's well-formed value is taken over by the caller), so that
     * the backend and the access log always see one and the same id. */
    return folded_is(n, "x-ssl", false) || folded_is(n, "x-forwarded-", false) ||
           folded_is(n, "x-real-ip", true) || folded_is(n, "forwarded", true) ||
           folded_is(n, "x-request-id", true);
}

/* Whether name, folded, is the configured name `cfg` folded. */
static bool folded_eq(struct mtlb_slice name, const char *cfg)
{
    size_t i = 0;

    for (; cfg[i] != '\0'; i++) {
        if (i == name.len || fold((unsigned char)name.p[i]) != fold((unsigned char)cfg[i])) {
            return false;
        }
    }
    return i == name.len;
}

/* A configured opt-in identity name (outside the X-SSL-* ones, already protected). */
static bool is_id_name(struct mtlb_slice n, const struct mtlb_id_names *names)
{
    for (int i = 0; names != NULL && i < MTLB_IDH_COUNT; i++) {
        if (names->name[i][0] != '\0' && folded_eq(n, names->name[i])) {
            return true;
        }
    }
    return false;
}

/* One switch on the length, then one comparison: every field is classified once. Names are
 * folded ("_" as "-"), so that a spelling of a name mtlb treats specially is recognised. */
static enum field_kind classify(struct mtlb_slice n, const struct mtlb_id_names *names)
{
    if (mtlb_rewrite_is_protected(n) || is_id_name(n, names)) {
        return F_EDGE;
    }
    switch (n.len) {
    case 2:
        return folded_is(n, "te", true) ? F_HOP : F_OTHER;
    case 4:
        return folded_is(n, "host", true) ? F_PROTECTED : F_OTHER;
    case 7:
        return folded_is(n, "upgrade", true)   ? F_HOP
               : folded_is(n, "trailer", true) ? F_TRAILER
                                               : F_OTHER;
    case 10:
        return folded_is(n, "connection", true) || folded_is(n, "keep-alive", true) ? F_HOP
                                                                                    : F_OTHER;
    case 14:
        return folded_is(n, "content-length", true) ? F_FRAMING : F_OTHER;
    case 16:
        return folded_is(n, "proxy-connection", true) ? F_HOP : F_OTHER;
    case 17:
        return folded_is(n, "transfer-encoding", true) ? F_FRAMING : F_OTHER;
    default:
        return F_OTHER;
    }
}

static const struct mtlb_header_policy default_policy = {MTLB_US_DROP, false};

enum mtlb_field_verdict mtlb_rewrite_trailer_field(struct mtlb_slice name,
                                                   const struct mtlb_header_policy *policy)
{
    return mtlb_rewrite_trailer_verdict(name, policy, NULL);
}

enum mtlb_field_verdict mtlb_rewrite_trailer_verdict(struct mtlb_slice name,
                                                     const struct mtlb_header_policy *policy,
                                                     const struct mtlb_id_names *names)
{
    const struct mtlb_header_policy *p = policy != NULL ? policy : &default_policy;

    if (classify(name, names) != F_OTHER) {
        return MTLB_FIELD_DROP; /* identity, connection, framing, routing: never in trailers */
    }
    if (has_underscore(name) && p->underscores != MTLB_US_PASS) {
        return MTLB_FIELD_DROP;
    }
    return MTLB_FIELD_KEEP;
}

int mtlb_rewrite_trailer_filter(struct mtlb_slice name, void *policy)
{
    return mtlb_rewrite_trailer_field(name, policy) == MTLB_FIELD_KEEP;
}

int mtlb_rewrite_trailer_filter_rules(struct mtlb_slice name, void *rules)
{
    const struct mtlb_trailer_rules *r = rules;

    return mtlb_rewrite_trailer_verdict(name, r->policy, r->names) == MTLB_FIELD_KEEP;
}

/* Index of the first non-empty Connection field, or num_headers when there is none. */
static size_t first_connection(const struct mtlb_h1_message *m)
{
    size_t i = 0;

    while (i < m->num_headers &&
           !(mtlb_h1_name_is(m->headers[i].name, "connection") && m->headers[i].value.len > 0)) {
        i++;
    }
    return i;
}

static bool named_by_connection(const struct mtlb_h1_message *m, size_t first_conn,
                                struct mtlb_slice name)
{
    for (size_t i = first_conn; i < m->num_headers; i++) {
        if (mtlb_h1_name_is(m->headers[i].name, "connection") &&
            list_has(m->headers[i].value, name)) {
            return true;
        }
    }
    return false;
}

/* The verdict on one request field. Protected names go whatever the policy; a name with "_"
 * goes when it spells a name mtlb treats specially, else as the policy says. The framing
 * fields go too: the request head gets canonical ones (put_framing). "Connection: Host" must
 * not strip Host. */
static enum mtlb_field_verdict request_field(const struct mtlb_h1_message *m, size_t first_conn,
                                             struct mtlb_slice name,
                                             const struct mtlb_header_policy *p,
                                             const struct mtlb_id_names *names)
{
    enum field_kind k = classify(name, names);

    if (has_underscore(name)) {
        if (p->underscores == MTLB_US_REJECT) {
            return MTLB_FIELD_REJECT;
        }
        if (k != F_OTHER || p->underscores == MTLB_US_DROP) {
            return MTLB_FIELD_DROP;
        }
    }
    switch (k) {
    case F_HOP:
    case F_EDGE:
    case F_FRAMING:
        return MTLB_FIELD_DROP;
    case F_PROTECTED:
        return MTLB_FIELD_KEEP;
    case F_TRAILER:
        if (!p->forward_trailers) {
            return MTLB_FIELD_DROP; /* no trailer section will follow */
        }
        break;
    default:
        break;
    }
    return named_by_connection(m, first_conn, name) ? MTLB_FIELD_DROP : MTLB_FIELD_KEEP;
}

/* Whether a response field must not be forwarded. "Connection: Content-Length" must not strip
 * the framing the proxy used to delimit the body, nor Host. A 204 has no body whatever its
 * fields say, and must carry no framing (RFC 9110 8.6, RFC 9112 6.1): a client or proxy in
 * front of mtlb that framed a body by them would take the next response as that body. */
static bool drop_response_field(const struct mtlb_h1_message *m, size_t first_conn,
                                struct mtlb_slice name)
{
    enum field_kind k = classify(name, NULL);

    if (k == F_HOP) {
        return true;
    }
    if (k == F_FRAMING) {
        return m->status == 204;
    }
    if (k == F_PROTECTED) {
        return false;
    }
    return named_by_connection(m, first_conn, name);
}

/* Added values come from the certificate and the socket; refuse anything that could break
 * out of the field (the identity module already escapes, this is the last line of defence). */
static bool safe_value(const char *v)
{
    for (; *v != '\0'; v++) {
        unsigned char ch = (unsigned char)*v;
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            return false;
        }
    }
    return true;
}

static int put_added(struct out *o, const char *name, const char *value)
{
    if (value == NULL) {
        return 0;
    }
    if (!safe_value(value)) {
        return -EINVAL;
    }
    put_field(o, slice_of(name), slice_of(value));
    return 0;
}

/* One opt-in identity header: only when configured and the identity has a value; a value
 * left out for its size fails the request rather than reach the backend cut or missing. */
static int put_id_extra(struct out *o, const struct mtlb_id_names *p, enum mtlb_id_header which,
                        const char *value, bool oversize)
{
    if (p == NULL || p->name[which][0] == '\0') {
        return 0;
    }
    return oversize ? -E2BIG : put_added(o, p->name[which], value);
}

static int put_identity(struct out *o, const struct mtlb_rewrite_req *rw)
{
    const struct mtlb_id_names *p = rw->id_names;
    const struct mtlb_identity *id = rw->identity;
    int r = put_added(o, "X-SSL-Client-Verify", mtlb_identity_verify_word(id->verify));

    if (r == 0 && id->verify != MTLB_VERIFY_NONE) {
        r = put_added(o, "X-SSL-Client-DN", id->subject);
        r = r ? r : put_added(o, "X-SSL-Issuer", id->issuer);
        r = r ? r : put_added(o, "X-SSL-Client-Serial", id->serial);
        r = r ? r
              : put_id_extra(o, p, MTLB_IDH_FINGERPRINT,
                             id->fingerprint[0] != '\0' ? id->fingerprint : NULL, false);
        r = r ? r
              : put_id_extra(o, p, MTLB_IDH_SAN, id->san, (id->oversize & MTLB_IDENTITY_SAN) != 0);
        r = r ? r
              : put_id_extra(o, p, MTLB_IDH_CERT, id->cert_escaped,
                             (id->oversize & MTLB_IDENTITY_CERT) != 0);
    }
    r = r ? r : put_added(o, "X-Forwarded-For", rw->client_ip);
    r = r ? r : put_added(o, "X-Real-IP", rw->client_ip);
    r = r ? r : put_added(o, "X-Forwarded-Proto", rw->proto);
    return r ? r : put_added(o, "X-Request-Id", rw->request_id);
}

static ssize_t finish(struct out *o)
{
    put(o, "\r\n", 2);
    return o->overflow ? -ENOSPC : (ssize_t)o->len;
}

/* The request line and Host as mtlb_authority_from_request resolved them: the backend gets the
 * origin-form target and exactly the authority the 421 check saw, never the client's spelling
 * (nor the client's Host when an absolute-form target named another authority). An HTTP/1.0
 * request without Host or an absolute-form target gets an empty Host (RFC 9112 section 3.2). */
static void put_request_line(struct out *o, const struct mtlb_h1_message *req,
                             const struct mtlb_authority_request *ar)
{
    char port[8];
    int n = 0;

    put(o, req->method.p, req->method.len);
    put(o, ar->slash ? " /" : " ", ar->slash ? 2 : 1);
    put(o, ar->target.p, ar->target.len);
    put_str(o, " HTTP/1.1\r\nHost: ");
    put(o, ar->authority.host, ar->authority.host_len);
    if (ar->authority.port >= 0 && ar->authority.port <= 65535) {
        n = snprintf(port, sizeof(port), ":%d", ar->authority.port);
    }
    put(o, port, (size_t)n);
    put(o, "\r\n", 2);
}

/* The framing the proxy delimits the body with, never the client's spelling of it: a backend
 * whose parser differs must read the same message ("CHUNKED", "0003", OWS...). */
static void put_framing(struct out *o, const struct mtlb_h1_message *req)
{
    char digits[24];
    size_t n = sizeof(digits);
    uint64_t v = req->content_length;
    bool has_cl = req->body == MTLB_BODY_LENGTH;

    if (req->body == MTLB_BODY_CHUNKED) {
        put_str(o, "Transfer-Encoding: chunked\r\n");
        return;
    }
    for (size_t i = 0; i < req->num_headers && !has_cl; i++) {
        has_cl = mtlb_h1_name_is(req->headers[i].name, "content-length");
    }
    if (!has_cl) {
        return;
    }
    do {
        digits[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    put_str(o, "Content-Length: ");
    put(o, digits + n, sizeof(digits) - n);
    put(o, "\r\n", 2);
}

ssize_t mtlb_rewrite_request(const struct mtlb_h1_message *req, const struct mtlb_rewrite_req *rw,
                             char *out, size_t cap)
{
    struct out o = {.p = out, .cap = cap};
    size_t first_conn = first_connection(req);
    const struct mtlb_header_policy *p = rw->policy != NULL ? rw->policy : &default_policy;

    put_request_line(&o, req, rw->target);
    for (size_t i = 0; i < req->num_headers; i++) {
        const struct mtlb_h1_header *h = &req->headers[i];
        if (mtlb_h1_name_is(h->name, "host")) {
            continue; /* written with the request line, from the resolved authority */
        }
        enum mtlb_field_verdict v = request_field(req, first_conn, h->name, p, rw->id_names);
        if (v == MTLB_FIELD_REJECT) {
            return -EBADMSG;
        }
        if (v == MTLB_FIELD_KEEP) {
            put_field(&o, h->name, h->value);
        }
    }
    put_framing(&o, req);
    int r = put_identity(&o, rw);
    if (r != 0) {
        return r;
    }
    return finish(&o);
}

int mtlb_rewrite_status(ssize_t err)
{
    return err == -ENOSPC || err == -E2BIG ? 431 : err == -EBADMSG ? 400 : 500;
}

ssize_t mtlb_rewrite_response(const struct mtlb_h1_message *resp, bool close_client, char *out,
                              size_t cap)
{
    struct out o = {.p = out, .cap = cap};
    size_t first_conn = first_connection(resp);
    int st = resp->status;
    char code[5] = {' ', (char)('0' + st / 100 % 10), (char)('0' + st / 10 % 10),
                    (char)('0' + st % 10), ' '};

    put_str(&o, "HTTP/1.1");
    put(&o, code, sizeof(code));
    put(&o, resp->reason.p, resp->reason.len);
    put(&o, "\r\n", 2);
    for (size_t i = 0; i < resp->num_headers; i++) {
        const struct mtlb_h1_header *h = &resp->headers[i];
        if (!drop_response_field(resp, first_conn, h->name)) {
            put_field(&o, h->name, h->value);
        }
    }
    if (close_client) {
        put_str(&o, "Connection: close\r\n");
    }
    return finish(&o);
}

/* RFC 9110 tchar. */
static bool is_tchar(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

const char *mtlb_rewrite_check_id_name(const struct mtlb_id_names *names, enum mtlb_id_header which,
                                       const char *name)
{
    static const char *const written[] = {"x-ssl-client-verify", "x-ssl-client-dn", "x-ssl-issuer",
                                          "x-ssl-client-serial"};
    struct mtlb_slice n = slice_of(name);

    if (n.len == 0 || n.len > MTLB_IDH_NAME_MAX) {
        return "a header name of 1 to 64 characters is expected";
    }
    for (size_t i = 0; i < n.len; i++) {
        if (!is_tchar((unsigned char)n.p[i])) {
            return "not a valid header name (RFC 9110 token characters only)";
        }
    }
    for (size_t i = 0; i < sizeof(written) / sizeof(written[0]); i++) {
        if (folded_is(n, written[i], true)) {
            return "is a header mtlb already writes";
        }
    }
    enum field_kind k = classify(n, NULL);
    if (k == F_EDGE && !folded_is(n, "x-ssl", false)) {
        return "is a forwarding header mtlb protects (X-Forwarded-*, Forwarded, X-Real-IP, "
               "X-Request-Id)";
    }
    if (k != F_OTHER && k != F_EDGE) {
        return "is Host or a hop-by-hop or framing header";
    }
    for (int i = 0; names != NULL && i < MTLB_IDH_COUNT; i++) {
        if (i != (int)which && names->name[i][0] != '\0' && folded_eq(n, names->name[i])) {
            return "is already the name of another identity header";
        }
    }
    return NULL;
}

unsigned mtlb_rewrite_id_extras(const struct mtlb_id_names *names)
{
    return (names->name[MTLB_IDH_CERT][0] != '\0' ? MTLB_IDENTITY_CERT : 0u) |
           (names->name[MTLB_IDH_SAN][0] != '\0' ? MTLB_IDENTITY_SAN : 0u);
}

size_t mtlb_rewrite_id_room(const struct mtlb_id_names *names)
{
    static const size_t longest[MTLB_IDH_COUNT] = {MTLB_IDENTITY_CERT_MAX, MTLB_IDENTITY_SAN_MAX,
                                                   64};
    size_t room = 0;

    for (int i = 0; i < MTLB_IDH_COUNT; i++) {
        size_t len = strlen(names->name[i]);
        room += len > 0 ? len + 4 + longest[i] : 0; /* "name: value\r\n" */
    }
    return room;
}

const char *mtlb_http_status_text(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 421:
        return "Misdirected Request";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Error";
    }
}
