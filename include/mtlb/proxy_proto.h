/* PROXY protocol header parser (proxy_proto.c), versions 1 (text) and 2 (binary), as a load
 * balancer in front of mtlb sends it before the TLS bytes. Pure and stateless
 * (picohttpparser style): the caller peeks at the connection's first bytes, calls the parser
 * on all it has, and consumes exactly the returned length; the bytes after it belong to TLS.
 * No I/O, no logging, nothing read at or past buf + len. */
#ifndef MTLB_PROXY_PROTO_H
#define MTLB_PROXY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtlb/common.h"

/* Version 1: the whole line, "PROXY ... \r\n" included, is at most 107 bytes. */
#define MTLB_PROXY_V1_MAX 107
/* Version 2: the 16-byte fixed part plus at most this many address and TLV bytes (an IPv6
 * address block is 36; the rest is TLVs, which are skipped). Longer headers are refused. */
#define MTLB_PROXY_V2_PAYLOAD_MAX 2048
#define MTLB_PROXY_V2_MAX (16 + MTLB_PROXY_V2_PAYLOAD_MAX)
/* The most bytes the parser can need to see: peek this many. */
#define MTLB_PROXY_MAX MTLB_PROXY_V2_MAX

/* What a complete header says. When !has_addr (v1 UNKNOWN, v2 LOCAL, or v2 PROXY over
 * AF_UNSPEC/AF_UNIX) the connection's own socket addresses stay the client's. */
struct mtlb_proxy_hdr {
    uint8_t version; /* 1 or 2 */
    bool has_addr;
    uint8_t family;           /* 4 or 6 when has_addr */
    uint8_t src[16], dst[16]; /* network order; an IPv4 address in the first 4 bytes */
    uint16_t src_port, dst_port;
};

/* Parses the header at the start of buf[0..len). Returns its length (> 0, at most
 * MTLB_PROXY_MAX) with *out filled, MTLB_INCOMPLETE when buf is a proper prefix of a header
 * that may still be valid (read more and call again with everything), or MTLB_INVALID with
 * *reason set to a short static description (a bad signature: the connection did not start
 * with a PROXY header at all). A prefix already proven invalid is refused at once, so a TLS
 * ClientHello sent without a header is refused at its first byte. Any thread. */
int mtlb_proxy_parse(const uint8_t *buf, size_t len, struct mtlb_proxy_hdr *out,
                     const char **reason);

#endif
