/* IP ranges and their lists: parse, copy, compare, match (cidr.h). Every range is kept in the
 * 128-bit IPv4-mapped form so one compare serves both families and a dual-stack socket's
 * ::ffff:a.b.c.d peers. Pure: no I/O, no logging; inet_pton only converts text. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtlb/cidr.h"

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* A prefix length: 1 to 3 decimal digits, no sign or leading zero, at most max. */
static int parse_bits(const char *s, unsigned max, unsigned *out)
{
    size_t n = strlen(s);
    unsigned v = 0;

    if (n == 0 || n > 3 || (n > 1 && s[0] == '0')) {
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -EINVAL;
        }
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > max) {
        return -EINVAL;
    }
    *out = v;
    return 0;
}

/* Whether a's bits beyond the first `bits` are zero. */
static bool host_bits_zero(const uint8_t a[16], unsigned bits)
{
    for (unsigned i = 0; i < 16; i++) {
        unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * i : 0;
        uint8_t mask = keep == 8 ? 0xff : (uint8_t)(0xff00u >> keep);
        if ((a[i] & (uint8_t)~mask) != 0) {
            return false;
        }
    }
    return true;
}

int mtlb_cidr_parse(const char *s, struct mtlb_cidr *out)
{
    char text[INET6_ADDRSTRLEN + 8];
    const char *slash = strchr(s, '/');
    size_t alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
    struct mtlb_cidr c;
    unsigned bits;

    if (alen == 0 || alen >= INET6_ADDRSTRLEN) {
        return -EINVAL;
    }
    memcpy(text, s, alen);
    text[alen] = '\0';
    if (inet_pton(AF_INET, text, c.addr + 12) == 1) {
        memcpy(c.addr, v4_mapped_prefix, sizeof(v4_mapped_prefix));
        bits = 32;
        if (slash != NULL && parse_bits(slash + 1, 32, &bits) != 0) {
            return -EINVAL;
        }
        bits += 96;
    } else if (inet_pton(AF_INET6, text, c.addr) == 1) {
        bits = 128;
        if (slash != NULL && parse_bits(slash + 1, 128, &bits) != 0) {
            return -EINVAL;
        }
    } else {
        return -EINVAL;
    }
    if (!host_bits_zero(c.addr, bits)) {
        return -EINVAL;
    }
    c.bits = (uint8_t)bits;
    *out = c;
    return 0;
}

char *mtlb_cidr_format(const struct mtlb_cidr *c, char *buf, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "";
    bool v4 = c->bits >= 96 && memcmp(c->addr, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0;

    if (v4) {
        inet_ntop(AF_INET, c->addr + 12, ip, sizeof(ip));
    } else {
        inet_ntop(AF_INET6, c->addr, ip, sizeof(ip));
    }
    snprintf(buf, cap, "%s/%u", ip, v4 ? c->bits - 96u : (unsigned)c->bits);
    return buf;
}

int mtlb_cidr_list_add(struct mtlb_cidr_list *l, const struct mtlb_cidr *c)
{
    struct mtlb_cidr *grown = realloc(l->v, (l->n + 1) * sizeof(*grown));

    if (grown == NULL) {
        return -ENOMEM;
    }
    grown[l->n++] = *c;
    l->v = grown;
    return 0;
}

void mtlb_cidr_list_fini(struct mtlb_cidr_list *l)
{
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

int mtlb_cidr_list_copy(struct mtlb_cidr_list *d, const struct mtlb_cidr_list *s)
{
    d->v = NULL;
    d->n = 0;
    if (s->n == 0) {
        return 0;
    }
    d->v = malloc(s->n * sizeof(*d->v));
    if (d->v == NULL) {
        return -ENOMEM;
    }
    memcpy(d->v, s->v, s->n * sizeof(*d->v));
    d->n = s->n;
    return 0;
}

bool mtlb_cidr_list_same(const struct mtlb_cidr_list *a, const struct mtlb_cidr_list *b)
{
    return a->n == b->n && (a->n == 0 || memcmp(a->v, b->v, a->n * sizeof(*a->v)) == 0);
}

/* The big-endian 64-bit halves of a 16-byte address. */
static void halves(const uint8_t a[16], uint64_t h[2])
{
    for (int k = 0; k < 2; k++) {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++) {
            v = (v << 8) | a[8 * k + i];
        }
        h[k] = v;
    }
}

static bool in_range(const struct mtlb_cidr *c, const uint64_t ip[2])
{
    uint64_t net[2], mask[2];

    halves(c->addr, net);
    mask[0] = c->bits >= 64 ? UINT64_MAX : c->bits == 0 ? 0 : UINT64_MAX << (64 - c->bits);
    mask[1] = c->bits >= 128 ? UINT64_MAX : c->bits <= 64 ? 0 : UINT64_MAX << (128 - c->bits);
    return (ip[0] & mask[0]) == net[0] && (ip[1] & mask[1]) == net[1];
}

bool mtlb_cidr_list_match_ip(const struct mtlb_cidr_list *l, const uint8_t ip[16])
{
    uint64_t h[2];

    halves(ip, h);
    for (size_t i = 0; i < l->n; i++) {
        if (in_range(&l->v[i], h)) {
            return true;
        }
    }
    return false;
}

bool mtlb_cidr_ip_of(const struct sockaddr *sa, uint8_t ip[16])
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        memcpy(ip, v4_mapped_prefix, sizeof(v4_mapped_prefix));
        memcpy(ip + 12, &s4->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        memcpy(ip, &s6->sin6_addr, 16);
        return true;
    }
    return false;
}

bool mtlb_cidr_list_match(const struct mtlb_cidr_list *l, const struct sockaddr *sa)
{
    uint8_t ip[16];

    return mtlb_cidr_ip_of(sa, ip) && mtlb_cidr_list_match_ip(l, ip);
}
