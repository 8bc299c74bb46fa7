/* floodgen's established clients: keep-alive HTTP/1.1 (mutual) TLS connections, one thread each,
 * sending small GETs on a fixed schedule. Latency runs from the scheduled send time, not the
 * actual one, so a stalled server shows in the figures instead of slowing the schedule down
 * (coordinated omission). Any failed request (connect, handshake, timeout, close, non-200) is
 * an error and the connection is opened again. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>

#include "floodgen.h"

/* One request: when it was scheduled (seconds from the start) and its latency; lat_us
 * UINT32_MAX for a failed one. */
struct sample {
    float at;
    uint32_t lat_us;
};

struct client {
    const struct flood_opts *o;
    SSL_CTX *ctx;
    double start;
    double interval;
    struct sample *smp;
    size_t n_smp;
    size_t cap;
    long connects;
    pthread_t tid;
    pthread_barrier_t *ready; /* twice: all connected; then the start times are set */
};

static void sleep_until(double t)
{
    double d = t - flood_now();
    if (d > 0) {
        struct timespec ts = {.tv_sec = (time_t)d,
                              .tv_nsec = (long)((d - (double)(time_t)d) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

/* Reads one response; returns its status, or -1. */
static int read_response(SSL *ssl)
{
    char buf[8192];
    size_t len = 0;
    char *end = NULL;

    while (end == NULL) {
        if (len == sizeof(buf) - 1) {
            return -1;
        }
        int n = SSL_read(ssl, buf + len, (int)(sizeof(buf) - 1 - len));
        if (n <= 0) {
            ERR_clear_error();
            return -1;
        }
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    int status = len > 12 ? atoi(buf + 9) : -1;
    long body = 0;
    for (char *h = strstr(buf, "\r\n"); h != NULL && h < end; h = strstr(h + 2, "\r\n")) {
        if (strncasecmp(h + 2, "content-length:", 15) == 0) {
            body = atol(h + 17);
        }
    }
    body -= (long)(len - (size_t)(end + 4 - buf));
    while (body > 0) {
        int n = SSL_read(ssl, buf, (int)(body < (long)sizeof(buf) ? body : (long)sizeof(buf)));
        if (n <= 0) {
            ERR_clear_error();
            return -1;
        }
        body -= n;
    }
    return status;
}

static void record(struct client *c, double sched, uint32_t lat_us)
{
    if (c->n_smp == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        struct sample *v = realloc(c->smp, cap * sizeof(*v));
        if (v == NULL) {
            return;
        }
        c->smp = v;
        c->cap = cap;
    }
    c->smp[c->n_smp++] = (struct sample){(float)(sched - c->start), lat_us};
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    char req[512];
    int req_len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", c->o->path,
                           c->o->sni ? c->o->sni : "localhost");
    SSL *ssl = NULL;
    static const unsigned char alpn[] = "\x08http/1.1";

    /* connected before the schedule starts: the quiet figure is a keep-alive request's */
    c->connects++;
    ssl = flood_tls_connect(c->o, c->ctx, alpn, sizeof(alpn) - 1);
    pthread_barrier_wait(c->ready);
    pthread_barrier_wait(c->ready);
    double end = c->start + c->o->duration;
    for (long k = 0;; k++) {
        double sched = c->start + (double)k * c->interval;
        if (sched >= end) {
            break;
        }
        sleep_until(sched);
        if (ssl == NULL) {
            c->connects++;
            ssl = flood_tls_connect(c->o, c->ctx, alpn, sizeof(alpn) - 1);
        }
        if (ssl == NULL || flood_tls_write(ssl, req, (size_t)req_len) != 0 ||
            read_response(ssl) != 200) {
            record(c, sched, UINT32_MAX);
            if (ssl != NULL) {
                flood_tls_close(ssl);
                ssl = NULL;
            }
            continue;
        }
        record(c, sched, (uint32_t)((flood_now() - sched) * 1e6));
    }
    if (ssl != NULL) {
        flood_tls_close(ssl);
    }
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* One key=value line for the requests scheduled in [from, to) seconds. */
static void report(const char *phase, struct client *cl, int n, double from, double to)
{
    size_t total = 0, k = 0;
    long errors = 0, connects = 0;
    for (int i = 0; i < n; i++) {
        total += cl[i].n_smp;
        connects += cl[i].connects;
    }
    uint32_t *all = malloc((total ? total : 1) * sizeof(*all));
    for (int i = 0; i < n && all != NULL; i++) {
        for (size_t j = 0; j < cl[i].n_smp; j++) {
            const struct sample *sm = &cl[i].smp[j];
            if (sm->at < from || sm->at >= to) {
                continue;
            }
            if (sm->lat_us == UINT32_MAX) {
                errors++;
            } else {
                all[k++] = sm->lat_us;
            }
        }
    }
    if (all != NULL) {
        qsort(all, k, sizeof(*all), cmp_u32);
    }
#define PCT(p) (k && all ? all[(size_t)((double)(k - 1) * (p))] / 1000.0 : 0.0)
    printf("%s%srequests=%zu errors=%ld connects=%ld rps=%.1f p50_ms=%.2f p90_ms=%.2f "
           "p99_ms=%.2f max_ms=%.2f\n",
           phase ? "phase=" : "", phase ? phase : "", k, errors, connects, (double)k / (to - from),
           PCT(0.50), PCT(0.90), PCT(0.99), PCT(1.0));
#undef PCT
    fflush(stdout);
    free(all);
}

/* Every request, in the order of its client: when it was scheduled and its latency, so that a
 * p99 can be traced to the moments (and so to the attack's phases) that made it. */
static void write_samples(const char *path, const struct client *cl, int n)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "floodgen: %s: cannot write\n", path);
        return;
    }
    for (int i = 0; i < n; i++) {
        for (size_t j = 0; j < cl[i].n_smp; j++) {
            const struct sample *sm = &cl[i].smp[j];
            if (sm->lat_us == UINT32_MAX) {
                fprintf(f, "%.4f error\n", sm->at);
            } else {
                fprintf(f, "%.4f %.3f\n", sm->at, sm->lat_us / 1000.0);
            }
        }
    }
    fclose(f);
}

int flood_run_clients(const struct flood_opts *o, SSL_CTX *ctx)
{
    struct client *cl = calloc((size_t)o->conns, sizeof(*cl));
    pthread_barrier_t ready;
    double start;

    if (cl == NULL || o->rate <= 0) {
        free(cl);
        return 1;
    }
    pthread_barrier_init(&ready, NULL, (unsigned)o->conns + 1);
    for (int i = 0; i < o->conns; i++) {
        cl[i] = (struct client){
            .o = o, .ctx = ctx, .interval = (double)o->conns / o->rate, .ready = &ready};
        if (pthread_create(&cl[i].tid, NULL, client_main, &cl[i]) != 0) {
            fprintf(stderr, "floodgen: pthread_create failed\n");
            exit(1);
        }
    }
    pthread_barrier_wait(&ready);
    start = flood_now() + 0.05;
    for (int i = 0; i < o->conns; i++) {
        /* spread the connections over one interval so the requests do not come in bursts */
        cl[i].start = start + cl[i].interval * i / o->conns;
    }
    pthread_barrier_wait(&ready);
    for (int i = 0; i < o->conns; i++) {
        pthread_join(cl[i].tid, NULL);
    }
    if (o->quiet > 0) {
        report("quiet ", cl, o->conns, 0, o->quiet);
        report("flood ", cl, o->conns, o->quiet + o->ramp, o->duration);
    } else {
        report(NULL, cl, o->conns, 0, o->duration);
    }
    if (o->samples != NULL) {
        write_samples(o->samples, cl, o->conns);
    }
    pthread_barrier_destroy(&ready);
    for (int i = 0; i < o->conns; i++) {
        free(cl[i].smp);
    }
    free(cl);
    return 0;
}
