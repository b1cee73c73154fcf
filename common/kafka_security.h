/* kafka_security: how every Kafka client of a service authenticates and
 * encrypts, configured as librdkafka clients usually are (KAFKA_SECURITY_PROTOCOL,
 * KAFKA_SASL_*, KAFKA_SSL_*, and a kcat -F style KAFKA_CONFIG_FILE), checked
 * whole at start and turned into a list of librdkafka properties that
 * kafka_conf_new applies to every client (common/kafka.h).
 *
 * Secrets (the SASL password, anything a config file sets whose name says
 * password, secret or pem) come from files, are held here only, and are never
 * put in an error message or kafka_security_describe's text. Not thread-safe:
 * built at start-up, read-only afterwards. */
#ifndef COMMON_KAFKA_SECURITY_H
#define COMMON_KAFKA_SECURITY_H

#include <stdbool.h>
#include <stddef.h>

/* The variables, as read from the environment ("" or NULL = unset). The
 * strings are borrowed for kafka_security_init's call only. */
typedef struct kafka_security_opts {
    const char
        *protocol; /* KAFKA_SECURITY_PROTOCOL: plaintext (unset), ssl, sasl_plaintext, sasl_ssl */
    const char *mechanism;     /* KAFKA_SASL_MECHANISM: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 */
    const char *username;      /* KAFKA_SASL_USERNAME */
    const char *password_file; /* KAFKA_SASL_PASSWORD_FILE: the password, one line */
    const char *ca_file;       /* KAFKA_SSL_CA_FILE: PEM CA certificates to trust */
    const char *cert_file;     /* KAFKA_SSL_CERT_FILE: PEM client certificate (mutual TLS) */
    const char *key_file;      /* KAFKA_SSL_KEY_FILE: its PEM private key */
    const char *config_file;   /* KAFKA_CONFIG_FILE: further key=value librdkafka properties */
} kafka_security_opts;

/* One librdkafka property. */
typedef struct kafka_prop {
    char *name;
    char *value;
    bool secret;      /* never printed */
    const char *from; /* the variable it comes from, for error messages */
    int line;         /* its line in KAFKA_CONFIG_FILE, 0 otherwise */
} kafka_prop;

/* The properties, in the order they are applied. */
typedef struct kafka_security {
    kafka_prop *props;
    size_t nprops;
    char protocol[16]; /* librdkafka's name: plaintext, ssl, sasl_plaintext, sasl_ssl */
} kafka_security;

/* Checks o whole and fills s (zeroed first): reads the password file and the
 * config file, checks that the other files are readable, that the settings
 * agree (a SASL mechanism needs a sasl_* protocol, a certificate its key,
 * TLS files a TLS protocol, ...), and that the config file sets no property
 * a variable owns. Does not check that librdkafka knows the config file's
 * properties: kafka_security_check does. Returns 0, or -1 with a message
 * naming the variable in err (never a secret) and s empty. */
int kafka_security_init(kafka_security *s, const kafka_security_opts *o, char *err, size_t errlen);

/* Frees s's properties (wiping the secrets); s is empty afterwards. NULL or
 * empty: nothing. Cannot fail. */
void kafka_security_destroy(kafka_security *s);

/* A one-line description for the start-up log: the properties the variables
 * set (the password as [redacted]) and the names, not the values, of the
 * config file's. Never a secret. Truncated to outlen. */
void kafka_security_describe(const kafka_security *s, char *out, size_t outlen);

/* "KAFKA_CONFIG_FILE line 3" or "KAFKA_SSL_CA_FILE": where p came from, for
 * an error message. */
void kafka_prop_origin(const kafka_prop *p, char *out, size_t outlen);

/* Parses one line of a kcat -F style file: blank lines and lines starting
 * with '#' (after blanks) give 0; `key=value` (blanks around the key and
 * the value trimmed) gives 1 with *key and *value pointing into line, which
 * it modifies; anything else -1. Pure. */
int kafka_config_line(char *line, char **key, char **value);

#endif
