/* Active health checks, the pure part: rise/fall counting and the probe's status line.
 * The health-check thread feeds results in and publishes the verdict; this module only
 * decides. No I/O, no clock, no logging. */
#include <errno.h>
#include <string.h>

#include "mtlb/hcheck.h"

void mtlb_hcheck_init(struct mtlb_hcheck *h)
{
    memset(h, 0, sizeof(*h));
}

enum mtlb_hcheck_change mtlb_hcheck_record(struct mtlb_hcheck *h, bool ok, uint32_t rise,
                                           uint32_t fall)
{
    if (ok) {
        h->fail_run = 0;
        if (h->ok_run < UINT32_MAX) {
            h->ok_run++;
        }
        if (h->down && h->ok_run >= (rise ? rise : 1)) {
            h->down = false;
            return MTLB_HCHECK_WENT_UP;
        }
        return MTLB_HCHECK_SAME;
    }
    h->ok_run = 0;
    if (h->fail_run < UINT32_MAX) {
        h->fail_run++;
    }
    if (!h->down && h->fail_run >= (fall ? fall : 1)) {
        h->down = true;
        return MTLB_HCHECK_WENT_DOWN;
    }
    return MTLB_HCHECK_SAME;
}

int mtlb_hcheck_status(const char *buf, size_t len)
{
    /* "HTTP/1.x SSS" and then a space or the line's end: 13 bytes decide. */
    static const char prefix[] = "HTTP/1.";
    size_t plen = sizeof(prefix) - 1;
    size_t cmp = len < plen ? len : plen;

    if (memcmp(buf, prefix, cmp) != 0) {
        return -EBADMSG;
    }
    if (len > plen && buf[plen] != '0' && buf[plen] != '1') {
        return -EBADMSG;
    }
    if (len > plen + 1 && buf[plen + 1] != ' ') {
        return -EBADMSG;
    }
    int status = 0;
    for (size_t i = plen + 2; i < plen + 5; i++) {
        if (i >= len) {
            return 0;
        }
        if (buf[i] < '0' || buf[i] > '9') {
            return -EBADMSG;
        }
        status = status * 10 + (buf[i] - '0');
    }
    if (len == plen + 5) {
        return 0;
    }
    char next = buf[plen + 5];
    if ((next != ' ' && next != '\r' && next != '\n') || status < 100 || status > 599) {
        return -EBADMSG;
    }
    return status;
}
