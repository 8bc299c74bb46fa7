/* Re-resolution of backend host names (backends[].resolve) with a scripted lookup: not before
 * the interval, the address in use kept while it is among the answers, moved to the first
 * answer when it is not, kept on a failed lookup, IP literals and pools without resolve never
 * looked up; the server's name never changes. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "mtlb/config.h"
#include "mtlb/resolve.h"
#include "mtlb/snapshot.h"

struct script {
    const char *answers[4]; /* IPv4 literals; none: the lookup fails */
    unsigned calls;
    char last_host[64];
};

static void set_ip(struct mtlb_addr *a, const char *ip, uint16_t port)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;
    memset(a, 0, sizeof(*a));
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    cr_assert_eq(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
    a->len = sizeof(*sin);
}

static int scripted(const char *host, uint16_t port, struct mtlb_addr *out, size_t max, void *arg)
{
    struct script *sc = arg;
    size_t n = 0;
    sc->calls++;
    snprintf(sc->last_host, sizeof(sc->last_host), "%s", host);
    for (; n < max && n < 4 && sc->answers[n] != NULL; n++) {
        set_ip(&out[n], sc->answers[n], port);
    }
    return n > 0 ? (int)n : -EHOSTUNREACH;
}

static const char *ip_of(const struct mtlb_addr *a)
{
    static char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &((const struct sockaddr_in *)&a->ss)->sin_addr, buf, sizeof(buf));
    return buf;
}

struct fixture {
    struct mtlb_config *cfg;
    struct mtlb_addr row0[2], row1[1];
    struct mtlb_addr *base[2];
    struct mtlb_resolve_state *st;
};

static void fixture_init(struct fixture *f)
{
    static const char yaml[] =
        "listeners: [{bind: \":8443\", backend: app, domains: [{names: [a.example], "
        "certificate: c.crt, key: c.key}]}]\n"
        "backends:\n"
        "  - name: app\n"
        "    resolve: 30s\n"
        "    servers: [\"b.internal:80\", \"10.0.0.9:81\"]\n"
        "  - name: fixed\n"
        "    servers: [\"c.internal:82\"]\n";
    char err[256] = "";
    cr_assert_eq(mtlb_config_parse(yaml, strlen(yaml), "m.yaml", "/", &f->cfg, err, 256), 0, "%s",
                 err);
    cr_assert_eq(f->cfg->backends[0].resolve_ms, 30000);
    cr_assert_eq(f->cfg->backends[1].resolve_ms, 0);
    set_ip(&f->row0[0], "192.0.2.1", 80);
    snprintf(f->row0[0].text, sizeof(f->row0[0].text), "b.internal:80");
    set_ip(&f->row0[1], "10.0.0.9", 81);
    set_ip(&f->row1[0], "192.0.2.7", 82);
    f->base[0] = f->row0;
    f->base[1] = f->row1;
    cr_assert_eq(mtlb_resolve_create(&f->st, f->cfg, f->base, 1000), 0);
}

static void fixture_fini(struct fixture *f)
{
    mtlb_resolve_destroy(f->st);
    mtlb_config_destroy(f->cfg);
}

Test(resolve, not_before_the_interval_and_only_names)
{
    struct fixture f;
    struct script sc = {.answers = {"192.0.2.1"}};
    uint64_t next = 0;
    fixture_init(&f);
    cr_expect_eq(mtlb_resolve_due(f.st, 30999, scripted, &sc, &next), 0);
    cr_expect_eq(sc.calls, 0);
    cr_expect_eq(next, 31000);
    cr_expect_eq(mtlb_resolve_due(f.st, 31000, scripted, &sc, &next), 0);
    cr_expect_eq(sc.calls, 1, "the IP literal and the pool without resolve are not looked up");
    cr_expect_str_eq(sc.last_host, "b.internal");
    cr_expect_eq(next, 61000);
    cr_expect_eq(mtlb_resolve_addr(f.st, 0, 0), &f.row0[0]);
    fixture_fini(&f);
}

Test(resolve, keeps_the_address_in_use_while_it_is_answered_and_moves_when_it_is_not)
{
    struct fixture f;
    struct script sc = {.answers = {"192.0.2.5", "192.0.2.1"}};
    uint64_t next = 0;
    fixture_init(&f);
    cr_expect_eq(mtlb_resolve_due(f.st, 31000, scripted, &sc, &next), 0);
    cr_expect_eq(mtlb_resolve_addr(f.st, 0, 0), &f.row0[0], "still among the answers: kept");
    sc = (struct script){.answers = {"192.0.2.5", "192.0.2.6"}};
    cr_expect_eq(mtlb_resolve_due(f.st, 61000, scripted, &sc, &next), 1);
    const struct mtlb_addr *a = mtlb_resolve_addr(f.st, 0, 0);
    cr_expect_str_eq(ip_of(a), "192.0.2.5");
    cr_expect_eq(ntohs(((const struct sockaddr_in *)&a->ss)->sin_port), 80);
    cr_expect_str_eq(a->text, "b.internal:80", "the server's name stays");
    cr_expect_str_eq(ip_of(&f.row0[0]), "192.0.2.1", "the build's address is untouched");
    /* A failed lookup keeps the moved address. */
    sc = (struct script){.answers = {NULL}};
    cr_expect_eq(mtlb_resolve_due(f.st, 91000, scripted, &sc, &next), 0);
    cr_expect_eq(mtlb_resolve_addr(f.st, 0, 0), a);
    cr_expect_eq(mtlb_resolve_addr(f.st, 0, 1), &f.row0[1]);
    cr_expect_eq(mtlb_resolve_addr(f.st, 1, 0), &f.row1[0]);
    fixture_fini(&f);
}

Test(resolve, without_resolve_nothing_is_ever_due)
{
    static const char yaml[] =
        "listeners: [{bind: \":8443\", backend: app, domains: [{names: [a.example], "
        "certificate: c.crt, key: c.key}]}]\n"
        "backends: [{name: app, servers: [\"b.internal:80\"]}]\n";
    struct mtlb_config *cfg = NULL;
    char err[256] = "";
    cr_assert_eq(mtlb_config_parse(yaml, strlen(yaml), "m.yaml", "/", &cfg, err, 256), 0);
    struct mtlb_addr row[1];
    struct mtlb_addr *base[1] = {row};
    set_ip(&row[0], "192.0.2.1", 80);
    struct mtlb_resolve_state *st = NULL;
    cr_assert_eq(mtlb_resolve_create(&st, cfg, base, 0), 0);
    struct script sc = {.answers = {"192.0.2.2"}};
    uint64_t next = 0;
    cr_expect_eq(mtlb_resolve_due(st, UINT64_MAX - 1, scripted, &sc, &next), 0);
    cr_expect_eq(sc.calls, 0);
    cr_expect_eq(next, UINT64_MAX);
    mtlb_resolve_destroy(st);
    mtlb_config_destroy(cfg);
}

Test(resolve, config_rejects_a_bad_interval)
{
    static const char yaml[] =
        "listeners: [{bind: \":8443\", backend: app, domains: [{names: [a.example], "
        "certificate: c.crt, key: c.key}]}]\n"
        "backends: [{name: app, resolve: soon, servers: [\"b.internal:80\"]}]\n";
    struct mtlb_config *cfg = NULL;
    char err[256] = "";
    cr_expect_eq(mtlb_config_parse(yaml, strlen(yaml), "m.yaml", "/", &cfg, err, 256), -EINVAL);
    cr_expect(strstr(err, "backends[0].resolve") != NULL, "%s", err);
}
