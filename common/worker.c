#include "worker.h"

void worker_init(worker *w)
{
    w->started = false;
    atomic_init(&w->stop, false);
}

int worker_start(worker *w, void *(*loop)(void *), void *arg)
{
    if (pthread_create(&w->thread, NULL, loop, arg) != 0)
        return -1;
    w->started = true;
    return 0;
}

void worker_request_stop(worker *w)
{
    atomic_store(&w->stop, true);
}

bool worker_stopping(worker *w)
{
    return atomic_load(&w->stop);
}

void worker_join(worker *w)
{
    worker_request_stop(w);
    if (w->started)
        pthread_join(w->thread, NULL);
    w->started = false;
}
