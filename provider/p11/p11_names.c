/*
 * Names of PKCS#11 return values, functions and the mechanisms we use, for
 * error messages and the debug log. The CKR_ table follows p11-kit's
 * pkcs11.h (PKCS#11 v2.40 plus the 3.0 codes it carries).
 */
#include <stdio.h>

#include "p11.h"
#include "p11_internal.h"

/* PKCS#11 3.0 values the 2.40 header from p11-kit lacks. */
#ifndef CKM_EC_EDWARDS_KEY_PAIR_GEN
#define CKM_EC_EDWARDS_KEY_PAIR_GEN 0x1055UL
#endif
#ifndef CKM_EDDSA
#define CKM_EDDSA 0x1057UL
#endif

const char *tk_p11_rv_name(CK_RV rv)
{
    static __thread char unknown[32];

    switch (rv) {
    case CKR_ACTION_PROHIBITED: return "CKR_ACTION_PROHIBITED";
    case CKR_ARGUMENTS_BAD: return "CKR_ARGUMENTS_BAD";
    case CKR_ATTRIBUTE_READ_ONLY: return "CKR_ATTRIBUTE_READ_ONLY";
    case CKR_ATTRIBUTE_SENSITIVE: return "CKR_ATTRIBUTE_SENSITIVE";
    case CKR_ATTRIBUTE_TYPE_INVALID: return "CKR_ATTRIBUTE_TYPE_INVALID";
    case CKR_ATTRIBUTE_VALUE_INVALID: return "CKR_ATTRIBUTE_VALUE_INVALID";
    case CKR_BUFFER_TOO_SMALL: return "CKR_BUFFER_TOO_SMALL";
    case CKR_CANCEL: return "CKR_CANCEL";
    case CKR_CANT_LOCK: return "CKR_CANT_LOCK";
    case CKR_CRYPTOKI_ALREADY_INITIALIZED: return "CKR_CRYPTOKI_ALREADY_INITIALIZED";
    case CKR_CRYPTOKI_NOT_INITIALIZED: return "CKR_CRYPTOKI_NOT_INITIALIZED";
    case CKR_CURVE_NOT_SUPPORTED: return "CKR_CURVE_NOT_SUPPORTED";
    case CKR_DATA_INVALID: return "CKR_DATA_INVALID";
    case CKR_DATA_LEN_RANGE: return "CKR_DATA_LEN_RANGE";
    case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
    case CKR_DEVICE_MEMORY: return "CKR_DEVICE_MEMORY";
    case CKR_DEVICE_REMOVED: return "CKR_DEVICE_REMOVED";
    case CKR_DOMAIN_PARAMS_INVALID: return "CKR_DOMAIN_PARAMS_INVALID";
    case CKR_ENCRYPTED_DATA_INVALID: return "CKR_ENCRYPTED_DATA_INVALID";
    case CKR_ENCRYPTED_DATA_LEN_RANGE: return "CKR_ENCRYPTED_DATA_LEN_RANGE";
    case CKR_EXCEEDED_MAX_ITERATIONS: return "CKR_EXCEEDED_MAX_ITERATIONS";
    case CKR_FIPS_SELF_TEST_FAILED: return "CKR_FIPS_SELF_TEST_FAILED";
    case CKR_FUNCTION_CANCELED: return "CKR_FUNCTION_CANCELED";
    case CKR_FUNCTION_FAILED: return "CKR_FUNCTION_FAILED";
    case CKR_FUNCTION_NOT_PARALLEL: return "CKR_FUNCTION_NOT_PARALLEL";
    case CKR_FUNCTION_NOT_SUPPORTED: return "CKR_FUNCTION_NOT_SUPPORTED";
    case CKR_FUNCTION_REJECTED: return "CKR_FUNCTION_REJECTED";
    case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
    case CKR_HOST_MEMORY: return "CKR_HOST_MEMORY";
    case CKR_INFORMATION_SENSITIVE: return "CKR_INFORMATION_SENSITIVE";
    case CKR_KEY_CHANGED: return "CKR_KEY_CHANGED";
    case CKR_KEY_FUNCTION_NOT_PERMITTED: return "CKR_KEY_FUNCTION_NOT_PERMITTED";
    case CKR_KEY_HANDLE_INVALID: return "CKR_KEY_HANDLE_INVALID";
    case CKR_KEY_INDIGESTIBLE: return "CKR_KEY_INDIGESTIBLE";
    case CKR_KEY_NEEDED: return "CKR_KEY_NEEDED";
    case CKR_KEY_NOT_NEEDED: return "CKR_KEY_NOT_NEEDED";
    case CKR_KEY_NOT_WRAPPABLE: return "CKR_KEY_NOT_WRAPPABLE";
    case CKR_KEY_SIZE_RANGE: return "CKR_KEY_SIZE_RANGE";
    case CKR_KEY_TYPE_INCONSISTENT: return "CKR_KEY_TYPE_INCONSISTENT";
    case CKR_KEY_UNEXTRACTABLE: return "CKR_KEY_UNEXTRACTABLE";
    case CKR_LIBRARY_LOAD_FAILED: return "CKR_LIBRARY_LOAD_FAILED";
    case CKR_MECHANISM_INVALID: return "CKR_MECHANISM_INVALID";
    case CKR_MECHANISM_PARAM_INVALID: return "CKR_MECHANISM_PARAM_INVALID";
    case CKR_MUTEX_BAD: return "CKR_MUTEX_BAD";
    case CKR_MUTEX_NOT_LOCKED: return "CKR_MUTEX_NOT_LOCKED";
    case CKR_NEED_TO_CREATE_THREADS: return "CKR_NEED_TO_CREATE_THREADS";
    case CKR_NEW_PIN_MODE: return "CKR_NEW_PIN_MODE";
    case CKR_NEXT_OTP: return "CKR_NEXT_OTP";
    case CKR_NO_EVENT: return "CKR_NO_EVENT";
    case CKR_OBJECT_HANDLE_INVALID: return "CKR_OBJECT_HANDLE_INVALID";
    case CKR_OK: return "CKR_OK";
    case CKR_OPERATION_ACTIVE: return "CKR_OPERATION_ACTIVE";
    case CKR_OPERATION_NOT_INITIALIZED: return "CKR_OPERATION_NOT_INITIALIZED";
    case CKR_PIN_EXPIRED: return "CKR_PIN_EXPIRED";
    case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT";
    case CKR_PIN_INVALID: return "CKR_PIN_INVALID";
    case CKR_PIN_LEN_RANGE: return "CKR_PIN_LEN_RANGE";
    case CKR_PIN_LOCKED: return "CKR_PIN_LOCKED";
    case CKR_PIN_TOO_WEAK: return "CKR_PIN_TOO_WEAK";
    case CKR_PUBLIC_KEY_INVALID: return "CKR_PUBLIC_KEY_INVALID";
    case CKR_RANDOM_NO_RNG: return "CKR_RANDOM_NO_RNG";
    case CKR_RANDOM_SEED_NOT_SUPPORTED: return "CKR_RANDOM_SEED_NOT_SUPPORTED";
    case CKR_SAVED_STATE_INVALID: return "CKR_SAVED_STATE_INVALID";
    case CKR_SESSION_CLOSED: return "CKR_SESSION_CLOSED";
    case CKR_SESSION_COUNT: return "CKR_SESSION_COUNT";
    case CKR_SESSION_EXISTS: return "CKR_SESSION_EXISTS";
    case CKR_SESSION_HANDLE_INVALID: return "CKR_SESSION_HANDLE_INVALID";
    case CKR_SESSION_PARALLEL_NOT_SUPPORTED: return "CKR_SESSION_PARALLEL_NOT_SUPPORTED";
    case CKR_SESSION_READ_ONLY: return "CKR_SESSION_READ_ONLY";
    case CKR_SESSION_READ_ONLY_EXISTS: return "CKR_SESSION_READ_ONLY_EXISTS";
    case CKR_SESSION_READ_WRITE_SO_EXISTS: return "CKR_SESSION_READ_WRITE_SO_EXISTS";
    case CKR_SIGNATURE_INVALID: return "CKR_SIGNATURE_INVALID";
    case CKR_SIGNATURE_LEN_RANGE: return "CKR_SIGNATURE_LEN_RANGE";
    case CKR_SLOT_ID_INVALID: return "CKR_SLOT_ID_INVALID";
    case CKR_STATE_UNSAVEABLE: return "CKR_STATE_UNSAVEABLE";
    case CKR_TEMPLATE_INCOMPLETE: return "CKR_TEMPLATE_INCOMPLETE";
    case CKR_TEMPLATE_INCONSISTENT: return "CKR_TEMPLATE_INCONSISTENT";
    case CKR_TOKEN_NOT_PRESENT: return "CKR_TOKEN_NOT_PRESENT";
    case CKR_TOKEN_NOT_RECOGNIZED: return "CKR_TOKEN_NOT_RECOGNIZED";
    case CKR_TOKEN_WRITE_PROTECTED: return "CKR_TOKEN_WRITE_PROTECTED";
    case CKR_UNWRAPPING_KEY_SIZE_RANGE: return "CKR_UNWRAPPING_KEY_SIZE_RANGE";
    case CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT: return "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT";
    case CKR_USER_ALREADY_LOGGED_IN: return "CKR_USER_ALREADY_LOGGED_IN";
    case CKR_USER_ANOTHER_ALREADY_LOGGED_IN: return "CKR_USER_ANOTHER_ALREADY_LOGGED_IN";
    case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
    case CKR_USER_PIN_NOT_INITIALIZED: return "CKR_USER_PIN_NOT_INITIALIZED";
    case CKR_USER_TOO_MANY_TYPES: return "CKR_USER_TOO_MANY_TYPES";
    case CKR_USER_TYPE_INVALID: return "CKR_USER_TYPE_INVALID";
    case CKR_WRAPPED_KEY_INVALID: return "CKR_WRAPPED_KEY_INVALID";
    case CKR_WRAPPED_KEY_LEN_RANGE: return "CKR_WRAPPED_KEY_LEN_RANGE";
    case CKR_WRAPPING_KEY_HANDLE_INVALID: return "CKR_WRAPPING_KEY_HANDLE_INVALID";
    case CKR_WRAPPING_KEY_SIZE_RANGE: return "CKR_WRAPPING_KEY_SIZE_RANGE";
    case CKR_WRAPPING_KEY_TYPE_INCONSISTENT: return "CKR_WRAPPING_KEY_TYPE_INCONSISTENT";
    case TK_CKR_MODULE_LOAD: return "TK_CKR_MODULE_LOAD";
    case TK_CKR_MODULE_SYMBOL: return "TK_CKR_MODULE_SYMBOL";
    case TK_CKR_NO_TOKEN: return "TK_CKR_NO_TOKEN";
    case TK_CKR_PIN_UNAVAILABLE: return "TK_CKR_PIN_UNAVAILABLE";
    case TK_CKR_PIN_FINAL_TRY: return "TK_CKR_PIN_FINAL_TRY";
    case TK_CKR_PIN_NOT_RETRIED: return "TK_CKR_PIN_NOT_RETRIED";
    case TK_CKR_SECRET_ATTRIBUTE: return "TK_CKR_SECRET_ATTRIBUTE";
    case TK_CKR_NO_PUBLIC_HALF: return "TK_CKR_NO_PUBLIC_HALF";
    case TK_CKR_PIN_SOURCE_FAILED: return "TK_CKR_PIN_SOURCE_FAILED";
    case TK_CKR_NO_RANDOM: return "TK_CKR_NO_RANDOM";
    case TK_CKR_TOKEN_CHANGED: return "TK_CKR_TOKEN_CHANGED";
    case TK_CKR_KEY_GONE: return "TK_CKR_KEY_GONE";
    case TK_CKR_KEY_TWICE: return "TK_CKR_KEY_TWICE";
    case TK_CKR_KEY_REPLACED: return "TK_CKR_KEY_REPLACED";
    case TK_CKR_PUBLIC_AMBIGUOUS: return "TK_CKR_PUBLIC_AMBIGUOUS";
    case TK_CKR_ID_SHARED: return "TK_CKR_ID_SHARED";
    case TK_CKR_KEY_UNNAMED: return "TK_CKR_KEY_UNNAMED";
    case TK_CKR_ATTRIBUTE_LENGTH: return "TK_CKR_ATTRIBUTE_LENGTH";
    case TK_CKR_OUTPUT_LENGTH: return "TK_CKR_OUTPUT_LENGTH";
    case TK_CKR_PROCESS_EXITING: return "TK_CKR_PROCESS_EXITING";
    case TK_CKR_FOUND_STALE: return "TK_CKR_FOUND_STALE";
    default:
        snprintf(unknown, sizeof(unknown), "CKR_0x%08lx", (unsigned long)rv);
        return unknown;
    }
}

const char *tk_p11_fn_name(TK_P11_FN fn)
{
    static const char *const names[TK_FN_COUNT] = {
        [TK_FN_C_Initialize] = "C_Initialize",
        [TK_FN_C_Finalize] = "C_Finalize",
        [TK_FN_C_GetInfo] = "C_GetInfo",
        [TK_FN_C_GetSlotList] = "C_GetSlotList",
        [TK_FN_C_GetSlotInfo] = "C_GetSlotInfo",
        [TK_FN_C_GetTokenInfo] = "C_GetTokenInfo",
        [TK_FN_C_GetMechanismList] = "C_GetMechanismList",
        [TK_FN_C_GetMechanismInfo] = "C_GetMechanismInfo",
        [TK_FN_C_OpenSession] = "C_OpenSession",
        [TK_FN_C_CloseSession] = "C_CloseSession",
        [TK_FN_C_GetSessionInfo] = "C_GetSessionInfo",
        [TK_FN_C_Login] = "C_Login",
        [TK_FN_C_Logout] = "C_Logout",
        [TK_FN_C_CreateObject] = "C_CreateObject",
        [TK_FN_C_CopyObject] = "C_CopyObject",
        [TK_FN_C_DestroyObject] = "C_DestroyObject",
        [TK_FN_C_GetAttributeValue] = "C_GetAttributeValue",
        [TK_FN_C_SetAttributeValue] = "C_SetAttributeValue",
        [TK_FN_C_FindObjectsInit] = "C_FindObjectsInit",
        [TK_FN_C_FindObjects] = "C_FindObjects",
        [TK_FN_C_FindObjectsFinal] = "C_FindObjectsFinal",
        [TK_FN_C_SignInit] = "C_SignInit",
        [TK_FN_C_Sign] = "C_Sign",
        [TK_FN_C_SignUpdate] = "C_SignUpdate",
        [TK_FN_C_SignFinal] = "C_SignFinal",
        [TK_FN_C_DecryptInit] = "C_DecryptInit",
        [TK_FN_C_Decrypt] = "C_Decrypt",
        [TK_FN_C_GenerateKeyPair] = "C_GenerateKeyPair",
        [TK_FN_C_GenerateRandom] = "C_GenerateRandom",
        [TK_FN_C_InitToken] = "C_InitToken",
        [TK_FN_C_InitPIN] = "C_InitPIN",
    };

    return fn < TK_FN_COUNT && names[fn] != NULL ? names[fn] : "C_?";
}

const char *tk_p11_mech_name(CK_MECHANISM_TYPE mech)
{
    static __thread char unknown[32];

    switch (mech) {
    case CKM_RSA_PKCS_KEY_PAIR_GEN: return "CKM_RSA_PKCS_KEY_PAIR_GEN";
    case CKM_RSA_PKCS: return "CKM_RSA_PKCS";
    case CKM_RSA_X_509: return "CKM_RSA_X_509";
    case CKM_RSA_PKCS_OAEP: return "CKM_RSA_PKCS_OAEP";
    case CKM_RSA_PKCS_PSS: return "CKM_RSA_PKCS_PSS";
    case CKM_SHA1_RSA_PKCS: return "CKM_SHA1_RSA_PKCS";
    case CKM_SHA224_RSA_PKCS: return "CKM_SHA224_RSA_PKCS";
    case CKM_SHA256_RSA_PKCS: return "CKM_SHA256_RSA_PKCS";
    case CKM_SHA384_RSA_PKCS: return "CKM_SHA384_RSA_PKCS";
    case CKM_SHA512_RSA_PKCS: return "CKM_SHA512_RSA_PKCS";
    case CKM_SHA1_RSA_PKCS_PSS: return "CKM_SHA1_RSA_PKCS_PSS";
    case CKM_SHA224_RSA_PKCS_PSS: return "CKM_SHA224_RSA_PKCS_PSS";
    case CKM_SHA256_RSA_PKCS_PSS: return "CKM_SHA256_RSA_PKCS_PSS";
    case CKM_SHA384_RSA_PKCS_PSS: return "CKM_SHA384_RSA_PKCS_PSS";
    case CKM_SHA512_RSA_PKCS_PSS: return "CKM_SHA512_RSA_PKCS_PSS";
    case CKM_EC_KEY_PAIR_GEN: return "CKM_EC_KEY_PAIR_GEN";
    case CKM_ECDSA: return "CKM_ECDSA";
    case CKM_ECDSA_SHA1: return "CKM_ECDSA_SHA1";
    case CKM_ECDSA_SHA224: return "CKM_ECDSA_SHA224";
    case CKM_ECDSA_SHA256: return "CKM_ECDSA_SHA256";
    case CKM_ECDSA_SHA384: return "CKM_ECDSA_SHA384";
    case CKM_ECDSA_SHA512: return "CKM_ECDSA_SHA512";
    case CKM_EC_EDWARDS_KEY_PAIR_GEN: return "CKM_EC_EDWARDS_KEY_PAIR_GEN";
    case CKM_EDDSA: return "CKM_EDDSA";
    case CKM_SHA_1: return "CKM_SHA_1";
    case CKM_SHA224: return "CKM_SHA224";
    case CKM_SHA256: return "CKM_SHA256";
    case CKM_SHA384: return "CKM_SHA384";
    case CKM_SHA512: return "CKM_SHA512";
    default:
        snprintf(unknown, sizeof(unknown), "CKM_0x%08lx", (unsigned long)mech);
        return unknown;
    }
}
