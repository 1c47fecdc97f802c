/*
 * The tokenkey.so a Kafka client will load, found as OpenSSL 3.0 finds it
 * (crypto/provider_core.c, provider_init): the 'module' of its openssl.cnf
 * section, a relative one under the modules directory; without one,
 * tokenkey.so in that directory. The directory is OPENSSL_MODULES, else
 * the one libcrypto was built with. kafka-config checks the file it
 * writes into openssl.cnf, doctor the one the client will really load.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"

/* OpenSSL_version(OPENSSL_MODULES_DIR) says 'MODULESDIR: "/path"'; the path alone. */
static void builtin_modules_dir(char *out, size_t cap)
{
    const char *text = OpenSSL_version(OPENSSL_MODULES_DIR), *start = strchr(text, '"');
    const char *end = start != NULL ? strrchr(start + 1, '"') : NULL;

    if (start != NULL && end != NULL)
        snprintf(out, cap, "%.*s", (int)(end - start - 1), start + 1);
    else
        snprintf(out, cap, "%s", text);
}

void tk_cli_client_provider_path(char *out, size_t cap, const char *module)
{
    const char *env = getenv("OPENSSL_MODULES");
    char dir[4096];

    if (module != NULL && module[0] == '/') {
        snprintf(out, cap, "%s", module);
        return;
    }
    if (env != NULL && *env != '\0')
        snprintf(dir, sizeof(dir), "%s", env);
    else
        builtin_modules_dir(dir, sizeof(dir));
    snprintf(out, cap, "%s/%s", dir, module != NULL ? module : "tokenkey.so");
}

int tk_cli_provider_loadable(const char *path, char *why, size_t cap)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL); /* OpenSSL's flags (dso_dlfcn.c) */
    int is_provider;

    /* dlerror() names the file already. */
    if (h == NULL) {
        snprintf(why, cap, "%s", dlerror());
        return 0;
    }
    /* Looked up, not called: its init would run inside this process. */
    is_provider = dlsym(h, "OSSL_provider_init") != NULL;
    dlclose(h);
    if (!is_provider)
        snprintf(why, cap, "'%s' is not an OpenSSL provider (it has no OSSL_provider_init)", path);
    return is_provider;
}
