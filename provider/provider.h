/* The provider context: what every dispatch function reaches through provctx. */
#ifndef TK_PROVIDER_H
#define TK_PROVIDER_H

#include <pthread.h>

#include <openssl/core.h>
#include <openssl/core_dispatch.h>

#include "config.h"
#include "fork_lock.h"
#include "p11/p11.h"

#define TK_PROV_NAME "tokenkey"

/* Modules opened through URIs' module-path, beside the configured one. */
#define TK_MAX_MODULES 8

typedef struct tk_provctx {
    const OSSL_CORE_HANDLE *handle;
    OSSL_LIB_CTX *libctx;          /* child of the application's: decoders, public halves */
    /*
     * Where software digests are fetched: the application's own library
     * context when that is libcrypto's default one (NULL), else libctx.
     * The child mirrors the parent's providers, so the digests are the
     * same; fetching from the parent saves the child's first fetch, which
     * fills its empty name map (about 3M instructions, 10% of a cold
     * start, docs/performance.md). An application with its own library
     * context (a FIPS one, say) keeps getting its digests from there.
     */
    OSSL_LIB_CTX *digest_libctx;
    /* The core is another copy of libcrypto than ours (provider.c, own_libcrypto_apart). */
    int own_libcrypto_apart;
    TK_CONFIG cfg;
    /*
     * What was wrong with the configuration when the provider loaded (a
     * bad openssl.cnf or environment setting, a PKCS#11 module that is not
     * there): config_reason 0 when nothing. Loading still succeeds, and
     * every use raises this error (tk_provctx_ready): OpenSSL 3.0 drops the
     * errors of a provider that fails to activate from openssl.cnf, and an
     * application that then loads it by name (librdkafka's ssl.providers)
     * gets a copy without the section's settings, whose own error ("no
     * PKCS#11 module configured") would send the user the wrong way.
     */
    int config_reason;
    char config_error[512];

    OSSL_FUNC_core_new_error_fn *core_new_error;
    OSSL_FUNC_core_set_error_debug_fn *core_set_error_debug;
    OSSL_FUNC_core_vset_error_fn *core_vset_error;

    /* Loaded lazily, on first use: loading the provider never touches a token. */
    TK_FORK_LOCK lock;
    TK_P11_MODULE *modules[TK_MAX_MODULES];
    /* The path each was asked for: one library by two paths is one module, twice here. */
    char *module_paths[TK_MAX_MODULES];
    size_t n_modules;
} TK_PROVCTX;

/*
 * Whether the provider can be used: 0 after raising the configuration
 * error found at load. Every operation that reaches a token asks first.
 */
int tk_provctx_ready(const TK_PROVCTX *ctx);

/*
 * Whether tokenkey has software digests (SHA-256 where its signatures
 * fetch them, digest_libctx): 0 after raising an error that says to load
 * the default provider. Asked before a login: without them it cannot sign,
 * and in the usual case (an openssl.cnf that activates tokenkey alone)
 * SoftHSM2, which checks PINs in libcrypto's default context, would reject
 * the right PIN and count a failed login. An application that keeps only
 * "null" in the default context is not caught (docs/design.md).
 */
int tk_provctx_has_digests(const TK_PROVCTX *ctx);

/*
 * The module a URI points at: its module-path, else the configured module.
 * Loaded on first use and kept until teardown. Returns 1, or 0 after
 * raising an error that names the path.
 */
int tk_provctx_module(TK_PROVCTX *ctx, const TK_URI *uri, TK_P11_MODULE **out);

#endif
