/* libFuzzer target for the route identity check's reading of the joined SAN string. The input
 * is used twice: as a whole SAN string (must not crash or over-read), and as one raw SAN value
 * escaped the way the identity module escapes it, with properties: inside a URI entry it never
 * passes a DNS condition (", DNS:..." in a value is not an entry), and inside a DNS entry it
 * passes exactly when the raw bytes are a.example.com (any case) or one label of letters,
 * digits, '-', '_' before ".example.com". A violated property aborts. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mtlb/require.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* As the identity module writes a SAN value: '\' and ',' backslashed, bytes outside printable
 * ASCII as \xHH. */
static size_t escape(const uint8_t *v, size_t n, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        if (v[i] < 0x20 || v[i] >= 0x7f) {
            out[k++] = '\\';
            out[k++] = 'x';
            out[k++] = hex[v[i] >> 4];
            out[k++] = hex[v[i] & 15];
            continue;
        }
        if (v[i] == '\\' || v[i] == ',') {
            out[k++] = '\\';
        }
        out[k++] = (char)v[i];
    }
    out[k] = '\0';
    return k;
}

static bool expected_dns(const uint8_t *v, size_t n)
{
    static const char suffix[] = ".example.com";
    size_t sl = sizeof(suffix) - 1;

    if (n == 13 && strncasecmp((const char *)v, "a.example.com", 13) == 0 &&
        memchr(v, '\0', n) == NULL) {
        return true;
    }
    if (n <= sl || strncasecmp((const char *)v + n - sl, suffix, sl) != 0) {
        return false;
    }
    for (size_t i = 0; i < n - sl; i++) {
        uint8_t c = v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_')) {
            return false;
        }
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct mtlb_require *r;
    char *dns[] = {"a.example.com", "*.example.com"};
    struct mtlb_identity id = {.verify = MTLB_VERIFY_SUCCESS};

    if (r == NULL) {
        struct mtlb_require_cfg cfg = {.san_dns = dns, .n_san_dns = 2};
        CHECK(mtlb_require_compile(&cfg, &r) == 0);
    }
    if (size > 4096) {
        return 0;
    }
    char *raw = malloc(size + 1);
    char *san = malloc(8 + 4 * size + 1);
    CHECK(raw != NULL && san != NULL);
    memcpy(raw, data, size);
    raw[size] = '\0';
    id.san = raw;
    (void)mtlb_require_check(r, &id);

    memcpy(san, "URI:", 4);
    escape(data, size, san + 4);
    id.san = san;
    CHECK(mtlb_require_check(r, &id) != NULL);
    memcpy(san, "DNS:", 4);
    bool allowed = mtlb_require_check(r, &id) == NULL;
    CHECK(allowed == expected_dns(data, size));
    free(raw);
    free(san);
    return 0;
}
