/* TLS session resumption policy: how long a session may be resumed (session_lifetime, counted
 * from the full handshake that verified the client), never past the first notAfter of the
 * verified chain, the deadline carried inside tickets, and the checks made when a ticket comes
 * back and after a resumed handshake. No socket I/O; logs at debug level only. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "mtlb/log.h"
#include "mtlb/tickets.h"
#include "mtlb/tls.h"
#include "tls_internal.h"

/* Ticket application data: a format byte, then the deadline (seconds since the epoch, big
 * endian). It travels encrypted and authenticated inside the ticket. */
#define DEADLINE_FORMAT 1
#define DEADLINE_LEN 9

/* Last second at which the certificate is still valid: X.509 validity ends at notAfter. */
static bool last_valid_second(const ASN1_TIME *t, time_t *out)
{
    struct tm tm;

    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
        return false;
    }
    *out = timegm(&tm) - 1;
    return true;
}

static time_t min_time(time_t a, time_t b)
{
    return a < b ? a : b;
}

static bool carried_deadline(SSL_SESSION *sess, time_t *deadline)
{
    void *data = NULL;
    size_t len = 0;

    if (SSL_SESSION_get0_ticket_appdata(sess, &data, &len) != 1 || len != DEADLINE_LEN ||
        ((const unsigned char *)data)[0] != DEADLINE_FORMAT) {
        return false;
    }
    uint64_t v = 0;
    for (size_t i = 1; i < DEADLINE_LEN; i++) {
        v = (v << 8) | ((const unsigned char *)data)[i];
    }
    *deadline = (time_t)v;
    return true;
}

static int carry_deadline(SSL_SESSION *sess, time_t deadline)
{
    unsigned char data[DEADLINE_LEN];
    uint64_t v = deadline > 0 ? (uint64_t)deadline : 0;

    data[0] = DEADLINE_FORMAT;
    for (size_t i = DEADLINE_LEN - 1; i >= 1; i--) {
        data[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
    return SSL_SESSION_set1_ticket_appdata(sess, data, sizeof(data));
}

/* Makes OpenSSL itself drop the session after deadline: it refuses to resume once
 * time + timeout has passed, for cached sessions and for tickets alike. The timeout is at
 * least 1 s: OpenSSL encodes 0 as "absent" and then fails to seal the ticket. Tickets of
 * such a session are refused by ticket_decrypt all the same, and a cached one is caught by
 * the check after the handshake (mtlb_tls_identity). */
static void expire_at(SSL_SESSION *sess, time_t deadline)
{
    time_t start = (time_t)SSL_SESSION_get_time(sess);
    long timeout = deadline > start ? (long)(deadline - start) : 1;

    if (timeout < SSL_SESSION_get_timeout(sess)) {
        SSL_SESSION_set_timeout(sess, timeout);
    }
}

void mtlb_tls_session_bound(SSL *ssl, X509 *cert)
{
    struct mtlb_tls_conn_info *info = mtlb_tls_conn_info_get(ssl);
    SSL_SESSION *sess = SSL_get_session(ssl);
    time_t last;

    if (info == NULL || !last_valid_second(X509_get0_notAfter(cert), &last)) {
        return;
    }
    if (info->not_after == 0 || last < info->not_after) {
        info->not_after = last;
    }
    /* The session of this full handshake: not in the cache yet (OpenSSL adds TLS 1.2 sessions
     * when the handshake finishes), so it may still be changed. */
    if (sess != NULL && !SSL_session_reused(ssl)) {
        expire_at(sess, info->not_after);
    }
}

/* Called by OpenSSL just before it seals a ticket (TLS 1.2 and 1.3, full and resumed
 * handshakes). A ticket of a resumed session keeps the deadline of the full handshake it
 * came from: TLS 1.3 resets the session's start time on every ticket, and would otherwise
 * let a client that resumes regularly keep one verification alive forever. */
static int ticket_generate(SSL *ssl, void *arg)
{
    const struct mtlb_tls_conn_info *info = mtlb_tls_conn_info_get(ssl);
    SSL_SESSION *sess = SSL_get_session(ssl);
    time_t deadline;

    if (sess == NULL) {
        return 0;
    }
    /* A resumed TLS 1.2 session may be the one in the shared session cache (resumed by
     * session id, the client now asking for a ticket): it must not be changed. OpenSSL seals
     * it as it is; without a carried deadline ticket_decrypt refuses that ticket later. TLS
     * 1.3 hands this callback a private copy. */
    if (SSL_version(ssl) != TLS1_3_VERSION && SSL_session_reused(ssl)) {
        return 1;
    }
    if (!carried_deadline(sess, &deadline)) {
        time_t start = (time_t)SSL_SESSION_get_time(sess);
        X509 *peer = SSL_SESSION_get0_peer(sess);
        time_t last;
        deadline = start + (time_t)(uintptr_t)arg;
        deadline = min_time(deadline, start + SSL_SESSION_get_timeout(sess));
        if (info != NULL && info->not_after != 0) {
            deadline = min_time(deadline, info->not_after);
        }
        if (peer != NULL && last_valid_second(X509_get0_notAfter(peer), &last)) {
            deadline = min_time(deadline, last);
        }
        if (carry_deadline(sess, deadline) != 1) {
            return 0;
        }
    }
    expire_at(sess, deadline);
    return 1;
}

long mtlb_tls_session_peer_validity(const X509 *peer, time_t now)
{
    time_t t = now;

    if (peer == NULL) {
        return X509_V_OK;
    }
    /* X509_cmp_time: 0 for a malformed time, else -1 (earlier or equal) or 1 (later). */
    int before = X509_cmp_time(X509_get0_notBefore(peer), &t);
    int after = X509_cmp_time(X509_get0_notAfter(peer), &t);
    if (before == 0 || before > 0) {
        return before == 0 ? X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD
                           : X509_V_ERR_CERT_NOT_YET_VALID;
    }
    if (after <= 0) {
        return after == 0 ? X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD : X509_V_ERR_CERT_HAS_EXPIRED;
    }
    return X509_V_OK;
}

const char *mtlb_tls_session_refusal(SSL_SESSION *sess, bool sealed, time_t now)
{
    time_t deadline = 0;
    bool carried = carried_deadline(sess, &deadline);

    /* A sealed ticket always carries its deadline (ticket_generate). A cached TLS 1.2
     * session has none: its deadline is OpenSSL's own timeout (expire_at), checked by it. */
    if ((sealed && !carried) || (carried && now > deadline)) {
        return "session_lifetime";
    }
    if (mtlb_tls_session_peer_validity(SSL_SESSION_get0_peer(sess), now) != X509_V_OK) {
        return "certificate_validity";
    }
    return NULL;
}

/* Called by OpenSSL with every ticket a client offers. Refusing one (IGNORE_RENEW) makes the
 * handshake a full one, so the certificate is verified again and a new ticket issued. */
static SSL_TICKET_RETURN ticket_decrypt(SSL *ssl, SSL_SESSION *sess, const unsigned char *name,
                                        size_t name_len, SSL_TICKET_STATUS status, void *arg)
{
    const struct mtlb_tls_conn_info *info = mtlb_tls_conn_info_get(ssl);
    time_t now = time(NULL);
    const char *why = NULL;

    (void)name;
    (void)name_len;
    (void)arg;
    if (status != SSL_TICKET_SUCCESS && status != SSL_TICKET_SUCCESS_RENEW) {
        return SSL_TICKET_RETURN_IGNORE_RENEW;
    }
    why = mtlb_tls_session_refusal(sess, true, now);
    if (why != NULL) {
        mtlb_log(MTLB_LOG_DEBUG, "conn=%llu peer=%s event=session_not_resumed reason=%s",
                 info != NULL ? (unsigned long long)info->conn_id : 0ULL,
                 info != NULL && info->peer[0] ? info->peer : "-", why);
        return SSL_TICKET_RETURN_IGNORE_RENEW;
    }
    return status == SSL_TICKET_SUCCESS ? SSL_TICKET_RETURN_USE : SSL_TICKET_RETURN_USE_RENEW;
}

int mtlb_tls_session_setup(SSL_CTX *ctx, uint32_t lifetime)
{
    if (lifetime == 0) {
        /* No tickets (TLS 1.2 and 1.3) and no session id cache: every handshake is full. */
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        return SSL_CTX_set_num_tickets(ctx, 0) == 1 ? 0 : -EINVAL;
    }
    SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_timeout(ctx, (long)lifetime);
    return SSL_CTX_set_session_ticket_cb(ctx, ticket_generate, ticket_decrypt,
                                         (void *)(uintptr_t)lifetime) == 1
               ? 0
               : -ENOMEM;
}

/* ---- stateful tickets: OpenSSL's external cache callbacks over session_cache.c ---------- */

static struct mtlb_session_cache *cache_of(SSL *ssl)
{
    const struct mtlb_tls_conn_info *info = mtlb_tls_conn_info_get(ssl);

    if (info == NULL || info->listener == NULL || info->listener->tickets == NULL) {
        return NULL;
    }
    return info->listener->tickets->cache;
}

/* OpenSSL's new_session_cb: a full TLS 1.2 handshake, or a TLS 1.3 ticket just built. The
 * cache keeps a copy, and hands out copies: OpenSSL marks the session of a connection freed
 * without a close_notify sent (most clients just close) as not resumable, in place, and a
 * marked session is never resumed again. The copy costs no decoding (certificates are
 * shared by reference). */
static int cache_new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct mtlb_session_cache *c = cache_of(ssl);
    SSL_SESSION *copy = c != NULL ? SSL_SESSION_dup(sess) : NULL;

    if (copy != NULL && mtlb_session_cache_put(c, copy) != 0) {
        SSL_SESSION_free(copy);
    }
    return 0; /* OpenSSL keeps its reference to sess */
}

static SSL_SESSION *cache_get_session(SSL *ssl, const unsigned char *id, int len, int *copy)
{
    struct mtlb_session_cache *c = cache_of(ssl);
    const char *why = NULL;
    SSL_SESSION *sess = NULL;

    *copy = 0; /* the reference returned is the caller's */
    if (c != NULL && len > 0) {
        SSL_SESSION *kept = mtlb_session_cache_get(c, id, (unsigned int)len, time(NULL),
                                                   mtlb_tls_session_refusal, &why);
        if (kept != NULL) {
            sess = SSL_SESSION_dup(kept);
            SSL_SESSION_free(kept);
        }
    }
    if (why != NULL) {
        const struct mtlb_tls_conn_info *info = mtlb_tls_conn_info_get(ssl);
        mtlb_log(MTLB_LOG_DEBUG, "conn=%llu peer=%s event=session_not_resumed reason=%s",
                 info != NULL ? (unsigned long long)info->conn_id : 0ULL,
                 info != NULL && info->peer[0] ? info->peer : "-", why);
    }
    return sess;
}

void mtlb_session_cache_setup(SSL_CTX *ctx)
{
    /* No sealed tickets: OpenSSL then sends TLS 1.3 tickets that name a cached session, and
     * TLS 1.2 resumes by session id. Only mtlb's cache, never OpenSSL's internal one (it
     * would not survive a reload and is bounded per context). */
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(ctx, cache_new_session);
    SSL_CTX_sess_set_get_cb(ctx, cache_get_session);
}

unsigned mtlb_tls_tickets_owed(const SSL *ssl)
{
    /* The connection's context after the SNI switch: every domain's carries the listener's
     * count (0 with session_lifetime: off). */
    size_t n = SSL_CTX_get_num_tickets(SSL_get_SSL_CTX(ssl));

    if (SSL_version(ssl) != TLS1_3_VERSION || n == 0) {
        return 0;
    }
    /* OpenSSL's own rule: one new ticket after a resumption, the full count otherwise. */
    return SSL_session_reused(ssl) ? 1 : (unsigned)n;
}

int mtlb_tls_send_tickets(SSL *ssl, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (SSL_new_session_ticket(ssl) != 1) {
            return -EIO;
        }
    }
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl);
    if (rc == 1) {
        return 0;
    }
    int err = SSL_get_error(ssl, rc);
    return err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ ? 1 : -EIO;
}
