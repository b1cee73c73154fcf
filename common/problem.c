#include "problem.h"

#include <stdarg.h>
#include <stdio.h>

int problem_set(problem *p, int status, const char *slug, const char *field, const char *fmt, ...)
{
    p->status = status;
    p->slug = slug;
    snprintf(p->field, sizeof p->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->detail, sizeof p->detail, fmt, ap);
    va_end(ap);
    return -1;
}
