/* lint: the truststore linter's rules, from hand-built certificate lists (dates at and around
 * each boundary, duplicates reported once and not checked again, a leaf that issued another,
 * an intermediate without its issuer but not a root or a pinned leaf, blocks that are not
 * certificates, an empty file), which findings are errors, their order and wording; and the
 * parser on PEM made in memory (a root, an intermediate it signed, a leaf, a key block, a
 * corrupted certificate, bad base64, a forged issuer name). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "mtlb/lint.h"

#define NOW 2000000000LL
#define DAY 86400LL

static struct mtlb_lint_cert cert(int entry, const char *cn, bool ca, bool self)
{
    struct mtlb_lint_cert c;
    memset(&c, 0, sizeof(c));
    c.entry = entry;
    snprintf(c.subject, sizeof(c.subject), "/CN=%s", cn);
    snprintf(c.issuer, sizeof(c.issuer), "/CN=%s", self ? cn : "issuer");
    c.not_before = NOW - 100 * DAY;
    c.not_after = NOW + 1000 * DAY;
    c.ca = ca;
    c.self_signed = self;
    c.client_auth = true;
    c.sha256[0] = (unsigned char)entry; /* distinct unless a test copies it */
    c.signer = -1;
    return c;
}

struct run {
    struct mtlb_lint_finding *f;
    size_t n;
    size_t errors;
};

static struct run check(struct mtlb_lint_cert *certs, size_t n, struct mtlb_lint_block *blocks,
                        size_t nb)
{
    struct mtlb_lint_list l = {certs, n, blocks, nb};
    struct run r = {0};
    cr_assert_eq(mtlb_lint_check(&l, NOW, &r.f, &r.n), 0);
    for (size_t i = 0; i < r.n; i++) {
        r.errors += r.f[i].error;
    }
    return r;
}

static char *text(struct mtlb_lint_cert *certs, size_t n, struct mtlb_lint_block *blocks, size_t nb,
                  const struct mtlb_lint_finding *f)
{
    static char buf[2048];
    struct mtlb_lint_list l = {certs, n, blocks, nb};
    return (char *)mtlb_lint_describe(&l, f, NOW, buf, sizeof(buf));
}

Test(lint, a_root_and_its_intermediate_are_clean)
{
    struct mtlb_lint_cert c[2] = {cert(1, "root", true, true), cert(2, "inter", true, false)};
    c[1].signer = 0;
    struct run r = check(c, 2, NULL, 0);
    cr_assert_eq(r.n, 0, "no finding");
    free(r.f);
}

Test(lint, validity_boundaries)
{
    struct mtlb_lint_cert c[6] = {
        cert(1, "expired", true, true),  cert(2, "ends-now", true, true),
        cert(3, "future", true, true),   cert(4, "starts-now", true, true),
        cert(5, "soon-30d", true, true), cert(6, "31d", true, true),
    };
    c[0].not_after = NOW - 1;
    c[1].not_after = NOW; /* valid through its notAfter second */
    c[2].not_before = NOW + 1;
    c[3].not_before = NOW;
    c[4].not_after = NOW + 30 * DAY;
    c[5].not_after = NOW + 31 * DAY;
    struct run r = check(c, 6, NULL, 0);
    cr_assert_eq(r.n, 4, "expired, ends-now (soon), future, soon-30d: %zu", r.n);
    cr_assert_eq(r.f[0].kind, MTLB_LINT_EXPIRED);
    cr_assert(r.f[0].error);
    cr_assert_eq(r.f[0].entry, 1);
    cr_assert_eq(r.f[1].kind, MTLB_LINT_EXPIRES_SOON);
    cr_assert_eq(r.f[1].entry, 2);
    cr_assert_not(r.f[1].error, "expiring soon is a warning");
    cr_assert_eq(r.f[2].kind, MTLB_LINT_NOT_YET_VALID);
    cr_assert(r.f[2].error);
    cr_assert_eq(r.f[3].kind, MTLB_LINT_EXPIRES_SOON);
    cr_assert_eq(r.f[3].entry, 5);
    cr_assert_eq(r.errors, 2);
    cr_assert_str_eq(text(c, 6, NULL, 0, &r.f[0]),
                     "error: entry 1 expired on 2033-05-18 03:33:19 UTC: /CN=expired");
    cr_assert_str_eq(text(c, 6, NULL, 0, &r.f[2]),
                     "error: entry 3 is not valid before 2033-05-18 03:33:21 UTC: /CN=future");
    cr_assert_str_eq(
        text(c, 6, NULL, 0, &r.f[3]),
        "warning: entry 5 expires in 30 days, on 2033-06-17 03:33:20 UTC: /CN=soon-30d");
    free(r.f);
}

Test(lint, a_duplicate_is_reported_once_and_not_checked_again)
{
    struct mtlb_lint_cert c[3] = {cert(1, "root", true, true), cert(2, "other", true, true),
                                  cert(3, "root", true, true)};
    c[0].not_after = NOW - 1;
    c[2] = c[0];
    c[2].entry = 3;
    struct run r = check(c, 3, NULL, 0);
    cr_assert_eq(r.n, 2, "one expiry (first copy), one duplicate");
    cr_assert_eq(r.f[0].kind, MTLB_LINT_EXPIRED);
    cr_assert_eq(r.f[1].kind, MTLB_LINT_DUPLICATE);
    cr_assert_eq(r.f[1].entry, 3);
    cr_assert_eq(r.f[1].other, 1);
    cr_assert_not(r.f[1].error, "a duplicate is a warning");
    cr_assert_str_eq(text(c, 3, NULL, 0, &r.f[1]), "warning: entry 3 duplicates entry 1: /CN=root");
    free(r.f);
}

Test(lint, a_leaf_that_issued_another_is_an_error)
{
    struct mtlb_lint_cert c[3] = {cert(1, "leaf", false, false), cert(2, "child", false, false),
                                  cert(3, "child2", false, false)};
    c[1].signer = 0;
    c[2].signer = 0;
    struct run r = check(c, 3, NULL, 0);
    cr_assert_eq(r.n, 1, "reported once for the issuer, naming the first it issued");
    cr_assert_eq(r.f[0].kind, MTLB_LINT_LEAF_ISSUER);
    cr_assert(r.f[0].error);
    cr_assert_eq(r.f[0].entry, 1);
    cr_assert_eq(r.f[0].other, 2);
    cr_assert(strstr(text(c, 3, NULL, 0, &r.f[0]),
                     "error: entry 1 is not a CA certificate (no CA:TRUE) but issued entry 2: "
                     "/CN=leaf") != NULL);
    free(r.f);
}

Test(lint, intermediate_without_issuer_is_a_warning_root_and_pinned_leaf_are_not)
{
    struct mtlb_lint_cert c[3] = {cert(1, "inter", true, false), cert(2, "root", true, true),
                                  cert(3, "pinned", false, false)};
    struct run r = check(c, 3, NULL, 0);
    cr_assert_eq(r.n, 1);
    cr_assert_eq(r.f[0].kind, MTLB_LINT_ISSUER_ABSENT);
    cr_assert_eq(r.f[0].entry, 1);
    cr_assert_not(r.f[0].error);
    cr_assert(strstr(text(c, 3, NULL, 0, &r.f[0]),
                     "warning: entry 1 is an intermediate CA whose issuer is not in the file: "
                     "/CN=inter (issuer /CN=issuer)") != NULL);
    free(r.f);
}

Test(lint, blocks_that_are_not_certificates_are_errors_in_file_order)
{
    struct mtlb_lint_cert c[2] = {cert(1, "root", true, true), cert(4, "late", true, true)};
    c[1].not_after = NOW - DAY;
    struct mtlb_lint_block b[3] = {
        {.entry = 2, .type = "PRIVATE KEY"},
        {.entry = 3, .type = "CERTIFICATE", .corrupt = true},
        {.entry = 5, .type = "", .corrupt = true},
    };
    struct run r = check(c, 2, b, 3);
    cr_assert_eq(r.n, 4);
    cr_assert_eq(r.errors, 4);
    cr_assert_str_eq(text(c, 2, b, 3, &r.f[0]),
                     "error: entry 2 is a PRIVATE KEY, not a certificate");
    cr_assert_str_eq(text(c, 2, b, 3, &r.f[1]),
                     "error: entry 3 is a corrupted certificate (its CERTIFICATE block does not "
                     "decode)");
    cr_assert_eq(r.f[2].kind, MTLB_LINT_EXPIRED, "entry 4 between the blocks");
    cr_assert_str_eq(text(c, 2, b, 3, &r.f[3]),
                     "error: entry 5 is not valid PEM (bad base64 or no END line)");
    free(r.f);
}

Test(lint, no_certificate_is_an_error)
{
    struct mtlb_lint_block b[1] = {{.entry = 1, .type = "PRIVATE KEY"}};
    struct run r = check(NULL, 0, NULL, 0);
    cr_assert_eq(r.n, 1);
    cr_assert_eq(r.f[0].kind, MTLB_LINT_NO_CERTIFICATE);
    cr_assert(r.f[0].error);
    cr_assert_str_eq(text(NULL, 0, NULL, 0, &r.f[0]), "error: the file holds no certificate");
    free(r.f);
    r = check(NULL, 0, b, 1);
    cr_assert_eq(r.n, 2, "the key block and the missing certificate");
    cr_assert_eq(r.f[0].kind, MTLB_LINT_NO_CERTIFICATE);
    cr_assert_eq(r.f[1].kind, MTLB_LINT_NOT_CERTIFICATE);
    free(r.f);
}

Test(lint, listing_line_escapes_quotes_in_names)
{
    struct mtlb_lint_cert c = cert(7, "a\"b\\c", false, false);
    char buf[2048];
    c.client_auth = false;
    cr_assert_str_eq(mtlb_lint_format_cert(&c, buf, sizeof(buf)),
                     "entry 7: leaf subject=\"/CN=a\\\"b\\\\c\" issuer=\"/CN=issuer\" "
                     "not_after=\"2036-02-12 03:33:20 UTC\" clientAuth=no");
    c = cert(1, "root", true, true);
    cr_assert(strstr(mtlb_lint_format_cert(&c, buf, sizeof(buf)), "entry 1: CA   subject=") == buf);
}

/* ---- the parser on certificates made here ---- */

static EVP_PKEY *key(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    cr_assert_not_null(k);
    return k;
}

/* A certificate for cn signed by (issuer_cn, signer); basicConstraints CA:TRUE when ca, an EKU
 * of clientAuth when eku. */
static X509 *make(const char *cn, EVP_PKEY *k, const char *issuer_cn, EVP_PKEY *signer, bool ca,
                  bool eku, long serial)
{
    X509 *x = X509_new();
    X509_NAME *subj = X509_NAME_new(), *iss = X509_NAME_new();
    X509V3_CTX v3;
    cr_assert(x && subj && iss);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_NAME_add_entry_by_txt(iss, "CN", MBSTRING_ASC, (const unsigned char *)issuer_cn, -1, -1,
                               0);
    X509_set_subject_name(x, subj);
    X509_set_issuer_name(x, iss);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 365 * 86400L);
    X509_set_pubkey(x, k);
    X509V3_set_ctx(&v3, NULL, x, NULL, NULL, 0);
    X509_EXTENSION *e =
        X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    if (eku) {
        e = X509V3_EXT_conf_nid(NULL, &v3, NID_ext_key_usage, "clientAuth");
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    cr_assert(X509_sign(x, signer, EVP_sha256()) > 0);
    X509_NAME_free(subj);
    X509_NAME_free(iss);
    return x;
}

static void append_cert(BIO *b, X509 *x)
{
    cr_assert_eq(PEM_write_bio_X509(b, x), 1);
}

Test(lint, parse_links_issuers_by_signature_and_names_every_block)
{
    EVP_PKEY *rk = key(), *ik = key(), *lk = key(), *fk = key();
    X509 *root = make("Root", rk, "Root", rk, true, false, 1);
    X509 *inter = make("Inter", ik, "Root", rk, true, false, 2);
    X509 *leaf = make("Leaf", lk, "Inter", ik, false, true, 3);
    /* Claims the root as issuer, but another key signed it. */
    X509 *forged = make("Forged", fk, "Root", fk, true, false, 4);
    X509 *noeku = make("NoEku", lk, "Inter", ik, false, false, 5);
    BIO *b = BIO_new(BIO_s_mem());
    append_cert(b, root);
    append_cert(b, inter);
    cr_assert_eq(PEM_write_bio_PrivateKey(b, lk, NULL, NULL, 0, NULL, NULL), 1);
    append_cert(b, leaf);
    BIO_puts(b,
             "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n");
    append_cert(b, forged);
    append_cert(b, root);
    append_cert(b, noeku);
    BIO_puts(b, "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n");
    char *pem = NULL;
    long len = BIO_get_mem_data(b, &pem);

    struct mtlb_lint_list l;
    cr_assert_eq(mtlb_lint_parse(pem, (size_t)len, &l), 0);
    cr_assert_eq(l.n_certs, 6, "root, inter, leaf, forged, root again, noeku");
    cr_assert_eq(l.n_blocks, 3, "key, corrupted, bad base64");
    cr_assert_eq(l.blocks[0].entry, 3);
    cr_assert_str_eq(l.blocks[0].type, "PRIVATE KEY");
    cr_assert_not(l.blocks[0].corrupt);
    cr_assert_eq(l.blocks[1].entry, 5);
    cr_assert(l.blocks[1].corrupt);
    cr_assert_str_eq(l.blocks[1].type, "CERTIFICATE");
    cr_assert_eq(l.blocks[2].entry, 9);
    cr_assert(l.blocks[2].corrupt);

    const struct mtlb_lint_cert *c = l.certs;
    cr_assert_str_eq(c[0].subject, "/CN=Root");
    cr_assert(c[0].ca && c[0].self_signed && c[0].client_auth, "a CA without EKU: unrestricted");
    cr_assert_eq(c[0].signer, -1, "a root is not its own signer, nor its copy's");
    cr_assert_eq(c[1].signer, 0, "inter by root");
    cr_assert_eq(c[1].entry, 2);
    cr_assert(c[1].ca && !c[1].self_signed);
    cr_assert_eq(c[2].entry, 4);
    cr_assert_eq(c[2].signer, 1, "leaf by inter");
    cr_assert(!c[2].ca && c[2].client_auth);
    cr_assert_eq(c[3].entry, 6);
    cr_assert_eq(c[3].signer, -1, "the name matches the root, the signature does not");
    cr_assert_not(c[3].self_signed, "issuer name differs from its subject");
    cr_assert_eq(c[4].entry, 7);
    cr_assert_eq(memcmp(c[4].sha256, c[0].sha256, 32), 0);
    cr_assert_eq(c[5].signer, 1);
    cr_assert_not(c[5].client_auth, "a leaf without EKU");
    cr_assert(c[2].not_after - c[2].not_before > 364 * DAY);

    struct mtlb_lint_finding *f = NULL;
    size_t n = 0;
    cr_assert_eq(mtlb_lint_check(&l, c[0].not_before + DAY, &f, &n), 0);
    /* key (3), corrupted (5), forged issuer absent (6), duplicate (7), bad PEM (9) */
    cr_assert_eq(n, 5, "%zu findings", n);
    cr_assert_eq(f[0].kind, MTLB_LINT_NOT_CERTIFICATE);
    cr_assert_eq(f[1].kind, MTLB_LINT_CORRUPT);
    cr_assert_eq(f[2].kind, MTLB_LINT_ISSUER_ABSENT);
    cr_assert_eq(f[2].entry, 6);
    cr_assert_eq(f[3].kind, MTLB_LINT_DUPLICATE);
    cr_assert_eq(f[3].other, 1);
    cr_assert_eq(f[4].kind, MTLB_LINT_CORRUPT);
    cr_assert_eq(f[4].entry, 9);
    free(f);
    mtlb_lint_list_fini(&l);
    BIO_free(b);
    X509_free(root);
    X509_free(inter);
    X509_free(leaf);
    X509_free(forged);
    X509_free(noeku);
    EVP_PKEY_free(rk);
    EVP_PKEY_free(ik);
    EVP_PKEY_free(lk);
    EVP_PKEY_free(fk);
}

Test(lint, parse_of_nothing_and_of_text_without_pem)
{
    struct mtlb_lint_list l;
    cr_assert_eq(mtlb_lint_parse("", 0, &l), 0);
    cr_assert_eq(l.n_certs + l.n_blocks, 0);
    mtlb_lint_list_fini(&l);
    const char *junk = "just some text\nno pem here\n";
    cr_assert_eq(mtlb_lint_parse(junk, strlen(junk), &l), 0);
    cr_assert_eq(l.n_certs + l.n_blocks, 0);
    mtlb_lint_list_fini(&l);
}
