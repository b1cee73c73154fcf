/* billing_delay: the histogram clinic_billing_delay_seconds, the seconds
 * from a consultation's end (the event's end_date) to its billing being
 * written, by the consumer or by a replay of a dead letter. Process-wide and
 * lock-free: any thread may observe and render. */
#ifndef BILLING_DELAY_H
#define BILLING_DELAY_H

#include <stdint.h>

#include "buf.h"

/* Records one billing written at billed_ms for a consultation that ended at
 * end_ms (a negative delay, a clock skew, counts as 0). Cannot fail. */
void billing_delay_observe(int64_t end_ms, int64_t billed_ms);
/* Appends the histogram in Prometheus text. Cannot fail. */
void billing_delay_render(buf *out);

#endif
