/* Internal to tk-faultmod: the rules engine (faultmod_rules.c) and the wrappers (faultmod.c). */
#ifndef TK_FAULTMOD_RULES_H
#define TK_FAULTMOD_RULES_H

#include <p11-kit/pkcs11.h>

/* The PKCS#11 v2.40 functions, in CK_FUNCTION_LIST order. */
typedef enum {
    FM_C_Initialize, FM_C_Finalize, FM_C_GetInfo, FM_C_GetFunctionList,
    FM_C_GetSlotList, FM_C_GetSlotInfo, FM_C_GetTokenInfo, FM_C_GetMechanismList,
    FM_C_GetMechanismInfo, FM_C_InitToken, FM_C_InitPIN, FM_C_SetPIN,
    FM_C_OpenSession, FM_C_CloseSession, FM_C_CloseAllSessions, FM_C_GetSessionInfo,
    FM_C_GetOperationState, FM_C_SetOperationState, FM_C_Login, FM_C_Logout,
    FM_C_CreateObject, FM_C_CopyObject, FM_C_DestroyObject, FM_C_GetObjectSize,
    FM_C_GetAttributeValue, FM_C_SetAttributeValue, FM_C_FindObjectsInit, FM_C_FindObjects,
    FM_C_FindObjectsFinal, FM_C_EncryptInit, FM_C_Encrypt, FM_C_EncryptUpdate,
    FM_C_EncryptFinal, FM_C_DecryptInit, FM_C_Decrypt, FM_C_DecryptUpdate,
    FM_C_DecryptFinal, FM_C_DigestInit, FM_C_Digest, FM_C_DigestUpdate,
    FM_C_DigestKey, FM_C_DigestFinal, FM_C_SignInit, FM_C_Sign,
    FM_C_SignUpdate, FM_C_SignFinal, FM_C_SignRecoverInit, FM_C_SignRecover,
    FM_C_VerifyInit, FM_C_Verify, FM_C_VerifyUpdate, FM_C_VerifyFinal,
    FM_C_VerifyRecoverInit, FM_C_VerifyRecover, FM_C_DigestEncryptUpdate,
    FM_C_DecryptDigestUpdate, FM_C_SignEncryptUpdate, FM_C_DecryptVerifyUpdate,
    FM_C_GenerateKey, FM_C_GenerateKeyPair, FM_C_WrapKey, FM_C_UnwrapKey,
    FM_C_DeriveKey, FM_C_SeedRandom, FM_C_GenerateRandom, FM_C_GetFunctionStatus,
    FM_C_CancelFunction, FM_C_WaitForSlotEvent,
    FM_COUNT
} FM_FN;

/* What a call names, so a "reset" rule knows which slot to reset. */
typedef enum { FM_BY_NONE, FM_BY_SLOT, FM_BY_SESSION } FM_BY;

typedef struct {
    FM_FN fn;
    CK_RV rv;       /* the injected error, when fm_enter returned 1 or after is set */
    int after;      /* the call runs, and fm_leave answers rv instead (an after: rule) */
} FM_CALL;

/* The real module's function list (NULL until C_GetFunctionList loaded it). */
CK_FUNCTION_LIST *fm_target(void);

/*
 * Start a call: count it, apply the rules that fire (delay, reset) and
 * return 1 when an error rule fired: the wrapper then returns c->rv
 * through fm_leave without calling the real function. id is the slot or
 * session the call names (by says which).
 */
int fm_enter(FM_CALL *c, FM_FN fn, FM_BY by, CK_ULONG id);
/* End a call (it is no longer in flight); returns rv. */
CK_RV fm_leave(FM_CALL *c, CK_RV rv);

/* Read TK_FAULT and TK_FAULT_CONTROL (once; later calls do nothing). */
void fm_rules_init(void);
/* 0 when TK_FAULT did not parse (the module then refuses to load). */
int fm_rules_ok(void);
/* "C_Sign" */
const char *fm_fn_name(FM_FN fn);
/* Write TK_FAULT_STATS now (C_Finalize and process exit). */
void fm_stats_autowrite(void);

#endif
