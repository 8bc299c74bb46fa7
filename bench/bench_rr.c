/* Micro-benchmark for round robin with passive health: nanoseconds per mtlb_rr_next over a
 * pool of 2 and of 16 servers, all up, with a quarter of them down (backoff), and all down (the
 * panic rule's extra pass), as a worker calls it once per request. Usage: bench_rr [iterations].
 * Not a test. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mtlb/balance.h"

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void run(const char *label, size_t n, size_t down, long iters)
{
    struct mtlb_health health[16];
    struct mtlb_rr rr;
    uint64_t now = 1000000;
    volatile long sink = 0;

    mtlb_rr_init(&rr, health, n, 0);
    for (size_t i = 0; i < down; i++) {
        mtlb_rr_fail(&rr, i * (n / down), now);
    }
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        sink += mtlb_rr_next(&rr, now, 0);
    }
    double dt = now_ns() - t0;
    printf("%-28s %6.2f ns/op\n", label, dt / (double)iters);
    (void)sink;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 10000000;

    run("rr_next 2 servers", 2, 0, iters);
    run("rr_next 16 servers", 16, 0, iters);
    run("rr_next 16 servers, 4 down", 16, 4, iters);
    run("rr_next 16 servers, all down", 16, 16, iters);
    return 0;
}
