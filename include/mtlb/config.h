/* Configuration: YAML file -> validated, immutable snapshot.
 * Pure module: reads the YAML file only; it does not open certificates or sockets (the tls
 * module loads those from the paths given here). Errors carry file, line and column. */
#ifndef MTLB_CONFIG_H
#define MTLB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtlb/balance.h"
#include "mtlb/cidr.h"
#include "mtlb/identity.h"
#include "mtlb/rewrite.h"

enum mtlb_client_auth {
    MTLB_CLIENT_AUTH_OFF = 0, /* no certificate requested */
    MTLB_CLIENT_AUTH_OPTIONAL,
    MTLB_CLIENT_AUTH_MANDATORY,
};

/* Worker I/O backend (io: in the YAML). */
enum mtlb_io_backend {
    MTLB_IO_AUTO = 0, /* io_uring if the kernel allows it, else epoll */
    MTLB_IO_URING,
    MTLB_IO_EPOLL,
};

/* Kernel TLS per listener (ktls: in the YAML). */
enum mtlb_ktls_mode {
    MTLB_KTLS_AUTO = 0, /* use it where the kernel and cipher allow, else userspace */
    MTLB_KTLS_ON,       /* refuse to start when the kernel has no TLS ULP */
    MTLB_KTLS_OFF,
};

/* Application protocols a listener offers in ALPN (alpn: in the YAML); h2 is preferred. */
enum {
    MTLB_ALPN_HTTP11 = 1,
    MTLB_ALPN_H2 = 2,
};

/* What a plain HTTP listener (tls: false) does with a connection (http: in the YAML). */
enum mtlb_plain_http {
    MTLB_PLAIN_REDIRECT = 0, /* 301 to https://HOST[:https_port]/path?query */
    MTLB_PLAIN_ALLOW,        /* plain HTTP/1.1 to the backend (X-Forwarded-Proto: http) */
    MTLB_PLAIN_DROP,         /* close at accept */
};

/* listeners[].session_lifetime in seconds: 1 hour by default, at most the 7 days that
 * RFC 8446 (4.6.1) allows a ticket. */
#define MTLB_SESSION_LIFETIME_DEFAULT 3600u
#define MTLB_SESSION_LIFETIME_MAX (7u * 24u * 3600u)
/* listeners[].tls.tickets: OpenSSL's default, and a bound on the work per connection. */
#define MTLB_TICKETS_DEFAULT 2u
#define MTLB_TICKETS_MAX 4u
#define MTLB_TICKETS_OFF UINT32_MAX /* tickets: 0 */
/* listeners[].tls.session_cache: sessions kept for stateful tickets (OpenSSL's own default
 * cache size); 0 in the file is kept as MTLB_SESSION_CACHE_OFF (sealed tickets). */
#define MTLB_SESSION_CACHE_DEFAULT 20480u
#define MTLB_SESSION_CACHE_MAX 1048576u
#define MTLB_SESSION_CACHE_OFF UINT32_MAX

/* The TLS policy of a listener (listeners[].tls) or a domain (domains[].tls), which
 * overrides the listener's key by key. The strings are ':'-joined OpenSSL names as written
 * (a YAML list or one "A:B" string); NULL keeps mtlb's default. The config checks the syntax
 * only: the tls module checks each name against OpenSSL when it builds the contexts (mtlb -t,
 * start, reload), and reports it with the origin of the value. */
enum mtlb_tls_policy_key {
    MTLB_TLSP_CIPHERS = 0,  /* TLS 1.2 cipher list (SSL_CTX_set_cipher_list) */
    MTLB_TLSP_CIPHERSUITES, /* TLS 1.3 suites (SSL_CTX_set_ciphersuites) */
    MTLB_TLSP_GROUPS,       /* key exchange groups (SSL_CTX_set1_groups_list) */
    MTLB_TLSP_PASSPHRASE,   /* key_passphrase_file: resolved path; the key is encrypted PEM */
    MTLB_TLSP_N,
};
struct mtlb_tls_policy_cfg {
    int min_version;        /* 0: default (TLS 1.2); else 0x0303 (TLS1.2) or 0x0304 (TLS1.3) */
    char *str[MTLB_TLSP_N]; /* NULL: default (no passphrase) */
    /* "FILE:LINE:COL: KEY" of each value (KEY as "listeners[0].tls.groups"), NULL with it. */
    char *origin[MTLB_TLSP_N];
};

struct mtlb_domain_cfg {
    char **names; /* SNI names, lower-case; exact or "*.suffix" */
    size_t n_names;
    char *certificate; /* absolute or config-relative path resolved to absolute */
    char *key;
    enum mtlb_client_auth mode;
    char *truststore; /* NULL when client_auth is off */
    char *crl;        /* NULL when none */
    int verify_depth; /* default 10 */
    /* client_auth.require_client_auth_eku (default true): a client certificate without an
     * extended key usage extension fails; false keeps OpenSSL's rule (no EKU = any purpose). */
    bool require_client_auth_eku;
    /* Where the domain is written, for messages about its files ("FILE:LINE: KEY (NAME):
     * certificate: ..."): the configuration file (struct mtlb_config.path, not owned), the
     * key path ("listeners[0].domains[1]") and the 1-based line of each file's value (0 when
     * absent). NULL in a configuration not made by mtlb_config_parse. */
    const char *cfg_file;
    char *cfg_key;
    unsigned certificate_line, key_line, truststore_line, crl_line;
    /* The domain's tls: over the listener's tls: (already merged: read this one only). */
    struct mtlb_tls_policy_cfg policy;
    /* ocsp_response: a DER OCSP response for the certificate, stapled when a client asks
     * (resolved path; NULL: none), and the 1-based line of its value. */
    char *ocsp_response;
    unsigned ocsp_response_line;
    /* domains[].backend: this domain's default pool (chosen by SNI), over the listener's;
     * NULL: the listener's. backend_index is resolved. */
    char *backend;
    size_t backend_index;
};

/* A route's client identity policy (routes[].require). Every present key is a condition that
 * must hold (all of them AND; inside a list any element may match); an absent key (NULL, 0
 * entries, verify 0) is no condition. The config keeps what was written, normalized; the
 * require module (mtlb/require.h) compiles and checks it. */
struct mtlb_require_cfg {
    /* verify: the allowed outcomes as bits (1u << MTLB_VERIFY_*); 0: absent. The require
     * module then allows only SUCCESS when any certificate condition below is present
     * (a FAILED certificate's fields are the client's choice), any outcome otherwise. */
    unsigned verify;
    /* POSIX extended regular expressions on the subject / issuer DN as written in
     * headers.dn_format, unanchored unless written with ^ and $ (regcomp-checked when read). */
    char *subject;
    char *issuer;
    /* Subject alternative names: DNS names lower-case, exact or "*.suffix" (one label);
     * URIs exact; e-mail addresses exact, domain part lower-case. */
    char **san_dns;
    size_t n_san_dns;
    char **san_uri;
    size_t n_san_uri;
    char **san_email;
    size_t n_san_email;
    char **fingerprints; /* fingerprints_sha256: 64 lower-case hex digits, no colons */
    size_t n_fingerprints;
    /* serials: upper-case hex without separators, as struct mtlb_identity.serial: leading zero
     * bytes dropped, whole bytes ("0A", "0100"), "0" for zero, "-" first when negative. */
    char **serials;
    size_t n_serials;
};

/* No pool: a listener or domain without backend:, a route whose backend names its pattern. */
#define MTLB_ROUTE_NO_POOL ((size_t)-1)

struct mtlb_route_cfg;

struct mtlb_listener_cfg {
    char *bind_host; /* "0.0.0.0", "::", "127.0.0.1" ... */
    uint16_t bind_port;
    unsigned bind_line; /* line of `bind:` in the file (1-based), for start-up errors */
    char *backend;      /* pool name; resolved below */
    size_t backend_index;
    enum mtlb_ktls_mode ktls;        /* default auto */
    unsigned alpn;                   /* MTLB_ALPN_* bits; default h2 and http/1.1 */
    struct mtlb_domain_cfg *domains; /* domains[0] also serves clients without SNI */
    size_t n_domains;
    /* How long after the full handshake that verified the client a TLS session may be
     * resumed, in seconds (default 3600, at most MTLB_SESSION_LIFETIME_MAX); 0: never. */
    uint32_t session_lifetime;
    /* tls.ticket_keys of the listener, else the top-level one (resolved path), else NULL:
     * random ticket keys per process. Checked when the TLS contexts are built (mtlb -t). */
    char *ticket_keys;
    /* listeners[].tls policy keys; each domain's policy already includes them. */
    struct mtlb_tls_policy_cfg policy;
    /* listeners[].limits.max_body_bytes, else limits.max_body_bytes (already merged: read this
     * one only); 0: unlimited. Checked with mtlb_body_limit_check (body_limit.h). */
    uint64_t max_body_bytes;
    /* listeners[].routes in order (first match wins, see mtlb/route.h); backend above may
     * then be NULL (no default pool: 404 when no route matches). */
    struct mtlb_route_cfg *routes;
    size_t n_routes;
    /* Edge policy (config_acl.c), checked by the acceptor before any TLS work: allow and deny
     * (empty: no list; deny wins; with an allow list only its addresses get in), and the PROXY
     * protocol header, required on every connection when proxy_protocol, accepted only from
     * proxy_from (listeners[].proxy_protocol_from, required with it). */
    struct mtlb_cidr_list allow, deny;
    bool proxy_protocol;
    struct mtlb_cidr_list proxy_from;
    /* tls: false (config_plain.c): a plain HTTP listener, no TLS and no domains; http: says
     * what it does with requests, https_port is the port its redirects name (443: omitted). */
    bool plain;
    enum mtlb_plain_http plain_http; /* default redirect */
    uint16_t https_port;             /* default 443 */
    /* listeners[].tls.tickets (config_tls.c): TLS 1.3 session tickets sent after a full
     * handshake, 1 to MTLB_TICKETS_MAX; one after a resumed one. 0: not written (then
     * MTLB_TICKETS_DEFAULT); MTLB_TICKETS_OFF: `tickets: 0`, no session tickets at all (TLS 1.3
     * sessions are not resumed, TLS 1.2 ones only by session id). */
    uint32_t tickets;
    /* listeners[].tls.session_cache (config_tls.c): without ticket_keys, how many sessions
     * the listener keeps for stateful tickets. 0: not written (MTLB_SESSION_CACHE_DEFAULT);
     * MTLB_SESSION_CACHE_OFF: `session_cache: 0`, sealed tickets under random keys instead. */
    uint32_t session_cache;
    /* listeners[].splice: false (config_splice.c): response bodies never move by splice
     * (splice.h); by default they do where the transport allows it (ktls, plain). */
    bool no_splice;
};

/* listeners[].routes[]: one of path_prefix, path_exact, path_pattern. */
enum mtlb_route_kind {
    MTLB_ROUTE_PREFIX = 0,
    MTLB_ROUTE_EXACT,
    MTLB_ROUTE_PATTERN, /* "/{app}/": one segment names the pool through backend: "{app}" */
};
struct mtlb_route_cfg {
    enum mtlb_route_kind kind;
    char *path;           /* as written, in normalized form (mtlb_route_check_path) */
    char *host;           /* NULL: any; else lower-case exact name or "*.suffix" (one label) */
    char *name;           /* name: for the access log; NULL: the route's index */
    char *backend;        /* pool name; for a pattern it may hold the {name} of the pattern */
    size_t backend_index; /* resolved; MTLB_ROUTE_NO_POOL when backend names the pattern */
    bool strip_prefix;    /* the matched part is removed ("/" stays) */
    char *rewrite_prefix; /* NULL: none; else the matched part is replaced by it */
    struct mtlb_require_cfg require; /* require: (zero when absent) */
    bool has_require;                /* require: was given */
    unsigned line;                   /* of the route in the file, for mtlb -t warnings */
    /* routes[].limits.max_body_bytes, else the listener's (already merged: the limit of the
     * requests this route takes; 0: unlimited). */
    uint64_t max_body_bytes;
    /* routes[].allow / deny: the client address (the PROXY header's on such a listener) must
     * be in allow when it is not empty and not in deny; else 403 ("denied":"address"). */
    struct mtlb_cidr_list allow, deny;
};

struct mtlb_server_cfg {
    char *host;
    uint16_t port;
    /* A servers entry written as {address: "host:port", weight: N}: 1..MTLB_WEIGHT_MAX; a
     * plain "host:port" string has weight 1. */
    uint16_t weight;
};

/* backends[].health: active HTTP/1.1 checks, one probe per server per interval. */
struct mtlb_health_cfg {
    bool enabled;         /* the key was given */
    char *path;           /* request target, starts with '/' (required) */
    uint32_t interval_ms; /* between two probes of one server (2 s) */
    uint32_t timeout_ms;  /* connect to end of status line; at most interval (1 s) */
    uint32_t rise;        /* consecutive successes that mark a down server up (2) */
    uint32_t fall;        /* consecutive failures that mark an up server down (3) */
    uint16_t status_min;  /* passing statuses, inclusive (200-399: "2xx-3xx") */
    uint16_t status_max;
};

/* backends[].tls: HTTPS to the pool's servers (config_backend_tls.c). */
struct mtlb_backend_tls_cfg {
    bool enabled; /* the key was given */
    /* verify (default true): the server's chain against ca and its name (sni, else the
     * server's host name or IP literal). false must be written; mtlb then warns at start. */
    bool verify;
    char *ca;          /* resolved path; required unless verify is false */
    char *sni;         /* lower-case name; NULL: the server's host when it is a name */
    char *certificate; /* client certificate chain presented to the backend (with key), or NULL */
    char *key;
    uint16_t min_version; /* 0 (OpenSSL's default, TLS 1.2 here), 0x0303 or 0x0304 */
    char *ciphers;        /* TLS 1.2 cipher list, or NULL */
    /* Lines (1-based) of the values, for messages about the files (0 when absent). */
    unsigned line, ca_line, certificate_line, key_line, ciphers_line, verify_line;
};

struct mtlb_backend_cfg {
    char *name;
    struct mtlb_server_cfg *servers;
    size_t n_servers;
    struct mtlb_health_cfg health;
    /* backends[].balance: round_robin (default) | least_requests */
    enum mtlb_balance_algo balance;
    /* backends[].resolve: look the servers' host names up again this often (0: off, the
     * default: resolved at start and on each reload only). */
    uint32_t resolve_ms;
    struct mtlb_backend_tls_cfg tls; /* backends[].tls (HTTPS to the servers) */
};

struct mtlb_timeouts_cfg {
    uint32_t handshake_ms;       /* TLS handshake deadline (10 s) */
    uint32_t client_header_ms;   /* first byte to end of request head (10 s) */
    uint32_t client_body_ms;     /* between two reads of a request body (30 s) */
    uint32_t client_idle_ms;     /* keep-alive idle between requests (60 s) */
    uint32_t backend_connect_ms; /* (3 s) */
    uint32_t
        backend_response_ms;  /* request sent -> response head; also between body reads (30 s) */
    uint32_t backend_idle_ms; /* pooled idle keep-alive connection lifetime (30 s) */
    uint32_t drain_ms;        /* graceful shutdown (10 s) */
    /* After SIGTERM: /readyz says 503 at once, listeners keep accepting this long, then
     * close and the drain starts (0: no delay; 5 s suits Kubernetes). */
    uint32_t shutdown_delay_ms;
};

/* admin: the admin listener (metrics, health, config, reload). Off when bind_host is NULL.
 * Without tls_on: plain HTTP, loopback binds only. With it (admin.certificate, admin.key and
 * admin.client_auth, the keys of a domain): mutual TLS, client_auth mode mandatory, any bind. */
struct mtlb_admin_cfg {
    char *bind_host;
    uint16_t bind_port;
    unsigned bind_line; /* line of `bind:` (1-based), for start-up errors */
    bool tls_on;
    /* The admin's TLS files and client_auth as a domain's (names: {"admin"}, cfg_key
     * "admin"), so the tls module loads and verifies them exactly as it does a domain's.
     * Zero when !tls_on. */
    struct mtlb_domain_cfg tls;
};

/* reload: how the configuration is reloaded besides SIGHUP and POST /reload. */
#define MTLB_RELOAD_DEBOUNCE_MAX_MS 60000u
struct mtlb_reload_cfg {
    /* reload.watch (default false): reload when the configuration file or a file it names
     * (certificate, key, truststore, CRL, ticket keys) changes, watched through its directory. */
    bool watch;
    /* reload.debounce (1 s, at most 60 s): the reload waits until the watched files have been
     * quiet this long, so one change that touches several files reloads once. */
    uint32_t debounce_ms;
};

struct mtlb_limits_cfg {
    uint32_t max_header_bytes; /* request head size limit -> 431 (16384) */
    uint32_t max_headers;      /* header count limit -> 431 (100) */
    uint32_t max_connections;  /* per process; beyond it new connections are closed (10000) */
    uint32_t h2_max_streams;   /* HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS (100) */
    /* Request body size limit -> 413 (0: unlimited, the default); listeners may override it. */
    uint64_t max_body_bytes;
};

struct mtlb_log_cfg {
    int level;        /* 0 error, 1 warn, 2 info (default), 3 debug */
    char *access_log; /* path, "stdout", "stderr" or NULL for off (default "stdout") */
};

struct mtlb_config {
    char *path; /* the file it was read from */
    struct mtlb_listener_cfg *listeners;
    size_t n_listeners;
    struct mtlb_backend_cfg *backends;
    size_t n_backends;
    unsigned acceptors; /* default 1 */
    unsigned workers;   /* 0 = auto: one per online CPU */
    struct mtlb_timeouts_cfg timeouts;
    struct mtlb_limits_cfg limits;
    struct mtlb_log_cfg log;
    enum mtlb_dn_format dn_format; /* headers.dn_format: slash (default) | rfc2253 */
    /* headers.underscores: drop (default) | reject | pass;
     * headers.request_trailers: drop (default) | forward */
    struct mtlb_header_policy header_policy;
    /* headers.client_cert, headers.client_san, headers.fingerprint: the opt-in identity
     * headers' names ("" when off, the default) */
    struct mtlb_id_names id_headers;
    enum mtlb_io_backend io; /* io: auto (default) | uring | epoll */
    struct mtlb_admin_cfg admin;
    struct mtlb_reload_cfg reload;
    char *ticket_keys; /* top-level tls.ticket_keys (resolved path) or NULL */
};

/* Reads and validates the YAML file at path. On success returns 0 and *out owns a new
 * config (free with mtlb_config_destroy). On failure returns -EINVAL (or -ENOENT/-ENOMEM)
 * and writes "FILE:LINE:COL: problem" (or "FILE: problem") into err[0..errlen).
 * Validation: unknown keys, wrong types, missing required keys, bad bind/server addresses,
 * duplicate SNI names within a listener, a listener naming an unknown backend, a backend
 * with no servers, mode optional/mandatory without a truststore, bad numbers.
 * Relative file paths are resolved against the directory of the config file. */
int mtlb_config_load(const char *path, struct mtlb_config **out, char *err, size_t errlen);

/* Same from an in-memory YAML document; `name` is used in messages and `base_dir` resolves
 * relative paths. For tests and fuzzing. */
int mtlb_config_parse(const char *yaml, size_t len, const char *name, const char *base_dir,
                      struct mtlb_config **out, char *err, size_t errlen);

void mtlb_config_destroy(struct mtlb_config *cfg);
/* A deep copy of one domain's settings (names, files, cfg_key and cfg_file included) that
 * outlives its configuration: the admin's TLS context keeps one across reloads. 0 or -ENOMEM
 * (free a partial copy too); free with mtlb_config_domain_copy_free. */
int mtlb_config_domain_copy(struct mtlb_domain_cfg *d, const struct mtlb_domain_cfg *s);
void mtlb_config_domain_copy_free(struct mtlb_domain_cfg *d);

const char *mtlb_config_mode_name(enum mtlb_client_auth mode);

#endif
