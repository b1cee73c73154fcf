/* libFuzzer target for auth_jwt_inspect (common/auth.c), the JWT reading
 * that runs on every bearer token before libjwt checks its signature.
 *
 * The first byte picks the policy (algorithm, whether iss and aud are
 * required, the leeway) and the mode:
 *  - raw (bit 0x80 set): the rest is the token as a client sends it;
 *  - structured: the rest is "header JSON \0 claims JSON \0 signature bytes",
 *    base64url-encoded here, so the fuzzer reaches the claim checks without
 *    having to invent base64.
 * Properties: never a crash, nor a read past the token (an exact-size copy);
 * a refusal always says why; an accepted token has three segments, a "j:"
 * client id of 64 lowercase hex digits and only known scope bits; the same
 * input gives the same answer. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "fuzz_input.h"
#include "../unit/b64url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 2030-01-01T00:00:00Z, fixed so runs are reproducible. */
#define NOW INT64_C(1893456000)
#define ALL_SCOPES                                                                                 \
    (AUTH_SCOPE_APPOINTMENTS_WRITE | AUTH_SCOPE_APPOINTMENTS_READ | AUTH_SCOPE_BILLINGS_READ |     \
     AUTH_SCOPE_METRICS_READ)

static void check(const char *tok, size_t len, const auth_jwt_policy *p)
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
        return;
    }
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 3 * AUTH_TOKEN_MAX)
        return 0;
    static const char *const algs[] = {"HS256", "RS256", "ES256", "HS256"};
    uint8_t sel = data[0];
    auth_jwt_policy p = {algs[sel & 3], (sel & 4) ? "https://idp" : NULL,
                         (sel & 8) ? "clinic" : NULL, (sel & 16) ? 30 : 0};
    data++;
    size--;
    if (sel & 0x80) {
        char *tok = fuzz_input_copy(data, size);
        if (!tok)
            return 0;
        check(tok, size, &p);
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
    size_t cap = (hlen + clen + slen) * 4 / 3 + 8;
    char *tok = malloc(cap);
    if (!tok)
        return 0;
    size_t o = b64url_encode(data, hlen, tok);
    tok[o++] = '.';
    o += b64url_encode(rest, clen, tok + o);
    tok[o++] = '.';
    o += b64url_encode(sig, slen, tok + o);
    char *exact = fuzz_input_copy((const uint8_t *)tok, o);
    free(tok);
    if (!exact)
        return 0;
    check(exact, o, &p);
    free(exact);
    return 0;
}
