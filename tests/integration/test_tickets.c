/* Integration: session tickets shared across replicas (tls.ticket_keys). Two mtlb processes
 * with the same key file resume each other's TLS 1.2 tickets and TLS 1.3 PSK tickets and tell
 * the backend the same client identity; a rotated file (new key first) still opens old
 * tickets, a file without the old key does not; processes without a key file never resume
 * each other's sessions (the control that shows these tests can fail); a replica that
 * verifies clients differently never accepts another's ticket; a bad key file fails mtlb -t. */
#include "harness.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#define REQUEST "GET /tickets HTTP/1.1\r\nHost: tickets.test\r\n\r\n"
#define GOOD_DN "/C=PL/O=mtlb Test/CN=good-client"

static struct it_env a, b;
static const int versions[] = {TLS1_2_VERSION, TLS1_3_VERSION};
static const struct it_tls_opts good = {.cert = "client/good.crt", .key = "client/good.key"};

static void setup(void)
{
    it_env_init(&a);
    it_env_init(&b);
}

static void teardown(void)
{
    it_env_fini(&b);
    it_env_fini(&a);
}

TestSuite(tickets, .init = setup, .fini = teardown, .timeout = 90);

static const char *vname(int v)
{
    return v == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2";
}

/* 80-byte keys in nginx's layout; only their names and bytes matter to the test. */
struct key {
    unsigned char bytes[80];
};

static struct key new_key(void)
{
    struct key k;
    cr_assert_eq(RAND_bytes(k.bytes, sizeof(k.bytes)), 1);
    return k;
}

/* Writes keys back to back into dir/name and returns the path (static buffer ring). */
static const char *write_keys(const struct it_env *env, const char *name, const struct key *keys,
                              size_t n)
{
    static char paths[4][320];
    static unsigned next;
    char *p = paths[next++ % 4];
    snprintf(p, sizeof(paths[0]), "%s/%s", env->dir, name);
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f, "cannot write %s", p);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(fwrite(keys[i].bytes, 1, sizeof(keys[i].bytes), f), sizeof(keys[i].bytes));
    }
    cr_assert_eq(fclose(f), 0);
    return p;
}

static struct it_config config(struct it_env *env, const char *keys)
{
    struct it_config cfg = {.n_servers = 1, .ticket_keys = keys};
    cfg.servers[0] = it_echo_start(env, "b1");
    return cfg;
}

static void start(struct it_env *env, const char *keys)
{
    struct it_config cfg = config(env, keys);
    it_mtlb_start(env, &cfg);
}

static void header(const struct it_exchange *x, const char *name, char *out, size_t cap)
{
    if (!it_header_get(x->resp.body, name, out, cap)) {
        snprintf(out, cap, "(absent)");
    }
}

/* A full handshake with a client certificate on A; returns the exchange (session kept). */
static void full_on(const struct it_env *env, int version, struct it_exchange *x)
{
    struct it_tls_opts o = good;
    o.version = version;
    it_tls_exchange(env->port, &o, REQUEST, x);
    cr_assert_eq(x->outcome, IT_OK, "%s full handshake: %s", vname(version), x->detail);
    cr_assert_eq(x->resp.status, 200);
    cr_assert_not_null(x->session, "%s: no session after the exchange", vname(version));
    char v[256];
    header(x, "X-SSL-Client-Verify", v, sizeof(v));
    cr_assert_str_eq(v, "SUCCESS");
}

/* Offers first's session to env without a client certificate: a resumed session is the only
 * way to a response, and then it must carry first's identity. Returns whether it resumed. */
static bool offer_bare(const struct it_env *env, int version, const struct it_exchange *first,
                       const char *what)
{
    static const char *const names[] = {"X-SSL-Client-Verify", "X-SSL-Client-DN", "X-SSL-Issuer",
                                        "X-SSL-Client-Serial"};
    struct it_tls_opts o = {.version = version, .session = first->session};
    struct it_exchange x;
    it_tls_exchange(env->port, &o, REQUEST, &x);
    bool resumed = x.outcome == IT_OK && x.reused;
    cr_assert(x.outcome != IT_OK || x.reused,
              "%s %s: a response without a certificate and without resumption:\n%s", vname(version),
              what, x.resp.body);
    for (size_t i = 0; resumed && i < sizeof(names) / sizeof(names[0]); i++) {
        char want[512], got[512];
        header(first, names[i], want, sizeof(want));
        header(&x, names[i], got, sizeof(got));
        cr_assert_str_eq(got, want, "%s %s: %s differs on the resumed connection", vname(version),
                         what, names[i]);
        cr_assert_str_neq(got, "(absent)", "%s %s: no %s", vname(version), what, names[i]);
    }
    it_exchange_fini(&x);
    return resumed;
}

/* Offers first's session to env with the client certificate: the handshake completes either
 * way; returns whether it resumed. */
static bool offer_with_cert(const struct it_env *env, int version, const struct it_exchange *first)
{
    struct it_tls_opts o = good;
    o.version = version;
    o.session = first->session;
    struct it_exchange x;
    it_tls_exchange(env->port, &o, REQUEST, &x);
    cr_assert_eq(x.outcome, IT_OK, "%s: %s", vname(version), x.detail);
    char v[256];
    header(&x, "X-SSL-Client-DN", v, sizeof(v));
    cr_assert_str_eq(v, GOOD_DN);
    bool resumed = x.reused;
    it_exchange_fini(&x);
    return resumed;
}

Test(tickets, session_from_one_replica_resumes_on_another)
{
    struct key k = new_key();
    const char *keys = write_keys(&a, "ticket.keys", &k, 1);
    start(&a, keys);
    start(&b, keys);
    for (size_t i = 0; i < 2; i++) {
        struct it_exchange first;
        full_on(&a, versions[i], &first);
        cr_assert(offer_bare(&b, versions[i], &first, "A's ticket on B"),
                  "%s: a session from A did not resume on B with the same key file",
                  vname(versions[i]));
        /* and back: B's renewed ticket is as good on A. */
        cr_assert(offer_bare(&a, versions[i], &first, "A's ticket back on A"), "%s",
                  vname(versions[i]));
        it_exchange_fini(&first);
    }
    it_mtlb_stop(&b, 5000);
    it_mtlb_stop(&a, 5000);
}

/* HTTP/2 (ALPN h2, h2c --session): the same identity on B's streams, for both versions. */
static char *h2c(const struct it_env *env, bool cert, const char *session, bool tls12)
{
    char port[16];
    char *out = NULL, *err = NULL;
    char *argv[16];
    size_t n = 0;
    snprintf(port, sizeof(port), "%u", env->port);
    argv[n++] = getenv("MTLB_H2C");
    cr_assert_not_null(argv[0], "MTLB_H2C is not set (run via meson)");
    argv[n++] = "--port";
    argv[n++] = port;
    if (cert) {
        argv[n++] = "--cert";
        argv[n++] = (char *)it_pki("client/good.crt");
        argv[n++] = "--key";
        argv[n++] = (char *)it_pki("client/good.key");
    }
    argv[n++] = "--session";
    argv[n++] = (char *)session;
    argv[n++] = "--print-body";
    argv[n++] = "--stream";
    argv[n++] = "path=/tickets-h2";
    if (tls12) {
        argv[n++] = "--tls12";
    }
    argv[n] = NULL;
    it_run(&a, argv, &out, &err, 10000);
    cr_assert(out != NULL && err != NULL);
    free(err);
    return out;
}

Test(tickets, http2_session_from_one_replica_resumes_on_another)
{
    struct key k = new_key();
    const char *keys = write_keys(&a, "ticket.keys", &k, 1);
    start(&a, keys);
    start(&b, keys);
    for (int tls12 = 0; tls12 < 2; tls12++) {
        char session[320];
        snprintf(session, sizeof(session), "%s/h2-session-%d.pem", a.dir, tls12);
        char *out = h2c(&a, true, session, tls12);
        cr_assert(strstr(out, " resumed=0\n") && strstr(out, "| X-SSL-Client-DN: " GOOD_DN),
                  "full handshake on A (tls12 %d):\n%s", tls12, out);
        free(out);
        out = h2c(&b, false, session, tls12);
        cr_assert(strstr(out, " resumed=1\n") != NULL,
                  "A's session not resumed on B over HTTP/2 (tls12 %d):\n%s", tls12, out);
        cr_assert(strstr(out, "| X-SSL-Client-Verify: SUCCESS") &&
                      strstr(out, "| X-SSL-Client-DN: " GOOD_DN),
                  "identity on B (tls12 %d):\n%s", tls12, out);
        free(out);
    }
    it_mtlb_stop(&b, 5000);
    it_mtlb_stop(&a, 5000);
}

/* The positive control: without a key file every process has its own random keys. */
Test(tickets, without_key_file_replicas_do_not_resume_each_other)
{
    start(&a, NULL);
    start(&b, NULL);
    for (size_t i = 0; i < 2; i++) {
        struct it_exchange first;
        full_on(&a, versions[i], &first);
        cr_assert(offer_with_cert(&a, versions[i], &first),
                  "%s: the session does not even resume on A", vname(versions[i]));
        cr_assert_not(offer_with_cert(&b, versions[i], &first),
                      "%s: B resumed A's session without a shared key file", vname(versions[i]));
        cr_assert_not(offer_bare(&b, versions[i], &first, "A's session on B"));
        it_exchange_fini(&first);
    }
    const char *random_log[] = {"event=ticket_keys", "source=random", NULL};
    cr_assert_eq(it_count_lines(a.out_log, random_log) + it_count_lines(a.err_log, random_log), 1,
                 "the random ticket keys must be logged at start");
    it_mtlb_stop(&b, 5000);
    it_mtlb_stop(&a, 5000);
}

/* Rotation: B runs with the new key first and the old one second (the top-level tls: block
 * this time); tickets sealed by A's old key still resume. Then C (A restarted) has only the
 * new key: they do not, and the handshake falls back to a full one. */
/* Without a key file a TLS 1.3 ticket names a session kept in the process (stateful: the
 * 32-byte session id, cheaper to issue), and resumes there with the same identity; with a key
 * file it is sealed (the session itself, encrypted: far longer), so it opens on any replica. */
Test(tickets, stateful_tickets_without_key_file_sealed_with_one)
{
    struct key k = new_key();
    const unsigned char *tick = NULL;
    size_t len_random = 0, len_file = 0;
    struct it_exchange first;

    start(&a, NULL);
    start(&b, write_keys(&b, "ticket.keys", &k, 1));
    full_on(&a, TLS1_3_VERSION, &first);
    SSL_SESSION_get0_ticket(first.session, &tick, &len_random);
    cr_assert_eq(len_random, 32, "random keys: a %zu-byte ticket, not a session id", len_random);
    cr_assert(offer_bare(&a, TLS1_3_VERSION, &first, "stateful ticket on A"),
              "a stateful ticket did not resume on its own process");
    it_exchange_fini(&first);
    full_on(&b, TLS1_3_VERSION, &first);
    SSL_SESSION_get0_ticket(first.session, &tick, &len_file);
    cr_assert_gt(len_file, 200, "key file: a %zu-byte ticket, not a sealed session", len_file);
    it_exchange_fini(&first);
    it_mtlb_stop(&b, 5000);
    it_mtlb_stop(&a, 5000);
}

/* tls.session_cache: 0 keeps no sessions: tickets are sealed under the random keys (and
 * still resume on the process that issued them). */
Test(tickets, session_cache_zero_seals_tickets_under_random_keys)
{
    struct it_config cfg = config(&a, NULL);
    cfg.listener_tls = "session_cache: 0";
    it_mtlb_start(&a, &cfg);
    struct it_exchange first;
    const unsigned char *tick = NULL;
    size_t len = 0;
    full_on(&a, TLS1_3_VERSION, &first);
    SSL_SESSION_get0_ticket(first.session, &tick, &len);
    cr_assert_gt(len, 200, "session_cache: 0: a %zu-byte ticket, not a sealed session", len);
    cr_assert(offer_bare(&a, TLS1_3_VERSION, &first, "sealed ticket on A"),
              "a sealed ticket did not resume");
    it_exchange_fini(&first);
    it_mtlb_stop(&a, 5000);
}

Test(tickets, rotated_file_keeps_old_tickets_until_the_key_is_removed)
{
    struct key old = new_key(), fresh = new_key();
    struct key rotated[] = {fresh, old};
    const char *old_only = write_keys(&a, "old.keys", &old, 1);
    const char *both = write_keys(&b, "rotated.keys", rotated, 2);
    start(&a, old_only);
    struct it_config cb = config(&b, NULL);
    char tls[400];
    snprintf(tls, sizeof(tls), "{ticket_keys: \"%s\"}", both);
    cb.tls = tls;
    it_mtlb_start(&b, &cb);
    const char *file_log[] = {"event=ticket_keys", "source=file", "keys=2", NULL};
    cr_assert_eq(it_wait_lines(b.out_log, file_log, 1, 2000) + it_count_lines(b.err_log, file_log),
                 1, "B must log its key file");

    struct it_exchange first[2];
    for (size_t i = 0; i < 2; i++) {
        full_on(&a, versions[i], &first[i]);
        cr_assert(offer_bare(&b, versions[i], &first[i], "old-key ticket, rotated file"),
                  "%s: a ticket of the second key in the file did not resume", vname(versions[i]));
    }
    it_mtlb_stop(&a, 5000);
    it_mtlb_stop(&b, 5000);

    /* The old key removed: A restarts with the new key only. */
    const char *new_only = write_keys(&a, "new.keys", &fresh, 1);
    a.port = 0;
    start(&a, new_only);
    for (size_t i = 0; i < 2; i++) {
        cr_assert_not(offer_with_cert(&a, versions[i], &first[i]),
                      "%s: a ticket of a removed key resumed", vname(versions[i]));
        cr_assert_not(offer_bare(&a, versions[i], &first[i], "removed key"));
        it_exchange_fini(&first[i]);
    }
    it_mtlb_stop(&a, 5000);
}

/* Same key file, same names, but B trusts another CA: A's ticket must not let a client past
 * B's verification (the session id context covers the truststore's bytes). */
Test(tickets, replica_with_other_truststore_refuses_the_ticket)
{
    struct key k = new_key();
    const char *keys = write_keys(&a, "ticket.keys", &k, 1);
    start(&a, keys);
    struct it_config cb = config(&b, keys);
    cb.n_domains = 1;
    cb.domains[0] = (struct it_domain){.truststore = "trust/other.pem"};
    it_mtlb_start(&b, &cb);
    for (size_t i = 0; i < 2; i++) {
        struct it_exchange first;
        full_on(&a, versions[i], &first);
        cr_assert_not(offer_bare(&b, versions[i], &first, "A's ticket on B (other truststore)"),
                      "%s: B resumed a session verified against another truststore",
                      vname(versions[i]));
        it_exchange_fini(&first);
    }
    it_mtlb_stop(&b, 5000);
    it_mtlb_stop(&a, 5000);
}

/* mtlb -t on a config whose key file is bad: exit 1, naming the file and the problem. */
static void assert_check_fails(struct it_config *cfg, const char *keys, const char *problem)
{
    cfg->ticket_keys = keys;
    cr_assert_eq(it_write_config(&a, cfg), 0);
    char *argv[] = {getenv("MTLB_BIN"), "-t", "-c", a.config, NULL};
    char *out = NULL, *err = NULL;
    int rc = it_run(&a, argv, &out, &err, 10000);
    cr_assert_eq(rc, 1, "mtlb -t with ticket_keys %s must exit 1 (got %d); stderr:\n%s", keys, rc,
                 err ? err : "");
    cr_assert_not_null(strstr(err, keys), "stderr must name %s:\n%s", keys, err);
    cr_assert_not_null(strstr(err, problem), "stderr must say \"%s\":\n%s", problem, err);
    free(out);
    free(err);
}

Test(tickets, bad_key_files_fail_the_check)
{
    struct key k[2] = {new_key(), new_key()};
    char path[320];

    /* Control: a good file passes. */
    struct it_config cfg = config(&a, write_keys(&a, "good.keys", k, 2));
    cr_assert_eq(it_write_config(&a, &cfg), 0);
    char *argv[] = {getenv("MTLB_BIN"), "-t", "-c", a.config, NULL};
    char *out = NULL, *err = NULL;
    cr_assert_eq(it_run(&a, argv, &out, &err, 10000), 0, "good key file:\n%s", err);
    free(out);
    free(err);

    snprintf(path, sizeof(path), "%s/short.keys", a.dir);
    FILE *f = fopen(path, "wb");
    cr_assert_eq(fwrite(k[0].bytes, 1, 79, f), 79);
    fclose(f);
    assert_check_fails(&cfg, path, "is 79 bytes, not a multiple of 80");

    snprintf(path, sizeof(path), "%s/long.keys", a.dir);
    f = fopen(path, "wb");
    cr_assert_eq(fwrite(k[0].bytes, 1, 80, f), 80);
    cr_assert_eq(fwrite(k[1].bytes, 1, 80, f), 80);
    cr_assert_eq(fwrite("x", 1, 1, f), 1); /* two keys and one byte */
    fclose(f);
    assert_check_fails(&cfg, path, "is 161 bytes, not a multiple of 80");

    snprintf(path, sizeof(path), "%s/empty.keys", a.dir);
    f = fopen(path, "wb");
    fclose(f);
    assert_check_fails(&cfg, path, "is empty");

    snprintf(path, sizeof(path), "%s/dir.keys", a.dir);
    cr_assert_eq(mkdir(path, 0700), 0);
    assert_check_fails(&cfg, path, "Is a directory");

    snprintf(path, sizeof(path), "%s/missing.keys", a.dir);
    assert_check_fails(&cfg, path, "No such file or directory");

    /* Root reads a mode-000 file all the same; the check is then for everyone else. */
    if (geteuid() != 0) {
        const char *locked = write_keys(&a, "locked.keys", k, 1);
        cr_assert_eq(chmod(locked, 0), 0);
        assert_check_fails(&cfg, locked, "Permission denied");
    } else {
        cr_log_info("running as root: mode 000 does not make a file unreadable; not checked");
    }
}
