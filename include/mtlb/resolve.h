/* Backend host names re-resolved while mtlb runs (backends[].resolve: DURATION). Each
 * snapshot resolves every server once when it is built (snapshot.c); with `resolve` set, the
 * main thread looks the pool's host names up again every DURATION and, when the address in use
 * is no longer among the answers, moves the server to the first answer. Readers (workers, the
 * health checker) load the server's current address atomically; replaced addresses are freed
 * with the snapshot only, so a pointer read from it stays valid while the snapshot is held.
 * The server's name (mtlb_addr.text, "host:port" as configured) never changes. */
#ifndef MTLB_RESOLVE_H
#define MTLB_RESOLVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "mtlb/config.h"

struct mtlb_addr;
struct mtlb_resolve_state;

/* Looks host:port up: writes up to max answers into out (text left empty) and returns their
 * count (> 0), or -errno. mtlb_resolve_getaddrinfo is the real one; tests pass their own. */
typedef int (*mtlb_lookup_fn)(const char *host, uint16_t port, struct mtlb_addr *out, size_t max,
                              void *arg);
int mtlb_resolve_getaddrinfo(const char *host, uint16_t port, struct mtlb_addr *out, size_t max,
                             void *arg);

/* State over cfg's pools with base[pool][server] (the addresses resolved at build, which it
 * does not own; they must outlive it) as every server's current address; each pool with
 * `resolve` is first due at now_ms + its interval. 0 or -ENOMEM. The building thread. */
int mtlb_resolve_create(struct mtlb_resolve_state **out, const struct mtlb_config *cfg,
                        struct mtlb_addr **base, uint64_t now_ms);
void mtlb_resolve_destroy(struct mtlb_resolve_state *st);

/* Server's current address. Any thread, lock-free. */
const struct mtlb_addr *mtlb_resolve_addr(const struct mtlb_resolve_state *st, size_t pool,
                                          size_t server);

/* Looks up again the host names of every pool that is due at now_ms (IP literals are skipped)
 * and moves a server whose address is no longer among the answers to the first answer; a
 * failed lookup keeps the address (and is logged). Returns how many servers moved; *next_ms
 * is when the next pool is due (UINT64_MAX: none has `resolve`). One thread at a time (the
 * main thread). */
size_t mtlb_resolve_due(struct mtlb_resolve_state *st, uint64_t now_ms, mtlb_lookup_fn lookup,
                        void *arg, uint64_t *next_ms);

#endif
