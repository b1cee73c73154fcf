/* libFuzzer target for common/uuid.c: uuid_is_valid and uuid_normalize agree,
 * normalising gives a valid lowercase UUID equal to the input but for case,
 * and normalising again changes nothing. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uuid.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = fuzz_input_copy(data, size);
    if (!copy)
        return 0;

    bool valid = uuid_is_valid(copy, size);
    char out[UUID_STR_LEN + 4];
    memset(out, 'X', sizeof out);
    int rc = uuid_normalize(copy, size, out);
    if ((rc == 0) != valid)
        abort();
    if (rc != 0) {
        for (size_t i = 0; i < sizeof out; i++)
            if (out[i] != 'X')
                abort(); /* out untouched on failure */
    } else {
        if (out[36] != '\0' || out[37] != 'X' || !uuid_is_valid(out, 36))
            abort();
        for (size_t i = 0; i < 36; i++)
            if (tolower((unsigned char)copy[i]) != out[i] || isupper((unsigned char)out[i]))
                abort();
        char again[UUID_STR_LEN];
        if (uuid_normalize(out, 36, again) != 0 || memcmp(again, out, UUID_STR_LEN) != 0)
            abort();
    }
    free(copy);
    return 0;
}
