/*
 * tk-asan-nodelete.so, preloaded (LD_PRELOAD) by the 'asan' test setup
 * only: the PKCS#11 modules tests/lsan.supp names (SoftHSM2, OpenSC's
 * pkcs11-spy) are dlopen'd with RTLD_NODELETE added, so that they stay
 * mapped after tokenkey's dlclose.
 *
 * Why: LeakSanitizer reports at exit and names each frame's module from
 * what is mapped then. tokenkey dlcloses a PKCS#11 module when its last
 * user goes (tests do that in their teardown), after which a leak inside
 * the module shows as "<unknown module>" frames that no suppression can
 * name, and tests/lsan.supp could not tell the module's known leaks from
 * ours.
 * Nothing else changes: tokenkey still calls C_Finalize and dlclose; a
 * module that was never loaded is still not mapped.
 */
#include <dlfcn.h>
#include <string.h>

void *dlopen(const char *file, int mode);

void *dlopen(const char *file, int mode)
{
    static void *(*real_dlopen)(const char *, int);

    if (real_dlopen == NULL)
        *(void **)&real_dlopen = dlsym(RTLD_NEXT, "dlopen");
    if (file != NULL && (strstr(file, "libsofthsm2") != NULL || strstr(file, "pkcs11-spy") != NULL))
        mode |= RTLD_NODELETE;
    return real_dlopen(file, mode);
}
