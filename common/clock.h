/* clock: the wall clock, the monotonic clock and sleeping (what timefmt.h
 * formats and parses is in ms since the epoch, as clock_now_ms returns).
 * Thread-safe. */
#ifndef COMMON_CLOCK_H
#define COMMON_CLOCK_H

#include <stdint.h>

/* Wall clock now, in ms since the epoch (CLOCK_REALTIME). */
int64_t clock_now_ms(void);

/* Monotonic clock in ms / us, for timeouts and latencies. */
int64_t clock_mono_ms(void);
int64_t clock_mono_us(void);
/* Sleeps ms milliseconds (a signal may end it early). */
void clock_sleep_ms(int64_t ms);

#endif
