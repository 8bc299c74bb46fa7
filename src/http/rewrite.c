/* Header rewriting between client and backend: drops hop-by-hop fields and any client-sent
 * identity or forwarding fields, then adds the ones the edge vouches for. Pure: writes into a
 * caller buffer from a parsed message; no I/O, no logging, no allocation. */
#include "mtlb/rewrite.h"

#include <errno.h>
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

/* RFC 9110 section 7.6.1: connection-specific fields never cross the proxy. Transfer-Encoding
 * is one too, but bodies are relayed verbatim, so the coding stays valid end to end. */
static bool is_hop_by_hop(const struct mtlb_h1_message *m, struct mtlb_slice name)
{
    static const char *const fixed[] = {"connection", "keep-alive", "proxy-connection", "te",
                                        "upgrade"};

    for (size_t i = 0; i < MTLB_ARRAY_LEN(fixed); i++) {
        if (mtlb_h1_name_is(name, fixed[i])) {
            return true;
        }
    }
    for (size_t i = 0; i < m->num_headers; i++) {
        if (mtlb_h1_name_is(m->headers[i].name, "connection") &&
            list_has(m->headers[i].value, name)) {
            return true;
        }
    }
    return false;
}

/* Fields only the edge may set: a client copy would forge its identity or its address. */
static bool is_edge_field(struct mtlb_slice name)
{
    if (name.len >= 5 && slice_eq_ci((struct mtlb_slice){name.p, 5}, slice_of("x-ssl"))) {
        return true;
    }
    return mtlb_h1_name_is(name, "x-forwarded-for") ||
           mtlb_h1_name_is(name, "x-forwarded-proto") || mtlb_h1_name_is(name, "x-real-ip");
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

static int put_identity(struct out *o, const struct mtlb_rewrite_req *rw)
{
    const struct mtlb_identity *id = rw->identity;
    int r = put_added(o, "X-SSL-Client-Verify", mtlb_identity_verify_word(id->verify));

    if (r == 0 && id->verify != MTLB_VERIFY_NONE) {
        r = put_added(o, "X-SSL-Client-DN", id->subject);
        r = r ? r : put_added(o, "X-SSL-Issuer", id->issuer);
        r = r ? r : put_added(o, "X-SSL-Client-Serial", id->serial);
    }
    r = r ? r : put_added(o, "X-Forwarded-For", rw->client_ip);
    r = r ? r : put_added(o, "X-Real-IP", rw->client_ip);
    return r ? r : put_added(o, "X-Forwarded-Proto", rw->proto);
}

static ssize_t finish(struct out *o)
{
    put(o, "\r\n", 2);
    return o->overflow ? -ENOSPC : (ssize_t)o->len;
}

ssize_t mtlb_rewrite_request(const struct mtlb_h1_message *req, const struct mtlb_rewrite_req *rw,
                             char *out, size_t cap)
{
    struct out o = {.p = out, .cap = cap};

    put(&o, req->method.p, req->method.len);
    put(&o, " ", 1);
    put(&o, req->target.p, req->target.len);
    put_str(&o, " HTTP/1.1\r\n");
    for (size_t i = 0; i < req->num_headers; i++) {
        const struct mtlb_h1_header *h = &req->headers[i];
        if (!is_edge_field(h->name) && !is_hop_by_hop(req, h->name)) {
            put_field(&o, h->name, h->value);
        }
    }
    int r = put_identity(&o, rw);
    if (r != 0) {
        return r;
    }
    return finish(&o);
}

ssize_t mtlb_rewrite_response(const struct mtlb_h1_message *resp, bool close_client, char *out,
                              size_t cap)
{
    struct out o = {.p = out, .cap = cap};
    int st = resp->status;
    char code[5] = {' ', (char)('0' + st / 100 % 10), (char)('0' + st / 10 % 10),
                    (char)('0' + st % 10), ' '};

    put_str(&o, "HTTP/1.1");
    put(&o, code, sizeof(code));
    put(&o, resp->reason.p, resp->reason.len);
    put(&o, "\r\n", 2);
    for (size_t i = 0; i < resp->num_headers; i++) {
        const struct mtlb_h1_header *h = &resp->headers[i];
        if (!is_hop_by_hop(resp, h->name)) {
            put_field(&o, h->name, h->value);
        }
    }
    if (close_client) {
        put_str(&o, "Connection: close\r\n");
    }
    return finish(&o);
}
