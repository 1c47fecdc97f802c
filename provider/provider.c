/*
 * OSSL_provider_init: read the configuration, hand OpenSSL our tables.
 * The PKCS#11 module is not loaded here but on first use (tk_provctx_module),
 * so a program that merely loads the provider never touches a token.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "algorithms.h"
#include "debug.h"
#include "errors.h"
#include "provider.h"
#include "tk_build.h"

static OSSL_FUNC_provider_teardown_fn tk_teardown;
static OSSL_FUNC_provider_gettable_params_fn tk_gettable_params;
static OSSL_FUNC_provider_get_params_fn tk_get_params;
static OSSL_FUNC_provider_query_operation_fn tk_query_operation;
static OSSL_FUNC_provider_get_reason_strings_fn tk_get_reason_strings;

static const OSSL_PARAM tk_param_types[] = {
    OSSL_PARAM_DEFN(OSSL_PROV_PARAM_NAME, OSSL_PARAM_UTF8_PTR, NULL, 0),
    OSSL_PARAM_DEFN(OSSL_PROV_PARAM_VERSION, OSSL_PARAM_UTF8_PTR, NULL, 0),
    OSSL_PARAM_DEFN(OSSL_PROV_PARAM_BUILDINFO, OSSL_PARAM_UTF8_PTR, NULL, 0),
    OSSL_PARAM_DEFN(OSSL_PROV_PARAM_STATUS, OSSL_PARAM_INTEGER, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tk_gettable_params(void *provctx)
{
    return tk_param_types;
}

static int tk_get_params(void *provctx, OSSL_PARAM params[])
{
    OSSL_PARAM *p;

    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, "tokenkey: PKCS#11 token keys for OpenSSL"))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, TK_VERSION))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_BUILDINFO);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, TK_BUILDINFO))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS);
    if (p != NULL && !OSSL_PARAM_set_int(p, 1))
        return 0;
    return 1;
}

static const OSSL_ALGORITHM *tk_query_operation(void *provctx, int operation_id, int *no_cache)
{
    *no_cache = 0;
    switch (operation_id) {
    case OSSL_OP_KEYMGMT:
        return tk_keymgmt_algorithms;
    case OSSL_OP_SIGNATURE:
        return tk_signature_algorithms;
    case OSSL_OP_ASYM_CIPHER:
        return tk_asym_cipher_algorithms;
    case OSSL_OP_STORE:
        return tk_store_algorithms;
    case OSSL_OP_DECODER:
        return tk_decoder_algorithms;
    case OSSL_OP_ENCODER:
        return tk_encoder_algorithms;
    default:
        return NULL;
    }
}

static const OSSL_ITEM *tk_get_reason_strings(void *provctx)
{
    return tk_reason_strings;
}

/*
 * A client with its own copy of OpenSSL (linked statically, as librdkafka
 * is inside confluent-kafka-go's default build and the confluent-kafka
 * wheels) loads tokenkey.so, which brings the system's libcrypto.so.3: two
 * libcryptos in one process. Each registers its OPENSSL_cleanup with
 * atexit() when first initialised, and atexit runs the last registered
 * first. Ours, first initialised here after the client's, was torn down
 * before the client's cleanup called our teardown, which then freed our
 * child library context inside it: a crash at exit. So when the core is
 * not in our libcrypto, ours is initialised without that handler; the
 * client's exit unloads us with our libcrypto intact, and the process exit
 * returns the rest. Where something else initialised ours first, with its
 * handler, provctx_free finds it stopped and leaves it alone. A core in
 * our libcrypto (a dynamically linked client) changes nothing: it is
 * initialised already, with its handler. Returns whether the core is apart.
 */
static int own_libcrypto_apart(const OSSL_DISPATCH *in)
{
    const void *core_fn = NULL;
    Dl_info core, ours, self;

    for (const OSSL_DISPATCH *f = in; f->function_id != 0; f++)
        if (f->function_id == OSSL_FUNC_CORE_GET_PARAMS)
            core_fn = (const void *)(uintptr_t)f->function;
    /* A string of our libcrypto's own: no PLT stub of an executable can stand in for it. */
    if (core_fn == NULL || dladdr(core_fn, &core) == 0
        || dladdr(OpenSSL_version(OPENSSL_VERSION), &ours) == 0 || core.dli_fbase == ours.dli_fbase)
        return 0;
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
    /*
     * Mapped to the end, as our libcrypto is (it pins itself): what
     * provctx_free leaves to the process exit stays pointed to from here.
     */
    if (dladdr((const void *)(uintptr_t)&own_libcrypto_apart, &self) != 0)
        dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    return 1;
}

/*
 * Whether our own libcrypto, apart from the core's, has run its cleanup
 * already (its atexit handler, registered by someone else after the
 * client's): freeing into it would crash. OPENSSL_init_crypto answers 0
 * then (the error it raises goes nowhere: the error state is gone too);
 * otherwise it returns at once, NO_ATEXIT being done already (above).
 */
static int own_libcrypto_stopped(const TK_PROVCTX *ctx)
{
    return ctx->own_libcrypto_apart && OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL) == 0;
}

/*
 * Child library contexts left to the process exit then: still pointed to,
 * not lost (the array volatile: stores never read are kept). One per
 * provider context; a process has a few at most, and more are only not
 * pointed to.
 */
static OSSL_LIB_CTX *volatile left_to_exit[8];
static unsigned left_to_exit_n; /* volatile: a store never read is kept */

static void provctx_free(TK_PROVCTX *ctx)
{
    for (size_t i = 0; i < ctx->n_modules; i++) {
        tk_p11_module_close(ctx->modules[i]);
        OPENSSL_free(ctx->module_paths[i]);
    }
    tk_config_clear(&ctx->cfg);
    /* At exit, after our libcrypto's own cleanup: freeing into it would crash. */
    if (own_libcrypto_stopped(ctx)) {
        if (left_to_exit_n < sizeof(left_to_exit) / sizeof(left_to_exit[0]))
            left_to_exit[left_to_exit_n++] = ctx->libctx;
    } else
        OSSL_LIB_CTX_free(ctx->libctx);
    tk_fork_lock_destroy(&ctx->lock);
    OPENSSL_free(ctx);
}

static void tk_teardown(void *provctx)
{
    provctx_free(provctx);
}

static const OSSL_DISPATCH tk_dispatch[] = {
    { OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))tk_teardown },
    { OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, (void (*)(void))tk_gettable_params },
    { OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))tk_get_params },
    { OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))tk_query_operation },
    { OSSL_FUNC_PROVIDER_GET_REASON_STRINGS, (void (*)(void))tk_get_reason_strings },
    { 0, NULL }
};

/* Keep a configuration error for tk_provctx_ready; the first one found is the one reported. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void config_failed(TK_PROVCTX *ctx, int reason, const char *fmt, ...)
{
    va_list ap;

    if (ctx->config_reason != 0)
        return;
    ctx->config_reason = reason;
    va_start(ap, fmt);
    vsnprintf(ctx->config_error, sizeof(ctx->config_error), fmt, ap);
    va_end(ap);
}

int tk_provctx_ready(const TK_PROVCTX *ctx)
{
    if (ctx->config_reason == 0)
        return 1;
    TK_RAISE(ctx, ctx->config_reason, "%s", ctx->config_error);
    return 0;
}

int tk_provctx_has_digests(const TK_PROVCTX *ctx)
{
    EVP_MD *md;

    /* Where tokenkey's signatures fetch them: an application's own context may have them */
    /* while the default one has only the "null" provider. */
    ERR_set_mark();
    md = EVP_MD_fetch(ctx->digest_libctx, "SHA2-256", NULL);
    ERR_pop_to_mark();
    if (md != NULL) {
        EVP_MD_free(md);
        return 1;
    }
    TK_RAISE(ctx, TK_R_BAD_CONFIG, "no SHA-256 in this process: the default provider is not "
             "loaded (an openssl.cnf that activates tokenkey must activate default too); tokenkey "
             "signs with software digests, and SoftHSM2 checks the PIN with them: no PIN was sent");
    return 0;
}

/* Read our openssl.cnf section (every key we know) and then the environment. */
static int load_config(TK_PROVCTX *ctx, OSSL_FUNC_core_get_params_fn *get_params)
{
    size_t nkeys = 0;
    char err[256];

    while (tk_config_keys[nkeys] != NULL)
        nkeys++;
    if (get_params != NULL) {
        OSSL_PARAM params[16];
        char *values[16] = { NULL };

        for (size_t i = 0; i < nkeys; i++)
            params[i] = OSSL_PARAM_construct_utf8_ptr(tk_config_keys[i], &values[i], 0);
        params[nkeys] = OSSL_PARAM_construct_end();
        if (!get_params(ctx->handle, params))
            return 1; /* no section: the environment decides */
        for (size_t i = 0; i < nkeys; i++)
            if (values[i] != NULL && !tk_config_set(&ctx->cfg, tk_config_keys[i], values[i],
                                                    err, sizeof(err))) {
                config_failed(ctx, TK_R_BAD_CONFIG, "invalid openssl.cnf setting: %s", err);
                return 0;
            }
    }
    if (!tk_config_from_env(&ctx->cfg, err, sizeof(err))) {
        config_failed(ctx, TK_R_BAD_CONFIG, "invalid environment setting: %s", err);
        return 0;
    }
    return 1;
}

/*
 * A wrong module path is a configuration error, reported as one by every
 * use, the first key load included (librdkafka then fails at rd_kafka_new,
 * not at the first handshake). Checking the file exists does not touch
 * the token.
 */
static void check_module_path(TK_PROVCTX *ctx)
{
    if (ctx->cfg.module != NULL && access(ctx->cfg.module, R_OK) != 0)
        config_failed(ctx, TK_R_MODULE_NOT_FOUND, "PKCS#11 module '%s' not found: %s: check "
                      "pkcs11-module in openssl.cnf or TOKENKEY_MODULE", ctx->cfg.module,
                      strerror(errno));
}

int OSSL_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
                       const OSSL_DISPATCH **out, void **provctx)
{
    OSSL_FUNC_core_get_params_fn *get_params = NULL;
    OSSL_FUNC_core_get_libctx_fn *get_libctx = NULL;
    TK_PROVCTX *ctx;
    int apart = own_libcrypto_apart(in); /* before anything here initialises our libcrypto */

    ctx = OPENSSL_zalloc(sizeof(*ctx));
    if (ctx == NULL)
        return 0;
    ctx->own_libcrypto_apart = apart;
    ctx->handle = handle;
    tk_fork_lock_init(&ctx->lock);
    tk_config_init(&ctx->cfg);
    for (const OSSL_DISPATCH *f = in; f->function_id != 0; f++) {
        switch (f->function_id) {
        case OSSL_FUNC_CORE_GET_PARAMS:
            get_params = OSSL_FUNC_core_get_params(f);
            break;
        case OSSL_FUNC_CORE_GET_LIBCTX:
            get_libctx = OSSL_FUNC_core_get_libctx(f);
            break;
        case OSSL_FUNC_CORE_NEW_ERROR:
            ctx->core_new_error = OSSL_FUNC_core_new_error(f);
            break;
        case OSSL_FUNC_CORE_SET_ERROR_DEBUG:
            ctx->core_set_error_debug = OSSL_FUNC_core_set_error_debug(f);
            break;
        case OSSL_FUNC_CORE_VSET_ERROR:
            ctx->core_vset_error = OSSL_FUNC_core_vset_error(f);
            break;
        default:
            break;
        }
    }
    if (ctx->core_set_error_debug == NULL || ctx->core_vset_error == NULL)
        ctx->core_new_error = NULL; /* all three or none: see errors.c */

    /* A bad setting is kept for tk_provctx_ready: loading fails only for want of memory. */
    if (load_config(ctx, get_params))
        check_module_path(ctx);
    if (ctx->cfg.debug > 0)
        tk_debug_configure(ctx->cfg.debug, ctx->cfg.debug_file);
    ctx->libctx = OSSL_LIB_CTX_new_child(handle, in);
    if (ctx->libctx == NULL) {
        /* Out of memory: without it public-key work would run in another context. */
        provctx_free(ctx);
        return 0;
    }
    /*
     * The core's library context is opaque to a provider; compared with
     * libcrypto's default one it can only be equal when it is that one.
     * Any other answer keeps the child (provider.h, digest_libctx).
     */
    ctx->digest_libctx = ctx->libctx;
    if (get_libctx != NULL) {
        const void *parent = get_libctx(handle);

        /* OpenSSL 3.0 hands out NULL for the default context it was loaded into by NULL. */
        if (parent == NULL || parent == (const void *)OSSL_LIB_CTX_get0_global_default())
            ctx->digest_libctx = NULL;
    }
    TK_DEBUG("provider loaded (module %s)", ctx->cfg.module != NULL ? ctx->cfg.module : "not set");
    *out = tk_dispatch;
    *provctx = ctx;
    return 1;
}

static int open_module(TK_PROVCTX *ctx, const char *path, TK_P11_MODULE **out)
{
    CK_RV rv = tk_p11_module_open(path, ctx->cfg.init_args, out);

    if (rv == CKR_OK)
        return 1;
    if (rv == TK_CKR_MODULE_LOAD && access(path, F_OK) != 0)
        TK_RAISE(ctx, TK_R_MODULE_NOT_FOUND, "PKCS#11 module '%s': %s", path, strerror(ENOENT));
    else if (rv == TK_CKR_MODULE_LOAD)
        TK_RAISE(ctx, TK_R_MODULE_LOAD_FAILED, "PKCS#11 module '%s': %s", path,
                 tk_p11_module_load_error());
    else if (rv == TK_CKR_MODULE_SYMBOL)
        TK_RAISE(ctx, TK_R_MODULE_LOAD_FAILED, "'%s' has no C_GetFunctionList: not a PKCS#11 module",
                 path);
    else if (ctx->cfg.init_args != NULL)
        /* The string the module got is the first suspect. */
        TK_RAISE(ctx, TK_R_MODULE_INIT_FAILED, "PKCS#11 module '%s': C_Initialize with init-args "
                 "'%s': %s", path, ctx->cfg.init_args, tk_p11_rv_name(rv));
    else
        TK_RAISE(ctx, TK_R_MODULE_INIT_FAILED, "PKCS#11 module '%s': C_Initialize: %s", path,
                 tk_p11_rv_name(rv));
    return 0;
}

/*
 * Whether a library path is the module RFC 7512 section 2.3 calls by name:
 * its file name without the directory, a "lib" prefix and the suffix
 * (/usr/lib/softhsm/libsofthsm2.so is "softhsm2").
 */
static int module_has_name(const char *path, const char *name)
{
    const char *file = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
    size_t len = strlen(name);

    if (strncmp(file, "lib", 3) == 0 && strncmp(file + 3, name, len) == 0
        && (file[3 + len] == '\0' || file[3 + len] == '.'))
        return 1;
    return strncmp(file, name, len) == 0 && (file[len] == '\0' || file[len] == '.');
}

int tk_provctx_module(TK_PROVCTX *ctx, const TK_URI *uri, TK_P11_MODULE **out)
{
    const char *path = uri != NULL && uri->module_path != NULL ? uri->module_path : ctx->cfg.module;
    int ok = 1;

    if (!tk_provctx_ready(ctx))
        return 0;
    if (path == NULL) {
        TK_RAISE(ctx, TK_R_NO_MODULE, "%s",
                 uri != NULL && uri->module_name != NULL
                     ? "module-name= is not resolved by tokenkey: use module-path="
                     : "no module");
        return 0;
    }
    /* A URI that names another module must not be looked up in this one: another key, silently. */
    if (uri != NULL && uri->module_name != NULL && uri->module_path == NULL
        && !module_has_name(path, uri->module_name)) {
        TK_RAISE(ctx, TK_R_BAD_URI, "the URI names the PKCS#11 module '%s' (module-name=), but "
                 "tokenkey uses '%s': name that one (or drop module-name=), or set pkcs11-module "
                 "to the module the URI means", uri->module_name, path);
        return 0;
    }
    tk_fork_lock_acquire(&ctx->lock);
    *out = NULL;
    for (size_t i = 0; i < ctx->n_modules; i++)
        if (strcmp(ctx->module_paths[i], path) == 0)
            *out = ctx->modules[i];
    if (*out == NULL) {
        char *copy = OPENSSL_strdup(path);

        if (copy == NULL) {
            TK_RAISE(ctx, TK_R_OUT_OF_MEMORY, "module path");
            ok = 0;
        } else if (ctx->n_modules == TK_MAX_MODULES) {
            TK_RAISE(ctx, TK_R_BAD_ARGUMENT, "more than %d PKCS#11 modules in use", TK_MAX_MODULES);
            ok = 0;
        } else if ((ok = open_module(ctx, path, out)) != 0) {
            ctx->module_paths[ctx->n_modules] = copy;
            ctx->modules[ctx->n_modules++] = *out;
            copy = NULL;
        }
        OPENSSL_free(copy);
    }
    tk_fork_lock_release(&ctx->lock);
    return ok;
}
