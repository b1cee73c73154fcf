#include "kafka_security.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "config.h"

/* A secret file larger than this is a wrong path, not a password. */
#define SECRET_FILE_MAX 4096
#define CONFIG_FILE_MAX (1 << 20)

/* Properties a variable (or the service itself) sets: a config file that set
 * one too would contradict it, or silently lose to it. */
static const struct owned {
    const char *name;
    const char *owner;
} owned[] = {
    {"bootstrap.servers", "KAFKA_BOOTSTRAP"},
    {"metadata.broker.list", "KAFKA_BOOTSTRAP"},
    {"client.id", "the service (its name)"},
    {"group.id", "KAFKA_GROUP_ID"},
    {"security.protocol", "KAFKA_SECURITY_PROTOCOL"},
    {"sasl.mechanism", "KAFKA_SASL_MECHANISM"},
    {"sasl.mechanisms", "KAFKA_SASL_MECHANISM"},
    {"sasl.username", "KAFKA_SASL_USERNAME"},
    {"sasl.password", "KAFKA_SASL_PASSWORD_FILE"},
    {"ssl.ca.location", "KAFKA_SSL_CA_FILE"},
    {"ssl.certificate.location", "KAFKA_SSL_CERT_FILE"},
    {"ssl.key.location", "KAFKA_SSL_KEY_FILE"},
    /* the delivery and commit guarantees the services are built on */
    {"acks", "the service (acks=all)"},
    {"request.required.acks", "the service (acks=all)"},
    {"enable.idempotence", "the service (see kafka_producer_new)"},
    {"enable.auto.commit", "the service (it commits billed offsets itself)"},
    {"enable.auto.offset.store", "the service (it commits billed offsets itself)"},
};

static bool set(const char *s)
{
    return s && s[0];
}

/* A property whose value must never be printed. */
static bool secret_name(const char *name)
{
    return strstr(name, "password") || strstr(name, "secret") || strstr(name, ".pem") ||
           strstr(name, "jaas") || strstr(name, "token");
}

static void add_prop(kafka_security *s, const char *name, const char *value, bool secret,
                     const char *from, int line)
{
    s->props = xrealloc(s->props, (s->nprops + 1) * sizeof *s->props);
    s->props[s->nprops++] = (kafka_prop){xstrdup(name), xstrdup(value), secret, from, line};
}

static int check_readable(const char *var, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read '%s'", var, path);
        return -1;
    }
    fclose(f);
    return 0;
}

int kafka_config_line(char *line, char **key, char **value)
{
    char *p = line;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '\0' || *p == '#')
        return 0;
    char *eq = strchr(p, '=');
    if (!eq || eq == p)
        return -1;
    char *kend = eq;
    while (kend > p && isspace((unsigned char)kend[-1]))
        kend--;
    if (kend == p)
        return -1;
    *kend = '\0';
    for (char *c = p; *c; c++)
        if (isspace((unsigned char)*c))
            return -1; /* "a b=c": not a property name */
    char *v = eq + 1;
    while (isspace((unsigned char)*v))
        v++;
    char *vend = v + strlen(v);
    while (vend > v && isspace((unsigned char)vend[-1]))
        vend--;
    *vend = '\0';
    *key = p;
    *value = v;
    return 1;
}

/* The password: the file's first line without its line end. */
static int read_password(kafka_security *s, const char *path, char *err, size_t errlen)
{
    char *pw = config_read_secret("KAFKA_SASL_PASSWORD_FILE", path, SECRET_FILE_MAX, err, errlen);
    if (!pw)
        return -1;
    add_prop(s, "sasl.password", pw, true, "KAFKA_SASL_PASSWORD_FILE", 0);
    explicit_bzero(pw, strlen(pw));
    free(pw);
    return 0;
}

static int read_config_file(kafka_security *s, const char *path, char *err, size_t errlen)
{
    char *text = config_read_file("KAFKA_CONFIG_FILE", path, CONFIG_FILE_MAX, err, errlen);
    if (!text)
        return -1;
    int rc = 0, lineno = 0;
    for (char *line = text, *next; line && rc == 0; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        char *key, *value;
        int r = kafka_config_line(line, &key, &value);
        if (r == 0)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "KAFKA_CONFIG_FILE line %d: expected key=value", lineno);
            rc = -1;
            break;
        }
        for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) {
            if (strcmp(key, owned[i].name) == 0) {
                snprintf(err, errlen, "KAFKA_CONFIG_FILE line %d: %.64s is set by %s", lineno, key,
                         owned[i].owner);
                rc = -1;
            }
        }
        if (rc == 0)
            add_prop(s, key, value, secret_name(key), "KAFKA_CONFIG_FILE", lineno);
    }
    explicit_bzero(text, strlen(text));
    free(text);
    return rc;
}

/* The protocol's canonical name, or NULL if unknown. */
static const char *protocol_name(const char *p)
{
    static const char *const names[] = {"plaintext", "ssl", "sasl_plaintext", "sasl_ssl"};
    if (!set(p))
        return "plaintext";
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(p, names[i]) == 0)
            return names[i];
    return NULL;
}

static const char *mechanism_name(const char *m)
{
    static const char *const names[] = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(m, names[i]) == 0)
            return names[i];
    return NULL;
}

/* The SASL variables; protocol is canonical. */
static int init_sasl(kafka_security *s, const kafka_security_opts *o, const char *protocol,
                     char *err, size_t errlen)
{
    bool sasl = strncmp(protocol, "sasl_", 5) == 0;
    const char *stray = set(o->mechanism)       ? "KAFKA_SASL_MECHANISM"
                        : set(o->username)      ? "KAFKA_SASL_USERNAME"
                        : set(o->password_file) ? "KAFKA_SASL_PASSWORD_FILE"
                                                : NULL;
    if (!sasl) {
        if (stray) {
            snprintf(err, errlen,
                     "%s is set but KAFKA_SECURITY_PROTOCOL is %s (SASL needs sasl_ssl or "
                     "sasl_plaintext)",
                     stray, protocol);
            return -1;
        }
        return 0;
    }
    const char *missing = !set(o->mechanism)       ? "KAFKA_SASL_MECHANISM"
                          : !set(o->username)      ? "KAFKA_SASL_USERNAME"
                          : !set(o->password_file) ? "KAFKA_SASL_PASSWORD_FILE"
                                                   : NULL;
    if (missing) {
        snprintf(err, errlen, "%s must be set when KAFKA_SECURITY_PROTOCOL is %s", missing,
                 protocol);
        return -1;
    }
    const char *mech = mechanism_name(o->mechanism);
    if (!mech) {
        snprintf(err, errlen,
                 "KAFKA_SASL_MECHANISM must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, got "
                 "'%.32s'",
                 o->mechanism);
        return -1;
    }
    add_prop(s, "sasl.mechanisms", mech, false, "KAFKA_SASL_MECHANISM", 0);
    add_prop(s, "sasl.username", o->username, false, "KAFKA_SASL_USERNAME", 0);
    return read_password(s, o->password_file, err, errlen);
}

/* The TLS files; protocol is canonical. */
static int init_ssl(kafka_security *s, const kafka_security_opts *o, const char *protocol,
                    char *err, size_t errlen)
{
    bool tls = strcmp(protocol, "ssl") == 0 || strcmp(protocol, "sasl_ssl") == 0;
    const char *stray = set(o->ca_file)     ? "KAFKA_SSL_CA_FILE"
                        : set(o->cert_file) ? "KAFKA_SSL_CERT_FILE"
                        : set(o->key_file)  ? "KAFKA_SSL_KEY_FILE"
                                            : NULL;
    if (!tls && stray) {
        snprintf(err, errlen,
                 "%s is set but KAFKA_SECURITY_PROTOCOL is %s (TLS needs ssl or sasl_ssl)", stray,
                 protocol);
        return -1;
    }
    if (set(o->cert_file) != set(o->key_file)) {
        snprintf(err, errlen, "%s is set without %s (mutual TLS needs both)",
                 set(o->cert_file) ? "KAFKA_SSL_CERT_FILE" : "KAFKA_SSL_KEY_FILE",
                 set(o->cert_file) ? "KAFKA_SSL_KEY_FILE" : "KAFKA_SSL_CERT_FILE");
        return -1;
    }
    const struct {
        const char *var, *prop, *path;
    } files[] = {
        {"KAFKA_SSL_CA_FILE", "ssl.ca.location", o->ca_file},
        {"KAFKA_SSL_CERT_FILE", "ssl.certificate.location", o->cert_file},
        {"KAFKA_SSL_KEY_FILE", "ssl.key.location", o->key_file},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        const char *path = files[i].path;
        if (!set(path))
            continue;
        if (check_readable(files[i].var, path, err, errlen) != 0)
            return -1;
        add_prop(s, files[i].prop, path, false, files[i].var, 0);
    }
    return 0;
}

int kafka_security_init(kafka_security *s, const kafka_security_opts *o, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    const char *protocol = protocol_name(o->protocol);
    if (!protocol) {
        snprintf(err, errlen,
                 "KAFKA_SECURITY_PROTOCOL must be plaintext, ssl, sasl_plaintext or sasl_ssl, "
                 "got '%.32s'",
                 o->protocol);
        return -1;
    }
    snprintf(s->protocol, sizeof s->protocol, "%s", protocol);
    add_prop(s, "security.protocol", protocol, false, "KAFKA_SECURITY_PROTOCOL", 0);
    if (init_sasl(s, o, protocol, err, errlen) != 0 || init_ssl(s, o, protocol, err, errlen) != 0 ||
        (set(o->config_file) && read_config_file(s, o->config_file, err, errlen) != 0)) {
        kafka_security_destroy(s);
        return -1;
    }
    return 0;
}

void kafka_security_destroy(kafka_security *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nprops; i++) {
        explicit_bzero(s->props[i].value, strlen(s->props[i].value));
        free(s->props[i].name);
        free(s->props[i].value);
    }
    free(s->props);
    memset(s, 0, sizeof *s);
}

void kafka_prop_origin(const kafka_prop *p, char *out, size_t outlen)
{
    if (p->line > 0)
        snprintf(out, outlen, "%s line %d", p->from, p->line);
    else
        snprintf(out, outlen, "%s", p->from);
}

void kafka_security_describe(const kafka_security *s, char *out, size_t outlen)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < s->nprops && len < outlen; i++) {
        const kafka_prop *p = &s->props[i];
        /* a config file's values may hold secrets its names don't betray */
        int n = p->line > 0 ? snprintf(out + len, outlen - len, "%s%s=...", i ? " " : "", p->name)
                            : snprintf(out + len, outlen - len, "%s%s=%s", i ? " " : "", p->name,
                                       p->secret ? "[redacted]" : p->value);
        if (n < 0)
            break;
        len += (size_t)n;
    }
}
