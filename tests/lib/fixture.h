/*
 * The SoftHSM2 test fixture: a fresh token in a new temporary directory,
 * made by softhsm-conf/mktoken.sh and removed at teardown.
 *
 *   static TK_FIXTURE fx;
 *   static int setup(void **state) { return tk_fixture_setup(&fx, "my-test"); }
 *   static int teardown(void **state) { tk_fixture_teardown(&fx); return 0; }
 *
 * Setup exports the script's variables (SOFTHSM2_CONF, TOKENKEY_TEST_*) with
 * setenv(), so call it before anything loads the PKCS#11 module: SoftHSM2
 * reads SOFTHSM2_CONF once, at C_Initialize. One fixture per process, for
 * the same reason.
 *
 * Environment (meson's tk_test_env sets both):
 *   TK_MKTOKEN     path of softhsm-conf/mktoken.sh
 *   TK_INIT_TOKEN  path of the built tk-init-token helper
 *   TK_FIXTURE_KEEP=1 keeps the directory (its path goes to stderr).
 *
 * Needs only the PKCS#11 header, not tokenkey's code, so tests that load
 * the provider as a module can use it too.
 */
#ifndef TK_TEST_FIXTURE_H
#define TK_TEST_FIXTURE_H

#include <stddef.h>

#include "p11/p11.h"

typedef struct tk_fixture {
    char *dir;          /* the temporary directory; NULL when not set up */
    char *module;       /* TOKENKEY_TEST_MODULE: the SoftHSM2 library     */
    char *token;        /* TOKENKEY_TEST_TOKEN: the token label           */
    char *serial;       /* TOKENKEY_TEST_SERIAL                           */
    char *pin_file;     /* TOKENKEY_TEST_PIN_FILE: user PIN               */
    char *so_pin_file;  /* TOKENKEY_TEST_SO_PIN_FILE: security officer PIN */
    char *softhsm_conf; /* SOFTHSM2_CONF                                  */
} TK_FIXTURE;

/*
 * Make the token (label NULL: "tokenkey-test"). Returns 0, or -1 after
 * printing why to stderr (a missing SoftHSM2 is a failure, never a skip).
 */
int tk_fixture_setup(TK_FIXTURE *f, const char *label);
/* Remove the directory and forget the variables. Safe to call twice. */
void tk_fixture_teardown(TK_FIXTURE *f);

const char *tk_fixture_dir(const TK_FIXTURE *f);
const char *tk_fixture_module(const TK_FIXTURE *f);
const char *tk_fixture_token(const TK_FIXTURE *f);
const char *tk_fixture_serial(const TK_FIXTURE *f);
const char *tk_fixture_pin_file(const TK_FIXTURE *f);
const char *tk_fixture_so_pin_file(const TK_FIXTURE *f);

/*
 * A TK_P11_PIN_GETTER reading the file at arg (a const char * path): the
 * whole file, less trailing newlines. TK_CKR_PIN_UNAVAILABLE when the file
 * is missing, empty or longer than cap.
 */
CK_RV tk_fixture_pin_from_file(void *arg, char *buf, size_t cap, size_t *len);
/* Getters over the fixture's user and SO PIN files (valid while f is). */
TK_P11_PIN_GETTER tk_fixture_user_pin(const TK_FIXTURE *f);
TK_P11_PIN_GETTER tk_fixture_so_pin(const TK_FIXTURE *f);

/* The PIN in a file as a NUL-terminated string (free() it), or NULL. */
char *tk_fixture_read_pin(const char *path);

#endif
