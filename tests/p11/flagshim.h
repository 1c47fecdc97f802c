/*
 * tk-flagshim: a PKCS#11 module that forwards every call to the module in
 * TK_FLAGSHIM_TARGET (default: TOKENKEY_TEST_MODULE, the fixture's
 * SoftHSM2), except that C_GetTokenInfo ORs in flags the test chooses,
 * C_Login calls are counted where they reach the real module, and
 * C_GetAttributeValue can be made to stop at the first attribute it cannot
 * return, as some modules do.
 *
 * Why: SoftHSM2 2.6.1 never sets CKF_USER_PIN_FINAL_TRY or
 * CKF_USER_PIN_LOCKED (it sets CKF_USER_PIN_COUNT_LOW on any failure and
 * never locks), so the layer's refusal to log in to a locked token, or to
 * spend the last try, cannot be reached with it alone. The token, its
 * sessions and its PIN stay real; only the reported PIN state is not.
 * Likewise SoftHSM2 processes every attribute of a template, so a layer
 * that copes with modules that do not can only be tested with the shim.
 * Tests reach these functions with dlopen(RTLD_NOLOAD) + dlsym.
 */
#ifndef TK_FLAGSHIM_H
#define TK_FLAGSHIM_H

#include <p11-kit/pkcs11.h>

/* Flags added to every CK_TOKEN_INFO from now on (0: none). */
void tk_flagshim_set_token_flags(CK_FLAGS flags);
typedef void tk_flagshim_set_token_flags_fn(CK_FLAGS flags);

/* C_Login calls forwarded to the real module so far. */
unsigned long tk_flagshim_logins(void);
typedef unsigned long tk_flagshim_logins_fn(void);

/*
 * on != 0: C_GetAttributeValue asks the real module for one attribute at a
 * time and, at the first one it cannot return (type invalid, sensitive,
 * buffer too small), returns that answer and leaves the rest of the
 * template untouched, which PKCS#11 v2.40 section 5.7 forbids but some
 * modules do. 0: forward whole templates. Also counts the calls.
 */
void tk_flagshim_set_attrs_stop_early(int on);
typedef void tk_flagshim_set_attrs_stop_early_fn(int on);

#endif
