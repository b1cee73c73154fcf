/* fuzz_input: what every fuzz target does with libFuzzer's bytes first. */
#ifndef FUZZ_INPUT_H
#define FUZZ_INPUT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* An exact-size heap copy of the input (never NUL-terminated), so that
 * reading one byte past it is an ASan report, not a silent read of
 * libFuzzer's buffer. NULL when out of memory; free() it. */
static inline char *fuzz_input_copy(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1);
    if (copy && size)
        memcpy(copy, data, size);
    return copy;
}

#endif
