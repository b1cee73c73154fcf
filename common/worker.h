/* worker: the one background thread of a module (the outbox relay, the
 * consumer), with the start/stop shape they share. The thread's loop checks
 * worker_stopping() between rounds; a round must end within a bounded time
 * (a poll timeout), since worker_join waits for it.
 *     worker_init(&w);
 *     if (worker_start(&w, loop, arg) != 0) ...   // 0 or -1
 *     ... worker_request_stop(&w);                // from any thread
 *     worker_join(&w);                            // from the owner
 * A worker that never started joins as a no-op, so one _free path tears down
 * a half-built module. */
#ifndef COMMON_WORKER_H
#define COMMON_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

typedef struct worker {
    pthread_t thread;
    bool started; /* owner only */
    atomic_bool stop;
} worker;

void worker_init(worker *w);
/* Runs loop(arg) on a new thread. Returns 0, or -1 if no thread could be made. */
int worker_start(worker *w, void *(*loop)(void *), void *arg);
/* Asks the loop to end after its round. Thread-safe, idempotent. */
void worker_request_stop(worker *w);
/* Whether a stop was asked. Thread-safe. */
bool worker_stopping(worker *w);
/* Asks the loop to stop and waits for the thread, if it started. Owner only. */
void worker_join(worker *w);

#endif
