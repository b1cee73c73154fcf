/* auth: who may call which route. A caller presents a bearer token of one of
 * two kinds, either or both configured:
 *  - a static token from AUTH_TOKENS ("TOKEN=scope,scope;TOKEN2=scope"),
 *    compared in constant time;
 *  - a JWT (RFC 7519) from an identity provider, as an OAuth2 resource
 *    server takes it: signed with the one configured algorithm and key
 *    (libjwt verifies the signature), exp required, nbf/iat honoured with a
 *    leeway, iss and aud checked when configured, scopes from `scope`
 *    (space-separated) or `scp` (array or string).
 * With neither configured, auth is off and every caller is "anonymous".
 *
 * Each caller has a client id, for scoping what it stores (idempotency keys):
 * "t:" + a hash of the static token, "j:" + a hash of the JWT's iss and sub,
 * or "anonymous". Tokens themselves are never stored, logged or echoed.
 *
 * auth_new and auth_free run at start-up and shutdown; auth_check may run on
 * many threads at once. A verified JWT is remembered (by its SHA-256, at most
 * 1024 of them) until it expires, so its signature is checked once, not at
 * every request. The JWT reading that libjwt does not do is the pure
 * auth_jwt_inspect, unit-tested and fuzzed (tests/fuzz/fuzz_jwt.c, which
 * reaches the whole of the JWT half: common/auth_jwt.c). The module's two
 * files share common/auth_internal.h; callers include this header only. */
#ifndef COMMON_AUTH_H
#define COMMON_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest bearer token looked at; a longer one is refused unread
 * (civetweb bounds the whole header block at 16 KiB). */
#define AUTH_TOKEN_MAX 8192
/* Nesting allowed in a JWT's header and claims JSON; deeper is refused before
 * any JSON parser recurses into it. */
#define AUTH_JWT_MAX_DEPTH 16
/* A client id: "t:" or "j:" + 64 hex digits, or "anonymous", plus NUL. */
#define AUTH_CLIENT_LEN 67
#define AUTH_ANONYMOUS "anonymous"

/* The scopes routes require. Anything else in AUTH_TOKENS fails at start. */
enum {
    AUTH_SCOPE_APPOINTMENTS_WRITE = 1u << 0,
    AUTH_SCOPE_APPOINTMENTS_READ = 1u << 1,
    AUTH_SCOPE_BILLINGS_READ = 1u << 2,
    AUTH_SCOPE_METRICS_READ = 1u << 3,
    AUTH_SCOPE_REGISTRY_READ = 1u << 4, /* physicians */
    AUTH_SCOPE_REGISTRY_WRITE = 1u << 5,
    AUTH_SCOPE_PATIENTS_READ = 1u << 6,
    AUTH_SCOPE_PATIENTS_WRITE = 1u << 7,
    AUTH_SCOPE_BILLING_ADMIN = 1u << 8, /* dead letters, reconciliation */
};
#define AUTH_KNOWN_SCOPES                                                                          \
    "appointments:write, appointments:read, billings:read, metrics:read, registry:read, "          \
    "registry:write, patients:read, patients:write, billing:admin"

/* The bit of a known scope name[0..len), or 0 for any other name. Cannot fail. */
unsigned auth_scope_bit(const char *name, size_t len);

typedef struct auth_opts {
    const char *tokens;       /* AUTH_TOKENS; NULL or "" for none */
    const char *jwt_alg;      /* AUTH_JWT_ALG: RS256, ES256 or HS256; NULL or "" for no JWT */
    const char *jwt_key_file; /* AUTH_JWT_KEY_FILE: PEM public key, or HS256's secret */
    const char *jwt_issuer;   /* AUTH_JWT_ISSUER; NULL or "": iss not checked */
    const char *jwt_audience; /* AUTH_JWT_AUDIENCE; NULL or "": aud not checked */
    int jwt_leeway_s;         /* AUTH_JWT_LEEWAY_S: clock skew allowed on exp, nbf, iat */
} auth_opts;

typedef struct auth auth;

/* Checks and loads the whole configuration: token syntax and scope names, the
 * JWT algorithm, the key file (readable; a public key of the algorithm's type,
 * or a secret of at least 32 bytes for HS256), and a JWT setting without its
 * algorithm or key. Returns the auth, or NULL with a message in err that
 * names the variable (and never holds a token). Both kinds empty is valid:
 * auth off. */
auth *auth_new(const auth_opts *opts, char *err, size_t errlen);
/* NULL is a no-op. */
void auth_free(auth *a);
/* True when any kind of token is configured (NULL: false). */
bool auth_on(const auth *a);
/* Number of static tokens; whether JWTs are accepted. For start-up logs. */
size_t auth_ntokens(const auth *a);
bool auth_jwt_on(const auth *a);

typedef enum auth_status {
    AUTH_OK = 0,
    AUTH_NO_TOKEN, /* no Authorization header or not a bearer one: 401 */
    AUTH_INVALID,  /* unknown, malformed, expired, badly signed...: 401 invalid_token */
    AUTH_NO_SCOPE, /* a valid token without the scope: 403 insufficient_scope */
} auth_status;

typedef struct auth_result {
    char client[AUTH_CLIENT_LEN]; /* the caller (set when AUTH_OK or AUTH_NO_SCOPE) */
    const char *why;              /* a fixed phrase saying what is wrong ("the token has expired");
                                   * never holds any part of the token */
} auth_result;

/* Checks the Authorization header value (NULL when absent) for `scope` at
 * now_s (Unix seconds). With auth off every request is AUTH_OK as
 * "anonymous". A static token is tried first, then, if configured, a JWT.
 * Cannot fail otherwise; thread-safe (a's JWT cache is behind a mutex). */
auth_status auth_check(auth *a, const char *authorization, const char *scope, int64_t now_s,
                       auth_result *res);

/* ---- pure JWT reading (no signature check, no I/O) ---- */

typedef struct auth_jwt_policy {
    const char *alg;      /* the one algorithm accepted ("RS256", "ES256", "HS256") */
    const char *issuer;   /* NULL or "": any iss */
    const char *audience; /* NULL or "": any aud */
    int64_t leeway_s;     /* >= 0 */
} auth_jwt_policy;

typedef struct auth_jwt_claims {
    unsigned scopes;              /* AUTH_SCOPE_* bits the token grants */
    char client[AUTH_CLIENT_LEN]; /* "j:" + hex SHA-256 of (iss, sub) */
    int64_t exp, nbf, iat;        /* seconds; nbf and iat INT64_MIN when absent */
} auth_jwt_claims;

/* Reads a compact JWS tok[0..len) as far as it can be read without the key:
 * three segments of unpadded canonical base64url; header and claims JSON
 * objects (strict: no duplicate keys, no NUL, valid UTF-8, nesting at most
 * AUTH_JWT_MAX_DEPTH); the header's alg equal to p->alg (so never "none",
 * never a key confusion), typ absent or "JWT", no crit; a signature of the
 * algorithm's size; exp present and after now - leeway, nbf and iat not after
 * now + leeway, iss and aud as p asks, sub a non-empty string. Returns 0 with
 * *out, or -1 with *why (a fixed phrase). The signature still has to be
 * verified (auth_check does it with libjwt). */
int auth_jwt_inspect(const char *tok, size_t len, const auth_jwt_policy *p, int64_t now_s,
                     auth_jwt_claims *out, const char **why);

#endif
