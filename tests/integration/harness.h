/* Integration-test harness: runs the real mtlb binary and mtlb-echo backends on loopback
 * ports, writes their configuration, and talks to them with real OpenSSL clients and raw TCP.
 * Paths come from MTLB_BIN, MTLB_ECHO and MTLB_PKI (set by meson). Every helper that fails
 * for a reason outside the code under test aborts the current Criterion test with a message. */
#ifndef MTLB_IT_HARNESS_H
#define MTLB_IT_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

/* IT_ASAN: built with AddressSanitizer (gcc or clang), whose allocator and quarantine change
 * RSS: memory bounds are asserted in the other builds only. */
#if defined(__SANITIZE_ADDRESS__)
#define IT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define IT_ASAN 1
#endif
#endif

#define IT_MAX_DOMAINS 3
#define IT_MAX_SERVERS 4
#define IT_MAX_ECHO 4

/* One domain of the single listener. Paths are relative to MTLB_PKI unless absolute. */
struct it_domain {
    const char *names[4];          /* NULL-terminated SNI names; first domain gets defaults */
    const char *cert;              /* default "server/api.crt" */
    const char *key;               /* default "server/api.key" */
    const char *mode;              /* "mandatory", "optional", "off"; default "mandatory" */
    const char *truststore;        /* default "trust/full.pem" unless mode is "off" */
    const char *crl;               /* default none */
    const char *client_auth_extra; /* more client_auth keys, YAML flow ("k: v, k2: v2") */
    const char *tls;               /* domain tls: YAML flow mapping; NULL: not written */
    const char *extra;             /* more domain keys, one YAML line ("ocsp_response: F") */
};

struct it_config {
    struct it_domain domains[IT_MAX_DOMAINS];
    size_t n_domains;                 /* 0 means one default domain */
    uint16_t servers[IT_MAX_SERVERS]; /* backend ports on 127.0.0.1 */
    size_t n_servers;
    const char *listener_backend; /* default "app" (the pool's name) */
    const char *timeouts;         /* YAML flow mapping; NULL for the suite defaults */
    const char *limits;           /* YAML flow mapping; NULL for the suite defaults */
    const char *io;               /* auto, uring, epoll; NULL: $MTLB_IT_IO or the default */
    const char *ktls;             /* listener ktls: auto, on, off; NULL: not written (auto) */
    const char *alpn;             /* listener alpn: YAML flow sequence ("[http/1.1]"); NULL: none */
    const char *access_log;       /* log.access_log value; NULL: stdout (env->out_log) */
    unsigned acceptors;           /* threads.acceptors; 0: 1 */
    const char *headers; /* extra headers keys ("underscores: pass, request_trailers: forward") */
    const char *session_lifetime; /* listener session_lifetime ("2s", "off"); NULL: not written */
    uint16_t admin_port;          /* admin: {bind: "127.0.0.1:admin_port"}; 0: no admin listener */
    const char *admin_host;       /* the admin bind's host; NULL: 127.0.0.1 */
    const char *admin_extra;      /* more admin keys, YAML flow ("certificate: F, key: F, ...") */
    const char *backend_extra;    /* one more key of the pool, YAML ("health: {path: /healthz}") */
    const char *ticket_keys;      /* listener tls.ticket_keys (a path); NULL: not written */
    const char *listener_tls;     /* more listener tls keys, YAML flow ("min_version: TLS1.3") */
    const char *tls;              /* top-level tls: YAML flow mapping; NULL: not written */
    const char *reload;           /* top-level reload: YAML flow mapping; NULL: not written */
    /* more listener keys, block YAML with "\n    " between keys ("allow: [10.0.0.0/8]") */
    const char *listener_extra;
    const char *servers_yaml; /* the pool's servers: YAML flow sequence; NULL: servers[] */
};

struct it_env {
    char dir[256];    /* per-test temporary directory */
    char config[300]; /* path of the generated config */
    char out_log[300];
    char err_log[300];
    pid_t mtlb;
    uint16_t port; /* mtlb listener port */
    pid_t echo[IT_MAX_ECHO];
    uint16_t echo_port[IT_MAX_ECHO];
    size_t n_echo;
    /* mtlb (it_mtlb_start, it_run) runs under a seccomp filter that fails io_uring_setup with
     * EPERM, as Docker's default profile does. */
    bool block_io_uring;
};

/* Environment and paths. */
const char *it_pki(const char *rel); /* static buffer ring: valid for a few calls */
void it_env_init(struct it_env *env);
void it_env_fini(struct it_env *env); /* kills whatever still runs, removes the temp dir */
uint16_t it_free_port(void);          /* a loopback port nobody listens on right now */
bool it_port_accepts(uint16_t port);  /* a connect to 127.0.0.1:port succeeds */

/* Processes. */
int it_write_config(struct it_env *env, const struct it_config *cfg); /* to env->config */
/* it_write_config with a plain listener on port before cfg's TLS listener: keys are its YAML
 * lines after `tls: false` (each indented four spaces, ending in a newline). */
void it_write_config_plain_first(struct it_env *env, const struct it_config *cfg, uint16_t port,
                                 const char *keys);
void it_mtlb_start(struct it_env *env, const struct it_config *cfg);
/* The two halves of it_mtlb_start for a config file written by hand: launch runs
 * `mtlb -c env->config` (env->mtlb set, output to the env's logs); wait_ports returns once
 * every port accepts, and fails the test with mtlb's stderr when it exits or 10 s pass. */
void it_mtlb_launch(struct it_env *env);
void it_mtlb_wait_ports(struct it_env *env, const uint16_t *ports, size_t n);
void it_mtlb_assert_alive(struct it_env *env);
/* SIGTERM then wait up to timeout_ms (SIGKILL after). Fails the test if mtlb died from a
 * signal other than SIGTERM, or had to be killed. Returns the wait status. */
int it_mtlb_stop(struct it_env *env, int timeout_ms);
/* Waits for an exit already requested (same checks as it_mtlb_stop). */
int it_mtlb_wait(struct it_env *env, int timeout_ms);
uint16_t it_echo_start(struct it_env *env, const char *name);
/* Kills echo i (SIGKILL: its port refuses connections at once); restarts it on the same port
 * and waits until it listens again. */
void it_echo_kill(struct it_env *env, size_t i);
void it_echo_restart(struct it_env *env, size_t i, const char *name);
/* Runs a command to completion; *out and *err receive its stdout and stderr (malloc'd).
 * Returns the exit code, or -1 on timeout/signal. */
int it_run(struct it_env *env, char *const argv[], char **out, char **err, int timeout_ms);

/* `mtlb A1 A2 A3` (NULLs end the list early) to completion; out and err are never NULL. */
struct it_run_result {
    int rc;
    char *out;
    char *err;
};
struct it_run_result it_mtlb_run(struct it_env *env, const char *a1, const char *a2,
                                 const char *a3);
void it_run_result_fini(struct it_run_result *r);
/* Writes cfg to env->config and runs `mtlb -t -c` on it. */
struct it_run_result it_mtlb_check(struct it_env *env, const struct it_config *cfg);
/* Copies a PKI file into env's directory as `as` (a neutral name, so that the file name itself
 * cannot satisfy a "mentions the problem" assertion); returns its path (a ring of 4 buffers). */
const char *it_copy_pki(struct it_env *env, const char *rel, const char *as);

/* Logs. */
char *it_read_file(const char *path, size_t *len); /* malloc'd, NUL-terminated, or NULL */
size_t it_count_lines(const char *path, const char *const *needles); /* lines with all needles */
/* Waits up to timeout_ms for at least `want` lines containing every needle; returns the count. */
size_t it_wait_lines(const char *path, const char *const *needles, size_t want, int timeout_ms);
/* Waits up to 5 s for a line containing every needle and returns it (malloc'd); fails the
 * test when none comes. */
char *it_wait_line(const char *path, const char *const *needles);

/* The admin listener: one plain HTTP/1.1 request (Connection: close asserted); returns the
 * status and, when body is not NULL, a malloc'd copy of the body. */
int it_admin_req(unsigned port, const char *method, const char *path, int timeout_ms, char **body);
/* The value of the Prometheus series written exactly as `series` ("name{labels}") in a scrape,
 * -1 when absent. */
double it_prom_value(const char *text, const char *series);
/* GET /metrics on the admin port (asserts 200): the series' value, -1 when absent. */
double it_admin_metric(unsigned port, const char *series);
/* The running mtlb's resident set (VmRSS), in KiB. */
long it_mtlb_rss_kib(const struct it_env *env);

/* Connections: plain TCP or TLS over TCP, with a buffered reader. */
struct it_tls_opts {
    const char *cert; /* client certificate or chain file (PKI-relative), NULL for none */
    const char *key;
    const char *sni;      /* NULL: no SNI */
    int version;          /* 0: any; TLS1_2_VERSION or TLS1_3_VERSION to pin */
    SSL_SESSION *session; /* offered for resumption; NULL for a full handshake */
    bool no_ticket;       /* TLS 1.2: no session ticket extension, so resumption by session id */
};

struct it_conn {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    char *buf;
    size_t cap, rpos, rlen;
    bool eof;      /* peer closed (cleanly or not) */
    int last_err;  /* SSL_get_error or errno of the last failed read */
    char err[256]; /* description of the last failure */
    /* TLS observations */
    bool cert_requested;  /* server sent CertificateRequest */
    int alert_received;   /* description of the last alert received, -1 if none */
    bool server_verified; /* server chain verified against ca/root.crt */
    char server_cn[128];
    size_t bytes_received; /* application bytes received in total */
};

struct it_response {
    int status;
    char *head; /* raw head, NUL-terminated, including the final CRLFCRLF */
    size_t head_len;
    char *body; /* decoded body, NUL-terminated */
    size_t body_len;
};

struct it_conn *it_tcp_connect(uint16_t port);
/* Returns a connection after a completed TLS handshake, or NULL with the reason in err. */
struct it_conn *it_tls_connect(uint16_t port, const struct it_tls_opts *o, char *err,
                               size_t errlen);
/* Always returns the connection (its fd still open); *ok says whether the handshake completed,
 * else c->err and c->alert_received say how it failed. */
struct it_conn *it_tls_open(uint16_t port, const struct it_tls_opts *o, bool *ok);
void it_conn_close(struct it_conn *c);
void it_conn_timeout(struct it_conn *c, int ms);              /* send and receive timeouts */
int it_conn_send(struct it_conn *c, const void *p, size_t n); /* 0 or -1 */
int it_conn_sends(struct it_conn *c, const char *s);
/* Raw bytes (buffered ones first): > 0 bytes, 0 at EOF, -1 on error or timeout. */
ssize_t it_conn_recv_some(struct it_conn *c, void *p, size_t n);
/* Reads one response. Returns 0, or -1 (no complete response; c->err says why and
 * c->bytes_received says whether anything arrived). head_only: response to HEAD. */
int it_read_response(struct it_conn *c, struct it_response *r, bool head_only);
void it_response_fini(struct it_response *r);
/* True when the peer closes (EOF or reset) within timeout_ms; extra bytes are discarded. */
bool it_conn_wait_closed(struct it_conn *c, int timeout_ms);

/* Outcome of a complete TLS exchange: connect, send a request, read the response. */
enum it_outcome {
    IT_OK = 0,           /* got an HTTP response */
    IT_HANDSHAKE_FAILED, /* SSL_connect failed */
    IT_READ_FAILED,      /* handshake done, then an error/alert/EOF with zero HTTP bytes */
    IT_PARTIAL,          /* some bytes arrived but no complete response */
    IT_TIMEOUT,          /* nothing at all within the timeout */
};
struct it_exchange {
    enum it_outcome outcome;
    struct it_response resp;
    char detail[320];
    bool cert_requested;
    int alert_received;
    bool server_verified;
    char server_cn[128];
    bool reused;          /* the handshake resumed o->session */
    SSL_SESSION *session; /* the session after the exchange (for resumption), or NULL */
};
void it_tls_exchange(uint16_t port, const struct it_tls_opts *o, const char *request,
                     struct it_exchange *x);
void it_exchange_fini(struct it_exchange *x);
const char *it_outcome_name(enum it_outcome o);

/* Simple GET through TLS with a client cert; fails the test unless a response arrives. */
void it_get(uint16_t port, const struct it_tls_opts *o, const char *path, struct it_response *r);

/* Header helpers over a head ("Name: value\r\n" lines after the first line). */
size_t it_header_count(const char *head, const char *name);
/* Copies the first value of name into out; returns false when absent. */
bool it_header_get(const char *head, const char *name, char *out, size_t cap);
/* mtlb-echo bodies: the request head as received, then body-bytes and body-fnv1a64 lines. */
bool it_echo_body_stats(const char *body, unsigned long long *bytes, unsigned long long *fnv);

/* Data helpers. */
uint64_t it_fnv1a64(uint64_t h, const void *p, size_t n);
#define IT_FNV_INIT 0xcbf29ce484222325ULL
double it_now(void); /* monotonic seconds */

/* A backend that listens but never accepts: proves mtlb never forwarded anything. */
struct it_sink {
    int fd;
    uint16_t port;
};
void it_sink_open(struct it_sink *s);
/* Accepts whatever connected and reads for wait_ms; returns the bytes received in total. */
size_t it_sink_drain(struct it_sink *s, int wait_ms, size_t *connections);
void it_sink_close(struct it_sink *s);

#endif
