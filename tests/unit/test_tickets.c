/* Ticket keys: the key file layout (nginx's 80-byte records), every way a key file is refused,
 * the random keys' 12-hour rotation on a fake clock, which key opens which ticket, and
 * concurrent use across a rotation (run under TSan to check the locking). */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mtlb/tickets.h"

#define T0 ((time_t)1700000000)

static void fill(unsigned char *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (unsigned char)(i + seed * 7);
    }
}

/* The layout operators' nginx key files use: name 0-15, HMAC secret 16-47, AES key 48-79. */
Test(tickets, parse_uses_the_nginx_layout)
{
    unsigned char buf[160];
    struct mtlb_ticket_key keys[4];
    size_t n = 0;
    char why[128] = "";

    fill(buf, sizeof(buf), 0);
    cr_assert_eq(mtlb_tickets_parse(buf, sizeof(buf), keys, 4, &n, why, sizeof(why)), 0, "%s", why);
    cr_assert_eq(n, 2);
    for (size_t k = 0; k < 2; k++) {
        const unsigned char *p = buf + 80 * k;
        cr_assert_arr_eq(keys[k].name, p, 16, "key %zu name", k);
        cr_assert_arr_eq(keys[k].hmac, p + 16, 32, "key %zu HMAC secret", k);
        cr_assert_arr_eq(keys[k].aes, p + 48, 32, "key %zu AES key", k);
    }
}

Test(tickets, parse_refuses_bad_sizes_and_duplicates)
{
    static const struct {
        size_t len;
        const char *why;
    } cases[] = {
        {0, "is empty; it needs at least one 80-byte key"},
        {48, "is 48 bytes, not a multiple of 80 (one or more 80-byte keys)"},
        {79, "is 79 bytes, not a multiple of 80 (one or more 80-byte keys)"},
        {81, "is 81 bytes, not a multiple of 80 (one or more 80-byte keys)"},
        {400, "holds 5 keys, at most 4 are allowed"},
    };
    unsigned char buf[400];
    struct mtlb_ticket_key keys[4];

    fill(buf, sizeof(buf), 1);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = 99;
        char why[128] = "";
        cr_assert_eq(mtlb_tickets_parse(buf, cases[i].len, keys, 4, &n, why, sizeof(why)), -EINVAL,
                     "%zu bytes", cases[i].len);
        cr_assert_str_eq(why, cases[i].why);
        cr_assert_eq(n, 99, "n must not change on failure");
    }
    /* Two keys with one name: which would open a ticket? */
    memcpy(buf + 160, buf, 16);
    size_t n = 0;
    char why[128] = "";
    cr_assert_eq(mtlb_tickets_parse(buf, 240, keys, 4, &n, why, sizeof(why)), -EINVAL);
    cr_assert_str_eq(why, "keys 1 and 3 have the same name (first 16 bytes)");
}

static char tmpdir[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_tmp(void)
{
    if (tmpdir[0] != '\0') {
        nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    }
}

TestSuite(tickets, .fini = rm_tmp);

static void mk_tmp(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/mtlb-tickets-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static const char *write_file(const char *name, size_t len)
{
    static char path[128];
    unsigned char *buf = malloc(len ? len : 1);
    fill(buf, len, 3);
    for (size_t i = 0; i + 80 <= len; i += 80) {
        buf[i] = (unsigned char)(i / 80); /* distinct names */
    }
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(buf, 1, len, f), len);
    fclose(f);
    free(buf);
    return path;
}

Test(tickets, init_file_names_file_and_problem)
{
    struct mtlb_tickets t;
    char err[512] = "", want[512];

    mk_tmp();
    const char *p = write_file("max.keys", MTLB_TICKET_KEYS_MAX * 80);
    cr_assert_eq(mtlb_tickets_init_file(&t, p, err, sizeof(err)), 0, "%s", err);
    cr_assert(t.from_file);
    cr_assert_eq(t.n, MTLB_TICKET_KEYS_MAX);
    mtlb_tickets_fini(&t);

    p = write_file("big.keys", (MTLB_TICKET_KEYS_MAX + 1) * 80);
    cr_assert_eq(mtlb_tickets_init_file(&t, p, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want), "%s: tls.ticket_keys: is larger than 32 keys (2560 bytes)", p);
    cr_assert_str_eq(err, want);

    p = write_file("odd.keys", 100);
    cr_assert_eq(mtlb_tickets_init_file(&t, p, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want),
             "%s: tls.ticket_keys: is 100 bytes, not a multiple of 80 (one or more 80-byte keys)",
             p);
    cr_assert_str_eq(err, want);

    cr_assert_eq(mtlb_tickets_init_file(&t, tmpdir, err, sizeof(err)), -EISDIR);
    snprintf(want, sizeof(want), "%s: tls.ticket_keys: Is a directory", tmpdir);
    cr_assert_str_eq(err, want);

    char path[128];
    snprintf(path, sizeof(path), "%s/absent.keys", tmpdir);
    cr_assert_eq(mtlb_tickets_init_file(&t, path, err, sizeof(err)), -ENOENT);
    snprintf(want, sizeof(want), "%s: tls.ticket_keys: No such file or directory", path);
    cr_assert_str_eq(err, want);
}

Test(tickets, file_keys_first_encrypts_all_decrypt_never_rotate)
{
    struct mtlb_tickets t;
    struct mtlb_ticket_key k, enc;
    char err[512] = "";

    mk_tmp();
    const char *p = write_file("two.keys", 160);
    cr_assert_eq(mtlb_tickets_init_file(&t, p, err, sizeof(err)), 0, "%s", err);
    struct mtlb_ticket_key first = t.keys[0], second = t.keys[1];
    /* Years later: a key file is replaced by the operator, never by the clock. */
    cr_assert_eq(mtlb_tickets_encrypting(&t, T0 + 10 * 365 * 86400, &enc), 0);
    cr_assert_arr_eq(&enc, &first, sizeof(enc));
    cr_assert_eq(mtlb_tickets_find(&t, first.name, T0, &k), 0, "the first key: no renewal");
    cr_assert_arr_eq(&k, &first, sizeof(k));
    cr_assert_eq(mtlb_tickets_find(&t, second.name, T0, &k), 1, "an older key: renew");
    cr_assert_arr_eq(&k, &second, sizeof(k));
    unsigned char unknown[16] = {0xee};
    cr_assert_eq(mtlb_tickets_find(&t, unknown, T0, &k), -ENOENT);
    mtlb_tickets_fini(&t);
}

Test(tickets, random_keys_rotate_every_12_hours_keeping_the_previous_one)
{
    struct mtlb_tickets t;
    struct mtlb_ticket_key k0, k1, k2, k;

    cr_assert_eq(mtlb_tickets_init_random(&t, T0, 16), 0);
    cr_assert_not(t.from_file);
    cr_assert_eq(mtlb_tickets_encrypting(&t, T0, &k0), 0);
    cr_assert_eq(mtlb_tickets_encrypting(&t, T0 + MTLB_TICKET_ROTATE_SECONDS - 1, &k), 0);
    cr_assert_arr_eq(&k, &k0, sizeof(k), "no rotation before 12 hours");

    cr_assert_eq(mtlb_tickets_encrypting(&t, T0 + MTLB_TICKET_ROTATE_SECONDS, &k1), 0);
    cr_assert_arr_neq(k1.name, k0.name, 16, "a new key after 12 hours");
    cr_assert_eq(mtlb_tickets_find(&t, k0.name, T0 + MTLB_TICKET_ROTATE_SECONDS, &k), 1,
                 "the previous key still decrypts (and asks for a renewal)");
    cr_assert_arr_eq(&k, &k0, sizeof(k));

    /* The next rotation is found by a decryption as well; k0 is then gone. */
    time_t t2 = T0 + 2 * MTLB_TICKET_ROTATE_SECONDS;
    cr_assert_eq(mtlb_tickets_find(&t, k1.name, t2, &k), 1);
    cr_assert_eq(mtlb_tickets_find(&t, k0.name, t2, &k), -ENOENT);
    cr_assert_eq(mtlb_tickets_encrypting(&t, t2, &k2), 0);
    cr_assert_arr_neq(k2.name, k1.name, 16);
    cr_assert_eq(mtlb_tickets_find(&t, k2.name, t2, &k), 0);

    /* Idle for days: one rotation, and the next one a full period later. */
    time_t later = t2 + 5 * MTLB_TICKET_ROTATE_SECONDS + 17;
    cr_assert_eq(mtlb_tickets_encrypting(&t, later, &k), 0);
    cr_assert_arr_neq(k.name, k2.name, 16);
    cr_assert_eq(t.rotate_at, later + MTLB_TICKET_ROTATE_SECONDS);
    mtlb_tickets_fini(&t);
}

/* Acceptor threads seal and open tickets while the clock crosses rotations. */
struct racer {
    struct mtlb_tickets *t;
    unsigned id;
    unsigned failures;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    for (unsigned i = 0; i < 20000; i++) {
        time_t now = T0 + (time_t)(i / 1000) * MTLB_TICKET_ROTATE_SECONDS;
        struct mtlb_ticket_key enc, dec;
        if (mtlb_tickets_encrypting(r->t, now, &enc) != 0 ||
            mtlb_tickets_find(r->t, enc.name, now, &dec) < 0 ||
            memcmp(&enc, &dec, sizeof(enc)) != 0) {
            r->failures++;
        }
    }
    return NULL;
}

Test(tickets, concurrent_use_across_rotations)
{
    struct mtlb_tickets t;
    pthread_t th[4];
    struct racer r[4];

    cr_assert_eq(mtlb_tickets_init_random(&t, T0, 16), 0);
    for (unsigned i = 0; i < 4; i++) {
        r[i] = (struct racer){&t, i, 0};
        cr_assert_eq(pthread_create(&th[i], NULL, race, &r[i]), 0);
    }
    for (unsigned i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        /* A key sealed just before another thread rotated twice may be gone; never more than
         * the handful of calls around each of the 20 rotations. */
        cr_assert_lt(r[i].failures, 200, "thread %u: %u failures", i, r[i].failures);
    }
    mtlb_tickets_fini(&t);
}
