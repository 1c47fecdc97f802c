/*
 * tokenkey delete: remove a key pair and the certificate stored with it
 * (every object sharing the private key's CKA_ID), only with --yes.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "objects.h"

int tk_cmd_delete(int argc, char **argv)
{
    TK_CLI cli = { .prog = "tokenkey", .cmd = "delete" };
    int yes = 0, code;
    const TK_CLI_OPTION opts[] = {
        { "--yes", NULL, &yes, "really delete (without it, only show what would go)" },
        { NULL, NULL, NULL, NULL }
    };
    CK_OBJECT_CLASS priv_class = CKO_PRIVATE_KEY;
    CK_OBJECT_HANDLE keys[2], objs[16];
    CK_ULONG nkeys = 0, nobjs = 0;
    unsigned char *id = NULL;
    CK_ULONG id_len = 0;
    TK_P11_SESSION s = { 0 };
    TK_P11_TOKEN *t;
    TK_URI *uri = NULL;
    CK_RV rv = CKR_OK;

    if (tk_cli_parse(&cli, argc, argv, opts, "--key LABEL|URI [--token LABEL|URI] [--yes]", &code) < 0)
        return code;
    if (cli.key == NULL)
        return tk_cli_error(&cli, TK_EXIT_USAGE, "--key LABEL|URI is required");
    if (!tk_cli_open_module(&cli))
        return TK_EXIT_SETUP;
    code = TK_EXIT_SETUP;
    uri = tk_cli_uri(&cli, cli.key);
    if (uri == NULL || !tk_cli_find_token(&cli, uri, &t) || !tk_cli_login(&cli, t))
        goto end;
    if ((rv = tk_p11_session_get(t, &s)) != CKR_OK)
        goto p11_error;
    {
        CK_ATTRIBUTE tmpl[3] = { { CKA_CLASS, &priv_class, sizeof(priv_class) } };
        CK_ULONG n = 1;

        if (uri->has_id)
            tmpl[n++] = (CK_ATTRIBUTE){ CKA_ID, uri->id, uri->id_len };
        if (uri->object != NULL)
            tmpl[n++] = (CK_ATTRIBUTE){ CKA_LABEL, uri->object, strlen(uri->object) };
        if ((rv = tk_p11_find(&s, tmpl, n, keys, 2, &nkeys)) != CKR_OK)
            goto p11_error;
    }
    if (nkeys != 1) {
        tk_cli_error(&cli, 0, nkeys == 0 ? "no private key matches '%s'"
                                         : "'%s' matches more than one private key: give id= in a URI",
                     cli.key);
        goto end;
    }
    if ((rv = tk_p11_get_attr_alloc(&s, keys[0], CKA_ID, &id, &id_len)) != CKR_OK)
        goto p11_error;
    if (id_len == 0) {
        /* Without an id we can't tell which public key and certificate belong to it. */
        objs[0] = keys[0];
        nobjs = 1;
    } else {
        CK_ATTRIBUTE by_id = { CKA_ID, id, id_len };

        if ((rv = tk_p11_find(&s, &by_id, 1, objs, 16, &nobjs)) != CKR_OK)
            goto p11_error;
    }
    for (CK_ULONG i = 0; i < nobjs && i < 16; i++) {
        CK_OBJECT_CLASS cls = CKO_DATA;
        char *one;

        tk_p11_get_ulong(&s, objs[i], CKA_CLASS, &cls);
        one = tk_objects_uri(&s, objs[i], cls);
        if (yes && (rv = tk_p11_destroy(&s, objs[i])) != CKR_OK) {
            OPENSSL_free(one);
            goto p11_error;
        }
        printf("%s %s\n", yes ? "deleted" : "would delete", one != NULL ? one : "(object)");
        OPENSSL_free(one);
    }
    if (!yes) {
        tk_cli_error(&cli, 0, "nothing deleted: add --yes to delete the objects above");
        code = TK_EXIT_USAGE;
        goto end;
    }
    code = TK_EXIT_OK;
    goto end;
p11_error:
    tk_cli_error(&cli, 0, "the token refused: %s", tk_p11_rv_name(rv));
end:
    tk_p11_session_put(&s, rv);
    OPENSSL_free(id);
    tk_uri_free(uri);
    tk_cli_close(&cli);
    return code;
}
