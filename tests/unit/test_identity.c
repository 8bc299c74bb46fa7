/* Peer identity: DN formats, serial hex, verify words and header-safe escaping, on
 * certificates built in memory with the OpenSSL API. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "mtlb/identity.h"

static EVP_PKEY *test_key(void)
{
    static EVP_PKEY *key;

    if (key == NULL) {
        key = EVP_EC_gen("P-256");
        cr_assert_not_null(key);
    }
    return key;
}

static void name_add(X509_NAME *n, const char *field, int type, const char *value)
{
    cr_assert_eq(X509_NAME_add_entry_by_txt(n, field, type, (const unsigned char *)value,
                                            (int)strlen(value), -1, 0),
                 1, "add %s", field);
}

/* Certificate with subject C=PL/O=Org/CN=cn, issuer C=PL/O=Example CA/CN=Root and the given
 * big-endian serial bytes. */
static X509 *make_cert(const char *cn, const unsigned char *serial, int serial_len)
{
    X509 *x = X509_new();
    BIGNUM *bn = BN_bin2bn(serial, serial_len, NULL);
    ASN1_INTEGER *sn = BN_to_ASN1_INTEGER(bn, NULL);
    X509_NAME *subj = X509_NAME_new();
    X509_NAME *iss = X509_NAME_new();

    cr_assert(x && bn && sn && subj && iss);
    X509_set_version(x, X509_VERSION_3);
    X509_set_serialNumber(x, sn);
    name_add(subj, "C", MBSTRING_ASC, "PL");
    name_add(subj, "O", MBSTRING_ASC, "Org");
    name_add(subj, "CN", MBSTRING_UTF8, cn);
    name_add(iss, "C", MBSTRING_ASC, "PL");
    name_add(iss, "O", MBSTRING_ASC, "Example CA");
    name_add(iss, "CN", MBSTRING_ASC, "Root");
    X509_set_subject_name(x, subj);
    X509_set_issuer_name(x, iss);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, test_key());
    cr_assert_gt(X509_sign(x, test_key(), EVP_sha256()), 0);
    X509_NAME_free(subj);
    X509_NAME_free(iss);
    ASN1_INTEGER_free(sn);
    BN_free(bn);
    return x;
}

static const unsigned char serial_1a2b[] = {0x1A, 0x2B};

Test(identity, success_slash_format)
{
    X509 *x = make_cert("name", serial_1a2b, 2);
    struct mtlb_identity id;

    cr_assert_eq(mtlb_identity_init(&id, x, X509_V_OK, MTLB_DN_SLASH), 0);
    cr_assert_eq(id.verify, MTLB_VERIFY_SUCCESS);
    cr_assert_str_eq(mtlb_identity_verify_word(id.verify), "SUCCESS");
    cr_assert_str_eq(id.subject, "/C=PL/O=Org/CN=name");
    cr_assert_str_eq(id.issuer, "/C=PL/O=Example CA/CN=Root");
    cr_assert_str_eq(id.serial, "1A2B");
    cr_assert_null(id.reason);
    mtlb_identity_fini(&id);
    cr_assert_null(id.subject);
    X509_free(x);
}

Test(identity, success_rfc2253_format)
{
    X509 *x = make_cert("name, Jr.", serial_1a2b, 2);
    struct mtlb_identity id;

    cr_assert_eq(mtlb_identity_init(&id, x, X509_V_OK, MTLB_DN_RFC2253), 0);
    cr_assert_str_eq(id.subject, "CN=name\\, Jr.,O=Org,C=PL");
    cr_assert_str_eq(id.issuer, "CN=Root,O=Example CA,C=PL");
    mtlb_identity_fini(&id);
    X509_free(x);
}

Test(identity, serial_forms)
{
    static const unsigned char zero[] = {0};
    static const unsigned char small[] = {0x0A};
    static const unsigned char big[20] = {0x7F, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
                                          0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D,
                                          0x0E, 0x0F, 0xA0, 0xB1, 0xC2, 0xFF};
    struct {
        const unsigned char *b;
        int len;
        const char *want;
    } cases[] = {
        {zero, 1, "0"},
        {small, 1, "0A"},
        {big, 20, "7F0102030405060708090A0B0C0D0E0FA0B1C2FF"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        X509 *x = make_cert("s", cases[i].b, cases[i].len);
        struct mtlb_identity id;
        cr_assert_eq(mtlb_identity_init(&id, x, X509_V_OK, MTLB_DN_SLASH), 0);
        cr_assert_str_eq(id.serial, cases[i].want);
        mtlb_identity_fini(&id);
        X509_free(x);
    }
}

Test(identity, no_certificate_is_none)
{
    struct mtlb_identity id;

    memset(&id, 0xA5, sizeof(id));
    cr_assert_eq(mtlb_identity_init(&id, NULL, X509_V_OK, MTLB_DN_SLASH), 0);
    cr_assert_eq(id.verify, MTLB_VERIFY_NONE);
    cr_assert_str_eq(mtlb_identity_verify_word(id.verify), "NONE");
    cr_assert_null(id.subject);
    cr_assert_null(id.issuer);
    cr_assert_null(id.serial);
    cr_assert_null(id.reason);
    mtlb_identity_fini(&id);
}

Test(identity, failed_carries_reason)
{
    X509 *x = make_cert("name", serial_1a2b, 2);
    struct mtlb_identity id;

    cr_assert_eq(mtlb_identity_init(&id, x, X509_V_ERR_CERT_HAS_EXPIRED, MTLB_DN_SLASH), 0);
    cr_assert_eq(id.verify, MTLB_VERIFY_FAILED);
    cr_assert_str_eq(mtlb_identity_verify_word(id.verify), "FAILED");
    cr_assert_str_eq(id.reason, "certificate has expired");
    cr_assert_str_eq(id.subject, "/C=PL/O=Org/CN=name");
    mtlb_identity_fini(&id);

    cr_assert_eq(
        mtlb_identity_init(&id, x, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, MTLB_DN_RFC2253),
        0);
    cr_assert_str_eq(id.reason, "unable to get local issuer certificate");
    mtlb_identity_fini(&id);
    X509_free(x);
}

Test(identity, crlf_in_subject_is_escaped)
{
    X509 *x = make_cert("evil\r\nX-Injected: 1", serial_1a2b, 2);
    struct mtlb_identity id;

    cr_assert_eq(mtlb_identity_init(&id, x, X509_V_OK, MTLB_DN_SLASH), 0);
    cr_assert_str_eq(id.subject, "/C=PL/O=Org/CN=evil\\x0D\\x0AX-Injected: 1");
    mtlb_identity_fini(&id);

    cr_assert_eq(mtlb_identity_init(&id, x, X509_V_OK, MTLB_DN_RFC2253), 0);
    cr_assert_str_eq(id.subject, "CN=evil\\0D\\0AX-Injected: 1,O=Org,C=PL");
    mtlb_identity_fini(&id);
    X509_free(x);
}

Test(identity, non_ascii_is_escaped_as_utf8_bytes)
{
    X509 *x = make_cert("Zb\xC3\xB3r", serial_1a2b, 2); /* "Zbór" */
    struct mtlb_identity id;

    cr_assert_eq(mtlb_identity_init(&id, x, X509_V_OK, MTLB_DN_SLASH), 0);
    cr_assert_str_eq(id.subject, "/C=PL/O=Org/CN=Zb\\xC3\\xB3r");
    mtlb_identity_fini(&id);
    X509_free(x);
}

static void assert_header_safe(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        cr_assert(*p >= 0x20 && *p < 0x7F, "unsafe byte 0x%02X in \"%s\"", *p, s);
    }
}

/* Every byte value in a Latin-1 (T61) string value: both formats stay printable ASCII. */
Test(identity, every_byte_value_comes_out_safe)
{
    unsigned char all[255];
    X509_NAME *n = X509_NAME_new();
    char buf[4096];

    for (int i = 0; i < 255; i++) {
        all[i] = (unsigned char)(i + 1);
    }
    cr_assert_eq(X509_NAME_add_entry_by_txt(n, "CN", V_ASN1_T61STRING, all, sizeof(all), -1, 0), 1);
    size_t len = mtlb_identity_format_dn(n, MTLB_DN_SLASH, buf, sizeof(buf));
    cr_assert_eq(len, strlen(buf));
    cr_assert_gt(len, 255);
    assert_header_safe(buf);
    len = mtlb_identity_format_dn(n, MTLB_DN_RFC2253, buf, sizeof(buf));
    cr_assert_eq(len, strlen(buf));
    cr_assert_gt(len, 255);
    assert_header_safe(buf);
    X509_NAME_free(n);
}

Test(identity, format_dn_truncates_without_splitting_escapes)
{
    X509_NAME *n = X509_NAME_new();
    char buf[16];

    name_add(n, "CN", MBSTRING_UTF8, "abcdefgh\r\n");
    /* "/CN=abcdefgh" is 12 bytes; "\x0D" would need 4 more plus the NUL. */
    size_t len = mtlb_identity_format_dn(n, MTLB_DN_SLASH, buf, sizeof(buf));
    cr_assert_eq(len, 12);
    cr_assert_str_eq(buf, "/CN=abcdefgh");
    len = mtlb_identity_format_dn(n, MTLB_DN_SLASH, buf, 5);
    cr_assert_eq(len, 4);
    cr_assert_str_eq(buf, "/CN=");
    cr_assert_eq(mtlb_identity_format_dn(n, MTLB_DN_SLASH, buf, 0), 0);
    len = mtlb_identity_format_dn(NULL, MTLB_DN_SLASH, buf, sizeof(buf));
    cr_assert_eq(len, 0);
    cr_assert_str_eq(buf, "");
    X509_NAME_free(n);
}

Test(identity, unknown_attribute_uses_dotted_oid)
{
    X509_NAME *n = X509_NAME_new();
    char buf[128];

    name_add(n, "1.2.3.4.5", MBSTRING_ASC, "v");
    mtlb_identity_format_dn(n, MTLB_DN_SLASH, buf, sizeof(buf));
    cr_assert_str_eq(buf, "/1.2.3.4.5=v");
    X509_NAME_free(n);
}

Test(identity, verify_words)
{
    cr_assert_str_eq(mtlb_identity_verify_word(MTLB_VERIFY_NONE), "NONE");
    cr_assert_str_eq(mtlb_identity_verify_word(MTLB_VERIFY_SUCCESS), "SUCCESS");
    cr_assert_str_eq(mtlb_identity_verify_word(MTLB_VERIFY_FAILED), "FAILED");
}

/* A CA that lets the subject choose its CN must not let "mallory/CN=admin" read as two
 * attributes: '/', '=' and '\' inside a value are escaped in the slash format, so a literal
 * "\x0D" cannot pass for an escaped byte either. */
Test(identity, slash_format_escapes_separators_in_values)
{
    static const struct {
        const char *cn, *want;
    } cases[] = {
        {"mallory/CN=admin", "/CN=mallory\\/CN\\=admin"},
        {"a\\b", "/CN=a\\\\b"},
        {"\\x0D", "/CN=\\\\x0D"},
        {"x=y", "/CN=x\\=y"},
        {"plain, +\"<>;#", "/CN=plain, +\"<>;#"},
    };
    char buf[256];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        X509_NAME *n = X509_NAME_new();
        name_add(n, "CN", MBSTRING_UTF8, cases[i].cn);
        mtlb_identity_format_dn(n, MTLB_DN_SLASH, buf, sizeof(buf));
        cr_expect_str_eq(buf, cases[i].want, "CN \"%s\"", cases[i].cn);
        X509_NAME_free(n);
    }
}

/* RFC 2253 escaping of the specials, leading '#' and spaces, trailing space; '/' and '=' need
 * none there. */
Test(identity, rfc2253_escapes_specials)
{
    static const struct {
        const char *cn, *want;
    } cases[] = {
        {"mallory/CN=admin", "CN=mallory/CN=admin"},
        {"a,b+c\"d\\e<f>g;h", "CN=a\\,b\\+c\\\"d\\\\e\\<f\\>g\\;h"},
        {"#lead", "CN=\\#lead"},
        {" both ", "CN=\\ both\\ "},
        {"x=y", "CN=x=y"},
    };
    char buf[256];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        X509_NAME *n = X509_NAME_new();
        name_add(n, "CN", MBSTRING_UTF8, cases[i].cn);
        mtlb_identity_format_dn(n, MTLB_DN_RFC2253, buf, sizeof(buf));
        cr_expect_str_eq(buf, cases[i].want, "CN \"%s\"", cases[i].cn);
        X509_NAME_free(n);
    }
}

#define LONG_OID                                                                                   \
    "1.3.6.1.4.1.99999.1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.21.22.23.24.25.26.27."   \
    "28.29.30"

/* An attribute type OpenSSL does not know is written as its whole dotted OID (OpenSSL's own
 * printers cut it at 79 characters), its value as text (slash) or #hex DER (RFC 2253). */
Test(identity, unknown_long_oid_is_complete)
{
    X509_NAME *n = X509_NAME_new();
    char buf[512];

    cr_assert_gt(strlen(LONG_OID), 79);
    name_add(n, "CN", MBSTRING_ASC, "a");
    name_add(n, LONG_OID, MBSTRING_UTF8, "v/w");
    mtlb_identity_format_dn(n, MTLB_DN_SLASH, buf, sizeof(buf));
    cr_assert_str_eq(buf, "/CN=a/" LONG_OID "=v\\/w");
    mtlb_identity_format_dn(n, MTLB_DN_RFC2253, buf, sizeof(buf));
    cr_assert_str_eq(buf, LONG_OID "=#0C03762F77,CN=a");
    X509_NAME_free(n);
}

/* For every name OpenSSL prints in full, the RFC 2253 output is exactly X509_NAME_print_ex's:
 * multi-valued RDNs, specials, non-ASCII, a short unknown OID. */
Test(identity, rfc2253_matches_openssl_printer)
{
    X509_NAME *n = X509_NAME_new();
    char buf[512];

    name_add(n, "C", MBSTRING_ASC, "PL");
    name_add(n, "O", MBSTRING_UTF8, "Zb\xC3\xB3r, \"Sp\" <x>");
    cr_assert_eq(
        X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_ASC, (const unsigned char *)"u1", -1, -1, 0),
        1);
    cr_assert_eq(
        X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_ASC, (const unsigned char *)"u2", -1, -1, -1),
        1); /* same RDN as u1 */
    name_add(n, "1.2.3.4", MBSTRING_ASC, "x");
    name_add(n, "CN", MBSTRING_UTF8, " #name; \\ ");
    BIO *bio = BIO_new(BIO_s_mem());
    cr_assert_geq(X509_NAME_print_ex(bio, n, 0, XN_FLAG_RFC2253), 0);
    char *want = NULL;
    long len = BIO_get_mem_data(bio, &want);
    mtlb_identity_format_dn(n, MTLB_DN_RFC2253, buf, sizeof(buf));
    cr_assert_eq(strlen(buf), (size_t)len, "ours: %s\nopenssl: %.*s", buf, (int)len, want);
    cr_assert_eq(memcmp(buf, want, (size_t)len), 0, "ours: %s\nopenssl: %.*s", buf, (int)len, want);
    cr_assert_not_null(strstr(buf, "+"), "multi-valued RDN joined with '+': %s", buf);
    BIO_free(bio);
    X509_NAME_free(n);
}

/* The fingerprint is the SHA-256 of the leaf's DER, in lower-case hex, computed here from the
 * DER independently of X509_digest; empty without a certificate. x509_error keeps the code. */
Test(identity, fingerprint_is_sha256_of_the_der)
{
    X509 *x = make_cert("fp", serial_1a2b, 2);
    unsigned char *der = NULL;
    int der_len = i2d_X509(x, &der);
    unsigned char md[32];
    unsigned int md_len = 0;
    char want[65];
    struct mtlb_identity id;

    cr_assert_gt(der_len, 0);
    cr_assert_eq(EVP_Digest(der, (size_t)der_len, md, &md_len, EVP_sha256(), NULL), 1);
    for (unsigned int i = 0; i < md_len; i++) {
        snprintf(want + 2 * i, 3, "%02x", md[i]);
    }
    cr_assert_eq(mtlb_identity_init(&id, x, X509_V_ERR_CERT_REVOKED, MTLB_DN_SLASH), 0);
    cr_assert_str_eq(id.fingerprint, want);
    cr_assert_eq(id.x509_error, X509_V_ERR_CERT_REVOKED);
    mtlb_identity_fini(&id);
    cr_assert_eq(mtlb_identity_init(&id, NULL, X509_V_OK, MTLB_DN_SLASH), 0);
    cr_assert_str_eq(id.fingerprint, "");
    cr_assert_eq(id.x509_error, X509_V_OK);
    OPENSSL_free(der);
    X509_free(x);
}

/* ---- opt-in extras: URL-encoded PEM and the SAN list ---- */

Test(identity, percent_encode_keeps_only_unreserved)
{
    char out[64];
    const char in[] = "AZaz09-._~ +/=\n%\xff";

    cr_assert_eq(mtlb_identity_percent_encode(in, sizeof(in) - 1, out, sizeof(out)), 31);
    cr_assert_str_eq(out, "AZaz09-._~%20%2B%2F%3D%0A%25%FF");
    /* truncation never splits a %HH unit, and the full length is still returned */
    cr_assert_eq(mtlb_identity_percent_encode("a+b", 3, out, 4), 5);
    cr_assert_str_eq(out, "a");
    cr_assert_eq(mtlb_identity_percent_encode("a+b", 3, out, 5), 5);
    cr_assert_str_eq(out, "a%2B");
    cr_assert_eq(mtlb_identity_percent_encode("a+b", 3, NULL, 0), 5);
}

static void add_san(X509 *x, GENERAL_NAMES *gens)
{
    cr_assert_eq(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_REPLACE), 1);
    GENERAL_NAMES_free(gens);
}

static void push_str(GENERAL_NAMES *gens, int type, const void *v, int len)
{
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_STRING *s = type == GEN_IPADD ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();

    cr_assert(g && s);
    ASN1_STRING_set(s, v, len);
    GENERAL_NAME_set0_value(g, type, s);
    sk_GENERAL_NAME_push(gens, g);
}

Test(identity, extras_cert_is_url_encoded_pem)
{
    X509 *x = make_cert("name", serial_1a2b, 2);
    struct mtlb_identity id;
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL;
    char want[8192];

    cr_assert_eq(PEM_write_bio_X509(bio, x), 1);
    long n = BIO_get_mem_data(bio, &pem);
    mtlb_identity_percent_encode(pem, (size_t)n, want, sizeof(want));
    cr_assert_eq(mtlb_identity_init(&id, x, X509_V_OK, MTLB_DN_SLASH), 0);
    cr_assert_eq(mtlb_identity_add_extras(&id, x, MTLB_IDENTITY_CERT), 0);
    cr_assert_str_eq(id.cert_escaped, want);
    cr_assert_eq(strncmp(id.cert_escaped, "-----BEGIN%20CERTIFICATE-----%0A", 32), 0);
    cr_assert_not_null(strstr(id.cert_escaped, "-----END%20CERTIFICATE-----%0A"));
    cr_assert_null(id.san, "not asked for");
    cr_assert_eq(id.oversize, 0);
    mtlb_identity_fini(&id);
    cr_assert_null(id.cert_escaped);
    BIO_free(bio);
    X509_free(x);
}

Test(identity, extras_san_list_is_escaped_and_typed)
{
    X509 *x = make_cert("name", serial_1a2b, 2);
    GENERAL_NAMES *gens = GENERAL_NAMES_new();
    static const unsigned char v4[] = {10, 0, 0, 1};
    static const unsigned char v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    struct mtlb_identity id;

    push_str(gens, GEN_DNS, "a.example", 9);
    push_str(gens, GEN_URI, "spiffe://td/ns/x", 16);
    push_str(gens, GEN_EMAIL, "x@y.example", 11);
    push_str(gens, GEN_IPADD, v4, 4);
    push_str(gens, GEN_IPADD, v6, 16);
    push_str(gens, GEN_DNS, "evil, DNS:admin\r\nX: \\", 21);
    add_san(x, gens);
    cr_assert_eq(mtlb_identity_init(&id, x, X509_V_OK, MTLB_DN_SLASH), 0);
    cr_assert_eq(mtlb_identity_add_extras(&id, x, MTLB_IDENTITY_SAN), 0);
    cr_assert_str_eq(id.san, "DNS:a.example, URI:spiffe://td/ns/x, email:x@y.example, "
                             "IP:10.0.0.1, IP:2001:db8::1, DNS:evil\\, DNS:admin\\x0D\\x0AX: \\\\");
    cr_assert_null(id.cert_escaped, "not asked for");
    mtlb_identity_fini(&id);
    X509_free(x);
}

Test(identity, extras_absent_without_san_or_certificate)
{
    X509 *x = make_cert("name", serial_1a2b, 2);
    struct mtlb_identity id;

    cr_assert_eq(mtlb_identity_init(&id, x, X509_V_OK, MTLB_DN_SLASH), 0);
    cr_assert_eq(mtlb_identity_add_extras(&id, x, MTLB_IDENTITY_SAN | MTLB_IDENTITY_CERT), 0);
    cr_assert_null(id.san);
    cr_assert_not_null(id.cert_escaped);
    mtlb_identity_fini(&id);
    cr_assert_eq(mtlb_identity_init(&id, NULL, X509_V_OK, MTLB_DN_SLASH), 0);
    cr_assert_eq(mtlb_identity_add_extras(&id, NULL, MTLB_IDENTITY_SAN | MTLB_IDENTITY_CERT), 0);
    cr_assert_null(id.san);
    cr_assert_null(id.cert_escaped);
    mtlb_identity_fini(&id);
    X509_free(x);
}

/* Over the limit: left out whole, and said so, never cut. */
Test(identity, extras_oversize_left_out)
{
    X509 *x = make_cert("name", serial_1a2b, 2);
    GENERAL_NAMES *gens = GENERAL_NAMES_new();
    char dns[200];
    struct mtlb_identity id;

    memset(dns, 'a', sizeof(dns));
    for (int i = 0; i < 100; i++) { /* ~20 KiB of names: over both limits */
        push_str(gens, GEN_DNS, dns, sizeof(dns));
    }
    add_san(x, gens);
    cr_assert_eq(mtlb_identity_init(&id, x, X509_V_OK, MTLB_DN_SLASH), 0);
    cr_assert_eq(mtlb_identity_add_extras(&id, x, MTLB_IDENTITY_SAN | MTLB_IDENTITY_CERT), 0);
    cr_assert_null(id.san);
    cr_assert_null(id.cert_escaped);
    cr_assert_eq(id.oversize, MTLB_IDENTITY_SAN | MTLB_IDENTITY_CERT);
    mtlb_identity_fini(&id);
    cr_assert_eq(id.oversize, 0);
    X509_free(x);
}
