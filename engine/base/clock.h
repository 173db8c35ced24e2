/* clock.h - the one place the engine reads clocks: wall time for what is
 * stored and shown (nanoseconds or milliseconds since the epoch, UTC) and
 * a monotonic clock for durations. */
#ifndef MLFS_CLOCK_H
#define MLFS_CLOCK_H

#include <stdint.h>

int64_t clock_now_ns(void);
int64_t clock_now_ms(void);
/* Monotonic nanoseconds, for measuring how long something took. */
int64_t clock_mono_ns(void);

#endif
