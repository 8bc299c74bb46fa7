/* libFuzzer target for the PROXY protocol parser and the CIDR parser. Beyond "does not crash"
 * it checks properties: a complete header is no longer than the input and the limits, it parses
 * the same from exactly its length and from any longer input, every proper prefix of it is
 * INCOMPLETE (the acceptor relies on that to wait for a header split across segments), an
 * INVALID answer has a reason, and a CIDR that parses matches its own network address. A
 * violated property aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtlb/cidr.h"
#include "mtlb/proxy_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void fuzz_proxy(const uint8_t *data, size_t size)
{
    struct mtlb_proxy_hdr h, h2;
    const char *why = NULL;
    /* an exact-size heap copy, so ASan sees any read past the end */
    uint8_t *buf = malloc(size ? size : 1);

    CHECK(buf != NULL);
    memcpy(buf, data, size);
    int r = mtlb_proxy_parse(buf, size, &h, &why);
    CHECK(r == MTLB_INCOMPLETE || r == MTLB_INVALID || (r > 0 && (size_t)r <= size));
    CHECK(why != NULL);
    if (r == MTLB_INVALID) {
        CHECK(why[0] != '\0');
    }
    if (r > 0) {
        CHECK((size_t)r <= MTLB_PROXY_MAX);
        CHECK(h.version == 1 || h.version == 2);
        CHECK(!h.has_addr || h.family == 4 || h.family == 6);
        CHECK(h.version != 1 || (size_t)r <= MTLB_PROXY_V1_MAX);
        CHECK(mtlb_proxy_parse(buf, (size_t)r, &h2, &why) == r);
        CHECK(memcmp(&h, &h2, sizeof(h)) == 0);
        for (size_t n = 0; n < (size_t)r; n++) {
            CHECK(mtlb_proxy_parse(buf, n, &h2, &why) == MTLB_INCOMPLETE);
        }
    }
    free(buf);
}

static void fuzz_cidr(const uint8_t *data, size_t size)
{
    char s[64];
    struct mtlb_cidr c;
    struct mtlb_cidr_list l = {&c, 1};

    if (size >= sizeof(s)) {
        return;
    }
    memcpy(s, data, size);
    s[size] = '\0';
    if (mtlb_cidr_parse(s, &c) == 0) {
        CHECK(c.bits <= 128);
        CHECK(mtlb_cidr_list_match_ip(&l, c.addr));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_proxy(data, size);
    fuzz_cidr(data, size);
    return 0;
}
