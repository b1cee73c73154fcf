/* b64url: the base64url encoder (no padding) the JWT tests and the fuzz_jwt
 * driver build tokens with. Test code only: the service decodes tokens and
 * never encodes one. */
#ifndef TESTS_B64URL_H
#define TESTS_B64URL_H

#include <stddef.h>
#include <stdint.h>

/* Writes data[0..n) base64url-encoded and NUL-terminated into out, which has
 * room for n * 4 / 3 + 4 bytes. Returns the encoded length. */
static inline size_t b64url_encode(const void *data, size_t n, char *out)
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *d = data;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | d[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = al[(acc >> bits) & 63];
        }
        acc &= (1u << bits) - 1;
    }
    if (bits > 0)
        out[o++] = al[(acc << (6 - bits)) & 63];
    out[o] = '\0';
    return o;
}

#endif
