/*
 * tk-init-token: initialise a token and its user PIN through tokenkey's
 * PKCS#11 layer, reading both PINs from files. The test fixture uses it
 * because softhsm2-util reads PINs only from a terminal or from argv.
 *
 * usage: tk-init-token MODULE LABEL SO_PIN_FILE USER_PIN_FILE
 * Initialises the first slot whose token is not initialised; prints
 * "SLOT SERIAL" of the new token.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "p11/p11.h"
#include "pinfile.h"

static CK_RV pin_from_file(void *arg, char *buf, size_t cap, size_t *len)
{
    unsigned mode;
    int err = 0;

    if (tk_pinfile_read(arg, buf, cap, len, &mode, &err) != TK_PINFILE_OK) {
        fprintf(stderr, "tk-init-token: cannot read a PIN from '%s'\n", (const char *)arg);
        return TK_CKR_PIN_UNAVAILABLE;
    }
    return CKR_OK;
}

static int fail(const char *what, CK_RV rv)
{
    fprintf(stderr, "tk-init-token: %s: %s\n", what, tk_p11_rv_name(rv));
    return 1;
}

int main(int argc, char **argv)
{
    TK_P11_MODULE *m;
    TK_P11_TOKEN *t;
    CK_SLOT_ID *slots, slot = 0;
    CK_ULONG n;
    int found = 0;
    CK_RV rv;

    if (argc != 5) {
        fprintf(stderr, "usage: tk-init-token MODULE LABEL SO_PIN_FILE USER_PIN_FILE\n");
        return 2;
    }
    TK_P11_PIN_GETTER so = { pin_from_file, argv[3] }, user = { pin_from_file, argv[4] };

    rv = tk_p11_module_open(argv[1], NULL, &m);
    if (rv != CKR_OK)
        return fail(argv[1], rv);
    rv = tk_p11_slot_list(m, 1, &slots, &n);
    if (rv != CKR_OK)
        return fail("C_GetSlotList", rv);
    for (CK_ULONG i = 0; i < n && !found; i++) {
        CK_TOKEN_INFO ti;

        if (tk_p11_token_info(m, slots[i], &ti) == CKR_OK && !(ti.flags & CKF_TOKEN_INITIALIZED)) {
            slot = slots[i];
            found = 1;
        }
    }
    OPENSSL_free(slots);
    if (!found) {
        fprintf(stderr, "tk-init-token: no uninitialised token in %s\n", argv[1]);
        return 1;
    }
    rv = tk_p11_init_token(m, slot, &so, argv[2]);
    if (rv != CKR_OK)
        return fail("C_InitToken", rv);
    /* SoftHSM2 moves an initialised token to a new slot id: find it by label. */
    TK_URI uri;
    TK_P11_TOKEN *tokens[1];
    size_t count = 0;

    memset(&uri, 0, sizeof(uri));
    uri.token = argv[2];
    rv = tk_p11_token_find(m, &uri, tokens, 1, &count);
    if (rv != CKR_OK)
        return fail("finding the new token", rv);
    t = tokens[0];
    rv = tk_p11_init_pin(t, &so, &user);
    if (rv != CKR_OK)
        return fail("C_InitPIN", rv);
    const CK_TOKEN_INFO *ti = tk_p11_token_cached_info(t);
    int serial_len = (int)sizeof(ti->serialNumber);

    while (serial_len > 0 && ti->serialNumber[serial_len - 1] == ' ')
        serial_len--;
    printf("%lu %.*s\n", (unsigned long)tk_p11_token_slot(t), serial_len,
           (const char *)ti->serialNumber);
    tk_p11_module_close(m);
    return 0;
}
