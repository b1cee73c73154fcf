#include "auth.h"

#include <jansson.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "auth_internal.h"

/* Static tokens are stretched before their hash becomes a stored client id,
 * so a leaked idempotency_keys collection cannot be used to guess a short
 * token offline. Computed once per token at start-up. */
#define TOKEN_ID_ITERATIONS 20000

static const struct {
    const char *name;
    unsigned bit;
} known_scopes[] = {
    {"appointments:write", AUTH_SCOPE_APPOINTMENTS_WRITE},
    {"appointments:read", AUTH_SCOPE_APPOINTMENTS_READ},
    {"billings:read", AUTH_SCOPE_BILLINGS_READ},
    {"metrics:read", AUTH_SCOPE_METRICS_READ},
    {"registry:read", AUTH_SCOPE_REGISTRY_READ},
    {"registry:write", AUTH_SCOPE_REGISTRY_WRITE},
    {"patients:read", AUTH_SCOPE_PATIENTS_READ},
    {"patients:write", AUTH_SCOPE_PATIENTS_WRITE},
    {"billing:admin", AUTH_SCOPE_BILLING_ADMIN},
};

unsigned auth_scope_bit(const char *name, size_t len)
{
    if (!name)
        return 0;
    for (size_t i = 0; i < sizeof known_scopes / sizeof known_scopes[0]; i++)
        if (strlen(known_scopes[i].name) == len && memcmp(known_scopes[i].name, name, len) == 0)
            return known_scopes[i].bit;
    return 0;
}

/* ORs the known scopes of a space-separated list into *bits. */
static void scopes_from_list(const char *s, unsigned *bits)
{
    while (*s) {
        while (*s == ' ')
            s++;
        size_t n = strcspn(s, " ");
        *bits |= auth_scope_bit(s, n);
        s += n;
    }
}

int auth_read_scopes(const json_t *claims, unsigned *bits, const char **why)
{
    const json_t *scope = json_object_get(claims, "scope");
    const json_t *scp = json_object_get(claims, "scp");
    *bits = 0;
    if (scope) {
        if (!json_is_string(scope)) {
            *why = "the token's scope claim is not a string";
            return -1;
        }
        scopes_from_list(json_string_value(scope), bits);
    }
    if (scp) {
        if (json_is_string(scp)) {
            scopes_from_list(json_string_value(scp), bits);
        } else if (json_is_array(scp)) {
            size_t i;
            const json_t *item;
            json_array_foreach(scp, i, item)
            {
                if (!json_is_string(item)) {
                    *why = "the token's scp claim holds a non-string";
                    return -1;
                }
                *bits |= auth_scope_bit(json_string_value(item), json_string_length(item));
            }
        } else {
            *why = "the token's scp claim is neither an array nor a string";
            return -1;
        }
    }
    return 0;
}

static void hex(const unsigned char *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

void auth_client_id(char out[AUTH_CLIENT_LEN], char prefix, const char *const *parts, size_t n)
{
    unsigned char d[32];
    unsigned int dlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
        abort(); /* out of memory, or a libcrypto without SHA-256 */
    for (size_t i = 0; i < n; i++)
        EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]) + 1);
    EVP_DigestFinal_ex(ctx, d, &dlen);
    EVP_MD_CTX_free(ctx);
    out[0] = prefix;
    out[1] = ':';
    hex(d, 32, out + 2);
}

/* ---- configuration ---- */

static bool scope_shaped(const char *s, size_t n)
{
    size_t colons = 0;
    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ':')
            colons++;
        else if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_' || s[i] == '-'))
            return false;
    }
    return colons == 1;
}

/* Reads "tokA=scope1,scope2;tokB=scope3" (scopes split by ',' or ' '). Error
 * messages number the entries and never quote a token: they go to the logs.
 * An unknown scope is quoted only when it is shaped like one, in case a token
 * landed on the scope side of the '='. */
static int tokens_parse(auth *a, const char *spec, char *err, size_t errlen)
{
    size_t entry = 0;
    for (const char *p = spec; *p;) {
        const char *semi = strchr(p, ';');
        size_t n = semi ? (size_t)(semi - p) : strlen(p);
        const char *next = semi ? semi + 1 : p + n;
        if (n == 0) {
            p = next;
            continue;
        }
        entry++;
        const char *eq = memchr(p, '=', n);
        if (!eq || (size_t)(eq - p) < 16) {
            snprintf(err, errlen,
                     "AUTH_TOKENS: each entry is TOKEN=scope[,scope] with a token of at least "
                     "16 characters (entry %zu)",
                     entry);
            return -1;
        }
        size_t tlen = (size_t)(eq - p);
        for (size_t i = 0; i < a->ntokens; i++)
            if (a->tokens[i].len == tlen && memcmp(a->tokens[i].value, p, tlen) == 0) {
                snprintf(err, errlen, "AUTH_TOKENS: entry %zu repeats the token of entry %zu",
                         entry, i + 1);
                return -1;
            }
        unsigned scopes = 0;
        for (const char *s = eq + 1; s < p + n;) {
            size_t k = strcspn(s, ", ;");
            if (s + k > p + n)
                k = (size_t)(p + n - s);
            if (k > 0) {
                unsigned bit = auth_scope_bit(s, k);
                if (!bit) {
                    if (scope_shaped(s, k))
                        snprintf(err, errlen,
                                 "AUTH_TOKENS: entry %zu has an unknown scope '%.*s' (known: %s)",
                                 entry, (int)k, s, AUTH_KNOWN_SCOPES);
                    else
                        snprintf(err, errlen,
                                 "AUTH_TOKENS: entry %zu has an unknown scope (not shown: it is "
                                 "not shaped like one; known: %s)",
                                 entry, AUTH_KNOWN_SCOPES);
                    return -1;
                }
                scopes |= bit;
            }
            s += k + 1;
        }
        if (!scopes) {
            snprintf(err, errlen, "AUTH_TOKENS: entry %zu has no scope (known: %s)", entry,
                     AUTH_KNOWN_SCOPES);
            return -1;
        }
        a->tokens = xrealloc(a->tokens, (a->ntokens + 1) * sizeof *a->tokens);
        token *t = &a->tokens[a->ntokens++];
        t->value = xstrndup(p, tlen);
        t->len = tlen;
        t->scopes = scopes;
        unsigned char d[32];
        static const char salt[] = "clinic-events client id";
        if (PKCS5_PBKDF2_HMAC(t->value, (int)tlen, (const unsigned char *)salt, sizeof salt - 1,
                              TOKEN_ID_ITERATIONS, EVP_sha256(), sizeof d, d) != 1) {
            snprintf(err, errlen, "AUTH_TOKENS: cannot hash entry %zu (libcrypto failed)", entry);
            return -1;
        }
        t->client[0] = 't';
        t->client[1] = ':';
        hex(d, sizeof d, t->client + 2);
        p = next;
    }
    return 0;
}

static int jwt_config(auth *a, const auth_opts *o, char *err, size_t errlen)
{
    const char *alg = o->jwt_alg ? o->jwt_alg : "";
    const char *file = o->jwt_key_file ? o->jwt_key_file : "";
    const char *iss = o->jwt_issuer ? o->jwt_issuer : "";
    const char *aud = o->jwt_audience ? o->jwt_audience : "";
    if (!alg[0]) {
        const char *set = file[0]  ? "AUTH_JWT_KEY_FILE"
                          : iss[0] ? "AUTH_JWT_ISSUER"
                          : aud[0] ? "AUTH_JWT_AUDIENCE"
                                   : NULL;
        if (set) {
            snprintf(err, errlen, "%s is set but AUTH_JWT_ALG is not (RS256, ES256 or HS256)", set);
            return -1;
        }
        return 0;
    }
    if (strcasecmp(alg, "none") == 0) {
        snprintf(err, errlen, "AUTH_JWT_ALG: unsigned tokens (none) are never accepted");
        return -1;
    }
    if (strcmp(alg, "RS256") == 0)
        a->alg = JWT_ALG_RS256;
    else if (strcmp(alg, "ES256") == 0)
        a->alg = JWT_ALG_ES256;
    else if (strcmp(alg, "HS256") == 0)
        a->alg = JWT_ALG_HS256;
    else {
        snprintf(err, errlen, "AUTH_JWT_ALG must be RS256, ES256 or HS256, got '%.16s'", alg);
        return -1;
    }
    if (!file[0]) {
        snprintf(err, errlen, "AUTH_JWT_ALG is %s but AUTH_JWT_KEY_FILE is not set", alg);
        return -1;
    }
    if (o->jwt_leeway_s < 0) {
        snprintf(err, errlen, "AUTH_JWT_LEEWAY_S must not be negative");
        return -1;
    }
    if (auth_jwt_load_key(a, file, err, errlen) != 0)
        return -1;
    a->jwt = true;
    snprintf(a->alg_name, sizeof a->alg_name, "%s", alg);
    a->issuer = xstrdup(iss);
    a->audience = xstrdup(aud);
    a->policy.alg = a->alg_name;
    a->policy.issuer = a->issuer;
    a->policy.audience = a->audience;
    a->policy.leeway_s = o->jwt_leeway_s;
    a->cache = xcalloc(JWT_CACHE_SLOTS, sizeof *a->cache);
    pthread_mutex_init(&a->cache_mu, NULL);
    return 0;
}

auth *auth_new(const auth_opts *opts, char *err, size_t errlen)
{
    auth *a = xcalloc(1, sizeof *a);
    /* jansson seeds its hash tables on first use; do it here, before
     * worker threads parse tokens at once. */
    json_object_seed(0);
    if ((opts->tokens && tokens_parse(a, opts->tokens, err, errlen) != 0) ||
        jwt_config(a, opts, err, errlen) != 0) {
        auth_free(a);
        return NULL;
    }
    return a;
}

void auth_free(auth *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->ntokens; i++) {
        OPENSSL_cleanse(a->tokens[i].value, a->tokens[i].len);
        free(a->tokens[i].value);
    }
    free(a->tokens);
    if (a->key)
        OPENSSL_cleanse(a->key, a->key_len);
    free(a->key);
    free(a->issuer);
    free(a->audience);
    if (a->cache) {
        pthread_mutex_destroy(&a->cache_mu);
        free(a->cache);
    }
    free(a);
}

bool auth_on(const auth *a)
{
    return a && (a->ntokens > 0 || a->jwt);
}

size_t auth_ntokens(const auth *a)
{
    return a ? a->ntokens : 0;
}

bool auth_jwt_on(const auth *a)
{
    return a && a->jwt;
}

/* ---- checking a request ---- */

/* Compares every configured token in full, whatever matched, so the time taken
 * says nothing about which bytes were right. */
static const token *tokens_find(const auth *a, const char *presented, size_t plen)
{
    const token *found = NULL;
    for (size_t i = 0; i < a->ntokens; i++) {
        const token *t = &a->tokens[i];
        unsigned char diff = (unsigned char)(t->len != plen);
        for (size_t k = 0; k < t->len; k++) {
            unsigned char c = k < plen ? (unsigned char)presented[k] : 0;
            diff |= (unsigned char)(c ^ (unsigned char)t->value[k]);
        }
        if (diff == 0)
            found = t;
    }
    return found;
}

auth_status auth_check(auth *a, const char *authorization, const char *scope, int64_t now_s,
                       auth_result *res)
{
    res->why = NULL;
    res->client[0] = '\0';
    if (!auth_on(a)) {
        memcpy(res->client, AUTH_ANONYMOUS, sizeof AUTH_ANONYMOUS);
        return AUTH_OK;
    }
    const char *h = authorization;
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return AUTH_NO_TOKEN;
    const char *tok = h + 7;
    size_t n = strnlen(tok, AUTH_TOKEN_MAX + 1);
    if (n == 0)
        return AUTH_NO_TOKEN;
    if (n > AUTH_TOKEN_MAX) {
        res->why = "the token is too long";
        return AUTH_INVALID;
    }
    unsigned granted;
    const token *t = tokens_find(a, tok, n);
    if (t) {
        granted = t->scopes;
        memcpy(res->client, t->client, AUTH_CLIENT_LEN);
    } else if (a->jwt) {
        auth_jwt_claims c;
        if (auth_jwt_check(a, tok, n, now_s, &c, &res->why) != 0) {
            /* A mistyped static token is not "not three segments". */
            if (a->ntokens > 0 && !memchr(tok, '.', n))
                res->why = "the token is not known";
            return AUTH_INVALID;
        }
        granted = c.scopes;
        memcpy(res->client, c.client, AUTH_CLIENT_LEN);
    } else {
        res->why = "the token is not known";
        return AUTH_INVALID;
    }
    unsigned need = scope ? auth_scope_bit(scope, strlen(scope)) : 0;
    if (scope && !(need & granted)) {
        res->why = "the token lacks the scope";
        return AUTH_NO_SCOPE;
    }
    return AUTH_OK;
}
