/* libFuzzer target for common/event.c:
 * - event_decode on arbitrary bytes; a decoded event satisfies the contract
 *   and survives event_encode -> event_decode unchanged;
 * - event_encode of an arbitrary struct (unterminated arrays, any int64)
 *   stays within its buffers and produces a parseable JSON object. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz_input.h"
#include "event.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_contract(const event_finished *ev)
{
    if (!uuid_is_valid(ev->appointment_id, strnlen(ev->appointment_id, UUID_STR_LEN)) ||
        !uuid_is_valid(ev->physician_id, strnlen(ev->physician_id, UUID_STR_LEN)) ||
        !uuid_is_valid(ev->patient_id, strnlen(ev->patient_id, UUID_STR_LEN)))
        abort();
    if (ev->start_ms < 0 || ev->end_ms < ev->start_ms || ev->hourly_price_cents < 0 ||
        ev->hourly_price_cents > EVENT_MAX_HOURLY_PRICE_CENTS)
        abort();
    if (strnlen(ev->currency, EVENT_CURRENCY_LEN) != 3)
        abort();
}

static void check_round_trip(const event_finished *ev)
{
    buf b;
    buf_init(&b);
    event_encode(ev, &b);
    event_finished back;
    memset(&back, 0, sizeof back);
    char reason[256] = "";
    if (event_decode(b.ptr, b.len, &back, reason, sizeof reason) != 0)
        abort(); /* our own encoding rejected */
    if (memcmp(&back, ev, sizeof back) != 0)
        abort();
    buf_free(&b);
}

/* Encoding any struct must not read past its arrays and must give an object
 * json_parse_object takes (decoding may still reject its values). */
static void check_encode_any(const uint8_t *data, size_t size)
{
    event_finished ev;
    if (size < sizeof ev)
        return;
    memcpy(&ev, data, sizeof ev);
    buf b;
    buf_init(&b);
    event_encode(&ev, &b);
    event_finished back;
    char reason[64];
    (void)event_decode(b.ptr, b.len, &back, reason, sizeof reason);
    /* Invalid UTF-8 in the raw arrays is copied through (a NUL ends each
     * one); all else must parse. */
    json_parse_error err;
    json_t *doc = json_parse_object(b.ptr, b.len, &err);
    if (doc)
        json_decref(doc);
    else if (strcmp(err.msg, "the body is not valid UTF-8") != 0)
        abort();
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = fuzz_input_copy(data, size);
    if (!copy)
        return 0;

    event_finished ev;
    memset(&ev, 0, sizeof ev);
    char reason[256];
    reason[0] = '\0';
    if (event_decode(copy, size, &ev, reason, sizeof reason) == 0) {
        check_contract(&ev);
        check_round_trip(&ev);
    } else if (reason[0] == '\0') {
        abort(); /* a rejection always names its field */
    }
    /* A tiny reason buffer is truncated, never overrun. */
    char small[4];
    (void)event_decode(copy, size, &ev, small, sizeof small);
    check_encode_any(data, size);
    free(copy);
    return 0;
}
