/* kTLS key derivation: the TLS 1.3 receive key mtlb installs itself must be the key the
 * client really encrypts with. Checked without a kernel: a real OpenSSL client writes a
 * record over an in-memory handshake, and the key and IV derived from the traffic secret
 * (as the keylog callback sees it) must decrypt it. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "mtlb/ktls.h"

static unsigned char secret[64];
static size_t secret_len;

static void keylog(const SSL *ssl, const char *line)
{
    (void)ssl;
    if (strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) != 0) {
        return;
    }
    const char *hex = strrchr(line, ' ') + 1;
    secret_len = strlen(hex) / 2;
    for (size_t i = 0; i < secret_len; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        secret[i] = (unsigned char)v;
    }
}

static const char *pki(const char *rel, char *buf, size_t cap)
{
    const char *dir = getenv("MTLB_PKI");
    cr_assert_not_null(dir, "MTLB_PKI must point at the test PKI");
    snprintf(buf, cap, "%s/%s", dir, rel);
    return buf;
}

static void handshake(SSL *c, SSL *s)
{
    for (int i = 0; i < 100; i++) {
        int rc = SSL_do_handshake(c);
        int rs = SSL_do_handshake(s);
        if (rc == 1 && rs == 1) {
            return;
        }
    }
    cr_assert_fail("in-memory handshake did not finish");
}

struct suite {
    char name[40]; /* an array, not a pointer: parameters are copied into another process */
    int id;
};

ParameterizedTestParameters(ktls, tls13_receive_key_decrypts_client_record)
{
    static struct suite suites[] = {
        {"TLS_AES_128_GCM_SHA256", 0x1301},
        {"TLS_AES_256_GCM_SHA384", 0x1302},
        {"TLS_CHACHA20_POLY1305_SHA256", 0x1303},
    };
    return cr_make_param_array(struct suite, suites, 3);
}

ParameterizedTest(struct suite *su, ktls, tls13_receive_key_decrypts_client_record)
{
    char a[512], b[512];
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    cr_assert(SSL_CTX_use_certificate_chain_file(sctx, pki("server/api.crt", a, sizeof(a))));
    cr_assert(
        SSL_CTX_use_PrivateKey_file(sctx, pki("server/api.key", b, sizeof(b)), SSL_FILETYPE_PEM));
    SSL_CTX_set_keylog_callback(sctx, keylog);
    SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION);
    cr_assert(SSL_CTX_set_ciphersuites(cctx, su->name));
    SSL *s = SSL_new(sctx), *c = SSL_new(cctx);
    BIO *sb, *cb;
    cr_assert(BIO_new_bio_pair(&sb, 0, &cb, 0));
    SSL_set_bio(s, sb, sb);
    SSL_set_bio(c, cb, cb);
    SSL_set_accept_state(s);
    SSL_set_connect_state(c);
    secret_len = 0;
    handshake(c, s);
    cr_assert_gt(secret_len, 0, "keylog gave no client traffic secret");

    unsigned char key[32], iv[12];
    size_t klen = 0;
    cr_assert_eq(mtlb_ktls_tls13_keys(s, secret, secret_len, key, &klen, iv), su->id);

    /* The client's first application record; nothing else is in flight client->server. */
    cr_assert_eq(SSL_write(c, "hello", 5), 5);
    unsigned char rec[256];
    int n = BIO_read(sb, rec, sizeof(rec));
    cr_assert_gt(n, 5 + 16, "no record from the client");
    cr_assert_eq(rec[0], 23, "outer type must be application_data");
    size_t clen = (size_t)((rec[3] << 8) | rec[4]);
    cr_assert_eq((size_t)n, 5 + clen, "exactly one record expected");

    const EVP_CIPHER *ciph = su->id == 0x1301   ? EVP_aes_128_gcm()
                             : su->id == 0x1302 ? EVP_aes_256_gcm()
                                                : EVP_chacha20_poly1305();
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    unsigned char out[256];
    int len = 0, fin = 0;
    cr_assert(EVP_DecryptInit_ex(x, ciph, NULL, NULL, NULL));
    cr_assert(EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL));
    /* sequence 0: the nonce is the IV itself */
    cr_assert(EVP_DecryptInit_ex(x, NULL, NULL, key, iv));
    cr_assert(EVP_DecryptUpdate(x, NULL, &len, rec, 5));
    cr_assert(EVP_DecryptUpdate(x, out, &len, rec + 5, (int)clen - 16));
    cr_assert(EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, 16, rec + 5 + clen - 16));
    cr_assert_eq(EVP_DecryptFinal_ex(x, out + len, &fin), 1,
                 "derived key/iv do not authenticate the client's record");
    cr_assert_geq(len + fin, 6);
    cr_assert_eq(memcmp(out, "hello", 5), 0);
    cr_assert_eq(out[5], 23, "inner content type must be application_data");
    EVP_CIPHER_CTX_free(x);
    SSL_free(s);
    SSL_free(c);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
}

Test(ktls, tls12_is_not_derived)
{
    unsigned char key[32], iv[12], sec[32] = {0};
    size_t klen;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    SSL *s = SSL_new(ctx);
    /* No handshake, no TLS 1.3 suite: nothing to derive. */
    cr_assert_lt(mtlb_ktls_tls13_keys(s, sec, sizeof(sec), key, &klen, iv), 0);
    SSL_free(s);
    SSL_CTX_free(ctx);
}

Test(ktls, transport_names)
{
    cr_assert_str_eq(mtlb_transport_name(MTLB_TRANSPORT_KTLS), "ktls");
    cr_assert_str_eq(mtlb_transport_name(MTLB_TRANSPORT_KTLS_TX), "ktls-tx");
    cr_assert_str_eq(mtlb_transport_name(MTLB_TRANSPORT_USERSPACE), "userspace");
}

Test(ktls, probe_reports_and_explains)
{
    char why[128] = "";
    int rc = mtlb_ktls_probe(why, sizeof(why));
    cr_assert(rc == 0 || rc < 0);
    cr_assert_neq(why[0], '\0', "the probe must always say why");
}

/* Control records on a kTLS connection without an SSL (ktls_control.c). */
struct ctl_case {
    char name[32];
    unsigned type;
    unsigned char body[4];
    size_t n;
    enum mtlb_ktls_ctl want;
    unsigned char alert; /* for MTLB_KTLS_UNEXPECTED */
};

ParameterizedTestParameters(ktls, control_records_are_classified)
{
    static struct ctl_case cs[] = {
        {"application_data", 23, {'G', 'E', 'T'}, 3, MTLB_KTLS_DATA, 0},
        {"close_notify", 21, {1, 0}, 2, MTLB_KTLS_PEER_CLOSED, 0},
        {"user_canceled", 21, {1, 90}, 2, MTLB_KTLS_PEER_CLOSED, 0},
        {"fatal_bad_record_mac", 21, {2, 20}, 2, MTLB_KTLS_PEER_ALERT, 0},
        {"fatal_close_notify", 21, {2, 0}, 2, MTLB_KTLS_PEER_ALERT, 0},
        {"alert_too_short", 21, {1}, 1, MTLB_KTLS_UNEXPECTED, 50},
        {"alert_too_long", 21, {1, 0, 1, 0}, 4, MTLB_KTLS_UNEXPECTED, 50},
        {"alert_bad_level", 21, {3, 0}, 2, MTLB_KTLS_UNEXPECTED, 50},
        {"key_update", 22, {24, 0, 0, 1}, 4, MTLB_KTLS_KEY_UPDATE, 0},
        {"renegotiating_client_hello", 22, {1, 0, 1, 0}, 4, MTLB_KTLS_UNEXPECTED, 10},
        {"post_handshake_certificate", 22, {11, 0, 0, 0}, 4, MTLB_KTLS_UNEXPECTED, 10},
        {"empty_handshake", 22, {0}, 0, MTLB_KTLS_UNEXPECTED, 10},
        {"change_cipher_spec", 20, {1}, 1, MTLB_KTLS_UNEXPECTED, 10},
        {"heartbeat", 24, {1, 0, 0}, 3, MTLB_KTLS_UNEXPECTED, 10},
    };
    return cr_make_param_array(struct ctl_case, cs, sizeof(cs) / sizeof(cs[0]));
}

ParameterizedTest(struct ctl_case *k, ktls, control_records_are_classified)
{
    unsigned char alert = 0xff;
    enum mtlb_ktls_ctl got = mtlb_ktls_classify(k->type, k->body, k->n, &alert);
    cr_assert_eq(got, k->want, "%s: got %d, want %d", k->name, (int)got, (int)k->want);
    if (k->want == MTLB_KTLS_UNEXPECTED) {
        cr_assert_eq(alert, k->alert, "%s: alert %u, want %u", k->name, alert, k->alert);
    }
}

/* Without a kernel TLS socket the record-type control message has no effect on TCP, which
 * lets the two alert bytes be seen as sent: level, then description, nothing else. */
Test(ktls, send_alert_writes_level_and_description)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(l >= 0 && c >= 0);
    cr_assert_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(l, 1), 0);
    cr_assert_eq(getsockname(l, (struct sockaddr *)&a, &alen), 0);
    cr_assert_eq(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
    int s = accept(l, NULL, NULL);
    cr_assert(s >= 0);
    cr_assert_eq(mtlb_ktls_send_alert(s, MTLB_TLS_ALERT_FATAL, MTLB_TLS_ALERT_UNEXPECTED_MESSAGE),
                 0);
    shutdown(s, SHUT_WR);
    unsigned char got[8];
    size_t n = 0;
    ssize_t r;
    while ((r = recv(c, got + n, sizeof(got) - n, 0)) > 0) {
        n += (size_t)r;
    }
    cr_assert_eq(n, 2);
    cr_assert_eq(got[0], 2);
    cr_assert_eq(got[1], 10);
    cr_assert_eq(mtlb_ktls_send_alert(-1, 1, 0), -EBADF);
    close(s);
    close(c);
    close(l);
}
