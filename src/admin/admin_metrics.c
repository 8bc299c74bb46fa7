/* GET /metrics, /healthz and /readyz: sums the per-thread counters (relaxed loads, stats.h)
 * into Prometheus text and judges liveness and readiness. Admin thread only; it writes nothing
 * that another thread reads. Series appear once a thread has counted something (zero
 * counters of a code or reason are left out), except the gauges, which are always present. */
#include <stdio.h>
#include <string.h>

#include "admin_int.h"
#include "mtlb/config.h"
#include "mtlb/edge.h"
#include "mtlb/ktls.h"
#include "mtlb/log.h"
#include "mtlb/prom.h"
#include "mtlb/server.h"
#include "mtlb/snapshot.h"
#include "mtlb/stats.h"
#include "mtlb/tls.h"
#include "mtlb/worker_types.h"

/* A loop that has not turned for this long is stuck (workers tick every 100 ms, acceptors
 * wake at least every 200 ms). */
#define HEARTBEAT_MAX_MS 1000

struct scrape {
    struct mtlb_server *srv;
    const struct mtlb_snapshot *snap; /* current: listener names, live servers */
    struct mtlb_prom_buf *b;
};

/* Sums counter idx over every worker (workers) or every acceptor (!workers). */
static uint64_t sum(struct mtlb_server *srv, bool workers, size_t field_off, size_t idx)
{
    uint64_t total = 0;
    unsigned n = workers ? srv->n_workers : srv->n_acceptors;

    for (unsigned i = 0; i < n; i++) {
        struct mtlb_stats *s = workers ? srv->workers[i].stats : srv->acceptor_stats[i];
        mtlb_counter *arr;
        memcpy(&arr, (const char *)s + field_off, sizeof(arr));
        total += mtlb_counter_get(&arr[idx]);
    }
    return total;
}

#define SUM_W(srv, field, idx) sum(srv, true, offsetof(struct mtlb_stats, field), idx)
#define SUM_A(srv, field, idx) sum(srv, false, offsetof(struct mtlb_stats, field), idx)

static void label(struct mtlb_prom_buf *b, const char *name, const char *value, bool first)
{
    mtlb_prom_printf(b, "%s%s=\"", first ? "" : ",", name);
    mtlb_prom_label(b, value);
    mtlb_prom_printf(b, "\"");
}

static void listener_name(const struct mtlb_listener_cfg *l, char *out, size_t cap)
{
    snprintf(out, cap, strchr(l->bind_host, ':') ? "[%s]:%u" : "%s:%u", l->bind_host, l->bind_port);
}

static void connections(struct scrape *s)
{
    const struct mtlb_config *cfg = s->snap->cfg;
    static const char *const names[] = {"mtlb_connections_open", "mtlb_connections_total"};
    static const char *const helps[] = {
        "Client connections held by workers (after the handshake), by transport.",
        "Client connections handed to workers since start, by transport."};
    char ln[80];

    for (int k = 0; k < 2; k++) {
        mtlb_prom_family(s->b, names[k], k ? "counter" : "gauge", helps[k]);
        for (size_t l = 0; l < cfg->n_listeners; l++) {
            listener_name(&cfg->listeners[l], ln, sizeof(ln));
            for (int t = 0; t < MTLB_TRANSPORT_COUNT; t++) {
                size_t i = l * MTLB_TRANSPORT_COUNT + (size_t)t;
                uint64_t opened = SUM_W(s->srv, conn_opened, i);
                uint64_t closed = SUM_W(s->srv, conn_closed, i);
                mtlb_prom_printf(s->b, "%s{", names[k]);
                label(s->b, "listener", ln, true);
                label(s->b, "transport", mtlb_transport_name((enum mtlb_transport)t), false);
                mtlb_prom_printf(s->b, "} %llu\n",
                                 (unsigned long long)(k                  ? opened
                                                      : opened >= closed ? opened - closed
                                                                         : 0));
            }
        }
    }
}

/* Connections the edge policy closed before any TLS: by listener and reason (edge.h). */
static void refused(struct scrape *s)
{
    const struct mtlb_config *cfg = s->snap->cfg;
    char ln[80];

    mtlb_prom_family(s->b, "mtlb_connections_refused_total", "counter",
                     "Connections closed at accept by the listener's allow/deny lists or PROXY "
                     "protocol rules, by reason.");
    for (size_t l = 0; l < cfg->n_listeners; l++) {
        listener_name(&cfg->listeners[l], ln, sizeof(ln));
        for (size_t r = 0; r < MTLB_EDGE_REASONS; r++) {
            uint64_t n = SUM_A(s->srv, refused, l * MTLB_EDGE_REASONS + r);
            if (n == 0) {
                continue;
            }
            mtlb_prom_printf(s->b, "mtlb_connections_refused_total{");
            label(s->b, "listener", ln, true);
            mtlb_prom_printf(s->b, ",reason=\"%s\"} %llu\n",
                             mtlb_edge_reason_name((enum mtlb_edge_reason)r),
                             (unsigned long long)n);
        }
    }
}

/* One line of a per-domain family: name{listener,domain,<extra>} value. */
static void domain_line(struct scrape *s, const char *name, const char *ln, const char *dn,
                        const char *extra, uint64_t v)
{
    mtlb_prom_printf(s->b, "%s{", name);
    label(s->b, "listener", ln, true);
    label(s->b, "domain", dn, false);
    mtlb_prom_printf(s->b, ",%s} %llu\n", extra, (unsigned long long)v);
}

/* The values of family `fam` for domain index di (flat over all listeners). */
static void domain_family(struct scrape *s, int fam, size_t di, const char *ln, const char *dn)
{
    static const char *const verify_words[] = {"NONE", "SUCCESS", "FAILED"};
    char extra[64];

    if (fam == 0) {
        for (int k = 0; k < 4; k++) {
            snprintf(extra, sizeof(extra), "result=\"%s\",resumed=\"%s\"", k >= 2 ? "failed" : "ok",
                     k & 1 ? "true" : "false");
            domain_line(s, "mtlb_handshakes_total", ln, dn, extra,
                        SUM_A(s->srv, handshakes, di * 4 + (size_t)k));
        }
    } else if (fam == 1) {
        for (int v = 0; v < 3; v++) {
            snprintf(extra, sizeof(extra), "verify=\"%s\"", verify_words[v]);
            domain_line(s, "mtlb_client_verify_total", ln, dn, extra,
                        SUM_A(s->srv, verify, di * 3 + (size_t)v));
        }
    } else {
        for (int r = 0; r < MTLB_VR_COUNT; r++) {
            snprintf(extra, sizeof(extra), "reason=\"%s\"",
                     mtlb_verify_reason_token((enum mtlb_verify_reason)r));
            domain_line(s, "mtlb_client_verify_failures_total", ln, dn, extra,
                        SUM_A(s->srv, verify_fail, di * MTLB_VR_COUNT + (size_t)r));
        }
    }
}

/* Handshake, verification and verification-failure series: per listener and domain (every
 * domain a snapshot ever had: its slot), each family's lines together after its HELP and
 * TYPE. */
static void handshakes(struct scrape *s)
{
    static const char *const names[] = {"mtlb_handshakes_total", "mtlb_client_verify_total",
                                        "mtlb_client_verify_failures_total"};
    static const char *const helps[] = {
        "TLS handshakes by result and resumption (domain: chosen by SNI).",
        "Client-certificate verdicts of completed and refused handshakes.",
        "Client certificates refused (mandatory) or marked FAILED (optional), by reason."};
    const struct mtlb_stats_slots *sl = &s->srv->slots;
    size_t n = atomic_load_explicit(&sl->n_domains, memory_order_acquire);
    char ln[80];

    for (int fam = 0; fam < 3; fam++) {
        mtlb_prom_family(s->b, names[fam], "counter", helps[fam]);
        for (size_t d = 0; d < n; d++) {
            listener_name(&s->snap->cfg->listeners[sl->domains[d].listener], ln, sizeof(ln));
            domain_family(s, fam, d, ln, sl->domains[d].name);
        }
    }
}

static void requests(struct scrape *s)
{
    const struct mtlb_config *cfg = s->snap->cfg;
    static const char *const protos[] = {"http/1.1", "h2"};
    char ln[80];

    mtlb_prom_family(s->b, "mtlb_requests_total", "counter",
                     "Requests answered, by listener, protocol and status code.");
    for (size_t l = 0; l < cfg->n_listeners; l++) {
        listener_name(&cfg->listeners[l], ln, sizeof(ln));
        for (size_t p = 0; p < MTLB_STATS_PROTOS; p++) {
            for (size_t code = 0; code < MTLB_STATS_CODES; code++) {
                size_t i = (l * MTLB_STATS_PROTOS + p) * MTLB_STATS_CODES + code;
                uint64_t n = SUM_W(s->srv, requests, i);
                if (n == 0) {
                    continue;
                }
                mtlb_prom_printf(s->b, "mtlb_requests_total{");
                label(s->b, "listener", ln, true);
                mtlb_prom_printf(s->b, ",proto=\"%s\",code=\"%zu\"} %llu\n", protos[p], code + 100,
                                 (unsigned long long)n);
            }
        }
    }
    mtlb_prom_family(s->b, "mtlb_request_duration_seconds", "histogram",
                     "Time from a request's first byte to its last response byte.");
    uint64_t cum = 0, sum_us = 0;
    for (unsigned k = 0; k <= MTLB_PROM_BUCKETS; k++) {
        for (unsigned w = 0; w < s->srv->n_workers; w++) {
            cum += mtlb_counter_get(&s->srv->workers[w].stats->duration[k]);
        }
        mtlb_prom_printf(s->b, "mtlb_request_duration_seconds_bucket{le=\"");
        mtlb_prom_le(s->b, k);
        mtlb_prom_printf(s->b, "\"} %llu\n", (unsigned long long)cum);
    }
    for (unsigned w = 0; w < s->srv->n_workers; w++) {
        sum_us += mtlb_counter_get(&s->srv->workers[w].stats->duration_sum_us);
    }
    mtlb_prom_printf(s->b, "mtlb_request_duration_seconds_sum %llu.%06llu\n",
                     (unsigned long long)(sum_us / 1000000),
                     (unsigned long long)(sum_us % 1000000));
    mtlb_prom_printf(s->b, "mtlb_request_duration_seconds_count %llu\n", (unsigned long long)cum);
}

/* One pair of splice series: bodies started, bytes moved. */
static void spliced_pair(struct scrape *s, uint64_t bodies, uint64_t bytes, const char *name,
                         const char *what)
{
    char fam[64], help[128];

    snprintf(fam, sizeof(fam), "mtlb_spliced_%sbodies_total", name);
    snprintf(help, sizeof(help), "%s bodies relayed by splice (zero-copy), started.", what);
    mtlb_prom_family(s->b, fam, "counter", help);
    mtlb_prom_printf(s->b, "%s %llu\n", fam, (unsigned long long)bodies);
    snprintf(fam, sizeof(fam), "mtlb_spliced_%sbytes_total", name);
    snprintf(help, sizeof(help), "%s body bytes relayed by splice (zero-copy).", what);
    mtlb_prom_family(s->b, fam, "counter", help);
    mtlb_prom_printf(s->b, "%s %llu\n", fam, (unsigned long long)bytes);
}

/* Bodies that moved socket to socket by splice, never through a userspace buffer (kTLS or
 * plain listeners, splice.h), and their bytes: responses (backend -> client; the names from
 * before request bodies were spliced) and requests (client -> backend, splice_req.c). */
static void spliced(struct scrape *s)
{
    uint64_t v[4] = {0};

    for (unsigned w = 0; w < s->srv->n_workers; w++) {
        struct mtlb_stats *st = s->srv->workers[w].stats;
        v[0] += mtlb_counter_get(&st->spliced_bodies);
        v[1] += mtlb_counter_get(&st->spliced_bytes);
        v[2] += mtlb_counter_get(&st->spliced_req_bodies);
        v[3] += mtlb_counter_get(&st->spliced_req_bytes);
    }
    spliced_pair(s, v[0], v[1], "", "Response");
    spliced_pair(s, v[2], v[3], "request_", "Request");
}

/* Requests a route refused with 403 (its require: policy or its address lists), by listener
 * and reason (stats.h). Every series from the start, zeros too, so that a rate over them
 * exists before the first refusal. */
static void denied(struct scrape *s)
{
    const struct mtlb_config *cfg = s->snap->cfg;
    char ln[80];

    mtlb_prom_family(s->b, "mtlb_requests_denied_total", "counter",
                     "Requests refused with 403 by a route's require: policy (by the condition "
                     "that failed) or its allow/deny lists (address).");
    for (size_t l = 0; l < cfg->n_listeners; l++) {
        listener_name(&cfg->listeners[l], ln, sizeof(ln));
        for (size_t r = 0; r < MTLB_STATS_DENIED_REASONS; r++) {
            mtlb_prom_printf(s->b, "mtlb_requests_denied_total{");
            label(s->b, "listener", ln, true);
            mtlb_prom_printf(
                s->b, ",reason=\"%s\"} %llu\n", mtlb_stats_denied_name((int)r),
                (unsigned long long)SUM_W(s->srv, denied, l * MTLB_STATS_DENIED_REASONS + r));
        }
    }
}

static void server_labels(struct mtlb_prom_buf *b, const struct mtlb_stats_server_slot *slot)
{
    label(b, "backend", slot->pool, true);
    label(b, "server", slot->server, false);
}

/* A server counts as up unless some worker has it marked down right now (its passive health:
 * a failed connect, backoff 1 s doubling to 30 s; or the active checks' verdict). */
static bool server_up(struct mtlb_server *srv, size_t slot)
{
    return SUM_W(srv, be_down, slot) == 0;
}

/* mtlb_backend_up: the servers of the current snapshot only. The counters: every server a
 * snapshot ever had (its slot), so that they continue across reloads. */
static void backends(struct scrape *s)
{
    const struct mtlb_config *cfg = s->snap->cfg;
    const struct mtlb_stats_slots *sl = &s->srv->slots;
    size_t n = atomic_load_explicit(&sl->n_servers, memory_order_acquire);

    mtlb_prom_family(s->b, "mtlb_backend_up", "gauge",
                     "1 unless a worker has the server marked down (passive or active health).");
    for (size_t p = 0; p < cfg->n_backends; p++) {
        for (size_t k = 0; k < cfg->backends[p].n_servers; k++) {
            size_t si = s->snap->server_slot[p][k];
            mtlb_prom_printf(s->b, "mtlb_backend_up{");
            server_labels(s->b, &sl->servers[si]);
            mtlb_prom_printf(s->b, "} %d\n", server_up(s->srv, si) ? 1 : 0);
        }
    }
    mtlb_prom_family(s->b, "mtlb_backend_requests_total", "counter",
                     "Response heads received from each server, by status code.");
    for (size_t si = 0; si < n; si++) {
        for (size_t code = 0; code < MTLB_STATS_CODES; code++) {
            uint64_t v = SUM_W(s->srv, be_requests, si * MTLB_STATS_CODES + code);
            if (v == 0) {
                continue;
            }
            mtlb_prom_printf(s->b, "mtlb_backend_requests_total{");
            server_labels(s->b, &sl->servers[si]);
            mtlb_prom_printf(s->b, ",code=\"%zu\"} %llu\n", code + 100, (unsigned long long)v);
        }
    }
    mtlb_prom_family(s->b, "mtlb_backend_connect_failures_total", "counter",
                     "Connects to each server that failed or timed out.");
    for (size_t si = 0; si < n; si++) {
        mtlb_prom_printf(s->b, "mtlb_backend_connect_failures_total{");
        server_labels(s->b, &sl->servers[si]);
        mtlb_prom_printf(s->b, "} %llu\n",
                         (unsigned long long)SUM_W(s->srv, be_connect_failures, si));
    }
}

static void reloads(struct scrape *s)
{
    struct mtlb_server *srv = s->srv;

    mtlb_prom_family(s->b, "mtlb_config_generation", "gauge",
                     "Generation of the running configuration: 1 at start, +1 per reload.");
    mtlb_prom_printf(s->b, "mtlb_config_generation %llu\n",
                     (unsigned long long)s->snap->generation);
    mtlb_prom_family(s->b, "mtlb_config_reloads_total", "counter",
                     "Configuration reloads (SIGHUP, POST /reload, file watch) by result.");
    mtlb_prom_printf(s->b, "mtlb_config_reloads_total{result=\"ok\"} %llu\n",
                     (unsigned long long)atomic_load(&srv->reloads_ok));
    mtlb_prom_printf(s->b, "mtlb_config_reloads_total{result=\"failed\"} %llu\n",
                     (unsigned long long)atomic_load(&srv->reloads_failed));
    mtlb_prom_family(s->b, "mtlb_config_last_reload_success_timestamp_seconds", "gauge",
                     "When the running configuration was loaded (the start counts), Unix time.");
    mtlb_prom_printf(s->b, "mtlb_config_last_reload_success_timestamp_seconds %llu\n",
                     (unsigned long long)atomic_load(&srv->last_reload_ok_s));
}

void mtlb_admin_metrics(struct mtlb_server *srv, const struct mtlb_snapshot *snap,
                        struct mtlb_prom_buf *b)
{
    struct scrape s = {srv, snap, b};

    mtlb_prom_family(b, "mtlb_build_info", "gauge", "mtlb version.");
    mtlb_prom_printf(b, "mtlb_build_info{version=\"");
    mtlb_prom_label(b, MTLB_VERSION);
    mtlb_prom_printf(b, "\"} 1\n");
    reloads(&s);
    connections(&s);
    refused(&s);
    handshakes(&s);
    requests(&s);
    denied(&s);
    spliced(&s);
    backends(&s);
    mtlb_prom_printf(b, "%.*s", (int)snap->certs.len, snap->certs.p ? snap->certs.p : "");
}

bool mtlb_admin_healthy(struct mtlb_server *srv, char *why, size_t cap)
{
    uint64_t now = mtlb_now_ms();

    for (unsigned i = 0; i < srv->n_workers + srv->n_acceptors; i++) {
        bool worker = i < srv->n_workers;
        struct mtlb_stats *s =
            worker ? srv->workers[i].stats : srv->acceptor_stats[i - srv->n_workers];
        uint64_t hb = mtlb_counter_get(&s->heartbeat_ms);
        if (hb == MTLB_STATS_EXITED) {
            continue; /* stopped during a shutdown: not stuck */
        }
        if (hb == 0 || now - hb > HEARTBEAT_MAX_MS) {
            snprintf(why, cap, "%s-%u has not turned its loop for %llu ms",
                     worker ? "worker" : "acceptor", worker ? i : i - srv->n_workers,
                     hb == 0 ? 0ULL : (unsigned long long)(now - hb));
            return false;
        }
    }
    return true;
}

bool mtlb_admin_ready(struct mtlb_server *srv, const struct mtlb_snapshot *snap, char *why,
                      size_t cap)
{
    const struct mtlb_config *cfg = snap->cfg;
    int phase = atomic_load(&srv->phase);

    if (phase != MTLB_PHASE_READY) {
        snprintf(why, cap, "%s",
                 phase == MTLB_PHASE_DRAINING ? "draining (shutting down)" : "starting");
        return false;
    }
    for (size_t p = 0; p < cfg->n_backends; p++) {
        bool any = false;
        for (size_t k = 0; k < cfg->backends[p].n_servers && !any; k++) {
            any = server_up(srv, snap->server_slot[p][k]);
        }
        if (!any) {
            snprintf(why, cap, "backend %s: no server up", cfg->backends[p].name);
            return false;
        }
    }
    return true;
}
