/* What a reload changes: the keys that need a restart, and a short summary of the rest for the
 * event=reloaded line. Pure: compares two parsed configurations, no I/O, no logging. */
#ifndef MTLB_CONFIG_DIFF_H
#define MTLB_CONFIG_DIFF_H

#include <stdbool.h>
#include <stddef.h>

#include "mtlb/config.h"

/* True when going from `old` to `neu` needs a restart: the number, order or bind address of
 * the listeners, threads.workers, threads.acceptors, io, admin.bind or log.access_log changed.
 * Then why holds "KEY changed (OLD -> NEW)" for the first such key. Any thread. */
bool mtlb_config_diff_restart(const struct mtlb_config *old, const struct mtlb_config *neu,
                              char *why, size_t whylen);

/* Writes into buf a summary of the other changes, e.g.
 * "domains:+a.example,-b.example,~c.example pools:+new,-old,~orders files:/etc/ca.pem",
 * each part present only when something changed there ("" when none did: other keys, or only
 * the files' contents, which every reload reads again). Domains by their first name (+ added, -
 * removed, ~ files, mode, depth or backend changed); pools by name (~ servers or checks
 * changed); routes: "~listeners[N]" for a listener whose routes or backend changed; files:
 * paths named by `neu` and not by `old`. Truncated to buflen. Any thread. */
void mtlb_config_diff_summary(const struct mtlb_config *old, const struct mtlb_config *neu,
                              char *buf, size_t buflen);

#endif
