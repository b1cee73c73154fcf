/* libFuzzer target for common/money.c: money_parse on arbitrary bytes (an
 * accepted amount is within 0..1e15 units and money_format of it parses back
 * to the same cents), and money_format on any int64 stays in its buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "money.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = fuzz_input_copy(data, size);
    if (!copy)
        return 0;

    int64_t cents = -1;
    if (money_parse(copy, size, &cents) == 0) {
        if (cents < 0 || cents > INT64_C(100000000000000000))
            abort();
        char out[MONEY_STR_LEN];
        size_t n = money_format(cents, out);
        int64_t back = -1;
        if (money_parse(out, n, &back) != 0 || back != cents)
            abort();
    } else if (cents != -1) {
        abort(); /* a rejection must leave *out_cents alone */
    }
    if (size >= 8) {
        int64_t raw;
        memcpy(&raw, copy, sizeof raw);
        char out[MONEY_STR_LEN + 8];
        memset(out, 'X', sizeof out);
        size_t n = money_format(raw, out);
        if (n >= MONEY_STR_LEN || strlen(out) != n || out[MONEY_STR_LEN] != 'X')
            abort();
    }
    free(copy);
    return 0;
}
