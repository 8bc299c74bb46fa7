/* Re-resolution of backend host names (backends[].resolve): the current address of each
 * server behind an atomic pointer, the periodic lookup that moves it, and the addresses it
 * replaced, kept until the state (its snapshot) goes. Main thread writes; any thread reads. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtlb/log.h"
#include "mtlb/resolve.h"
#include "mtlb/snapshot.h"

#define MAX_ANSWERS 16

struct owned_addr {
    struct owned_addr *next;
    struct mtlb_addr addr;
};

struct mtlb_resolve_state {
    const struct mtlb_config *cfg;
    _Atomic(const struct mtlb_addr *) **cur; /* [pool][server] */
    uint64_t *due_ms;                        /* [pool]; UINT64_MAX without resolve */
    struct owned_addr *owned;                /* addresses moved to, freed with the state */
};

int mtlb_resolve_getaddrinfo(const char *host, uint16_t port, struct mtlb_addr *out, size_t max,
                             void *arg)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char portstr[8];
    size_t n = 0;

    (void)arg;
    snprintf(portstr, sizeof(portstr), "%u", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        return rc == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
    }
    for (struct addrinfo *ai = res; ai != NULL && n < max; ai = ai->ai_next) {
        if (ai->ai_addrlen <= sizeof(out[n].ss)) {
            memset(&out[n], 0, sizeof(out[n]));
            memcpy(&out[n].ss, ai->ai_addr, ai->ai_addrlen);
            out[n].len = ai->ai_addrlen;
            n++;
        }
    }
    freeaddrinfo(res);
    return n > 0 ? (int)n : -EHOSTUNREACH;
}

int mtlb_resolve_create(struct mtlb_resolve_state **out, const struct mtlb_config *cfg,
                        struct mtlb_addr **base, uint64_t now_ms)
{
    struct mtlb_resolve_state *st = calloc(1, sizeof(*st));

    *out = NULL;
    if (st == NULL) {
        return -ENOMEM;
    }
    st->cfg = cfg;
    st->cur = calloc(cfg->n_backends ? cfg->n_backends : 1, sizeof(*st->cur));
    st->due_ms = calloc(cfg->n_backends ? cfg->n_backends : 1, sizeof(*st->due_ms));
    if (st->cur == NULL || st->due_ms == NULL) {
        mtlb_resolve_destroy(st);
        return -ENOMEM;
    }
    for (size_t p = 0; p < cfg->n_backends; p++) {
        const struct mtlb_backend_cfg *b = &cfg->backends[p];
        st->due_ms[p] = b->resolve_ms != 0 ? now_ms + b->resolve_ms : UINT64_MAX;
        st->cur[p] = calloc(b->n_servers ? b->n_servers : 1, sizeof(**st->cur));
        if (st->cur[p] == NULL) {
            mtlb_resolve_destroy(st);
            return -ENOMEM;
        }
        for (size_t s = 0; s < b->n_servers; s++) {
            atomic_init(&st->cur[p][s], &base[p][s]);
        }
    }
    *out = st;
    return 0;
}

void mtlb_resolve_destroy(struct mtlb_resolve_state *st)
{
    if (st == NULL) {
        return;
    }
    for (size_t p = 0; st->cur != NULL && p < st->cfg->n_backends; p++) {
        free(st->cur[p]);
    }
    free(st->cur);
    free(st->due_ms);
    while (st->owned != NULL) {
        struct owned_addr *o = st->owned;
        st->owned = o->next;
        free(o);
    }
    free(st);
}

const struct mtlb_addr *mtlb_resolve_addr(const struct mtlb_resolve_state *st, size_t pool,
                                          size_t server)
{
    return atomic_load_explicit(&st->cur[pool][server], memory_order_acquire);
}

static bool same_addr(const struct mtlb_addr *a, const struct mtlb_addr *b)
{
    return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

static bool is_ip_literal(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* One server: 1 when it moved, else 0. */
static size_t reresolve(struct mtlb_resolve_state *st, size_t p, size_t s, mtlb_lookup_fn lookup,
                        void *arg)
{
    const struct mtlb_backend_cfg *b = &st->cfg->backends[p];
    const struct mtlb_server_cfg *sc = &b->servers[s];
    const struct mtlb_addr *cur = mtlb_resolve_addr(st, p, s);
    struct mtlb_addr answers[MAX_ANSWERS];
    static struct mtlb_ratelimit rl;

    if (is_ip_literal(sc->host)) {
        return 0;
    }
    int n = lookup(sc->host, sc->port, answers, MAX_ANSWERS, arg);
    if (n <= 0) {
        mtlb_log_rl(&rl, 10, MTLB_LOG_WARN,
                    "event=backend_resolve_failed pool=%s server=%s error=\"%s\" "
                    "reason=\"the address in use is kept\"",
                    b->name, cur->text, strerror(n < 0 ? -n : EHOSTUNREACH));
        return 0;
    }
    for (int i = 0; i < n; i++) {
        if (same_addr(&answers[i], cur)) {
            /* Still valid: stay on it (DNS servers rotate the order of their answers). */
            mtlb_log(MTLB_LOG_DEBUG, "event=backend_resolved pool=%s server=%s answers=%d kept=1",
                     b->name, cur->text, n);
            return 0;
        }
    }
    struct owned_addr *o = malloc(sizeof(*o));
    if (o == NULL) {
        return 0;
    }
    o->addr = answers[0];
    memcpy(o->addr.text, cur->text, sizeof(o->addr.text));
    o->next = st->owned;
    st->owned = o;
    atomic_store_explicit(&st->cur[p][s], &o->addr, memory_order_release);
    char ip[INET6_ADDRSTRLEN] = "?";
    const struct sockaddr_storage *ss = &o->addr.ss;
    if (ss->ss_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, ip, sizeof(ip));
    } else if (ss->ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, ip, sizeof(ip));
    }
    mtlb_log(MTLB_LOG_INFO, "event=backend_address_changed pool=%s server=%s address=%s", b->name,
             cur->text, ip);
    return 1;
}

size_t mtlb_resolve_due(struct mtlb_resolve_state *st, uint64_t now_ms, mtlb_lookup_fn lookup,
                        void *arg, uint64_t *next_ms)
{
    size_t moved = 0;

    *next_ms = UINT64_MAX;
    for (size_t p = 0; p < st->cfg->n_backends; p++) {
        const struct mtlb_backend_cfg *b = &st->cfg->backends[p];
        if (st->due_ms[p] <= now_ms) {
            for (size_t s = 0; s < b->n_servers; s++) {
                moved += reresolve(st, p, s, lookup, arg);
            }
            st->due_ms[p] = now_ms + b->resolve_ms;
        }
        *next_ms = st->due_ms[p] < *next_ms ? st->due_ms[p] : *next_ms;
    }
    return moved;
}
