/* IP address ranges (cidr.c): "10.0.0.0/8", "2001:db8::/32", a bare address (/32 or /128),
 * and lists of them matched against a peer's socket address. Pure: no I/O, no logging. An
 * IPv4 range also matches the IPv4-mapped IPv6 form of its addresses (::ffff:a.b.c.d, what
 * a dual-stack socket reports), because every range is kept in the 128-bit mapped form. */
#ifndef MTLB_CIDR_H
#define MTLB_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

/* One range: the network address in 16 bytes (IPv4 as ::ffff:a.b.c.d) and the prefix length
 * over those 128 bits (an IPv4 "/8" is 96 + 8). Host bits are zero. */
struct mtlb_cidr {
    uint8_t addr[16];
    uint8_t bits;
};

/* Owned by whoever holds it: an empty list (zeroed) matches nothing. */
struct mtlb_cidr_list {
    struct mtlb_cidr *v;
    size_t n;
};

/* Parses "A.B.C.D/N" (N 0-32), "IPV6/N" (N 0-128) or a bare address (a single host) from the
 * NUL-terminated s. Refuses host bits set beyond the prefix ("10.0.0.1/8": a typo, or a
 * wider range than meant), a prefix with a sign, leading zeros or spaces, and zone ids.
 * 0, or -EINVAL with *out untouched. Any thread. */
int mtlb_cidr_parse(const char *s, struct mtlb_cidr *out);

/* Writes c as text ("10.0.0.0/8", "2001:db8::/32"; an IPv4-mapped range as IPv4) into
 * buf[0..cap), NUL-terminated; MTLB_CIDR_TEXT_MAX is always enough. Returns buf. */
#define MTLB_CIDR_TEXT_MAX 52
char *mtlb_cidr_format(const struct mtlb_cidr *c, char *buf, size_t cap);

/* Appends c to l (grows it). 0 or -ENOMEM (l unchanged). */
int mtlb_cidr_list_add(struct mtlb_cidr_list *l, const struct mtlb_cidr *c);
/* Frees l's array and zeroes l. */
void mtlb_cidr_list_fini(struct mtlb_cidr_list *l);
/* A deep copy into *d (zeroed first); 0 or -ENOMEM (d left empty). */
int mtlb_cidr_list_copy(struct mtlb_cidr_list *d, const struct mtlb_cidr_list *s);
/* Same ranges in the same order. */
bool mtlb_cidr_list_same(const struct mtlb_cidr_list *a, const struct mtlb_cidr_list *b);

/* Whether the 16-byte address ip (IPv4 as ::ffff:a.b.c.d) is in one of l's ranges. A linear
 * scan with early exit: lists are tens of entries, each test is two 64-bit masked compares. */
bool mtlb_cidr_list_match_ip(const struct mtlb_cidr_list *l, const uint8_t ip[16]);
/* The same for an AF_INET or AF_INET6 socket address; false for any other family. */
bool mtlb_cidr_list_match(const struct mtlb_cidr_list *l, const struct sockaddr *sa);

/* The 16-byte form of an AF_INET/AF_INET6 address; false for other families. */
bool mtlb_cidr_ip_of(const struct sockaddr *sa, uint8_t ip[16]);

#endif
