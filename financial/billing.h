/* billing: the pricing rule, pure. A consultation is billed per started hour,
 * at least one hour: hours = max(1, ceil((end - start) / 1 h)), total =
 * hours * hourly price, in integer cents. */
#ifndef FINANCIAL_BILLING_H
#define FINANCIAL_BILLING_H

#include <stdint.h>

typedef struct billing_amount {
    int64_t hours;       /* billed hours, >= 1 */
    int64_t total_cents; /* hours * hourly_price_cents */
} billing_amount;

/* Computes the amount for a consultation from start_ms to end_ms (ms since the
 * epoch). Returns 0 and fills *out; -1 if end < start, the hourly price is
 * negative, or the total would overflow int64 (out untouched). */
int billing_compute(int64_t start_ms, int64_t end_ms, int64_t hourly_price_cents,
                    billing_amount *out);

#endif
