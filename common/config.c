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
