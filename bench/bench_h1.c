/* Micro-benchmark for the HTTP/1.1 head parser and the request rewriter: nanoseconds per
 * parse of a typical ~400-byte browser request, per rewrite, and per chunked scan.
 * Usage: bench_h1 [iterations]. Not a test; numbers depend on the machine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mtlb/h1.h"
#include "mtlb/rewrite.h"

static const char request[] =
    "GET /wp-content/uploads/2010/03/hello-kitty-darth-vader-pink.jpg HTTP/1.1\r\n"
    "Host: www.kittyhell.com\r\n"
    "User-Agent: Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10_6_3; ja-JP-mac; rv:1.9.2.3) "
    "Gecko/20100401 Firefox/3.6.3 Pathtraq/0.9\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Language: ja,en-us;q=0.7,en;q=0.3\r\n"
    "Accept-Encoding: gzip,deflate\r\n"
    "Accept-Charset: Shift_JIS,utf-8;q=0.7,*;q=0.7\r\n"
    "Keep-Alive: 115\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: wp_ozh_wsa_visits=2; wp_ozh_wsa_visit_lasttime=xxxxxxxxxx\r\n"
    "\r\n";

static const char chunked[] = "1000\r\n"
                              "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                              "\r\n0\r\n\r\n";

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 1000000;
    struct mtlb_h1_header hdrs[32];
    struct mtlb_h1_message msg = {.headers = hdrs, .max_headers = 32};
    struct mtlb_identity id = {.verify = MTLB_VERIFY_SUCCESS,
                               .subject = "/C=PL/O=Example/CN=client.example.com",
                               .issuer = "/C=PL/O=Example/CN=Example CA",
                               .serial = "4F1A2B3C"};
    struct mtlb_authority_request ar;
    struct mtlb_rewrite_req rw = {
        .identity = &id, .client_ip = "203.0.113.9", .proto = "https", .target = &ar};
    char out[2048];
    volatile long sink = 0;

    if (iters <= 0 || mtlb_h1_parse_request(request, sizeof(request) - 1, &msg) <= 0 ||
        mtlb_authority_from_request(&msg, &ar) != 0) {
        fprintf(stderr, "usage: bench_h1 [iterations > 0] (or the sample did not parse)\n");
        return 1;
    }
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        sink += mtlb_h1_parse_request(request, sizeof(request) - 1, &msg);
    }
    double t1 = now_ns();
    for (long i = 0; i < iters; i++) {
        sink += mtlb_rewrite_request(&msg, &rw, out, sizeof(out));
    }
    double t2 = now_ns();
    /* the chunk announces 4096 bytes: scan the size line and 64 data bytes, then restart */
    for (long i = 0; i < iters; i++) {
        struct mtlb_h1_chunked c;
        bool done;
        mtlb_h1_chunked_init(&c);
        sink += mtlb_h1_chunked_scan(&c, chunked, 70, &done);
    }
    double t3 = now_ns();
    printf("parse_request (%zu bytes): %.1f ns\n", sizeof(request) - 1, (t1 - t0) / (double)iters);
    printf("rewrite_request:          %.1f ns\n", (t2 - t1) / (double)iters);
    printf("chunked_scan (70 bytes):  %.1f ns\n", (t3 - t2) / (double)iters);
    return sink == 0;
}
