/* Config reader of a route's require: mapping: normalization of each key, errors with
 * file:line:col, and the free / deep copy / equality that reloads rely on. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "require_yaml.h"

Test(config_require, normalizes_every_key)
{
    struct mtlb_require_cfg c;
    char err[256];

    int rc = read_require_yaml("verify: [SUCCESS, NONE]\n"
                               "subject: '^/C=PL/O=Acme/.*'\n"
                               "issuer: 'CN=Root'\n"
                               "san_dns: [A.Example.COM, '*.Example.com']\n"
                               "san_uri: spiffe://TD/x\n"
                               "san_email: [Alice@Example.COM]\n"
                               "fingerprints_sha256: ['AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:"
                               "45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89']\n"
                               "serials: ['0a', '00:01:00', 1A2B, '-0f', '000']\n",
                               &c, err, sizeof(err));
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(c.verify, (1u << MTLB_VERIFY_SUCCESS) | (1u << MTLB_VERIFY_NONE));
    cr_assert_str_eq(c.subject, "^/C=PL/O=Acme/.*");
    cr_assert_str_eq(c.issuer, "CN=Root");
    cr_assert_eq(c.n_san_dns, 2);
    cr_assert_str_eq(c.san_dns[0], "a.example.com");
    cr_assert_str_eq(c.san_dns[1], "*.example.com");
    cr_assert_eq(c.n_san_uri, 1, "one scalar is a list of one");
    cr_assert_str_eq(c.san_uri[0], "spiffe://TD/x", "URIs as written");
    cr_assert_str_eq(c.san_email[0], "Alice@example.com");
    cr_assert_eq(c.n_fingerprints, 1);
    cr_assert_str_eq(c.fingerprints[0],
                     "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
    cr_assert_eq(c.n_serials, 5);
    cr_assert_str_eq(c.serials[0], "0A");
    cr_assert_str_eq(c.serials[1], "0100");
    cr_assert_str_eq(c.serials[2], "1A2B");
    cr_assert_str_eq(c.serials[3], "-0F");
    cr_assert_str_eq(c.serials[4], "0");
    mtlb_cfg_require_free(&c);
    cr_assert_null(c.subject);
    cr_assert_eq(c.n_serials, 0);
}

Test(config_require, errors_name_the_line_and_key)
{
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"{}", "t.yaml:1:1: require: must name at least one condition"},
        {"verify: ~\n", "t.yaml:1:1: require: must name at least one condition"},
        {"[SUCCESS]\n", "t.yaml:1:1: require: expected a mapping"},
        {"verify: SUCCESS\ncolour: red\n", "t.yaml:2:1: require.colour: unknown key"},
        {"verify: SUCCESS\nsubject: '('\n", "t.yaml:2:10: require.subject: invalid regular"},
        {"verify: SUCCESS\n\nissuer: 'a{2,1}'\n", "t.yaml:3:9: require.issuer: invalid regular"},
        {"verify: OK\n", "t.yaml:1:9: require.verify: expected one of NONE, SUCCESS, FAILED"},
        {"verify: [SUCCESS, success]\n", "t.yaml:1:19: require.verify[1]: expected one of"},
        {"verify: []\n", "t.yaml:1:9: require.verify: must not be empty"},
        {"san_dns: []\n", "t.yaml:1:10: require.san_dns: must not be empty"},
        {"san_dns: [ok.example, 'a.*.example']\n", "t.yaml:1:23: require.san_dns[1]: expected"},
        {"san_dns: ['*.']\n", "t.yaml:1:11: require.san_dns[0]: expected a DNS name"},
        {"san_dns: ['*']\n", "t.yaml:1:11: require.san_dns[0]: expected a DNS name"},
        {"san_dns: ['a b']\n", "t.yaml:1:11: require.san_dns[0]: expected a DNS name"},
        {"san_uri: ['']\n", "t.yaml:1:11: require.san_uri[0]: must not be empty"},
        {"san_email: [alice]\n", "t.yaml:1:13: require.san_email[0]: expected an e-mail"},
        {"san_email: ['alice@']\n", "t.yaml:1:13: require.san_email[0]: expected an e-mail"},
        {"fingerprints_sha256: [abcd]\n",
         "t.yaml:1:23: require.fingerprints_sha256[0]: expected a SHA-256"},
        {"fingerprints_sha256: "
         "[':ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:"
         "01:23:45:67:89']\n",
         "expected a SHA-256"},
        {"serials: [xyz]\n", "t.yaml:1:11: require.serials[0]: expected a serial number"},
        {"serials: ['0a::0b']\n", "expected a serial number"},
        {"serials: ['-']\n", "expected a serial number"},
        {"serials: {a: 1}\n", "t.yaml:1:10: require.serials: expected a string"},
        {"subject: [a]\n", "t.yaml:1:10: require.subject: expected a string"},
        {"verify: SUCCESS\nverify: NONE\n", "t.yaml:2:1: require.verify"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mtlb_require_cfg c;
        char err[256];
        int rc = read_require_yaml(cases[i].yaml, &c, err, sizeof(err));
        cr_expect_eq(rc, -EINVAL, "%s", cases[i].yaml);
        cr_expect_not_null(strstr(err, cases[i].want), "%s\n got: %s\nwant: %s", cases[i].yaml, err,
                           cases[i].want);
        mtlb_cfg_require_free(&c);
    }
}

Test(config_require, copy_same_and_free)
{
    struct mtlb_require_cfg a, b, d, empty = {0};
    char err[256];

    cr_assert_eq(read_require_yaml("{verify: SUCCESS, subject: x, san_dns: [a.example], "
                                   "san_email: [a@b], serials: [0A]}",
                                   &a, err, sizeof(err)),
                 0, "%s", err);
    cr_assert_eq(mtlb_cfg_require_copy(&d, &a), 0);
    cr_assert(mtlb_cfg_require_same(&a, &d));
    cr_assert_neq((void *)a.san_dns, (void *)d.san_dns, "a deep copy");
    cr_assert_neq((void *)a.subject, (void *)d.subject);
    cr_assert_null(d.san_uri);
    cr_assert(!mtlb_cfg_require_same(&a, &empty));
    cr_assert(mtlb_cfg_require_copy(&b, &empty) == 0 && mtlb_cfg_require_same(&b, &empty));
    mtlb_cfg_require_free(&b);

    static const char *const changed[] = {
        "{verify: [SUCCESS, NONE], subject: x, san_dns: [a.example], san_email: [a@b], "
        "serials: [0A]}",
        "{verify: SUCCESS, subject: y, san_dns: [a.example], san_email: [a@b], serials: [0A]}",
        "{verify: SUCCESS, subject: x, issuer: x, san_dns: [a.example], san_email: [a@b], "
        "serials: [0A]}",
        "{verify: SUCCESS, subject: x, san_dns: [b.example], san_email: [a@b], serials: [0A]}",
        "{verify: SUCCESS, subject: x, san_dns: [a.example, b.example], san_email: [a@b], "
        "serials: [0A]}",
        "{verify: SUCCESS, subject: x, san_dns: [a.example], san_uri: [u], san_email: [a@b], "
        "serials: [0A]}",
        "{verify: SUCCESS, subject: x, san_dns: [a.example], san_email: [c@b], serials: [0A]}",
        "{verify: SUCCESS, subject: x, san_dns: [a.example], san_email: [a@b], serials: [0B]}",
        "{verify: SUCCESS, subject: x, san_dns: [a.example], san_email: [a@b], serials: [0A], "
        "fingerprints_sha256: ['"
        "0000000000000000000000000000000000000000000000000000000000000000']}",
    };
    for (size_t i = 0; i < sizeof(changed) / sizeof(changed[0]); i++) {
        cr_assert_eq(read_require_yaml(changed[i], &b, err, sizeof(err)), 0, "%s", err);
        cr_expect(!mtlb_cfg_require_same(&a, &b), "%s", changed[i]);
        cr_expect(!mtlb_cfg_require_same(&b, &a), "%s", changed[i]);
        mtlb_cfg_require_free(&b);
    }
    /* the same policy spelled differently is the same value */
    cr_assert_eq(read_require_yaml("{verify: [SUCCESS], subject: x, san_dns: A.EXAMPLE, "
                                   "san_email: [a@B], serials: ['00:0a']}",
                                   &b, err, sizeof(err)),
                 0, "%s", err);
    cr_assert(mtlb_cfg_require_same(&a, &b));
    mtlb_cfg_require_free(&b);
    mtlb_cfg_require_free(&a);
    cr_assert(mtlb_cfg_require_same(&a, &empty), "free leaves it zeroed");
    cr_assert(mtlb_cfg_require_same(&d, &d));
    mtlb_cfg_require_free(&d);
}
