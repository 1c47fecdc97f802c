/*
 * tk-faultmod: a PKCS#11 v2.40 module that wraps a real one and, on
 * command, makes a chosen function fail with a chosen CKR_, slows it
 * down, or closes every session of its slot, while counting the calls.
 * Test code only; never installed.
 *
 * The real module: $TK_FAULT_MODULE, else $TOKENKEY_TEST_MODULE (the
 * fixture's SoftHSM2), else /usr/lib/softhsm/libsofthsm2.so. Every one of
 * the 68 functions of the 2.40 list is wrapped and passes through unless a
 * rule fires. C_GetFunctionList and C_GetInterface (3.0; returns the same
 * 2.40 list, refused when TK_FAULT_NO_INTERFACE=1) are exported.
 *
 * Rules
 *   C_<Function>=<action>[@<when>]     e.g.
 *   C_Sign=CKR_DEVICE_REMOVED@3        the 3rd C_Sign fails with CKR_DEVICE_REMOVED
 *   C_Login=CKR_PIN_INCORRECT@always   every C_Login fails
 *   C_SignInit=delay:50                every C_SignInit waits 50 ms, then runs
 *   C_GetAttributeValue=CKR_BUFFER_TOO_SMALL@1
 *   C_Sign=CKR_DEVICE_ERROR@p0.01      each C_Sign fails with probability 0.01 (also "@1%")
 *   C_FindObjectsInit=CKR_GENERAL_ERROR@2+   the 2nd call and every later one
 *   C_SignInit=reset@1                 the 1st C_SignInit first closes every session of
 *                                      its slot in the real module (a token reset seen by
 *                                      the application: sessions and login are gone), then
 *                                      runs and gets the real module's answer
 *   C_Login=hold@1                     the 1st C_Login waits until the test lets it go
 *                                      (tk_fault_wait_held, tk_fault_release: faultmod.h),
 *                                      then runs
 *   C_Login=after:CKR_DEVICE_ERROR@1   the 1st C_Login runs in the real module, and its
 *                                      answer is replaced by CKR_DEVICE_ERROR (the token
 *                                      did the work, the answer was lost on the way back)
 * action: a CKR_ name (PKCS#11 v2.40 section 11.1), 0x<hex>, after:<CKR_ name or 0x<hex>>,
 *         delay:<ms>, reset or hold.
 * when:   N (the Nth call only), N+ (from the Nth on), always (the default),
 *         pP or P% (with probability P; TK_FAULT_SEED seeds the draws).
 * Rules are separated by commas, semicolons, blanks or newlines; '#' starts
 * a comment. They are tried in order for each call, and a rule counts only
 * the calls that reach it: an error (or after:) rule that fires takes the call, later
 * rules don't see it ("C_Sign=CKR_DEVICE_REMOVED@1,C_Sign=CKR_DEVICE_ERROR@1":
 * the 1st C_Sign gets the first, the 2nd the second). Delay, reset and hold
 * rules that fire let the call go on to later rules. Call numbers count
 * from when the rule was set.
 *
 * An injected error replaces the call: the real module never sees it (an
 * after: rule's call reaches it, and only the answer is replaced). But
 * PKCS#11 v2.40 section 5.12 says a failed C_Sign (C_Decrypt, C_Encrypt,
 * C_Digest, C_Verify, their Final and Update, C_SignRecover,
 * C_VerifyRecover) ends the active operation unless the error is
 * CKR_BUFFER_TOO_SMALL, so for those the operation is ended in the real
 * module too (by making the call into a scratch buffer, or calling the
 * Final), as a real token would. The dual-function updates are not ended.
 *
 * Where rules come from
 *   TK_FAULT            rules read once, when the module loads (a bad rule: the
 *                       module refuses to load, CKR_ARGUMENTS_BAD)
 *   TK_FAULT_CONTROL    a file of rules, checked on every call (a stat()): when it
 *                       appears, or its inode, size, mtime or ctime change, its rules
 *                       replace all rules in force; when it is removed, no rules are
 *                       left. File times are coarse, so rewrite it by rename()-ing a
 *                       new file into place.
 *   tk_fault_set()      from a test in the same process (faultmod.h)
 *
 * Counts (per function: calls, injected errors, most calls in flight at
 * once) are read with tk_fault_calls() etc. (faultmod.h), or written to
 * TK_FAULT_STATS (a path; %p becomes the process id) at C_Finalize and at
 * process exit, one line per function called:
 *   C_Sign calls=12 injected=1 max_inflight=3
 * TK_FAULT_VERBOSE=1 prints each injection on stderr.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultmod.h"
#include "faultmod_rules.h"

#define FM_EXPORT __attribute__((visibility("default")))
/* Large enough for any signature or block SoftHSM2 makes (RSA-16384). */
#define FM_SCRATCH 4096

/* PKCS#11 3.0 section 5.2: C_GetInterface; p11-kit's 2.40 header lacks it. */
typedef struct {
    CK_UTF8CHAR *pInterfaceName;
    void *pFunctionList;
    CK_FLAGS flags;
} FM_CK_INTERFACE;

FM_EXPORT CK_RV C_GetInterfaceList(FM_CK_INTERFACE *list, CK_ULONG *count);
FM_EXPORT CK_RV C_GetInterface(CK_UTF8CHAR *name, CK_VERSION *version,
                               FM_CK_INTERFACE **iface, CK_FLAGS flags);

static CK_FUNCTION_LIST *target;
static CK_FUNCTION_LIST fault_list;
static FM_CK_INTERFACE fault_interface = { (CK_UTF8CHAR *)"PKCS 11", &fault_list, 0 };
static CK_RV load_rv = CKR_GENERAL_ERROR;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

CK_FUNCTION_LIST *fm_target(void)
{
    return target;
}

/*
 * The body of a plain wrapper: count, maybe inject, else forward. Each
 * wrapper is still written out below, so every name can be grepped.
 */
#define FM_FORWARD(fn, by, id, call) \
    FM_CALL c; \
    if (fm_enter(&c, fn, by, id)) \
        return fm_leave(&c, c.rv); \
    return fm_leave(&c, call)

/* The same for calls whose failure ends an operation: end it in the real module too. */
#define FM_FORWARD_ENDING(fn, h, call, end) \
    FM_CALL c; \
    if (fm_enter(&c, fn, FM_BY_SESSION, h)) { \
        if (c.rv != CKR_BUFFER_TOO_SMALL) \
            end; \
        return fm_leave(&c, c.rv); \
    } \
    return fm_leave(&c, call)

/* The Final calls that end a multi-part operation, into a scratch buffer. */
static void end_sign(CK_SESSION_HANDLE h)
{
    unsigned char buf[FM_SCRATCH];
    CK_ULONG len = sizeof(buf);

    target->C_SignFinal(h, buf, &len);
}

static void end_verify(CK_SESSION_HANDLE h)
{
    unsigned char buf[1] = { 0 };

    target->C_VerifyFinal(h, buf, sizeof(buf));
}

static void end_encrypt(CK_SESSION_HANDLE h)
{
    unsigned char buf[FM_SCRATCH];
    CK_ULONG len = sizeof(buf);

    target->C_EncryptFinal(h, buf, &len);
}

static void end_decrypt(CK_SESSION_HANDLE h)
{
    unsigned char buf[FM_SCRATCH];
    CK_ULONG len = sizeof(buf);

    target->C_DecryptFinal(h, buf, &len);
}

static void end_digest(CK_SESSION_HANDLE h)
{
    unsigned char buf[FM_SCRATCH];
    CK_ULONG len = sizeof(buf);

    target->C_DigestFinal(h, buf, &len);
}

/* A single-part call made into a scratch buffer ends its operation whatever it returns. */
typedef CK_RV single_part_fn(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);

static void end_single(single_part_fn *fn, CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen)
{
    unsigned char buf[FM_SCRATCH];
    CK_ULONG len = sizeof(buf);

    fn(h, in, inlen, buf, &len);
}

/* ---- general purpose, slots and tokens ---- */

static CK_RV fm_C_Initialize(CK_VOID_PTR args)
{
    FM_FORWARD(FM_C_Initialize, FM_BY_NONE, 0, target->C_Initialize(args));
}

static CK_RV fm_C_Finalize(CK_VOID_PTR reserved)
{
    FM_CALL c;
    CK_RV rv;

    if (fm_enter(&c, FM_C_Finalize, FM_BY_NONE, 0))
        return fm_leave(&c, c.rv);
    rv = target->C_Finalize(reserved);
    fm_stats_autowrite();
    return fm_leave(&c, rv);
}

static CK_RV fm_C_GetInfo(CK_INFO_PTR info)
{
    FM_FORWARD(FM_C_GetInfo, FM_BY_NONE, 0, target->C_GetInfo(info));
}

static CK_RV fm_C_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
    FM_FORWARD(FM_C_GetSlotList, FM_BY_NONE, 0, target->C_GetSlotList(present, list, count));
}

static CK_RV fm_C_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info)
{
    FM_FORWARD(FM_C_GetSlotInfo, FM_BY_SLOT, slot, target->C_GetSlotInfo(slot, info));
}

static CK_RV fm_C_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
    FM_FORWARD(FM_C_GetTokenInfo, FM_BY_SLOT, slot, target->C_GetTokenInfo(slot, info));
}

static CK_RV fm_C_GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count)
{
    FM_FORWARD(FM_C_GetMechanismList, FM_BY_SLOT, slot,
               target->C_GetMechanismList(slot, list, count));
}

static CK_RV fm_C_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info)
{
    FM_FORWARD(FM_C_GetMechanismInfo, FM_BY_SLOT, slot,
               target->C_GetMechanismInfo(slot, type, info));
}

static CK_RV fm_C_InitToken(CK_SLOT_ID slot, CK_UTF8CHAR_PTR pin, CK_ULONG len, CK_UTF8CHAR_PTR label)
{
    FM_FORWARD(FM_C_InitToken, FM_BY_SLOT, slot, target->C_InitToken(slot, pin, len, label));
}

static CK_RV fm_C_InitPIN(CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
    FM_FORWARD(FM_C_InitPIN, FM_BY_SESSION, h, target->C_InitPIN(h, pin, len));
}

static CK_RV fm_C_SetPIN(CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR old, CK_ULONG oldlen,
                         CK_UTF8CHAR_PTR new, CK_ULONG newlen)
{
    FM_FORWARD(FM_C_SetPIN, FM_BY_SESSION, h, target->C_SetPIN(h, old, oldlen, new, newlen));
}

static CK_RV fm_C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR slot, CK_VOID_PTR reserved)
{
    FM_FORWARD(FM_C_WaitForSlotEvent, FM_BY_NONE, 0,
               target->C_WaitForSlotEvent(flags, slot, reserved));
}

/* ---- sessions and login ---- */

static CK_RV fm_C_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
                              CK_SESSION_HANDLE_PTR h)
{
    FM_FORWARD(FM_C_OpenSession, FM_BY_SLOT, slot,
               target->C_OpenSession(slot, flags, app, notify, h));
}

static CK_RV fm_C_CloseSession(CK_SESSION_HANDLE h)
{
    FM_FORWARD(FM_C_CloseSession, FM_BY_SESSION, h, target->C_CloseSession(h));
}

static CK_RV fm_C_CloseAllSessions(CK_SLOT_ID slot)
{
    FM_FORWARD(FM_C_CloseAllSessions, FM_BY_SLOT, slot, target->C_CloseAllSessions(slot));
}

static CK_RV fm_C_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR info)
{
    FM_FORWARD(FM_C_GetSessionInfo, FM_BY_SESSION, h, target->C_GetSessionInfo(h, info));
}

static CK_RV fm_C_GetOperationState(CK_SESSION_HANDLE h, CK_BYTE_PTR state, CK_ULONG_PTR len)
{
    FM_FORWARD(FM_C_GetOperationState, FM_BY_SESSION, h,
               target->C_GetOperationState(h, state, len));
}

static CK_RV fm_C_SetOperationState(CK_SESSION_HANDLE h, CK_BYTE_PTR state, CK_ULONG len,
                                    CK_OBJECT_HANDLE enc, CK_OBJECT_HANDLE auth)
{
    FM_FORWARD(FM_C_SetOperationState, FM_BY_SESSION, h,
               target->C_SetOperationState(h, state, len, enc, auth));
}

static CK_RV fm_C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
    FM_FORWARD(FM_C_Login, FM_BY_SESSION, h, target->C_Login(h, user, pin, len));
}

static CK_RV fm_C_Logout(CK_SESSION_HANDLE h)
{
    FM_FORWARD(FM_C_Logout, FM_BY_SESSION, h, target->C_Logout(h));
}

/* ---- objects ---- */

static CK_RV fm_C_CreateObject(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                               CK_OBJECT_HANDLE_PTR o)
{
    FM_FORWARD(FM_C_CreateObject, FM_BY_SESSION, h, target->C_CreateObject(h, t, n, o));
}

static CK_RV fm_C_CopyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                             CK_OBJECT_HANDLE_PTR out)
{
    FM_FORWARD(FM_C_CopyObject, FM_BY_SESSION, h, target->C_CopyObject(h, o, t, n, out));
}

static CK_RV fm_C_DestroyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o)
{
    FM_FORWARD(FM_C_DestroyObject, FM_BY_SESSION, h, target->C_DestroyObject(h, o));
}

static CK_RV fm_C_GetObjectSize(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ULONG_PTR size)
{
    FM_FORWARD(FM_C_GetObjectSize, FM_BY_SESSION, h, target->C_GetObjectSize(h, o, size));
}

static CK_RV fm_C_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t,
                                    CK_ULONG n)
{
    FM_FORWARD(FM_C_GetAttributeValue, FM_BY_SESSION, h, target->C_GetAttributeValue(h, o, t, n));
}

static CK_RV fm_C_SetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t,
                                    CK_ULONG n)
{
    FM_FORWARD(FM_C_SetAttributeValue, FM_BY_SESSION, h, target->C_SetAttributeValue(h, o, t, n));
}

static CK_RV fm_C_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
    FM_FORWARD(FM_C_FindObjectsInit, FM_BY_SESSION, h, target->C_FindObjectsInit(h, t, n));
}

static CK_RV fm_C_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR o, CK_ULONG max,
                              CK_ULONG_PTR count)
{
    FM_FORWARD(FM_C_FindObjects, FM_BY_SESSION, h, target->C_FindObjects(h, o, max, count));
}

static CK_RV fm_C_FindObjectsFinal(CK_SESSION_HANDLE h)
{
    FM_FORWARD(FM_C_FindObjectsFinal, FM_BY_SESSION, h, target->C_FindObjectsFinal(h));
}

/* ---- encryption and decryption ---- */

static CK_RV fm_C_EncryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
    FM_FORWARD(FM_C_EncryptInit, FM_BY_SESSION, h, target->C_EncryptInit(h, m, k));
}

static CK_RV fm_C_Encrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen, CK_BYTE_PTR out,
                          CK_ULONG_PTR outlen)
{
    FM_FORWARD_ENDING(FM_C_Encrypt, h, target->C_Encrypt(h, in, inlen, out, outlen),
                      end_single(target->C_Encrypt, h, in, inlen));
}

static CK_RV fm_C_EncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen, CK_BYTE_PTR out,
                                CK_ULONG_PTR outlen)
{
    FM_FORWARD_ENDING(FM_C_EncryptUpdate, h, target->C_EncryptUpdate(h, in, inlen, out, outlen),
                      end_encrypt(h));
}

static CK_RV fm_C_EncryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
    FM_FORWARD_ENDING(FM_C_EncryptFinal, h, target->C_EncryptFinal(h, out, outlen), end_encrypt(h));
}

static CK_RV fm_C_DecryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
    FM_FORWARD(FM_C_DecryptInit, FM_BY_SESSION, h, target->C_DecryptInit(h, m, k));
}

static CK_RV fm_C_Decrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen, CK_BYTE_PTR out,
                          CK_ULONG_PTR outlen)
{
    FM_FORWARD_ENDING(FM_C_Decrypt, h, target->C_Decrypt(h, in, inlen, out, outlen),
                      end_single(target->C_Decrypt, h, in, inlen));
}

static CK_RV fm_C_DecryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen, CK_BYTE_PTR out,
                                CK_ULONG_PTR outlen)
{
    FM_FORWARD_ENDING(FM_C_DecryptUpdate, h, target->C_DecryptUpdate(h, in, inlen, out, outlen),
                      end_decrypt(h));
}

static CK_RV fm_C_DecryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
    FM_FORWARD_ENDING(FM_C_DecryptFinal, h, target->C_DecryptFinal(h, out, outlen), end_decrypt(h));
}

/* ---- digests ---- */

static CK_RV fm_C_DigestInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m)
{
    FM_FORWARD(FM_C_DigestInit, FM_BY_SESSION, h, target->C_DigestInit(h, m));
}

static CK_RV fm_C_Digest(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen, CK_BYTE_PTR out,
                         CK_ULONG_PTR outlen)
{
    FM_FORWARD_ENDING(FM_C_Digest, h, target->C_Digest(h, in, inlen, out, outlen),
                      end_single(target->C_Digest, h, in, inlen));
}

static CK_RV fm_C_DigestUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen)
{
    FM_FORWARD_ENDING(FM_C_DigestUpdate, h, target->C_DigestUpdate(h, in, inlen), end_digest(h));
}

static CK_RV fm_C_DigestKey(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE k)
{
    FM_FORWARD_ENDING(FM_C_DigestKey, h, target->C_DigestKey(h, k), end_digest(h));
}

static CK_RV fm_C_DigestFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
    FM_FORWARD_ENDING(FM_C_DigestFinal, h, target->C_DigestFinal(h, out, outlen), end_digest(h));
}

/* ---- signatures ---- */

static CK_RV fm_C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
    FM_FORWARD(FM_C_SignInit, FM_BY_SESSION, h, target->C_SignInit(h, m, k));
}

static CK_RV fm_C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen, CK_BYTE_PTR sig,
                       CK_ULONG_PTR siglen)
{
    FM_FORWARD_ENDING(FM_C_Sign, h, target->C_Sign(h, in, inlen, sig, siglen),
                      end_single(target->C_Sign, h, in, inlen));
}

static CK_RV fm_C_SignUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen)
{
    FM_FORWARD_ENDING(FM_C_SignUpdate, h, target->C_SignUpdate(h, in, inlen), end_sign(h));
}

static CK_RV fm_C_SignFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
    FM_FORWARD_ENDING(FM_C_SignFinal, h, target->C_SignFinal(h, sig, siglen), end_sign(h));
}

static CK_RV fm_C_SignRecoverInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
    FM_FORWARD(FM_C_SignRecoverInit, FM_BY_SESSION, h, target->C_SignRecoverInit(h, m, k));
}

static CK_RV fm_C_SignRecover(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen, CK_BYTE_PTR sig,
                              CK_ULONG_PTR siglen)
{
    FM_FORWARD_ENDING(FM_C_SignRecover, h, target->C_SignRecover(h, in, inlen, sig, siglen),
                      end_single(target->C_SignRecover, h, in, inlen));
}

static CK_RV fm_C_VerifyInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
    FM_FORWARD(FM_C_VerifyInit, FM_BY_SESSION, h, target->C_VerifyInit(h, m, k));
}

static CK_RV fm_C_Verify(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen, CK_BYTE_PTR sig,
                         CK_ULONG siglen)
{
    FM_FORWARD_ENDING(FM_C_Verify, h, target->C_Verify(h, in, inlen, sig, siglen),
                      target->C_Verify(h, in, inlen, sig, siglen));
}

static CK_RV fm_C_VerifyUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen)
{
    FM_FORWARD_ENDING(FM_C_VerifyUpdate, h, target->C_VerifyUpdate(h, in, inlen), end_verify(h));
}

static CK_RV fm_C_VerifyFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG siglen)
{
    FM_FORWARD_ENDING(FM_C_VerifyFinal, h, target->C_VerifyFinal(h, sig, siglen), end_verify(h));
}

static CK_RV fm_C_VerifyRecoverInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
    FM_FORWARD(FM_C_VerifyRecoverInit, FM_BY_SESSION, h, target->C_VerifyRecoverInit(h, m, k));
}

static CK_RV fm_C_VerifyRecover(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG siglen,
                                CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
    FM_FORWARD_ENDING(FM_C_VerifyRecover, h, target->C_VerifyRecover(h, sig, siglen, out, outlen),
                      end_single(target->C_VerifyRecover, h, sig, siglen));
}

/* ---- dual-function updates (not ended on an injected error) ---- */

static CK_RV fm_C_DigestEncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                                      CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
    FM_FORWARD(FM_C_DigestEncryptUpdate, FM_BY_SESSION, h,
               target->C_DigestEncryptUpdate(h, in, inlen, out, outlen));
}

static CK_RV fm_C_DecryptDigestUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                                      CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
    FM_FORWARD(FM_C_DecryptDigestUpdate, FM_BY_SESSION, h,
               target->C_DecryptDigestUpdate(h, in, inlen, out, outlen));
}

static CK_RV fm_C_SignEncryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                                    CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
    FM_FORWARD(FM_C_SignEncryptUpdate, FM_BY_SESSION, h,
               target->C_SignEncryptUpdate(h, in, inlen, out, outlen));
}

static CK_RV fm_C_DecryptVerifyUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inlen,
                                      CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
    FM_FORWARD(FM_C_DecryptVerifyUpdate, FM_BY_SESSION, h,
               target->C_DecryptVerifyUpdate(h, in, inlen, out, outlen));
}

/* ---- keys and random numbers ---- */

static CK_RV fm_C_GenerateKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR t,
                              CK_ULONG n, CK_OBJECT_HANDLE_PTR k)
{
    FM_FORWARD(FM_C_GenerateKey, FM_BY_SESSION, h, target->C_GenerateKey(h, m, t, n, k));
}

static CK_RV fm_C_GenerateKeyPair(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m,
                                  CK_ATTRIBUTE_PTR pubt, CK_ULONG npub,
                                  CK_ATTRIBUTE_PTR privt, CK_ULONG npriv,
                                  CK_OBJECT_HANDLE_PTR pub, CK_OBJECT_HANDLE_PTR priv)
{
    FM_FORWARD(FM_C_GenerateKeyPair, FM_BY_SESSION, h,
               target->C_GenerateKeyPair(h, m, pubt, npub, privt, npriv, pub, priv));
}

static CK_RV fm_C_WrapKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE wrapping,
                          CK_OBJECT_HANDLE k, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
    FM_FORWARD(FM_C_WrapKey, FM_BY_SESSION, h, target->C_WrapKey(h, m, wrapping, k, out, outlen));
}

static CK_RV fm_C_UnwrapKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE unwrapping,
                            CK_BYTE_PTR in, CK_ULONG inlen, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                            CK_OBJECT_HANDLE_PTR k)
{
    FM_FORWARD(FM_C_UnwrapKey, FM_BY_SESSION, h,
               target->C_UnwrapKey(h, m, unwrapping, in, inlen, t, n, k));
}

static CK_RV fm_C_DeriveKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE base,
                            CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR k)
{
    FM_FORWARD(FM_C_DeriveKey, FM_BY_SESSION, h, target->C_DeriveKey(h, m, base, t, n, k));
}

static CK_RV fm_C_SeedRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR seed, CK_ULONG len)
{
    FM_FORWARD(FM_C_SeedRandom, FM_BY_SESSION, h, target->C_SeedRandom(h, seed, len));
}

static CK_RV fm_C_GenerateRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG len)
{
    FM_FORWARD(FM_C_GenerateRandom, FM_BY_SESSION, h, target->C_GenerateRandom(h, out, len));
}

static CK_RV fm_C_GetFunctionStatus(CK_SESSION_HANDLE h)
{
    FM_FORWARD(FM_C_GetFunctionStatus, FM_BY_SESSION, h, target->C_GetFunctionStatus(h));
}

static CK_RV fm_C_CancelFunction(CK_SESSION_HANDLE h)
{
    FM_FORWARD(FM_C_CancelFunction, FM_BY_SESSION, h, target->C_CancelFunction(h));
}

/* ---- loading the real module, the entry points ---- */

static void load(void)
{
    const char *path = getenv("TK_FAULT_MODULE");
    CK_C_GetFunctionList get;
    void *dl;

    if (path == NULL || *path == '\0')
        path = getenv("TOKENKEY_TEST_MODULE");
    if (path == NULL || *path == '\0')
        path = "/usr/lib/softhsm/libsofthsm2.so";
    if (!fm_rules_ok()) {
        load_rv = CKR_ARGUMENTS_BAD;
        return;
    }
    /* Never dlclose'd: the real module lives as long as the process. */
    dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        fprintf(stderr, "tk-faultmod: cannot load %s: %s\n", path, dlerror());
        return;
    }
    *(void **)&get = dlsym(dl, "C_GetFunctionList");
    if (get == NULL || get(&target) != CKR_OK || target == NULL) {
        fprintf(stderr, "tk-faultmod: %s has no usable C_GetFunctionList\n", path);
        target = NULL;
        return;
    }
    fault_list = (CK_FUNCTION_LIST){
        .version = target->version,
        .C_Initialize = fm_C_Initialize,
        .C_Finalize = fm_C_Finalize,
        .C_GetInfo = fm_C_GetInfo,
        .C_GetFunctionList = C_GetFunctionList,
        .C_GetSlotList = fm_C_GetSlotList,
        .C_GetSlotInfo = fm_C_GetSlotInfo,
        .C_GetTokenInfo = fm_C_GetTokenInfo,
        .C_GetMechanismList = fm_C_GetMechanismList,
        .C_GetMechanismInfo = fm_C_GetMechanismInfo,
        .C_InitToken = fm_C_InitToken,
        .C_InitPIN = fm_C_InitPIN,
        .C_SetPIN = fm_C_SetPIN,
        .C_OpenSession = fm_C_OpenSession,
        .C_CloseSession = fm_C_CloseSession,
        .C_CloseAllSessions = fm_C_CloseAllSessions,
        .C_GetSessionInfo = fm_C_GetSessionInfo,
        .C_GetOperationState = fm_C_GetOperationState,
        .C_SetOperationState = fm_C_SetOperationState,
        .C_Login = fm_C_Login,
        .C_Logout = fm_C_Logout,
        .C_CreateObject = fm_C_CreateObject,
        .C_CopyObject = fm_C_CopyObject,
        .C_DestroyObject = fm_C_DestroyObject,
        .C_GetObjectSize = fm_C_GetObjectSize,
        .C_GetAttributeValue = fm_C_GetAttributeValue,
        .C_SetAttributeValue = fm_C_SetAttributeValue,
        .C_FindObjectsInit = fm_C_FindObjectsInit,
        .C_FindObjects = fm_C_FindObjects,
        .C_FindObjectsFinal = fm_C_FindObjectsFinal,
        .C_EncryptInit = fm_C_EncryptInit,
        .C_Encrypt = fm_C_Encrypt,
        .C_EncryptUpdate = fm_C_EncryptUpdate,
        .C_EncryptFinal = fm_C_EncryptFinal,
        .C_DecryptInit = fm_C_DecryptInit,
        .C_Decrypt = fm_C_Decrypt,
        .C_DecryptUpdate = fm_C_DecryptUpdate,
        .C_DecryptFinal = fm_C_DecryptFinal,
        .C_DigestInit = fm_C_DigestInit,
        .C_Digest = fm_C_Digest,
        .C_DigestUpdate = fm_C_DigestUpdate,
        .C_DigestKey = fm_C_DigestKey,
        .C_DigestFinal = fm_C_DigestFinal,
        .C_SignInit = fm_C_SignInit,
        .C_Sign = fm_C_Sign,
        .C_SignUpdate = fm_C_SignUpdate,
        .C_SignFinal = fm_C_SignFinal,
        .C_SignRecoverInit = fm_C_SignRecoverInit,
        .C_SignRecover = fm_C_SignRecover,
        .C_VerifyInit = fm_C_VerifyInit,
        .C_Verify = fm_C_Verify,
        .C_VerifyUpdate = fm_C_VerifyUpdate,
        .C_VerifyFinal = fm_C_VerifyFinal,
        .C_VerifyRecoverInit = fm_C_VerifyRecoverInit,
        .C_VerifyRecover = fm_C_VerifyRecover,
        .C_DigestEncryptUpdate = fm_C_DigestEncryptUpdate,
        .C_DecryptDigestUpdate = fm_C_DecryptDigestUpdate,
        .C_SignEncryptUpdate = fm_C_SignEncryptUpdate,
        .C_DecryptVerifyUpdate = fm_C_DecryptVerifyUpdate,
        .C_GenerateKey = fm_C_GenerateKey,
        .C_GenerateKeyPair = fm_C_GenerateKeyPair,
        .C_WrapKey = fm_C_WrapKey,
        .C_UnwrapKey = fm_C_UnwrapKey,
        .C_DeriveKey = fm_C_DeriveKey,
        .C_SeedRandom = fm_C_SeedRandom,
        .C_GenerateRandom = fm_C_GenerateRandom,
        .C_GetFunctionStatus = fm_C_GetFunctionStatus,
        .C_CancelFunction = fm_C_CancelFunction,
        .C_WaitForSlotEvent = fm_C_WaitForSlotEvent,
    };
    load_rv = CKR_OK;
}

FM_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
    FM_CALL c;

    pthread_once(&load_once, load);
    if (load_rv != CKR_OK)
        return load_rv;
    if (fm_enter(&c, FM_C_GetFunctionList, FM_BY_NONE, 0))
        return fm_leave(&c, c.rv);
    if (list == NULL)
        return fm_leave(&c, CKR_ARGUMENTS_BAD);
    *list = &fault_list;
    return fm_leave(&c, CKR_OK);
}

static int interface_refused(void)
{
    const char *s = getenv("TK_FAULT_NO_INTERFACE");

    return s != NULL && strcmp(s, "1") == 0;
}

/* PKCS#11 3.0 section 5.2.1: one interface, "PKCS 11", whose list is the 2.40 one above. */
FM_EXPORT CK_RV C_GetInterfaceList(FM_CK_INTERFACE *list, CK_ULONG *count)
{
    pthread_once(&load_once, load);
    if (load_rv != CKR_OK)
        return load_rv;
    if (interface_refused())
        return CKR_FUNCTION_NOT_SUPPORTED;
    if (count == NULL)
        return CKR_ARGUMENTS_BAD;
    if (list != NULL) {
        if (*count < 1) {
            *count = 1;
            return CKR_BUFFER_TOO_SMALL;
        }
        list[0] = fault_interface;
    }
    *count = 1;
    return CKR_OK;
}

FM_EXPORT CK_RV C_GetInterface(CK_UTF8CHAR *name, CK_VERSION *version,
                               FM_CK_INTERFACE **iface, CK_FLAGS flags)
{
    pthread_once(&load_once, load);
    if (load_rv != CKR_OK)
        return load_rv;
    if (interface_refused())
        return CKR_FUNCTION_NOT_SUPPORTED;
    if (iface == NULL)
        return CKR_ARGUMENTS_BAD;
    /* Section 5.2.2: no interface matches name, version and flags -> CKR_ARGUMENTS_BAD. */
    if ((name != NULL && strcmp((const char *)name, "PKCS 11") != 0)
        || (version != NULL && (version->major != fault_list.version.major
                                || version->minor != fault_list.version.minor))
        || flags != 0)
        return CKR_ARGUMENTS_BAD;
    *iface = &fault_interface;
    return CKR_OK;
}

/* At process exit (or when the last dlclose unloads us): the stats file, if asked for. */
__attribute__((destructor)) static void at_unload(void)
{
    if (load_rv == CKR_OK)
        fm_stats_autowrite();
}
