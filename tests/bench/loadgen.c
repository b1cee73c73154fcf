/* loadgen: start + finish pairs against the appointment service at an offered
 * rate, over keep-alive connections (plain sockets: no libcurl here, and a
 * Python client cannot offer 1,000 pairs/s on two cores).
 *
 *   loadgen HOST PORT PAIRS RATE CONNS SECONDS IDS_OUT [PEOPLE]
 *
 * RATE is pairs (= finishes) per second, 0 for flat out. No pair starts
 * after SECONDS (0: no limit), so a slow system ends the run with fewer. Pair i is due at
 * t0 + i/RATE; a connection that falls behind sends at once (the lateness is
 * reported as behind_max_ms, so a run that could not offer its rate says so).
 * Each connection runs its pairs one after the other: start, then finish.
 * Pair i's physician and patient are i % 300 and i % 5000 of the ids
 * mongo_raw seeds (tests/bench/mongo_raw.c), so a clinic's lists stay as
 * spread as the seeded ones; with PEOPLE, a file of "physician_id<TAB>
 * patient_id" lines (the sample registry's, for a service that checks them),
 * pair i takes line i % lines instead.
 * Writes "id<TAB>finish_sent_ms<TAB>finish_done_ms" (Unix ms) per finished pair
 * to IDS_OUT and one JSON summary line on stdout (t0_ms: the Unix ms of the
 * first start). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PHYSICIANS 300
#define PATIENTS 5000
/* physician, patient: their numbers (mongo_raw's id scheme); no start_date,
 * so it is the start's time, as for a consultation starting now. */
#define START_BODY_FMT                                                                             \
    "{\"physician_id\":\"00000000-0000-4000-8000-%012ld\","                                        \
    "\"patient_id\":\"00000000-0000-4000-9000-%012ld\"}"

/* The same start body with the ids given as text (PEOPLE). */
#define START_BODY_IDS_FMT "{\"physician_id\":\"%s\",\"patient_id\":\"%s\"}"
#define UUID_LEN 36

typedef struct person_pair {
    char physician[UUID_LEN + 1];
    char patient[UUID_LEN + 1];
} person_pair;

typedef struct pair_rec {
    char id[40];
    int64_t start_us, finish_us; /* latencies */
    int64_t finish_sent_ms, finish_done_ms;
    int ok;
} pair_rec;

static const char *host;
static int port;
static long npairs;
static double rate;
static int64_t stop_us; /* no new pair after this (monotonic), 0: never */
static int64_t t0_us;
static atomic_long next_pair;
static atomic_long errors;
static atomic_llong behind_max_us;
static pair_rec *recs;
static person_pair *people; /* PEOPLE's lines, NULL without it */
static long npeople;

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int connect_to(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads one response (Content-Length framed) into buf; returns the status,
 * or -1. The body starts at *body. */
static int read_response(int fd, char *buf, size_t cap, const char **body)
{
    size_t len = 0;
    char *hdr_end = NULL;
    while (!hdr_end) {
        if (len + 1 >= cap)
            return -1;
        ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);
        if (r <= 0)
            return -1;
        len += (size_t)r;
        buf[len] = '\0';
        hdr_end = strstr(buf, "\r\n\r\n");
    }
    int status = atoi(buf + 9);
    const char *cl = strstr(buf, "\r\nContent-Length:");
    size_t clen = cl && cl < hdr_end ? (size_t)strtoul(cl + 17, NULL, 10) : 0;
    size_t need = (size_t)(hdr_end + 4 - buf) + clen;
    if (need >= cap)
        return -1;
    while (len < need) {
        ssize_t r = recv(fd, buf + len, need - len, 0);
        if (r <= 0)
            return -1;
        len += (size_t)r;
    }
    buf[len] = '\0';
    *body = hdr_end + 4;
    return status;
}

static int request(int fd, const char *method, const char *path, const char *body, char *resp,
                   size_t cap, const char **rbody)
{
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, path, host, port, strlen(body), body);
    if (n < 0 || (size_t)n >= sizeof req || send_all(fd, req, (size_t)n) != 0)
        return -1;
    return read_response(fd, resp, cap, rbody);
}

static void note_behind(int64_t late)
{
    long long cur = atomic_load(&behind_max_us);
    while (late > cur && !atomic_compare_exchange_weak(&behind_max_us, &cur, late))
        ;
}

static void *worker(void *arg)
{
    (void)arg;
    char resp[8192];
    int fd = connect_to();
    for (;;) {
        long i = atomic_fetch_add(&next_pair, 1);
        if (i >= npairs || (stop_us && mono_us() >= stop_us))
            break;
        pair_rec *r = &recs[i];
        if (rate > 0) {
            int64_t due = t0_us + (int64_t)((double)i * 1e6 / rate);
            int64_t now = mono_us();
            if (now < due) {
                struct timespec ts = {(time_t)((due - now) / 1000000),
                                      (long)((due - now) % 1000000) * 1000};
                nanosleep(&ts, NULL);
            } else {
                note_behind(now - due);
            }
        }
        if (fd < 0 && (fd = connect_to()) < 0) {
            atomic_fetch_add(&errors, 1);
            continue;
        }
        const char *b = NULL;
        char body[256];
        if (people)
            snprintf(body, sizeof body, START_BODY_IDS_FMT, people[i % npeople].physician,
                     people[i % npeople].patient);
        else
            snprintf(body, sizeof body, START_BODY_FMT, i % PHYSICIANS, i % PATIENTS);
        int64_t a = mono_us();
        int st = request(fd, "POST", "/appointments", body, resp, sizeof resp, &b);
        r->start_us = mono_us() - a;
        const char *idp = st == 201 ? strstr(b, "\"id\":\"") : NULL;
        if (!idp) {
            atomic_fetch_add(&errors, 1);
            close(fd);
            fd = -1;
            continue;
        }
        memcpy(r->id, idp + 6, 36);
        r->id[36] = '\0';
        char path[96];
        snprintf(path, sizeof path, "/appointments/%s/finish", r->id);
        r->finish_sent_ms = real_ms();
        a = mono_us();
        st = request(fd, "POST", path, "{}", resp, sizeof resp, &b);
        r->finish_us = mono_us() - a;
        r->finish_done_ms = real_ms();
        if (st != 200) {
            atomic_fetch_add(&errors, 1);
            close(fd);
            fd = -1;
            continue;
        }
        r->ok = 1;
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* Reads PEOPLE: lines "physician_id<TAB>patient_id"; -1 when it cannot be
 * read or has a line of another shape or no line at all. */
static int load_people(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    long cap = 0;
    int rc = 0;
    while (fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        size_t end = strcspn(line, "\r\n");
        if (!tab || tab - line != UUID_LEN || (size_t)(tab - line) + 1 + UUID_LEN != end) {
            rc = -1;
            break;
        }
        if (npeople == cap) {
            cap = cap ? cap * 2 : 1024;
            person_pair *grown = realloc(people, sizeof *people * (size_t)cap);
            if (!grown) {
                rc = -1;
                break;
            }
            people = grown;
        }
        memcpy(people[npeople].physician, line, UUID_LEN);
        people[npeople].physician[UUID_LEN] = '\0';
        memcpy(people[npeople].patient, tab + 1, UUID_LEN);
        people[npeople].patient[UUID_LEN] = '\0';
        npeople++;
    }
    fclose(f);
    return rc == 0 && npeople > 0 ? 0 : -1;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct_ms(int64_t *v, long n, double p)
{
    if (n == 0)
        return 0;
    long k = (long)(p * (double)(n - 1) + 0.5);
    return (double)v[k] / 1000.0;
}

int main(int argc, char **argv)
{
    if (argc != 8 && argc != 9) {
        fprintf(stderr, "usage: loadgen HOST PORT PAIRS RATE CONNS SECONDS IDS_OUT [PEOPLE]\n");
        return 2;
    }
    if (argc == 9 && load_people(argv[8]) != 0) {
        fprintf(stderr, "loadgen: %s: no lines, or one not \"physician_id<TAB>patient_id\"\n",
                argv[8]);
        return 2;
    }
    host = argv[1];
    port = atoi(argv[2]);
    npairs = atol(argv[3]);
    rate = atof(argv[4]);
    int conns = atoi(argv[5]);
    recs = calloc((size_t)npairs, sizeof *recs);
    pthread_t *th = calloc((size_t)conns, sizeof *th);
    if (!recs || !th || npairs <= 0 || conns <= 0)
        return 2;
    t0_us = mono_us();
    int64_t t0_ms = real_ms();
    double limit = atof(argv[6]);
    stop_us = limit > 0 ? t0_us + (int64_t)(limit * 1e6) : 0;
    for (int i = 0; i < conns; i++)
        pthread_create(&th[i], NULL, worker, NULL);
    for (int i = 0; i < conns; i++)
        pthread_join(th[i], NULL);
    double secs = (double)(mono_us() - t0_us) / 1e6;

    FILE *out = fopen(argv[7], "w");
    if (!out)
        return 1;
    int64_t *s = malloc(sizeof *s * (size_t)npairs), *f = malloc(sizeof *f * (size_t)npairs);
    long ok = 0;
    for (long i = 0; i < npairs; i++) {
        if (!recs[i].ok)
            continue;
        fprintf(out, "%s\t%lld\t%lld\n", recs[i].id, (long long)recs[i].finish_sent_ms,
                (long long)recs[i].finish_done_ms);
        s[ok] = recs[i].start_us;
        f[ok++] = recs[i].finish_us;
    }
    fclose(out);
    qsort(s, (size_t)ok, sizeof *s, cmp_i64);
    qsort(f, (size_t)ok, sizeof *f, cmp_i64);
    printf("{\"t0_ms\":%lld,\"pairs\":%ld,\"ok\":%ld,\"errors\":%ld,\"seconds\":%.3f,\"finishes_"
           "per_s\":%.1f,"
           "\"start_p50_ms\":%.2f,\"start_p99_ms\":%.2f,\"finish_p50_ms\":%.2f,"
           "\"finish_p99_ms\":%.2f,\"behind_max_ms\":%.1f}\n",
           (long long)t0_ms, npairs, ok, atomic_load(&errors), secs, (double)ok / secs,
           pct_ms(s, ok, 0.5), pct_ms(s, ok, 0.99), pct_ms(f, ok, 0.5), pct_ms(f, ok, 0.99),
           (double)atomic_load(&behind_max_us) / 1000.0);
    free(s);
    free(f);
    free(recs);
    free(th);
    return 0;
}
