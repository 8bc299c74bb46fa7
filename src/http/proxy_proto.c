/* PROXY protocol v1/v2 header parser (proxy_proto.h): the addresses a load balancer in front
 * of mtlb puts ahead of the client's bytes. It owns the format checks and the length limits
 * only; reading, trust in the sender and what the address is used for belong to the acceptor.
 * Pure: no I/O, no logging; never reads at or past buf + len. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "mtlb/proxy_proto.h"

static const uint8_t v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                   0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
static const char v1_sig[] = "PROXY ";

#define V1_SIG_LEN (sizeof(v1_sig) - 1)

static size_t min_sz(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* A port: "0" or 1-5 digits without a leading zero, at most 65535. */
static bool v1_port(const char *s, size_t n, uint16_t *out)
{
    unsigned v = 0;

    if (n == 0 || n > 5 || (n > 1 && s[0] == '0')) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = (uint16_t)v;
    return v <= 65535;
}

static bool v1_addr(const char *s, size_t n, int af, uint8_t out[16])
{
    char text[INET6_ADDRSTRLEN];

    if (n == 0 || n >= sizeof(text)) {
        return false;
    }
    memcpy(text, s, n);
    text[n] = '\0';
    return inet_pton(af, text, out) == 1;
}

/* Splits line[0..n) at single spaces into at most max tokens; false on an empty token. */
static size_t v1_split(const char *line, size_t n, const char **tok, size_t *tlen, size_t max)
{
    size_t k = 0, start = 0;

    for (size_t i = 0; i <= n; i++) {
        if (i == n || line[i] == ' ') {
            if (k == max || i == start) {
                return max + 1; /* too many tokens or an empty one: invalid */
            }
            tok[k] = line + start;
            tlen[k++] = i - start;
            start = i + 1;
        }
    }
    return k;
}

/* The complete line line[0..n) (without its CRLF) after "PROXY ". */
static int v1_line(const char *line, size_t n, struct mtlb_proxy_hdr *out, const char **reason)
{
    const char *tok[5];
    size_t tlen[5];

    memset(out, 0, sizeof(*out));
    out->version = 1;
    if (n >= 7 && memcmp(line, "UNKNOWN", 7) == 0 && (n == 7 || line[7] == ' ')) {
        return 0; /* the rest of an UNKNOWN line is ignored (the specification says so) */
    }
    if (v1_split(line, n, tok, tlen, 5) != 5 || tlen[0] != 4 ||
        (memcmp(tok[0], "TCP4", 4) != 0 && memcmp(tok[0], "TCP6", 4) != 0)) {
        *reason = "v1: expected TCP4, TCP6 or UNKNOWN and four fields";
        return MTLB_INVALID;
    }
    int af = tok[0][3] == '4' ? AF_INET : AF_INET6;
    if (!v1_addr(tok[1], tlen[1], af, out->src) || !v1_addr(tok[2], tlen[2], af, out->dst)) {
        *reason = "v1: an address is not of the protocol's family";
        return MTLB_INVALID;
    }
    if (!v1_port(tok[3], tlen[3], &out->src_port) || !v1_port(tok[4], tlen[4], &out->dst_port)) {
        *reason = "v1: a port is not a number from 0 to 65535";
        return MTLB_INVALID;
    }
    out->has_addr = true;
    out->family = af == AF_INET ? 4 : 6;
    return 0;
}

static int v1_parse(const uint8_t *buf, size_t len, struct mtlb_proxy_hdr *out, const char **reason)
{
    size_t lim = min_sz(len, MTLB_PROXY_V1_MAX);

    if (memcmp(buf, v1_sig, min_sz(len, V1_SIG_LEN)) != 0) {
        *reason = "bad signature: the connection did not start with a PROXY header";
        return MTLB_INVALID;
    }
    for (size_t i = 0; i < lim; i++) {
        if (buf[i] == '\r' && i + 1 < lim && buf[i + 1] == '\n' && i >= V1_SIG_LEN) {
            int rc = v1_line((const char *)buf + V1_SIG_LEN, i - V1_SIG_LEN, out, reason);
            return rc != 0 ? rc : (int)(i + 2);
        }
        bool last = i + 1 == lim;
        if ((buf[i] == '\r' && !last) || buf[i] == '\n' || (buf[i] != '\r' && buf[i] < 0x20) ||
            buf[i] > 0x7e) {
            *reason = "v1: a control or non-ASCII byte in the line";
            return MTLB_INVALID;
        }
    }
    if (lim == MTLB_PROXY_V1_MAX) {
        *reason = "v1: no CRLF within 107 bytes";
        return MTLB_INVALID;
    }
    return MTLB_INCOMPLETE;
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

/* The address block of a complete v2 PROXY header: fam is byte 13, p the block, n its size. */
static int v2_addrs(uint8_t fam, const uint8_t *p, size_t n, struct mtlb_proxy_hdr *out,
                    const char **reason)
{
    size_t alen = (fam >> 4) == 1 ? 4 : 16;

    if ((fam >> 4) == 0 || (fam >> 4) == 3) {
        return 0; /* AF_UNSPEC or AF_UNIX: nothing we can use, keep the socket's addresses */
    }
    if ((fam >> 4) > 3 || (fam & 0x0f) != 1) {
        *reason = "v2: not TCP over IPv4 or IPv6";
        return MTLB_INVALID;
    }
    if (n < 2 * alen + 4) {
        *reason = "v2: the address block is shorter than its family needs";
        return MTLB_INVALID;
    }
    memcpy(out->src, p, alen);
    memcpy(out->dst, p + alen, alen);
    out->src_port = be16(p + 2 * alen);
    out->dst_port = be16(p + 2 * alen + 2);
    out->family = alen == 4 ? 4 : 6;
    out->has_addr = true;
    return 0;
}

static int v2_parse(const uint8_t *buf, size_t len, struct mtlb_proxy_hdr *out, const char **reason)
{
    if (memcmp(buf, v2_sig, min_sz(len, sizeof(v2_sig))) != 0) {
        *reason = "bad signature: the connection did not start with a PROXY header";
        return MTLB_INVALID;
    }
    if (len > 12 && ((buf[12] >> 4) != 2 || (buf[12] & 0x0f) > 1)) {
        *reason = "v2: unknown version or command";
        return MTLB_INVALID;
    }
    if (len < 16) {
        return MTLB_INCOMPLETE;
    }
    size_t plen = be16(buf + 14);
    if (plen > MTLB_PROXY_V2_PAYLOAD_MAX) {
        *reason = "v2: header longer than mtlb accepts";
        return MTLB_INVALID;
    }
    if (len < 16 + plen) {
        return MTLB_INCOMPLETE;
    }
    memset(out, 0, sizeof(*out));
    out->version = 2;
    /* LOCAL (a health check of the balancer itself): the family and the block are ignored,
     * as are TLVs after the addresses in either command. */
    if ((buf[12] & 0x0f) == 1) {
        int rc = v2_addrs(buf[13], buf + 16, plen, out, reason);
        if (rc != 0) {
            return rc;
        }
    }
    return (int)(16 + plen);
}

int mtlb_proxy_parse(const uint8_t *buf, size_t len, struct mtlb_proxy_hdr *out,
                     const char **reason)
{
    *reason = "";
    if (len == 0) {
        return MTLB_INCOMPLETE;
    }
    if (buf[0] == 'P') {
        return v1_parse(buf, len, out, reason);
    }
    if (buf[0] == v2_sig[0]) {
        return v2_parse(buf, len, out, reason);
    }
    *reason = "bad signature: the connection did not start with a PROXY header";
    return MTLB_INVALID;
}
