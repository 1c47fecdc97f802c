/*
 * tokenkey delete: remove a key pair and the certificate stored with it
 * (the objects sharing the private key's CKA_ID, but never another private
 * key that happens to share it, nor, then, objects labelled otherwise),
 * only with --yes.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "objects.h"

/* Objects deleted at most: a key pair, its certificates, and room to spare. */
#define TK_DELETE_MAX 16

static CK_OBJECT_CLASS object_class(TK_P11_SESSION *s, CK_OBJECT_HANDLE o)
{
    CK_OBJECT_CLASS cls = CKO_DATA;

    tk_p11_get_ulong(s, o, CKA_CLASS, &cls);
    return cls;
}

/* Whether o's CKA_LABEL is label (an object without one has the empty label). */
static int has_label(TK_P11_SESSION *s, CK_OBJECT_HANDLE o, const unsigned char *label, CK_ULONG len)
{
    unsigned char *value = NULL;
    CK_ULONG n = 0;
    int same;

    if (tk_p11_get_attr_alloc(s, o, CKA_LABEL, &value, &n) != CKR_OK)
        n = 0;
    same = n == len && (len == 0 || memcmp(value, label, len) == 0);
    OPENSSL_free(value);
    return same;
}

int tk_cmd_delete(int argc, char **argv)
{
    TK_CLI cli = { .prog = "tokenkey", .cmd = "delete" };
    int yes = 0, code;
    const TK_CLI_OPTION opts[] = {
        { "--yes", NULL, &yes, "really delete (without it, only show what would go)" },
        { NULL, NULL, NULL, NULL }
    };
    CK_OBJECT_CLASS priv_class = CKO_PRIVATE_KEY;
    CK_OBJECT_HANDLE keys[2], objs[TK_DELETE_MAX + 1]; /* one more: to see there are too many */
    CK_ULONG nkeys = 0, nobjs = 0, others = 0;
    char *named = NULL;
    unsigned char *id = NULL, *label = NULL;
    CK_ULONG id_len = 0, label_len = 0;
    TK_P11_SESSION s = { 0 };
    TK_P11_TOKEN *t;
    TK_URI *uri = NULL;
    CK_RV rv = CKR_OK;

    if (tk_cli_parse(&cli, argc, argv, TK_USES_KEY_ACCESS, opts,
                     "--key LABEL|URI|FILE [--token LABEL|URI] [--module PATH] [--pin-file FILE] [--yes]",
                     &code) < 0)
        return code;
    if (cli.key == NULL)
        return tk_cli_error(&cli, TK_EXIT_USAGE, "--key LABEL|URI|FILE is required");
    if ((uri = tk_cli_uri(&cli, cli.key)) == NULL)
        return TK_EXIT_SETUP;
    code = TK_EXIT_SETUP;
    if (!tk_cli_open_module(&cli) || !tk_cli_find_token(&cli, uri, &t) || !tk_cli_login(&cli, t))
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
        named = tk_cli_key_uri_text(&cli, uri); /* without pin-source=, which may be the PIN */
        tk_cli_error(&cli, 0, nkeys == 0 ? "no private key matches '%s'%s"
                                         : "'%s' matches more than one private key: give id= in a URI%s",
                     named != NULL ? named : cli.key, nkeys == 0 ? tk_cli_key_file_note(cli.key) : "");
        goto end;
    }
    if ((rv = tk_p11_get_attr_alloc(&s, keys[0], CKA_ID, &id, &id_len)) != CKR_OK
        || (rv = tk_p11_get_attr_alloc(&s, keys[0], CKA_LABEL, &label, &label_len)) != CKR_OK)
        goto p11_error;
    if (id_len == 0) {
        /* Without an id we can't tell which public key and certificate belong to it. */
        objs[0] = keys[0];
        nobjs = 1;
    } else {
        CK_ATTRIBUTE by_id = { CKA_ID, id, id_len };

        if ((rv = tk_p11_find(&s, &by_id, 1, objs, TK_DELETE_MAX + 1, &nobjs)) != CKR_OK)
            goto p11_error;
        if (nobjs > TK_DELETE_MAX) {
            tk_cli_error(&cli, 0, "more than %d objects share the key's id, more than tokenkey deletes "
                                  "at once: delete them with the token's own tool", TK_DELETE_MAX);
            goto end;
        }
    }
    /*
     * Other private keys with this id are other keys, never deleted along;
     * and then the id alone does not tell whose the public keys and
     * certificates are: only those labelled like this key go with it (a
     * private key with this id and label too was refused above, as a
     * second match).
     */
    for (CK_ULONG i = 0; i < nobjs; i++)
        if (objs[i] != keys[0] && object_class(&s, objs[i]) == CKO_PRIVATE_KEY)
            others++;
    /*
     * The private key last: a certificate or public key the token refuses
     * to destroy (CKA_DESTROYABLE false) then stops the deletion with the
     * key still there to find it by, instead of stranding it.
     */
    for (CK_ULONG i = 0; i + 1 < nobjs; i++)
        if (objs[i] == keys[0]) {
            objs[i] = objs[nobjs - 1];
            objs[nobjs - 1] = keys[0];
            break;
        }
    for (CK_ULONG i = 0; i < nobjs; i++) {
        CK_OBJECT_CLASS cls = object_class(&s, objs[i]);
        const char *keep = objs[i] == keys[0] ? NULL
                           : cls == CKO_PRIVATE_KEY ? "another private key with the same id"
                           : others > 0 && !has_label(&s, objs[i], label, label_len)
                               ? "the id is shared with another private key, and the label is not this key's"
                               : NULL;
        char *one = tk_objects_uri(&s, objs[i], cls);

        if (keep == NULL && yes && (rv = tk_p11_destroy(&s, objs[i])) != CKR_OK) {
            /* The token said no (exit 1); anything else is the token not usable (3). */
            int refused = rv == CKR_ACTION_PROHIBITED || rv == CKR_TOKEN_WRITE_PROTECTED
                          || rv == CKR_SESSION_READ_ONLY;

            tk_cli_error(&cli, 0, "%s %s: %s%s", refused ? "the token refused to delete" : "could not delete",
                         one != NULL ? one : "an object", tk_p11_rv_name(rv), rv == CKR_ACTION_PROHIBITED
                         ? " (CKA_DESTROYABLE is false on it): the objects not listed as deleted, "
                           "the private key among them, are still on the token; remove that one "
                           "with the token's own tool if its policy allows"
                         : ": the objects not listed as deleted are still on the token");
            OPENSSL_free(one);
            code = refused ? TK_EXIT_FAILURE : TK_EXIT_SETUP;
            goto end;
        }
        if (keep != NULL)
            printf("kept %s (%s)\n", one != NULL ? one : "(object)", keep);
        else
            printf("%s %s\n", yes ? "deleted" : "would delete", one != NULL ? one : "(object)");
        OPENSSL_free(one);
    }
    if (others > 0)
        tk_cli_error(&cli, 0, "warning: %lu other private key(s) share this key's id: only the objects "
                              "labelled like this key were %s", (unsigned long)others,
                     yes ? "deleted" : "listed for deletion");
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
    OPENSSL_free(label);
    OPENSSL_free(named);
    tk_uri_free(uri);
    tk_cli_close(&cli);
    return code;
}
