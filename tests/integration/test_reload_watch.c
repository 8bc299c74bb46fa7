/* Integration: reload.watch. A truststore edited in place admits the client it now trusts about
 * one debounce later (HTTP/1.1 and HTTP/2); a Kubernetes ..data swap reloads once, and again
 * at the next swap (the watch follows the new target directory); an editor's temp file and
 * rename reloads once; a broken truststore or configuration fails the reload and changes
 * nothing, and fixing it reloads; an edit of the configuration file moves traffic to the new
 * backend; unrelated files next to the watched ones do not reload; with the watch off nothing
 * reloads until SIGHUP. The watch's own log line (event=watch_changed) counts its triggers. */
#include "h2_util.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEBOUNCE_MS 300
#define WATCH_ON "{watch: true, debounce: 300ms}"
#define REQUEST "GET /watch HTTP/1.1\r\nHost: api.example.com\r\n\r\n"
#define SETTLE_MS (3 * DEBOUNCE_MS + 300) /* long enough for a second reload to show */

static char ts[400]; /* the watched truststore, env.dir/ca.pem */

static void setup(void)
{
    it_env_init(&env);
    snprintf(ts, sizeof(ts), "%s/ca.pem", env.dir);
}

static void teardown(void)
{
    it_env_fini(&env);
}

TestSuite(reload_watch, .init = setup, .fini = teardown, .timeout = 60);

static const struct it_tls_opts good = {.cert = "client/good.crt", .key = "client/good.key"};
static const struct it_tls_opts other = {.cert = "client/other.crt", .key = "client/other.key"};

static void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static size_t count(const char *needle)
{
    const char *n[] = {needle, NULL};
    return it_count_lines(env.err_log, n);
}

static size_t reloads(void)
{
    return count("event=reloaded");
}

static size_t fires(void)
{
    return count("event=watch_changed");
}

/* Waits for the want-th successful reload; returns when it was seen (it_now). */
static double wait_reloads(size_t want)
{
    const char *n[] = {"event=reloaded", NULL};
    size_t got = it_wait_lines(env.err_log, n, want, 5000);
    cr_assert_geq(got, want, "%zu reload(s) within 5 s, saw %zu; stderr: see %s", want, got,
                  env.err_log);
    return it_now();
}

/* A client with the certificate of o gets a 200 through the mandatory listener. */
static bool admitted(const struct it_tls_opts *o)
{
    struct it_exchange x;
    it_tls_exchange(env.port, o, REQUEST, &x);
    bool ok = x.outcome == IT_OK && x.resp.status == 200;
    it_exchange_fini(&x);
    return ok;
}

static bool admitted_h2(void)
{
    struct h2_out o;
    h2c_run(&o, 5000, "--cert", good_cert(), "--key", good_key(), "--stream", "path=/watch-h2",
            NULL);
    struct h2s s;
    bool ok = o.rc == 0 && h2_stream(o.out, "/watch-h2", 0, &s) && s.status == 200;
    h2_out_fini(&o);
    return ok;
}

/* SIGTERM: the watch thread is joined and mtlb exits 0; under ASan, LeakSanitizer runs at that
 * exit and it_mtlb_stop fails the test on its report. */
static void stop_clean(void)
{
    int st = it_mtlb_stop(&env, 10000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "mtlb exit status 0x%x", st);
}

/* Copies PKI file rel over path in place (truncate and write, as `cat > path` does). */
static void write_in_place(const char *path, const char *rel)
{
    size_t len = 0;
    char *data = it_read_file(it_pki(rel), &len);
    cr_assert_not_null(data, "cannot read %s", rel);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert_neq(fd, -1, "cannot open %s", path);
    cr_assert_eq(write(fd, data, len), (ssize_t)len);
    cr_assert_eq(close(fd), 0);
    free(data);
}

static void write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert_neq(fd, -1, "cannot open %s", path);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    cr_assert_eq(close(fd), 0);
}

static const char *in_dir(const char *name)
{
    static char paths[4][400];
    static unsigned next;
    char *p = paths[next++ % 4];
    snprintf(p, sizeof(paths[0]), "%s/%s", env.dir, name);
    return p;
}

/* One mandatory domain whose truststore is `truststore` (absolute), one backend. */
static struct it_config watched(const char *truststore, const char *reload)
{
    struct it_config cfg = {.n_domains = 1, .n_servers = 1, .reload = reload};
    cfg.domains[0] =
        (struct it_domain){.names = {"api.example.com", "localhost"}, .truststore = truststore};
    cfg.servers[0] = it_echo_start(&env, "b1");
    return cfg;
}

Test(reload_watch, truststore_edited_in_place_admits_after_the_debounce)
{
    write_in_place(ts, "trust/other.pem");
    struct it_config cfg = watched(ts, WATCH_ON);
    it_mtlb_start(&env, &cfg);
    cr_assert_not(admitted(&good), "control: the other root's truststore refuses good");
    cr_assert(admitted(&other));

    double t0 = it_now();
    write_in_place(ts, "trust/full.pem");
    double t1 = wait_reloads(1);
    cr_assert_geq(t1 - t0, DEBOUNCE_MS / 1000.0 - 0.01, "the reload waited for the debounce");
    cr_assert(admitted(&good), "HTTP/1.1: the new truststore admits good");
    cr_assert(admitted_h2(), "HTTP/2: the new truststore admits good");
    cr_assert_not(admitted(&other), "and no longer admits the other root's client");
    sleep_ms(SETTLE_MS);
    cr_assert_eq(fires(), 1, "one edit, one trigger");
    cr_assert_eq(reloads(), 1);
    stop_clean();
}

/* NAME -> ..data/NAME, ..data -> ..TIMESTAMP: what the kubelet makes of a mounted Secret. */
static void k8s_version(const char *dir, const char *version, const char *rel)
{
    char p[500];
    snprintf(p, sizeof(p), "%s/%s", dir, version);
    cr_assert_eq(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/%s/ca.pem", dir, version);
    write_in_place(p, rel);
}

/* The kubelet's update: a new timestamped directory, ..data_tmp -> it, renamed over ..data,
 * then the old directory removed. */
static void k8s_swap(const char *dir, const char *old, const char *version, const char *rel)
{
    char p[500], q[500];
    k8s_version(dir, version, rel);
    snprintf(p, sizeof(p), "%s/..data_tmp", dir);
    cr_assert_eq(symlink(version, p), 0);
    snprintf(q, sizeof(q), "%s/..data", dir);
    cr_assert_eq(rename(p, q), 0);
    snprintf(p, sizeof(p), "%s/%s/ca.pem", dir, old);
    cr_assert_eq(unlink(p), 0);
    snprintf(p, sizeof(p), "%s/%s", dir, old);
    cr_assert_eq(rmdir(p), 0);
}

Test(reload_watch, kubernetes_data_swap_reloads_once_per_swap)
{
    char dir[400], p[500];
    snprintf(dir, sizeof(dir), "%s/secret", env.dir);
    cr_assert_eq(mkdir(dir, 0755), 0);
    k8s_version(dir, "..2026_12_02_08_00_00.1", "trust/other.pem");
    snprintf(p, sizeof(p), "%s/..data", dir);
    cr_assert_eq(symlink("..2026_12_02_08_00_00.1", p), 0);
    snprintf(p, sizeof(p), "%s/ca.pem", dir);
    cr_assert_eq(symlink("..data/ca.pem", p), 0);
    struct it_config cfg = watched(p, WATCH_ON);
    it_mtlb_start(&env, &cfg);
    cr_assert_not(admitted(&good), "control: refused before the swap");

    k8s_swap(dir, "..2026_12_02_08_00_00.1", "..2026_12_02_08_01_00.2", "trust/full.pem");
    wait_reloads(1);
    cr_assert(admitted(&good), "the swapped-in truststore admits good");
    sleep_ms(SETTLE_MS);
    cr_assert_eq(reloads(), 1, "one swap, one reload");
    cr_assert_eq(fires(), 1);

    /* The second swap replaces the directory the first one brought: still watched. */
    k8s_swap(dir, "..2026_12_02_08_01_00.2", "..2026_12_02_08_02_00.3", "trust/other.pem");
    wait_reloads(2);
    cr_assert_not(admitted(&good), "swapped back: refused again");
    cr_assert(admitted(&other));
    sleep_ms(SETTLE_MS);
    cr_assert_eq(reloads(), 2, "two swaps, two reloads");
    cr_assert_eq(fires(), 2);
    stop_clean();
}

Test(reload_watch, editor_temp_file_and_rename_reload_once)
{
    write_in_place(ts, "trust/other.pem");
    struct it_config cfg = watched(ts, WATCH_ON);
    it_mtlb_start(&env, &cfg);

    /* Write a temp file, then rename it over the truststore (sed -i, most deploy tools). */
    write_in_place(in_dir(".ca.pem.tmp123"), "trust/full.pem");
    cr_assert_eq(rename(in_dir(".ca.pem.tmp123"), ts), 0);
    wait_reloads(1);
    cr_assert(admitted(&good));
    sleep_ms(SETTLE_MS);
    cr_assert_eq(fires(), 1, "temp file and rename: one trigger");
    cr_assert_eq(reloads(), 1);

    /* vim's way: probe file 4913, the original renamed to a backup, a new file written, the
     * backup removed. Five events on three names, one reload. */
    write_text(in_dir("4913"), "");
    cr_assert_eq(unlink(in_dir("4913")), 0);
    cr_assert_eq(rename(ts, in_dir("ca.pem~")), 0);
    write_in_place(ts, "trust/other.pem");
    cr_assert_eq(unlink(in_dir("ca.pem~")), 0);
    wait_reloads(2);
    cr_assert_not(admitted(&good));
    sleep_ms(SETTLE_MS);
    cr_assert_eq(fires(), 2, "vim's save: one more trigger");
    cr_assert_eq(reloads(), 2);
    stop_clean();
}

Test(reload_watch, broken_files_fail_the_reload_and_change_nothing)
{
    write_in_place(ts, "trust/full.pem");
    struct it_config cfg = watched(ts, WATCH_ON);
    it_mtlb_start(&env, &cfg);
    cr_assert(admitted(&good));

    const char *failed[] = {"level=error", "event=reload_failed", NULL};
    write_text(ts, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
    cr_assert_eq(it_wait_lines(env.err_log, failed, 1, 5000), 1, "the broken truststore fails");
    cr_assert(admitted(&good), "the running truststore stays in force");
    cr_assert_not(admitted(&other));

    /* Fixing it is a change like any other. */
    write_in_place(ts, "trust/other.pem");
    wait_reloads(1);
    cr_assert_not(admitted(&good));
    cr_assert(admitted(&other));

    /* A configuration file that does not parse: the watch keeps its set, the reload fails. */
    write_text(env.config, "listeners: [\n");
    cr_assert_eq(it_wait_lines(env.err_log, failed, 2, 5000), 2, "the broken config fails");
    cr_assert(admitted(&other), "still the last good configuration");
    cr_assert_not(admitted(&good));
    cfg.domains[0].truststore = "trust/full.pem";
    cr_assert_eq(it_write_config(&env, &cfg), 0);
    wait_reloads(2);
    cr_assert(admitted(&good), "the repaired file was reloaded");
    stop_clean();
}

Test(reload_watch, config_file_edit_moves_traffic_to_the_new_backend)
{
    write_in_place(ts, "trust/full.pem");
    struct it_config cfg = watched(ts, WATCH_ON);
    uint16_t b2 = it_echo_start(&env, "b2");
    it_mtlb_start(&env, &cfg);
    struct it_response r;
    it_get(env.port, &good, "/before", &r);
    char name[32] = "";
    cr_assert(it_header_get(r.head, "X-Backend", name, sizeof(name)));
    cr_assert_str_eq(name, "b1");
    it_response_fini(&r);

    cfg.servers[0] = b2;
    cr_assert_eq(it_write_config(&env, &cfg), 0);
    wait_reloads(1);
    for (int i = 0; i < 4; i++) {
        it_get(env.port, &good, "/after", &r);
        cr_assert(it_header_get(r.head, "X-Backend", name, sizeof(name)));
        cr_assert_str_eq(name, "b2", "request %d goes to the new pool", i);
        it_response_fini(&r);
    }
    stop_clean();
}

Test(reload_watch, unrelated_files_in_the_directory_do_not_reload)
{
    write_in_place(ts, "trust/other.pem");
    struct it_config cfg = watched(ts, WATCH_ON);
    it_mtlb_start(&env, &cfg);

    write_in_place(in_dir("other.pem"), "trust/full.pem");
    write_text(in_dir(".ca.pem.swp"), "swap");
    write_text(in_dir("ca.pem~"), "backup");
    cr_assert_eq(unlink(in_dir("ca.pem~")), 0);
    cr_assert_eq(rename(in_dir("other.pem"), in_dir("ca.pem.bak")), 0);
    cr_assert_eq(mkdir(in_dir("sub"), 0755), 0);
    sleep_ms(SETTLE_MS);
    cr_assert_eq(fires(), 0, "no watched name changed");
    cr_assert_eq(reloads(), 0);
    cr_assert_eq(count("event=watch_started"), 1, "the watch runs");

    /* The control: a change of the watched name itself does reload. */
    write_in_place(ts, "trust/full.pem");
    wait_reloads(1);
    cr_assert(admitted(&good));
    cr_assert_eq(fires(), 1);
    stop_clean();
}

Test(reload_watch, watch_off_changes_apply_only_at_sighup)
{
    write_in_place(ts, "trust/other.pem");
    struct it_config cfg = watched(ts, "{watch: false, debounce: 300ms}");
    it_mtlb_start(&env, &cfg);

    write_in_place(ts, "trust/full.pem");
    sleep_ms(SETTLE_MS);
    cr_assert_eq(count("event=watch_"), 0, "no watch thread, no trigger");
    cr_assert_eq(reloads(), 0);
    cr_assert_not(admitted(&good), "the edit alone changes nothing");

    kill(env.mtlb, SIGHUP);
    wait_reloads(1);
    cr_assert(admitted(&good), "SIGHUP applies it");
    stop_clean();
}

/* mtlb -t checks the reload block like any other (file:line:col and key). */
Test(reload_watch, t_refuses_a_bad_reload_block)
{
    struct it_config cfg = {.n_servers = 1, .reload = "{watch: true, debounce: 500}"};
    cfg.servers[0] = 1;
    struct it_run_result r = it_mtlb_check(&env, &cfg);
    cr_assert_eq(r.rc, 1, "%s%s", r.out, r.err);
    cr_assert(strstr(r.err, "reload.debounce: at most 60s") != NULL, "%s", r.err);
    it_run_result_fini(&r);
    cfg.reload = "{watch: true, debounce: 2s}";
    r = it_mtlb_check(&env, &cfg);
    cr_assert_eq(r.rc, 0, "%s%s", r.out, r.err);
    it_run_result_fini(&r);
}
