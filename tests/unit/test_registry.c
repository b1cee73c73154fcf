/* The registry's pure parts: appointment/registry_request.c (CPF check
 * digits, JSON Merge Patch, the validators, the list query, If-Match) and
 * appointment/registry_cache.c (its rules, with a fake loader and clock). */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "registry_cache.h"
#include "registry_request.h"

#include "check_main.h"

/* 2030-01-01T00:00:00Z */
#define NOW INT64_C(1893456000000)
#define ID1 "018f3490-0a1b-7c3d-8e4f-5a6b7c8d9e0f"
#define ID2 "018f3490-0a1b-7c3d-8e4f-5a6b7c8d9e10"

static json_t *parse(const char *s)
{
    json_parse_error err;
    json_t *doc = json_parse_object(s, strlen(s), &err);
    ck_assert_msg(doc != NULL, "%s", err.msg);
    return doc;
}

/* ---- CPF ---- */

START_TEST(test_cpf_with_right_check_digits_is_valid)
{
    ck_assert(registry_cpf_valid("52998224725", 11));
    ck_assert(registry_cpf_valid("11144477735", 11));
    ck_assert(registry_cpf_valid("12345678909", 11));
}
END_TEST

START_TEST(test_cpf_with_a_wrong_check_digit_is_invalid)
{
    ck_assert(!registry_cpf_valid("52998224724", 11));
    ck_assert(!registry_cpf_valid("52998224715", 11));
    ck_assert(!registry_cpf_valid("12345678900", 11));
}
END_TEST

START_TEST(test_cpf_of_one_repeated_digit_is_invalid)
{
    char s[12];
    for (char d = '0'; d <= '9'; d++) {
        memset(s, d, 11);
        s[11] = '\0';
        ck_assert_msg(!registry_cpf_valid(s, 11), "%s", s);
    }
}
END_TEST

START_TEST(test_cpf_needs_exactly_eleven_digits)
{
    ck_assert(!registry_cpf_valid("5299822472", 10));
    ck_assert(!registry_cpf_valid("529982247250", 12));
    ck_assert(!registry_cpf_valid("529.982.247-25", 14));
    ck_assert(!registry_cpf_valid("5299822472a", 11));
    ck_assert(!registry_cpf_valid(NULL, 0));
}
END_TEST

/* ---- JSON Merge Patch: RFC 7396's appendix A ---- */

static void assert_merge(const char *target, const char *patch, const char *want)
{
    json_t *t = json_loads(target, JSON_DECODE_ANY, NULL);
    json_t *p = json_loads(patch, JSON_DECODE_ANY, NULL);
    json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
    ck_assert(t && p && w);
    json_t *got = registry_merge_patch(t, p);
    char *text = json_dumps(got, JSON_SORT_KEYS | JSON_ENCODE_ANY);
    ck_assert_msg(json_equal(got, w), "%s + %s gave %s, want %s", target, patch, text, want);
    free(text);
    json_decref(got);
    json_decref(w);
    json_decref(p);
    json_decref(t);
}

START_TEST(test_merge_patch_rfc7396_examples)
{
    assert_merge("{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
    assert_merge("{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}");
    assert_merge("{\"a\":\"b\"}", "{\"a\":null}", "{}");
    assert_merge("{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}");
    assert_merge("{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
    assert_merge("{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}");
    assert_merge("{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}",
                 "{\"a\":{\"b\":\"d\"}}");
    assert_merge("{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}");
    assert_merge("[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]");
    assert_merge("{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]");
    assert_merge("{\"a\":\"foo\"}", "null", "null");
    assert_merge("{\"a\":\"foo\"}", "\"bar\"", "\"bar\"");
    assert_merge("{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}");
    assert_merge("[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}");
    assert_merge("{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}");
}
END_TEST

START_TEST(test_merge_patch_leaves_the_target_unchanged)
{
    json_t *t = parse("{\"a\":{\"b\":1},\"c\":2}");
    json_t *p = parse("{\"a\":{\"b\":null},\"c\":null}");
    json_t *got = registry_merge_patch(t, p);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(t, "a"), "b")), 1);
    ck_assert_int_eq(json_object_size(got), 1);
    json_decref(got);
    json_decref(p);
    json_decref(t);
}
END_TEST

/* ---- validators ---- */

#define PHYSICIAN_BODY                                                                             \
    "\"name\":\"Dra. Ana\",\"specialty\":\"cardiology\",\"license\":{\"system\":\"CRM-SP\","       \
    "\"value\":\"123456\"},\"currency\":\"BRL\""

static int physician_of(const char *body, reg_physician *out, problem *p)
{
    json_t *doc = parse(body);
    int rc = registry_request_physician(doc, out, p);
    json_decref(doc);
    return rc;
}

START_TEST(test_physician_body_is_read)
{
    reg_physician ph;
    memset(&ph, 0, sizeof ph);
    strcpy(ph.m.id, ID1);
    ph.m.version = 7;
    problem p;
    ck_assert_int_eq(physician_of("{" PHYSICIAN_BODY ",\"hourly_price\":350.5}", &ph, &p), 0);
    ck_assert_str_eq(ph.name, "Dra. Ana");
    ck_assert_str_eq(ph.license_system, "CRM-SP");
    ck_assert_str_eq(ph.license_value, "123456");
    ck_assert_int_eq(ph.hourly_price_cents, 35050);
    ck_assert_str_eq(ph.currency, "BRL");
    ck_assert(ph.m.active);
    ck_assert_str_eq(ph.m.id, ID1); /* the meta is the server's */
    ck_assert_int_eq(ph.m.version, 7);
    ck_assert_int_eq(physician_of("{" PHYSICIAN_BODY ",\"hourly_price\":200,\"active\":false,"
                                  "\"id\":\"x\",\"created_at\":1}",
                                  &ph, &p),
                     0);
    ck_assert_int_eq(ph.hourly_price_cents, 20000);
    ck_assert(!ph.m.active);
}
END_TEST

/* A body a validator must refuse, and the field it must name. */
typedef struct refusal {
    const char *body, *field;
} refusal;

/* Each case is refused with a 400 naming its field, and the detail quotes
 * none of the values used ("secret", the CPF's digits, the dates). */
static void assert_refusals(const refusal *cases, size_t n,
                            int (*validate)(const char *body, problem *p))
{
    for (size_t i = 0; i < n; i++) {
        problem p;
        ck_assert_int_eq(validate(cases[i].body, &p), -1);
        ck_assert_int_eq(p.status, 400);
        ck_assert_msg(strcmp(p.field, cases[i].field) == 0, "%s: field %s", cases[i].body, p.field);
        ck_assert(!strstr(p.detail, "secret") && !strstr(p.detail, "5299822472") &&
                  !strstr(p.detail, "1980"));
    }
}

/* Validates into a record that must stay untouched. */
static int refused_physician(const char *body, problem *p)
{
    reg_physician ph;
    memset(&ph, 0, sizeof ph);
    int rc = physician_of(body, &ph, p);
    ck_assert_str_eq(ph.name, "");
    return rc;
}

START_TEST(test_physician_refusals_name_the_field)
{
    static const refusal cases[] = {
        {"{" PHYSICIAN_BODY "}", "hourly_price"},
        {"{" PHYSICIAN_BODY ",\"hourly_price\":0}", "hourly_price"},
        {"{" PHYSICIAN_BODY ",\"hourly_price\":1.001}", "hourly_price"},
        {"{" PHYSICIAN_BODY ",\"hourly_price\":1000000000.01}", "hourly_price"},
        {"{" PHYSICIAN_BODY ",\"hourly_price\":true}", "hourly_price"},
        {"{" PHYSICIAN_BODY ",\"hourly_price\":1,\"active\":1}", "active"},
        {"{" PHYSICIAN_BODY ",\"hourly_price\":1,\"x\":1}", "x"},
        {"{\"name\":\"\",\"specialty\":\"c\"}", "name"},
        {"{\"name\":\"a\\u0001b\",\"specialty\":\"c\"}", "name"},
        {"{\"name\":\"a\"}", "specialty"},
        {"{\"name\":\"a\",\"specialty\":\"c\",\"license\":{\"system\":\"CRM/SP\",\"value\":\"1\"}}",
         "license"},
        {"{\"name\":\"a\",\"specialty\":\"c\",\"license\":{\"system\":\"CRM\",\"value\":\"1\","
         "\"x\":1}}",
         "license"},
        {"{\"name\":\"a\",\"specialty\":\"c\",\"license\":{\"system\":\"CRM\",\"value\":\"1\"},"
         "\"hourly_price\":1,\"currency\":\"brl\"}",
         "currency"},
    };
    assert_refusals(cases, sizeof cases / sizeof cases[0], refused_physician);
}
END_TEST

START_TEST(test_name_counts_characters_not_bytes)
{
    char body[2048] = "{\"name\":\"";
    for (int i = 0; i < 200; i++)
        strcat(body, "\xc3\xa3"); /* ã */
    strcat(body, "\",\"specialty\":\"c\",\"license\":{\"system\":\"CRM\",\"value\":\"1\"},"
                 "\"hourly_price\":1,\"currency\":\"BRL\"}");
    reg_physician ph;
    memset(&ph, 0, sizeof ph);
    problem p;
    ck_assert_int_eq(physician_of(body, &ph, &p), 0);
    ck_assert_int_eq(strlen(ph.name), 400);
}
END_TEST

static int patient_of(const char *body, reg_patient *out, problem *p)
{
    json_t *doc = parse(body);
    int rc = registry_request_patient(doc, NOW, out, p);
    json_decref(doc);
    return rc;
}

#define PATIENT_DOC "\"document\":{\"system\":\"CPF\",\"value\":\"52998224725\"}"

START_TEST(test_patient_body_is_read)
{
    reg_patient pt;
    memset(&pt, 0, sizeof pt);
    problem p;
    ck_assert_int_eq(patient_of("{\"name\":\"J\",\"birth_date\":\"1960-02-29\"," PATIENT_DOC
                                ",\"email\":\"j@x.org\",\"phone\":\"+55 (11) 9-1234\"}",
                                &pt, &p),
                     0);
    ck_assert_str_eq(pt.birth_date, "1960-02-29");
    ck_assert_str_eq(pt.cpf, "52998224725");
    ck_assert_str_eq(pt.email, "j@x.org");
    ck_assert_str_eq(pt.phone, "+55 (11) 9-1234");
    ck_assert_int_eq(
        patient_of("{\"name\":\"J\",\"birth_date\":\"2030-01-01\"," PATIENT_DOC "}", &pt, &p),
        0); /* today */
    ck_assert_str_eq(pt.email, "");
}
END_TEST

static int refused_patient(const char *body, problem *p)
{
    reg_patient pt;
    memset(&pt, 0, sizeof pt);
    int rc = patient_of(body, &pt, p);
    ck_assert_str_eq(pt.name, "");
    return rc;
}

START_TEST(test_patient_refusals_name_the_field_and_never_quote_the_value)
{
    static const refusal cases[] = {
        {"{\"name\":\"J\",\"birth_date\":\"2030-01-02\"," PATIENT_DOC "}", "birth_date"},
        {"{\"name\":\"J\",\"birth_date\":\"1961-02-29\"," PATIENT_DOC "}", "birth_date"},
        {"{\"name\":\"J\",\"birth_date\":\"1980-13-01\"," PATIENT_DOC "}", "birth_date"},
        {"{\"name\":\"J\",\"birth_date\":\"1980-1-01\"," PATIENT_DOC "}", "birth_date"},
        {"{\"name\":\"J\",\"birth_date\":\"1980-01-01\","
         "\"document\":{\"system\":\"CPF\",\"value\":\"52998224726\"}}",
         "document"},
        {"{\"name\":\"J\",\"birth_date\":\"1980-01-01\","
         "\"document\":{\"system\":\"CPF\",\"value\":\"00000000000\"}}",
         "document"},
        {"{\"name\":\"J\",\"birth_date\":\"1980-01-01\","
         "\"document\":{\"system\":\"RG\",\"value\":\"52998224725\"}}",
         "document"},
        {"{\"name\":\"J\",\"birth_date\":\"1980-01-01\"}", "document"},
        {"{\"name\":\"J\",\"birth_date\":\"1980-01-01\"," PATIENT_DOC ",\"email\":\"secret@\"}",
         "email"},
        {"{\"name\":\"J\",\"birth_date\":\"1980-01-01\"," PATIENT_DOC ",\"phone\":\"secret\"}",
         "phone"},
    };
    assert_refusals(cases, sizeof cases / sizeof cases[0], refused_patient);
}
END_TEST

START_TEST(test_list_query)
{
    reg_list_req q;
    problem p;
    ck_assert_int_eq(registry_request_list(NULL, true, &q, &p), 0);
    ck_assert_int_eq(q.limit, 20);
    ck_assert_int_eq(q.active, -1);
    ck_assert(!q.has_cursor && !q.has_specialty);
    ck_assert_int_eq(registry_request_list("active=false&specialty=pediatria%20geral&limit=5&"
                                           "cursor=" ID1,
                                           true, &q, &p),
                     0);
    ck_assert_int_eq(q.active, 0);
    ck_assert_str_eq(q.specialty, "pediatria geral");
    ck_assert_int_eq(q.limit, 5);
    ck_assert_str_eq(q.cursor, ID1);
    ck_assert_int_eq(registry_request_list("specialty=x", false, &q, &p), 0);
    ck_assert(!q.has_specialty);
    ck_assert_int_eq(registry_request_list("active=1", true, &q, &p), -1);
    ck_assert_str_eq(p.field, "active");
    ck_assert_int_eq(registry_request_list("limit=101", true, &q, &p), -1);
    ck_assert_str_eq(p.field, "limit");
    ck_assert_int_eq(registry_request_list("cursor=x", true, &q, &p), -1);
    ck_assert_str_eq(p.field, "cursor");
}
END_TEST

START_TEST(test_if_match)
{
    char tag[32];
    registry_etag(3, tag);
    ck_assert_str_eq(tag, "\"v3\"");
    ck_assert(registry_if_match(NULL, 3));
    ck_assert(registry_if_match("*", 3));
    ck_assert(registry_if_match("\"v3\"", 3));
    ck_assert(registry_if_match("\"v1\", \"v3\"", 3));
    ck_assert(!registry_if_match("\"v2\"", 3));
    ck_assert(!registry_if_match("W/\"v3\"", 3)); /* If-Match compares strongly */
    ck_assert(!registry_if_match("\"v33\"", 3));
    ck_assert(!registry_if_match("", 3));
}
END_TEST

START_TEST(test_writable_json_leaves_the_server_fields_out)
{
    reg_patient pt;
    memset(&pt, 0, sizeof pt);
    strcpy(pt.m.id, ID1);
    pt.m.active = true;
    strcpy(pt.name, "J");
    strcpy(pt.birth_date, "1980-01-01");
    strcpy(pt.cpf, "52998224725");
    buf b;
    buf_init(&b);
    registry_append_patient(&b, &pt, true);
    ck_assert_str_eq(buf_cstr(&b), "{\"active\":true,\"name\":\"J\",\"birth_date\":\"1980-01-01\","
                                   "\"document\":{\"system\":\"CPF\",\"value\":\"52998224725\"}}");
    buf_free(&b);
}
END_TEST

/* ---- the cache ---- */

static int64_t fake_now;
static int64_t now_fn(void)
{
    return fake_now;
}

typedef struct loader {
    int calls;
    int answer; /* what load returns */
    int64_t price;
    int delay_us;
    pthread_mutex_t mu;
} loader;

static int load(void *ctx, const char *id, registry_value *out)
{
    (void)id;
    loader *l = ctx;
    pthread_mutex_lock(&l->mu);
    l->calls++;
    pthread_mutex_unlock(&l->mu);
    if (l->delay_us)
        usleep((useconds_t)l->delay_us);
    if (l->answer == 1) {
        out->active = true;
        out->price_cents = l->price;
        memcpy(out->currency, "BRL", 4);
    }
    return l->answer;
}

static registry_cache *cache_new(size_t capacity)
{
    registry_cache_opts o = {.capacity = capacity,
                             .ttl_ms = 30000,
                             .jitter_pct = 10,
                             .negative_ttl_ms = 2000,
                             .stale_ms = 300000,
                             .now_ms = now_fn};
    fake_now = 1000000;
    return registry_cache_new(&o);
}

static int get(registry_cache *c, const char *id, loader *l, registry_cache_result *res)
{
    registry_value v;
    int rc = registry_cache_get(c, id, load, l, &v, res);
    if (rc == 1)
        ck_assert_int_eq(v.price_cents, l->price);
    return rc;
}

START_TEST(test_ttl_jitter_stays_within_ten_percent)
{
    int64_t lo = INT64_MAX, hi = 0;
    for (uint32_t r = 0; r < 20000; r += 7) {
        int64_t t = registry_cache_ttl(30000, 10, r * 2654435761u);
        lo = t < lo ? t : lo;
        hi = t > hi ? t : hi;
    }
    ck_assert_int_ge(lo, 27000);
    ck_assert_int_le(hi, 33000);
    ck_assert_int_lt(lo, 27500); /* it does spread */
    ck_assert_int_gt(hi, 32500);
    ck_assert_int_eq(registry_cache_ttl(30000, 0, 12345), 30000);
}
END_TEST

START_TEST(test_a_found_record_is_loaded_once_then_hit_until_it_expires)
{
    registry_cache *c = cache_new(10);
    loader l = {.answer = 1, .price = 35000, .mu = PTHREAD_MUTEX_INITIALIZER};
    registry_cache_result res;
    ck_assert_int_eq(get(c, ID1, &l, &res), 1);
    ck_assert_int_eq(res, REG_CACHE_MISS);
    fake_now += 26999;
    ck_assert_int_eq(get(c, ID1, &l, &res), 1);
    ck_assert_int_eq(res, REG_CACHE_HIT);
    ck_assert_int_eq(l.calls, 1);
    fake_now += 6002; /* past ttl + 10 % */
    l.price = 40000;
    ck_assert_int_eq(get(c, ID1, &l, &res), 1);
    ck_assert_int_eq(res, REG_CACHE_MISS);
    ck_assert_int_eq(l.calls, 2);
    ck_assert_int_eq(registry_cache_loads(c), 2);
    ck_assert_int_eq(registry_cache_count(c, REG_CACHE_HIT), 1);
    registry_cache_free(c);
}
END_TEST

START_TEST(test_an_unknown_id_is_remembered_for_the_negative_ttl)
{
    registry_cache *c = cache_new(10);
    loader l = {.answer = 0, .mu = PTHREAD_MUTEX_INITIALIZER};
    registry_cache_result res;
    ck_assert_int_eq(get(c, ID1, &l, &res), 0);
    ck_assert_int_eq(res, REG_CACHE_MISS);
    fake_now += 1999;
    ck_assert_int_eq(get(c, ID1, &l, &res), 0);
    ck_assert_int_eq(res, REG_CACHE_NEGATIVE);
    ck_assert_int_eq(l.calls, 1);
    fake_now += 1;
    ck_assert_int_eq(get(c, ID1, &l, &res), 0);
    ck_assert_int_eq(l.calls, 2);
    registry_cache_free(c);
}
END_TEST

START_TEST(test_evict_makes_the_next_lookup_load)
{
    registry_cache *c = cache_new(10);
    loader l = {.answer = 0, .price = 100, .mu = PTHREAD_MUTEX_INITIALIZER};
    registry_cache_result res;
    ck_assert_int_eq(get(c, ID1, &l, &res), 0);
    registry_cache_evict(c, ID1);
    l.answer = 1;
    ck_assert_int_eq(get(c, ID1, &l, &res), 1);
    ck_assert_int_eq(res, REG_CACHE_MISS);
    registry_cache_evict(c, ID2); /* not cached: nothing happens */
    ck_assert_int_eq(registry_cache_size(c), 1);
    registry_cache_free(c);
}
END_TEST

START_TEST(test_a_failing_load_serves_the_stale_entry_for_a_while)
{
    registry_cache *c = cache_new(10);
    loader l = {.answer = 1, .price = 100, .mu = PTHREAD_MUTEX_INITIALIZER};
    registry_cache_result res;
    ck_assert_int_eq(get(c, ID1, &l, &res), 1);
    fake_now += 40000; /* expired */
    l.answer = -1;
    ck_assert_int_eq(get(c, ID1, &l, &res), 1);
    ck_assert_int_eq(res, REG_CACHE_STALE);
    ck_assert_int_eq(l.calls, 2);
    ck_assert_int_eq(get(c, ID1, &l, &res), 1); /* within the second: no new load */
    ck_assert_int_eq(res, REG_CACHE_STALE);
    ck_assert_int_eq(l.calls, 2);
    fake_now += 1000;
    ck_assert_int_eq(get(c, ID1, &l, &res), 1);
    ck_assert_int_eq(l.calls, 3);
    /* An id never loaded fails. */
    ck_assert_int_eq(get(c, ID2, &l, &res), -1);
    ck_assert_int_eq(registry_cache_size(c), 1);
    /* Past the stale window it fails too, and is dropped. */
    fake_now += 300000;
    ck_assert_int_eq(get(c, ID1, &l, &res), -1);
    ck_assert_int_eq(registry_cache_size(c), 0);
    /* Back: loaded and fresh. */
    l.answer = 1;
    ck_assert_int_eq(get(c, ID1, &l, &res), 1);
    ck_assert_int_eq(res, REG_CACHE_MISS);
    registry_cache_free(c);
}
END_TEST

START_TEST(test_the_least_recently_used_entry_goes_first)
{
    registry_cache *c = cache_new(2);
    loader l = {.answer = 1, .price = 1, .mu = PTHREAD_MUTEX_INITIALIZER};
    registry_cache_result res;
    const char *a = "00000000-0000-4000-8000-00000000000a";
    const char *b = "00000000-0000-4000-8000-00000000000b";
    const char *d = "00000000-0000-4000-8000-00000000000d";
    get(c, a, &l, &res);
    get(c, b, &l, &res);
    get(c, a, &l, &res); /* a is now the most recent */
    get(c, d, &l, &res); /* evicts b */
    ck_assert_int_eq(registry_cache_size(c), 2);
    ck_assert_int_eq(l.calls, 3);
    get(c, a, &l, &res);
    ck_assert_int_eq(res, REG_CACHE_HIT);
    get(c, b, &l, &res);
    ck_assert_int_eq(res, REG_CACHE_MISS);
    ck_assert_int_eq(l.calls, 4);
    registry_cache_free(c);
}
END_TEST

typedef struct racer {
    registry_cache *c;
    loader *l;
    int rc;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    registry_cache_result res;
    registry_value v;
    r->rc = registry_cache_get(r->c, ID1, load, r->l, &v, &res);
    return NULL;
}

START_TEST(test_concurrent_misses_share_one_load)
{
    registry_cache *c = cache_new(10);
    loader l = {.answer = 1, .price = 5, .delay_us = 100000, .mu = PTHREAD_MUTEX_INITIALIZER};
    enum { N = 32 };
    pthread_t t[N];
    racer r[N];
    for (int i = 0; i < N; i++) {
        r[i] = (racer){c, &l, -2};
        ck_assert_int_eq(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(r[i].rc, 1);
    }
    ck_assert_int_eq(l.calls, 1);
    ck_assert_int_eq(registry_cache_loads(c), 1);
    ck_assert_int_eq(registry_cache_count(c, REG_CACHE_MISS), 1);
    ck_assert_int_eq(registry_cache_count(c, REG_CACHE_HIT), N - 1);
    registry_cache_free(c);
}
END_TEST

static Suite *registry_suite(void)
{
    Suite *s = suite_create("registry");
    TCase *tc = tcase_create("request");
    tcase_add_test(tc, test_cpf_with_right_check_digits_is_valid);
    tcase_add_test(tc, test_cpf_with_a_wrong_check_digit_is_invalid);
    tcase_add_test(tc, test_cpf_of_one_repeated_digit_is_invalid);
    tcase_add_test(tc, test_cpf_needs_exactly_eleven_digits);
    tcase_add_test(tc, test_merge_patch_rfc7396_examples);
    tcase_add_test(tc, test_merge_patch_leaves_the_target_unchanged);
    tcase_add_test(tc, test_physician_body_is_read);
    tcase_add_test(tc, test_physician_refusals_name_the_field);
    tcase_add_test(tc, test_name_counts_characters_not_bytes);
    tcase_add_test(tc, test_patient_body_is_read);
    tcase_add_test(tc, test_patient_refusals_name_the_field_and_never_quote_the_value);
    tcase_add_test(tc, test_list_query);
    tcase_add_test(tc, test_if_match);
    tcase_add_test(tc, test_writable_json_leaves_the_server_fields_out);
    suite_add_tcase(s, tc);
    TCase *cc = tcase_create("cache");
    tcase_add_test(cc, test_ttl_jitter_stays_within_ten_percent);
    tcase_add_test(cc, test_a_found_record_is_loaded_once_then_hit_until_it_expires);
    tcase_add_test(cc, test_an_unknown_id_is_remembered_for_the_negative_ttl);
    tcase_add_test(cc, test_evict_makes_the_next_lookup_load);
    tcase_add_test(cc, test_a_failing_load_serves_the_stale_entry_for_a_while);
    tcase_add_test(cc, test_the_least_recently_used_entry_goes_first);
    tcase_add_test(cc, test_concurrent_misses_share_one_load);
    suite_add_tcase(s, cc);
    return s;
}

CHECK_MAIN(registry_suite)
