/* kafka_security: the KAFKA_SECURITY_* variables checked whole and turned
 * into librdkafka properties; secrets never in a message. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kafka.h"
#include "kafka_security.h"

#include "check_main.h"

#define SECRET "s3cr3t-pa55"

static char dir[] = "/tmp/test_kafka_security_XXXXXX";
static char pw_file[128], ca_file[128], cert_file[128], key_file[128], conf_file[128];

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void setup(void)
{
    ck_assert_ptr_nonnull(mkdtemp(strcpy(dir, "/tmp/test_kafka_security_XXXXXX")));
    snprintf(pw_file, sizeof pw_file, "%s/pw", dir);
    snprintf(ca_file, sizeof ca_file, "%s/ca.pem", dir);
    snprintf(cert_file, sizeof cert_file, "%s/cert.pem", dir);
    snprintf(key_file, sizeof key_file, "%s/key.pem", dir);
    snprintf(conf_file, sizeof conf_file, "%s/client.properties", dir);
    write_text(pw_file, SECRET "\n");
    write_text(ca_file, "ca");
    write_text(cert_file, "cert");
    write_text(key_file, "key");
}

static void teardown(void)
{
    const char *files[] = {pw_file, ca_file, cert_file, key_file, conf_file};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        unlink(files[i]);
    rmdir(dir);
}

/* The value of property name in s, or NULL. */
static const char *prop(const kafka_security *s, const char *name)
{
    for (size_t i = 0; i < s->nprops; i++)
        if (strcmp(s->props[i].name, name) == 0)
            return s->props[i].value;
    return NULL;
}

static kafka_security_opts sasl_ssl(void)
{
    return (kafka_security_opts){.protocol = "sasl_ssl",
                                 .mechanism = "SCRAM-SHA-512",
                                 .username = "financial",
                                 .password_file = pw_file,
                                 .ca_file = ca_file};
}

/* kafka_security_init must fail with a message containing want, and no
 * secret. */
static void assert_refused(const kafka_security_opts *o, const char *want)
{
    kafka_security s;
    char err[512] = "";
    ck_assert_int_eq(kafka_security_init(&s, o, err, sizeof err), -1);
    ck_assert_msg(strstr(err, want), "error '%s' lacks '%s'", err, want);
    ck_assert_msg(!strstr(err, SECRET), "error '%s' holds the secret", err);
    ck_assert_uint_eq(s.nprops, 0);
}

START_TEST(test_unset_means_plaintext)
{
    kafka_security s;
    kafka_security_opts o = {0};
    char err[256];
    ck_assert_int_eq(kafka_security_init(&s, &o, err, sizeof err), 0);
    ck_assert_str_eq(s.protocol, "plaintext");
    ck_assert_uint_eq(s.nprops, 1);
    ck_assert_str_eq(prop(&s, "security.protocol"), "plaintext");
    kafka_security_destroy(&s);
}
END_TEST

START_TEST(test_sasl_ssl_sets_mechanism_user_password_and_ca)
{
    kafka_security s;
    kafka_security_opts o = sasl_ssl();
    o.protocol = "SASL_SSL";
    o.mechanism = "scram-sha-512";
    char err[256];
    ck_assert_int_eq(kafka_security_init(&s, &o, err, sizeof err), 0);
    ck_assert_str_eq(prop(&s, "security.protocol"), "sasl_ssl");
    ck_assert_str_eq(prop(&s, "sasl.mechanisms"), "SCRAM-SHA-512");
    ck_assert_str_eq(prop(&s, "sasl.username"), "financial");
    ck_assert_str_eq(prop(&s, "sasl.password"), SECRET); /* without its newline */
    ck_assert_str_eq(prop(&s, "ssl.ca.location"), ca_file);
    ck_assert_ptr_null(prop(&s, "ssl.certificate.location"));
    kafka_security_destroy(&s);
    ck_assert_uint_eq(s.nprops, 0);
}
END_TEST

START_TEST(test_mutual_tls_sets_certificate_and_key)
{
    kafka_security s;
    kafka_security_opts o = {
        .protocol = "ssl", .ca_file = ca_file, .cert_file = cert_file, .key_file = key_file};
    char err[256];
    ck_assert_int_eq(kafka_security_init(&s, &o, err, sizeof err), 0);
    ck_assert_str_eq(prop(&s, "ssl.certificate.location"), cert_file);
    ck_assert_str_eq(prop(&s, "ssl.key.location"), key_file);
    kafka_security_destroy(&s);
}
END_TEST

START_TEST(test_unknown_protocol_is_refused)
{
    kafka_security_opts o = {.protocol = "tls"};
    assert_refused(&o,
                   "KAFKA_SECURITY_PROTOCOL must be plaintext, ssl, sasl_plaintext or sasl_ssl");
}
END_TEST

START_TEST(test_mechanism_without_a_sasl_protocol_is_refused)
{
    kafka_security_opts o = {.protocol = "ssl", .mechanism = "PLAIN"};
    assert_refused(&o, "KAFKA_SASL_MECHANISM is set but KAFKA_SECURITY_PROTOCOL is ssl");
    o.protocol = NULL;
    o.mechanism = NULL;
    o.password_file = pw_file;
    assert_refused(&o, "KAFKA_SASL_PASSWORD_FILE is set but KAFKA_SECURITY_PROTOCOL is plaintext");
}
END_TEST

START_TEST(test_sasl_protocol_needs_mechanism_user_and_password)
{
    kafka_security_opts o = sasl_ssl();
    o.mechanism = "";
    assert_refused(&o, "KAFKA_SASL_MECHANISM must be set when KAFKA_SECURITY_PROTOCOL is sasl_ssl");
    o = sasl_ssl();
    o.username = NULL;
    assert_refused(&o, "KAFKA_SASL_USERNAME must be set");
    o = sasl_ssl();
    o.password_file = NULL;
    assert_refused(&o, "KAFKA_SASL_PASSWORD_FILE must be set");
}
END_TEST

START_TEST(test_unknown_mechanism_is_refused)
{
    kafka_security_opts o = sasl_ssl();
    o.mechanism = "GSSAPI";
    assert_refused(&o, "KAFKA_SASL_MECHANISM must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512");
}
END_TEST

START_TEST(test_certificate_without_its_key_is_refused)
{
    kafka_security_opts o = {.protocol = "ssl", .cert_file = cert_file};
    assert_refused(&o, "KAFKA_SSL_CERT_FILE is set without KAFKA_SSL_KEY_FILE");
    o.cert_file = NULL;
    o.key_file = key_file;
    assert_refused(&o, "KAFKA_SSL_KEY_FILE is set without KAFKA_SSL_CERT_FILE");
}
END_TEST

START_TEST(test_tls_files_without_a_tls_protocol_are_refused)
{
    kafka_security_opts o = sasl_ssl();
    o.protocol = "sasl_plaintext";
    assert_refused(&o, "KAFKA_SSL_CA_FILE is set but KAFKA_SECURITY_PROTOCOL is sasl_plaintext");
}
END_TEST

START_TEST(test_unreadable_files_name_their_variable)
{
    kafka_security_opts o = sasl_ssl();
    o.password_file = "/nonexistent/pw";
    assert_refused(&o, "KAFKA_SASL_PASSWORD_FILE: cannot read '/nonexistent/pw'");
    o = sasl_ssl();
    o.ca_file = "/nonexistent/ca.pem";
    assert_refused(&o, "KAFKA_SSL_CA_FILE: cannot read '/nonexistent/ca.pem'");
    o = sasl_ssl();
    o.config_file = "/nonexistent/client.properties";
    assert_refused(&o, "KAFKA_CONFIG_FILE: cannot read");
}
END_TEST

START_TEST(test_empty_password_file_is_refused)
{
    write_text(pw_file, "\n");
    kafka_security_opts o = sasl_ssl();
    assert_refused(&o, "KAFKA_SASL_PASSWORD_FILE: '");
}
END_TEST

START_TEST(test_config_file_lines_become_properties)
{
    write_text(conf_file, "# tuning\n\n  socket.keepalive.enable = true\nssl.key.password=" SECRET
                          "\r\nsasl.oauthbearer.config=a=b\n");
    kafka_security s;
    kafka_security_opts o = {.protocol = "ssl", .config_file = conf_file};
    char err[256];
    ck_assert_int_eq(kafka_security_init(&s, &o, err, sizeof err), 0);
    ck_assert_str_eq(prop(&s, "socket.keepalive.enable"), "true");
    ck_assert_str_eq(prop(&s, "ssl.key.password"), SECRET);
    ck_assert_str_eq(prop(&s, "sasl.oauthbearer.config"), "a=b"); /* split at the first '=' */
    ck_assert_int_eq(s.props[s.nprops - 1].line, 5);
    kafka_security_destroy(&s);
}
END_TEST

START_TEST(test_config_file_cannot_set_what_a_variable_sets)
{
    write_text(conf_file, "linger.ms=5\nsasl.password=" SECRET "\n");
    kafka_security_opts o = {.config_file = conf_file};
    assert_refused(&o,
                   "KAFKA_CONFIG_FILE line 2: sasl.password is set by KAFKA_SASL_PASSWORD_FILE");
    write_text(conf_file, "security.protocol=ssl\n");
    assert_refused(&o, "KAFKA_CONFIG_FILE line 1: security.protocol is set by "
                       "KAFKA_SECURITY_PROTOCOL");
    write_text(conf_file, "enable.auto.commit=true\n");
    assert_refused(&o, "KAFKA_CONFIG_FILE line 1: enable.auto.commit is set by the service");
}
END_TEST

START_TEST(test_config_file_malformed_line_is_refused)
{
    write_text(conf_file, "a=1\njust words\n");
    kafka_security_opts o = {.config_file = conf_file};
    assert_refused(&o, "KAFKA_CONFIG_FILE line 2: expected key=value");
    write_text(conf_file, "=1\n");
    assert_refused(&o, "KAFKA_CONFIG_FILE line 1: expected key=value");
}
END_TEST

START_TEST(test_config_line_parsing)
{
    char a[] = "  # comment", b[] = "   ", c[] = " k = v w ", d[] = "k v=1", e[] = "k=";
    char *k, *v;
    ck_assert_int_eq(kafka_config_line(a, &k, &v), 0);
    ck_assert_int_eq(kafka_config_line(b, &k, &v), 0);
    ck_assert_int_eq(kafka_config_line(c, &k, &v), 1);
    ck_assert_str_eq(k, "k");
    ck_assert_str_eq(v, "v w");
    ck_assert_int_eq(kafka_config_line(d, &k, &v), -1);
    ck_assert_int_eq(kafka_config_line(e, &k, &v), 1);
    ck_assert_str_eq(v, "");
}
END_TEST

START_TEST(test_describe_never_shows_a_secret)
{
    write_text(conf_file, "sasl.oauthbearer.config=principal=" SECRET "\n");
    kafka_security s;
    kafka_security_opts o = sasl_ssl();
    o.config_file = conf_file;
    char err[256], desc[512];
    ck_assert_int_eq(kafka_security_init(&s, &o, err, sizeof err), 0);
    kafka_security_describe(&s, desc, sizeof desc);
    ck_assert_msg(!strstr(desc, SECRET), "%s", desc);
    ck_assert_msg(strstr(desc, "sasl.password=[redacted]"), "%s", desc);
    ck_assert_msg(strstr(desc, "sasl.username=financial"), "%s", desc);
    ck_assert_msg(strstr(desc, "sasl.oauthbearer.config=..."), "%s", desc);
    kafka_security_destroy(&s);
}
END_TEST

START_TEST(test_check_refuses_a_property_librdkafka_does_not_know)
{
    write_text(conf_file, "# ok\nsocket.keepalive.enable=true\nno.such.property=1\n");
    kafka_security s;
    kafka_security_opts o = {.config_file = conf_file};
    char err[256];
    ck_assert_int_eq(kafka_security_init(&s, &o, err, sizeof err), 0);
    ck_assert_int_eq(kafka_security_check(&s, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "KAFKA_CONFIG_FILE line 3") && strstr(err, "no.such.property"), "%s",
                  err);
    kafka_security_destroy(&s);
}
END_TEST

START_TEST(test_check_refuses_a_ca_file_that_is_no_certificate)
{
    kafka_security s;
    kafka_security_opts o = {.protocol = "ssl", .ca_file = ca_file};
    char err[256];
    ck_assert_int_eq(kafka_security_init(&s, &o, err, sizeof err), 0);
    ck_assert_int_eq(kafka_security_check(&s, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "KAFKA_SSL_CA_FILE: "), "%s", err);
    kafka_security_destroy(&s);
}
END_TEST

START_TEST(test_check_accepts_sasl_settings_without_leaking_the_password)
{
    kafka_security s;
    kafka_security_opts o = sasl_ssl();
    o.protocol = "sasl_plaintext";
    o.ca_file = NULL;
    char err[256] = "";
    ck_assert_int_eq(kafka_security_init(&s, &o, err, sizeof err), 0);
    ck_assert_int_eq(kafka_security_check(&s, err, sizeof err), 0);
    kafka_security_destroy(&s);
}
END_TEST

static const char *conf_value(rd_kafka_conf_t *conf, const char *name, char *out, size_t n)
{
    ck_assert_int_eq(rd_kafka_conf_get(conf, name, out, &n), RD_KAFKA_CONF_OK);
    return out;
}

START_TEST(test_config_file_overrides_a_clients_tuning)
{
    const kafka_setting tuning[] = {{"linger.ms", "2"}, {"fetch.wait.max.ms", "100"}, {NULL, NULL}};
    char err[256] = "", v[64];
    rd_kafka_conf_t *conf = kafka_conf_new("127.0.0.1:1", "t", tuning, err, sizeof err);
    ck_assert_ptr_nonnull(conf);
    ck_assert_str_eq(conf_value(conf, "linger.ms", v, sizeof v), "2");
    ck_assert_str_eq(conf_value(conf, "fetch.wait.max.ms", v, sizeof v), "100");
    rd_kafka_conf_destroy(conf);

    write_text(conf_file, "linger.ms=7\n");
    kafka_security s;
    kafka_security_opts o = {.config_file = conf_file};
    ck_assert_int_eq(kafka_security_init(&s, &o, err, sizeof err), 0);
    kafka_use_security(&s);
    conf = kafka_conf_new("127.0.0.1:1", "t", tuning, err, sizeof err);
    kafka_use_security(NULL);
    ck_assert_ptr_nonnull(conf);
    ck_assert_str_eq(conf_value(conf, "linger.ms", v, sizeof v), "7");
    ck_assert_str_eq(conf_value(conf, "fetch.wait.max.ms", v, sizeof v), "100");
    rd_kafka_conf_destroy(conf);
    kafka_security_destroy(&s);

    const kafka_setting bad[] = {{"linger.ms", "not a number"}, {NULL, NULL}};
    ck_assert_ptr_null(kafka_conf_new("127.0.0.1:1", "t", bad, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "linger.ms"));
}
END_TEST

static Suite *kafka_security_suite(void)
{
    Suite *s = suite_create("kafka_security");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_unset_means_plaintext);
    tcase_add_test(tc, test_sasl_ssl_sets_mechanism_user_password_and_ca);
    tcase_add_test(tc, test_mutual_tls_sets_certificate_and_key);
    tcase_add_test(tc, test_unknown_protocol_is_refused);
    tcase_add_test(tc, test_mechanism_without_a_sasl_protocol_is_refused);
    tcase_add_test(tc, test_sasl_protocol_needs_mechanism_user_and_password);
    tcase_add_test(tc, test_unknown_mechanism_is_refused);
    tcase_add_test(tc, test_certificate_without_its_key_is_refused);
    tcase_add_test(tc, test_tls_files_without_a_tls_protocol_are_refused);
    tcase_add_test(tc, test_unreadable_files_name_their_variable);
    tcase_add_test(tc, test_empty_password_file_is_refused);
    tcase_add_test(tc, test_config_file_lines_become_properties);
    tcase_add_test(tc, test_config_file_cannot_set_what_a_variable_sets);
    tcase_add_test(tc, test_config_file_malformed_line_is_refused);
    tcase_add_test(tc, test_config_line_parsing);
    tcase_add_test(tc, test_describe_never_shows_a_secret);
    tcase_add_test(tc, test_check_refuses_a_property_librdkafka_does_not_know);
    tcase_add_test(tc, test_check_refuses_a_ca_file_that_is_no_certificate);
    tcase_add_test(tc, test_check_accepts_sasl_settings_without_leaking_the_password);
    tcase_add_test(tc, test_config_file_overrides_a_clients_tuning);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(kafka_security_suite)
