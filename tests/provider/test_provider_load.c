/*
 * Loading tokenkey.so as OpenSSL loads it: OSSL_PROVIDER_load into a fresh
 * library context, and through an openssl.cnf section. This executable does
 * not link tokenkey's code: everything it checks goes through libcrypto.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/store.h>

#include "error_text.h"
#include "fixture.h"
#include "runner.h"
#include "tk_build.h"

static TK_FIXTURE fx;
static const char *provider_dir;

static const char *const tokenkey_env[] = {
    "TOKENKEY_MODULE", "TOKENKEY_INIT_ARGS", "TOKENKEY_PIN", "TOKENKEY_PIN_FILE",
    "TOKENKEY_PIN_SOURCE", "TOKENKEY_DEBUG", "TOKENKEY_DEBUG_FILE", "TOKENKEY_SESSION_KEY_COPY",
    NULL
};

static int setup(void)
{
    provider_dir = getenv("TK_PROVIDER_DIR");
    if (provider_dir == NULL) {
        fprintf(stderr, "test: TK_PROVIDER_DIR is not set (run with 'meson test')\n");
        return -1;
    }
    return tk_fixture_setup(&fx, "tokenkey-provider");
}

static void teardown(void)
{
    tk_fixture_teardown(&fx);
}

/* No TOKENKEY_* from the caller, the fixture's SoftHSM2 configuration back. */
static int clean_env(void **state)
{
    for (int i = 0; tokenkey_env[i] != NULL; i++)
        unsetenv(tokenkey_env[i]);
    setenv("SOFTHSM2_CONF", fx.softhsm_conf, 1);
    ERR_clear_error();
    return 0;
}

static OSSL_LIB_CTX *new_libctx(void)
{
    OSSL_LIB_CTX *libctx = OSSL_LIB_CTX_new();

    assert_non_null(libctx);
    assert_int_equal(OSSL_PROVIDER_set_default_search_path(libctx, provider_dir), 1);
    return libctx;
}

static void assert_contains(const char *text, const char *needle)
{
    if (strstr(text, needle) == NULL)
        fail_msg("'%s' not found in:\n%s", needle, text);
}

/* Whether the process has the library mapped (without loading it). */
static int is_loaded(const char *path)
{
    void *dl = dlopen(path, RTLD_NOW | RTLD_NOLOAD);

    if (dl == NULL)
        return 0;
    dlclose(dl);
    return 1;
}

/*
 * A provider loaded with a bad setting refuses every use with the error
 * that names it: here, opening a pkcs11: URI. Clears the queue.
 */
static void assert_use_refused(OSSL_LIB_CTX *libctx, const char *const needles[])
{
    OSSL_STORE_CTX *store;
    char *err;

    store = OSSL_STORE_open_ex("pkcs11:token=any", libctx, "provider=tokenkey", NULL, NULL, NULL,
                               NULL, NULL);
    if (store != NULL)
        fail_msg("a pkcs11: URI opened despite the bad setting");
    err = tk_test_error_text();
    for (int i = 0; needles[i] != NULL; i++)
        assert_contains(err, needles[i]);
    free(err);
}

/* ---- OSSL_PROVIDER_load ---- */

static void test_load_and_params(void **state)
{
    OSSL_LIB_CTX *libctx = new_libctx();
    OSSL_PROVIDER *prov = OSSL_PROVIDER_load(libctx, "tokenkey");
    const char *name = NULL, *version = NULL, *buildinfo = NULL;
    int status = -1;
    OSSL_PARAM params[] = {
        OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_NAME, &name, 0),
        OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_VERSION, &version, 0),
        OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_BUILDINFO, &buildinfo, 0),
        OSSL_PARAM_int(OSSL_PROV_PARAM_STATUS, &status),
        OSSL_PARAM_END
    };

    if (prov == NULL) {
        char *err = tk_test_error_text();

        fail_msg("OSSL_PROVIDER_load(tokenkey) from %s:\n%s", provider_dir, err);
    }
    assert_true(OSSL_PROVIDER_available(libctx, "tokenkey"));
    assert_int_equal(OSSL_PROVIDER_get_params(prov, params), 1);
    assert_non_null(name);
    assert_non_null(version);
    assert_non_null(buildinfo);
    assert_contains(name, "tokenkey");
    assert_string_equal(version, TK_VERSION);
    assert_contains(buildinfo, TK_VERSION);
    assert_contains(buildinfo, "OpenSSL");
    assert_int_equal(status, 1);
    /* Every parameter it answers is one it says it has. */
    {
        const OSSL_PARAM *gettable = OSSL_PROVIDER_gettable_params(prov);

        assert_non_null(OSSL_PARAM_locate_const(gettable, OSSL_PROV_PARAM_NAME));
        assert_non_null(OSSL_PARAM_locate_const(gettable, OSSL_PROV_PARAM_STATUS));
    }
    assert_int_equal(OSSL_PROVIDER_unload(prov), 1);
    assert_int_equal(ERR_peek_error(), 0);
    OSSL_LIB_CTX_free(libctx);
}

/*
 * Loading the provider must not touch the token: with SoftHSM2 configured
 * as the module but its configuration missing, SoftHSM2's C_Initialize
 * would fail, so a load that called it would fail. And the module is not
 * even mapped afterwards.
 */
static void test_load_does_not_touch_token(void **state)
{
    OSSL_LIB_CTX *libctx;
    OSSL_PROVIDER *prov;
    const char *module = tk_fixture_module(&fx);

    assert_int_equal(is_loaded(module), 0);
    setenv("TOKENKEY_MODULE", module, 1);
    setenv("SOFTHSM2_CONF", "/nonexistent/softhsm2.conf", 1);
    libctx = new_libctx();
    prov = OSSL_PROVIDER_load(libctx, "tokenkey");
    if (prov == NULL) {
        char *err = tk_test_error_text();

        fail_msg("load with TOKENKEY_MODULE=%s failed:\n%s", module, err);
    }
    assert_int_equal(is_loaded(module), 0);
    assert_int_equal(OSSL_PROVIDER_unload(prov), 1);
    OSSL_LIB_CTX_free(libctx);
    assert_int_equal(is_loaded(module), 0);
}

/* The provider loads (see tk_provctx_ready), and every use names the missing module. */
static void test_load_missing_module_env(void **state)
{
    static const char *const needles[] = { "PKCS#11 module '/nonexistent/x.so' not found",
                                           "No such file or directory", NULL };
    OSSL_LIB_CTX *libctx = new_libctx();
    OSSL_PROVIDER *prov;

    setenv("TOKENKEY_MODULE", "/nonexistent/x.so", 1);
    prov = OSSL_PROVIDER_load(libctx, "tokenkey");
    assert_non_null(prov);
    assert_use_refused(libctx, needles);
    assert_use_refused(libctx, needles); /* every use, not the first only */
    assert_int_equal(OSSL_PROVIDER_unload(prov), 1);
    OSSL_LIB_CTX_free(libctx);
}

/* ---- openssl.cnf ---- */

/*
 * Load a config whose tokenkey section has these lines (plus "activate = 1"
 * when activate); returns OSSL_LIB_CTX_load_config's result.
 */
static int load_config(OSSL_LIB_CTX *libctx, const char *section_lines, int activate)
{
    char path[4096];
    FILE *f;
    int ok;

    snprintf(path, sizeof(path), "%s/openssl.cnf", tk_fixture_dir(&fx));
    f = fopen(path, "we");
    assert_non_null(f);
    fprintf(f, "openssl_conf = openssl_init\n\n"
               "[openssl_init]\nproviders = provider_sect\n\n"
               "[provider_sect]\ntokenkey = tokenkey_sect\n\n"
               "[tokenkey_sect]\n%s%s", activate ? "activate = 1\n" : "", section_lines);
    assert_int_equal(fclose(f), 0);
    ok = OSSL_LIB_CTX_load_config(libctx, path);
    remove(path);
    return ok;
}

/*
 * A section tokenkey must refuse: every use raises the error, which must
 * contain each needle. Both ways the section is used: loaded later by
 * name (no "activate"), and activated by the configuration itself. A
 * provider that failed to activate would lose the error (OpenSSL 3.0
 * counts it as a non-fatal configuration error and drops the queue), and
 * librdkafka's load by name would then start a copy without the section.
 */
static void assert_config_refused(const char *lines, const char *const needles[])
{
    OSSL_LIB_CTX *libctx = new_libctx();
    OSSL_PROVIDER *prov;
    char *err;

    if (load_config(libctx, lines, 0) != 1) {
        err = tk_test_error_text();
        fail_msg("load_config:\n%s", err);
    }
    prov = OSSL_PROVIDER_load(libctx, "tokenkey");
    if (prov == NULL) {
        err = tk_test_error_text();
        fail_msg("tokenkey did not load with:\n%s\n%s", lines, err);
    }
    assert_use_refused(libctx, needles);
    assert_int_equal(OSSL_PROVIDER_unload(prov), 1);
    OSSL_LIB_CTX_free(libctx);

    libctx = new_libctx();
    if (load_config(libctx, lines, 1) != 1) {
        err = tk_test_error_text();
        fail_msg("load_config, activated:\n%s", err);
    }
    assert_true(OSSL_PROVIDER_available(libctx, "tokenkey"));
    assert_use_refused(libctx, needles);
    OSSL_LIB_CTX_free(libctx);
}

static void test_config_section_loads(void **state)
{
    static const char lines[] = "debug = 0\nsession-key-copy = no\npin = file:/nonexistent/pin\n";
    OSSL_LIB_CTX *libctx = new_libctx();
    OSSL_PROVIDER *prov;

    if (load_config(libctx, lines, 1) != 1) {
        char *err = tk_test_error_text();

        fail_msg("load_config:\n%s", err);
    }
    assert_true(OSSL_PROVIDER_available(libctx, "tokenkey"));
    OSSL_LIB_CTX_free(libctx);
    /* The same values, not activated: a later load takes them. */
    libctx = new_libctx();
    assert_int_equal(load_config(libctx, lines, 0), 1);
    assert_false(OSSL_PROVIDER_available(libctx, "tokenkey"));
    prov = OSSL_PROVIDER_load(libctx, "tokenkey");
    assert_non_null(prov);
    assert_int_equal(OSSL_PROVIDER_unload(prov), 1);
    OSSL_LIB_CTX_free(libctx);
}

/* A PIN typed into openssl.cnf is refused, and not repeated in the error. */
static void test_config_pin_value_refused(void **state)
{
    static const char *const needles[] = { "invalid openssl.cnf setting: 'pin' must be file:", NULL };
    OSSL_LIB_CTX *libctx = new_libctx();
    char *err;

    assert_config_refused("pin = 918273\n", needles);
    assert_int_equal(load_config(libctx, "pin = 918273\n", 1), 1);
    assert_null(OSSL_STORE_open_ex("pkcs11:token=any", libctx, "provider=tokenkey", NULL, NULL,
                                   NULL, NULL, NULL));
    err = tk_test_error_text();
    assert_contains(err, "'pin' must be file:");
    assert_null(strstr(err, "918273"));
    free(err);
    OSSL_LIB_CTX_free(libctx);
}

static void test_config_bad_debug_level(void **state)
{
    static const char *const needles[] = { "invalid openssl.cnf setting: 'debug' must be 0, 1 or 2, not '7'", NULL };

    assert_config_refused("debug = 7\n", needles);
}

static void test_config_bad_bool(void **state)
{
    static const char *const needles[] = { "'session-key-copy' must be yes or no, not 'maybe'",
                                           NULL };

    assert_config_refused("session-key-copy = maybe\n", needles);
}


/* The PKCS#11 module is "pkcs11-module"; a missing one is named in the error. */
static void test_config_pkcs11_module_missing(void **state)
{
    static const char *const needles[] = { "PKCS#11 module '/nonexistent'",
                                           "No such file or directory", NULL };

    assert_config_refused("pkcs11-module = /nonexistent\n", needles);
}

/* A real module path in the section: the provider loads, and still does not load the module. */
static void test_config_pkcs11_module_softhsm(void **state)
{
    OSSL_LIB_CTX *libctx = new_libctx();
    OSSL_PROVIDER *prov;
    char lines[4200];

    snprintf(lines, sizeof(lines), "pkcs11-module = %s\n", tk_fixture_module(&fx));
    assert_int_equal(load_config(libctx, lines, 0), 1);
    prov = OSSL_PROVIDER_load(libctx, "tokenkey");
    if (prov == NULL) {
        char *err = tk_test_error_text();

        fail_msg("OSSL_PROVIDER_load with %s:\n%s", lines, err);
    }
    assert_int_equal(is_loaded(tk_fixture_module(&fx)), 0);
    assert_int_equal(OSSL_PROVIDER_unload(prov), 1);
    OSSL_LIB_CTX_free(libctx);
}

/*
 * "module" in a provider section is OpenSSL's own key: the path of the
 * provider's shared object (crypto/provider_conf.c). Pointing it nowhere
 * fails in OpenSSL's loader, and the error still names the path.
 */
static void test_config_openssl_module_key(void **state)
{
    OSSL_LIB_CTX *libctx = new_libctx();
    char *err;

    assert_int_equal(load_config(libctx, "module = /nonexistent\n", 0), 1);
    assert_null(OSSL_PROVIDER_load(libctx, "tokenkey"));
    err = tk_test_error_text();
    assert_contains(err, "/nonexistent");
    assert_contains(err, "name=tokenkey");
    free(err);
    OSSL_LIB_CTX_free(libctx);
}

/*
 * Not tested here, a limit: the provider asks the core only for the keys it
 * knows (OSSL_FUNC_core_get_params cannot list a section), so a misspelt
 * key in its section is ignored. The tokenkey command line reads the whole
 * section and warns of it (tools/cli_config.c; badinput's
 * config/cli-cnf-unknown-key).
 */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_load_and_params, clean_env),
        cmocka_unit_test_setup(test_load_does_not_touch_token, clean_env),
        cmocka_unit_test_setup(test_load_missing_module_env, clean_env),
        cmocka_unit_test_setup(test_config_section_loads, clean_env),
        cmocka_unit_test_setup(test_config_pin_value_refused, clean_env),
        cmocka_unit_test_setup(test_config_bad_debug_level, clean_env),
        cmocka_unit_test_setup(test_config_bad_bool, clean_env),
        cmocka_unit_test_setup(test_config_pkcs11_module_missing, clean_env),
        cmocka_unit_test_setup(test_config_pkcs11_module_softhsm, clean_env),
        cmocka_unit_test_setup(test_config_openssl_module_key, clean_env),
    };

    return tk_test_run("provider-load", tests, TK_TEST_COUNT(tests), setup, teardown);
}
