/* Unit tests for src/tls/session_cache.c: the bounded cache behind stateful session tickets
 * (lookup by session id, eviction of the oldest, sessions past their deadline dropped). */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <openssl/ssl.h>

#include "../../src/tls/tls_internal.h"
#include "mtlb/tickets.h"

/* A session with id byte b (32 bytes) and, when deadline != 0, the deadline ticket_generate
 * carries (format 1, big-endian seconds). */
static SSL_SESSION *session(unsigned char b, time_t deadline)
{
    unsigned char id[32], data[9] = {1};
    SSL_SESSION *s = SSL_SESSION_new();
    uint64_t v = (uint64_t)deadline;

    memset(id, b, sizeof(id));
    cr_assert(s != NULL && SSL_SESSION_set1_id(s, id, sizeof(id)) == 1);
    for (int i = 8; i >= 1; i--, v >>= 8) {
        data[i] = (unsigned char)(v & 0xff);
    }
    cr_assert(deadline == 0 || SSL_SESSION_set1_ticket_appdata(s, data, sizeof(data)) == 1);
    return s;
}

static SSL_SESSION *get(struct mtlb_session_cache *c, unsigned char b, time_t now, const char **why)
{
    unsigned char id[32];

    memset(id, b, sizeof(id));
    return mtlb_session_cache_get(c, id, sizeof(id), now, mtlb_tls_session_refusal, why);
}

Test(session_cache, finds_a_session_by_id_and_not_an_unknown_one)
{
    struct mtlb_session_cache *c = NULL;
    const char *why = "x";
    time_t now = time(NULL);

    cr_assert_eq(mtlb_session_cache_new(&c, 4), 0);
    SSL_SESSION *s = session(1, now + 60);
    cr_assert_eq(mtlb_session_cache_put(c, s), 0);
    SSL_SESSION *got = get(c, 1, now, &why);
    cr_assert_eq(got, s, "the cached session was not found");
    cr_assert_null(why);
    SSL_SESSION_free(got);
    cr_assert_null(get(c, 2, now, &why), "an unknown id found a session");
    cr_assert_eq(mtlb_session_cache_count(c), 1);
    mtlb_session_cache_free(c);
}

Test(session_cache, a_full_cache_drops_its_oldest_session)
{
    struct mtlb_session_cache *c = NULL;
    const char *why;
    time_t now = time(NULL);

    cr_assert_eq(mtlb_session_cache_new(&c, 2), 0);
    for (unsigned char b = 1; b <= 3; b++) {
        cr_assert_eq(mtlb_session_cache_put(c, session(b, now + 60)), 0);
    }
    cr_assert_eq(mtlb_session_cache_count(c), 2, "the bound was not kept");
    cr_assert_null(get(c, 1, now, &why), "the oldest session survived");
    for (unsigned char b = 2; b <= 3; b++) {
        SSL_SESSION *got = get(c, b, now, &why);
        cr_assert_not_null(got, "session %u was dropped instead of the oldest", b);
        SSL_SESSION_free(got);
    }
    mtlb_session_cache_free(c);
}

Test(session_cache, a_session_past_its_deadline_is_dropped)
{
    struct mtlb_session_cache *c = NULL;
    const char *why = NULL;
    time_t now = time(NULL);

    cr_assert_eq(mtlb_session_cache_new(&c, 4), 0);
    cr_assert_eq(mtlb_session_cache_put(c, session(7, now + 10)), 0);
    cr_assert_null(get(c, 7, now + 11, &why), "resumed after its deadline");
    cr_assert_str_eq(why, "session_lifetime");
    cr_assert_eq(mtlb_session_cache_count(c), 0, "the expired session stayed in the cache");
    /* A TLS 1.2 session carries no deadline (OpenSSL's own timeout bounds it): kept. */
    cr_assert_eq(mtlb_session_cache_put(c, session(8, 0)), 0);
    SSL_SESSION *got = get(c, 8, now, &why);
    cr_assert_not_null(got);
    SSL_SESSION_free(got);
    mtlb_session_cache_free(c);
}
