/*
 * The tokenkey command line: shared pieces of the subcommands.
 * Conventions (after wireguard-tools' wg): data to stdout, diagnostics to
 * stderr, each error one line that quotes the bad value and says what to
 * do; PINs from a file, the client's PIN source or a prompt without echo,
 * never argv.
 */
#ifndef TK_CLI_H
#define TK_CLI_H

#include <stdio.h>

#include <openssl/evp.h>

#include "p11/p11.h"

/* Exit codes, documented in tokenkey(1). */
enum {
    TK_EXIT_OK = 0,
    TK_EXIT_FAILURE = 1,   /* the operation failed (token said no, check failed) */
    TK_EXIT_USAGE = 2,     /* bad command line */
    TK_EXIT_SETUP = 3,     /* module, token, PIN or key not usable */
};

/* A file written under a temporary name, waiting for tk_cli_files_commit (cli_files.c). */
typedef struct {
    char *path;            /* as the command names it */
    char *target;          /* what is replaced: path, or the file a link at path names */
    char *tmp;             /* target.tmp.XXXXXX; "" once in place */
    char *old;             /* while committing: target.old.XXXXXX, what it replaced */
    int replace;           /* --force: an existing target is replaced */
} TK_CLI_STAGED;

typedef struct tk_cli {
    const char *prog;      /* "tokenkey" */
    const char *cmd;       /* the subcommand */
    const char *module;    /* --module, else the client's (tk_cli_client_config) */
    const char *token;     /* --token LABEL or pkcs11: URI */
    const char *pin_file;  /* --pin-file */
    const char *key;       /* --key LABEL or pkcs11: URI (a key reference file's, after tk_cli_parse) */
    const char *key_file;  /* the key reference file --key named, if it named one */
    char *key_file_problem; /* why that file cannot be used, kept for a report (TK_USES_KEY_FILE_REPORT) */
    char **keep_error;     /* while set, tk_cli_error keeps its message here instead of printing it */
    const char *arg;       /* the one argument that is not an option (TK_USES_ARG) */
    int json;              /* --json */
    TK_P11_MODULE *m;      /* opened by tk_cli_open_module */
    OSSL_LIB_CTX *libctx;  /* made by tk_cli_libctx */
    OSSL_PROVIDER *providers[2]; /* default and tokenkey in libctx, unloaded by tk_cli_close */
    TK_CLI_STAGED staged[8]; /* files written, not yet in place (tk_cli_files_commit) */
    int n_staged;
} TK_CLI;

/* What to do when no PKCS#11 module is known: each place the CLI looks for one. */
#define TK_CLI_MODULE_HINT "pass --module PATH, or set pkcs11-module in OPENSSL_CONF's tokenkey section " \
                           "or TOKENKEY_MODULE"

/* One line to stderr: "tokenkey CMD: <message>". Returns TK_EXIT_* given. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int tk_cli_error(const TK_CLI *cli, int code, const char *fmt, ...);

typedef struct tk_cli_option {
    const char *name;      /* "--label" */
    const char **value;    /* where the argument goes, NULL for a flag */
    int *flag;             /* set to 1 for a flag */
    const char *help;
} TK_CLI_OPTION;

/* The shared options a subcommand takes (tk_cli_parse's uses); --help always. */
enum {
    TK_USES_MODULE = 1 << 0,   /* --module PATH */
    TK_USES_TOKEN = 1 << 1,    /* --token LABEL|URI */
    TK_USES_PIN = 1 << 2,      /* --pin-file FILE */
    TK_USES_KEY = 1 << 3,      /* --key LABEL|URI */
    TK_USES_JSON = 1 << 4,     /* --json */
    TK_USES_ARG = 1 << 5,      /* one argument that is not an option, in cli->arg */
    /* A --key file that cannot be used is not a usage error: cli->key_file_problem says why. */
    TK_USES_KEY_FILE_REPORT = 1 << 6,
    TK_USES_KEY_ACCESS = TK_USES_MODULE | TK_USES_TOKEN | TK_USES_PIN | TK_USES_KEY,
};

/*
 * Parse the whole command line: the shared options in uses and the
 * subcommand's own (extra), as "--opt VALUE" or "--opt=VALUE". Refuses,
 * with one line and exit code 2: an option the subcommand does not take, an
 * option given twice, a stray argument, a PIN on the command line
 * (--pin, or pin-value= in a URI: ps shows argv to every user), a pkcs11:
 * URI that does not parse (never quoted: it may hold a secret), and a
 * --token that contradicts the --key URI's token. Returns 0, or -1 after
 * printing an error or the help (then *exit_code is 0).
 */
int tk_cli_parse(TK_CLI *cli, int argc, char **argv, unsigned uses, const TK_CLI_OPTION *extra,
                 const char *usage, int *exit_code);

/*
 * The settings the client's tokenkey provider gets (cli_config.c): the
 * tokenkey section of OPENSSL_CONF (else OpenSSL's default file), then the
 * environment. Read once; NULL after printing why (a file that does not parse,
 * a bad value).
 */
struct tk_config;
const struct tk_config *tk_cli_client_config(const TK_CLI *cli);

/* Load the module (--module, else tk_cli_client_config's); prints the error. */
int tk_cli_open_module(TK_CLI *cli);
void tk_cli_close(TK_CLI *cli);

/*
 * Whether text mentions pin-value (any case, anywhere): such a --key is
 * refused unread and unechoed, as a URI that may hold a PIN.
 */
int tk_cli_mentions_pin_value(const char *text);
/* The PIN getter: --pin-file, then tk_cli_pin_spec's source, then a prompt without echo. */
TK_P11_PIN_GETTER tk_cli_pin_getter(TK_CLI *cli);
/* Whether the PIN is kept somewhere (--pin-file, a pin-source, the environment), not typed. */
int tk_cli_pin_stored(const TK_CLI *cli);
/*
 * That prompt (cli_prompt.c): a line from /dev/tty with echo off; CKR_OK,
 * or TK_CKR_PIN_UNAVAILABLE after printing why (no terminal, no PIN typed,
 * a line too long for cap).
 */
CK_RV tk_cli_pin_from_prompt(TK_CLI *cli, char *buf, size_t cap, size_t *len);
/*
 * Where the PIN comes from when --pin-file does not say: the --key or --token
 * URI's pin-source=, else the client's setting (tk_cli_client_config: its
 * openssl.cnf section's pin, else TOKENKEY_PIN_SOURCE, TOKENKEY_PIN_FILE,
 * TOKENKEY_PIN, the first one set), so that doctor and the other commands log
 * in the way that client does. A spec as the provider reads it (file:/path,
 * env:NAME, ...; tk_pin_spec_target), to OPENSSL_free; NULL with *failed = 0
 * when there is none, *failed = 1 after printing why.
 */
char *tk_cli_pin_spec(const TK_CLI *cli, int *failed);

/*
 * Where the setting that names the PIN source is, for hints ("'pin' in
 * section [tokenkey] of '/etc/ssl/openssl.cnf'", "pin-source= in the --key or
 * --token URI", the environment); NULL when there is none (the prompt).
 */
const char *tk_cli_pin_origin(const TK_CLI *cli);
/* The tokenkey section's 'pin', where tk_cli_client_config found it; NULL if it has none. */
const char *tk_cli_client_pin_origin(void);
/* Where that getter will take the PIN from, for messages ("the PIN from '/path'"). */
void tk_cli_pin_source(const TK_CLI *cli, char *out, size_t cap);

/* A PKCS#11 text field without its blank padding, for printing. */
void tk_cli_field(char *out, size_t cap, const unsigned char *field, size_t size);

/*
 * The length of the UTF-8 character at p (at most left bytes), its code
 * point in *cp; 0 when the bytes there are not UTF-8.
 */
int tk_cli_utf8_char(const unsigned char *p, size_t left, unsigned long *cp);
/*
 * Whether code point cp is a control character (C0, DEL or C1): one that
 * would split a line or reach a terminal as part of an escape sequence.
 */
int tk_cli_is_control(unsigned long cp);
/*
 * s as text for a terminal line: each byte of a control character (C0, DEL,
 * C1) and each byte that is not part of valid UTF-8 as \xNN. For labels and
 * other text that tokens or other tools wrote.
 */
void tk_cli_put_text(FILE *out, const char *s);
/*
 * s as one word for a POSIX shell, for a command line the user copies: as it
 * is when it has nothing the shell would read, else in '' with each ' as
 * '\''. To OPENSSL_free; NULL when out of memory.
 */
char *tk_cli_shell_quoted(const char *s);
/* s as a JSON string: escaped, and each byte that is not part of valid UTF-8 as U+FFFD. */
void tk_cli_json_string(FILE *out, const char *s);

/*
 * --key (or, with NULL, --token) as a parsed URI, with the token attributes
 * of --token joined in; prints the error.
 */
TK_URI *tk_cli_uri(TK_CLI *cli, const char *key_or_null);
/* The first token attribute (its name) that key and token both set to different values, or NULL. */
const char *tk_cli_token_conflict(const TK_URI *key, const TK_URI *token);
/* Whether a token search (rv, n found) gave exactly one token; prints why not. */
int tk_cli_token_found(TK_CLI *cli, const TK_URI *uri, CK_RV rv, size_t n);
/* Exactly one token matching uri; prints why not. */
int tk_cli_find_token(TK_CLI *cli, const TK_URI *uri, TK_P11_TOKEN **out);
/* Log in with the CLI's PIN getter; prints why not. */
int tk_cli_login(TK_CLI *cli, TK_P11_TOKEN *t);

/* ---- the provider, for every key operation (cli_provider.c) ---- */

/*
 * A library context with the default provider and tokenkey (built in, so
 * it shares this process's PKCS#11 layer and login). Made once per run.
 */
OSSL_LIB_CTX *tk_cli_libctx(TK_CLI *cli);
/*
 * The one private key uri names, loaded through tokenkey's OSSL_STORE
 * (log in with tk_cli_login first). Prints the errors and returns NULL
 * when there is not exactly one.
 */
EVP_PKEY *tk_cli_load_key(TK_CLI *cli, const TK_URI *uri);
/* uri as text, type=private added when it has no type (OPENSSL_free it). */
char *tk_cli_key_uri_text(TK_CLI *cli, const TK_URI *uri);
/*
 * What messages call a key given as text (parsed as uri): the text itself,
 * or the URI without its pin-source=, which may be the PIN typed in the
 * wrong place (OPENSSL_free it; NULL without memory).
 */
char *tk_cli_key_named(TK_CLI *cli, const char *text, const TK_URI *uri);
/*
 * For "no private key matches": when the key given is a bare name that is
 * also a readable file here (key.pem), a note that ./key.pem reads it as a
 * key reference (a name without a '/' is a label); "" otherwise.
 */
const char *tk_cli_key_file_note(const char *key);
/* Drain OpenSSL's error queue to stderr, one indented line each. */
void tk_cli_print_openssl_errors(const TK_CLI *cli);

/*
 * The value of key in a client.properties file as kcat -F reads it (blanks
 * before the key and around the value ignored, the last line for the key
 * counts), or NULL (no such line, no such file); OPENSSL_free it
 * (client_properties.c).
 */
char *tk_cli_client_property(const char *path, const char *key);

/* ---- the tokenkey.so a client loads (client_provider.c) ---- */

/*
 * The file OpenSSL loads for the provider whose section says module
 * (NULL: no module line, the provider is found by its name): an absolute
 * module as it is, else under OPENSSL_MODULES or libcrypto's modules
 * directory.
 */
void tk_cli_client_provider_path(char *out, size_t cap, const char *module);
/*
 * Whether path loads as OpenSSL loads a provider (dlopen RTLD_NOW) and has
 * OSSL_provider_init, which is not called. 0 with why (the file named).
 */
int tk_cli_provider_loadable(const char *path, char *why, size_t cap);
/*
 * The 'module' line of the client's tokenkey section (tk_cli_client_config
 * read it), and in *origin where it is ("section [s] of '/path'"); NULL when
 * there is none, *origin then says whether a section was found (NULL if not).
 */
const char *tk_cli_client_provider_module(const char **origin);
/*
 * The client's OpenSSL configuration file when it activates providers
 * without "default" (or "fips"): a client that does not load default
 * itself then has no software algorithms. NULL otherwise; *default_section
 * names the file's section for default when it has one, not activated.
 * After tk_cli_client_config.
 */
const char *tk_cli_client_without_default(const char **default_section);

/*
 * The client's OpenSSL configuration file when it activates tokenkey
 * before "default" (or "fips"), NULL otherwise. After tk_cli_client_config.
 */
const char *tk_cli_client_tokenkey_first(void);

/* ---- part B: inspect and doctor (cmd_inspect.c, inspect_*.c, cmd_doctor.c, doctor_*.c) ---- */

#include <openssl/x509.h>

/*
 * The initialised tokens uri's token attributes match: up to max in out,
 * *n how many matched. TK_CKR_NO_TOKEN when none did.
 */
CK_RV tk_cli_find_tokens(TK_CLI *cli, const TK_URI *uri, TK_P11_TOKEN **out, size_t max, size_t *n);
/* Exactly one of them (tk_cli_find_token, without the empty slots); prints why not. */
int tk_cli_one_token(TK_CLI *cli, const TK_URI *uri, TK_P11_TOKEN **out);
/* uri's token attributes alone, as a pkcs11: URI (OPENSSL_free it). */
char *tk_cli_token_text(const TK_URI *uri);
/* Private keys matching uri's id= and object= on s's token: up to max handles, *n stored. */
CK_RV tk_cli_find_keys(TK_P11_SESSION *s, const TK_URI *uri, CK_OBJECT_HANDLE *out,
                       CK_ULONG max, CK_ULONG *n);
/* The pkcs11: URIs of the private keys keys[0..n), comma separated. */
void tk_cli_key_list(TK_P11_SESSION *s, const CK_OBJECT_HANDLE *keys, CK_ULONG n, char *out, size_t cap);
/* The same keys as "'label' (id 0102), ...", sorted: shorter, for long lists. */
void tk_cli_key_labels(TK_P11_SESSION *s, const CK_OBJECT_HANDLE *keys, CK_ULONG n, char *out, size_t cap);
/* Certificates whose CKA_ID is id (every certificate when id is NULL). */
CK_RV tk_cli_find_certs(TK_P11_SESSION *s, const unsigned char *id, CK_ULONG id_len,
                        CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *n);
/* The certificate object o, parsed; NULL when it is not an X.509 certificate. */
X509 *tk_cli_token_cert(TK_P11_SESSION *s, CK_OBJECT_HANDLE o);
/* Whether cert holds pkey's public key (X509_check_private_key); leaves no error queued. */
int tk_cli_cert_matches(X509 *cert, EVP_PKEY *pkey);
/* Whether x is valid now (its notBefore passed, its notAfter not). */
int tk_cli_cert_valid_now(const X509 *x);
/*
 * Of several certificates sharing a key's id (a renewal without
 * --replace), whether x is a better pick than best: it matches pkey, then
 * it is valid now, then it expires later - what a renewed client sends.
 */
int tk_cli_cert_better(X509 *x, X509 *best, EVP_PKEY *pkey);
/*
 * Of the certificates on the token with this CKA_ID, the best for pkey
 * (tk_cli_cert_better), or NULL; *n: how many certificate objects have the
 * id (export refuses more than one), *chosen (when not NULL): its object.
 */
X509 *tk_cli_best_token_cert(TK_P11_SESSION *s, const unsigned char *id, CK_ULONG id_len,
                             EVP_PKEY *pkey, CK_ULONG *n, CK_OBJECT_HANDLE *chosen);
/* Text forms for output: lowercase hex, an RFC 2253 name, a time as ASN1_TIME_print does. */
void tk_cli_hex(char *out, size_t cap, const unsigned char *v, size_t len);
void tk_cli_name(char *out, size_t cap, const X509_NAME *name);
void tk_cli_time(char *out, size_t cap, const ASN1_TIME *t);

/*
 * The ways a private key could leave a token, each tried (inspect_paths.c):
 * 1 when the path is open, 0 when shut; detail says what was found.
 * sensitive / extractable: 1 TRUE, 0 FALSE, -1 the token did not say.
 */
int tk_cli_export_token(int sensitive, int extractable, char *detail, size_t cap);
int tk_cli_export_provider(EVP_PKEY *pkey, char *detail, size_t cap);
int tk_cli_export_layer(TK_P11_SESSION *s, CK_OBJECT_HANDLE h, char *detail, size_t cap);
int tk_cli_export_encoder(EVP_PKEY *pkey, OSSL_LIB_CTX *libctx, char *detail, size_t cap);

typedef enum { TK_DOCTOR_OK, TK_DOCTOR_WARN, TK_DOCTOR_FAIL } TK_DOCTOR_STATUS;

#define TK_DOCTOR_MAX_CHECKS 12

/* What tokenkey doctor found so far; each check adds to it (cmd_doctor.c). */
typedef struct tk_doctor {
    TK_CLI *cli;
    const char *cert_file;  /* --cert (or the client's, tk_doctor_client_files): not the token's */
    char *client_cert_file; /* the client's ssl.certificate.location, when taken as --cert */
    const char *ca_file;    /* --ca: the CAs the cluster trusts */
    const char *chain_file; /* --chain: intermediates */
    TK_P11_TOKEN *token;
    TK_P11_SESSION session;
    char *key_uri;          /* the one key found */
    unsigned char *key_id;  /* its CKA_ID */
    CK_ULONG key_id_len;
    EVP_PKEY *pkey;         /* the key, loaded through the provider */
    int pss_only;           /* RSA that signs with PSS only (tk_cli_rsa_pss_only) */
    X509 *cert;             /* its certificate */
    STACK_OF(X509) *cert_file_certs; /* all of --cert's file, cert first */
    STACK_OF(X509) *chain;  /* the verified chain, leaf first, once verified */
    int n;
    struct {
        const char *check;
        TK_DOCTOR_STATUS status;
        char *detail;
    } results[TK_DOCTOR_MAX_CHECKS];
    char *hint;             /* what to do about the first FAIL */
} TK_DOCTOR;

/* Record one check's outcome and print it (unless --json); returns status (doctor_report.c). */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
TK_DOCTOR_STATUS tk_doctor_report(TK_DOCTOR *d, const char *check, TK_DOCTOR_STATUS status,
                                  const char *fmt, ...);
/* The one-line hint for the first FAIL. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void tk_doctor_hint(TK_DOCTOR *d, const char *fmt, ...);
/* --json: the checks so far and the hint as one object (doctor_report.c). */
void tk_doctor_print_json(const TK_DOCTOR *d);
/* The checks after the key was found (doctor_cert.c), in this order. */
TK_DOCTOR_STATUS tk_doctor_check_cert(TK_DOCTOR *d);
TK_DOCTOR_STATUS tk_doctor_check_chain(TK_DOCTOR *d);
TK_DOCTOR_STATUS tk_doctor_check_dates(TK_DOCTOR *d);
TK_DOCTOR_STATUS tk_doctor_check_signature(TK_DOCTOR *d);
/*
 * Without --cert, for a --key FILE beside the client.properties that names
 * it (ssl.key.location, as kafka-config writes them): the certificate the
 * client sends, its ssl.certificate.location, becomes --cert (doctor_client.c).
 */
TK_DOCTOR_STATUS tk_doctor_client_files(TK_DOCTOR *d);

/* ---- end of part B ---- */

/* ---- part A: enrollment (keygen, csr, import-cert, export, kafka-config) ---- */

#include <openssl/x509.h>

/*
 * The token key --key names (cli_key.c): exactly one CKO_PRIVATE_KEY,
 * found through the PKCS#11 layer (for its CKA_ID, CKA_LABEL and URI) and
 * loaded through the provider (for every key operation).
 */
typedef struct tk_cli_key {
    TK_URI *uri;              /* --key, parsed */
    TK_P11_TOKEN *token;
    TK_P11_SESSION s;         /* held until tk_cli_key_close */
    CK_OBJECT_HANDLE handle;  /* the private key object */
    unsigned char *id;        /* its CKA_ID (may be empty) */
    CK_ULONG id_len;
    char *label;              /* its CKA_LABEL, NUL-terminated; NULL if none */
    char *uri_text;           /* its full pkcs11: URI (never a PIN) */
    char token_label[33];
    EVP_PKEY *pkey;
} TK_CLI_KEY;

/*
 * Open the module, find --key's token, log in, find the key and load it.
 * Returns TK_EXIT_OK, or the exit code after printing the one error line.
 */
int tk_cli_key_open(TK_CLI *cli, TK_CLI_KEY *k);
/* Frees k, gives back its session, and closes cli's module and libctx. */
void tk_cli_key_close(TK_CLI *cli, TK_CLI_KEY *k);
/*
 * 1 when key (pkey, loaded from it) is an RSA key that can sign with PSS
 * but not PKCS#1 v1.5 with SHA-256: the token lacks the mechanisms, or the
 * key's CKA_ALLOWED_MECHANISMS leaves them out. Its signatures then use
 * tk_cli_pss_params.
 */
int tk_cli_rsa_pss_only(TK_P11_SESSION *s, CK_OBJECT_HANDLE key, EVP_PKEY *pkey);
/* RSASSA-PSS with a salt as long as the digest (RFC 8446's choice), on a sign or verify pctx. */
int tk_cli_pss_params(EVP_PKEY_CTX *pctx);
/* CKO_CERTIFICATE objects with the key's CKA_ID (up to max; *count found). */
CK_RV tk_cli_key_certs(TK_CLI_KEY *k, CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *count);

/* What reading a certificate file found (tk_cli_load_certs). */
typedef enum {
    TK_CERTS_OK,
    TK_CERTS_UNREADABLE, /* cannot be opened: errno says why */
    TK_CERTS_DAMAGED,    /* a PEM block that does not read */
    TK_CERTS_NONE,       /* no certificate, PEM or DER */
    TK_CERTS_NO_MEMORY
} TK_CERTS_RESULT;
/* Why a damaged certificate is damaged, for messages. */
#define TK_CERT_DAMAGED_WHY "its PEM block or the DER in it does not read"

/*
 * Certificates from a PEM file (one or more) or a DER file (one), as a
 * client loads its certificate file: on OK, *certs is the stack (in file
 * order); on DAMAGED, *damaged is the damaged one's place (from 1).
 */
TK_CERTS_RESULT tk_cli_load_certs(const char *path, STACK_OF(X509) **certs, int *damaged);
/* The same, or NULL after printing why ("what" names the option). */
STACK_OF(X509) *tk_cli_read_certs(TK_CLI *cli, const char *what, const char *path);
/*
 * Every PEM certificate in `in` onto sk: how many, or -1 when a block does
 * not read (those before it are on sk). A damaged block is not the end of
 * the file: a CA left out of ca.pem would fail TLS much later.
 */
int tk_cli_read_pem_certs(BIO *in, STACK_OF(X509) *sk);
/* "2026-01-31 12:00:00 UTC" */
void tk_cli_time_text(const ASN1_TIME *t, char *buf, size_t cap);

/*
 * Public output files: certificates, key references, configs (cli_files.c).
 * tk_cli_check_new_file: whether path may be written (not there, or force
 * and a regular file or a link to one), before any work is done.
 * tk_cli_write_public writes the data, mode 0644, under a temporary name
 * beside the file; tk_cli_files_commit then puts every file written so far
 * in place (renamed over an existing one with force, else never over a
 * file that appeared meanwhile), or tk_cli_files_discard drops them: a
 * command's files change together or not at all. Each prints the error
 * and returns 0 on failure.
 */
int tk_cli_check_new_file(TK_CLI *cli, const char *path, int force);
int tk_cli_write_public(TK_CLI *cli, const char *path, const void *data, size_t len, int force);
/* The same, with what a memory BIO holds. */
int tk_cli_write_bio(TK_CLI *cli, const char *path, BIO *mem, int force);
int tk_cli_files_commit(TK_CLI *cli);
void tk_cli_files_discard(TK_CLI *cli);
/*
 * --out-dir, made (0755) when missing; *made says whether it was, so that a
 * command that then fails leaves no empty directory behind
 * (tk_cli_out_dir_undo: removes it when still empty). Prints why not.
 */
int tk_cli_out_dir(TK_CLI *cli, const char *dir, int *made);
/* The same file: the same name, or names that resolve to one (links, ./.., the file there or not). */
int tk_cli_same_file(const char *a, const char *b);
void tk_cli_out_dir_undo(const char *dir, int made);
/* DIR/NAME in a new string (OPENSSL_free it). */
char *tk_cli_path_join(const char *dir, const char *name);

/* The most telling line of OpenSSL's error queue, which is then cleared. */
const char *tk_cli_openssl_reason(char *buf, size_t cap);

/*
 * Write k's key reference to key_path and its certificate (with the
 * intermediates stored on the token) to cert_path; either may be NULL.
 * Shared by export and kafka-config (cmd_export.c). Returns TK_EXIT_*.
 */
int tk_cli_export(TK_CLI *cli, TK_CLI_KEY *k, const char *key_path, const char *cert_path,
                  int force);

/* ---- end of part A ---- */

/* Subcommands (one file each). */
int tk_cmd_tokens(int argc, char **argv);
int tk_cmd_list(int argc, char **argv);
int tk_cmd_keygen(int argc, char **argv);
int tk_cmd_csr(int argc, char **argv);
int tk_cmd_import_cert(int argc, char **argv);
int tk_cmd_export(int argc, char **argv);
int tk_cmd_kafka_config(int argc, char **argv);
int tk_cmd_inspect(int argc, char **argv);
int tk_cmd_doctor(int argc, char **argv);
int tk_cmd_delete(int argc, char **argv);

#endif
