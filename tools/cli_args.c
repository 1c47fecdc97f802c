/*
 * The command line of every subcommand (see tk_cli_parse in cli.h): one
 * parser, so that every subcommand refuses the same mistakes the same way
 * before it touches a token. `delete` with a stray argument must not
 * delete, and a PIN typed into a URI must not be echoed or used.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "cli.h"
#include "config.h"
#include "store/keyref.h"

static const TK_CLI_OPTION *find_option(const TK_CLI_OPTION *opts, const char *name, size_t len)
{
    for (; opts != NULL && opts->name != NULL; opts++)
        if (strlen(opts->name) == len && strncmp(opts->name, name, len) == 0)
            return opts;
    return NULL;
}

static void print_help(const TK_CLI *cli, const char *usage, const TK_CLI_OPTION *common,
                       const TK_CLI_OPTION *extra)
{
    printf("usage: %s %s %s\n\noptions:\n", cli->prog, cli->cmd, usage);
    for (const TK_CLI_OPTION *o = extra; o != NULL && o->name != NULL; o++)
        printf("  %-22s %s\n", o->name, o->help);
    for (const TK_CLI_OPTION *o = common; o->name != NULL; o++)
        printf("  %-22s %s\n", o->name, o->help);
}

/* The text before any '=': what the user meant as the option's name. */
static size_t name_length(const char *arg)
{
    const char *eq = strchr(arg, '=');

    return eq != NULL ? (size_t)(eq - arg) : strlen(arg);
}

int tk_cli_mentions_pin_value(const char *text)
{
    for (; *text != '\0'; text++)
        if (strncasecmp(text, "pin-value", 9) == 0)
            return 1;
    return 0;
}

/* A PIN on the command line is visible to every user via ps: refused before anything else. */
static int pin_given(const TK_CLI *cli, int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        size_t len = name_length(argv[i]);

        if ((len == 5 && strncmp(argv[i], "--pin", 5) == 0)
            || (len == 8 && strncmp(argv[i], "--so-pin", 8) == 0)) {
            tk_cli_error(cli, 0, "PINs are never taken from the command line: use --pin-file FILE, "
                                 "TOKENKEY_PIN_FILE, or the prompt");
            return 1;
        }
    }
    return 0;
}

/* What the parse has seen so far: the options known, and those given (defaults are not). */
typedef struct {
    const TK_CLI_OPTION *common, *unused, *extra;
    const TK_CLI_OPTION *given[32];
    size_t n_given;
} PARSE;

static int given_before(PARSE *p, const TK_CLI_OPTION *o)
{
    for (size_t k = 0; k < p->n_given; k++)
        if (p->given[k] == o)
            return 1;
    if (p->n_given < sizeof(p->given) / sizeof(p->given[0]))
        p->given[p->n_given++] = o;
    return 0;
}

/*
 * One "--name[=value]" at argv[*i]: stores it and returns 1, or prints why
 * not and returns 0. Messages quote the name, never the value (it may be
 * a PIN typed in the wrong place).
 */
static int take_option(TK_CLI *cli, PARSE *p, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    size_t len = name_length(arg);
    const char *value = arg[len] == '=' ? arg + len + 1 : NULL;
    const TK_CLI_OPTION *o;

    if ((o = find_option(p->extra, arg, len)) == NULL && (o = find_option(p->common, arg, len)) == NULL) {
        if (find_option(p->unused, arg, len) != NULL)
            tk_cli_error(cli, 0, "%.*s is not an option of '%s %s' (see %s %s --help)", (int)len, arg,
                         cli->prog, cli->cmd, cli->prog, cli->cmd);
        else
            tk_cli_error(cli, 0, "unknown option '%.*s' (see %s %s --help)", (int)len, arg,
                         cli->prog, cli->cmd);
        return 0;
    }
    if (given_before(p, o)) {
        tk_cli_error(cli, 0, "option '%s' given twice: give it once", o->name);
        return 0;
    }
    if (o->flag != NULL) {
        if (value != NULL) {
            tk_cli_error(cli, 0, "option '%s' takes no value", o->name);
            return 0;
        }
        *o->flag = 1;
        return 1;
    }
    /* "--key --yes": the next option is not this one's value. */
    if (value == NULL && *i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0)
        value = argv[++*i];
    if (value == NULL || *value == '\0') {
        tk_cli_error(cli, 0, "option '%s' needs a value", o->name);
        return 0;
    }
    *o->value = value;
    return 1;
}

/*
 * One argument that is not an option: the command's one (TK_USES_ARG),
 * else refused. A stray one is named by its place, not quoted: it may be
 * a PIN typed where an option's value was meant ("--json 123456").
 */
static int take_argument(TK_CLI *cli, unsigned uses, const char *arg, int place)
{
    if ((uses & TK_USES_ARG) && cli->arg == NULL && *arg != '\0') {
        cli->arg = arg;
        return 1;
    }
    if (*arg == '\0')
        tk_cli_error(cli, 0, "an empty argument (see %s %s --help)", cli->prog, cli->cmd);
    else if (tk_cli_mentions_pin_value(arg))
        tk_cli_error(cli, 0, "unexpected argument, a URI with pin-value= (not shown: PINs are never "
                             "taken from the command line) (see %s %s --help)", cli->prog, cli->cmd);
    else
        tk_cli_error(cli, 0, "unexpected argument %d after '%s %s' (not shown: it may be a PIN "
                             "typed in the wrong place; see %s %s --help)", place, cli->prog,
                     cli->cmd, cli->prog, cli->cmd);
    return 0;
}

/*
 * A pkcs11: URI given as what (e.g. "--key URI"): refused when it holds a PIN
 * or does not parse, without quoting it (the PIN would show). Labels pass.
 */
static int uri_argument_ok(TK_CLI *cli, const char *what, const char *text, TK_URI **parsed)
{
    TK_URI_ERROR err;

    *parsed = NULL;
    if (text == NULL)
        return 1;
    /* Any mention at all: the URI must not be parsed, echoed or used. */
    if (tk_cli_mentions_pin_value(text)) {
        tk_cli_error(cli, 0, "the %s holds pin-value=: PINs are never taken from the command line "
                             "(ps shows it to every user): use --pin-file FILE, TOKENKEY_PIN_FILE, "
                             "or the prompt", what);
        return 0;
    }
    if (!tk_uri_is_pkcs11(text))
        return 1;
    if (tk_uri_parse(text, parsed, &err) != TK_URI_OK) {
        tk_cli_error(cli, 0, "the %s does not parse: %s at offset %zu%s%s%s", what,
                     tk_uri_strerror(err.code), err.offset, err.attr[0] != '\0' ? " (attribute '" : "",
                     err.attr, err.attr[0] != '\0' ? "')" : "");
        return 0;
    }
    /* The CLI opens one module, chosen before any URI is read: never another one quietly. */
    if ((*parsed)->module_path != NULL || (*parsed)->module_name != NULL) {
        tk_cli_error(cli, 0, "the %s names a PKCS#11 library (%s=): give the module with --module "
                             "PATH instead", what,
                     (*parsed)->module_path != NULL ? "module-path" : "module-name");
        tk_uri_free(*parsed);
        *parsed = NULL;
        return 0;
    }
    return 1;
}

/*
 * Every command takes a key pair by its private key, and finds its public
 * key and certificates from there: a key URI's type= naming another class
 * would be ignored (and delete's type=cert must not delete the key pair the
 * certificate belongs to), so it is refused. what: how the key was given.
 */
static int key_type_ok(TK_CLI *cli, const char *what, const TK_URI *key)
{
    if (key->type == TK_URI_TYPE_ANY || key->type == TK_URI_TYPE_PRIVATE)
        return 1;
    tk_cli_error(cli, 0, "the %s names a %s object: %s takes a key pair by its private "
                         "key (type=private)", what, tk_uri_type_name(key->type), cli->cmd);
    return 0;
}

/*
 * A key given as the path of a key reference (the key.pem that `tokenkey
 * export` writes and ssl.key.location names) stands for the URI in it, so
 * that `doctor --key` takes what the client is configured with. Only a
 * path with a '/' (./key.pem): a label that happens to be the name of a
 * file in the current directory stays a label. Returns 0 after printing
 * why a key reference could not be used.
 */
static int read_key_file(TK_CLI *cli, const char **key)
{
    /* For the process's life, like argv, whatever path the command takes to its end. */
    static char *uris[2];
    static size_t n_uris;
    BIO *in;
    unsigned char *der = NULL;
    size_t len = 0;
    TK_KEYREF_KIND kind;
    TK_KEYREF_RESULT r;
    TK_URI *uri = NULL;
    char why[256];
    int key_after;

    if (*key == NULL || tk_uri_is_pkcs11(*key) || strchr(*key, '/') == NULL)
        return 1;
    if ((in = BIO_new_file(*key, "rb")) == NULL) {
        ERR_clear_error();
        return tk_cli_error(cli, 0, "cannot read key reference '%s': give a readable key reference "
                                    "file, a key label or a pkcs11: URI", *key);
    }
    r = tk_keyref_read_pem(in, &der, &len, &kind, why, sizeof(why));
    key_after = r == TK_KEYREF_OK && tk_keyref_key_follows(in);
    BIO_free(in);
    if (r == TK_KEYREF_OK)
        r = tk_keyref_from_der(der, len, kind, &uri, why, sizeof(why));
    OPENSSL_clear_free(der, len); /* a hand-made key reference may hold a pin-value */
    if (r == TK_KEYREF_NOT_OURS)
        return tk_cli_error(cli, 0, "'%s' is not a key reference (-----BEGIN TOKENKEY KEY "
                                    "REFERENCE-----): give one, a key label or a pkcs11: URI", *key);
    if (r == TK_KEYREF_BAD) { /* a PIN in it included (tk_keyref_from_der) */
        tk_uri_free(uri);
        return tk_cli_error(cli, 0, "key reference '%s': %s", *key, why);
    }
    if (key_after) {
        tk_uri_free(uri);
        return tk_cli_error(cli, 0, "key reference '%s' is followed by another key in the same "
                                    "file (or by a PEM block that does not read, which may be "
                                    "one): a client reading it with PEM_read_bio_PrivateKey "
                                    "(librdkafka's ssl.key.location) takes that key instead, "
                                    "without a word, whenever the token cannot be used; keep the "
                                    "key reference alone in its file (tokenkey export writes "
                                    "one)", *key);
    }
    snprintf(why, sizeof(why), "key reference '%s'", *key);
    if (!key_type_ok(cli, why, uri)) {
        tk_uri_free(uri);
        return 0;
    }
    if (n_uris == sizeof(uris) / sizeof(uris[0]) || (uris[n_uris] = tk_uri_format(uri)) == NULL) {
        tk_uri_free(uri);
        return tk_cli_error(cli, 0, "out of memory");
    }
    tk_uri_free(uri);
    cli->key_file = *key;
    *key = uris[n_uris++];
    return 1;
}

/*
 * Where the command reports on the key file itself (doctor: a broken
 * ssl.key.location is what it is run to find), why the file cannot be used
 * is kept in cli->key_file_problem rather than printed as a usage error,
 * and --key stays the path, found nowhere.
 */
static int key_file_uri(TK_CLI *cli, const char **key, unsigned uses)
{
    int ok;

    if (!(uses & TK_USES_KEY_FILE_REPORT) || key != &cli->key)
        return read_key_file(cli, key);
    cli->keep_error = &cli->key_file_problem;
    ok = read_key_file(cli, key);
    cli->keep_error = NULL;
    if (!ok && cli->key_file_problem != NULL) {
        cli->key_file = *key;
        return 1;
    }
    if (!ok) /* the reason could not be kept (out of memory): never a silent exit */
        tk_cli_error(cli, 0, "key file '%s' cannot be used (out of memory)", *key);
    return ok;
}

/* A --token URI names a token: object attributes there would be ignored, so they are refused. */
static int token_uri_ok(TK_CLI *cli, const TK_URI *token)
{
    const char *attr = token->object != NULL ? "object"
                       : token->has_id ? "id"
                       : token->type != TK_URI_TYPE_ANY ? "type"
                       : NULL;

    if (attr == NULL)
        return 1;
    tk_cli_error(cli, 0, "the --token URI names an object (%s=): give the key with --key", attr);
    return 0;
}

/*
 * --token narrows the key URI's token (tk_cli_uri joins them): where both
 * name a token attribute they must agree, else which one would win is a
 * guess. what: how the key was given ("--key URI").
 */
static int token_agrees(TK_CLI *cli, const char *what, const TK_URI *key, const TK_URI *token_uri)
{
    TK_URI label = { .token = (char *)cli->token };
    const TK_URI *token = token_uri != NULL ? token_uri : &label;
    const char *attr = tk_cli_token_conflict(key, token);

    if (attr == NULL)
        return 1;
    tk_cli_error(cli, 0, "--token and the %s name different tokens (%s=): give the token once", what,
                 attr);
    return 0;
}

/* The URIs on the command line: each well-formed, without a PIN, and telling one story. */
static int uris_ok(TK_CLI *cli, unsigned uses)
{
    TK_URI *key_uri = NULL, *token_uri = NULL, *arg_uri = NULL;
    int ok = key_file_uri(cli, &cli->key, uses) && key_file_uri(cli, &cli->arg, uses)
             && uri_argument_ok(cli, "--key URI", cli->key, &key_uri)
             && uri_argument_ok(cli, "--token URI", cli->token, &token_uri)
             && uri_argument_ok(cli, "key URI", cli->arg, &arg_uri)
             && (token_uri == NULL || token_uri_ok(cli, token_uri))
             && (key_uri == NULL || key_type_ok(cli, "--key URI", key_uri))
             && (arg_uri == NULL || key_type_ok(cli, "key URI", arg_uri))
             && (key_uri == NULL || cli->token == NULL
                 || token_agrees(cli, "--key URI", key_uri, token_uri))
             && (arg_uri == NULL || cli->token == NULL
                 || token_agrees(cli, "key URI", arg_uri, token_uri));

    tk_uri_free(key_uri);
    tk_uri_free(token_uri);
    tk_uri_free(arg_uri);
    return ok;
}

/* The shared options, each with the bit a subcommand asks for it by. */
static void shared_options(TK_CLI *cli, unsigned uses, int *help, TK_CLI_OPTION *common,
                           TK_CLI_OPTION *unused)
{
    const struct {
        unsigned bit;
        TK_CLI_OPTION option;
    } shared[] = {
        { TK_USES_MODULE, { "--module", &cli->module, NULL,
                            "PKCS#11 module path (default: openssl.cnf's pkcs11-module, else "
                            "$TOKENKEY_MODULE)" } },
        { TK_USES_TOKEN, { "--token", &cli->token, NULL, "token label or pkcs11: URI" } },
        { TK_USES_PIN, { "--pin-file", &cli->pin_file, NULL,
                         "read the user PIN from FILE (else the client's: the URI's pin-source, "
                         "openssl.cnf's pin, $TOKENKEY_PIN_SOURCE, _FILE, $TOKENKEY_PIN; "
                         "else a prompt)" } },
        { TK_USES_KEY, { "--key", &cli->key, NULL,
                         "key label, pkcs11: URI, or key reference file (./key.pem)" } },
        { TK_USES_JSON, { "--json", NULL, &cli->json, "machine-readable output" } },
    };
    size_t nc = 0, nu = 0;

    /* Those it does not take are kept too, for a clearer refusal than "unknown". */
    for (size_t k = 0; k < sizeof(shared) / sizeof(shared[0]); k++) {
        if (uses & shared[k].bit)
            common[nc++] = shared[k].option;
        else
            unused[nu++] = shared[k].option;
    }
    common[nc++] = (TK_CLI_OPTION){ "--help", NULL, help, "this help" };
    common[nc] = (TK_CLI_OPTION){ NULL, NULL, NULL, NULL };
    unused[nu] = (TK_CLI_OPTION){ NULL, NULL, NULL, NULL };
}

int tk_cli_parse(TK_CLI *cli, int argc, char **argv, unsigned uses, const TK_CLI_OPTION *extra,
                 const char *usage, int *exit_code)
{
    int help = 0, options_done = 0, ok = 1;
    TK_CLI_OPTION common[7], unused[6];
    PARSE p = { .common = common, .unused = unused, .extra = extra };

    shared_options(cli, uses, &help, common, unused);
    *exit_code = TK_EXIT_USAGE;
    if (pin_given(cli, argc, argv))
        return -1;
    for (int i = 1; i < argc && ok; i++) {
        const char *arg = argv[i];

        if (!options_done && strcmp(arg, "--") == 0) {
            options_done = 1;
        } else if (!options_done && strcmp(arg, "-h") == 0) {
            help = 1;
        } else if (!options_done && strncmp(arg, "--", 2) == 0) {
            ok = take_option(cli, &p, argc, argv, &i);
        } else if (!options_done && arg[0] == '-' && arg[1] != '\0') {
            tk_cli_error(cli, 0, "unknown option '%.*s': options start with -- (see %s %s --help)",
                         (int)name_length(arg), arg, cli->prog, cli->cmd);
            ok = 0;
        } else {
            ok = take_argument(cli, uses, arg, i);
        }
    }
    if (ok && help) {
        print_help(cli, usage, common, extra);
        *exit_code = TK_EXIT_OK;
        goto refused;
    }
    if (!ok || !uris_ok(cli, uses))
        goto refused;
    if (cli->module == NULL) {
        const TK_CONFIG *cfg = tk_cli_client_config(cli);

        if (cfg == NULL) {
            *exit_code = TK_EXIT_SETUP;
            goto refused;
        }
        cli->module = cfg->module;
    }
    return 0;
refused:
    /* The command returns (help, or refused) without tk_cli_close: what parsing kept goes here. */
    OPENSSL_free(cli->key_file_problem);
    cli->key_file_problem = NULL;
    return -1;
}
