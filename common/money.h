/* money: amounts are int64 cents everywhere inside; they become decimal text
 * ("200.00") only at the JSON edge. Pure, thread-safe. */
#ifndef COMMON_MONEY_H
#define COMMON_MONEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MONEY_STR_LEN 32

/* Writes cents as "-?D+.DD" ("200.00", "0.05", "-1.50") into out[MONEY_STR_LEN].
 * Handles INT64_MIN. Returns the length written. Cannot fail. */
size_t money_format(int64_t cents, char *out);

/* Parses "200", "200.0", "200.00" (no sign, no exponent, at most 2 decimals,
 * at most 1e15 units) into cents. Returns 0, or -1 leaving *out alone. */
int money_parse(const char *s, size_t len, int64_t *out_cents);

/* True for an ISO 4217-shaped code: exactly three capital ASCII letters. */
bool money_currency_valid(const char *s, size_t len);

#endif
