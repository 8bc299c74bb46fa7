/* Active health checks, the pure part: the rise/fall state machine of one server and the
 * reading of a probe's status line. No I/O, no clock, no logging: the health-check thread
 * (runtime/health.c) does the probing and owns one struct mtlb_hcheck per server. */
#ifndef MTLB_HCHECK_H
#define MTLB_HCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mtlb_hcheck {
    bool down;         /* current verdict; a server starts up */
    uint32_t ok_run;   /* consecutive passing probes */
    uint32_t fail_run; /* consecutive failing probes */
};

enum mtlb_hcheck_change {
    MTLB_HCHECK_SAME = 0,
    MTLB_HCHECK_WENT_UP = 1,
    MTLB_HCHECK_WENT_DOWN = 2,
};

/* Zeroes h: up, no history. */
void mtlb_hcheck_init(struct mtlb_hcheck *h);

/* Records one probe result. An up server goes down after `fall` consecutive failures, a down
 * one comes up after `rise` consecutive successes (rise, fall >= 1; 0 counts as 1). Returns
 * the change this probe made, so that the caller reports each transition exactly once. */
enum mtlb_hcheck_change mtlb_hcheck_record(struct mtlb_hcheck *h, bool ok, uint32_t rise,
                                           uint32_t fall);

/* Reads the status code of an HTTP/1.x status line at the start of buf[len]: the code
 * (100-599), 0 when the line is not complete yet (more bytes may make it one), or -EBADMSG
 * when the bytes cannot be the start of a status line. */
int mtlb_hcheck_status(const char *buf, size_t len);

#endif
