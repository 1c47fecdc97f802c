/*
 * The tokenkey command line: shared pieces of the subcommands.
 * Conventions (after wireguard-tools' wg): data to stdout, diagnostics to
 * stderr, each error one line that quotes the bad value and says what to
 * do; PINs from a file, TOKENKEY_PIN or a prompt without echo, never argv.
 */
#ifndef TK_CLI_H
#define TK_CLI_H

#include <stdio.h>

#include "p11/p11.h"

/* Exit codes, documented in tokenkey(1). */
enum {
    TK_EXIT_OK = 0,
    TK_EXIT_FAILURE = 1,   /* the operation failed (token said no, check failed) */
    TK_EXIT_USAGE = 2,     /* bad command line */
    TK_EXIT_SETUP = 3,     /* module, token, PIN or key not usable */
};

typedef struct tk_cli {
    const char *prog;      /* "tokenkey" */
    const char *cmd;       /* the subcommand */
    const char *module;    /* --module or TOKENKEY_MODULE */
    const char *token;     /* --token LABEL or pkcs11: URI */
    const char *pin_file;  /* --pin-file */
    const char *key;       /* --key LABEL or pkcs11: URI */
    int json;              /* --json */
    TK_P11_MODULE *m;      /* opened by tk_cli_open_module */
} TK_CLI;

/* One line to stderr: "tokenkey CMD: <message>". Returns TK_EXIT_* given. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int tk_cli_error(const TK_CLI *cli, int code, const char *fmt, ...);

/*
 * Parse the common flags (--module, --token, --pin-file, --key, --json,
 * --help) and leave the rest of argv for the subcommand: returns the
 * index of the first argument not consumed, or -1 after printing an error
 * (or the help: then *exit_code is 0).
 */
typedef struct tk_cli_option {
    const char *name;      /* "--label" */
    const char **value;    /* where the argument goes, NULL for a flag */
    int *flag;             /* set to 1 for a flag */
    const char *help;
} TK_CLI_OPTION;

int tk_cli_parse(TK_CLI *cli, int argc, char **argv, const TK_CLI_OPTION *extra,
                 const char *usage, int *exit_code);

/* Load the module (after --module / TOKENKEY_MODULE); prints the error. */
int tk_cli_open_module(TK_CLI *cli);
void tk_cli_close(TK_CLI *cli);

/* The PIN getter: --pin-file, then TOKENKEY_PIN, then a prompt without echo. */
TK_P11_PIN_GETTER tk_cli_pin_getter(TK_CLI *cli);

/* A PKCS#11 text field without its blank padding, for printing. */
void tk_cli_field(char *out, size_t cap, const unsigned char *field, size_t size);

/* JSON string output with escaping. */
void tk_cli_json_string(FILE *out, const char *s);

/* --key (or, with NULL, --token) as a parsed URI; prints the error. */
TK_URI *tk_cli_uri(TK_CLI *cli, const char *key_or_null);
/* Exactly one token matching uri; prints why not. */
int tk_cli_find_token(TK_CLI *cli, const TK_URI *uri, TK_P11_TOKEN **out);
/* Log in with the CLI's PIN getter; prints why not. */
int tk_cli_login(TK_CLI *cli, TK_P11_TOKEN *t);

/* Subcommands (one file each). */
int tk_cmd_tokens(int argc, char **argv);
int tk_cmd_list(int argc, char **argv);
int tk_cmd_delete(int argc, char **argv);

#endif
