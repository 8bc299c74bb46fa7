/* Integration-test harness, process side: temporary directories, config files, spawning and
 * stopping mtlb and mtlb-echo, free ports, log files and the never-accepting sink backend.
 * Network clients (TLS and TCP) live in harness_net.c. */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *env_path(const char *var)
{
    const char *v = getenv(var);
    cr_assert(v != NULL && v[0] != '\0', "environment variable %s is not set (run via meson)", var);
    return v;
}

const char *it_pki(const char *rel)
{
    /* Per thread: tests call this from several client threads at once (least_requests), and
     * a shared ring with an unlocked counter could hand two threads one slot, one path
     * overwriting the other (CI: "cannot load client certificate" in a client thread). */
    static _Thread_local char ring[8][512];
    static _Thread_local unsigned next;
    char *out = ring[next++ % 8];
    if (rel[0] == '/') {
        snprintf(out, sizeof(ring[0]), "%s", rel);
    } else {
        snprintf(out, sizeof(ring[0]), "%s/%s", env_path("MTLB_PKI"), rel);
    }
    return out;
}

double it_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void it_env_init(struct it_env *env)
{
    memset(env, 0, sizeof(*env));
    /* Writes to a socket the server closed must fail with EPIPE, not kill the test. */
    signal(SIGPIPE, SIG_IGN);
    snprintf(env->dir, sizeof(env->dir), "/tmp/mtlb-it-XXXXXX");
    cr_assert(mkdtemp(env->dir) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(env->config, sizeof(env->config), "%s/mtlb.yaml", env->dir);
    snprintf(env->out_log, sizeof(env->out_log), "%s/mtlb.stdout", env->dir);
    snprintf(env->err_log, sizeof(env->err_log), "%s/mtlb.stderr", env->dir);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void reap(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
}

void it_env_fini(struct it_env *env)
{
    reap(env->mtlb);
    env->mtlb = 0;
    for (size_t i = 0; i < env->n_echo; i++) {
        reap(env->echo[i]);
    }
    env->n_echo = 0;
    if (env->dir[0] != '\0' && getenv("MTLB_IT_KEEP") == NULL) {
        nftw(env->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
}

/* Ports come from 20000-32767, below Linux's ephemeral range (32768-60999): a port the kernel
 * hands out as a client's local port (every connect from a test, mtlb or a backend draws from
 * that range) could be taken between this check and mtlb's bind, and mtlb, which does not
 * share its ports, would then refuse to start.
 *
 * A port is free to bind here until mtlb binds it, so the check alone let one test hand the
 * same port out twice (its listener and its admin port, both picked before mtlb started: CI
 * failed once on "admin.bind: cannot listen ... Address already in use"), and two test
 * processes running side by side could pick the same one. Each port handed out is therefore
 * claimed with an O_EXCL file in a directory all test processes share; a claim older than ten
 * minutes is stale (its test has ended) and is taken over. */
static bool claim_port(uint16_t port)
{
    const char *tmp = getenv("TMPDIR");
    char dir[256], path[300];
    snprintf(dir, sizeof(dir), "%s/mtlb-it-ports", tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    (void)mkdir(dir, 0777);
    snprintf(path, sizeof(path), "%s/%u", dir, port);
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd != -1) {
            close(fd);
            return true;
        }
        struct stat st;
        if (errno != EEXIST || stat(path, &st) != 0 || time(NULL) - st.st_mtime < 600) {
            return false;
        }
        (void)unlink(path); /* stale: its test has long ended */
    }
    return false;
}

uint16_t it_free_port(void)
{
    static unsigned seed;
    if (seed == 0) {
        seed = (unsigned)getpid() * 2654435761u ^ (unsigned)time(NULL);
    }
    for (int tries = 0; tries < 1000; tries++) {
        uint16_t port = (uint16_t)(20000 + rand_r(&seed) % 12768);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        cr_assert(fd != -1);
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons(port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        close(fd);
        if (rc == 0 && claim_port(port)) {
            return port;
        }
    }
    cr_assert_fail("no free port in 20000-32767 after 1000 tries");
    return 0;
}

bool it_port_accepts(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/* In the child before exec: io_uring_setup fails with EPERM from now on (kept across exec). */
static int block_io_uring(void)
{
    struct sock_filter prog[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog fprog = {.len = sizeof(prog) / sizeof(prog[0]), .filter = prog};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
        return -1;
    }
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog);
}

static pid_t spawn(char *const argv[], const char *out, const char *err, bool no_io_uring)
{
    pid_t pid = fork();
    cr_assert(pid != -1, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        signal(SIGPIPE, SIG_DFL);
        int o = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int e = open(err, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (o == -1 || e == -1 || dup2(o, 1) == -1 || dup2(e, 2) == -1) {
            _exit(126);
        }
        if (no_io_uring && block_io_uring() == -1) {
            _exit(125);
        }
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull != -1) {
            dup2(devnull, 0);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

char *it_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 1024 >= cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        if (got == 0) {
            break;
        }
        n += got;
    }
    fclose(f);
    buf[n] = '\0';
    if (len != NULL) {
        *len = n;
    }
    return buf;
}

/* The last ~1500 bytes of a log, for failure messages (static buffer). */
static const char *tail(const char *path)
{
    static char out[1600];
    size_t len = 0;
    char *s = it_read_file(path, &len);
    if (s == NULL) {
        return "(no log)";
    }
    size_t from = len > 1500 ? len - 1500 : 0;
    snprintf(out, sizeof(out), "%s", s + from);
    free(s);
    return out;
}

static const char *status_text(int st)
{
    static char buf[64];
    if (WIFEXITED(st)) {
        snprintf(buf, sizeof(buf), "exit code %d", WEXITSTATUS(st));
    } else if (WIFSIGNALED(st)) {
        snprintf(buf, sizeof(buf), "signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    } else {
        snprintf(buf, sizeof(buf), "status 0x%x", st);
    }
    return buf;
}

void it_mtlb_launch(struct it_env *env)
{
    char *argv[] = {(char *)env_path("MTLB_BIN"), "-c", env->config, NULL};
    env->mtlb = spawn(argv, env->out_log, env->err_log, env->block_io_uring);
}

void it_mtlb_wait_ports(struct it_env *env, const uint16_t *ports, size_t n)
{
    double deadline = it_now() + 10.0;
    while (it_now() < deadline) {
        int st;
        if (waitpid(env->mtlb, &st, WNOHANG) == env->mtlb) {
            env->mtlb = 0;
            cr_assert_fail("mtlb exited during start-up (%s); stderr:\n%s", status_text(st),
                           tail(env->err_log));
        }
        size_t up = 0;
        while (up < n && it_port_accepts(ports[up])) {
            up++;
        }
        if (up == n) {
            return;
        }
        sleep_ms(20);
    }
    cr_assert_fail("mtlb did not accept on its ports within 10 s; stderr:\n%s", tail(env->err_log));
}

void it_mtlb_start(struct it_env *env, const struct it_config *cfg)
{
    cr_assert(it_write_config(env, cfg) == 0, "cannot write %s", env->config);
    it_mtlb_launch(env);
    it_mtlb_wait_ports(env, &env->port, 1);
}

/* Under -Db_sanitize a report ends the process with an exit code, not a signal. */
static void assert_no_sanitizer_report(struct it_env *env)
{
    static const char *const reports[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                                          "runtime error:", "WARNING: ThreadSanitizer"};
    char *log = it_read_file(env->err_log, NULL);
    for (size_t i = 0; log != NULL && i < sizeof(reports) / sizeof(reports[0]); i++) {
        const char *at = strstr(log, reports[i]);
        if (at != NULL) {
            char excerpt[1500];
            snprintf(excerpt, sizeof(excerpt), "%s", at);
            free(log);
            cr_assert_fail("sanitizer report on mtlb's stderr:\n%s", excerpt);
        }
    }
    free(log);
}

void it_mtlb_assert_alive(struct it_env *env)
{
    int st;
    cr_assert(env->mtlb > 0, "mtlb is not running");
    if (waitpid(env->mtlb, &st, WNOHANG) == env->mtlb) {
        env->mtlb = 0;
        assert_no_sanitizer_report(env);
        cr_assert_fail("mtlb died (%s); stderr:\n%s", status_text(st), tail(env->err_log));
    }
}

int it_mtlb_wait(struct it_env *env, int timeout_ms)
{
    cr_assert(env->mtlb > 0, "mtlb is not running");
    pid_t pid = env->mtlb;
    int st = 0;
    double deadline = it_now() + timeout_ms / 1000.0;
    while (it_now() < deadline) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            env->mtlb = 0;
            cr_assert(!WIFSIGNALED(st) || WTERMSIG(st) == SIGTERM, "mtlb crashed: %s; stderr:\n%s",
                      status_text(st), tail(env->err_log));
            assert_no_sanitizer_report(env);
            return st;
        }
        sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    env->mtlb = 0;
    cr_assert_fail("mtlb did not exit within %d ms of SIGTERM; stderr:\n%s", timeout_ms,
                   tail(env->err_log));
    return st;
}

int it_mtlb_stop(struct it_env *env, int timeout_ms)
{
    it_mtlb_assert_alive(env);
    kill(env->mtlb, SIGTERM);
    return it_mtlb_wait(env, timeout_ms);
}

/* Starts mtlb-echo `name` on port and waits for its "listening on" line (the log is appended
 * to across restarts, so a new line is waited for). */
static pid_t echo_spawn(struct it_env *env, const char *name, uint16_t port)
{
    char listen[32], log[320];
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
    snprintf(log, sizeof(log), "%s/echo-%s.log", env->dir, name);
    const char *ready[] = {"listening on", NULL};
    size_t before = it_count_lines(log, ready);
    char *argv[] = {
        (char *)env_path("MTLB_ECHO"), "--listen", listen, "--name", (char *)name, NULL};
    pid_t pid = spawn(argv, log, log, false);
    double deadline = it_now() + 10.0;
    while (it_now() < deadline) {
        int st;
        cr_assert(waitpid(pid, &st, WNOHANG) != pid, "mtlb-echo %s exited (%s): %s", name,
                  status_text(st), tail(log));
        if (it_count_lines(log, ready) > before) {
            return pid;
        }
        sleep_ms(10);
    }
    cr_assert_fail("mtlb-echo %s did not print 'listening on' within 10 s: %s", name, tail(log));
    return 0;
}

uint16_t it_echo_start(struct it_env *env, const char *name)
{
    cr_assert(env->n_echo < IT_MAX_ECHO);
    uint16_t port = it_free_port();
    env->echo_port[env->n_echo] = port;
    env->echo[env->n_echo++] = echo_spawn(env, name, port);
    return port;
}

void it_echo_kill(struct it_env *env, size_t i)
{
    cr_assert(i < env->n_echo && env->echo[i] > 0, "test bug: echo %zu is not running", i);
    reap(env->echo[i]);
    env->echo[i] = 0;
}

void it_echo_restart(struct it_env *env, size_t i, const char *name)
{
    cr_assert(i < env->n_echo && env->echo[i] == 0, "test bug: echo %zu is running", i);
    env->echo[i] = echo_spawn(env, name, env->echo_port[i]);
}

int it_run(struct it_env *env, char *const argv[], char **out, char **err, int timeout_ms)
{
    char o[320], e[320];
    snprintf(o, sizeof(o), "%s/run.stdout", env->dir);
    snprintf(e, sizeof(e), "%s/run.stderr", env->dir);
    unlink(o);
    unlink(e);
    pid_t pid = spawn(argv, o, e, env->block_io_uring);
    int st = 0, rc = -1;
    double deadline = it_now() + timeout_ms / 1000.0;
    for (;;) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            break;
        }
        if (it_now() > deadline) {
            reap(pid);
            break;
        }
        sleep_ms(5);
    }
    *out = it_read_file(o, NULL);
    *err = it_read_file(e, NULL);
    return rc;
}

size_t it_count_lines(const char *path, const char *const *needles)
{
    char *s = it_read_file(path, NULL);
    if (s == NULL) {
        return 0;
    }
    size_t count = 0;
    for (char *line = strtok(s, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        bool all = true;
        for (size_t i = 0; needles[i] != NULL && all; i++) {
            all = strstr(line, needles[i]) != NULL;
        }
        count += all;
    }
    free(s);
    return count;
}

size_t it_wait_lines(const char *path, const char *const *needles, size_t want, int timeout_ms)
{
    double deadline = it_now() + timeout_ms / 1000.0;
    size_t n = it_count_lines(path, needles);
    while (n < want && it_now() < deadline) {
        sleep_ms(20);
        n = it_count_lines(path, needles);
    }
    return n;
}

char *it_wait_line(const char *path, const char *const *needles)
{
    cr_assert_eq(it_wait_lines(path, needles, 1, 5000), 1, "no line in %s with %s", path,
                 needles[0]);
    char *all = it_read_file(path, NULL);
    for (char *line = strtok(all, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        bool ok = true;
        for (size_t i = 0; needles[i] != NULL && ok; i++) {
            ok = strstr(line, needles[i]) != NULL;
        }
        if (ok) {
            char *copy = strdup(line);
            free(all);
            return copy;
        }
    }
    free(all);
    cr_assert_fail("line vanished from %s", path);
    return NULL;
}

void it_sink_open(struct it_sink *s)
{
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    cr_assert(s->fd != -1);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    cr_assert(listen(s->fd, 64) == 0);
    socklen_t len = sizeof(sa);
    cr_assert(getsockname(s->fd, (struct sockaddr *)&sa, &len) == 0);
    s->port = ntohs(sa.sin_port);
}

size_t it_sink_drain(struct it_sink *s, int wait_ms, size_t *connections)
{
    sleep_ms(wait_ms);
    size_t total = 0, conns = 0;
    int c;
    while ((c = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK)) != -1) {
        conns++;
        char buf[4096];
        ssize_t n;
        while ((n = recv(c, buf, sizeof(buf), 0)) > 0) {
            total += (size_t)n;
        }
        close(c);
    }
    if (connections != NULL) {
        *connections = conns;
    }
    return total;
}

void it_sink_close(struct it_sink *s)
{
    if (s->fd > 0) {
        close(s->fd);
    }
    s->fd = -1;
}

#define IT_TIMEOUTS                                                                                \
    "{handshake: 2s, client_header: 2s, client_body: 2s, client_idle: 5s, "                        \
    "backend_connect: 1s, backend_response: 1s, backend_idle: 5s, drain: 2s}"
#define IT_LIMITS "{max_header_bytes: 16384, max_headers: 100}"

static void write_domain(FILE *f, const struct it_domain *d)
{
    static const char *const default_names[] = {"api.example.com", "localhost", NULL};
    const char *const *names = d->names[0] != NULL ? d->names : default_names;
    fprintf(f, "      - names: [");
    for (size_t i = 0; names[i] != NULL; i++) {
        fprintf(f, "%s\"%s\"", i ? ", " : "", names[i]);
    }
    fprintf(f, "]\n");
    fprintf(f, "        certificate: \"%s\"\n", it_pki(d->cert ? d->cert : "server/api.crt"));
    fprintf(f, "        key: \"%s\"\n", it_pki(d->key ? d->key : "server/api.key"));
    const char *mode = d->mode ? d->mode : "mandatory";
    fprintf(f, "        client_auth: {mode: %s", mode);
    if (strcmp(mode, "off") != 0 || d->truststore != NULL) {
        fprintf(f, ", truststore: \"%s\"",
                it_pki(d->truststore ? d->truststore : "trust/full.pem"));
    }
    if (d->crl != NULL) {
        fprintf(f, ", crl: \"%s\"", it_pki(d->crl));
    }
    if (d->client_auth_extra != NULL) {
        fprintf(f, ", %s", d->client_auth_extra);
    }
    fprintf(f, "}\n");
    if (d->tls != NULL) {
        fprintf(f, "        tls: %s\n", d->tls);
    }
    if (d->extra != NULL) {
        fprintf(f, "        %s\n", d->extra);
    }
}

int it_write_config(struct it_env *env, const struct it_config *cfg)
{
    cr_assert(cfg->n_servers > 0, "test bug: a config needs at least one backend server");
    if (env->port == 0) {
        env->port = it_free_port();
    }
    FILE *f = fopen(env->config, "w");
    if (f == NULL) {
        return -errno;
    }
    fprintf(f, "listeners:\n  - bind: \"127.0.0.1:%u\"\n    backend: %s\n", env->port,
            cfg->listener_backend ? cfg->listener_backend : "app");
    if (cfg->ktls != NULL) {
        fprintf(f, "    ktls: %s\n", cfg->ktls);
    }
    if (cfg->alpn != NULL) {
        fprintf(f, "    alpn: %s\n", cfg->alpn);
    }
    if (cfg->session_lifetime != NULL) {
        fprintf(f, "    session_lifetime: %s\n", cfg->session_lifetime);
    }
    if (cfg->listener_extra != NULL) {
        fprintf(f, "    %s\n", cfg->listener_extra);
    }
    if (cfg->ticket_keys != NULL || cfg->listener_tls != NULL) {
        fprintf(f, "    tls: {");
        if (cfg->ticket_keys != NULL) {
            fprintf(f, "ticket_keys: \"%s\"%s", cfg->ticket_keys, cfg->listener_tls ? ", " : "");
        }
        fprintf(f, "%s}\n", cfg->listener_tls ? cfg->listener_tls : "");
    }
    fprintf(f, "    domains:\n");
    struct it_domain def = {.cert = NULL};
    size_t n = cfg->n_domains ? cfg->n_domains : 1;
    for (size_t i = 0; i < n; i++) {
        write_domain(f, cfg->n_domains ? &cfg->domains[i] : &def);
    }
    fprintf(f, "backends:\n  - name: app\n    servers: [");
    for (size_t i = 0; cfg->servers_yaml == NULL && i < cfg->n_servers; i++) {
        fprintf(f, "%s\"127.0.0.1:%u\"", i ? ", " : "", cfg->servers[i]);
    }
    fprintf(f, "%s]\n", cfg->servers_yaml != NULL ? cfg->servers_yaml : "");
    if (cfg->backend_extra != NULL) {
        fprintf(f, "    %s\n", cfg->backend_extra);
    }
    fprintf(f, "threads: {acceptors: %u, workers: 2}\n", cfg->acceptors ? cfg->acceptors : 1);
    fprintf(f, "timeouts: %s\n", cfg->timeouts ? cfg->timeouts : IT_TIMEOUTS);
    fprintf(f, "limits: %s\n", cfg->limits ? cfg->limits : IT_LIMITS);
    fprintf(f, "log: {level: debug, access_log: \"%s\"}\n",
            cfg->access_log ? cfg->access_log : "stdout");
    if (cfg->tls != NULL) {
        fprintf(f, "tls: %s\n", cfg->tls);
    }
    if (cfg->reload != NULL) {
        fprintf(f, "reload: %s\n", cfg->reload);
    }
    fprintf(f, "headers: {dn_format: slash%s%s}\n", cfg->headers ? ", " : "",
            cfg->headers ? cfg->headers : "");
    if (cfg->admin_port != 0) {
        fprintf(f, "admin: {bind: \"%s:%u\"%s%s}\n",
                cfg->admin_host ? cfg->admin_host : "127.0.0.1", cfg->admin_port,
                cfg->admin_extra ? ", " : "", cfg->admin_extra ? cfg->admin_extra : "");
    }
    /* The worker I/O backend: the test's choice, else MTLB_IT_IO for the whole run (the -epoll
     * suite), else mtlb's default. */
    const char *io = cfg->io ? cfg->io : getenv("MTLB_IT_IO");
    if (io != NULL &&
        (strcmp(io, "epoll") == 0 || strcmp(io, "uring") == 0 || strcmp(io, "auto") == 0)) {
        fprintf(f, "io: %s\n", io);
    }
    return fclose(f) == 0 ? 0 : -errno;
}

void it_write_config_plain_first(struct it_env *env, const struct it_config *cfg, uint16_t port,
                                 const char *keys)
{
    cr_assert_eq(it_write_config(env, cfg), 0);
    char *text = it_read_file(env->config, NULL);
    cr_assert_not_null(text);
    cr_assert_eq(strncmp(text, "listeners:\n", 11), 0, "%s", text);
    FILE *f = fopen(env->config, "w");
    cr_assert_not_null(f);
    fprintf(f, "listeners:\n  - bind: \"127.0.0.1:%u\"\n    backend: app\n    tls: false\n%s%s",
            port, keys, text + 11);
    cr_assert_eq(fclose(f), 0);
    free(text);
}

struct it_run_result it_mtlb_run(struct it_env *env, const char *a1, const char *a2, const char *a3)
{
    struct it_run_result r;
    char *argv[] = {(char *)env_path("MTLB_BIN"), (char *)a1, (char *)a2, (char *)a3, NULL};
    r.rc = it_run(env, argv, &r.out, &r.err, 10000);
    if (r.out == NULL) {
        r.out = calloc(1, 1);
    }
    if (r.err == NULL) {
        r.err = calloc(1, 1);
    }
    return r;
}

void it_run_result_fini(struct it_run_result *r)
{
    free(r->out);
    free(r->err);
}

struct it_run_result it_mtlb_check(struct it_env *env, const struct it_config *cfg)
{
    cr_assert_eq(it_write_config(env, cfg), 0);
    return it_mtlb_run(env, "-t", "-c", env->config);
}

const char *it_copy_pki(struct it_env *env, const char *rel, const char *as)
{
    static char path[4][400];
    static int next;
    char *dst = path[next++ % 4];
    snprintf(dst, sizeof(path[0]), "%s/%s", env->dir, as);
    size_t len;
    char *data = it_read_file(it_pki(rel), &len);
    cr_assert_not_null(data, "cannot read %s", it_pki(rel));
    FILE *f = fopen(dst, "wb");
    cr_assert_not_null(f);
    fwrite(data, 1, len, f);
    fclose(f);
    free(data);
    return dst;
}

long it_mtlb_rss_kib(const struct it_env *env)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)env->mtlb);
    char *s = it_read_file(path, NULL);
    cr_assert_not_null(s, "%s", path);
    const char *v = strstr(s, "VmRSS:");
    cr_assert_not_null(v, "no VmRSS in %s", path);
    long kib = strtol(v + 6, NULL, 10);
    free(s);
    return kib;
}
