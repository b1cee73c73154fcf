/* libFuzzer target for the JWT half of auth (common/auth_jwt.c), whole: the
 * reading that runs on every bearer token before libjwt checks its signature
 * (auth_jwt_inspect: base64url, header, claims), and the path auth_check
 * takes a JWT through (the cache of verified tokens, the signature check
 * with a test key, the times checked again on a cached token).
 *
 * The first byte picks the policy (algorithm, whether iss and aud are
 * required, the leeway) and the mode:
 *  - raw (bit 0x80 set): the rest is the token as a client sends it;
 *  - structured: the rest is "header JSON \0 claims JSON \0 signature bytes",
 *    base64url-encoded here, so the fuzzer reaches the claim checks without
 *    having to invent base64; with bit 0x20 set and HS256, the signature
 *    bytes are replaced by the token's real HMAC with the test secret, so the
 *    token verifies and is cached.
 * Properties of auth_jwt_inspect: never a crash, nor a read past the token
 * (an exact-size copy); a refusal always says why; an accepted token has
 * three segments, a "j:" client id of 64 lowercase hex digits and only known
 * scope bits; the same input gives the same answer.
 * Properties of auth_check on the same token, through an auth configured
 * with the same policy (one per policy, built on the first input with test
 * keys; building them also runs the key loading, good keys and bad): what
 * inspect refuses it refuses with the same phrase; what inspect accepts it
 * accepts only with a verified signature, always when the harness signed
 * it, with inspect's client id, and then the same again from the cache; a
 * cached token is refused at another time exactly as inspect would refuse
 * it then; the scope asked for decides between OK and NO_SCOPE. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "fuzz_input.h"
#include "../unit/b64url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 2030-01-01T00:00:00Z, fixed so runs are reproducible. */
#define NOW INT64_C(1893456000)
#define ALL_SCOPES                                                                                 \
    (AUTH_SCOPE_APPOINTMENTS_WRITE | AUTH_SCOPE_APPOINTMENTS_READ | AUTH_SCOPE_BILLINGS_READ |     \
     AUTH_SCOPE_METRICS_READ)
#define SIGNED 0x20 /* structured mode, HS256: sign with SECRET */
#define RAW 0x80

/* The HS256 test key (the file holds it with a newline, as `echo` writes). */
static const char SECRET[] = "fuzz-jwt-test-secret-0123456789abcdef";
static const char *const ALGS[] = {"HS256", "RS256", "ES256", "HS256"};

/* ---- the auths, one per policy (sel & 0x1f), built once ---- */

static auth *auths[32];

static void die(const char *what)
{
    fprintf(stderr, "fuzz_jwt: %s\n", what);
    abort();
}

static char *write_key(const char *dir, const char *name, const void *data, size_t n)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *path = malloc(len);
    if (!path)
        die("out of memory");
    snprintf(path, len, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0)
        die("cannot write a key file");
    return path;
}

static char *write_pubkey(const char *dir, const char *name, EVP_PKEY *pk, bool private_key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio || !pk ||
        (private_key ? PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL)
                     : PEM_write_bio_PUBKEY(bio, pk)) != 1)
        die("cannot write a PEM key");
    char *pem;
    long n = BIO_get_mem_data(bio, &pem);
    char *path = write_key(dir, name, pem, (size_t)n);
    BIO_free(bio);
    return path;
}

/* auth_new must refuse opts, naming the key file. */
static void must_refuse(const auth_opts *o)
{
    char err[256] = "";
    auth *a = auth_new(o, err, sizeof err);
    if (a || !strstr(err, "AUTH_JWT_KEY_FILE"))
        die("a bad key file was accepted, or refused without naming AUTH_JWT_KEY_FILE");
}

static void build_auths(void)
{
    const char *tmp = getenv("TMPDIR");
    char dir[256];
    snprintf(dir, sizeof dir, "%s/fuzz_jwt.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(dir))
        die("cannot create a temporary directory");
    EVP_PKEY *rsa = EVP_RSA_gen(2048);
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    char secret_line[sizeof SECRET + 1];
    snprintf(secret_line, sizeof secret_line, "%s\n", SECRET);
    char *files[] = {
        write_key(dir, "secret", secret_line, strlen(secret_line)),
        write_pubkey(dir, "rsa.pub", rsa, false),
        write_pubkey(dir, "ec.pub", ec, false),
        write_pubkey(dir, "rsa.pem", rsa, true),
        write_key(dir, "garbage", "not a key\n", 10),
    };
    const char *key_of[] = {files[0], files[1], files[2], files[0]};
    for (unsigned sel = 0; sel < 32; sel++) {
        auth_opts o = {.jwt_alg = ALGS[sel & 3],
                       .jwt_key_file = key_of[sel & 3],
                       .jwt_issuer = (sel & 4) ? "https://idp" : NULL,
                       .jwt_audience = (sel & 8) ? "clinic" : NULL,
                       .jwt_leeway_s = (sel & 16) ? 30 : 0};
        char err[256] = "";
        auths[sel] = auth_new(&o, err, sizeof err);
        if (!auths[sel] || !auth_jwt_on(auths[sel]))
            die(err);
    }
    /* The key loading's refusals (test_auth has them all, with their words). */
    must_refuse(&(auth_opts){.jwt_alg = "HS256", .jwt_key_file = files[1]});
    must_refuse(&(auth_opts){.jwt_alg = "RS256", .jwt_key_file = files[3]});
    must_refuse(&(auth_opts){.jwt_alg = "RS256", .jwt_key_file = files[4]});
    must_refuse(&(auth_opts){.jwt_alg = "ES256", .jwt_key_file = files[1]});
    must_refuse(&(auth_opts){.jwt_alg = "RS256", .jwt_key_file = dir}); /* a directory */
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        unlink(files[i]);
        free(files[i]);
    }
    rmdir(dir);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
}

/* ---- the checks ---- */

static bool same_why(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* auth_check on tok at now_s for scope, through a; res->why never NULL on a
 * refusal. tok holds no NUL. */
static auth_status check_auth(auth *a, const char *tok, size_t len, const char *scope,
                              int64_t now_s, auth_result *res)
{
    char *h = malloc(len + 8);
    if (!h)
        die("out of memory");
    memcpy(h, "Bearer ", 7);
    memcpy(h + 7, tok, len);
    h[len + 7] = '\0';
    memset(res, 0x5a, sizeof *res);
    auth_status st = auth_check(a, h, scope, now_s, res);
    free(h);
    if (st != AUTH_OK && st != AUTH_INVALID && st != AUTH_NO_SCOPE)
        abort();
    if (st == AUTH_INVALID && !(res->why && res->why[0]))
        abort();
    return st;
}

/* A token inspect accepted at NOW and auth_check verified: asked again it
 * comes from the cache, with the same answer; at other times it is refused
 * exactly when inspect refuses it then (only its times can differ). */
static void check_cached(auth *a, const char *tok, size_t len, const auth_jwt_policy *p,
                         const auth_jwt_claims *c)
{
    auth_result r;
    auth_status st = check_auth(a, tok, len, "metrics:read", NOW, &r);
    auth_status want = (c->scopes & AUTH_SCOPE_METRICS_READ) ? AUTH_OK : AUTH_NO_SCOPE;
    if (st != want || strcmp(r.client, c->client) != 0)
        abort();
    static const int64_t shifts[] = {-86400, -31, 31, 300, 86400 * 365};
    for (size_t i = 0; i < sizeof shifts / sizeof shifts[0]; i++) {
        int64_t at = NOW + shifts[i];
        auth_jwt_claims later;
        const char *why = NULL;
        int rc = auth_jwt_inspect(tok, len, p, at, &later, &why);
        st = check_auth(a, tok, len, NULL, at, &r);
        if (rc == 0 ? st != AUTH_OK || strcmp(r.client, c->client) != 0
                    : st != AUTH_INVALID || !same_why(r.why, why))
            abort();
    }
}

static void check(const char *tok, size_t len, const auth_jwt_policy *p, auth *a, bool signed_)
{
    auth_jwt_claims c, again;
    memset(&c, 0x5a, sizeof c);
    const char *why = NULL, *why2 = NULL;
    int rc = auth_jwt_inspect(tok, len, p, NOW, &c, &why);
    int rc2 = auth_jwt_inspect(tok, len, p, NOW, &again, &why2);
    if (rc != rc2)
        abort();
    if (rc != 0) {
        if (rc != -1 || !why || !why[0] || why != why2)
            abort();
    } else {
        size_t dots = 0;
        for (size_t i = 0; i < len; i++)
            dots += tok[i] == '.';
        if (dots != 2 || len > AUTH_TOKEN_MAX)
            abort();
        if ((c.scopes & ~(unsigned)ALL_SCOPES) != 0 || c.scopes != again.scopes)
            abort();
        if (strncmp(c.client, "j:", 2) != 0 || strnlen(c.client, sizeof c.client) != 66 ||
            strcmp(c.client, again.client) != 0)
            abort();
        for (size_t i = 2; i < 66; i++)
            if (!((c.client[i] >= '0' && c.client[i] <= '9') ||
                  (c.client[i] >= 'a' && c.client[i] <= 'f')))
                abort();
    }

    /* auth_check reads a header: up to its first NUL, and "Bearer " alone is
     * no token at all. */
    if (len == 0 || memchr(tok, '\0', len))
        return;
    auth_result r;
    auth_status st = check_auth(a, tok, len, NULL, NOW, &r);
    if (rc != 0) {
        if (st != AUTH_INVALID || !same_why(r.why, why))
            abort();
        return;
    }
    if (st == AUTH_INVALID) {
        if (signed_ || !same_why(r.why, "the token's signature does not verify"))
            abort();
        return;
    }
    if (st != AUTH_OK || strcmp(r.client, c.client) != 0)
        abort();
    check_cached(a, tok, len, p, &c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 3 * AUTH_TOKEN_MAX)
        return 0;
    if (!auths[0])
        build_auths();
    uint8_t sel = data[0];
    auth_jwt_policy p = {ALGS[sel & 3], (sel & 4) ? "https://idp" : NULL,
                         (sel & 8) ? "clinic" : NULL, (sel & 16) ? 30 : 0};
    auth *a = auths[sel & 0x1f];
    data++;
    size--;
    if (sel & RAW) {
        char *tok = fuzz_input_copy(data, size);
        if (!tok)
            return 0;
        check(tok, size, &p, a, false);
        free(tok);
        return 0;
    }
    const uint8_t *nul1 = memchr(data, 0, size);
    if (!nul1)
        return 0;
    const uint8_t *rest = nul1 + 1;
    size_t rest_len = size - (size_t)(rest - data);
    const uint8_t *nul2 = memchr(rest, 0, rest_len);
    if (!nul2)
        return 0;
    const uint8_t *sig = nul2 + 1;
    size_t hlen = (size_t)(nul1 - data), clen = (size_t)(nul2 - rest);
    size_t slen = size - (size_t)(sig - data);
    bool sign = (sel & SIGNED) && strcmp(p.alg, "HS256") == 0;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    size_t cap = (hlen + clen + (sign ? sizeof mac : slen)) * 4 / 3 + 8;
    char *tok = malloc(cap);
    if (!tok)
        return 0;
    size_t o = b64url_encode(data, hlen, tok);
    tok[o++] = '.';
    o += b64url_encode(rest, clen, tok + o);
    if (sign) {
        if (!HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)tok, o, mac,
                  &mac_len))
            die("HMAC failed");
        sig = mac;
        slen = mac_len;
    }
    tok[o++] = '.';
    o += b64url_encode(sig, slen, tok + o);
    char *exact = fuzz_input_copy((const uint8_t *)tok, o);
    free(tok);
    if (!exact)
        return 0;
    check(exact, o, &p, a, sign);
    free(exact);
    return 0;
}
