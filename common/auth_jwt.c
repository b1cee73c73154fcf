/* auth_jwt: the JWT half of the auth module (auth.h): base64url, the header
 * and claims, the key file, and verifying a token with the cache of verified
 * ones. */
#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "auth_internal.h"
#include "json.h"

/* Key files larger than this are a mistake (a PEM public key is < 2 KiB). */
#define KEY_FILE_MAX 65536
/* RFC 7518 3.2: an HS256 key must be at least as long as the hash (256 bits). */
#define HS256_MIN_KEY 32
/* RFC 7518 3.3: RS256 keys of at least 2048 bits. */
#define RSA_MIN_BITS 2048

/* ---- base64url and JSON, strictly ---- */

/* The value of base64url digit c (RFC 4648 5), or -1. */
static int b64url_value(unsigned char c)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *d = memchr(alphabet, c, 64); /* not its NUL */
    return d ? (int)(d - alphabet) : -1;
}

/* Decodes unpadded base64url s[0..n) into out (room for n * 3 / 4 bytes).
 * Refuses any other character, padding, a length no encoder produces, and
 * non-zero unused bits in the last character: libjwt's decoder (libb64)
 * skips characters it does not know, so without this a token with junk in
 * it would still verify. Returns the decoded length or -1. */
static long b64url_decode(const char *s, size_t n, unsigned char *out)
{
    if (n % 4 == 1)
        return -1;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_value((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* leftover bits must be zero: one encoding per value */
        return -1;
    return (long)o;
}

/* Decodes one segment and parses it as a JSON object; NULL if it is not one.
 * The phrases name the segment: [0] not base64url, [1] not a JSON object,
 * [2] a repeated key. */
static json_t *segment_object(const char *s, size_t n, const char **why, const char *const what[3])
{
    unsigned char *raw = xmalloc(n * 3 / 4 + 1);
    long len = b64url_decode(s, n, raw);
    json_t *obj = NULL;
    if (len < 0) {
        *why = what[0];
    } else if (json_nested_deeper_than((const char *)raw, (size_t)len, AUTH_JWT_MAX_DEPTH)) {
        *why = "the token's JSON is nested too deeply";
    } else {
        json_error_t jerr;
        /* Duplicate keys refused: two "alg" or two "sub" must not mean one
         * thing here and another to libjwt. */
        obj = json_loadb((const char *)raw, (size_t)len, JSON_REJECT_DUPLICATES, &jerr);
        if (obj && !json_is_object(obj)) {
            json_decref(obj);
            obj = NULL;
        }
        if (!obj)
            *why = json_error_code(&jerr) == json_error_duplicate_key ? what[2] : what[1];
    }
    free(raw);
    return obj;
}

/* A NumericDate (RFC 7519 2): seconds as an integer or a real, clamped to
 * +-1e15 s so that comparing never overflows. Returns 0, or -1 (out
 * untouched) if v is not a number. */
static int numeric_date(const json_t *v, int64_t *out)
{
    const double lim = 1e15;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        *out = i > (json_int_t)lim ? (int64_t)lim : i < -(json_int_t)lim ? -(int64_t)lim : i;
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (isnan(d))
            return -1;
        d = d > lim ? lim : d < -lim ? -lim : floor(d);
        *out = (int64_t)d;
        return 0;
    }
    return -1;
}

static int check_audience(const json_t *aud, const char *want, const char **why)
{
    if (json_is_string(aud)) {
        if (strcmp(json_string_value(aud), want) == 0)
            return 0;
    } else if (json_is_array(aud)) {
        size_t i;
        const json_t *item;
        bool found = false;
        json_array_foreach(aud, i, item)
        {
            if (!json_is_string(item)) {
                *why = "the token's aud claim holds a non-string";
                return -1;
            }
            found = found || strcmp(json_string_value(item), want) == 0;
        }
        if (found)
            return 0;
    } else if (aud) {
        *why = "the token's aud claim is neither a string nor an array";
        return -1;
    }
    *why = aud ? "the token is meant for another audience" : "the token has no aud claim";
    return -1;
}

static int check_header(const json_t *h, const char *alg, const char **why)
{
    const json_t *a = json_object_get(h, "alg");
    const json_t *typ = json_object_get(h, "typ");
    if (!json_is_string(a)) {
        *why = "the token's header has no alg";
        return -1;
    }
    /* Only the configured algorithm, compared exactly: the token must not
     * choose how it is checked ("none", or HS256 keyed with a public key). */
    if (strcmp(json_string_value(a), alg) != 0) {
        *why = "the token is signed with another algorithm";
        return -1;
    }
    /* libjwt 1.10 refuses any typ but "JWT" (such as RFC 9068's "at+jwt"):
     * say so here rather than as a bad signature. */
    if (typ && !(json_is_string(typ) && strcasecmp(json_string_value(typ), "JWT") == 0)) {
        *why = "the token's typ is not JWT";
        return -1;
    }
    /* RFC 7515 4.1.11: extensions a recipient does not understand are fatal. */
    if (json_object_get(h, "crit")) {
        *why = "the token's header has crit extensions";
        return -1;
    }
    return 0;
}

/* exp, nbf and iat against now, with the leeway. Also run on a cached
 * token: its times are the one thing about it that changes. */
static int times_ok(const auth_jwt_claims *c, const auth_jwt_policy *p, int64_t now_s,
                    const char **why)
{
    if (now_s - p->leeway_s >= c->exp) {
        *why = "the token has expired";
        return -1;
    }
    if (c->nbf > now_s + p->leeway_s) {
        *why = "the token is not valid yet";
        return -1;
    }
    if (c->iat > now_s + p->leeway_s) {
        *why = "the token was issued in the future";
        return -1;
    }
    return 0;
}

/* Reads an optional NumericDate claim; INT64_MIN when absent. */
static int optional_date(const json_t *c, const char *name, int64_t *out, const char **why,
                         const char *not_number)
{
    const json_t *v = json_object_get(c, name);
    *out = INT64_MIN;
    if (v && numeric_date(v, out) != 0) {
        *why = not_number;
        return -1;
    }
    return 0;
}

static int check_claims(const json_t *c, const auth_jwt_policy *p, int64_t now_s,
                        auth_jwt_claims *out, const char **why)
{
    const json_t *v = json_object_get(c, "exp");
    if (!v) {
        *why = "the token has no exp claim";
        return -1;
    }
    if (numeric_date(v, &out->exp) != 0) {
        *why = "the token's exp claim is not a number";
        return -1;
    }
    if (optional_date(c, "nbf", &out->nbf, why, "the token's nbf claim is not a number") != 0 ||
        optional_date(c, "iat", &out->iat, why, "the token's iat claim is not a number") != 0 ||
        times_ok(out, p, now_s, why) != 0)
        return -1;
    const json_t *iss = json_object_get(c, "iss");
    if (iss && !json_is_string(iss)) {
        *why = "the token's iss claim is not a string";
        return -1;
    }
    if (p->issuer && p->issuer[0] && !(iss && strcmp(json_string_value(iss), p->issuer) == 0)) {
        *why = iss ? "the token is from another issuer" : "the token has no iss claim";
        return -1;
    }
    if (p->audience && p->audience[0] &&
        check_audience(json_object_get(c, "aud"), p->audience, why) != 0)
        return -1;
    /* The subject names the client (its idempotency keys are its own). */
    const json_t *sub = json_object_get(c, "sub");
    if (!json_is_string(sub) || json_string_length(sub) == 0) {
        *why = "the token has no sub claim";
        return -1;
    }
    if (auth_read_scopes(c, &out->scopes, why) != 0)
        return -1;
    const char *parts[] = {"jwt", iss ? json_string_value(iss) : "", json_string_value(sub)};
    auth_client_id(out->client, 'j', parts, 3);
    return 0;
}

/* Signature size in bytes for alg, or [min, max] for RSA (2048..8192 bits). */
static bool signature_size_ok(const char *alg, long n)
{
    if (strcmp(alg, "HS256") == 0)
        return n == 32;
    if (strcmp(alg, "ES256") == 0)
        return n == 64; /* JWS's raw r || s, not DER */
    return n >= RSA_MIN_BITS / 8 && n <= 1024;
}

int auth_jwt_inspect(const char *tok, size_t len, const auth_jwt_policy *p, int64_t now_s,
                     auth_jwt_claims *out, const char **why)
{
    if (len > AUTH_TOKEN_MAX) {
        *why = "the token is too long";
        return -1;
    }
    const char *dot1 = memchr(tok, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - tok)) : NULL;
    const char *end = tok + len;
    if (!dot1 || !dot2 || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)) || dot1 == tok ||
        dot2 == dot1 + 1) {
        *why = "the token is not three segments (header.claims.signature)";
        return -1;
    }
    if (dot2 + 1 == end) {
        *why = "the token is unsigned";
        return -1;
    }
    size_t hlen = (size_t)(dot1 - tok), clen = (size_t)(dot2 - dot1 - 1);
    size_t slen = (size_t)(end - dot2 - 1);

    unsigned char *sig = xmalloc(slen * 3 / 4 + 1);
    long sig_len = b64url_decode(dot2 + 1, slen, sig);
    free(sig);
    if (sig_len < 0) {
        *why = "the token's signature is not base64url";
        return -1;
    }

    int rc = -1;
    json_t *claims = NULL;
    static const char *const header_why[] = {"the token's header is not base64url",
                                             "the token's header is not a JSON object",
                                             "the token's header repeats a key"};
    static const char *const claims_why[] = {"the token's claims are not base64url",
                                             "the token's claims are not a JSON object",
                                             "the token's claims repeat a key"};
    json_t *header = segment_object(tok, hlen, why, header_why);
    if (!header || check_header(header, p->alg, why) != 0)
        goto done;
    if (!signature_size_ok(p->alg, sig_len)) {
        *why = "the token's signature has the wrong size";
        goto done;
    }
    claims = segment_object(dot1 + 1, clen, why, claims_why);
    if (!claims)
        goto done;
    auth_jwt_claims c;
    if (check_claims(claims, p, now_s, &c, why) != 0)
        goto done;
    *out = c;
    rc = 0;
done:
    json_decref(claims);
    json_decref(header);
    return rc;
}

/* ---- keys ---- */

static bool contains(const unsigned char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return true;
    return false;
}

/* Writes "AUTH_JWT_KEY_FILE: <path> <why...>" into err; returns -1. */
static int key_fail(char *err, size_t errlen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int key_fail(char *err, size_t errlen, const char *path, const char *fmt, ...)
{
    int n = snprintf(err, errlen, "AUTH_JWT_KEY_FILE: %s ", path);
    if (n >= 0 && (size_t)n < errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static unsigned char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "AUTH_JWT_KEY_FILE: cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    unsigned char *data = xmalloc(KEY_FILE_MAX + 1);
    size_t n = fread(data, 1, KEY_FILE_MAX + 1, f);
    bool bad = ferror(f) != 0;
    fclose(f);
    if (bad || n == 0 || n > KEY_FILE_MAX) {
        key_fail(err, errlen, path, "is %s",
                 bad      ? "unreadable"
                 : n == 0 ? "empty"
                          : "larger than 64 KiB");
        free(data);
        return NULL;
    }
    data[n] = '\0';
    *len = n;
    return data;
}

/* Checks that the key libjwt will be handed works for alg: a PEM public key
 * (SubjectPublicKeyInfo, what libjwt 1.10 reads) of the right type, or for
 * HS256 a secret that is not a PEM key. */
static int key_check(auth *a, const char *path, char *err, size_t errlen)
{
    if (a->alg == JWT_ALG_HS256) {
        /* A secret written with `echo` ends with a newline nobody means. */
        if (a->key_len && a->key[a->key_len - 1] == '\n')
            a->key_len--;
        if (a->key_len && a->key[a->key_len - 1] == '\r')
            a->key_len--;
        /* HS256 keyed with a public key lets anyone who has that key sign. */
        if (contains(a->key, a->key_len, "-----BEGIN"))
            return key_fail(err, errlen, path,
                            "holds a PEM key, but HS256 needs a shared secret (for an identity "
                            "provider's public key use RS256 or ES256)");
        if (a->key_len < HS256_MIN_KEY) {
            snprintf(err, errlen,
                     "AUTH_JWT_KEY_FILE: the HS256 secret in %s is shorter than %d bytes", path,
                     HS256_MIN_KEY);
            return -1;
        }
        return 0;
    }
    if (contains(a->key, a->key_len, "PRIVATE KEY-----"))
        return key_fail(err, errlen, path,
                        "holds a private key; give the service the public key only (openssl "
                        "pkey -pubout)");
    BIO *bio = BIO_new_mem_buf(a->key, (int)a->key_len);
    EVP_PKEY *pk = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    ERR_clear_error();
    if (!pk)
        return key_fail(err, errlen, path, "is not a PEM public key (-----BEGIN PUBLIC KEY-----)");
    int rc = 0;
    char group[64] = "";
    if (a->alg == JWT_ALG_RS256 && EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA)
        rc = key_fail(err, errlen, path, "is not an RSA key, which RS256 needs");
    else if (a->alg == JWT_ALG_RS256 && EVP_PKEY_get_bits(pk) < RSA_MIN_BITS)
        rc = key_fail(err, errlen, path, "is an RSA key of %d bits; RS256 needs %d",
                      EVP_PKEY_get_bits(pk), RSA_MIN_BITS);
    else if (a->alg == JWT_ALG_ES256 &&
             (EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC ||
              EVP_PKEY_get_group_name(pk, group, sizeof group, NULL) != 1 ||
              strcmp(group, "prime256v1") != 0))
        rc = key_fail(err, errlen, path, "is not an EC key on P-256, which ES256 needs");
    EVP_PKEY_free(pk);
    return rc;
}
int auth_jwt_load_key(auth *a, const char *path, char *err, size_t errlen)
{
    a->key = read_file(path, &a->key_len, err, errlen);
    return a->key && key_check(a, path, err, errlen) == 0 ? 0 : -1;
}

/* ---- verifying, with the cache ---- */

/* libjwt checks the signature (with the algorithm auth_jwt_inspect already
 * pinned to the configured one). */
static bool signature_ok(const auth *a, const char *tok)
{
    jwt_t *j = NULL;
    int rc = jwt_decode(&j, tok, a->key, (int)a->key_len);
    bool ok = rc == 0 && j && jwt_get_alg(j) == a->alg;
    if (j)
        jwt_free(j);
    ERR_clear_error(); /* libjwt leaves OpenSSL's per-thread errors behind */
    return ok;
}

static void sha256(const char *s, size_t n, unsigned char d[32])
{
    unsigned int len = 0;
    if (!EVP_Digest(s, n, d, &len, EVP_sha256(), NULL))
        abort(); /* out of memory, or a libcrypto without SHA-256 */
}

static bool cache_get(auth *a, const unsigned char d[32], auth_jwt_claims *out)
{
    jwt_cached *e = &a->cache[(d[0] | (size_t)d[1] << 8) % JWT_CACHE_SLOTS];
    pthread_mutex_lock(&a->cache_mu);
    bool hit = e->used && CRYPTO_memcmp(e->digest, d, 32) == 0;
    if (hit)
        *out = e->claims;
    pthread_mutex_unlock(&a->cache_mu);
    return hit;
}

static void cache_put(auth *a, const unsigned char d[32], const auth_jwt_claims *c)
{
    jwt_cached *e = &a->cache[(d[0] | (size_t)d[1] << 8) % JWT_CACHE_SLOTS];
    pthread_mutex_lock(&a->cache_mu);
    memcpy(e->digest, d, 32);
    e->claims = *c;
    e->used = true;
    pthread_mutex_unlock(&a->cache_mu);
}

int auth_jwt_check(auth *a, const char *tok, size_t n, int64_t now_s, auth_jwt_claims *c,
                   const char **why)
{
    unsigned char d[32];
    sha256(tok, n, d);
    if (cache_get(a, d, c))
        return times_ok(c, &a->policy, now_s, why);
    if (auth_jwt_inspect(tok, n, &a->policy, now_s, c, why) != 0)
        return -1;
    if (!signature_ok(a, tok)) {
        *why = "the token's signature does not verify";
        return -1;
    }
    cache_put(a, d, c);
    return 0;
}
