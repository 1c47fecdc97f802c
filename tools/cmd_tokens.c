/* tokenkey tokens: the slots and tokens of a PKCS#11 module. */
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "tokenkey/uri.h"

/* What a user needs to know about a PIN before typing it (PKCS#11 v2.40 CK_TOKEN_INFO flags). */
static const char *pin_state(CK_FLAGS f)
{
    if (f & CKF_USER_PIN_LOCKED)
        return "LOCKED";
    if (f & CKF_USER_PIN_FINAL_TRY)
        return "FINAL_TRY";
    if (f & CKF_USER_PIN_COUNT_LOW)
        return "COUNT_LOW";
    if (!(f & CKF_USER_PIN_INITIALIZED))
        return "NOT_INITIALIZED";
    return "OK";
}

static const struct {
    CK_FLAGS flag;
    const char *name;
} token_flags[] = {
    { CKF_TOKEN_INITIALIZED, "initialized" },
    { CKF_LOGIN_REQUIRED, "login-required" },
    { CKF_USER_PIN_INITIALIZED, "user-pin-initialized" },
    { CKF_WRITE_PROTECTED, "write-protected" },
    { CKF_PROTECTED_AUTHENTICATION_PATH, "pin-pad" },
    { CKF_RNG, "rng" },
    { CKF_USER_PIN_COUNT_LOW, "user-pin-count-low" },
    { CKF_USER_PIN_FINAL_TRY, "user-pin-final-try" },
    { CKF_USER_PIN_LOCKED, "user-pin-locked" },
    { CKF_SO_PIN_LOCKED, "so-pin-locked" },
};

static void flags_text(CK_FLAGS f, char *out, size_t cap)
{
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(token_flags) / sizeof(token_flags[0]); i++)
        if (f & token_flags[i].flag) {
            if (out[0] != '\0')
                OPENSSL_strlcat(out, ",", cap);
            OPENSSL_strlcat(out, token_flags[i].name, cap);
        }
}

static void memory_text(CK_ULONG free_mem, CK_ULONG total, char *out, size_t cap)
{
    /* Many tokens, SoftHSM2 among them, don't report memory. */
    if (free_mem == CK_UNAVAILABLE_INFORMATION || total == CK_UNAVAILABLE_INFORMATION)
        snprintf(out, cap, "unknown");
    else
        snprintf(out, cap, "%lu of %lu bytes free", (unsigned long)free_mem, (unsigned long)total);
}

static char *token_uri(const char *label, const char *manufacturer, const char *model,
                       const char *serial)
{
    TK_URI uri;

    memset(&uri, 0, sizeof(uri));
    uri.token = (char *)label;
    uri.manufacturer = (char *)manufacturer;
    uri.model = (char *)model;
    uri.serial = (char *)serial;
    return tk_uri_format(&uri);
}

/* A field the token wrote, as one line of text. */
static void print_line(const char *field)
{
    tk_cli_put_text(stdout, field);
    putchar('\n');
}

static void print_token(const TK_CLI *cli, int first, CK_SLOT_ID slot, const CK_SLOT_INFO *si,
                        const CK_TOKEN_INFO *ti)
{
    char desc[65], label[33], manufacturer[33], model[17], serial[17], flags[256], mem[64];
    char *uri;

    tk_cli_field(desc, sizeof(desc), si->slotDescription, sizeof(si->slotDescription));
    tk_cli_field(label, sizeof(label), ti->label, sizeof(ti->label));
    tk_cli_field(manufacturer, sizeof(manufacturer), ti->manufacturerID, sizeof(ti->manufacturerID));
    tk_cli_field(model, sizeof(model), ti->model, sizeof(ti->model));
    tk_cli_field(serial, sizeof(serial), ti->serialNumber, sizeof(ti->serialNumber));
    flags_text(ti->flags, flags, sizeof(flags));
    memory_text(ti->ulFreePrivateMemory, ti->ulTotalPrivateMemory, mem, sizeof(mem));
    uri = token_uri(label, manufacturer, model, serial);

    if (cli->json) {
        printf("%s\n  {\"slot\": %lu, \"slot_description\": ", first ? "" : ",", (unsigned long)slot);
        tk_cli_json_string(stdout, desc);
        printf(", \"label\": ");
        tk_cli_json_string(stdout, label);
        printf(", \"manufacturer\": ");
        tk_cli_json_string(stdout, manufacturer);
        printf(", \"model\": ");
        tk_cli_json_string(stdout, model);
        printf(", \"serial\": ");
        tk_cli_json_string(stdout, serial);
        printf(", \"flags\": ");
        tk_cli_json_string(stdout, flags);
        printf(", \"pin_state\": \"%s\", \"private_memory\": ", pin_state(ti->flags));
        tk_cli_json_string(stdout, mem);
        printf(", \"uri\": ");
        tk_cli_json_string(stdout, uri != NULL ? uri : "");
        printf("}");
    } else {
        printf("slot %lu: ", (unsigned long)slot);
        print_line(desc);
        printf("  token:         ");
        print_line(label);
        printf("  manufacturer:  ");
        print_line(manufacturer);
        printf("  model:         ");
        print_line(model);
        printf("  serial:        ");
        print_line(serial);
        printf("  flags:         %s\n", flags);
        printf("  user PIN:      %s\n", pin_state(ti->flags));
        printf("  memory:        %s\n", mem);
        printf("  uri:           %s\n", uri != NULL ? uri : "");
    }
    OPENSSL_free(uri);
}

int tk_cmd_tokens(int argc, char **argv)
{
    TK_CLI cli = { .prog = "tokenkey", .cmd = "tokens" };
    CK_SLOT_ID *slots = NULL;
    CK_ULONG n = 0;
    int code, shown = 0;
    CK_RV rv;

    if (tk_cli_parse(&cli, argc, argv, TK_USES_MODULE | TK_USES_JSON, NULL, "[--module PATH] [--json]",
                     &code) < 0)
        return code;
    if (!tk_cli_open_module(&cli))
        return TK_EXIT_SETUP;
    rv = tk_p11_slot_list(cli.m, 1, &slots, &n);
    if (rv != CKR_OK) {
        tk_cli_close(&cli);
        return tk_cli_error(&cli, TK_EXIT_SETUP, "cannot list slots of '%s': %s", cli.module,
                            tk_p11_rv_name(rv));
    }
    if (cli.json)
        printf("[");
    for (CK_ULONG i = 0; i < n; i++) {
        CK_SLOT_INFO si;
        CK_TOKEN_INFO ti;

        if (tk_p11_slot_info(cli.m, slots[i], &si) != CKR_OK
            || tk_p11_token_info(cli.m, slots[i], &ti) != CKR_OK)
            continue;
        /* An uninitialised token has no label to select it by: not useful here. */
        if (!(ti.flags & CKF_TOKEN_INITIALIZED))
            continue;
        print_token(&cli, shown == 0, slots[i], &si, &ti);
        shown++;
    }
    if (cli.json)
        printf("%s]\n", shown > 0 ? "\n" : "");
    OPENSSL_free(slots);
    tk_cli_close(&cli);
    if (shown == 0 && !cli.json)
        return tk_cli_error(&cli, TK_EXIT_SETUP, "no initialised token in '%s'", cli.module);
    return TK_EXIT_OK;
}
