/* The handshake facts a kTLS connection keeps after its SSL is freed (tls_facts.h): they must
 * be copies (the SSL is gone when the access log reads them), name what the handshake really
 * agreed on, and freeing the SSL that way must leave its session in the server's cache.
 * In-memory handshakes with real OpenSSL peers; run under ASan, a fact that still pointed
 * into the freed SSL would be a use after free. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "mtlb/tls_facts.h"

static const char *pki(const char *rel, char *buf, size_t cap)
{
    const char *dir = getenv("MTLB_PKI");
    cr_assert_not_null(dir, "MTLB_PKI must point at the test PKI");
    snprintf(buf, cap, "%s/%s", dir, rel);
    return buf;
}

static int select_h2(SSL *s, const unsigned char **out, unsigned char *outlen,
                     const unsigned char *in, unsigned inlen, void *arg)
{
    static const unsigned char h2[] = "\x02h2";
    (void)s;
    (void)arg;
    return SSL_select_next_proto((unsigned char **)out, outlen, h2, 3, in, inlen) ==
                   OPENSSL_NPN_NEGOTIATED
               ? SSL_TLSEXT_ERR_OK
               : SSL_TLSEXT_ERR_NOACK;
}

static SSL_CTX *server_ctx(void)
{
    char a[512], b[512];
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    cr_assert(SSL_CTX_use_certificate_chain_file(ctx, pki("server/api.crt", a, sizeof(a))));
    cr_assert(
        SSL_CTX_use_PrivateKey_file(ctx, pki("server/api.key", b, sizeof(b)), SSL_FILETYPE_PEM));
    SSL_CTX_set_alpn_select_cb(ctx, select_h2, NULL);
    return ctx;
}

/* Runs one handshake; returns the server's SSL (the client's in *cl). */
static SSL *handshake(SSL_CTX *sctx, SSL_CTX *cctx, SSL_SESSION *resume, SSL **cl)
{
    SSL *s = SSL_new(sctx), *c = SSL_new(cctx);
    BIO *sb, *cb;
    cr_assert(BIO_new_bio_pair(&sb, 0, &cb, 0));
    SSL_set_bio(s, sb, sb);
    SSL_set_bio(c, cb, cb);
    SSL_set_accept_state(s);
    SSL_set_connect_state(c);
    if (resume != NULL) {
        cr_assert(SSL_set_session(c, resume));
    }
    for (int i = 0; i < 100; i++) {
        int rc = SSL_do_handshake(c);
        int rs = SSL_do_handshake(s);
        if (rc == 1 && rs == 1) {
            /* TLS 1.3: the client takes its tickets with its first read */
            char x;
            SSL_read(c, &x, 1);
            *cl = c;
            return s;
        }
    }
    cr_assert_fail("in-memory handshake did not finish");
    return NULL;
}

struct ver {
    int version;
    char name[12]; /* arrays, not pointers: parameters are copied into another process */
    char alpn[12];
};

ParameterizedTestParameters(tls_facts, copied_and_true_after_free)
{
    static struct ver vs[] = {
        {TLS1_3_VERSION, "TLSv1.3", "\x02h2"},
        {TLS1_2_VERSION, "TLSv1.2", "\x02h2"},
        {TLS1_3_VERSION, "TLSv1.3", "\x08http/1.1"},
    };
    return cr_make_param_array(struct ver, vs, 3);
}

ParameterizedTest(struct ver *v, tls_facts, copied_and_true_after_free)
{
    SSL_CTX *sctx = server_ctx(), *cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_max_proto_version(cctx, v->version);
    cr_assert_eq(
        SSL_CTX_set_alpn_protos(cctx, (const unsigned char *)v->alpn, (unsigned)strlen(v->alpn)),
        0);
    SSL *c, *s = handshake(sctx, cctx, NULL, &c);
    struct mtlb_tls_facts f;
    char want_cipher[64];
    snprintf(want_cipher, sizeof(want_cipher), "%s", SSL_get_cipher_name(c));

    memset(&f, 0x5a, sizeof(f)); /* capture must set every field */
    mtlb_tls_facts_capture(&f, s);
    mtlb_tls_release(s); /* the SSL goes; the facts stay */
    cr_assert_str_eq(f.version, v->name);
    cr_assert_str_eq(f.cipher, want_cipher);
    cr_assert_neq(f.cipher[0], '\0');
    cr_assert_not(f.resumed);
    cr_assert_eq(f.h2, strcmp(v->alpn, "\x02h2") == 0, "h2 must follow what ALPN chose");

    /* A resumed handshake says so. */
    SSL_SESSION *sess = SSL_get1_session(c);
    cr_assert_not_null(sess);
    SSL *c2, *s2 = handshake(sctx, cctx, sess, &c2);
    mtlb_tls_facts_capture(&f, s2);
    mtlb_tls_release(s2);
    cr_assert(f.resumed, "the second handshake resumed: %s", v->name);
    SSL_SESSION_free(sess);
    SSL_free(c);
    SSL_free(c2);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
}

Test(tls_facts, plain_connection_has_none)
{
    struct mtlb_tls_facts f;
    memset(&f, 0x5a, sizeof(f));
    mtlb_tls_facts_capture(&f, NULL);
    cr_assert_str_eq(f.version, "");
    cr_assert_str_eq(f.cipher, "");
    cr_assert_not(f.resumed);
    cr_assert_not(f.h2);
    mtlb_tls_release(NULL);
}

/* TLS 1.2 with a server-side session cache (no tickets): a plain SSL_free of a connection
 * that never shut down drops its session, as after a failure; mtlb_tls_release must not, or
 * every kTLS client would lose its resumption at handoff. */
static long cached_after(bool release)
{
    SSL_CTX *sctx = server_ctx(), *cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_options(sctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_session_id_context(sctx, (const unsigned char *)"t", 1);
    SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
    SSL *c, *s = handshake(sctx, cctx, NULL, &c);
    cr_assert_eq(SSL_CTX_sess_number(sctx), 1, "the handshake's session is cached");
    if (release) {
        mtlb_tls_release(s);
    } else {
        SSL_free(s);
    }
    long n = SSL_CTX_sess_number(sctx);
    SSL_free(c);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    return n;
}

Test(tls_facts, release_keeps_the_session_cached)
{
    cr_assert_eq(cached_after(false), 0, "premise: OpenSSL drops it on a bare SSL_free");
    cr_assert_eq(cached_after(true), 1);
}
