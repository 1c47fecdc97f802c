/* tk-flagshim: see flagshim.h. Test code only; never installed. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "flagshim.h"

/* The entry point a PKCS#11 module exports (PKCS#11 v2.40 section 5.2). */
CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list);

static CK_FUNCTION_LIST shim;
static CK_FUNCTION_LIST *target;
static CK_RV load_rv = CKR_GENERAL_ERROR;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static CK_FLAGS added_flags;
static unsigned long logins;

void tk_flagshim_set_token_flags(CK_FLAGS flags)
{
    __atomic_store_n(&added_flags, flags, __ATOMIC_SEQ_CST);
}

unsigned long tk_flagshim_logins(void)
{
    return __atomic_load_n(&logins, __ATOMIC_SEQ_CST);
}

static CK_RV shim_get_token_info(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
    CK_RV rv = target->C_GetTokenInfo(slot, info);

    if (rv == CKR_OK)
        info->flags |= __atomic_load_n(&added_flags, __ATOMIC_SEQ_CST);
    return rv;
}

static CK_RV shim_login(CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
    __atomic_fetch_add(&logins, 1, __ATOMIC_SEQ_CST);
    return target->C_Login(h, user, pin, len);
}

static int stop_early;

void tk_flagshim_set_attrs_stop_early(int on)
{
    __atomic_store_n(&stop_early, on, __ATOMIC_SEQ_CST);
}

static CK_RV shim_get_attribute_value(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o,
                                      CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
    if (!__atomic_load_n(&stop_early, __ATOMIC_SEQ_CST))
        return target->C_GetAttributeValue(h, o, tmpl, n);
    for (CK_ULONG i = 0; i < n; i++) {
        CK_RV rv = target->C_GetAttributeValue(h, o, &tmpl[i], 1);

        if (rv != CKR_OK)
            return rv;
    }
    return CKR_OK;
}

static void load(void)
{
    const char *path = getenv("TK_FLAGSHIM_TARGET");
    CK_C_GetFunctionList get;
    void *dl;

    if (path == NULL)
        path = getenv("TOKENKEY_TEST_MODULE");
    if (path == NULL || (dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
        fprintf(stderr, "tk-flagshim: cannot load %s: %s\n", path != NULL ? path : "(unset)",
                path != NULL ? dlerror() : "set TK_FLAGSHIM_TARGET");
        return;
    }
    *(void **)&get = dlsym(dl, "C_GetFunctionList");
    if (get == NULL || (load_rv = get(&target)) != CKR_OK) {
        load_rv = CKR_GENERAL_ERROR;
        return;
    }
    shim = *target;
    shim.C_GetFunctionList = C_GetFunctionList;
    shim.C_GetTokenInfo = shim_get_token_info;
    shim.C_Login = shim_login;
    shim.C_GetAttributeValue = shim_get_attribute_value;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
    pthread_once(&load_once, load);
    if (load_rv != CKR_OK)
        return load_rv;
    *list = &shim;
    return CKR_OK;
}
