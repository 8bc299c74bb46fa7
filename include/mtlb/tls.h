/* TLS contexts: one SSL_CTX per domain, SNI selection, client-certificate verification and its
 * diagnostics. Owns the OpenSSL configuration; does no socket I/O itself. SSL_CTXs are shared
 * read-only by every thread once built. */
#ifndef MTLB_TLS_H
#define MTLB_TLS_H

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "mtlb/config.h"
#include "mtlb/identity.h"

/* Empties this thread's OpenSSL error queue before an SSL_read/SSL_write whose result goes to
 * SSL_get_error, only when it holds something. OpenSSL 3.0's ERR_clear_error walks all 16
 * slots and calls free() twice on each even when the queue is empty: 2.8 % of mtlb's CPU in an
 * HTTP/2 profile (bench/run h2_m10), where it ran before every record; a peek is a lookup. */
static inline void mtlb_tls_err_reset(void)
{
    if (ERR_peek_error() != 0) {
        ERR_clear_error();
    }
}

/* A condition of a domain's files that mtlb starts and serves with, but that an operator must
 * hear of (mtlb_tls_listener_audit). */
struct mtlb_tls_warning {
    const char *event; /* server_certificate_expired, crl_missing, ... (static string) */
    char text[1024];   /* for mtlb -t: "FILE:LINE: listeners[0].domains[0] (NAME): KEY: ..." */
    char fields[1536]; /* for the log: domain=... certificate=|crl=... detail="..." */
};

/* One CRL the chain checks use: that of a truststore CA (the one it signed with the latest
 * nextUpdate), as recorded at load. Times are 0 when absent. */
struct mtlb_tls_crl_info {
    char issuer[256]; /* the CA's subject, "/C=../CN=.." */
    time_t last_update, next_update;
};

struct mtlb_tls_domain {
    const struct mtlb_domain_cfg *cfg;
    SSL_CTX *ctx;
    /* Truststore certificates that end a chain without being self-signed (intermediates
     * whose issuer is not in the truststore, directly trusted leaves); NULL without one. */
    STACK_OF(X509) * anchors;
    /* Recorded at load for mtlb_tls_listener_audit; handshakes never use them. */
    time_t not_before, not_after; /* the server certificate's validity */
    struct mtlb_tls_crl_info *crls;
    size_t n_crls;
    struct mtlb_tls_warning *fixed; /* found at load: a CA without CRL, an unused CRL */
    size_t n_fixed;
    /* ocsp_response: the DER response stapled when a client asks (NULL: none), and its
     * thisUpdate and nextUpdate (0: absent). */
    unsigned char *ocsp;
    size_t ocsp_len;
    time_t ocsp_this_update, ocsp_next_update;
    /* SHA-256 of how clients are verified: mode, depth, EKU rule and the bytes of the
     * truststore and CRL files as loaded. Equal across two snapshots only when a certificate
     * verified under one would be judged the same under the other. */
    unsigned char trust[32];
};

struct mtlb_tickets;

/* All domains of one listener. domains[0] serves clients without SNI or with an unknown name. */
struct mtlb_tls_listener {
    struct mtlb_tls_domain *domains;
    size_t n_domains;
    /* Session ticket keys (tls.ticket_keys, else random per process); NULL when the listener
     * has session_lifetime: off. Shared by the acceptor threads (it has its own lock). */
    struct mtlb_tickets *tickets;
};

/* Builds every SSL_CTX for the listener: loads the certificate chain and key (PEM), checks
 * that they match (a chain whose leaf is not first is named as such), records the leaf's
 * validity period (outside it, mtlb still serves it: see mtlb_tls_listener_audit), loads the
 * truststore (every PEM entry must be a certificate), advertises the truststore's subjects as
 * client CA names, loads CRLs (checked for every certificate of the chain below its trust anchor),
 * sets the verify mode and depth, TLS 1.2 and 1.3 with modern ciphers, the SNI callback. Chains are
 * built to a self-signed root whenever the truststore holds it. Loads the ticket key file
 * (tls.ticket_keys) or makes random ticket keys. Returns 0, or -errno with
 * "CONFIG:LINE: listeners[i].domains[j] (NAME): KEY: FILE: problem" in err (KEY: certificate,
 * key, truststore or crl; "domain NAME: KEY: FILE: problem" for a configuration without
 * locations; "FILE: tls.ticket_keys: problem" for the key file). Main thread only. */
int mtlb_tls_listener_init(struct mtlb_tls_listener *tl, const struct mtlb_listener_cfg *cfg,
                           char *err, size_t errlen);
void mtlb_tls_listener_fini(struct mtlb_tls_listener *tl);
/* Reload: when both dst (new) and src (running) use random ticket keys, dst drops its own and
 * shares src's, so that tickets issued before the reload still open. With a key file dst
 * keeps the keys it just read (rotation by rewriting the file). */
void mtlb_tls_listener_keep_tickets(struct mtlb_tls_listener *dst,
                                    const struct mtlb_tls_listener *src);

/* Reports through fn, for every domain of tl, the conditions at `now` that depend on time: a
 * server certificate expired, not yet valid or expiring within 30 days; a CRL of a truststore
 * CA not yet valid, past its nextUpdate or within 7 days of it. With `all`, also those fixed
 * at load: a CA of the truststore that the CRL file has no CRL from, a CRL that no chain can
 * use. Returns how many were reported. Reads only what mtlb_tls_listener_init recorded, so
 * the main thread may call it while other threads handshake. */
typedef void (*mtlb_tls_warn_fn)(const struct mtlb_tls_domain *dom,
                                 const struct mtlb_tls_warning *w, void *arg);
size_t mtlb_tls_listener_audit(const struct mtlb_tls_listener *tl, time_t now, bool all,
                               mtlb_tls_warn_fn fn, void *arg);

/* Per-connection TLS state that the acceptor attaches to each SSL (ex_data) so that the
 * callbacks can log with the connection id and record the domain and verification result. */
struct mtlb_tls_conn_info {
    uint64_t conn_id;
    const struct mtlb_tls_listener *listener;
    size_t domain;    /* index chosen by SNI */
    long first_error; /* first X.509 error seen by the verify callback (X509_V_OK if none) */
    int first_error_depth;
    char peer[64]; /* "ip:port" of the client, for logs */
    /* Last second at which every certificate of the verified chain is valid, 0 if unknown:
     * the handshake's session is not resumed after it (session.c). */
    time_t not_after;
    /* TLS 1.3 client application traffic secret, kept by the kTLS keylog callback until the
     * receive key is installed, then wiped (ktls.c). */
    unsigned char rx_secret[48];
    unsigned char rx_secret_len;
    /* Recorded with first_error for the access log's handshake_failed line (slash DNs,
     * malloc'd, NULL when unknown; freed by mtlb_tls_conn_info_fini): the client certificate's
     * subject and, for a chain that lacked one, the DN of the missing issuer. */
    char *fail_subject;
    char *missing_issuer;
    char *sni; /* the server name as the client sent it (malloc'd), NULL without one */
};

/* Frees what the verify callback recorded in info. */
void mtlb_tls_conn_info_fini(struct mtlb_tls_conn_info *info);

/* Index of the domain whose names match host (NUL-terminated, no port): exact names first,
 * then "*.suffix" wildcards; -1 when none does. Any thread. */
int mtlb_tls_match_domain(const struct mtlb_tls_listener *tl, const char *host);

/* Whether two domains verify clients identically (mode, truststore, CRL, depth, EKU rule): a
 * request may then move between them on one connection without bypassing anything. */
bool mtlb_tls_same_client_auth(const struct mtlb_domain_cfg *a, const struct mtlb_domain_cfg *b);

/* The 421 rule (RFC 9110 section 15.5.20), for HTTP/1.1 and HTTP/2 alike: true when host (a
 * normalized authority host from mtlb_authority_parse: lower case, no trailing dot, no port;
 * "" for none) names a domain of tl other than `domain` (the one the handshake chose) that
 * verifies clients differently or has another TLS policy (versions, ciphers, suites, groups:
 * the handshake applied the chosen domain's). IP literals and unknown names name no domain.
 * Any thread. The two functions below apply the same comparison. */
bool mtlb_tls_misdirected(const struct mtlb_tls_listener *tl, size_t domain, const char *host);

/* The same rule across a reload: tl and domain are the connection's (the snapshot it was
 * accepted under), now the listener in the current snapshot. True when host names a domain of
 * `now`, other than the connection's own (by first name), that verifies clients differently
 * from the connection's domain: a domain added or changed by a reload cannot be reached on a
 * connection verified for another. False when now == tl. Any thread. */
bool mtlb_tls_misdirected_since(const struct mtlb_tls_listener *tl, size_t domain,
                                const struct mtlb_tls_listener *now, const char *host);

/* The 421 rule across listeners: `all` is every listener of a snapshot (n of them; a plain
 * one has no domains), `self` the connection's. A name held by the connection's own listener
 * is left to the rules above; a name held only by another listener's domain returns that
 * listener's index, else -1. Such a request was never judged by that listener's rules
 * (client verification, TLS policy, allow/deny lists, routes and their require), and the
 * listeners may share a backend: it is misdirected whatever the domains have in common.
 * Any thread. */
int mtlb_tls_misdirected_listener(const struct mtlb_tls_listener *all, size_t n, size_t self,
                                  const char *host);

/* Across a reload: true when the verdict of a connection's handshake is stale, because its
 * own domain (tl's `domain`, found in `now` by its first name, else now's domains[0], where
 * its clients go now) verifies clients otherwise than when the connection was accepted. For
 * a client that presented a certificate (with_cert): another truststore or CRL (its bytes,
 * so a CRL replaced in place counts), mode, depth or EKU rule; a client whose CA was removed
 * or whose certificate was revoked must not keep being vouched for on a connection it opened
 * before. Without one only the mode can make "no certificate" stale (optional -> mandatory).
 * False when now == tl. Any thread. */
bool mtlb_tls_trust_changed(const struct mtlb_tls_listener *tl, size_t domain,
                            const struct mtlb_tls_listener *now, bool with_cert);

/* Creates the SSL for a newly accepted connection on the listener's default domain and
 * attaches info (caller-owned, must outlive the SSL's handshake). NULL on allocation failure. */
SSL *mtlb_tls_new_conn(const struct mtlb_tls_listener *tl, struct mtlb_tls_conn_info *info);

/* Before the handshake: it will send no TLS 1.3 session ticket. Building one costs a sixth to
 * a quarter of a full mTLS handshake, wasted on a client that leaves at once; the owner sends
 * them with mtlb_tls_send_tickets once the connection has shown it is used. Without this call
 * OpenSSL sends them at the end of the handshake. */
void mtlb_tls_defer_tickets(SSL *ssl);

/* After a completed handshake: how many TLS 1.3 tickets the connection is owed, as OpenSSL
 * would have sent them: the listener's tls.tickets after a full handshake, one after a resumed
 * one (none when tickets is 0), none with session_lifetime: off and none under TLS 1.2 (whose
 * ticket is part of the handshake). Any thread. */
unsigned mtlb_tls_tickets_owed(const SSL *ssl);

/* Queues n TLS 1.3 tickets and writes them through the SSL's write BIO (a socket BIO, with
 * kTLS TX as a handshake record, or the ring BIO). Returns 0 when written, 1 when the BIO
 * took only part (OpenSSL finishes the rest at the next SSL_write or SSL_read), -EIO when
 * OpenSSL refused (the connection is then unusable). The connection's owner thread. */
int mtlb_tls_send_tickets(SSL *ssl, unsigned n);

/* After a completed handshake: builds the identity the backend is told about (verify word,
 * subject, issuer, serial, reason) from the peer certificate and the recorded result. On a
 * resumed session the certificate must still be valid now: if it is not, optional mode
 * reports FAILED and any other mode returns -EKEYEXPIRED (logged; the caller closes the
 * connection). 0, -EKEYEXPIRED or -ENOMEM. */
int mtlb_tls_identity(SSL *ssl, enum mtlb_dn_format fmt, struct mtlb_identity *id);

/* Client-certificate failure reasons (mtlb_client_verify_failures_total's `reason`). */
enum mtlb_verify_reason {
    MTLB_VR_UNKNOWN_CA = 0,
    MTLB_VR_MISSING_ISSUER,
    MTLB_VR_EXPIRED,
    MTLB_VR_NOT_YET_VALID,
    MTLB_VR_REVOKED,
    MTLB_VR_CRL_ERROR,
    MTLB_VR_BAD_PURPOSE,
    MTLB_VR_NO_CERTIFICATE,
    MTLB_VR_OTHER,
    MTLB_VR_COUNT
};
/* The fixed token of r ("missing_issuer" ...). Any thread. */
const char *mtlb_verify_reason_token(enum mtlb_verify_reason r);
/* The reason for an X.509 verification error (X509_V_ERR_*). Any thread. */
enum mtlb_verify_reason mtlb_tls_verify_reason(long x509_err);

/* The verdict of mtlb_tls_verify_offline. */
struct mtlb_tls_offline {
    long x509_error;                /* X509_V_OK when the domain accepts the chain */
    enum mtlb_verify_reason reason; /* when it does not: the token the metrics would count */
    int depth;                      /* depth of the certificate at fault in the built chain, -1 */
    X509 *cert;                     /* that certificate (the caller X509_free's it), or NULL */
};

/* Verifies chain (the client's leaf first, then what it would send after it) as a client
 * certificate of domain di of tl, now, exactly as a handshake on that domain does: the same
 * SSL settings (truststore, CRLs, depth, purpose, the EKU rule), the same verify callbacks and
 * chain rule (they log a refusal as a handshake's would, at warn). For an incomplete chain
 * out->cert is the certificate whose issuer is missing. 0, -EINVAL (no such domain, an empty
 * chain, or a domain with client_auth off) or -ENOMEM. Main thread; tl is only read. */
int mtlb_tls_verify_offline(const struct mtlb_tls_listener *tl, size_t di, STACK_OF(X509) * chain,
                            struct mtlb_tls_offline *out);

/* Describes why a handshake failed (OpenSSL error queue and verify result) into buf for the
 * log line; clears the thread's error queue. */
const char *mtlb_tls_error_string(SSL *ssl, char *buf, size_t cap);

#endif
