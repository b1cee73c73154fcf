/* config: settings come from environment variables, each with a default.
 * A service declares a table of config_var and reads values through it, so
 * `--help` and docs/configuration.md can list every variable. Not thread-safe: read
 * everything at start-up. */
#ifndef COMMON_CONFIG_H
#define COMMON_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef struct config_var {
    const char *name; /* environment variable */
    const char *def;  /* default, as text ("" for none) */
    const char *help; /* one line */
} config_var;

/* Handles argv. `--help` or `-h` prints usage and every variable with its
 * default to stdout and returns 1 (the caller exits 0); an unknown argument
 * returns -1 with the reason in err (the caller exits 2); otherwise returns
 * 0. */
int config_handle_args(int argc, char **argv, const char *service, const char *summary,
                       const config_var *vars, size_t nvars, char *err, size_t errlen);

/* The value of `name`: the environment's if set and non-empty, else the
 * table's default. `name` must be in the table (aborts otherwise: a typo is a
 * programming error). The string is borrowed and lives until exit. */
const char *config_str(const config_var *vars, size_t nvars, const char *name);

/* Parses `name` as a decimal integer in [min, max]. Returns 0, or -1 with a
 * message naming the variable in err. */
int config_int(const config_var *vars, size_t nvars, const char *name, int64_t min, int64_t max,
               int64_t *out, char *err, size_t errlen);

/* True when the environment sets `name` (non-empty), not only the table's
 * default. `name` must be in the table. */
int config_is_set(const config_var *vars, size_t nvars, const char *name);

/* The whole file at `path`, NUL-terminated: a heap string the caller frees.
 * Files larger than max bytes are refused. Returns NULL with a message
 * naming `var` in err (never the file's content). */
char *config_read_file(const char *var, const char *path, size_t max, char *err, size_t errlen);

/* The first line of the file at `path` (without its line end), for a
 * setting kept out of the environment (a password, a URI holding one): a
 * heap string the caller wipes and frees. Files larger than max bytes are
 * refused. Returns NULL with a message naming `var` in err (never the
 * file's content). */
char *config_read_secret(const char *var, const char *path, size_t max, char *err, size_t errlen);

#endif
