/* libFuzzer target for common/json.c: json_parse_object on arbitrary bytes,
 * the typed getters on whatever it accepts, and a round trip of
 * json_append_str (any valid UTF-8 without NUL must come back unchanged). */
#include <bson/bson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz_input.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Fields the services and the event decoder look up. */
static const char *const fields[] = {
    "appointment_id",     "physician_id", "patient_id", "start_date", "end_date",
    "hourly_price_cents", "currency",     "a",          "",           NULL};

static void check_getters(const bson_t *doc)
{
    for (size_t i = 0; fields[i]; i++) {
        const char *s = NULL;
        size_t n = 0;
        if (json_get_str(doc, fields[i], &s, &n) == JSON_OK) {
            /* The string is borrowed from doc and must be readable in full. */
            if (s == NULL || memchr(s, '\0', n) != NULL)
                abort();
        }
        int64_t v = 0;
        (void)json_get_int(doc, fields[i], &v);
    }
    const char *unknown = NULL;
    (void)json_has_unknown_key(doc, fields, &unknown);
}

/* Containers nested in doc, doc itself counting as 1. */
static int depth_of(const bson_t *doc)
{
    int max = 0;
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        abort();
    while (bson_iter_next(&it)) {
        if (!BSON_ITER_HOLDS_DOCUMENT(&it) && !BSON_ITER_HOLDS_ARRAY(&it))
            continue;
        uint32_t len = 0;
        const uint8_t *data = NULL;
        if (BSON_ITER_HOLDS_DOCUMENT(&it))
            bson_iter_document(&it, &len, &data);
        else
            bson_iter_array(&it, &len, &data);
        bson_t sub;
        if (!bson_init_static(&sub, data, len))
            abort();
        int d = depth_of(&sub);
        if (d > max)
            max = d;
    }
    return max + 1;
}

/* {"a":<json_append_str(s)>} must parse and give s back byte for byte. */
static void check_string_round_trip(const char *s, size_t n)
{
    if (memchr(s, '\0', n) || !bson_utf8_validate(s, n, false))
        return;
    buf b;
    buf_init(&b);
    buf_puts(&b, "{\"a\":");
    json_append_str(&b, s, n);
    buf_putc(&b, '}');
    bson_t doc;
    char err[256];
    if (json_parse_object(b.ptr, b.len, &doc, err, sizeof err) != 0)
        abort(); /* our own output rejected by our own parser */
    const char *got = NULL;
    size_t got_len = 0;
    if (json_get_str(&doc, "a", &got, &got_len) != JSON_OK || got_len != n ||
        memcmp(got, s, n) != 0)
        abort();
    bson_destroy(&doc);
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = fuzz_input_copy(data, size);
    if (!copy)
        return 0;

    bson_t doc;
    char err[256];
    if (json_parse_object(copy, size, &doc, err, sizeof err) == 0) {
        check_getters(&doc);
        /* The documented bound: nothing nested deeper than 32 gets through
         * (libbson may fold extended-JSON wrappers, so only an upper bound). */
        if (depth_of(&doc) > 32)
            abort();
        bson_destroy(&doc);
    } else if (strnlen(err, sizeof err) == 0) {
        abort(); /* a rejection always says why */
    }
    check_string_round_trip(copy, size);
    free(copy);
    return 0;
}
