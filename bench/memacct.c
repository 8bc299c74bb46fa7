/* memacct (bench/): an LD_PRELOAD library that accounts for the heap a process holds, for the
 * idle-memory breakdown in bench/mem-parts. OpenSSL's allocations are routed through
 * CRYPTO_set_mem_functions and counted by the source file that made them (OpenSSL passes
 * __FILE__); every other malloc-family block (mtlb, nghttp2, libc) is counted by interposing
 * malloc, calloc, realloc, the aligned allocators and free, as its malloc_usable_size, so the
 * figures are live bytes, not what the allocator's caches hold. jemalloc's stats.allocated
 * and its live blocks per size class are written too. Every 200 ms the figures go to
 * $MEMACCT_OUT. A benchmark tool, not part of mtlb. */
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define SITES 1024
#define HDR 16 /* keeps OpenSSL's blocks 16-byte aligned */

struct site {
    _Atomic(const char *) file;
    atomic_llong bytes; /* malloc_usable_size of the live blocks, less the header */
    atomic_llong blocks;
};

static struct site sites[SITES];
static atomic_llong overflow_bytes;
static atomic_llong other_bytes; /* live non-OpenSSL blocks */

/* The allocator underneath (jemalloc when mtlb links it, else libc's), found by dlsym; while
 * dlsym itself allocates, a static arena serves it. */
static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static int (*real_memalign)(void **, size_t, size_t);
static char boot[65536];
static size_t boot_used;
static int resolving;

static void *boot_alloc(size_t n)
{
    size_t off = (boot_used + 15) & ~(size_t)15;
    if (off + n > sizeof(boot)) {
        return NULL;
    }
    boot_used = off + n;
    return memset(boot + off, 0, n);
}

static bool in_boot(const void *p)
{
    return (const char *)p >= boot && (const char *)p < boot + sizeof(boot);
}

static void *sym(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    void *out;
    memcpy(&out, &p, sizeof(out));
    return out;
}

static void resolve(void)
{
    void *p;

    if (real_malloc != NULL || resolving) {
        return;
    }
    resolving = 1;
    p = sym("calloc");
    memcpy(&real_calloc, &p, sizeof(p));
    p = sym("realloc");
    memcpy(&real_realloc, &p, sizeof(p));
    p = sym("free");
    memcpy(&real_free, &p, sizeof(p));
    p = sym("posix_memalign");
    memcpy(&real_memalign, &p, sizeof(p));
    p = sym("malloc");
    memcpy(&real_malloc, &p, sizeof(p));
    resolving = 0;
}

static void *counted(void *p)
{
    if (p != NULL) {
        atomic_fetch_add(&other_bytes, (long long)malloc_usable_size(p));
    }
    return p;
}

void *malloc(size_t n)
{
    resolve();
    if (real_malloc == NULL) {
        return boot_alloc(n);
    }
    return counted(real_malloc(n));
}

void *calloc(size_t k, size_t n)
{
    resolve();
    if (real_calloc == NULL) {
        return boot_alloc(k * n);
    }
    return counted(real_calloc(k, n));
}

void free(void *p)
{
    if (p == NULL || in_boot(p)) {
        return;
    }
    atomic_fetch_sub(&other_bytes, (long long)malloc_usable_size(p));
    real_free(p);
}

void *realloc(void *p, size_t n)
{
    resolve();
    if (p == NULL) {
        return malloc(n);
    }
    if (in_boot(p)) {
        void *q = malloc(n);
        if (q != NULL) {
            memcpy(q, p, n); /* boot blocks are only ever dlsym's small ones */
        }
        return q;
    }
    long long before = (long long)malloc_usable_size(p);
    void *q = real_realloc(p, n);
    if (q != NULL || n == 0) {
        atomic_fetch_sub(&other_bytes, before);
        counted(q);
    }
    return q;
}

int posix_memalign(void **out, size_t align, size_t n)
{
    resolve();
    int rc = real_memalign(out, align, n);
    if (rc == 0) {
        counted(*out);
    }
    return rc;
}

void *aligned_alloc(size_t align, size_t n)
{
    void *p = NULL;
    return posix_memalign(&p, align, n) == 0 ? p : NULL;
}

void *memalign(size_t align, size_t n)
{
    return aligned_alloc(align, n);
}

/* The site of file, claimed on first use; a full table counts into overflow_bytes. */
static struct site *site_of(const char *file)
{
    uintptr_t h = ((uintptr_t)file >> 3) * 2654435761u;

    for (unsigned i = 0; i < SITES; i++) {
        struct site *s = &sites[(h + i) % SITES];
        const char *cur = atomic_load(&s->file);
        if (cur == file) {
            return s;
        }
        if (cur == NULL) {
            const char *expect = NULL;
            if (atomic_compare_exchange_strong(&s->file, &expect, file) || expect == file) {
                return s;
            }
        }
    }
    return NULL;
}

static void account(void *blk, const char *file, long sign)
{
    /* the block as OpenSSL asked for it: its size class, without our header */
    long long n = ((long long)malloc_usable_size(blk) - HDR) * sign;
    struct site *s = site_of(file != NULL ? file : "?");

    if (s == NULL) {
        atomic_fetch_add(&overflow_bytes, n);
        return;
    }
    atomic_fetch_add(&s->bytes, n);
    atomic_fetch_add(&s->blocks, sign);
}

/* The header holds the file that allocated the block, so that its free is charged there. */
static void *acct_malloc(size_t n, const char *file, int line)
{
    (void)line;
    resolve();
    char *b = real_malloc(n + HDR);
    if (b == NULL) {
        return NULL;
    }
    memcpy(b, &file, sizeof(file));
    account(b, file, 1);
    return b + HDR;
}

static void acct_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    if (p == NULL) {
        return;
    }
    char *b = (char *)p - HDR;
    const char *owner;
    memcpy(&owner, b, sizeof(owner));
    account(b, owner, -1);
    real_free(b);
}

static void *acct_realloc(void *p, size_t n, const char *file, int line)
{
    if (p == NULL) {
        return acct_malloc(n, file, line);
    }
    if (n == 0) {
        acct_free(p, file, line);
        return NULL;
    }
    char *b = (char *)p - HDR;
    const char *owner;
    memcpy(&owner, b, sizeof(owner));
    account(b, owner, -1);
    char *nb = real_realloc(b, n + HDR);
    if (nb == NULL) {
        account(b, owner, 1);
        return NULL;
    }
    account(nb, owner, 1);
    return nb + HDR;
}

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);

static long long jemalloc_allocated(void)
{
    mallctl_fn mallctl;
    void *sym = dlsym(RTLD_DEFAULT, "mallctl");

    memcpy(&mallctl, &sym, sizeof(mallctl)); /* POSIX: dlsym results convert this way */
    uint64_t epoch = 1;
    size_t allocated = 0, len = sizeof(allocated);

    if (mallctl == NULL) {
        return -1;
    }
    size_t elen = sizeof(epoch);
    mallctl("epoch", &epoch, &elen, &epoch, sizeof(epoch));
    if (mallctl("stats.allocated", &allocated, &len, NULL, 0) != 0) {
        return -1;
    }
    return (long long)allocated;
}

/* Live blocks per jemalloc size class (all arenas), for the sizes that are not OpenSSL's. */
static void dump_classes(FILE *f)
{
    mallctl_fn mallctl;
    void *sym = dlsym(RTLD_DEFAULT, "mallctl");
    unsigned nbins = 0, nlext = 0;
    size_t len = sizeof(unsigned);
    char name[128];

    memcpy(&mallctl, &sym, sizeof(mallctl));
    if (mallctl == NULL || mallctl("arenas.nbins", &nbins, &len, NULL, 0) != 0 ||
        mallctl("arenas.nlextents", &nlext, &len, NULL, 0) != 0) {
        return;
    }
    for (unsigned i = 0; i < nbins + nlext; i++) {
        size_t size = 0, cur = 0, sl = sizeof(size);
        bool bin = i < nbins;
        snprintf(name, sizeof(name), bin ? "arenas.bin.%u.size" : "arenas.lextent.%u.size",
                 bin ? i : i - nbins);
        if (mallctl(name, &size, &sl, NULL, 0) != 0) {
            continue;
        }
        snprintf(name, sizeof(name),
                 bin ? "stats.arenas.4096.bins.%u.curregs"
                     : "stats.arenas.4096.lextents.%u.curlextents",
                 bin ? i : i - nbins);
        sl = sizeof(cur);
        if (mallctl(name, &cur, &sl, NULL, 0) == 0 && cur != 0) {
            fprintf(f, "class %zu %zu\n", size, cur);
        }
    }
}

static void dump(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    long long ssl_total = atomic_load(&overflow_bytes);

    if (f == NULL) {
        return;
    }
    for (unsigned i = 0; i < SITES; i++) {
        const char *file = atomic_load(&sites[i].file);
        long long b = atomic_load(&sites[i].bytes);
        if (file != NULL && b != 0) {
            fprintf(f, "site %lld %lld %s\n", b, atomic_load(&sites[i].blocks), file);
            ssl_total += b;
        }
    }
    fprintf(f, "openssl_live %lld\n", ssl_total);
    fprintf(f, "other_live %lld\n", atomic_load(&other_bytes));
    fprintf(f, "heap_allocated %lld\n", jemalloc_allocated());
    dump_classes(f);
    fclose(f);
    rename(tmp, path);
}

static void *dumper(void *arg)
{
    const char *path = arg;
    struct timespec ts = {0, 200 * 1000 * 1000};

    for (;;) {
        nanosleep(&ts, NULL);
        dump(path);
    }
    return NULL;
}

__attribute__((constructor)) static void memacct_init(void)
{
    const char *out = getenv("MEMACCT_OUT");
    pthread_t t;

    if (CRYPTO_set_mem_functions(acct_malloc, acct_realloc, acct_free) != 1) {
        fprintf(stderr, "memacct: OpenSSL allocated before the preload; no per-file figures\n");
    }
    if (out != NULL && pthread_create(&t, NULL, dumper, (void *)out) == 0) {
        pthread_detach(t);
    }
}
