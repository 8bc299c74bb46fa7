/* The edge policy's pure modules: CIDR ranges and lists (cidr.c), the PROXY protocol parser
 * (proxy_proto.c, every input against a guard page so an over-read faults), and the
 * listeners[].allow/deny/proxy_protocol keys of the config (config_acl.c). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "guard_page.h"
#include "mtlb/cidr.h"
#include "mtlb/config.h"
#include "mtlb/proxy_proto.h"

/* ---- CIDR ---- */

static struct sockaddr_storage sa(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
    } else {
        cr_assert(inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1, "%s", ip);
        s6->sin6_family = AF_INET6;
    }
    return ss;
}

static struct mtlb_cidr_list list_of(const char *const *ranges)
{
    struct mtlb_cidr_list l = {0};
    for (size_t i = 0; ranges[i] != NULL; i++) {
        struct mtlb_cidr c;
        cr_assert_eq(mtlb_cidr_parse(ranges[i], &c), 0, "%s", ranges[i]);
        cr_assert_eq(mtlb_cidr_list_add(&l, &c), 0);
    }
    return l;
}

static bool in(const struct mtlb_cidr_list *l, const char *ip)
{
    struct sockaddr_storage ss = sa(ip);
    return mtlb_cidr_list_match(l, (struct sockaddr *)&ss);
}

Test(cidr, parses_ranges_and_bare_addresses)
{
    struct mtlb_cidr c;
    cr_assert_eq(mtlb_cidr_parse("10.0.0.0/8", &c), 0);
    cr_assert_eq(c.bits, 96 + 8);
    cr_assert_eq(mtlb_cidr_parse("192.0.2.7", &c), 0);
    cr_assert_eq(c.bits, 128);
    cr_assert_eq(mtlb_cidr_parse("::1/128", &c), 0);
    cr_assert_eq(c.bits, 128);
    cr_assert_eq(mtlb_cidr_parse("2001:db8::", &c), 0);
    cr_assert_eq(mtlb_cidr_parse("0.0.0.0/0", &c), 0);
    cr_assert_eq(c.bits, 96);
    cr_assert_eq(mtlb_cidr_parse("::/0", &c), 0);
    cr_assert_eq(c.bits, 0);
}

Test(cidr, refuses_bad_text)
{
    static const char *const bad[] = {"",
                                      "10.0.0.0/",
                                      "10.0.0.0/33",
                                      "10.0.0.1/8",
                                      "10.0.0.0/08",
                                      "10.0.0.0/+8",
                                      "::1/129",
                                      "2001:db8::1/32",
                                      "fe80::1%eth0",
                                      "10.0.0",
                                      "10.0.0.0 /8",
                                      "/8",
                                      "example.com",
                                      "10.0.0.0/8/8",
                                      "1.2.3.4/-1",
                                      "::g"};
    struct mtlb_cidr c = {.bits = 77};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(mtlb_cidr_parse(bad[i], &c), -EINVAL, "accepted \"%s\"", bad[i]);
        cr_assert_eq(c.bits, 77, "wrote *out for \"%s\"", bad[i]);
    }
}

Test(cidr, matches_by_prefix)
{
    static const char *const r[] = {"10.0.0.0/8", "192.0.2.128/25", "2001:db8:1::/48",
                                    "203.0.113.9", NULL};
    struct mtlb_cidr_list l = list_of(r);
    cr_assert(in(&l, "10.255.1.2"));
    cr_assert_not(in(&l, "11.0.0.1"));
    cr_assert(in(&l, "192.0.2.200"));
    cr_assert_not(in(&l, "192.0.2.127"));
    cr_assert(in(&l, "2001:db8:1:ffff::1"));
    cr_assert_not(in(&l, "2001:db8:2::1"));
    cr_assert(in(&l, "203.0.113.9"));
    cr_assert_not(in(&l, "203.0.113.10"));
    mtlb_cidr_list_fini(&l);
    cr_assert_eq(l.n, 0);
    cr_assert_not(in(&l, "10.0.0.1"), "an empty list matches nothing");
}

Test(cidr, ipv4_ranges_match_ipv4_mapped_peers)
{
    static const char *const r[] = {"127.0.0.0/8", NULL};
    struct mtlb_cidr_list l = list_of(r);
    cr_assert(in(&l, "::ffff:127.0.0.1"));
    cr_assert_not(in(&l, "::ffff:128.0.0.1"));
    cr_assert_not(in(&l, "::1"));
    mtlb_cidr_list_fini(&l);
}

Test(cidr, zero_prefixes_and_host_ranges)
{
    static const char *const all4[] = {"0.0.0.0/0", NULL};
    static const char *const all[] = {"::/0", NULL};
    struct mtlb_cidr_list l4 = list_of(all4), l6 = list_of(all);
    cr_assert(in(&l4, "1.2.3.4"));
    cr_assert_not(in(&l4, "2001:db8::1"), "0.0.0.0/0 is IPv4 only");
    cr_assert(in(&l6, "2001:db8::1"));
    cr_assert(in(&l6, "1.2.3.4"), "::/0 is every address");
    mtlb_cidr_list_fini(&l4);
    mtlb_cidr_list_fini(&l6);
}

Test(cidr, copy_and_same)
{
    static const char *const r[] = {"10.0.0.0/8", "::1", NULL};
    struct mtlb_cidr_list a = list_of(r), b;
    cr_assert_eq(mtlb_cidr_list_copy(&b, &a), 0);
    cr_assert(mtlb_cidr_list_same(&a, &b));
    b.v[1].bits = 127;
    cr_assert_not(mtlb_cidr_list_same(&a, &b));
    mtlb_cidr_list_fini(&a);
    mtlb_cidr_list_fini(&b);
}

Test(cidr, formats_as_written)
{
    static const char *const r[] = {"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32",
                                    "::/0",       "0.0.0.0/0",    "::1/128"};
    char t[MTLB_CIDR_TEXT_MAX];
    for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
        struct mtlb_cidr c;
        cr_assert_eq(mtlb_cidr_parse(r[i], &c), 0);
        cr_assert_str_eq(mtlb_cidr_format(&c, t, sizeof(t)), r[i]);
    }
}

/* ---- PROXY protocol ---- */

static int pp(const void *data, size_t len, struct mtlb_proxy_hdr *h, const char **why)
{
    struct guarded g;
    const uint8_t *p = (const uint8_t *)guard_copy(&g, data, len);
    int r = mtlb_proxy_parse(p, len, h, why);
    guard_free(&g);
    return r;
}

/* Every proper prefix of a header is INCOMPLETE (the acceptor waits on it). */
static void prefixes_incomplete(const void *data, size_t len)
{
    struct mtlb_proxy_hdr h;
    const char *why;
    for (size_t n = 0; n < len; n++) {
        cr_assert_eq(pp(data, n, &h, &why), MTLB_INCOMPLETE, "prefix %zu of %zu", n, len);
    }
}

Test(proxy_proto, v1_tcp4_leaves_the_tls_bytes)
{
    static const char in[] = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n\x16\x03\x01";
    size_t hl = sizeof(in) - 1 - 3;
    struct mtlb_proxy_hdr h;
    const char *why;
    cr_assert_eq(pp(in, sizeof(in) - 1, &h, &why), (int)hl);
    cr_assert_eq(h.version, 1);
    cr_assert(h.has_addr);
    cr_assert_eq(h.family, 4);
    cr_assert_arr_eq(h.src, ((uint8_t[]){192, 0, 2, 1}), 4);
    cr_assert_arr_eq(h.dst, ((uint8_t[]){198, 51, 100, 2}), 4);
    cr_assert_eq(h.src_port, 56324);
    cr_assert_eq(h.dst_port, 443);
    prefixes_incomplete(in, hl);
}

Test(proxy_proto, v1_tcp6)
{
    static const char in[] = "PROXY TCP6 2001:db8::1 2001:db8::2 0 65535\r\n";
    struct mtlb_proxy_hdr h;
    const char *why;
    uint8_t want[16];
    cr_assert_eq(pp(in, sizeof(in) - 1, &h, &why), (int)sizeof(in) - 1);
    cr_assert_eq(h.family, 6);
    inet_pton(AF_INET6, "2001:db8::1", want);
    cr_assert_arr_eq(h.src, want, 16);
    cr_assert_eq(h.src_port, 0);
    cr_assert_eq(h.dst_port, 65535);
}

Test(proxy_proto, v1_unknown_keeps_the_socket_address)
{
    static const char *const ins[] = {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"};
    for (size_t i = 0; i < 2; i++) {
        struct mtlb_proxy_hdr h;
        const char *why;
        cr_assert_eq(pp(ins[i], strlen(ins[i]), &h, &why), (int)strlen(ins[i]));
        cr_assert_not(h.has_addr);
        cr_assert_eq(h.version, 1);
    }
}

Test(proxy_proto, v1_longest_line_fits_and_one_more_byte_does_not)
{
    char line[200];
    struct mtlb_proxy_hdr h;
    const char *why;
    /* UNKNOWN lines may carry anything: pad one to exactly 107 bytes, then to 108 */
    memset(line, 'x', sizeof(line));
    memcpy(line, "PROXY UNKNOWN ", 14);
    memcpy(line + 105, "\r\n", 2);
    cr_assert_eq(pp(line, 107, &h, &why), 107);
    memset(line, 'x', sizeof(line));
    memcpy(line, "PROXY UNKNOWN ", 14);
    memcpy(line + 106, "\r\n", 2);
    cr_assert_eq(pp(line, 108, &h, &why), MTLB_INVALID);
    cr_assert_eq(pp(line, 107, &h, &why), MTLB_INVALID, "107 bytes without CRLF");
    cr_assert_eq(pp(line, 106, &h, &why), MTLB_INCOMPLETE);
}

struct bad_case {
    char in[128];
    size_t len; /* 0: strlen */
};

ParameterizedTestParameters(proxy_proto, refuses)
{
    static struct bad_case cases[] = {
        {"\x16\x03\x01\x00\xa5\x01", 6}, /* a ClientHello without a header */
        {"GET / HTTP/1.1\r\n", 0},
        {"PROXY", 0 + 5 - 5}, /* filled below as "PROXX" */
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", 0},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", 0},
        {"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", 0},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", 0},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", 0},
        {"PROXY TCP4 ::1 ::2 1 2\r\n", 0},
        {"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", 0},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", 0},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", 0},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", 0},
        {"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", 0},
        {"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", 0},
        {"PROXY \r\n", 0},
        {"PROXY TCP4 1.2.3.4\x01 5.6.7.8 1 2\r\n", 0},
        {"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 0},
        {"\r\n\r\n\x00\r\nQUIX\n\x21\x11\x00\x0c", 16},                 /* bad v2 signature */
        {"\r\n\r\n\x00\r\nQUIT\n\x11\x11\x00\x0c", 16},                 /* version 1 in v2 */
        {"\r\n\r\n\x00\r\nQUIT\n\x22\x11\x00\x0c", 16},                 /* command 2 */
        {"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x04\x01\x02\x03\x04", 20}, /* IPv4 block short */
        {"\r\n\r\n\x00\r\nQUIT\n\x21\x21\x00\x0c"
         "123456789012",
         28}, /* IPv6 block short */
        {"\r\n\r\n\x00\r\nQUIT\n\x21\x12\x00\x0c"
         "123456789012",
         28}, /* UDP */
        {"\r\n\r\n\x00\r\nQUIT\n\x21\x41\x00\x0c"
         "123456789012",
         28},                                           /* family 4 */
        {"\r\n\r\n\x00\r\nQUIT\n\x21\x11\xff\xff", 16}, /* oversized */
    };
    memcpy(cases[2].in, "PROXX", 5);
    cases[2].len = 5;
    return cr_make_param_array(struct bad_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_case *c, proxy_proto, refuses)
{
    struct mtlb_proxy_hdr h;
    const char *why = NULL;
    size_t len = c->len ? c->len : strlen(c->in);
    cr_assert_eq(pp(c->in, len, &h, &why), MTLB_INVALID, "accepted %.*s", (int)len, c->in);
    cr_assert(why != NULL && why[0] != '\0');
}

static size_t v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const uint8_t *block, size_t n)
{
    static const uint8_t sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                    0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
    memcpy(out, sig, 12);
    out[12] = ver_cmd;
    out[13] = fam;
    out[14] = (uint8_t)(n >> 8);
    out[15] = (uint8_t)n;
    if (n > 0) { /* block may be NULL then: memcpy's arguments must not be */
        memcpy(out + 16, block, n);
    }
    return 16 + n;
}

Test(proxy_proto, v2_tcp4_with_tlvs_skipped)
{
    uint8_t block[12 + 7] = {192,  0,    2,    1,    198,  51,  100, 2,   0xdc, 0x04,
                             0x01, 0xbb, 0x04, 0x00, 0x04, 'a', 'b', 'c', 'd'}; /* one NOOP TLV */
    uint8_t buf[64];
    size_t n = v2(buf, 0x21, 0x11, block, sizeof(block));
    buf[n] = 0x16; /* TLS after the header */
    struct mtlb_proxy_hdr h;
    const char *why;
    cr_assert_eq(pp(buf, n + 1, &h, &why), (int)n);
    cr_assert_eq(h.version, 2);
    cr_assert(h.has_addr);
    cr_assert_eq(h.family, 4);
    cr_assert_arr_eq(h.src, ((uint8_t[]){192, 0, 2, 1}), 4);
    cr_assert_eq(h.src_port, 0xdc04);
    cr_assert_eq(h.dst_port, 443);
    prefixes_incomplete(buf, n);
}

Test(proxy_proto, v2_tcp6)
{
    uint8_t block[36] = {0};
    inet_pton(AF_INET6, "2001:db8::7", block);
    inet_pton(AF_INET6, "2001:db8::8", block + 16);
    block[32] = 0x30;
    block[33] = 0x39;
    uint8_t buf[64];
    size_t n = v2(buf, 0x21, 0x21, block, sizeof(block));
    struct mtlb_proxy_hdr h;
    const char *why;
    cr_assert_eq(pp(buf, n, &h, &why), (int)n);
    cr_assert_eq(h.family, 6);
    cr_assert_arr_eq(h.src, block, 16);
    cr_assert_eq(h.src_port, 12345);
}

Test(proxy_proto, v2_local_and_unspec_keep_the_socket_address)
{
    uint8_t junk[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    uint8_t buf[64];
    struct mtlb_proxy_hdr h;
    const char *why;
    size_t n = v2(buf, 0x20, 0x00, NULL, 0);
    cr_assert_eq(pp(buf, n, &h, &why), 16);
    cr_assert_not(h.has_addr);
    n = v2(buf, 0x20, 0x11, junk, sizeof(junk)); /* LOCAL ignores the family and block */
    cr_assert_eq(pp(buf, n, &h, &why), 28);
    cr_assert_not(h.has_addr);
    n = v2(buf, 0x21, 0x00, NULL, 0);
    cr_assert_eq(pp(buf, n, &h, &why), 16);
    cr_assert_not(h.has_addr);
}

Test(proxy_proto, v2_length_limit)
{
    static uint8_t buf[16 + MTLB_PROXY_V2_PAYLOAD_MAX];
    static uint8_t block[MTLB_PROXY_V2_PAYLOAD_MAX];
    struct mtlb_proxy_hdr h;
    const char *why;
    memcpy(block, (uint8_t[]){127, 0, 0, 1, 127, 0, 0, 1, 0, 1, 0, 2}, 12);
    size_t n = v2(buf, 0x21, 0x11, block, sizeof(block));
    cr_assert_eq(pp(buf, n, &h, &why), (int)n);
    cr_assert_eq(n, MTLB_PROXY_MAX);
    buf[15] = (uint8_t)(buf[15] + 1); /* one byte over the limit */
    cr_assert_eq(pp(buf, n, &h, &why), MTLB_INVALID);
}

/* ---- config ---- */

#define LISTENER(extra)                                                                            \
    "listeners:\n"                                                                                 \
    "  - bind: :1\n"                                                                               \
    "    backend: app\n"                                                                           \
    "    domains: [{names: [a.b], certificate: c, key: k}]\n" extra "backends:\n"                  \
    "  - name: app\n"                                                                              \
    "    servers: [\"10.0.0.1:80\"]\n"

static int parse(const char *yaml, struct mtlb_config **cfg, char *err)
{
    return mtlb_config_parse(yaml, strlen(yaml), "mtlb.yaml", "/etc/mtlb", cfg, err, 512);
}

Test(edge_config, reads_lists_and_proxy)
{
    struct mtlb_config *cfg = NULL;
    char err[512] = "";
    int rc = parse(LISTENER("    allow: [10.0.0.0/8, \"::1\"]\n"
                            "    deny: [10.0.0.7]\n"
                            "    proxy_protocol: true\n"
                            "    proxy_protocol_from: [192.0.2.0/24]\n"),
                   &cfg, err);
    cr_assert_eq(rc, 0, "%s", err);
    const struct mtlb_listener_cfg *l = &cfg->listeners[0];
    cr_assert_eq(l->allow.n, 2);
    cr_assert_eq(l->deny.n, 1);
    cr_assert(l->proxy_protocol);
    cr_assert_eq(l->proxy_from.n, 1);
    mtlb_config_destroy(cfg);
    cr_assert_eq(parse(LISTENER(""), &cfg, err), 0, "%s", err);
    cr_assert_eq(cfg->listeners[0].allow.n, 0);
    cr_assert_not(cfg->listeners[0].proxy_protocol);
    mtlb_config_destroy(cfg);
}

struct cfg_err_case {
    char yaml[400];
    char msg[240]; /* "": any message */
};

ParameterizedTestParameters(edge_config, rejects)
{
    static struct cfg_err_case cases[] = {
        {LISTENER("    allow: [10.0.0.1/8]\n"),
         "mtlb.yaml:5:13: listeners[0].allow[0]: expected an IP address or a range such as "
         "10.0.0.0/8 or 2001:db8::/32 (no bits set after the prefix)"},
        {LISTENER("    deny: []\n"), "mtlb.yaml:5:11: listeners[0].deny: must not be empty"},
        {LISTENER("    proxy_protocol: true\n"),
         "mtlb.yaml:5:21: listeners[0].proxy_protocol: needs proxy_protocol_from: the addresses "
         "of the load balancers that may send the header"},
        {LISTENER("    proxy_protocol_from: [10.0.0.1]\n"),
         "mtlb.yaml:5:26: listeners[0].proxy_protocol_from: has no use without proxy_protocol: "
         "true"},
        {LISTENER("    proxy_protocol: yes\n"), ""},
    };
    return cr_make_param_array(struct cfg_err_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct cfg_err_case *c, edge_config, rejects)
{
    struct mtlb_config *cfg = (struct mtlb_config *)1;
    char err[512] = "";
    cr_assert_eq(parse(c->yaml, &cfg, err), -EINVAL);
    cr_assert_null(cfg);
    if (c->msg[0] != '\0') {
        cr_assert_str_eq(err, c->msg);
    }
}
