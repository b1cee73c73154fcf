/* log: one JSON object per line on stderr: {"ts","level","service","msg",...}.
 * Extra fields are NULL-terminated key/value string pairs, and LOG_INT for an
 * integer (written as a JSON number, so nobody formats one into a buffer):
 *     log_info("appointment finished", "appointment_id", id, NULL);
 *     log_warn("retrying", "topic", t, LOG_INT("partition", p), NULL);
 * Thread-safe (one fputs per line). Never logs secrets: callers do not pass
 * tokens. */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stdint.h>

typedef enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* Sets the service name and minimum level ("debug", "info", "warn",
 * "error", in any case; NULL is "info"). Returns 0, or -1 for any other level (then "info"
 * is set, so the caller can still log why it stops). Call once at start-up
 * before any thread logs. */
int log_init(const char *service, const char *level);

/* Tags an integer field: LOG_INT(key, value) stands for three arguments. */
extern const char log_int_field[];
#define LOG_INT(key, value) log_int_field, (const char *)(key), (int64_t)(value)

void log_kv(log_level level, const char *msg, ...) __attribute__((sentinel));

#define log_debug(...) log_kv(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_kv(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_kv(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_kv(LOG_ERROR, __VA_ARGS__)

#endif
