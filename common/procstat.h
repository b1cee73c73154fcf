/* procstat: the process_* metrics every Prometheus client library exports
 * (process_cpu_seconds_total, process_resident_memory_bytes, ...), read
 * from /proc as the official clients read them on Linux. The parsers are
 * pure, for unit tests; procstat_render reads /proc/self. */
#ifndef COMMON_PROCSTAT_H
#define COMMON_PROCSTAT_H

#include <stdint.h>

#include "buf.h"

/* What /proc/<pid>/stat says about a process. */
typedef struct procstat_stat {
    uint64_t cpu_ticks;   /* utime + stime, in clock ticks */
    uint64_t start_ticks; /* starttime: clock ticks after boot */
    uint64_t vsize_bytes; /* virtual memory size */
    uint64_t rss_pages;   /* resident set size, in pages */
} procstat_stat;

/* Parses the text of /proc/<pid>/stat (NUL-terminated). The command name in
 * parentheses may hold spaces and parentheses: fields are counted from the
 * last ')'. Returns 0, or -1 when a field is missing or not a number (out
 * untouched). */
int procstat_parse_stat(const char *text, procstat_stat *out);

/* Finds "btime N" (boot time, seconds since the epoch) in the text of
 * /proc/stat. Returns 0, or -1 when absent (out untouched). */
int procstat_parse_btime(const char *text, int64_t *out);

/* Appends process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_start_time_seconds,
 * process_open_fds and process_max_fds for this process. A number /proc
 * cannot give is left out (its family too). Thread-safe. */
void procstat_render(buf *out);

#endif
