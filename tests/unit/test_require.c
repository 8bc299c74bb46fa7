/* Route identity policy: each condition allowed and refused, the order of the reasons, DNS
 * wildcards, fingerprint and serial normalization against identities built from certificates
 * made in memory, SAN lists that try to pose as other entries, and identities without a
 * certificate or with a failed verification. Policies are written in YAML and read by the
 * config module's reader, as a route's require: is. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "mtlb/require.h"
#include "require_yaml.h"

static EVP_PKEY *test_key(void)
{
    static EVP_PKEY *key;

    if (key == NULL) {
        key = EVP_EC_gen("P-256");
        cr_assert_not_null(key);
    }
    return key;
}

/* Subject C=PL/O=Org/CN=cn, issuer C=PL/O=Example CA/CN=Root, the given serial bytes and, when
 * gens is not NULL, that subjectAltName (consumed). */
static X509 *make_cert(const char *cn, const unsigned char *serial, int serial_len,
                       GENERAL_NAMES *gens)
{
    X509 *x = X509_new();
    BIGNUM *bn = BN_bin2bn(serial, serial_len, NULL);
    ASN1_INTEGER *sn = BN_to_ASN1_INTEGER(bn, NULL);
    X509_NAME *subj = X509_NAME_new();
    X509_NAME *iss = X509_NAME_new();

    cr_assert(x && bn && sn && subj && iss);
    X509_set_version(x, X509_VERSION_3);
    X509_set_serialNumber(x, sn);
    X509_NAME_add_entry_by_txt(subj, "C", MBSTRING_ASC, (const unsigned char *)"PL", -1, -1, 0);
    X509_NAME_add_entry_by_txt(subj, "O", MBSTRING_ASC, (const unsigned char *)"Org", -1, -1, 0);
    X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_NAME_add_entry_by_txt(iss, "C", MBSTRING_ASC, (const unsigned char *)"PL", -1, -1, 0);
    X509_NAME_add_entry_by_txt(iss, "O", MBSTRING_ASC, (const unsigned char *)"Example CA", -1, -1,
                               0);
    X509_NAME_add_entry_by_txt(iss, "CN", MBSTRING_ASC, (const unsigned char *)"Root", -1, -1, 0);
    X509_set_subject_name(x, subj);
    X509_set_issuer_name(x, iss);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, test_key());
    if (gens != NULL) {
        cr_assert_eq(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_REPLACE), 1);
        GENERAL_NAMES_free(gens);
    }
    cr_assert_gt(X509_sign(x, test_key(), EVP_sha256()), 0);
    X509_NAME_free(subj);
    X509_NAME_free(iss);
    ASN1_INTEGER_free(sn);
    BN_free(bn);
    return x;
}

static void push_san(GENERAL_NAMES *gens, int type, const void *v, int len)
{
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_IA5STRING *s = ASN1_IA5STRING_new();

    cr_assert(g && s);
    ASN1_STRING_set(s, v, len < 0 ? (int)strlen(v) : len);
    GENERAL_NAME_set0_value(g, type, s);
    sk_GENERAL_NAME_push(gens, g);
}

static const unsigned char serial_1a2b[] = {0x1A, 0x2B};

/* An identity of a certificate with the SANs given, extras included as the runtime adds
 * them (always). */
static void make_identity(struct mtlb_identity *id, GENERAL_NAMES *gens, long verify,
                          enum mtlb_dn_format fmt)
{
    X509 *x = make_cert("name", serial_1a2b, 2, gens);

    cr_assert_eq(mtlb_identity_init(id, x, verify, fmt), 0);
    cr_assert_eq(mtlb_identity_add_extras(id, x, MTLB_IDENTITY_SAN), 0);
    X509_free(x);
}

static struct mtlb_require *compile_yaml(const char *yaml)
{
    struct mtlb_require_cfg cfg;
    struct mtlb_require *r = NULL;
    char err[256];

    cr_assert_eq(read_require_yaml(yaml, &cfg, err, sizeof(err)), 0, "%s: %s", yaml, err);
    cr_assert_eq(mtlb_require_compile(&cfg, &r), 0);
    mtlb_cfg_require_free(&cfg); /* the compiled policy owns its copies */
    return r;
}

/* The reason for id under the policy in yaml, "ok" when allowed. */
static const char *check(const char *yaml, const struct mtlb_identity *id)
{
    struct mtlb_require *r = compile_yaml(yaml);
    const char *why = mtlb_require_check(r, id);

    mtlb_require_free(r);
    return why != NULL ? why : "ok";
}

Test(require, verify_words_and_lists)
{
    struct mtlb_identity ok, bad, none;

    make_identity(&ok, NULL, X509_V_OK, MTLB_DN_SLASH);
    make_identity(&bad, NULL, X509_V_ERR_CERT_HAS_EXPIRED, MTLB_DN_SLASH);
    cr_assert_eq(mtlb_identity_init(&none, NULL, X509_V_OK, MTLB_DN_SLASH), 0);
    cr_assert_str_eq(check("{verify: SUCCESS}", &ok), "ok");
    cr_assert_str_eq(check("{verify: SUCCESS}", &bad), "verify");
    cr_assert_str_eq(check("{verify: SUCCESS}", &none), "verify");
    cr_assert_str_eq(check("{verify: [SUCCESS, NONE]}", &none), "ok");
    cr_assert_str_eq(check("{verify: [SUCCESS, NONE]}", &ok), "ok");
    cr_assert_str_eq(check("{verify: [SUCCESS, NONE]}", &bad), "verify");
    cr_assert_str_eq(check("{verify: [FAILED]}", &bad), "ok");
    cr_assert_str_eq(check("{verify: NONE}", &ok), "verify");
    mtlb_identity_fini(&ok);
    mtlb_identity_fini(&bad);
}

/* Without verify:, a condition on the certificate's fields accepts a verified certificate only:
 * a failed one's subject is whatever the client wrote. */
Test(require, certificate_conditions_imply_success_unless_verify_says_otherwise)
{
    struct mtlb_identity bad;
    char fp[128];

    make_identity(&bad, NULL, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, MTLB_DN_SLASH);
    cr_assert_str_eq(check("{subject: CN=name}", &bad), "verify");
    cr_assert_str_eq(check("{verify: [SUCCESS, FAILED], subject: CN=name}", &bad), "ok");
    snprintf(fp, sizeof(fp), "{fingerprints_sha256: [%s]}", bad.fingerprint);
    cr_assert_str_eq(check(fp, &bad), "verify");
    snprintf(fp, sizeof(fp), "{verify: [FAILED], fingerprints_sha256: [%s]}", bad.fingerprint);
    cr_assert_str_eq(check(fp, &bad), "ok", "pinning a self-signed certificate");
    mtlb_identity_fini(&bad);
}

Test(require, subject_regex_is_not_anchored_implicitly)
{
    struct mtlb_identity id;

    make_identity(&id, NULL, X509_V_OK, MTLB_DN_SLASH);
    cr_assert_str_eq(id.subject, "/C=PL/O=Org/CN=name");
    cr_assert_str_eq(check("{subject: CN=nam}", &id), "ok", "a match anywhere");
    cr_assert_str_eq(check("{subject: O=Org}", &id), "ok");
    cr_assert_str_eq(check("{subject: \"^/C=PL/O=Org/CN=name$\"}", &id), "ok");
    cr_assert_str_eq(check("{subject: \"^/C=PL/O=Org/CN=nam$\"}", &id), "subject");
    cr_assert_str_eq(check("{subject: \"^/O=Org\"}", &id), "subject");
    cr_assert_str_eq(check("{subject: \"^/C=PL/O=Org/CN=(name|other)$\"}", &id), "ok",
                     "extended syntax");
    cr_assert_str_eq(check("{subject: \"cn=name\"}", &id), "subject", "case-sensitive");
    cr_assert_str_eq(check("{subject: \"^/C=PL/O=Org/.*\"}", &id), "ok");
    cr_assert_str_eq(check("{subject: \"^/C=PL/O=Orgs/.*\"}", &id), "subject");
    mtlb_identity_fini(&id);
}

Test(require, issuer_regex_and_rfc2253_format)
{
    struct mtlb_identity id;

    make_identity(&id, NULL, X509_V_OK, MTLB_DN_RFC2253);
    cr_assert_str_eq(id.subject, "CN=name,O=Org,C=PL");
    cr_assert_str_eq(check("{subject: \"^CN=name,O=Org,C=PL$\"}", &id), "ok");
    cr_assert_str_eq(check("{subject: \"^/C=PL/O=Org/CN=name$\"}", &id), "subject");
    cr_assert_str_eq(check("{issuer: \"^CN=Root,O=Example CA,C=PL$\"}", &id), "ok");
    cr_assert_str_eq(check("{issuer: \"O=Other CA\"}", &id), "issuer");
    mtlb_identity_fini(&id);
    make_identity(&id, NULL, X509_V_OK, MTLB_DN_SLASH);
    cr_assert_str_eq(check("{issuer: \"^/C=PL/O=Example CA/CN=Root$\"}", &id), "ok");
    cr_assert_str_eq(check("{issuer: \"^CN=Root\"}", &id), "issuer");
    mtlb_identity_fini(&id);
}

Test(require, reasons_come_in_a_fixed_order)
{
    static const char all[] = "{verify: SUCCESS, subject: '^/CN=x$', issuer: '^/CN=x$', "
                              "san_dns: [x.example], fingerprints_sha256: ['%s'], serials: [%s]}";
    struct mtlb_identity id;
    char yaml[512], fp[65];

    make_identity(&id, NULL, X509_V_ERR_CERT_HAS_EXPIRED, MTLB_DN_SLASH);
    memset(fp, '0', 64);
    fp[64] = '\0';
    snprintf(yaml, sizeof(yaml), all, fp, "FF");
    cr_assert_str_eq(check(yaml, &id), "verify");
    id.verify = MTLB_VERIFY_SUCCESS;
    cr_assert_str_eq(check(yaml, &id), "subject");
    snprintf(yaml, sizeof(yaml),
             "{subject: CN=name, issuer: '^/CN=x$', san_dns: [x.example], "
             "fingerprints_sha256: ['%s'], serials: [FF]}",
             fp);
    cr_assert_str_eq(check(yaml, &id), "issuer");
    snprintf(yaml, sizeof(yaml),
             "{subject: CN=name, issuer: CN=Root, san_dns: [x.example], "
             "fingerprints_sha256: ['%s'], serials: [FF]}",
             fp);
    cr_assert_str_eq(check(yaml, &id), "san");
    snprintf(yaml, sizeof(yaml),
             "{subject: CN=name, issuer: CN=Root, fingerprints_sha256: ['%s'], serials: [FF]}", fp);
    cr_assert_str_eq(check(yaml, &id), "fingerprint");
    snprintf(yaml, sizeof(yaml),
             "{subject: CN=name, issuer: CN=Root, fingerprints_sha256: ['%s'], serials: [FF]}",
             id.fingerprint);
    cr_assert_str_eq(check(yaml, &id), "serial");
    snprintf(yaml, sizeof(yaml),
             "{subject: CN=name, issuer: CN=Root, fingerprints_sha256: ['%s'], serials: [1a2b]}",
             id.fingerprint);
    cr_assert_str_eq(check(yaml, &id), "ok");
    mtlb_identity_fini(&id);
}

Test(require, no_certificate_fails_every_certificate_condition)
{
    static const char *const cases[][2] = {
        {"{verify: [NONE, SUCCESS], subject: .*}", "subject"},
        {"{verify: [NONE, SUCCESS], issuer: .*}", "issuer"},
        {"{verify: [NONE, SUCCESS], san_dns: ['*.example']}", "san"},
        {"{verify: [NONE, SUCCESS], san_uri: [spiffe://x]}", "san"},
        {"{verify: [NONE, SUCCESS], san_email: [a@b]}", "san"},
        {"{verify: [NONE, SUCCESS], fingerprints_sha256: ['" /* 64 zeros */
         "0000000000000000000000000000000000000000000000000000000000000000']}",
         "fingerprint"},
        {"{verify: [NONE, SUCCESS], serials: ['0']}", "serial"},
        {"{subject: .*}", "verify"},
        {"{verify: NONE}", "ok"},
    };
    struct mtlb_identity none;

    cr_assert_eq(mtlb_identity_init(&none, NULL, X509_V_OK, MTLB_DN_SLASH), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_str_eq(check(cases[i][0], &none), cases[i][1], "%s", cases[i][0]);
    }
}

static void id_with_dns(struct mtlb_identity *id, const char *dns, int len)
{
    GENERAL_NAMES *gens = GENERAL_NAMES_new();

    push_san(gens, GEN_DNS, dns, len);
    make_identity(id, gens, X509_V_OK, MTLB_DN_SLASH);
}

Test(require, san_dns_exact_and_wildcard_edges)
{
    static const struct {
        const char *cert, *policy, *want;
    } cases[] = {
        {"a.example.com", "a.example.com", "ok"},
        {"A.Example.COM", "a.example.com", "ok"},
        {"a.example.com", "A.EXAMPLE.COM", "ok"},
        {"a.example.com", "b.example.com", "san"},
        {"a.example.com.", "a.example.com", "san"},
        {"a.example.com", "'*.example.com'", "ok"},
        {"X-1_y.EXAMPLE.com", "'*.example.com'", "ok"},
        {"example.com", "'*.example.com'", "san"},
        {".example.com", "'*.example.com'", "san"},
        {"a.b.example.com", "'*.example.com'", "san"},
        {"aexample.com", "'*.example.com'", "san"},
        {"*.example.com", "'*.example.com'", "san"},
        {"a.example.com.evil", "'*.example.com'", "san"},
        {"a.example.com, DNS:evil", "evil", "san"},
        {"a.example.com, DNS:evil", "a.example.com", "san"},
        {"evil\\, DNS:a.example.com", "a.example.com", "san"},
        {"evil\\x2C DNS:a.example.com", "a.example.com", "san"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mtlb_identity id;
        char yaml[256];
        id_with_dns(&id, cases[i].cert, -1);
        snprintf(yaml, sizeof(yaml), "{san_dns: [%s]}", cases[i].policy);
        cr_assert_str_eq(check(yaml, &id), cases[i].want, "%s vs %s (san %s)", cases[i].cert,
                         cases[i].policy, id.san);
        mtlb_identity_fini(&id);
    }
}

Test(require, san_with_nul_byte_is_not_a_shorter_name)
{
    static const char name[] = "a.example.com\0.evil.net";
    static const char label[] = "x\0.example.com";
    struct mtlb_identity id;

    id_with_dns(&id, name, (int)sizeof(name) - 1);
    cr_assert_str_eq(check("{san_dns: [a.example.com]}", &id), "san", "%s", id.san);
    cr_assert_str_eq(check("{san_dns: ['*.example.com']}", &id), "san");
    cr_assert_str_eq(check("{san_dns: ['*.evil.net']}", &id), "san");
    mtlb_identity_fini(&id);
    id_with_dns(&id, label, (int)sizeof(label) - 1);
    cr_assert_str_eq(check("{san_dns: ['*.example.com']}", &id), "san", "%s", id.san);
    mtlb_identity_fini(&id);
}

Test(require, san_types_do_not_mix_and_each_list_must_hold)
{
    GENERAL_NAMES *gens = GENERAL_NAMES_new();
    X509_NAME *dn = X509_NAME_new();
    GENERAL_NAME *g = GENERAL_NAME_new();
    struct mtlb_identity id;

    push_san(gens, GEN_DNS, "a.example.com", -1);
    push_san(gens, GEN_URI, "spiffe://td/ns/Orders", -1);
    push_san(gens, GEN_EMAIL, "Alice@Example.COM", -1);
    /* a directory name whose value reads like another entry once joined */
    X509_NAME_add_entry_by_txt(dn, "CN", MBSTRING_ASC, (const unsigned char *)"x, DNS:evil.com", -1,
                               -1, 0);
    GENERAL_NAME_set0_value(g, GEN_DIRNAME, dn);
    sk_GENERAL_NAME_push(gens, g);
    make_identity(&id, gens, X509_V_OK, MTLB_DN_SLASH);
    cr_assert_str_eq(check("{san_dns: [evil.com]}", &id), "san", "%s", id.san);
    cr_assert_str_eq(check("{san_uri: [spiffe://td/ns/Orders]}", &id), "ok");
    cr_assert_str_eq(check("{san_uri: [spiffe://td/ns/orders]}", &id), "san", "URIs are exact");
    cr_assert_str_eq(check("{san_uri: [a.example.com]}", &id), "san", "not a DNS name");
    cr_assert_str_eq(check("{san_dns: [spiffe://td/ns/Orders]}", &id), "san");
    cr_assert_str_eq(check("{san_email: [Alice@example.com]}", &id), "ok", "domain any case");
    cr_assert_str_eq(check("{san_email: [alice@example.com]}", &id), "san", "local part exact");
    cr_assert_str_eq(check("{san_dns: [a.example.com], san_uri: [spiffe://td/ns/Orders]}", &id),
                     "ok");
    cr_assert_str_eq(check("{san_dns: [a.example.com], san_uri: [spiffe://other]}", &id), "san",
                     "every present list must hold");
    cr_assert_str_eq(check("{san_dns: [b.example.com, a.example.com]}", &id), "ok", "any element");
    mtlb_identity_fini(&id);
}

Test(require, san_needs_the_extras_and_a_malformed_list_matches_nothing)
{
    struct mtlb_require *r = compile_yaml("{san_dns: [a.example.com]}");
    struct mtlb_identity id;
    X509 *x = make_cert("name", serial_1a2b, 2, NULL);
    char good[] = "DNS:a.example.com";
    char bad[] = "DNS:a.example.com\\";
    char cut[] = "DNS:a.example.co\\x6";

    cr_assert_eq(mtlb_identity_init(&id, x, X509_V_OK, MTLB_DN_SLASH), 0);
    cr_assert_str_eq(mtlb_require_check(r, &id), "san", "extras not added: no SANs to match");
    id.san = good;
    cr_assert_null(mtlb_require_check(r, &id));
    id.san = bad;
    cr_assert_str_eq(mtlb_require_check(r, &id), "san");
    id.san = cut;
    cr_assert_str_eq(mtlb_require_check(r, &id), "san");
    id.san = NULL;
    mtlb_identity_fini(&id);
    X509_free(x);
    mtlb_require_free(r);
}

Test(require, fingerprints_any_case_and_colons)
{
    struct mtlb_identity id;
    char upper[200], yaml[300];
    size_t n = 0;

    make_identity(&id, NULL, X509_V_OK, MTLB_DN_SLASH);
    for (size_t i = 0; i < 64; i++) {
        if (i > 0 && i % 2 == 0) {
            upper[n++] = ':';
        }
        char c = id.fingerprint[i];
        upper[n++] = c >= 'a' && c <= 'f' ? (char)(c - 'a' + 'A') : c;
    }
    upper[n] = '\0';
    snprintf(yaml, sizeof(yaml), "{fingerprints_sha256: ['%s']}", upper);
    cr_assert_str_eq(check(yaml, &id), "ok", "%s", yaml);
    snprintf(yaml, sizeof(yaml), "{fingerprints_sha256: [%s]}", id.fingerprint);
    cr_assert_str_eq(check(yaml, &id), "ok");
    upper[0] = upper[0] == '0' ? '1' : '0';
    snprintf(yaml, sizeof(yaml), "{fingerprints_sha256: ['%s']}", upper);
    cr_assert_str_eq(check(yaml, &id), "fingerprint");
    mtlb_identity_fini(&id);
}

/* The policy's serial, normalized by the config reader, against the identity's BN_bn2hex. */
Test(require, serials_normalize_like_the_identity)
{
    static const struct {
        unsigned char b[4];
        int len;
        const char *policy, *want;
    } cases[] = {
        {{0x0A}, 1, "a", "ok"},
        {{0x0A}, 1, "0A", "ok"},
        {{0x0A}, 1, "000a", "ok"},
        {{0x0A}, 1, "'0:a'", "ok"},
        {{0x0A}, 1, "0B", "serial"},
        {{0x01, 0x00}, 2, "100", "ok"},
        {{0x01, 0x00}, 2, "'01:00'", "ok"},
        {{0x01, 0x00}, 2, "10", "serial"},
        {{0x1A, 0x2B}, 2, "'1a:2B'", "ok"},
        {{0x00}, 1, "'00'", "ok"},
        {{0xFF, 0x01}, 2, "ff01", "ok"},
        {{0xFF, 0x01}, 2, "'00ff01'", "ok"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        X509 *x = make_cert("s", cases[i].b, cases[i].len, NULL);
        struct mtlb_identity id;
        char yaml[128];
        cr_assert_eq(mtlb_identity_init(&id, x, X509_V_OK, MTLB_DN_SLASH), 0);
        snprintf(yaml, sizeof(yaml), "{serials: [%s]}", cases[i].policy);
        cr_assert_str_eq(check(yaml, &id), cases[i].want, "%s vs identity %s", yaml, id.serial);
        mtlb_identity_fini(&id);
        X509_free(x);
    }
}

Test(require, compile_refuses_a_hand_made_bad_policy)
{
    char bad_re[] = "(";
    char short_fp[] = "abcd";
    char *fps[] = {short_fp};
    struct mtlb_require_cfg c = {.subject = bad_re};
    struct mtlb_require *r = (struct mtlb_require *)&c;

    cr_assert_eq(mtlb_require_compile(&c, &r), -EINVAL);
    cr_assert_null(r);
    c = (struct mtlb_require_cfg){.fingerprints = fps, .n_fingerprints = 1};
    cr_assert_eq(mtlb_require_compile(&c, &r), -EINVAL);
    c = (struct mtlb_require_cfg){.verify = 1u << MTLB_VERIFY_SUCCESS};
    cr_assert_eq(mtlb_require_compile(&c, &r), 0);
    mtlb_require_free(r);
    mtlb_require_free(NULL);
}

/* A hand-made SAN list longer than any the identity builds: an entry past the scratch buffer
 * matches nothing and the entries after it are still read. */
Test(require, overlong_san_entry_is_skipped)
{
    struct mtlb_require *r = compile_yaml("{san_dns: ['*.example.com']}");
    struct mtlb_identity id = {.verify = MTLB_VERIFY_SUCCESS};
    size_t n = MTLB_IDENTITY_SAN_MAX + 100;
    char *san = malloc(n + 64);

    cr_assert_not_null(san);
    memcpy(san, "DNS:", 4);
    memset(san + 4, 'a', n);
    strcpy(san + 4 + n, ".example.com");
    id.san = san;
    cr_assert_str_eq(mtlb_require_check(r, &id), "san");
    strcpy(san + 4 + n, ", DNS:b.example.com");
    cr_assert_null(mtlb_require_check(r, &id));
    free(san);
    mtlb_require_free(r);
}

#define Z16 "0000000000000000"
#define Z64 Z16 Z16 Z16 Z16

/* The index form (a counter's slot) names the same reason as the token form, for each. */
Test(require, eval_index_names_the_same_reason_as_check)
{
    static const char *const policies[] = {"{verify: NONE}",
                                           "{subject: \"^nobody$\"}",
                                           "{issuer: \"^nobody$\"}",
                                           "{san_dns: [x.y.z]}",
                                           "{fingerprints_sha256: [\"" Z64 "\"]}",
                                           "{serials: [\"FF\"]}",
                                           "{verify: SUCCESS}"};
    static const char *const names[] = {"verify", "subject",     "issuer",
                                        "san",    "fingerprint", "serial"};
    struct mtlb_identity ok;

    make_identity(&ok, NULL, X509_V_OK, MTLB_DN_SLASH);
    for (int i = 0; i < MTLB_REQUIRE_REASONS; i++) {
        cr_assert_str_eq(mtlb_require_reason_name((enum mtlb_require_reason)i), names[i]);
    }
    cr_assert_str_eq(mtlb_require_reason_name(MTLB_REQUIRE_REASONS), "");
    for (size_t p = 0; p < sizeof(policies) / sizeof(policies[0]); p++) {
        struct mtlb_require *r = compile_yaml(policies[p]);
        int why = mtlb_require_eval(r, &ok);
        const char *tok = mtlb_require_check(r, &ok);
        if (p < MTLB_REQUIRE_REASONS) {
            cr_assert_eq(why, (int)p, "%s: %d", policies[p], why);
            cr_assert_str_eq(tok, names[p]);
        } else {
            cr_assert_eq(why, -1);
            cr_assert_null(tok);
        }
        mtlb_require_free(r);
    }
    mtlb_identity_fini(&ok);
}
