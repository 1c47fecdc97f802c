/*
 * tk-faultmod: a PKCS#11 module that wraps a real one and injects faults
 * (the rule syntax is at the top of faultmod.c).
 *
 * Tests that run in the same process as the module reach these functions
 * with dlopen(path, RTLD_NOW) + dlsym: the handle is the very instance the
 * provider loads later (or loaded already), so rules set here apply to the
 * provider's calls. Processes that only run a program (the CLI, a Kafka
 * client) use TK_FAULT, TK_FAULT_CONTROL and TK_FAULT_STATS instead.
 */
#ifndef TK_FAULTMOD_H
#define TK_FAULTMOD_H

/*
 * Replace every rule with those in rules (NULL or "": none). Each rule's
 * call count starts again at 0. Returns 0, or -1 after printing why to
 * stderr (the rules in force are then unchanged).
 */
int tk_fault_set(const char *rules);
typedef int tk_fault_set_fn(const char *rules);

/* Calls of fn ("C_Sign") that reached this module, injected ones included. */
unsigned long tk_fault_calls(const char *fn);
typedef unsigned long tk_fault_calls_fn(const char *fn);

/* Calls of fn that got an injected error instead of reaching the real module. */
unsigned long tk_fault_injected(const char *fn);
typedef unsigned long tk_fault_injected_fn(const char *fn);

/* Most calls of fn ever in flight at the same time (delays included). */
unsigned long tk_fault_max_inflight(const char *fn);
typedef unsigned long tk_fault_max_inflight_fn(const char *fn);

/*
 * Block until n calls of fn are held by a "hold" rule (C_Login=hold@1), or
 * let go every call of fn held now. No timeout: the test's own catches a
 * call that never comes.
 */
void tk_fault_wait_held(const char *fn, unsigned long n);
typedef void tk_fault_wait_held_fn(const char *fn, unsigned long n);
void tk_fault_release(const char *fn);
typedef void tk_fault_release_fn(const char *fn);

/* Set every count above back to 0. */
void tk_fault_reset_counts(void);
typedef void tk_fault_reset_counts_fn(void);

/* Write the counts to path (see TK_FAULT_STATS in faultmod.c); 0 or -1. */
int tk_fault_write_stats(const char *path);
typedef int tk_fault_write_stats_fn(const char *path);

#endif
