/*
 * tokenkey: keep a Kafka client's TLS key on a PKCS#11 token.
 * One table of subcommands, which also prints the usage.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "tk_build.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
    { "tokens", tk_cmd_tokens, "list slots and tokens of a PKCS#11 module" },
    { "list", tk_cmd_list, "list the objects on a token with their pkcs11: URIs" },
    { "keygen", tk_cmd_keygen, "generate a non-exportable key pair on a token" },
    { "csr", tk_cmd_csr, "make a PKCS#10 certificate request signed by a token key" },
    { "import-cert", tk_cmd_import_cert, "store the CA-signed certificate next to its key" },
    { "export", tk_cmd_export, "write the key reference and certificate PEM files" },
    { "kafka-config", tk_cmd_kafka_config, "write librdkafka properties and openssl.cnf for a key" },
    { "inspect", tk_cmd_inspect, "show the evidence a compliance review asks for" },
    { "doctor", tk_cmd_doctor, "check a setup end to end and explain the first problem" },
    { "delete", tk_cmd_delete, "remove a key pair and its certificate (needs --yes)" },
};

static void usage(FILE *out)
{
    fprintf(out, "usage: tokenkey COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].help);
    fprintf(out, "\n'tokenkey COMMAND --help' describes a command's options;"
                 " 'tokenkey --version' the build.\n");
}

/* Built against one OpenSSL, running on the one found at run time: a bug report needs both. */
static int version(int argc)
{
    if (argc > 2) {
        fprintf(stderr, "tokenkey: --version takes no arguments\n");
        return TK_EXIT_USAGE;
    }
    printf("tokenkey %s\nrunning on %s\n", TK_BUILDINFO, OpenSSL_version(OPENSSL_VERSION));
    return TK_EXIT_OK;
}

static int run(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return TK_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0
        || (strcmp(argv[1], "help") == 0 && argc == 2)) {
        usage(stdout);
        return TK_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0)
        return version(argc);
    if (strcmp(argv[1], "help") == 0 && argc > 3) {
        fprintf(stderr, "tokenkey: help takes one command, e.g. tokenkey help keygen\n");
        return TK_EXIT_USAGE;
    }
    /* "tokenkey help CMD" is "tokenkey CMD --help". */
    if (strcmp(argv[1], "help") == 0 && argc == 3) {
        static char help_flag[] = "--help";
        char *help_argv[] = { argv[2], help_flag, NULL };

        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
            if (strcmp(argv[2], commands[i].name) == 0)
                return commands[i].run(2, help_argv);
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "tokenkey: unknown command '%s' (see tokenkey --help)\n",
            strcmp(argv[1], "help") == 0 && argc > 2 ? argv[2] : argv[1]);
    return TK_EXIT_USAGE;
}

/*
 * Output that never arrived (a full disk) is a failure even when the
 * command's work was done: a script must not go on without the URI keygen
 * printed, or with half a list.
 */
int main(int argc, char **argv)
{
    int code, flush_failed, err;

    /*
     * The OpenSSL configuration (OPENSSL_CONF) is the client's: tokenkey
     * reads its tokenkey section (cli_config.c) but does not load it into
     * this process. Loaded, it would start the client's own tokenkey.so
     * beside the built-in one, and a file that activates providers without
     * 'default' would leave SoftHSM2's own libcrypto calls (its PIN check)
     * without algorithms: the token then rejects the right PIN.
     */
    if (!OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL)) {
        fprintf(stderr, "tokenkey: cannot initialise OpenSSL\n");
        return TK_EXIT_SETUP;
    }
    code = run(argc, argv);
    flush_failed = fflush(stdout) != 0;
    err = errno;

    if (flush_failed || ferror(stdout)) {
        fprintf(stderr, "tokenkey: cannot write to standard output%s%s\n", flush_failed ? ": " : "",
                flush_failed ? strerror(err) : "");
        if (code == TK_EXIT_OK)
            code = TK_EXIT_FAILURE;
    }
    return code;
}
