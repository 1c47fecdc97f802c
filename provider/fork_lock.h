/*
 * A mutex that fork() cannot leave locked in the child.
 *
 * The PKCS#11 layer holds its own locks across fork (p11_module.c). The
 * provider's locks above it - a key's, the provider context's, the debug
 * log's - are held across module calls or by any thread, and a fork from
 * another thread at that moment would give the child a lock held by a
 * thread that does not exist there: its first use would wait forever.
 * Each TK_FORK_LOCK remembers in which process image (counted by forks)
 * it was set up; the first thread to take it in a child sets it up again
 * (nobody else in the child can hold it yet: see fork_lock.c).
 *
 * For locks off the signing fast path: taking one costs an atomic load
 * and a pthread_once check more than a plain mutex.
 */
#ifndef TK_FORK_LOCK_H
#define TK_FORK_LOCK_H

#include <pthread.h>

typedef struct {
    pthread_mutex_t mutex;
    unsigned long forks;    /* the process's fork count when mutex was set up */
} TK_FORK_LOCK;

#define TK_FORK_LOCK_INITIALIZER { PTHREAD_MUTEX_INITIALIZER, 0 }

void tk_fork_lock_init(TK_FORK_LOCK *l);
void tk_fork_lock_acquire(TK_FORK_LOCK *l);
void tk_fork_lock_release(TK_FORK_LOCK *l);
void tk_fork_lock_destroy(TK_FORK_LOCK *l);

#endif
