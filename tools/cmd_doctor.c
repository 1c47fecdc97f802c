/*
 * tokenkey doctor: check a setup end to end, in the order a TLS client
 * meets its pieces, and explain the first one that is wrong. This file
 * runs the checks up to finding the key (module, token, PIN state, login,
 * key) and prints the results; doctor_cert.c has the certificate checks.
 *
 * Each check prints "ok|warn|FAIL  <check>: <detail>"; the first FAIL
 * stops and prints one "hint: <what to do>" line. Exit codes: 0 all passed
 * (warnings allowed), 3 a check up to the key failed (the module, token,
 * PIN or key cannot be used, as for every command), 1 a certificate check
 * failed.
 * The hints say only what PKCS#11 tells: tokens report PIN flags, never
 * a count of tries left.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "config.h"
#include "objects.h"
#include "pin.h"
#include "pinfile.h"

/* What to do when the --pin-file given cannot serve (unreadable, empty, failed). */
static const char pin_file_hint[] = "write the user PIN to that file (chmod 600) or point --pin-file at it";

static TK_DOCTOR_STATUS fail(TK_DOCTOR *d, const char *check, const char *hint, const char *detail)
{
    tk_doctor_report(d, check, TK_DOCTOR_FAIL, "%s", detail);
    tk_doctor_hint(d, "%s", hint);
    return TK_DOCTOR_FAIL;
}

/*
 * The first thing a client does: load tokenkey.so, the file its
 * openssl.cnf section's 'module' names or the one in OpenSSL's modules
 * directory. A wrong path there fails the client with "Failed to load
 * OpenSSL provider", which the rest of doctor (the CLI has the provider
 * built in) would never see.
 */
static TK_DOCTOR_STATUS check_provider(TK_DOCTOR *d)
{
    const char *origin, *module, *no_default, *default_section, *tokenkey_first;
    char path[4200], why[1200], msg[5600], hint[PATH_MAX + 600], fix[600];

    if (tk_cli_client_config(d->cli) == NULL)
        return fail(d, "provider", "fix the OpenSSL configuration named above (the client reads it too)",
                    "the client's tokenkey settings cannot be read");
    module = tk_cli_client_provider_module(&origin);
    tk_cli_client_provider_path(path, sizeof(path), module);
    if (!tk_cli_provider_loadable(path, why, sizeof(why))) {
        snprintf(msg, sizeof(msg), "the client cannot load tokenkey.so: %s", why);
        if (module != NULL)
            snprintf(hint, sizeof(hint), "fix 'module' in %s: the path of tokenkey.so "
                     "(tokenkey kafka-config --provider-module PATH --force writes it)", origin);
        else
            snprintf(hint, sizeof(hint), "install tokenkey (meson install), or name tokenkey.so with "
                     "'module' in the client's openssl.cnf (tokenkey kafka-config --provider-module PATH)");
        return fail(d, "provider", hint, msg);
    }
    /*
     * The CLI does not load the client's file (tokenkey.c): what it would
     * do is read here. A warning: librdkafka loads default itself when
     * ssl.providers lists it (kafka-config's client.properties does).
     */
    if ((no_default = tk_cli_client_without_default(&default_section)) != NULL) {
        if (default_section != NULL)
            snprintf(fix, sizeof(fix), "add 'activate = 1' to its [%s]", default_section);
        else
            snprintf(fix, sizeof(fix), "add 'default = default_sect' to its providers section, "
                     "and a [default_sect] with 'activate = 1', as tokenkey kafka-config writes");
        return tk_doctor_report(d, "provider", TK_DOCTOR_WARN, "'%s' loads, but '%s' activates "
                                "providers without 'default': a client that does not load default "
                                "itself (librdkafka does with ssl.providers=default,tokenkey) has "
                                "no software algorithms, and tokenkey refuses to log in: %s", path,
                                no_default, fix);
    }
    /* A warning too: a client that loads its providers itself decides the order. */
    if ((tokenkey_first = tk_cli_client_tokenkey_first()) != NULL)
        return tk_doctor_report(d, "provider", TK_DOCTOR_WARN, "'%s' loads, but '%s' activates "
                                "tokenkey before default: OpenSSL then gives tokenkey what asks "
                                "for \"EC\", \"RSA\" or \"ECDSA\" by name, which breaks TLS with "
                                "the P-256, P-384 and P-521 groups and checking certificates signed "
                                "with SHA-3: list default first in its providers section, as "
                                "tokenkey kafka-config writes", path, tokenkey_first);
    if (module != NULL)
        return tk_doctor_report(d, "provider", TK_DOCTOR_OK, "'%s' loads ('module' in %s)", path,
                                origin);
    return tk_doctor_report(d, "provider", TK_DOCTOR_OK, "'%s' loads (by name, from %s)", path,
                            getenv("OPENSSL_MODULES") != NULL ? "OPENSSL_MODULES"
                                                               : "OpenSSL's modules directory");
}

static TK_DOCTOR_STATUS check_module(TK_DOCTOR *d)
{
    TK_CLI *cli = d->cli;
    const TK_CONFIG *cfg;
    char msg[1024], manufacturer[33], description[33];
    CK_INFO info;
    CK_RV rv;

    if (cli->module == NULL || *cli->module == '\0')
        return fail(d, "module", TK_CLI_MODULE_HINT ", to the token's PKCS#11 library",
                    "no PKCS#11 module given");
    if (strchr(cli->module, '/') == NULL) {
        snprintf(msg, sizeof(msg), "'%s' is not a path", cli->module);
        return fail(d, "module", "give the module's path, e.g. /usr/lib/softhsm/libsofthsm2.so (./NAME "
                                 "for the one in the current directory)", msg);
    }
    if (access(cli->module, R_OK) != 0) {
        snprintf(msg, sizeof(msg), "'%s': %s", cli->module, strerror(errno));
        return fail(d, "module", "install the token's PKCS#11 library or correct the path in --module, OPENSSL_CONF's pkcs11-module or TOKENKEY_MODULE "
                                 "(SoftHSM2's is /usr/lib/softhsm/libsofthsm2.so)", msg);
    }
    /* With --module, tk_cli_parse did not need the configuration: it may be bad. */
    if ((cfg = tk_cli_client_config(cli)) == NULL)
        return fail(d, "module", "fix the OpenSSL configuration named above (the client reads it too)",
                    "the client's tokenkey settings cannot be read");
    rv = tk_p11_module_open(cli->module, cfg->init_args, &cli->m);
    if (rv == TK_CKR_MODULE_LOAD) {
        snprintf(msg, sizeof(msg), "cannot load '%s': %s", cli->module, tk_p11_module_load_error());
        return fail(d, "module", "it is not a library this program can load (another architecture, or "
                                 "a missing dependency: see 'ldd' on it)", msg);
    }
    if (rv == TK_CKR_MODULE_SYMBOL) {
        snprintf(msg, sizeof(msg), "'%s' has no C_GetFunctionList: it is not a PKCS#11 module", cli->module);
        return fail(d, "module", "point --module at the token's PKCS#11 library", msg);
    }
    if (rv != CKR_OK) {
        snprintf(msg, sizeof(msg), "'%s' loaded, but C_Initialize failed: %s", cli->module,
                 tk_p11_rv_name(rv));
        return fail(d, "module", "the module cannot start: check its own configuration (for SoftHSM2, "
                                 "SOFTHSM2_CONF and its token directory)", msg);
    }
    if (tk_p11_module_info(cli->m, &info) != CKR_OK)
        return tk_doctor_report(d, "module", TK_DOCTOR_OK, "'%s' loaded and initialised", cli->module);
    tk_cli_field(manufacturer, sizeof(manufacturer), info.manufacturerID, sizeof(info.manufacturerID));
    tk_cli_field(description, sizeof(description), info.libraryDescription,
                 sizeof(info.libraryDescription));
    return tk_doctor_report(d, "module", TK_DOCTOR_OK,
                            "'%s' loaded and initialised (%s, %s %u.%u, Cryptoki %u.%u)", cli->module,
                            manufacturer, description, info.libraryVersion.major, info.libraryVersion.minor,
                            info.cryptokiVersion.major, info.cryptokiVersion.minor);
}

/* "'label' (serial S), ..." for the tokens present, to say which ones could be meant. */
static void tokens_present(TK_P11_MODULE *m, char *out, size_t cap)
{
    CK_SLOT_ID *slots = NULL;
    CK_ULONG n = 0;

    out[0] = '\0';
    if (tk_p11_slot_list(m, 1, &slots, &n) != CKR_OK)
        return;
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO ti;
        char label[33], serial[17], one[80];

        if (tk_p11_token_info(m, slots[i], &ti) != CKR_OK || !(ti.flags & CKF_TOKEN_INITIALIZED))
            continue;
        tk_cli_field(label, sizeof(label), ti.label, sizeof(ti.label));
        tk_cli_field(serial, sizeof(serial), ti.serialNumber, sizeof(ti.serialNumber));
        snprintf(one, sizeof(one), "%s'%s' (serial %s)", out[0] ? ", " : "", label, serial);
        OPENSSL_strlcat(out, one, cap);
    }
    OPENSSL_free(slots);
}

/*
 * A --key file that gives no key (tk_cli_parse kept why): the client would
 * fail on it too, and without the URI inside, which token to check is unknown.
 */
static TK_DOCTOR_STATUS check_key_file(TK_DOCTOR *d)
{
    if (d->cli->key_file_problem == NULL)
        return TK_DOCTOR_OK;
    return fail(d, "key file", "ssl.key.location must name the key reference 'tokenkey export' writes: "
                               "write it again with 'tokenkey export --key KEY --key-out FILE --force', "
                               "or give doctor --key LABEL or a pkcs11: URI",
                d->cli->key_file_problem);
}

static TK_DOCTOR_STATUS check_token(TK_DOCTOR *d, const TK_URI *uri)
{
    TK_P11_TOKEN *tokens[8];
    size_t n = 0;
    char *want = tk_cli_token_text(uri), msg[1536], present[1024], label[33], model[17], serial[17];
    const CK_TOKEN_INFO *ti;
    CK_RV rv = tk_cli_find_tokens(d->cli, uri, tokens, 8, &n);

    tokens_present(d->cli->m, present, sizeof(present));
    if (rv == TK_CKR_NO_TOKEN) {
        snprintf(msg, sizeof(msg), "no token matches '%s' in '%s'", want != NULL ? want : "?",
                 d->cli->module);
        OPENSSL_free(want);
        if (present[0] == '\0')
            return fail(d, "token", "the module sees no initialised token: is it plugged in and initialised? "
                                    "(see 'tokenkey tokens')", msg);
        tk_doctor_report(d, "token", TK_DOCTOR_FAIL, "%s", msg);
        /* The file names its token: --token would only conflict with it. */
        if (d->cli->key_file != NULL)
            tk_doctor_hint(d, "the key reference '%s' names a token that is not there (the tokens "
                              "present are %s): insert that token, or write the file again for a "
                              "key on a present token with 'tokenkey export --key KEY --key-out FILE "
                              "--force'", d->cli->key_file, present);
        else
            tk_doctor_hint(d, "the tokens present are %s: name one with --token LABEL or token= in "
                              "the key URI", present);
        return TK_DOCTOR_FAIL;
    }
    if (rv != CKR_OK || n > 1) {
        if (rv != CKR_OK)
            snprintf(msg, sizeof(msg), "cannot list the tokens of '%s': %s", d->cli->module,
                     tk_p11_rv_name(rv));
        else
            snprintf(msg, sizeof(msg), "%zu tokens match '%s': %s", n, want != NULL ? want : "?", present);
        OPENSSL_free(want);
        return fail(d, "token", rv != CKR_OK ? "run with TOKENKEY_DEBUG=1 to see the PKCS#11 calls"
                                             : "name one with --token 'pkcs11:serial=SERIAL'", msg);
    }
    OPENSSL_free(want);
    d->token = tokens[0];
    ti = tk_p11_token_cached_info(d->token);
    tk_cli_field(label, sizeof(label), ti->label, sizeof(ti->label));
    tk_cli_field(model, sizeof(model), ti->model, sizeof(ti->model));
    tk_cli_field(serial, sizeof(serial), ti->serialNumber, sizeof(ti->serialNumber));
    return tk_doctor_report(d, "token", TK_DOCTOR_OK, "'%s' (%s, serial %s) in slot %lu", label, model,
                            serial, (unsigned long)tk_p11_token_slot(d->token));
}

/* PKCS#11 v2.40 section 5.5, CK_TOKEN_INFO flags: read fresh, the cached copy is from before any login. */
static TK_DOCTOR_STATUS check_pin(TK_DOCTOR *d)
{
    CK_TOKEN_INFO ti;
    CK_RV rv = tk_p11_token_info(d->cli->m, tk_p11_token_slot(d->token), &ti);
    char msg[256];

    if (rv != CKR_OK) {
        snprintf(msg, sizeof(msg), "cannot read the token's state: %s", tk_p11_rv_name(rv));
        return fail(d, "pin", "run with TOKENKEY_DEBUG=1 to see the PKCS#11 calls", msg);
    }
    if (!(ti.flags & CKF_LOGIN_REQUIRED))
        return tk_doctor_report(d, "pin", TK_DOCTOR_OK, "the token needs no login");
    if (!(ti.flags & CKF_USER_PIN_INITIALIZED))
        return fail(d, "pin", "the security officer must set the user PIN (e.g. pkcs11-tool --init-pin)",
                    "the user PIN is not initialised (no CKF_USER_PIN_INITIALIZED)");
    if (ti.flags & CKF_USER_PIN_LOCKED)
        return fail(d, "pin", "the security officer must unlock the user PIN (e.g. pkcs11-tool "
                              "--login-type so --init-pin)", "the user PIN is locked (CKF_USER_PIN_LOCKED)");
    if (ti.flags & CKF_USER_PIN_FINAL_TRY)
        return fail(d, "pin", "verify the PIN with the token's own tool (one more wrong PIN locks it) or "
                              "have the security officer reset it",
                    "one PIN attempt is left (CKF_USER_PIN_FINAL_TRY): tokenkey will not spend it");
    /* A failed PIN is the more urgent news; a PIN to be changed is said with it. */
    if (ti.flags & CKF_USER_PIN_COUNT_LOW)
        return tk_doctor_report(d, "pin", TK_DOCTOR_WARN, "a wrong PIN was given since the last successful "
                                "login (CKF_USER_PIN_COUNT_LOW); the token does not say how many tries are "
                                "left%s", (ti.flags & CKF_USER_PIN_TO_BE_CHANGED)
                                              ? "; it also asks for a new user PIN "
                                                "(CKF_USER_PIN_TO_BE_CHANGED)" : "");
    if (ti.flags & CKF_USER_PIN_TO_BE_CHANGED)
        return tk_doctor_report(d, "pin", TK_DOCTOR_WARN, "the token asks for a new user PIN "
                                "(CKF_USER_PIN_TO_BE_CHANGED): set one with the token's own tool "
                                "(pkcs11-tool --change-pin); some tokens refuse logins until then");
    return tk_doctor_report(d, "pin", TK_DOCTOR_OK, "user PIN initialised, no failed login reported");
}

static void pin_source(const TK_CLI *cli, const TK_P11_TOKEN *t, char *out, size_t cap)
{
    /* PKCS#11 v2.40 section 5.6: the PIN pad reads it when tokenkey has none to send. */
    if ((tk_p11_token_cached_info(t)->flags & CKF_PROTECTED_AUTHENTICATION_PATH)
        && !tk_cli_pin_stored(cli))
        snprintf(out, cap, "the PIN entered on the token's PIN pad");
    else
        tk_cli_pin_source(cli, out, cap);
}

/* What the token's flags say after a rejected PIN (PKCS#11 has no count of tries left). */
static const char *pin_flags_now(TK_DOCTOR *d)
{
    CK_TOKEN_INFO ti;

    if (tk_p11_token_info(d->cli->m, tk_p11_token_slot(d->token), &ti) != CKR_OK)
        return "the token's PIN state could not be read";
    if (ti.flags & CKF_USER_PIN_LOCKED)
        return "the token now reports the PIN locked (CKF_USER_PIN_LOCKED)";
    if (ti.flags & CKF_USER_PIN_FINAL_TRY)
        return "the token now reports one try left (CKF_USER_PIN_FINAL_TRY)";
    if (ti.flags & CKF_USER_PIN_COUNT_LOW)
        return "the token now reports a failed login (CKF_USER_PIN_COUNT_LOW), not how many tries are left";
    return "the token reports no PIN counter flag";
}

/*
 * The PIN file the login reads (--pin-file, else the client's file:
 * source), when one can be read by others: the client works, but the PIN
 * is not a secret there. 0 when there is none, or it is private.
 */
static int pin_file_exposed(TK_DOCTOR *d, char *path, size_t cap, mode_t *mode)
{
    struct stat st;
    int failed = 0;
    TK_PIN_KIND kind;
    char *spec = d->cli->pin_file == NULL ? tk_cli_pin_spec(d->cli, &failed) : NULL;
    const char *target = d->cli->pin_file;

    if (spec != NULL && (target = tk_pin_spec_target(spec, &kind)) != NULL && kind != TK_PIN_FILE)
        target = NULL;
    snprintf(path, cap, "%s", target != NULL ? target : "");
    OPENSSL_free(spec);
    /* The provider's own rule for the same warning (pinfile.c). */
    if (path[0] == '\0' || stat(path, &st) != 0 || !S_ISREG(st.st_mode)
        || !tk_pinfile_too_open((unsigned)st.st_mode))
        return 0;
    *mode = st.st_mode & 0777;
    return 1;
}

static TK_DOCTOR_STATUS check_login(TK_DOCTOR *d)
{
    TK_P11_PIN_GETTER getter = tk_cli_pin_getter(d->cli);
    char source[1100], msg[1400], name[PATH_MAX + 3], hint[PATH_MAX + 400];
    const char *origin;
    struct stat st;
    CK_RV rv;

    if (!(tk_p11_token_cached_info(d->token)->flags & CKF_LOGIN_REQUIRED))
        return tk_doctor_report(d, "login", TK_DOCTOR_OK, "the token needs no login");
    /*
     * No PIN source the client can use (no 'pin' in its openssl.cnf, no
     * TOKENKEY_PIN_*, no pin-source= in the URI): the client fails there,
     * "no PIN available", whatever a person could type at a prompt here.
     */
    if (d->cli->pin_file == NULL && tk_cli_pin_origin(d->cli) == NULL
        && !(tk_p11_token_cached_info(d->token)->flags & CKF_PROTECTED_AUTHENTICATION_PATH))
        return fail(d, "login", "give the client a PIN file: 'pin = file:/path' in the tokenkey section "
                                "of its openssl.cnf ('tokenkey kafka-config --pin-file FILE' writes it), "
                                "or TOKENKEY_PIN_FILE in its environment",
                    "the client has no PIN source, and fails with \"no PIN available\"");
    pin_source(d->cli, d->token, source, sizeof(source));
    /*
     * Say what is wrong with the PIN file here rather than in a line of its
     * own. Without opening it: a pipe would block here (the PIN getter waits
     * for one with a time limit), and its first reader would take the PIN.
     */
    if (d->cli->pin_file != NULL) {
        msg[0] = '\0';
        if (stat(d->cli->pin_file, &st) != 0 || access(d->cli->pin_file, R_OK) != 0)
            snprintf(msg, sizeof(msg), "cannot read PIN file %s: %s",
                     tk_pin_target_display(TK_PIN_FILE, d->cli->pin_file, name, sizeof(name)),
                     strerror(errno));
        else if (S_ISREG(st.st_mode) && st.st_size == 0)
            snprintf(msg, sizeof(msg), "PIN file '%s' is empty", d->cli->pin_file);
        if (msg[0] != '\0')
            return fail(d, "login", pin_file_hint, msg);
    }
    rv = tk_p11_login(d->token, &getter);
    switch (rv) {
    case CKR_OK:
        if (pin_file_exposed(d, name, sizeof(name), &st.st_mode))
            return tk_doctor_report(d, "login", TK_DOCTOR_WARN, "logged in with %s, but '%s' can be "
                                    "read by other users (mode %04o): chmod 600 it", source, name,
                                    (unsigned)st.st_mode);
        return tk_doctor_report(d, "login", TK_DOCTOR_OK, "logged in with %s", source);
    case CKR_PIN_INCORRECT:
    case CKR_PIN_INVALID:
    case CKR_PIN_LEN_RANGE:
        tk_doctor_report(d, "login", TK_DOCTOR_FAIL, "the token rejected %s (%s)", source,
                         tk_p11_rv_name(rv));
        tk_doctor_hint(d, "the token rejected %s: check it; tokenkey did not retry, and %s", source,
                       pin_flags_now(d));
        return TK_DOCTOR_FAIL;
    case TK_CKR_PIN_UNAVAILABLE:
        snprintf(msg, sizeof(msg), "no PIN: %s could not be had (see the message above)", source);
        /* The client's source: check_login failed earlier when it has none. */
        if (d->cli->pin_file != NULL || (origin = tk_cli_pin_origin(d->cli)) == NULL)
            return fail(d, "login", pin_file_hint, msg);
        /* Not "or pass --pin-file": doctor would pass, and the client still fail. */
        snprintf(hint, sizeof(hint), "fix %s, where the client reads it", origin);
        return fail(d, "login", hint, msg);
    case CKR_PIN_LOCKED:
    case TK_CKR_PIN_FINAL_TRY:
        snprintf(msg, sizeof(msg), "not attempted: %s", pin_flags_now(d));
        return fail(d, "login", "the PIN state changed while doctor ran: run it again", msg);
    default:
        snprintf(msg, sizeof(msg), "login failed: %s", tk_p11_rv_name(rv));
        return fail(d, "login", "run with TOKENKEY_DEBUG=1 to see the PKCS#11 calls", msg);
    }
}

static TK_DOCTOR_STATUS check_key(TK_DOCTOR *d, const TK_URI *uri)
{
    CK_OBJECT_HANDLE keys[32];
    CK_ULONG n = 0;
    TK_URI *found = NULL, *all = NULL;
    char *want = tk_cli_key_uri_text(d->cli, uri), list[1536], msg[2048];
    CK_RV rv = tk_p11_session_get(d->token, &d->session);

    if (rv == CKR_OK)
        rv = tk_cli_find_keys(&d->session, uri, keys, 32, &n);
    if (rv != CKR_OK) {
        snprintf(msg, sizeof(msg), "cannot search the token: %s", tk_p11_rv_name(rv));
        OPENSSL_free(want);
        return fail(d, "key", "run with TOKENKEY_DEBUG=1 to see the PKCS#11 calls", msg);
    }
    if (n != 1) {
        if (n > 1)
            snprintf(msg, sizeof(msg), "%lu private keys match '%s'", (unsigned long)n,
                     want != NULL ? want : "?");
        else
            snprintf(msg, sizeof(msg), "no private key matches '%s'%s", want != NULL ? want : "?",
                     tk_cli_key_file_note(d->cli->key));
        OPENSSL_free(want);
        if (n > 1) {
            char *first = tk_objects_uri(&d->session, keys[0], CKO_PRIVATE_KEY);

            tk_cli_key_list(&d->session, keys, n, list, sizeof(list));
            tk_doctor_report(d, "key", TK_DOCTOR_FAIL, "%s: %s", msg, list);
            tk_doctor_hint(d, "name one with --key and its id=, e.g. --key '%s'",
                           first != NULL ? first : "?");
            OPENSSL_free(first);
            return TK_DOCTOR_FAIL;
        }
        /* None: say which keys the token does have. */
        if (tk_uri_parse("pkcs11:", &all, NULL) == TK_URI_OK
            && tk_cli_find_keys(&d->session, all, keys, 32, &n) == CKR_OK && n > 0)
            tk_cli_key_labels(&d->session, keys, n, list, sizeof(list));
        else
            snprintf(list, sizeof(list), "%s", "");
        tk_uri_free(all);
        tk_doctor_report(d, "key", TK_DOCTOR_FAIL, "%s", msg);
        if (list[0] != '\0')
            tk_doctor_hint(d, "the token's private keys are %s: name one with --key", list);
        else
            tk_doctor_hint(d, "the token holds no private key: make one with 'tokenkey keygen'");
        return TK_DOCTOR_FAIL;
    }
    OPENSSL_free(want);
    d->key_uri = tk_objects_uri(&d->session, keys[0], CKO_PRIVATE_KEY);
    if (tk_p11_get_attr_alloc(&d->session, keys[0], CKA_ID, &d->key_id, &d->key_id_len) != CKR_OK)
        d->key_id_len = 0;
    /* Load exactly the key found, through the provider, as an application would. */
    if (d->key_uri == NULL || tk_uri_parse(d->key_uri, &found, NULL) != TK_URI_OK
        || (d->pkey = tk_cli_load_key(d->cli, found)) == NULL) {
        tk_uri_free(found);
        snprintf(msg, sizeof(msg), "the provider cannot load '%s' (see the errors above)",
                 d->key_uri != NULL ? d->key_uri : "?");
        return fail(d, "key", "run with TOKENKEY_DEBUG=1 to see the PKCS#11 calls", msg);
    }
    tk_uri_free(found);
    d->pss_only = tk_cli_rsa_pss_only(&d->session, keys[0], d->pkey);
    return tk_doctor_report(d, "key", TK_DOCTOR_OK, "%s (%s, %d bits%s)", d->key_uri,
                            EVP_PKEY_get0_type_name(d->pkey), EVP_PKEY_get_bits(d->pkey),
                            d->pss_only ? ", signs with PSS only" : "");
}

int tk_cmd_doctor(int argc, char **argv)
{
    TK_CLI cli = { .prog = "tokenkey", .cmd = "doctor" };
    TK_DOCTOR d = { .cli = &cli };
    const TK_CLI_OPTION opts[] = {
        { "--cert", &d.cert_file, NULL, "the certificate file the client presents: the certificate, then "
                                         "its intermediates (default: the ssl.certificate.location of "
                                         "the client.properties beside a --key FILE that names it, "
                                         "else the token's, with the key's CKA_ID)" },
        { "--ca", &d.ca_file, NULL, "PEM file of the CAs the brokers trust for client certificates: verify the chain against it" },
        { "--chain", &d.chain_file, NULL, "PEM file of intermediate CA certificates" },
        { NULL, NULL, NULL, NULL }
    };
    TK_URI *uri;
    int code;

    if (tk_cli_parse(&cli, argc, argv, TK_USES_KEY_ACCESS | TK_USES_JSON | TK_USES_KEY_FILE_REPORT, opts,
                     "[--key LABEL|URI|FILE] [--token LABEL|URI] [--module PATH] [--pin-file FILE] [--cert FILE] "
                     "[--ca CAFILE] [--chain FILE] [--json]", &code) < 0)
        return code;
    if ((uri = tk_cli_uri(&cli, cli.key)) == NULL)
        return TK_EXIT_SETUP;
    /*
     * In order; the first FAIL stops. Up to the key, a FAIL means the module,
     * token, PIN or key cannot be used (exit 3, as for every command); after
     * it, the certificate a client would present is what failed (exit 1).
     */
    code = TK_EXIT_SETUP;
    if (check_provider(&d) == TK_DOCTOR_FAIL || check_module(&d) == TK_DOCTOR_FAIL
        || check_key_file(&d) == TK_DOCTOR_FAIL || check_token(&d, uri) == TK_DOCTOR_FAIL
        || check_pin(&d) == TK_DOCTOR_FAIL || check_login(&d) == TK_DOCTOR_FAIL
        || check_key(&d, uri) == TK_DOCTOR_FAIL)
        goto end;
    code = TK_EXIT_FAILURE;
    tk_doctor_client_files(&d); /* a report line at most: it never fails */
    if (tk_doctor_check_cert(&d) == TK_DOCTOR_FAIL || tk_doctor_check_chain(&d) == TK_DOCTOR_FAIL
        || tk_doctor_check_dates(&d) == TK_DOCTOR_FAIL || tk_doctor_check_signature(&d) == TK_DOCTOR_FAIL)
        goto end;
    code = TK_EXIT_OK;
end:
    if (cli.json)
        tk_doctor_print_json(&d);
    for (int k = 0; k < d.n; k++)
        OPENSSL_free(d.results[k].detail);
    OPENSSL_free(d.hint);
    OPENSSL_free(d.client_cert_file);
    OPENSSL_free(d.key_uri);
    OPENSSL_free(d.key_id);
    sk_X509_pop_free(d.chain, X509_free);
    sk_X509_pop_free(d.cert_file_certs, X509_free);
    X509_free(d.cert);
    EVP_PKEY_free(d.pkey);
    tk_p11_session_put(&d.session, CKR_OK);
    tk_uri_free(uri);
    tk_cli_close(&cli);
    return code;
}
