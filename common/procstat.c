#include "procstat.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "metrics.h"

/* Field numbers of proc(5)'s /proc/<pid>/stat, counted from 1 (pid). */
#define STAT_UTIME 14
#define STAT_STIME 15
#define STAT_STARTTIME 22
#define STAT_VSIZE 23
#define STAT_RSS 24
#define STAT_FIRST_AFTER_COMM 3 /* state, the first field after "(comm)" */

/* Reads one unsigned decimal field at *p and moves *p past it and the space
 * after it. Returns 0, or -1 if *p is not on digits. */
static int next_field(const char **p, uint64_t *out)
{
    if (**p < '0' || **p > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(*p, &end, 10);
    if (errno || (*end != ' ' && *end != '\n' && *end != '\0'))
        return -1;
    *out = v;
    *p = *end == ' ' ? end + 1 : end;
    return 0;
}

/* Moves *p past one field whatever it holds (the state letter, negative
 * numbers such as priority). Returns 0, or -1 at the end of the text. */
static int skip_field(const char **p)
{
    const char *sp = strchr(*p, ' ');
    if (!sp)
        return -1;
    *p = sp + 1;
    return 0;
}

int procstat_parse_stat(const char *text, procstat_stat *out)
{
    const char *p = strrchr(text, ')');
    if (!p || p[1] != ' ')
        return -1;
    p += 2;
    uint64_t utime = 0, stime = 0, start = 0, vsize = 0, rss = 0;
    for (int field = STAT_FIRST_AFTER_COMM; field <= STAT_RSS; field++) {
        uint64_t *want = field == STAT_UTIME       ? &utime
                         : field == STAT_STIME     ? &stime
                         : field == STAT_STARTTIME ? &start
                         : field == STAT_VSIZE     ? &vsize
                         : field == STAT_RSS       ? &rss
                                                   : NULL;
        if (want ? next_field(&p, want) != 0 : skip_field(&p) != 0)
            return -1;
    }
    *out = (procstat_stat){
        .cpu_ticks = utime + stime, .start_ticks = start, .vsize_bytes = vsize, .rss_pages = rss};
    return 0;
}

int procstat_parse_btime(const char *text, int64_t *out)
{
    for (const char *line = text; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, "btime ", 6) != 0)
            continue;
        const char *digits = line + 6;
        char *end;
        errno = 0;
        long long v = strtoll(digits, &end, 10);
        if (errno || end == digits || *digits < '0' || *digits > '9' ||
            (*end != '\n' && *end != '\0'))
            return -1;
        *out = v;
        return 0;
    }
    return -1;
}

/* ---- reading /proc ---- */

static int read_self_stat(procstat_stat *st)
{
    char text[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return -1;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    return procstat_parse_stat(text, st);
}

/* /proc/stat's "intr" line can be tens of KiB on a big machine: read it a
 * line at a time rather than guessing a buffer size. */
static int read_btime(int64_t *btime)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    char *line = NULL;
    size_t cap = 0;
    int rc = -1;
    while (rc != 0 && getline(&line, &cap, f) > 0)
        rc = procstat_parse_btime(line, btime);
    free(line);
    fclose(f);
    return rc;
}

/* Entries of /proc/self/fd, the one opendir itself holds included, as the
 * official clients count them. */
static int64_t count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int64_t n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

void procstat_render(buf *out)
{
    long ticks = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    procstat_stat st;
    if (ticks > 0 && page > 0 && read_self_stat(&st) == 0) {
        metrics_single_f(out, "process_cpu_seconds_total", "counter",
                         "Total user and system CPU time spent in seconds.",
                         (double)st.cpu_ticks / (double)ticks);
        metrics_single(out, "process_resident_memory_bytes", "gauge",
                       "Resident memory size in bytes.", st.rss_pages * (uint64_t)page);
        metrics_single(out, "process_virtual_memory_bytes", "gauge",
                       "Virtual memory size in bytes.", st.vsize_bytes);
        int64_t btime;
        if (read_btime(&btime) == 0)
            metrics_single_f(out, "process_start_time_seconds", "gauge",
                             "Start time of the process since unix epoch in seconds.",
                             (double)btime + (double)st.start_ticks / (double)ticks);
    }
    int64_t fds = count_open_fds();
    if (fds >= 0)
        metrics_single_i(out, "process_open_fds", "gauge", "Number of open file descriptors.", fds);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        metrics_single(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
                       (uint64_t)rl.rlim_cur);
}
