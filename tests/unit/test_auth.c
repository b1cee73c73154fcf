#include <check.h>
#include <stdbool.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"

#include "b64url.h"
#include "check_main.h"

/* 2030-01-01T00:00:00Z: a fixed "now", so the tests do not age. */
#define NOW INT64_C(1893456000)

static char tmpdir[64];

/* ---- helpers: tokens without a signature check, and key files ---- */

/* A new base64url string of data[0..n). The caller frees it. */
static char *b64url(const void *data, size_t n)
{
    char *out = malloc(n * 4 / 3 + 4);
    b64url_encode(data, n, out);
    return out;
}

/* header.claims.<siglen zero bytes>, base64url. The caller frees it. */
static char *fake(const char *header, const char *claims, size_t siglen)
{
    unsigned char sig[512] = {0};
    char *h = b64url(header, strlen(header));
    char *c = b64url(claims, strlen(claims));
    char *s = b64url(sig, siglen);
    size_t n = strlen(h) + strlen(c) + strlen(s) + 3;
    char *t = malloc(n);
    snprintf(t, n, "%s.%s.%s", h, c, s);
    free(h);
    free(c);
    free(s);
    return t;
}

#define HS "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define GOOD                                                                                       \
    "{\"iss\":\"https://idp\",\"sub\":\"svc-1\",\"aud\":\"clinic\",\"exp\":1893456300,"            \
    "\"iat\":1893456000,\"scope\":\"appointments:read metrics:read\"}"

static const auth_jwt_policy HS_POLICY = {"HS256", "https://idp", "clinic", 30};

/* auth_jwt_inspect on a fake HS256-shaped token; returns rc, sets *why. */
static int inspect(const char *header, const char *claims, size_t siglen, auth_jwt_claims *c,
                   const char **why)
{
    char *t = fake(header, claims, siglen);
    *why = NULL;
    int rc = auth_jwt_inspect(t, strlen(t), &HS_POLICY, NOW, c, why);
    free(t);
    return rc;
}

static void refused(const char *header, const char *claims, const char *want_why)
{
    auth_jwt_claims c;
    const char *why;
    ck_assert_int_eq(inspect(header, claims, 32, &c, &why), -1);
    ck_assert_ptr_nonnull(why);
    ck_assert_str_eq(why, want_why);
}

static void accepted(const char *header, const char *claims)
{
    auth_jwt_claims c;
    const char *why;
    ck_assert_msg(inspect(header, claims, 32, &c, &why) == 0, "refused: %s", why);
}

static char *write_file(const char *name, const void *data, size_t n)
{
    char *path = malloc(128);
    snprintf(path, 128, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fwrite(data, 1, n, f);
    fclose(f);
    return path;
}

/* pk as a PEM text: its private key, or its public one. The caller frees it. */
static char *pem_of(EVP_PKEY *pk, bool private_key, size_t *len)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (private_key)
        PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL);
    else
        PEM_write_bio_PUBKEY(b, pk);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *out = malloc((size_t)n + 1);
    memcpy(out, p, (size_t)n);
    out[n] = '\0';
    BIO_free(b);
    *len = (size_t)n;
    return out;
}

static char *pem_public(EVP_PKEY *pk, size_t *len)
{
    return pem_of(pk, false, len);
}

static char *pem_private(EVP_PKEY *pk, size_t *len)
{
    return pem_of(pk, true, len);
}

static char *write_pem(const char *name, EVP_PKEY *pk, bool private_key)
{
    size_t n;
    char *pem = private_key ? pem_private(pk, &n) : pem_public(pk, &n);
    char *path = write_file(name, pem, n);
    free(pem);
    return path;
}

/* A real token signed by libjwt: alg with key[0..len), the claims JSON. */
static char *mint(jwt_alg_t alg, const void *key, size_t len, const char *claims)
{
    jwt_t *j = NULL;
    ck_assert_int_eq(jwt_new(&j), 0);
    ck_assert_int_eq(jwt_add_grants_json(j, claims), 0);
    ck_assert_int_eq(jwt_set_alg(j, alg, key, (int)len), 0);
    char *t = jwt_encode_str(j);
    ck_assert_ptr_nonnull(t);
    jwt_free(j);
    return t;
}

static char *bearer(const char *tok)
{
    size_t n = strlen(tok) + 8;
    char *h = malloc(n);
    snprintf(h, n, "Bearer %s", tok);
    return h;
}

static auth *must_new(const auth_opts *o)
{
    char err[512] = "";
    auth *a = auth_new(o, err, sizeof err);
    ck_assert_msg(a != NULL, "auth_new: %s", err);
    return a;
}

static void new_fails(const auth_opts *o, const char *want_in_err)
{
    char err[512] = "";
    auth *a = auth_new(o, err, sizeof err);
    ck_assert_ptr_null(a);
    ck_assert_msg(strstr(err, want_in_err) != NULL, "err '%s' lacks '%s'", err, want_in_err);
}

/* ---- scopes ---- */

START_TEST(test_scope_bits_know_the_four_scopes_only)
{
    ck_assert_uint_eq(auth_scope_bit("appointments:write", 18), AUTH_SCOPE_APPOINTMENTS_WRITE);
    ck_assert_uint_eq(auth_scope_bit("metrics:read", 12), AUTH_SCOPE_METRICS_READ);
    ck_assert_uint_eq(auth_scope_bit("metrics:rea", 11), 0);
    ck_assert_uint_eq(auth_scope_bit("metrics:readx", 13), 0);
    ck_assert_uint_eq(auth_scope_bit(NULL, 0), 0);
}
END_TEST

/* ---- the pure JWT reading ---- */

START_TEST(test_jwt_well_formed_claims_give_scopes_and_a_client)
{
    auth_jwt_claims c;
    const char *why;
    ck_assert_int_eq(inspect(HS, GOOD, 32, &c, &why), 0);
    ck_assert_uint_eq(c.scopes, AUTH_SCOPE_APPOINTMENTS_READ | AUTH_SCOPE_METRICS_READ);
    ck_assert_int_eq((int)strlen(c.client), 66);
    ck_assert(strncmp(c.client, "j:", 2) == 0);
}
END_TEST

START_TEST(test_jwt_client_is_iss_and_sub_and_nothing_else)
{
    auth_jwt_claims a, b, x, y;
    const char *why;
    auth_jwt_policy any = {"HS256", NULL, NULL, 30};
    const char *ca = "{\"iss\":\"ab\",\"sub\":\"c\",\"exp\":1893456300,\"jti\":\"1\"}";
    const char *cb = "{\"iss\":\"ab\",\"sub\":\"c\",\"exp\":1893456900,\"jti\":\"2\"}";
    const char *cx = "{\"iss\":\"a\",\"sub\":\"bc\",\"exp\":1893456300}";
    const char *cy = "{\"iss\":\"ab\",\"sub\":\"d\",\"exp\":1893456300}";
    const char *cs[] = {ca, cb, cx, cy};
    auth_jwt_claims *out[] = {&a, &b, &x, &y};
    for (int i = 0; i < 4; i++) {
        char *t = fake(HS, cs[i], 32);
        ck_assert_int_eq(auth_jwt_inspect(t, strlen(t), &any, NOW, out[i], &why), 0);
        free(t);
    }
    ck_assert_str_eq(a.client, b.client); /* another token of the same client */
    ck_assert_str_ne(a.client, x.client); /* ("ab","c") is not ("a","bc") */
    ck_assert_str_ne(a.client, y.client);
}
END_TEST

START_TEST(test_jwt_alg_must_be_the_configured_one)
{
    refused("{\"alg\":\"RS256\"}", GOOD, "the token is signed with another algorithm");
    refused("{\"alg\":\"hs256\"}", GOOD, "the token is signed with another algorithm");
    refused("{\"alg\":\"none\"}", GOOD, "the token is signed with another algorithm");
    refused("{\"typ\":\"JWT\"}", GOOD, "the token's header has no alg");
    refused("{\"alg\":[\"HS256\"]}", GOOD, "the token's header has no alg");
    /* the header cannot say HS256 twice and mean something else the second time */
    refused("{\"alg\":\"HS256\",\"alg\":\"none\"}", GOOD, "the token's header repeats a key");
}
END_TEST

START_TEST(test_jwt_unsigned_token_is_refused)
{
    auth_jwt_claims c;
    const char *why;
    char *t = fake("{\"alg\":\"none\"}", GOOD, 0);
    ck_assert_int_eq(auth_jwt_inspect(t, strlen(t), &HS_POLICY, NOW, &c, &why), -1);
    ck_assert_str_eq(why, "the token is unsigned");
    free(t);
}
END_TEST

START_TEST(test_jwt_typ_other_than_jwt_and_crit_are_refused)
{
    accepted("{\"alg\":\"HS256\",\"typ\":\"jwt\"}", GOOD);
    accepted("{\"alg\":\"HS256\",\"kid\":\"k1\"}", GOOD);
    refused("{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", GOOD, "the token's typ is not JWT");
    refused("{\"alg\":\"HS256\",\"typ\":1}", GOOD, "the token's typ is not JWT");
    refused("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", GOOD,
            "the token's header has crit extensions");
}
END_TEST

START_TEST(test_jwt_segments_must_be_three_and_nonempty)
{
    const char *bad[] = {"",        ".",          "..",        "abc",          "abc.def",
                         "a.b.c.d", ".eyJ9.AAAA", "e30..AAAA", "e30.e30.AAAA."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        auth_jwt_claims c;
        const char *why = NULL;
        ck_assert_int_eq(auth_jwt_inspect(bad[i], strlen(bad[i]), &HS_POLICY, NOW, &c, &why), -1);
        ck_assert_ptr_nonnull(why);
    }
}
END_TEST

START_TEST(test_jwt_base64url_is_strict)
{
    char *t = fake(HS, GOOD, 32);
    size_t n = strlen(t);
    auth_jwt_claims c;
    const char *why;
    ck_assert_int_eq(auth_jwt_inspect(t, n, &HS_POLICY, NOW, &c, &why), 0);
    /* junk characters that libjwt's decoder would skip, padding, standard base64 */
    const char *junk[] = {"*", "=", "+", "/", " ", "%"};
    for (size_t k = 0; k < sizeof junk / sizeof junk[0]; k++)
        for (size_t at = 1; at < n; at += n / 5) {
            if (t[at] == '.' || t[at - 1] == '.')
                continue;
            char *bad = malloc(n + 2);
            memcpy(bad, t, at);
            bad[at] = junk[k][0];
            memcpy(bad + at + 1, t + at, n - at + 1);
            ck_assert_int_eq(auth_jwt_inspect(bad, n + 1, &HS_POLICY, NOW, &c, &why), -1);
            free(bad);
        }
    /* 32 bytes encode to 43 characters whose last holds 2 unused bits: set them */
    char *sig = strrchr(t, '.') + 1;
    ck_assert_int_eq((int)strlen(sig), 43);
    char last = sig[42];
    sig[42] = (char)(last == 'A' ? 'B' : last + 1);
    ck_assert_int_eq(auth_jwt_inspect(t, n, &HS_POLICY, NOW, &c, &why), -1);
    ck_assert_str_eq(why, "the token's signature is not base64url");
    /* a length no encoder produces (4k + 1) */
    const char *odd = "e30.e30.AAAAA";
    ck_assert_int_eq(auth_jwt_inspect(odd, strlen(odd), &HS_POLICY, NOW, &c, &why), -1);
    ck_assert_str_eq(why, "the token's signature is not base64url");
    free(t);
}
END_TEST

START_TEST(test_jwt_deep_nesting_is_refused_before_parsing)
{
    char claims[4096];
    size_t o = 0;
    o += (size_t)snprintf(claims + o, sizeof claims - o,
                          "{\"sub\":\"s\",\"iss\":\"https://idp\",\"aud\":\"clinic\","
                          "\"exp\":1893456300,\"x\":");
    for (int i = 0; i < 1000; i++)
        claims[o++] = '[';
    for (int i = 0; i < 1000; i++)
        claims[o++] = ']';
    claims[o++] = '}';
    claims[o] = '\0';
    refused(HS, claims, "the token's JSON is nested too deeply");
    char header[8192];
    o = (size_t)snprintf(header, sizeof header, "{\"alg\":\"HS256\",\"x\":");
    for (int i = 0; i < 500; i++) {
        memcpy(header + o, "{\"a\":", 5);
        o += 5;
    }
    header[o++] = '1';
    for (int i = 0; i < 501; i++)
        header[o++] = '}';
    header[o] = '\0';
    refused(header, GOOD, "the token's JSON is nested too deeply");
    /* brackets inside strings are not nesting; 16 levels are fine */
    accepted(HS, "{\"sub\":\"[[[[[[[[[[[[[[[[[[[[[[[[\",\"iss\":\"https://idp\",\"aud\":\"clinic\","
                 "\"exp\":1893456300,\"x\":[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]}");
}
END_TEST

START_TEST(test_jwt_header_and_claims_must_be_json_objects)
{
    refused("[\"HS256\"]", GOOD, "the token's header is not a JSON object");
    refused("{\"alg\":\"HS256\"", GOOD, "the token's header is not a JSON object");
    refused(HS, "[1]", "the token's claims are not a JSON object");
    refused(HS, "{\"sub\":\"a\",\"sub\":\"b\",\"exp\":1893456300}",
            "the token's claims repeat a key");
    refused(HS, "{\"sub\":\"a\\u0000b\",\"exp\":1893456300}",
            "the token's claims are not a JSON object");
    refused(HS, "{\"sub\":\"\xff\",\"exp\":1893456300}",
            "the token's claims are not a JSON object");
}
END_TEST

START_TEST(test_jwt_signature_size_follows_the_algorithm)
{
    auth_jwt_claims c;
    const char *why;
    ck_assert_int_eq(inspect(HS, GOOD, 31, &c, &why), -1);
    ck_assert_str_eq(why, "the token's signature has the wrong size");
    ck_assert_int_eq(inspect(HS, GOOD, 64, &c, &why), -1);
    auth_jwt_policy es = {"ES256", "https://idp", "clinic", 30};
    auth_jwt_policy rs = {"RS256", "https://idp", "clinic", 30};
    char *t = fake("{\"alg\":\"ES256\"}", GOOD, 64);
    ck_assert_int_eq(auth_jwt_inspect(t, strlen(t), &es, NOW, &c, &why), 0);
    free(t);
    t = fake("{\"alg\":\"ES256\"}", GOOD, 72); /* DER, not JWS's r || s */
    ck_assert_int_eq(auth_jwt_inspect(t, strlen(t), &es, NOW, &c, &why), -1);
    free(t);
    t = fake("{\"alg\":\"RS256\"}", GOOD, 256);
    ck_assert_int_eq(auth_jwt_inspect(t, strlen(t), &rs, NOW, &c, &why), 0);
    free(t);
    t = fake("{\"alg\":\"RS256\"}", GOOD, 128); /* a 1024-bit key's */
    ck_assert_int_eq(auth_jwt_inspect(t, strlen(t), &rs, NOW, &c, &why), -1);
    free(t);
}
END_TEST

START_TEST(test_jwt_exp_is_required_and_honours_the_leeway)
{
    refused(HS, "{\"sub\":\"s\",\"iss\":\"https://idp\",\"aud\":\"clinic\"}",
            "the token has no exp claim");
    refused(HS, "{\"sub\":\"s\",\"iss\":\"https://idp\",\"aud\":\"clinic\",\"exp\":\"1893456300\"}",
            "the token's exp claim is not a number");
    refused(HS, "{\"sub\":\"s\",\"iss\":\"https://idp\",\"aud\":\"clinic\",\"exp\":1893455970}",
            "the token has expired");
    accepted(HS, "{\"sub\":\"s\",\"iss\":\"https://idp\",\"aud\":\"clinic\",\"exp\":1893455971}");
    accepted(HS, "{\"sub\":\"s\",\"iss\":\"https://idp\",\"aud\":\"clinic\",\"exp\":1893456300.5}");
    accepted(HS, "{\"sub\":\"s\",\"iss\":\"https://idp\",\"aud\":\"clinic\",\"exp\":1e300}");
    refused(HS, "{\"sub\":\"s\",\"iss\":\"https://idp\",\"aud\":\"clinic\",\"exp\":-1e300}",
            "the token has expired");
    refused(HS,
            "{\"sub\":\"s\",\"iss\":\"https://idp\",\"aud\":\"clinic\","
            "\"exp\":-9223372036854775808}",
            "the token has expired");
}
END_TEST

START_TEST(test_jwt_nbf_and_iat_honour_the_leeway)
{
    refused(HS,
            "{\"sub\":\"s\",\"iss\":\"https://idp\",\"aud\":\"clinic\",\"exp\":1893459999,"
            "\"nbf\":1893456031}",
            "the token is not valid yet");
    accepted(HS, "{\"sub\":\"s\",\"iss\":\"https://idp\",\"aud\":\"clinic\",\"exp\":1893459999,"
                 "\"nbf\":1893456030}");
    refused(HS,
            "{\"sub\":\"s\",\"iss\":\"https://idp\",\"aud\":\"clinic\",\"exp\":1893459999,"
            "\"iat\":1893456031}",
            "the token was issued in the future");
    refused(HS,
            "{\"sub\":\"s\",\"iss\":\"https://idp\",\"aud\":\"clinic\",\"exp\":1893459999,"
            "\"nbf\":null}",
            "the token's nbf claim is not a number");
}
END_TEST

START_TEST(test_jwt_issuer_is_compared_exactly_when_set)
{
    refused(HS, "{\"sub\":\"s\",\"iss\":\"https://idp/\",\"aud\":\"clinic\",\"exp\":1893459999}",
            "the token is from another issuer");
    refused(HS, "{\"sub\":\"s\",\"aud\":\"clinic\",\"exp\":1893459999}",
            "the token has no iss claim");
    refused(HS, "{\"sub\":\"s\",\"iss\":1,\"aud\":\"clinic\",\"exp\":1893459999}",
            "the token's iss claim is not a string");
    auth_jwt_policy any = {"HS256", "", "", 0};
    auth_jwt_claims c;
    const char *why;
    char *t = fake(HS, "{\"sub\":\"s\",\"exp\":1893459999}", 32);
    ck_assert_int_eq(auth_jwt_inspect(t, strlen(t), &any, NOW, &c, &why), 0);
    free(t);
}
END_TEST

START_TEST(test_jwt_audience_may_be_a_string_or_an_array)
{
    accepted(
        HS,
        "{\"sub\":\"s\",\"iss\":\"https://idp\",\"aud\":[\"x\",\"clinic\"],\"exp\":1893459999}");
    refused(HS, "{\"sub\":\"s\",\"iss\":\"https://idp\",\"aud\":[\"x\",\"y\"],\"exp\":1893459999}",
            "the token is meant for another audience");
    refused(HS, "{\"sub\":\"s\",\"iss\":\"https://idp\",\"aud\":\"clinicx\",\"exp\":1893459999}",
            "the token is meant for another audience");
    refused(HS, "{\"sub\":\"s\",\"iss\":\"https://idp\",\"aud\":[],\"exp\":1893459999}",
            "the token is meant for another audience");
    refused(HS, "{\"sub\":\"s\",\"iss\":\"https://idp\",\"exp\":1893459999}",
            "the token has no aud claim");
    refused(HS, "{\"sub\":\"s\",\"iss\":\"https://idp\",\"aud\":[\"clinic\",1],\"exp\":1893459999}",
            "the token's aud claim holds a non-string");
    refused(HS, "{\"sub\":\"s\",\"iss\":\"https://idp\",\"aud\":{},\"exp\":1893459999}",
            "the token's aud claim is neither a string nor an array");
}
END_TEST

START_TEST(test_jwt_sub_is_required)
{
    refused(HS, "{\"iss\":\"https://idp\",\"aud\":\"clinic\",\"exp\":1893459999}",
            "the token has no sub claim");
    refused(HS, "{\"sub\":\"\",\"iss\":\"https://idp\",\"aud\":\"clinic\",\"exp\":1893459999}",
            "the token has no sub claim");
    refused(HS, "{\"sub\":7,\"iss\":\"https://idp\",\"aud\":\"clinic\",\"exp\":1893459999}",
            "the token has no sub claim");
}
END_TEST

START_TEST(test_jwt_scopes_from_scope_and_scp)
{
    struct {
        const char *claims;
        unsigned want;
    } cases[] = {
        {"\"scope\":\"  billings:read   openid \"", AUTH_SCOPE_BILLINGS_READ},
        {"\"scp\":[\"appointments:write\",\"profile\"]", AUTH_SCOPE_APPOINTMENTS_WRITE},
        {"\"scp\":\"appointments:read metrics:read\"",
         AUTH_SCOPE_APPOINTMENTS_READ | AUTH_SCOPE_METRICS_READ},
        {"\"scope\":\"metrics:read\",\"scp\":[\"billings:read\"]",
         AUTH_SCOPE_METRICS_READ | AUTH_SCOPE_BILLINGS_READ},
        {"\"scope\":\"appointments:writes appointments\"", 0},
        {"\"x\":1", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char claims[512];
        snprintf(claims, sizeof claims,
                 "{\"sub\":\"s\",\"iss\":\"https://idp\",\"aud\":\"clinic\",\"exp\":1893459999,%s}",
                 cases[i].claims);
        auth_jwt_claims c;
        const char *why;
        ck_assert_msg(inspect(HS, claims, 32, &c, &why) == 0, "%s: %s", claims, why);
        ck_assert_uint_eq(c.scopes, cases[i].want);
    }
    refused(HS,
            "{\"sub\":\"s\",\"iss\":\"https://idp\",\"aud\":\"clinic\",\"exp\":1893459999,"
            "\"scope\":[\"metrics:read\"]}",
            "the token's scope claim is not a string");
    refused(HS,
            "{\"sub\":\"s\",\"iss\":\"https://idp\",\"aud\":\"clinic\",\"exp\":1893459999,"
            "\"scp\":[\"metrics:read\",{}]}",
            "the token's scp claim holds a non-string");
}
END_TEST

START_TEST(test_jwt_too_long_is_refused_unread)
{
    size_t n = AUTH_TOKEN_MAX + 1;
    char *t = malloc(n + 1);
    memset(t, 'A', n);
    t[n] = '\0';
    auth_jwt_claims c;
    const char *why;
    ck_assert_int_eq(auth_jwt_inspect(t, n, &HS_POLICY, NOW, &c, &why), -1);
    ck_assert_str_eq(why, "the token is too long");
    free(t);
}
END_TEST

/* ---- configuration ---- */

START_TEST(test_config_empty_is_auth_off)
{
    auth_opts o = {.tokens = "", .jwt_leeway_s = 30};
    auth *a = must_new(&o);
    ck_assert(!auth_on(a));
    auth_result r;
    ck_assert_int_eq(auth_check(a, NULL, "appointments:write", NOW, &r), AUTH_OK);
    ck_assert_str_eq(r.client, AUTH_ANONYMOUS);
    auth_free(a);
    auth_free(NULL);
}
END_TEST

START_TEST(test_config_unknown_scope_fails_naming_it_not_the_token)
{
    auth_opts o = {.tokens = "good-token-0123456789=metrics:read;"
                             "other-token-0123456789=appointments:read,appointment:write"};
    char err[512];
    ck_assert_ptr_null(auth_new(&o, err, sizeof err));
    ck_assert_str_eq(err, "AUTH_TOKENS: entry 2 has an unknown scope 'appointment:write' "
                          "(known: " AUTH_KNOWN_SCOPES ")");
    /* a token put where a scope goes is not echoed */
    o.tokens = "appointments:write=secret-token-0123456789";
    ck_assert_ptr_null(auth_new(&o, err, sizeof err));
    ck_assert(strstr(err, "secret") == NULL);
    ck_assert(strstr(err, "entry 1 has an unknown scope (not shown") != NULL);
}
END_TEST

START_TEST(test_config_token_syntax_errors)
{
    auth_opts o = {.tokens = "short=metrics:read"};
    new_fails(&o, "at least 16 characters (entry 1)");
    o.tokens = "no-equals-sign-0123456789";
    new_fails(&o, "entry 1");
    o.tokens = "token-without-scopes-0123=";
    new_fails(&o, "entry 1 has no scope");
    o.tokens = "same-token-0123456789=metrics:read;;same-token-0123456789=billings:read";
    new_fails(&o, "entry 2 repeats the token of entry 1");
    o.tokens = "; ;spaced-token-0123456789=metrics:read billings:read, appointments:read;";
    new_fails(&o, "entry 1"); /* " " is an entry with no '=' */
    o.tokens = ";spaced-token-0123456789=metrics:read billings:read, appointments:read;";
    auth *a = must_new(&o);
    ck_assert_uint_eq(auth_ntokens(a), 1);
    auth_free(a);
}
END_TEST

START_TEST(test_config_jwt_setting_without_its_algorithm_or_key)
{
    auth_opts o = {.jwt_key_file = "/nonexistent"};
    new_fails(&o, "AUTH_JWT_KEY_FILE is set but AUTH_JWT_ALG is not");
    o = (auth_opts){.jwt_issuer = "https://idp"};
    new_fails(&o, "AUTH_JWT_ISSUER is set but AUTH_JWT_ALG is not");
    o = (auth_opts){.jwt_audience = "clinic"};
    new_fails(&o, "AUTH_JWT_AUDIENCE is set but AUTH_JWT_ALG is not");
    o = (auth_opts){.jwt_alg = "RS256"};
    new_fails(&o, "AUTH_JWT_ALG is RS256 but AUTH_JWT_KEY_FILE is not set");
    o = (auth_opts){.jwt_alg = "none", .jwt_key_file = "/nonexistent"};
    new_fails(&o, "unsigned tokens (none) are never accepted");
    o = (auth_opts){.jwt_alg = "rs256", .jwt_key_file = "/nonexistent"};
    new_fails(&o, "AUTH_JWT_ALG must be RS256, ES256 or HS256, got 'rs256'");
    o = (auth_opts){.jwt_alg = "RS512", .jwt_key_file = "/nonexistent"};
    new_fails(&o, "got 'RS512'");
    o = (auth_opts){.jwt_alg = "RS256", .jwt_key_file = "/nonexistent/key.pem"};
    new_fails(&o, "AUTH_JWT_KEY_FILE: cannot read /nonexistent/key.pem: No such file");
}
END_TEST

START_TEST(test_config_key_must_suit_the_algorithm)
{
    EVP_PKEY *rsa = EVP_RSA_gen(2048);
    EVP_PKEY *small = EVP_RSA_gen(1024);
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    EVP_PKEY *ec384 = EVP_EC_gen("P-384");
    char *rsa_pub = write_pem("rsa.pub", rsa, false);
    char *rsa_priv = write_pem("rsa.pem", rsa, true);
    char *small_pub = write_pem("small.pub", small, false);
    char *ec_pub = write_pem("ec.pub", ec, false);
    char *ec384_pub = write_pem("ec384.pub", ec384, false);
    char *garbage = write_file("garbage", "not a key\n", 10);
    char *empty = write_file("empty", "", 0);
    char *secret = write_file("secret", "0123456789abcdef0123456789abcdef\n", 33);
    char *short_secret = write_file("short", "0123456789abcdef0123456789abcde\n", 32);

    auth_opts o = {.jwt_alg = "RS256", .jwt_key_file = rsa_pub};
    auth *a = must_new(&o);
    ck_assert(auth_on(a) && auth_jwt_on(a));
    auth_free(a);
    o.jwt_key_file = rsa_priv;
    new_fails(&o, "holds a private key");
    o.jwt_key_file = small_pub;
    new_fails(&o, "an RSA key of 1024 bits; RS256 needs 2048");
    o.jwt_key_file = ec_pub;
    new_fails(&o, "is not an RSA key");
    o.jwt_key_file = garbage;
    new_fails(&o, "is not a PEM public key");
    o.jwt_key_file = empty;
    new_fails(&o, "is empty");
    o.jwt_key_file = tmpdir; /* a directory */
    new_fails(&o, "AUTH_JWT_KEY_FILE");

    o.jwt_alg = "ES256";
    o.jwt_key_file = ec_pub;
    a = must_new(&o);
    auth_free(a);
    o.jwt_key_file = ec384_pub;
    new_fails(&o, "not an EC key on P-256");
    o.jwt_key_file = rsa_pub;
    new_fails(&o, "not an EC key on P-256");

    o.jwt_alg = "HS256";
    o.jwt_key_file = secret;
    a = must_new(&o);
    auth_free(a);
    o.jwt_key_file = short_secret; /* 31 bytes once its newline goes */
    new_fails(&o, "shorter than 32 bytes");
    o.jwt_key_file = rsa_pub; /* HS256 keyed with a public key: anyone could sign */
    new_fails(&o, "holds a PEM key, but HS256 needs a shared secret");

    char *files[] = {rsa_pub, rsa_priv, small_pub, ec_pub,      ec384_pub,
                     garbage, empty,    secret,    short_secret};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        unlink(files[i]);
        free(files[i]);
    }
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(small);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ec384);
}
END_TEST

/* ---- checking requests ---- */

START_TEST(test_check_static_tokens_and_scopes)
{
    auth_opts o = {.tokens = "token-rw-0123456789=appointments:write,appointments:read;"
                             "token-m-0123456789=metrics:read"};
    auth *a = must_new(&o);
    auth_result r, r2;
    ck_assert_int_eq(auth_check(a, NULL, "metrics:read", NOW, &r), AUTH_NO_TOKEN);
    ck_assert_int_eq(auth_check(a, "Basic dXNlcjpwYXNz", "metrics:read", NOW, &r), AUTH_NO_TOKEN);
    ck_assert_int_eq(auth_check(a, "Bearer ", "metrics:read", NOW, &r), AUTH_NO_TOKEN);
    ck_assert_int_eq(auth_check(a, "Bearer  token-m-0123456789", "metrics:read", NOW, &r),
                     AUTH_INVALID); /* exactly one space, as before */
    ck_assert_int_eq(auth_check(a, "Bearer token-m-012345678", "metrics:read", NOW, &r),
                     AUTH_INVALID);
    ck_assert_int_eq(auth_check(a, "Bearer token-m-01234567890", "metrics:read", NOW, &r),
                     AUTH_INVALID);
    ck_assert_int_eq(auth_check(a, "bearer token-m-0123456789", "metrics:read", NOW, &r), AUTH_OK);
    ck_assert(strncmp(r.client, "t:", 2) == 0 && strlen(r.client) == 66);
    ck_assert_int_eq(auth_check(a, "Bearer token-m-0123456789", "appointments:read", NOW, &r2),
                     AUTH_NO_SCOPE);
    ck_assert_str_eq(r.client, r2.client);
    ck_assert_int_eq(auth_check(a, "Bearer token-rw-0123456789", "appointments:write", NOW, &r2),
                     AUTH_OK);
    ck_assert_str_ne(r.client, r2.client);
    /* the client id is not the token, nor its plain SHA-256 */
    ck_assert(strstr(r2.client, "token") == NULL);
    auth_free(a);
}
END_TEST

START_TEST(test_check_jwt_signed_by_libjwt_for_each_algorithm)
{
    EVP_PKEY *rsa = EVP_RSA_gen(2048);
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    size_t rn, en, rpn, epn;
    char *rpub = pem_public(rsa, &rn), *rpriv = pem_private(rsa, &rpn);
    char *epub = pem_public(ec, &en), *epriv = pem_private(ec, &epn);
    const char secret[] = "0123456789abcdef0123456789abcdef";
    char *rsa_file = write_file("rsa.pub", rpub, rn);
    char *ec_file = write_file("ec.pub", epub, en);
    char *hs_file = write_file("hs.key", secret, sizeof secret - 1);
    const char *claims = "{\"iss\":\"https://idp\",\"sub\":\"svc-1\",\"aud\":[\"clinic\"],"
                         "\"exp\":1893456300,\"scope\":\"appointments:write\"}";
    struct {
        const char *alg;
        jwt_alg_t id;
        char *file;
        const void *key;
        size_t len;
    } algs[] = {
        {"RS256", JWT_ALG_RS256, rsa_file, rpriv, rpn},
        {"ES256", JWT_ALG_ES256, ec_file, epriv, epn},
        {"HS256", JWT_ALG_HS256, hs_file, secret, sizeof secret - 1},
    };
    for (size_t i = 0; i < 3; i++) {
        auth_opts o = {.tokens = "static-token-0123456789=metrics:read",
                       .jwt_alg = algs[i].alg,
                       .jwt_key_file = algs[i].file,
                       .jwt_issuer = "https://idp",
                       .jwt_audience = "clinic",
                       .jwt_leeway_s = 30};
        auth *a = must_new(&o);
        auth_result r;
        char *tok = mint(algs[i].id, algs[i].key, algs[i].len, claims);
        char *h = bearer(tok);
        ck_assert_msg(auth_check(a, h, "appointments:write", NOW, &r) == AUTH_OK, "%s: %s",
                      algs[i].alg, r.why);
        ck_assert(strncmp(r.client, "j:", 2) == 0);
        ck_assert_int_eq(auth_check(a, h, "billings:read", NOW, &r), AUTH_NO_SCOPE);
        /* remembered now, but its times are checked again at each use */
        ck_assert_int_eq(auth_check(a, h, "appointments:write", NOW + 400, &r), AUTH_INVALID);
        ck_assert_str_eq(r.why, "the token has expired");
        /* the static token keeps working beside JWTs; a mistyped one is "not known" */
        ck_assert_int_eq(auth_check(a, "Bearer static-token-0123456789", "metrics:read", NOW, &r),
                         AUTH_OK);
        ck_assert_int_eq(auth_check(a, "Bearer static-token-012345678", "metrics:read", NOW, &r),
                         AUTH_INVALID);
        ck_assert_str_eq(r.why, "the token is not known");
        /* a tampered signature: flip a bit of its first character */
        char *sig = strrchr(h, '.') + 1;
        sig[0] = sig[0] == 'A' ? 'Q' : 'A';
        ck_assert_int_eq(auth_check(a, h, "appointments:write", NOW, &r), AUTH_INVALID);
        ck_assert_str_eq(r.why, "the token's signature does not verify");
        /* tampered claims under the original signature */
        free(h);
        char *dot = strchr(tok, '.');
        dot[1] = dot[1] == 'e' ? 'f' : 'e';
        h = bearer(tok);
        ck_assert_int_eq(auth_check(a, h, "appointments:write", NOW, &r), AUTH_INVALID);
        free(h);
        free(tok);
        auth_free(a);
    }
    /* The classic key confusion: an HS256 token keyed with the RS256 public key. */
    auth_opts o = {.jwt_alg = "RS256", .jwt_key_file = rsa_file, .jwt_leeway_s = 30};
    auth *a = must_new(&o);
    char *tok = mint(JWT_ALG_HS256, rpub, rn, claims);
    char *h = bearer(tok);
    auth_result r;
    ck_assert_int_eq(auth_check(a, h, "appointments:write", NOW, &r), AUTH_INVALID);
    ck_assert_str_eq(r.why, "the token is signed with another algorithm");
    free(h);
    free(tok);
    auth_free(a);

    unlink(rsa_file);
    unlink(ec_file);
    unlink(hs_file);
    free(rsa_file);
    free(ec_file);
    free(hs_file);
    free(rpub);
    free(rpriv);
    free(epub);
    free(epriv);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
}
END_TEST

START_TEST(test_check_hostile_bearer_values_are_invalid_not_crashes)
{
    const char secret[] = "0123456789abcdef0123456789abcdef";
    char *hs_file = write_file("hs.key", secret, sizeof secret - 1);
    auth_opts o = {.jwt_alg = "HS256", .jwt_key_file = hs_file, .jwt_leeway_s = 30};
    auth *a = must_new(&o);
    auth_result r;
    size_t n = AUTH_TOKEN_MAX + 100;
    char *huge = malloc(n + 8);
    memcpy(huge, "Bearer ", 7);
    memset(huge + 7, 'A', n);
    huge[7 + n] = '\0';
    ck_assert_int_eq(auth_check(a, huge, "metrics:read", NOW, &r), AUTH_INVALID);
    ck_assert_str_eq(r.why, "the token is too long");
    free(huge);
    const char *bad[] = {"Bearer a.b",
                         "Bearer a.b.c.d",
                         "Bearer ...",
                         "Bearer e30.e30.e30",
                         "Bearer eyJhbGciOiJIUzI1NiJ9.!!!.AAAA",
                         "Bearer \xff\xfe.\x01.\x02"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(auth_check(a, bad[i], "metrics:read", NOW, &r), AUTH_INVALID);
        ck_assert_ptr_nonnull(r.why);
    }
    auth_free(a);
    unlink(hs_file);
    free(hs_file);
}
END_TEST

static Suite *auth_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30); /* RSA key generation */
    tcase_add_test(tc, test_scope_bits_know_the_four_scopes_only);
    tcase_add_test(tc, test_jwt_well_formed_claims_give_scopes_and_a_client);
    tcase_add_test(tc, test_jwt_client_is_iss_and_sub_and_nothing_else);
    tcase_add_test(tc, test_jwt_alg_must_be_the_configured_one);
    tcase_add_test(tc, test_jwt_unsigned_token_is_refused);
    tcase_add_test(tc, test_jwt_typ_other_than_jwt_and_crit_are_refused);
    tcase_add_test(tc, test_jwt_segments_must_be_three_and_nonempty);
    tcase_add_test(tc, test_jwt_base64url_is_strict);
    tcase_add_test(tc, test_jwt_deep_nesting_is_refused_before_parsing);
    tcase_add_test(tc, test_jwt_header_and_claims_must_be_json_objects);
    tcase_add_test(tc, test_jwt_signature_size_follows_the_algorithm);
    tcase_add_test(tc, test_jwt_exp_is_required_and_honours_the_leeway);
    tcase_add_test(tc, test_jwt_nbf_and_iat_honour_the_leeway);
    tcase_add_test(tc, test_jwt_issuer_is_compared_exactly_when_set);
    tcase_add_test(tc, test_jwt_audience_may_be_a_string_or_an_array);
    tcase_add_test(tc, test_jwt_sub_is_required);
    tcase_add_test(tc, test_jwt_scopes_from_scope_and_scp);
    tcase_add_test(tc, test_jwt_too_long_is_refused_unread);
    tcase_add_test(tc, test_config_empty_is_auth_off);
    tcase_add_test(tc, test_config_unknown_scope_fails_naming_it_not_the_token);
    tcase_add_test(tc, test_config_token_syntax_errors);
    tcase_add_test(tc, test_config_jwt_setting_without_its_algorithm_or_key);
    tcase_add_test(tc, test_config_key_must_suit_the_algorithm);
    tcase_add_test(tc, test_check_static_tokens_and_scopes);
    tcase_add_test(tc, test_check_jwt_signed_by_libjwt_for_each_algorithm);
    tcase_add_test(tc, test_check_hostile_bearer_values_are_invalid_not_crashes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_auth.XXXXXX");
    if (!mkdtemp(tmpdir))
        return EXIT_FAILURE;
    int rc = check_run(auth_suite());
    rmdir(tmpdir);
    return rc;
}
