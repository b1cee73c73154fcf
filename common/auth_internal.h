/* auth_internal: what the two files of the auth module share, and nothing
 * else of the tree may see (include auth.h there):
 *  - common/auth.c: options, static tokens, scopes, client ids, auth_check;
 *  - common/auth_jwt.c: base64url, JWT claims, keys and the verification
 *    cache. */
#ifndef COMMON_AUTH_INTERNAL_H
#define COMMON_AUTH_INTERNAL_H

#include <jansson.h>
#include <jwt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"

/* Verified JWTs remembered by the SHA-256 of the token, so a client sending
 * the same access token again skips the signature check: libjwt 1.10 parses
 * the PEM key on every call, which with OpenSSL 3 costs ~0.5-1 ms of CPU per
 * RS256 check, more than a whole request otherwise. Only what passed every
 * check is kept, and its times are checked again at each use; the key and
 * policy never change while the process runs. A direct-mapped table: a
 * collision just evicts. */
#define JWT_CACHE_SLOTS 1024

typedef struct jwt_cached {
    unsigned char digest[32];
    bool used;
    auth_jwt_claims claims;
} jwt_cached;

typedef struct token {
    char *value;
    size_t len;
    unsigned scopes;
    char client[AUTH_CLIENT_LEN];
} token;

struct auth {
    token *tokens;
    size_t ntokens;
    bool jwt;
    jwt_alg_t alg;
    char alg_name[8];
    unsigned char *key; /* PEM text, or HS256's secret */
    size_t key_len;
    char *issuer;
    char *audience;
    auth_jwt_policy policy; /* points into the fields above */
    pthread_mutex_t cache_mu;
    jwt_cached *cache; /* JWT_CACHE_SLOTS, when jwt */
};

/* "<prefix>:" + 64 hex digits of SHA-256 over parts[0..n), each followed by a
 * NUL so that ("ab", "c") and ("a", "bc") differ (none of them holds a NUL:
 * JSON strings with \u0000 are refused). Cannot fail. (auth.c) */
void auth_client_id(char out[AUTH_CLIENT_LEN], char prefix, const char *const *parts, size_t n);

/* The scopes a JWT's claims grant, as AUTH_SCOPE_* bits in *bits: `scope` (a
 * space-separated string, RFC 8693 4.2) and `scp` (an array, or a
 * space-separated string as some providers send it); unknown names are
 * ignored. Returns 0, or -1 with *why when either claim has the wrong type.
 * (auth.c) */
int auth_read_scopes(const json_t *claims, unsigned *bits, const char **why);

/* Reads the key file at path into a->key and a->key_len and checks that it
 * works for a->alg: a PEM public key (SubjectPublicKeyInfo, what libjwt 1.10
 * reads) of the right type, or for HS256 a secret that is not a PEM key.
 * Returns 0, or -1 with a message naming AUTH_JWT_KEY_FILE in err (a->key may
 * then be set: auth_free frees it). (auth_jwt.c) */
int auth_jwt_load_key(auth *a, const char *path, char *err, size_t errlen);

/* Checks the JWT tok[0..n) (NUL-terminated at n) for a: from the cache (times
 * checked again), else read with auth_jwt_inspect, its signature verified
 * with libjwt, then cached. Returns 0 with *c, or -1 with *why (a fixed
 * phrase). Thread-safe. (auth_jwt.c) */
int auth_jwt_check(auth *a, const char *tok, size_t n, int64_t now_s, auth_jwt_claims *c,
                   const char **why);

#endif
