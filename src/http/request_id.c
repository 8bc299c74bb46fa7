/* Request ids: validates a client's X-Request-Id and generates one when it has none usable.
 * Owns the id syntax; never does I/O (the generator's seed comes from the caller). */
#include <string.h>

#include "mtlb/request_id.h"

static bool id_char(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '_' || ch == ':' || ch == '-';
}

bool mtlb_request_id_valid(struct mtlb_slice v)
{
    if (v.len == 0 || v.len > MTLB_REQUEST_ID_MAX) {
        return false;
    }
    for (size_t i = 0; i < v.len; i++) {
        if (!id_char((unsigned char)v.p[i])) {
            return false;
        }
    }
    return true;
}

struct mtlb_slice mtlb_request_id_from(const struct mtlb_h1_message *req)
{
    struct mtlb_slice found = {0};
    size_t seen = 0;

    for (size_t i = 0; i < req->num_headers; i++) {
        if (mtlb_h1_name_is(req->headers[i].name, "x-request-id")) {
            found = req->headers[i].value;
            seen++;
        }
    }
    if (seen != 1 || !mtlb_request_id_valid(found)) {
        return (struct mtlb_slice){0};
    }
    return found;
}

void mtlb_request_id_gen_init(struct mtlb_request_id_gen *g, const unsigned char seed[10],
                              uint16_t index)
{
    memcpy(g->prefix, seed, 10);
    g->prefix[10] = (unsigned char)(index >> 8);
    g->prefix[11] = (unsigned char)index;
    g->next = 0;
}

void mtlb_request_id_next(struct mtlb_request_id_gen *g, char *out)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t n = g->next++;
    size_t o = 0;

    for (size_t i = 0; i < sizeof(g->prefix); i++) {
        out[o++] = hex[g->prefix[i] >> 4];
        out[o++] = hex[g->prefix[i] & 15];
    }
    for (int shift = 60; shift >= 0; shift -= 4) {
        out[o++] = hex[(n >> shift) & 15];
    }
    out[o] = '\0';
}

void mtlb_request_id_pick(struct mtlb_request_id_gen *g, const struct mtlb_h1_message *req,
                          char *out)
{
    struct mtlb_slice v = req != NULL ? mtlb_request_id_from(req) : (struct mtlb_slice){0};

    if (v.len == 0) {
        mtlb_request_id_next(g, out);
        return;
    }
    memcpy(out, v.p, v.len);
    out[v.len] = '\0';
}
