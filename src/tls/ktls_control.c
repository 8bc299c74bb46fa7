/* TLS control records on a kTLS socket whose SSL is gone (tls_facts.h): what a received
 * non-data record means for the connection, and alerts (close_notify among them) sent as
 * records of type alert through a TLS_SET_RECORD_TYPE control message. The kernel encrypts
 * them with the current send key and sequence, so they sit in the record stream exactly
 * where OpenSSL would have put them. Never reads the socket; never logs. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/tls.h>

#include "mtlb/ktls.h"

#define REC_ALERT 21
#define REC_HANDSHAKE 22
#define REC_APP_DATA 23
#define HS_KEY_UPDATE 24

enum mtlb_ktls_ctl mtlb_ktls_classify(unsigned type, const unsigned char *p, size_t n,
                                      unsigned char *alert)
{
    *alert = MTLB_TLS_ALERT_UNEXPECTED_MESSAGE;
    if (type == REC_APP_DATA) {
        return MTLB_KTLS_DATA;
    }
    if (type == REC_ALERT) {
        if (n != 2 || (p[0] != MTLB_TLS_ALERT_WARNING && p[0] != MTLB_TLS_ALERT_FATAL)) {
            *alert = MTLB_TLS_ALERT_DECODE_ERROR;
            return MTLB_KTLS_UNEXPECTED;
        }
        /* A fatal alert ends the connection with no answer (RFC 8446 6.2). A warning ends
         * it too here: close_notify says so, user_canceled is followed by close_notify, and
         * TLS 1.3 has no other warnings; answer with close_notify. */
        return p[0] == MTLB_TLS_ALERT_FATAL ? MTLB_KTLS_PEER_ALERT : MTLB_KTLS_PEER_CLOSED;
    }
    if (type == REC_HANDSHAKE && n >= 1 && p[0] == HS_KEY_UPDATE) {
        return MTLB_KTLS_KEY_UPDATE;
    }
    /* A renegotiating ClientHello, post-handshake authentication mtlb never asked for, a
     * ChangeCipherSpec after the handshake, a heartbeat: nothing mtlb serves. */
    return MTLB_KTLS_UNEXPECTED;
}

int mtlb_ktls_send_alert(int fd, unsigned char level, unsigned char desc)
{
    unsigned char body[2] = {level, desc};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(unsigned char))];
    } ctl;
    struct iovec iov = {.iov_base = body, .iov_len = sizeof(body)};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = ctl.buf,
                         .msg_controllen = sizeof(ctl.buf)};

    memset(&ctl, 0, sizeof(ctl));
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_TLS;
    cm->cmsg_type = TLS_SET_RECORD_TYPE;
    cm->cmsg_len = CMSG_LEN(sizeof(unsigned char));
    *CMSG_DATA(cm) = REC_ALERT;
    /* Never blocks the worker: a full send buffer means a peer that reads nothing, which
     * will not miss the alert. */
    ssize_t n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n == -1) {
        return -errno;
    }
    return n == (ssize_t)sizeof(body) ? 0 : -EIO;
}
