/* Locks a fork cannot leave held (see fork_lock.h). */
#include "fork_lock.h"

/*
 * Bumped in every child. A lock set up under another count was inherited
 * from a parent, maybe held by one of its threads.
 */
static unsigned long fork_count;
/*
 * Serialises setting up inherited locks again. Not held across fork (it
 * would have to be taken in a prepare handler, whose order against the
 * PKCS#11 layer's depends on which was installed first): a child sets it
 * up anew, as no thread of the child holds it.
 */
static pthread_mutex_t setup_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;

static void after_fork_child(void)
{
    pthread_mutex_init(&setup_lock, NULL);
    __atomic_add_fetch(&fork_count, 1, __ATOMIC_SEQ_CST);
}

static void install_hooks(void)
{
    pthread_atfork(NULL, NULL, after_fork_child);
}

void tk_fork_lock_init(TK_FORK_LOCK *l)
{
    pthread_once(&hooks_once, install_hooks);
    pthread_mutex_init(&l->mutex, NULL);
    __atomic_store_n(&l->forks, __atomic_load_n(&fork_count, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
}

/*
 * In a child, the count differs from the lock's until the first taker sets
 * the mutex up again. Any thread that took the mutex in this process saw
 * the counts equal, which only happens after that set-up: so the mutex
 * set up again here is held by no living thread. (A lock taken before the
 * hooks were installed is no concern: the count moves only with them, and
 * installing them comes first in every path that sets up a lock.)
 */
void tk_fork_lock_acquire(TK_FORK_LOCK *l)
{
    unsigned long now;

    pthread_once(&hooks_once, install_hooks);
    now = __atomic_load_n(&fork_count, __ATOMIC_ACQUIRE);
    if (__atomic_load_n(&l->forks, __ATOMIC_ACQUIRE) != now) {
        pthread_mutex_lock(&setup_lock);
        if (__atomic_load_n(&l->forks, __ATOMIC_ACQUIRE) != now) {
            pthread_mutex_init(&l->mutex, NULL);
            __atomic_store_n(&l->forks, now, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&setup_lock);
    }
    pthread_mutex_lock(&l->mutex);
}

void tk_fork_lock_release(TK_FORK_LOCK *l)
{
    pthread_mutex_unlock(&l->mutex);
}

/*
 * A lock inherited from the parent and never taken here may be held by a
 * parent's thread that does not exist in this process: destroying a held
 * mutex is undefined. It owns nothing (glibc's mutexes allocate nothing),
 * so it is left as it is.
 */
void tk_fork_lock_destroy(TK_FORK_LOCK *l)
{
    if (__atomic_load_n(&l->forks, __ATOMIC_ACQUIRE) == __atomic_load_n(&fork_count, __ATOMIC_ACQUIRE))
        pthread_mutex_destroy(&l->mutex);
}
