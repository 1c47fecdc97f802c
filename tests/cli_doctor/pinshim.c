/*
 * tk-doctor-pinshim: a PKCS#11 module for `tokenkey doctor` tests that
 * forwards everything to TOKENKEY_TEST_MODULE (the fixture's SoftHSM2) but
 * ORs the flags in TK_PINSHIM_FLAGS (a number, e.g. 0x40000 for
 * CKF_USER_PIN_LOCKED) into every CK_TOKEN_INFO. SoftHSM2 2.6.1 never sets
 * CKF_USER_PIN_FINAL_TRY or CKF_USER_PIN_LOCKED, and tests/p11's flagshim
 * is driven from inside the test process, which a CLI test cannot do.
 */
#include <dlfcn.h>
#include <stdlib.h>

#include <p11-kit/pkcs11.h>

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out);

static CK_FUNCTION_LIST shim;
static CK_C_GetTokenInfo real_get_token_info;

static CK_RV shim_get_token_info(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
    const char *flags = getenv("TK_PINSHIM_FLAGS");
    CK_RV rv = real_get_token_info(slot, info);

    if (rv == CKR_OK && flags != NULL)
        info->flags |= (CK_FLAGS)strtoul(flags, NULL, 0);
    return rv;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
    const char *target = getenv("TOKENKEY_TEST_MODULE");
    void *lib = target != NULL ? dlopen(target, RTLD_NOW | RTLD_LOCAL) : NULL;
    CK_C_GetFunctionList get = lib != NULL ? (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList") : NULL;
    CK_FUNCTION_LIST_PTR real = NULL;
    CK_RV rv;

    if (out == NULL)
        return CKR_ARGUMENTS_BAD;
    if (get == NULL)
        return CKR_GENERAL_ERROR;
    if ((rv = get(&real)) != CKR_OK)
        return rv;
    shim = *real;
    real_get_token_info = real->C_GetTokenInfo;
    shim.C_GetTokenInfo = shim_get_token_info;
    *out = &shim;
    return CKR_OK;
}
