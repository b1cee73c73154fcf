#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int config_handle_args(int argc, char **argv, const char *service, const char *summary,
                       const config_var *vars, size_t nvars, char *err, size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("Usage: %s [--help]\n\n%s\n\nConfiguration (environment variables):\n", service,
                   summary);
            for (size_t v = 0; v < nvars; v++)
                printf("  %-28s %s (default: %s)\n", vars[v].name, vars[v].help,
                       vars[v].def[0] ? vars[v].def : "unset");
            return 1;
        }
        snprintf(err, errlen, "unknown argument '%s' (try --help)", argv[i]);
        return -1;
    }
    return 0;
}

const char *config_str(const config_var *vars, size_t nvars, const char *name)
{
    for (size_t v = 0; v < nvars; v++) {
        if (strcmp(vars[v].name, name) != 0)
            continue;
        const char *env = getenv(name);
        return env && env[0] ? env : vars[v].def;
    }
    fprintf(stderr, "config: '%s' is not a declared variable\n", name);
    abort();
}

int config_int(const config_var *vars, size_t nvars, const char *name, int64_t min, int64_t max,
               int64_t *out, char *err, size_t errlen)
{
    const char *s = config_str(vars, nvars, name);
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        snprintf(err, errlen, "%s must be an integer from %lld to %lld, got '%s'", name,
                 (long long)min, (long long)max, s);
        return -1;
    }
    *out = v;
    return 0;
}

int config_is_set(const config_var *vars, size_t nvars, const char *name)
{
    (void)config_str(vars, nvars, name); /* aborts on a name not in the table */
    const char *env = getenv(name);
    return env && env[0];
}

char *config_read_file(const char *var, const char *path, size_t max, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read '%s'", var, path);
        return NULL;
    }
    char *text = malloc(max + 1);
    if (!text)
        abort();
    size_t n = fread(text, 1, max + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > max) {
        snprintf(err, errlen, "%s: '%s' %s", var, path,
                 bad ? "cannot be read" : "is too large for this setting");
        explicit_bzero(text, n > max ? max + 1 : n);
        free(text);
        return NULL;
    }
    text[n] = '\0';
    return text;
}

char *config_read_secret(const char *var, const char *path, size_t max, char *err, size_t errlen)
{
    char *text = config_read_file(var, path, max, err, errlen);
    if (!text)
        return NULL;
    size_t n = strlen(text), line = strcspn(text, "\r\n");
    explicit_bzero(text + line, n - line); /* what follows the first line */
    if (line == 0) {
        snprintf(err, errlen, "%s: '%s' is empty", var, path);
        free(text);
        return NULL;
    }
    return text;
}
