#include "log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "clock.h"
#include "json.h"

static const char *log_service = "clinic-events";
static log_level log_min = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* Only its address matters: a key argument equal to it announces a typed
 * integer field (see LOG_INT). */
const char log_int_field[] = "";

int log_init(const char *service, const char *level)
{
    log_service = service;
    log_min = LOG_INFO;
    if (!level)
        return 0;
    for (int i = 0; i < 4; i++)
        if (strcasecmp(level, level_names[i]) == 0) {
            log_min = (log_level)i;
            return 0;
        }
    return -1;
}

void log_kv(log_level level, const char *msg, ...)
{
    if (level < log_min)
        return;
    buf b;
    buf_init(&b);
    buf_puts(&b, "{\"ts\":");
    json_append_time(&b, clock_now_ms());
    buf_puts(&b, ",\"level\":\"");
    buf_puts(&b, level_names[level]);
    buf_puts(&b, "\",\"service\":");
    json_append_cstr(&b, log_service);
    buf_puts(&b, ",\"msg\":");
    json_append_cstr(&b, msg);
    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k)
            break;
        if (k == log_int_field) {
            k = va_arg(ap, const char *);
            int64_t n = va_arg(ap, int64_t);
            buf_putc(&b, ',');
            json_append_cstr(&b, k);
            buf_printf(&b, ":%" PRId64, n);
            continue;
        }
        const char *v = va_arg(ap, const char *);
        buf_putc(&b, ',');
        json_append_cstr(&b, k);
        buf_putc(&b, ':');
        json_append_cstr(&b, v);
    }
    va_end(ap);
    buf_puts(&b, "}\n");
    fputs(buf_cstr(&b), stderr);
    buf_free(&b);
}
