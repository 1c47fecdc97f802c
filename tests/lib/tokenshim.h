/*
 * tk-tokenshim: a PKCS#11 module that forwards every call to a real one
 * (TK_TOKENSHIM_TARGET, default TOKENKEY_TEST_MODULE: the fixture's
 * SoftHSM2) and shows tokenkey what SoftHSM2 2.6.1 never does:
 *
 * - PIN states and a read-only token: flags OR'ed into every CK_TOKEN_INFO.
 *   SoftHSM2 never locks a PIN (it sets CKF_USER_PIN_COUNT_LOW after any
 *   failure), never reports CKF_USER_PIN_FINAL_TRY, and has no read-only
 *   setting. With CKF_WRITE_PROTECTED, read-write sessions are refused with
 *   CKR_TOKEN_WRITE_PROTECTED, as a read-only token does (PKCS#11 v2.40
 *   section 5.6, C_OpenSession).
 * - A C_GetAttributeValue that asks for one attribute at a time and, at the
 *   first one it cannot return, answers that and leaves the rest of the
 *   template untouched: v2.40 section 5.7 forbids it, some modules do it.
 *   Or one that reports lengths no attribute has, or past the buffer.
 *
 * - A copy that a search finds early, as SoftHSM2 2.6.1 lets one be found
 *   (tk_tokenshim_set_copy_shows_early).
 * - Another card in the same slot: a serial number put into every
 *   CK_TOKEN_INFO in place of the real one, while the objects (and their
 *   CKA_IDs) stay the same, as with two PIV cards.
 * - A session limit (tk_tokenshim_set_max_sessions).
 * - The combined ECDSA mechanisms (CKM_ECDSA_SHA1 ... CKM_ECDSA_SHA512),
 *   which SoftHSM2 2.6.1 lacks, made from its CKM_ECDSA; optionally with
 *   CKM_ECDSA itself hidden, as on an HSM that hashes inside
 *   (tokenshim_ecdsa.c).
 *
 * It also counts the C_Login calls that reach the real module (to prove a
 * PIN was not sent); never the PIN. The token, its sessions, objects and
 * PIN check stay the real module's. Test code only; never installed.
 *
 * Command-line tests drive it with the environment, read when it loads:
 *   TK_TOKENFLAGS         comma-separated: LOCKED, FINAL_TRY, COUNT_LOW,
 *                         WRITE_PROTECTED, PROTECTED_PATH (a PIN pad),
 *                         TO_BE_CHANGED set;
 *                         NO_USER_PIN clears CKF_USER_PIN_INITIALIZED
 *   TK_TOKENFLAGS_LOGINS  a file that gets a line per C_Login reaching the
 *                         real module ("C_Login user=N", and " no-pin"
 *                         when pPin was NULL)
 *   TK_TOKENSHIM_ECDSA    "combined": the combined ECDSA mechanisms too;
 *                         "combined-only": those, and CKM_ECDSA hidden
 *   TK_TOKENSHIM_FORK_IN_INITIALIZE  "1": C_Initialize forks a child that
 *                         execs /bin/true, as p11-kit's remote modules start
 *                         their helper
 *   TK_TOKENSHIM_INIT_ARGS  C_Initialize refuses (CKR_ARGUMENTS_BAD) unless
 *                         pReserved is this text, as a module with init
 *                         arguments of its own (NSS softokn) fails without them
 * In-process tests with the functions below, reached with
 * dlopen(RTLD_NOLOAD) + dlsym in the copy the code under test loaded.
 */
#ifndef TK_TOKENSHIM_H
#define TK_TOKENSHIM_H

#include <p11-kit/pkcs11.h>

/* Flags added to every CK_TOKEN_INFO from now on (0: none). */
void tk_tokenshim_set_token_flags(CK_FLAGS flags);
typedef void tk_tokenshim_set_token_flags_fn(CK_FLAGS flags);

/* The serial number every CK_TOKEN_INFO shows from now on (NULL: the real one). */
void tk_tokenshim_set_token_serial(const char *serial);
typedef void tk_tokenshim_set_token_serial_fn(const char *serial);

/* C_Login calls forwarded to the real module so far. */
unsigned long tk_tokenshim_logins(void);
typedef unsigned long tk_tokenshim_logins_fn(void);

/* on != 0: C_GetAttributeValue stops at the first attribute it cannot return. */
void tk_tokenshim_set_attrs_stop_early(int on);
typedef void tk_tokenshim_set_attrs_stop_early_fn(int on);

/*
 * A module's bug in the lengths of attribute type: with
 * TK_TOKENSHIM_LIE_HUGE a length query answers 2 MiB, with
 * TK_TOKENSHIM_LIE_PAST_BUFFER a value read answers a length 64 bytes past
 * the real value and the buffer (nothing is written past it); 0: the truth.
 */
#define TK_TOKENSHIM_LIE_HUGE 1
#define TK_TOKENSHIM_LIE_PAST_BUFFER 2
void tk_tokenshim_set_attr_length_lie(CK_ATTRIBUTE_TYPE type, int how);
typedef void tk_tokenshim_set_attr_length_lie_fn(CK_ATTRIBUTE_TYPE type, int how);

/*
 * The next C_Sign that would write a signature answers rv (a CKR_ code)
 * after setting the signature length to 0, as some modules do on failure.
 */
void tk_tokenshim_fail_next_sign(CK_RV rv);
typedef void tk_tokenshim_fail_next_sign_fn(CK_RV rv);
/* The next C_Sign that writes a signature reports extra bytes more than it wrote. */
void tk_tokenshim_lie_next_sign_length(CK_ULONG extra);
typedef void tk_tokenshim_lie_next_sign_length_fn(CK_ULONG extra);

/*
 * From now on C_SignInit with a session object (CKA_TOKEN false: a session
 * copy) answers rv, as an HSM whose policy binds a key's use to the stored
 * object may; CKR_OK: no more. Returns how many it refused so far.
 */
void tk_tokenshim_refuse_session_keys(CK_RV rv);
typedef void tk_tokenshim_refuse_session_keys_fn(CK_RV rv);
unsigned long tk_tokenshim_session_keys_refused(void);
typedef unsigned long tk_tokenshim_session_keys_refused_fn(void);

/* The next C_GetMechanismInfo of mechanism m answers rv (once). */
void tk_tokenshim_fail_mechanism_info(CK_MECHANISM_TYPE m, CK_RV rv);
typedef void tk_tokenshim_fail_mechanism_info_fn(CK_MECHANISM_TYPE m, CK_RV rv);

/*
 * From now on C_GetAttributeValue on object o answers rv (an object deleted
 * by another process since it was found: CKR_OBJECT_HANDLE_INVALID; a failing
 * module: CKR_GENERAL_ERROR). CK_INVALID_HANDLE: none.
 */
void tk_tokenshim_fail_object_reads(CK_OBJECT_HANDLE o, CK_RV rv);
typedef void tk_tokenshim_fail_object_reads_fn(CK_OBJECT_HANDLE o, CK_RV rv);

/*
 * From now on C_FindObjectsInit with a template whose CKA_CLASS is cls
 * answers rv (a failing module). TK_TOKENSHIM_NO_CLASS: none.
 */
#define TK_TOKENSHIM_NO_CLASS ((CK_OBJECT_CLASS)~0UL)
void tk_tokenshim_fail_finds_of_class(CK_OBJECT_CLASS cls, CK_RV rv);
typedef void tk_tokenshim_fail_finds_of_class_fn(CK_OBJECT_CLASS cls, CK_RV rv);

/*
 * ms > 0: a C_CopyObject takes ms milliseconds before it reaches the real
 * module, and meanwhile a search that finds the object being copied finds
 * it twice - what SoftHSM2 2.6.1 does, briefly: its C_CopyObject puts the
 * new object in place with all the original's attributes (CKA_TOKEN=TRUE
 * among them) and applies the caller's template only after, so a search
 * from another thread in that window lists the copy as a token object.
 * ms < 0: the window stays open until tk_tokenshim_release_copy, so that a
 * test can be sure its search falls into it.
 */
void tk_tokenshim_set_copy_shows_early(int ms);
typedef void tk_tokenshim_set_copy_shows_early_fn(int ms);
void tk_tokenshim_release_copy(void);
typedef void tk_tokenshim_release_copy_fn(void);
/* C_CopyObject calls under way. */
int tk_tokenshim_copies_under_way(void);
typedef int tk_tokenshim_copies_under_way_fn(void);
/* Searches that listed a copy in the making (the window was met). */
unsigned long tk_tokenshim_copies_shown(void);
typedef unsigned long tk_tokenshim_copies_shown_fn(void);

/*
 * n > 0: at most n sessions open at a time (opened through the shim and not
 * closed); C_OpenSession answers CKR_SESSION_COUNT beyond, as a smartcard
 * or an HSM partition with a session limit does. 0: no limit.
 */
void tk_tokenshim_set_max_sessions(int n);
typedef void tk_tokenshim_set_max_sessions_fn(int n);
/* Sessions open through the shim now. */
int tk_tokenshim_sessions_open(void);
typedef int tk_tokenshim_sessions_open_fn(void);
/* C_OpenSession calls refused with CKR_SESSION_COUNT so far. */
unsigned long tk_tokenshim_sessions_refused(void);
typedef unsigned long tk_tokenshim_sessions_refused_fn(void);

/*
 * The next C_GenerateKeyPair that succeeds closes every session of its slot
 * before it returns (a token reset right after it made the pair), once.
 * With then_fail_finds other than CKR_OK, searches for private keys answer
 * that from then on (tk_tokenshim_fail_finds_of_class), so that the pair
 * cannot be found again.
 */
void tk_tokenshim_close_sessions_after_next_generate(CK_RV then_fail_finds);
typedef void tk_tokenshim_close_sessions_after_next_generate_fn(CK_RV then_fail_finds);
/*
 * With the above: the closing also puts another card in the slot, shown by
 * the serial number serial (tk_tokenshim_set_token_serial). NULL: no swap.
 */
void tk_tokenshim_swap_card_after_next_generate(const char *serial);
typedef void tk_tokenshim_swap_card_after_next_generate_fn(const char *serial);

/* Signatures made so far through the emulated combined ECDSA mechanism mech. */
unsigned long tk_tokenshim_combined_signatures(CK_MECHANISM_TYPE mech);
typedef unsigned long tk_tokenshim_combined_signatures_fn(CK_MECHANISM_TYPE mech);

#endif
