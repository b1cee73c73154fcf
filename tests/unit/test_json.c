#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"

#include "check_main.h"

/* ---- helpers ---- */

/* Parses s, which must be accepted; the caller json_decref()s the result. */
static json_t *parse_ok(const char *s)
{
    json_parse_error err;
    json_t *doc = json_parse_object(s, strlen(s), &err);
    ck_assert_msg(doc != NULL, "rejected %s: %s", s, err.msg);
    return doc;
}

/* Parses data[0..len), which must be rejected with an error starting with
 * want and naming no key. */
static void assert_rejected_len(const char *data, size_t len, const char *want)
{
    json_parse_error err;
    ck_assert_ptr_null(json_parse_object(data, len, &err));
    ck_assert_msg(strncmp(err.msg, want, strlen(want)) == 0,
                  "error \"%s\" does not start with \"%s\"", err.msg, want);
    ck_assert(!err.duplicate_key);
    ck_assert_str_eq(err.key, "");
}

static void assert_rejected(const char *s, const char *want)
{
    assert_rejected_len(s, strlen(s), want);
}

/* s must be rejected for a key given twice, key being the one named. */
static void assert_duplicate(const char *s, const char *key)
{
    json_parse_error err;
    ck_assert_ptr_null(json_parse_object(s, strlen(s), &err));
    ck_assert(err.duplicate_key);
    ck_assert_str_eq(err.key, key);
    char want[256];
    if (key[0])
        snprintf(want, sizeof want, "%s appears more than once", key);
    else
        snprintf(want, sizeof want, "the empty key \"\" appears more than once");
    ck_assert_str_eq(err.msg, want);
}

/* Runs json_append_str on s[0..len) and compares the output with want. */
static void assert_escaped(const char *s, size_t len, const char *want)
{
    buf b;
    buf_init(&b);
    json_append_str(&b, s, len);
    ck_assert_str_eq(buf_cstr(&b), want);
    buf_free(&b);
}

/* ---- writing ---- */

START_TEST(test_append_str_quotes_plain_text)
{
    assert_escaped("hello", 5, "\"hello\"");
    assert_escaped("", 0, "\"\"");
}
END_TEST

START_TEST(test_append_str_escapes_quotes_and_backslashes)
{
    assert_escaped("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
    assert_escaped("\"", 1, "\"\\\"\"");
}
END_TEST

START_TEST(test_append_str_escapes_control_characters)
{
    assert_escaped("\n\r\t", 3, "\"\\n\\r\\t\"");
    assert_escaped("a\x01z\x1f", 4, "\"a\\u0001z\\u001f\"");
    assert_escaped("\b\f", 2, "\"\\u0008\\u000c\"");
}
END_TEST

START_TEST(test_append_str_escapes_embedded_nul)
{
    assert_escaped("a\0b", 3, "\"a\\u0000b\"");
}
END_TEST

START_TEST(test_append_str_copies_utf8_and_printable_ascii_unchanged)
{
    assert_escaped("consulta às 10h ção", strlen("consulta às 10h ção"), "\"consulta às 10h ção\"");
    assert_escaped("</script>\x7f", 10, "\"</script>\x7f\"");
}
END_TEST

START_TEST(test_append_cstr_writes_null_for_null)
{
    buf b;
    buf_init(&b);
    json_append_cstr(&b, NULL);
    buf_putc(&b, ',');
    json_append_cstr(&b, "x\"y");
    ck_assert_str_eq(buf_cstr(&b), "null,\"x\\\"y\"");
    buf_free(&b);
}
END_TEST

START_TEST(test_append_key_writes_quoted_key_and_colon)
{
    buf b;
    buf_init(&b);
    json_append_key(&b, "total_price");
    ck_assert_str_eq(buf_cstr(&b), "\"total_price\":");
    buf_free(&b);
}
END_TEST

START_TEST(test_append_money_writes_number_with_two_decimals)
{
    buf b;
    buf_init(&b);
    json_append_money(&b, 20000);
    buf_putc(&b, ',');
    json_append_money(&b, 5);
    buf_putc(&b, ',');
    json_append_money(&b, -150);
    buf_putc(&b, ',');
    json_append_money(&b, 0);
    ck_assert_str_eq(buf_cstr(&b), "200.00,0.05,-1.50,0.00");
    buf_free(&b);
}
END_TEST

START_TEST(test_append_time_writes_quoted_rfc3339_utc)
{
    buf b;
    buf_init(&b);
    json_append_time(&b, 0);
    buf_putc(&b, ',');
    json_append_time(&b, INT64_C(1709251199123));
    ck_assert_str_eq(buf_cstr(&b), "\"1970-01-01T00:00:00Z\",\"2024-02-29T23:59:59.123Z\"");
    buf_free(&b);
}
END_TEST

START_TEST(test_written_document_parses_back)
{
    buf b;
    buf_init(&b);
    buf_putc(&b, '{');
    json_append_key(&b, "s");
    json_append_str(&b, "q\"\\\n\x01", 5);
    buf_putc(&b, ',');
    json_append_key(&b, "price");
    json_append_money(&b, 20000);
    buf_putc(&b, '}');
    json_t *doc = parse_ok(buf_cstr(&b));
    const char *s;
    size_t n;
    ck_assert_int_eq(json_get_str(doc, "s", &s, &n), JSON_OK);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(memcmp(s, "q\"\\\n\x01", 5), 0);
    int64_t v;
    ck_assert_int_eq(json_get_int(doc, "price", &v), JSON_OK);
    ck_assert_int_eq(v, 200);
    json_decref(doc);
    buf_free(&b);
}
END_TEST

/* ---- parsing ---- */

START_TEST(test_parse_reads_an_object)
{
    json_t *doc = parse_ok(" {\"a\": \"x\", \"n\": 7}\n");
    const char *s;
    size_t n;
    ck_assert_int_eq(json_get_str(doc, "a", &s, &n), JSON_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(s[0], 'x');
    json_decref(doc);
}
END_TEST

START_TEST(test_parse_empty_body_is_an_empty_object)
{
    json_parse_error err;
    json_t *doc = json_parse_object("", 0, &err);
    ck_assert(json_is_object(doc));
    ck_assert_uint_eq(json_object_size(doc), 0);
    json_decref(doc);
    doc = parse_ok(" \r\n\t ");
    ck_assert(json_is_object(doc));
    ck_assert_uint_eq(json_object_size(doc), 0);
    json_decref(doc);
}
END_TEST

START_TEST(test_parse_rejects_truncated_json)
{
    assert_rejected("{\"a\":", "malformed JSON");
    assert_rejected("{\"a\":\"x", "malformed JSON");
    assert_rejected("{\"a\":[1,2", "malformed JSON");
    assert_rejected("{", "malformed JSON");
}
END_TEST

START_TEST(test_parse_error_never_quotes_the_body)
{
    /* jansson's "near '...'" would quote up to 20 bytes: a CPF, a name. */
    const char *bodies[] = {"{\"cpf\":\"52998224725\x01\"}", "{\"name\":\"Zelda Abuse",
                            "{\"a\":52998224725x}", "{\"cpf\":\"52998224725\n\"}"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        json_parse_error err;
        json_t *doc = json_parse_object(bodies[i], strlen(bodies[i]), &err);
        ck_assert_ptr_null(doc);
        ck_assert_str_ne(err.msg, "");
        ck_assert_msg(!strstr(err.msg, "52998224725") && !strstr(err.msg, "Zelda") &&
                          !strstr(err.msg, "near"),
                      "%s", err.msg);
    }
}
END_TEST

START_TEST(test_parse_rejects_invalid_syntax)
{
    assert_rejected("{\"a\":1,}", "malformed JSON");
    assert_rejected("{'a':1}", "malformed JSON");
    assert_rejected("{\"a\":tru}", "malformed JSON");
    assert_rejected("{\"a\":01}", "malformed JSON");
    assert_rejected("{a:1}", "malformed JSON");
    assert_rejected("{\"a\":NaN}", "malformed JSON");
    assert_rejected("{\"a\":-Infinity}", "malformed JSON");
}
END_TEST

START_TEST(test_parse_error_says_where)
{
    json_parse_error err;
    ck_assert_ptr_null(json_parse_object("{\"a\":1,}", 8, &err));
    ck_assert_msg(strstr(err.msg, "(at byte 8)") != NULL, "%s", err.msg);
}
END_TEST

START_TEST(test_parse_rejects_non_object_top_level)
{
    assert_rejected("[1,2]", "the body must be a JSON object");
    assert_rejected("\"s\"", "the body must be a JSON object");
    assert_rejected("42", "the body must be a JSON object");
    assert_rejected("null", "the body must be a JSON object");
    assert_rejected("  true", "the body must be a JSON object");
}
END_TEST

START_TEST(test_parse_rejects_data_after_the_object)
{
    assert_rejected("{\"a\":1}{\"b\":2}", "malformed JSON");
    assert_rejected("{\"a\":1} x", "malformed JSON");
    assert_rejected("{\"a\":1}}", "malformed JSON");
    assert_rejected("{\"a\":1}[]", "malformed JSON");
}
END_TEST

START_TEST(test_parse_accepts_whitespace_after_the_object)
{
    json_decref(parse_ok("{\"a\":1} \r\n\t"));
}
END_TEST

/* Writes {"a":[[...]]} with `levels` of nesting in all (the object is one). */
static void nested(char *out, int levels)
{
    strcpy(out, "{\"a\":");
    for (int i = 1; i < levels; i++)
        strcat(out, "[");
    for (int i = 1; i < levels; i++)
        strcat(out, "]");
    strcat(out, "}");
}

/* Writes {"a":{"a":...{}}} with `levels` objects in all. */
static void nested_objects(char *out, int levels)
{
    out[0] = '\0';
    for (int i = 1; i < levels; i++)
        strcat(out, "{\"a\":");
    strcat(out, "{}");
    for (int i = 1; i < levels; i++)
        strcat(out, "}");
}

START_TEST(test_parse_rejects_deep_nesting)
{
    char data[256];
    strcpy(data, "{\"a\":");
    for (int i = 0; i < 100; i++)
        strcat(data, "[");
    assert_rejected(data, "the body is nested too deeply");
    nested(data, 101);
    assert_rejected(data, "the body is nested too deeply");
}
END_TEST

START_TEST(test_parse_rejects_nesting_within_the_parsers_own_limit)
{
    /* jansson would recurse 2,000 levels (its own bound is 2048): too deep
     * for a civetweb worker's stack, so refused before parsing. */
    enum { LEVELS = 2000 };
    char *data = malloc(8 + 2 * LEVELS);
    ck_assert_ptr_nonnull(data);
    size_t n = strlen("{\"a\":");
    memcpy(data, "{\"a\":", n);
    for (int i = 0; i < LEVELS; i++)
        data[n++] = '[';
    for (int i = 0; i < LEVELS; i++)
        data[n++] = ']';
    data[n++] = '}';
    assert_rejected_len(data, n, "the body is nested too deeply");
    free(data);
}
END_TEST

START_TEST(test_parse_accepts_nesting_of_32_but_not_33)
{
    char data[128];
    nested(data, 32);
    json_decref(parse_ok(data));
    nested(data, 33);
    assert_rejected(data, "the body is nested too deeply");
    /* objects count as arrays do, and an empty container is a level */
    char objs[512];
    nested_objects(objs, 33);
    assert_rejected(objs, "the body is nested too deeply");
    nested_objects(objs, 32);
    json_decref(parse_ok(objs));
}
END_TEST

START_TEST(test_parse_brackets_inside_strings_do_not_count_as_nesting)
{
    char data[256];
    strcpy(data, "{\"a\":\"");
    for (int i = 0; i < 100; i++)
        strcat(data, "[{");
    strcat(data, "\\\"]\"}");
    json_decref(parse_ok(data));
}
END_TEST

START_TEST(test_parse_rejects_invalid_utf8)
{
    assert_rejected("{\"a\":\"\xff\"}", "the body is not valid UTF-8");
    assert_rejected("{\"a\":\"\xc3\"}", "the body is not valid UTF-8");         /* truncated */
    assert_rejected("{\"a\":\"\xc0\xaf\"}", "the body is not valid UTF-8");     /* overlong */
    assert_rejected("{\"a\":\"\xed\xa0\x80\"}", "the body is not valid UTF-8"); /* surrogate */
    assert_rejected("{\"\xfe\":1}", "the body is not valid UTF-8");
}
END_TEST

START_TEST(test_parse_rejects_escaped_lone_surrogate)
{
    assert_rejected("{\"a\":\"\\ud800\"}", "malformed JSON");
}
END_TEST

START_TEST(test_parse_rejects_nul_byte)
{
    assert_rejected_len("{\"a\":1}\0", 8, "the body contains a NUL byte");
    assert_rejected_len("{\"a\0\":1}", 8, "the body contains a NUL byte");
}
END_TEST

/* No field of ours may hold a NUL, and C strings end at one: a \u0000 escape
 * refuses the whole body, in a value or in a key. */
START_TEST(test_parse_rejects_nul_escape)
{
    assert_rejected("{\"a\":\"x\\u0000y\"}", "the body contains a NUL character (\\u0000)");
    assert_rejected("{\"a\\u0000b\":1}", "the body contains a NUL character (\\u0000)");
    assert_rejected("{\"a\":[\"\\u0000\"]}", "the body contains a NUL character (\\u0000)");
}
END_TEST

START_TEST(test_parse_rejects_integers_outside_int64)
{
    assert_rejected("{\"a\":99999999999999999999}", "malformed JSON");
    assert_rejected("{\"a\":9223372036854775808}", "malformed JSON");
    assert_rejected("{\"a\":-9223372036854775809}", "malformed JSON");
    assert_rejected("{\"a\":[1,-99999999999999999999]}", "malformed JSON");
}
END_TEST

START_TEST(test_parse_rejects_reals_outside_double)
{
    assert_rejected("{\"a\":1e400}", "malformed JSON");
    assert_rejected("{\"a\":-1e999999}", "malformed JSON");
}
END_TEST

START_TEST(test_parse_accepts_int64_limits)
{
    json_t *doc = parse_ok("{\"max\":9223372036854775807,\"min\":-9223372036854775808,\"s\":"
                           "\"99999999999999999999\"}");
    int64_t v;
    ck_assert_int_eq(json_get_int(doc, "max", &v), JSON_OK);
    ck_assert_int_eq(v, INT64_MAX);
    ck_assert_int_eq(json_get_int(doc, "min", &v), JSON_OK);
    ck_assert_int_eq(v, INT64_MIN);
    json_decref(doc);
}
END_TEST

/* ---- duplicate keys: a parser differential if any one of them won ---- */

START_TEST(test_parse_rejects_duplicate_top_level_key_naming_it)
{
    assert_duplicate("{\"patient_id\":\"a\",\"patient_id\":\"b\"}", "patient_id");
    assert_duplicate("{\"a\":1, \"physician_id\" : 2 ,\"b\":3, \"physician_id\":4}",
                     "physician_id");
    assert_duplicate("{\"x\":null,\"x\":null}", "x");
    assert_duplicate("{\"\":1,\"\":2}", "");
}
END_TEST

START_TEST(test_parse_rejects_duplicate_nested_key_naming_it)
{
    assert_duplicate("{\"a\":{\"b\":1,\"b\":2}}", "b");
    assert_duplicate("{\"a\":[{\"x\":1},{\"x\":1,\"x\":{}}]}", "x");
    /* the same key in different objects is no duplicate */
    json_decref(parse_ok("{\"a\":{\"b\":1},\"b\":{\"a\":2},\"c\":[{\"a\":1},{\"a\":2}]}"));
}
END_TEST

START_TEST(test_parse_duplicate_key_is_compared_and_named_decoded)
{
    /* Escapes are decoded before keys are compared, so no spelling escapes it. */
    assert_duplicate("{\"p\\u0061tient_id\":\"a\",\"patient_id\":\"b\"}", "patient_id");
    assert_duplicate("{\"patient_id\":\"a\",\"p\\u0061tient_id\":\"b\"}", "patient_id");
    assert_duplicate("{\"a\\\"b\":1,\"a\\\"b\":2}", "a\"b");
    assert_duplicate("{\"a\\\\\":1,\"a\\\\\":2}", "a\\");
    assert_duplicate("{\"\xc3\xa7\":1,\"\\u00e7\":2}", "\xc3\xa7");
}
END_TEST

START_TEST(test_parse_long_duplicate_key_is_cut_on_a_character_boundary)
{
    /* 62 x then a 2-byte character: 64 bytes, one more than the key holds */
    char key[80];
    memset(key, 'x', 62);
    strcpy(key + 62, "\xc3\xa7");
    char data[256];
    snprintf(data, sizeof data, "{\"%s\":1,\"%s\":2}", key, key);
    json_parse_error err;
    ck_assert_ptr_null(json_parse_object(data, strlen(data), &err));
    key[62] = '\0';
    ck_assert_str_eq(err.key, key);
}
END_TEST

/* ---- getters ---- */

START_TEST(test_extended_json_wrappers_are_plain_objects)
{
    /* libbson's reader turned these into numbers, dates and ids; a plain JSON
     * parser keeps them as the objects they are, so every getter says wrong
     * type and the validators name the field. */
    static const char *const bodies[] = {
        "{\"f\":{\"$numberLong\":\"20000\"}}",
        "{\"f\":{\"$numberInt\":\"5\"}}",
        "{\"f\":{\"$numberDouble\":\"1.5\"}}",
        "{\"f\":{ \"$numberDecimal\" : \"1\"}}",
        "{\"f\":{\"\\u0024numberLong\":\"5\"}}",
        "{\"f\":{\"$date\":\"2024-01-31T10:00:00Z\"}}",
        "{\"f\":{\"$date\":{\"$numberLong\":\"0\"}}}",
        "{\"f\":{\"$oid\":\"65b9f1d2a1b2c3d4e5f60718\"}}",
        "{\"f\":{\"$binary\":{\"base64\":\"\",\"subType\":\"00\"}}}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        json_t *doc = parse_ok(bodies[i]);
        const char *s = NULL;
        size_t n = 0;
        int64_t v = 42;
        ck_assert_int_eq(json_get_str(doc, "f", &s, &n), JSON_WRONG_TYPE);
        ck_assert_int_eq(json_get_int(doc, "f", &v), JSON_WRONG_TYPE);
        ck_assert_ptr_null(s);
        ck_assert_int_eq(v, 42);
        ck_assert(json_is_object(json_object_get(doc, "f")));
        json_decref(doc);
    }
    /* as a value, or inside a longer key, it is only text */
    json_decref(parse_ok("{\"a\":\"$numberLong\",\"x$numberLong\":1}"));
}
END_TEST

START_TEST(test_get_str_operator_object_is_wrong_type)
{
    json_t *doc = parse_ok("{\"physician_id\": {\"$gt\": \"\"}}");
    const char *s = NULL;
    size_t n = 0;
    ck_assert_int_eq(json_get_str(doc, "physician_id", &s, &n), JSON_WRONG_TYPE);
    ck_assert_ptr_null(s);
    json_decref(doc);
}
END_TEST

START_TEST(test_get_str_null_counts_as_missing)
{
    json_t *doc = parse_ok("{\"a\":null}");
    const char *s;
    size_t n;
    ck_assert_int_eq(json_get_str(doc, "a", &s, &n), JSON_MISSING);
    json_decref(doc);
}
END_TEST

START_TEST(test_get_str_absent_is_missing)
{
    json_t *doc = parse_ok("{\"a\":{\"b\":\"nested\"}}");
    const char *s;
    size_t n;
    ck_assert_int_eq(json_get_str(doc, "b", &s, &n), JSON_MISSING);
    ck_assert_int_eq(json_get_str(doc, "a.b", &s, &n), JSON_MISSING);
    ck_assert_int_eq(json_get_str(doc, "A", &s, &n), JSON_MISSING);
    json_decref(doc);
}
END_TEST

START_TEST(test_get_str_other_types_are_wrong_type)
{
    json_t *doc = parse_ok("{\"n\":1,\"b\":true,\"a\":[\"x\"],\"d\":1.5}");
    const char *s;
    size_t n;
    ck_assert_int_eq(json_get_str(doc, "n", &s, &n), JSON_WRONG_TYPE);
    ck_assert_int_eq(json_get_str(doc, "b", &s, &n), JSON_WRONG_TYPE);
    ck_assert_int_eq(json_get_str(doc, "a", &s, &n), JSON_WRONG_TYPE);
    ck_assert_int_eq(json_get_str(doc, "d", &s, &n), JSON_WRONG_TYPE);
    json_decref(doc);
}
END_TEST

START_TEST(test_get_str_decodes_escapes)
{
    json_t *doc = parse_ok("{\"a\":\"\\u00e7\\ud83d\\ude00\\n\"}");
    const char *s;
    size_t n;
    ck_assert_int_eq(json_get_str(doc, "a", &s, &n), JSON_OK);
    ck_assert_uint_eq(n, 7);
    ck_assert_int_eq(memcmp(s, "\xc3\xa7\xf0\x9f\x98\x80\n", 7), 0);
    json_decref(doc);
}
END_TEST

START_TEST(test_get_int_reads_integers_and_integral_reals)
{
    json_t *doc =
        parse_ok("{\"i32\":20000,\"i64\":5000000000,\"neg\":-3,\"dbl\":20000.0,\"exp\":2e4}");
    int64_t v;
    ck_assert_int_eq(json_get_int(doc, "i32", &v), JSON_OK);
    ck_assert_int_eq(v, 20000);
    ck_assert_int_eq(json_get_int(doc, "i64", &v), JSON_OK);
    ck_assert_int_eq(v, INT64_C(5000000000));
    ck_assert_int_eq(json_get_int(doc, "neg", &v), JSON_OK);
    ck_assert_int_eq(v, -3);
    ck_assert_int_eq(json_get_int(doc, "dbl", &v), JSON_OK);
    ck_assert_int_eq(v, 20000);
    ck_assert_int_eq(json_get_int(doc, "exp", &v), JSON_OK);
    ck_assert_int_eq(v, 20000);
    json_decref(doc);
}
END_TEST

START_TEST(test_get_int_double_limit_is_2_to_the_53)
{
    json_t *doc =
        parse_ok("{\"edge\":9007199254740992.0,\"over\":9007199254740994.0,\"big\":1e300}");
    int64_t v = 42;
    ck_assert_int_eq(json_get_int(doc, "edge", &v), JSON_OK);
    ck_assert_int_eq(v, INT64_C(9007199254740992));
    v = 42;
    ck_assert_int_eq(json_get_int(doc, "over", &v), JSON_WRONG_TYPE);
    ck_assert_int_eq(json_get_int(doc, "big", &v), JSON_WRONG_TYPE);
    ck_assert_int_eq(v, 42);
    json_decref(doc);
}
END_TEST

START_TEST(test_get_int_fraction_is_wrong_type)
{
    json_t *doc = parse_ok("{\"a\":1.5}");
    int64_t v;
    ck_assert_int_eq(json_get_int(doc, "a", &v), JSON_WRONG_TYPE);
    json_decref(doc);
}
END_TEST

START_TEST(test_non_finite_numbers_never_reach_the_getter)
{
    /* JSON text cannot spell them (NaN, Infinity and 1e400 are refused above)
     * and jansson holds no non-finite real at all; the getter checks anyway. */
    ck_assert_ptr_null(json_real(NAN));
    ck_assert_ptr_null(json_real(INFINITY));
    assert_rejected("{\"a\":Infinity}", "malformed JSON");
}
END_TEST

START_TEST(test_get_int_null_counts_as_missing)
{
    json_t *doc = parse_ok("{\"a\":null}");
    int64_t v;
    ck_assert_int_eq(json_get_int(doc, "a", &v), JSON_MISSING);
    ck_assert_int_eq(json_get_int(doc, "b", &v), JSON_MISSING);
    json_decref(doc);
}
END_TEST

START_TEST(test_get_int_string_and_operator_are_wrong_type)
{
    json_t *doc = parse_ok("{\"s\":\"20000\",\"op\":{\"$gt\":0},\"b\":false}");
    int64_t v;
    ck_assert_int_eq(json_get_int(doc, "s", &v), JSON_WRONG_TYPE);
    ck_assert_int_eq(json_get_int(doc, "op", &v), JSON_WRONG_TYPE);
    ck_assert_int_eq(json_get_int(doc, "b", &v), JSON_WRONG_TYPE);
    json_decref(doc);
}
END_TEST

START_TEST(test_has_unknown_key_reports_the_first_one)
{
    static const char *const allowed[] = {"physician_id", "patient_id", NULL};
    const char *unknown = NULL;
    json_t *doc = parse_ok("{\"physician_id\":\"x\",\"$where\":\"1\",\"other\":2}");
    ck_assert(json_has_unknown_key(doc, allowed, &unknown));
    ck_assert_str_eq(unknown, "$where");
    json_decref(doc);
}
END_TEST

START_TEST(test_has_unknown_key_false_for_allowed_keys_only)
{
    static const char *const allowed[] = {"physician_id", "patient_id", NULL};
    const char *unknown = NULL;
    json_t *doc = parse_ok("{\"patient_id\":\"y\",\"physician_id\":\"x\"}");
    ck_assert(!json_has_unknown_key(doc, allowed, &unknown));
    ck_assert_ptr_null(unknown);
    json_decref(doc);
    doc = parse_ok("{}");
    ck_assert(!json_has_unknown_key(doc, allowed, &unknown));
    json_decref(doc);
}
END_TEST

static Suite *json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_append_str_quotes_plain_text);
    tcase_add_test(tc, test_append_str_escapes_quotes_and_backslashes);
    tcase_add_test(tc, test_append_str_escapes_control_characters);
    tcase_add_test(tc, test_append_str_escapes_embedded_nul);
    tcase_add_test(tc, test_append_str_copies_utf8_and_printable_ascii_unchanged);
    tcase_add_test(tc, test_append_cstr_writes_null_for_null);
    tcase_add_test(tc, test_append_key_writes_quoted_key_and_colon);
    tcase_add_test(tc, test_append_money_writes_number_with_two_decimals);
    tcase_add_test(tc, test_append_time_writes_quoted_rfc3339_utc);
    tcase_add_test(tc, test_written_document_parses_back);
    tcase_add_test(tc, test_parse_reads_an_object);
    tcase_add_test(tc, test_parse_empty_body_is_an_empty_object);
    tcase_add_test(tc, test_parse_rejects_truncated_json);
    tcase_add_test(tc, test_parse_rejects_invalid_syntax);
    tcase_add_test(tc, test_parse_error_never_quotes_the_body);
    tcase_add_test(tc, test_parse_error_says_where);
    tcase_add_test(tc, test_parse_rejects_non_object_top_level);
    tcase_add_test(tc, test_parse_rejects_data_after_the_object);
    tcase_add_test(tc, test_parse_accepts_whitespace_after_the_object);
    tcase_add_test(tc, test_parse_rejects_deep_nesting);
    tcase_add_test(tc, test_parse_rejects_nesting_within_the_parsers_own_limit);
    tcase_add_test(tc, test_parse_accepts_nesting_of_32_but_not_33);
    tcase_add_test(tc, test_parse_brackets_inside_strings_do_not_count_as_nesting);
    tcase_add_test(tc, test_parse_rejects_invalid_utf8);
    tcase_add_test(tc, test_parse_rejects_escaped_lone_surrogate);
    tcase_add_test(tc, test_parse_rejects_nul_byte);
    tcase_add_test(tc, test_parse_rejects_nul_escape);
    tcase_add_test(tc, test_parse_rejects_integers_outside_int64);
    tcase_add_test(tc, test_parse_rejects_reals_outside_double);
    tcase_add_test(tc, test_parse_accepts_int64_limits);
    tcase_add_test(tc, test_parse_rejects_duplicate_top_level_key_naming_it);
    tcase_add_test(tc, test_parse_rejects_duplicate_nested_key_naming_it);
    tcase_add_test(tc, test_parse_duplicate_key_is_compared_and_named_decoded);
    tcase_add_test(tc, test_parse_long_duplicate_key_is_cut_on_a_character_boundary);
    tcase_add_test(tc, test_extended_json_wrappers_are_plain_objects);
    tcase_add_test(tc, test_get_str_operator_object_is_wrong_type);
    tcase_add_test(tc, test_get_str_null_counts_as_missing);
    tcase_add_test(tc, test_get_str_absent_is_missing);
    tcase_add_test(tc, test_get_str_other_types_are_wrong_type);
    tcase_add_test(tc, test_get_str_decodes_escapes);
    tcase_add_test(tc, test_get_int_reads_integers_and_integral_reals);
    tcase_add_test(tc, test_get_int_double_limit_is_2_to_the_53);
    tcase_add_test(tc, test_get_int_fraction_is_wrong_type);
    tcase_add_test(tc, test_non_finite_numbers_never_reach_the_getter);
    tcase_add_test(tc, test_get_int_null_counts_as_missing);
    tcase_add_test(tc, test_get_int_string_and_operator_are_wrong_type);
    tcase_add_test(tc, test_has_unknown_key_reports_the_first_one);
    tcase_add_test(tc, test_has_unknown_key_false_for_allowed_keys_only);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(json_suite)
