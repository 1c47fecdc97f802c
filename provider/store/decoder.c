/*
 * Decoders for key reference files (keyref.h), in two steps because of how
 * OpenSSL 3.0 chains decoders:
 *
 * 1. "DER" from "pem" (like the default provider's pem2der, whose name is
 *    also "DER"): reads one PEM block and, for our two labels, passes its
 *    body on as DER with the structure TK_KEYREF_STRUCTURE. In 3.0 the
 *    default pem2der drops PEM labels it does not know (its pem_name_map),
 *    so nothing else would ever hand our DER on. Being named "DER", this
 *    step is pulled in by OSSL_DECODER_CTX_add_extra() both for
 *    OSSL_DECODER_CTX_new_for_pkey() (PEM_read_bio_PrivateKey,
 *    SSL_CTX_use_PrivateKey_file) and for the file: OSSL_STORE loader
 *    (`openssl pkey -in`), whose own decoders only take DER. It checks the
 *    file and finds the key (so errors are ours even where the file:
 *    loader drops those of later decoders) and passes on the key type, but
 *    never the key itself: a key reference handed to the file: loader
 *    would go to whatever keymgmt it fetches, possibly the default
 *    provider's, which would take our pointer for its own.
 *
 * 2. "RSA" / "EC" / "ED25519" from "der" with structure
 *    TK_KEYREF_STRUCTURE: parses the DER, finds the key by its URI
 *    (tk_key_load_private, the PIN prompt being the decoder's passphrase
 *    callback) and hands it on as an object reference. Named after key
 *    types because that is how OSSL_DECODER_CTX_new_for_pkey() collects
 *    decoders; an instance whose type is not the key's stays empty-handed
 *    and the instance of the right type takes it.
 *
 * Return values follow provider-decoder(7): 1 with nothing passed on means
 * "not mine", 0 stops the chain with our error (a file that is ours but
 * broken, a URI that names no key).
 */
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/params.h>

#include "algorithms.h"
#include "debug.h"
#include "errors.h"
#include "key.h"
#include "keyref.h"

typedef struct tk_decoder_ctx {
    TK_PROVCTX *provctx;
    TK_KEY_TYPE type; /* step 2: the key type this instance hands on; 0 for step 1 */
} TK_DECODER_CTX;

static OSSL_FUNC_decoder_newctx_fn tk_dec_pem_newctx;
static OSSL_FUNC_decoder_newctx_fn tk_dec_rsa_newctx;
static OSSL_FUNC_decoder_newctx_fn tk_dec_ec_newctx;
static OSSL_FUNC_decoder_newctx_fn tk_dec_ed25519_newctx;
static OSSL_FUNC_decoder_freectx_fn tk_dec_freectx;
static OSSL_FUNC_decoder_decode_fn tk_dec_pem_decode;
static OSSL_FUNC_decoder_does_selection_fn tk_dec_key_does_selection;
static OSSL_FUNC_decoder_decode_fn tk_dec_key_decode;
static OSSL_FUNC_decoder_export_object_fn tk_dec_export_object;

static void *new_ctx(void *provctx, TK_KEY_TYPE type)
{
    TK_DECODER_CTX *dctx = OPENSSL_zalloc(sizeof(*dctx));

    if (dctx == NULL) {
        TK_RAISE(provctx, TK_R_OUT_OF_MEMORY, "decoder context");
        return NULL;
    }
    dctx->provctx = provctx;
    dctx->type = type;
    return dctx;
}

static void *tk_dec_pem_newctx(void *provctx)
{
    return new_ctx(provctx, 0);
}

static void *tk_dec_rsa_newctx(void *provctx)
{
    return new_ctx(provctx, TK_KEY_RSA);
}

static void *tk_dec_ec_newctx(void *provctx)
{
    return new_ctx(provctx, TK_KEY_EC);
}

static void *tk_dec_ed25519_newctx(void *provctx)
{
    return new_ctx(provctx, TK_KEY_ED25519);
}

static void tk_dec_freectx(void *vctx)
{
    OPENSSL_free(vctx);
}

/*
 * The key a key reference names (tk_key_load_private: none or several is
 * an error naming the URI). kind: what the PEM label announced, or ANY.
 * Returns 1 and the key, -1 when the input is not a key reference, 0 after
 * raising an error.
 */
static int load_key(TK_DECODER_CTX *dctx, const unsigned char *der, size_t len,
                    TK_KEYREF_KIND kind, OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg,
                    TK_KEY **k)
{
    TK_URI *uri = NULL;
    char why[256];
    TK_KEYREF_RESULT r = tk_keyref_from_der(der, len, kind, &uri, why, sizeof(why));
    int ok;

    if (r == TK_KEYREF_NOT_OURS)
        return -1;
    if (r == TK_KEYREF_BAD) {
        TK_RAISE(dctx->provctx, TK_R_BAD_KEY_REFERENCE, "%s", why);
        return 0;
    }
    ok = tk_key_load_private(dctx->provctx, uri, pw_cb, pw_cbarg, k);
    tk_uri_free(uri);
    return ok;
}

/* ---- step 1: PEM to DER, our labels only ---- */

/* Everything left in the input, read and dropped. */
static void drain(BIO *in)
{
    unsigned char buf[4096];
    size_t n;

    while (BIO_read_ex(in, buf, sizeof(buf), &n) && n > 0)
        continue;
    OPENSSL_cleanse(buf, sizeof(buf)); /* another block may carry a pin-value */
}

/*
 * After a key reference that is broken or names no usable key, no key
 * after it may be read: the file: OSSL_STORE loader (openssl req -key,
 * pkey -in) would go on to the next PEM block and take a key found there
 * in place of the one the file named first - another key, silently. So
 * the rest of the input is looked at: when it holds a key anywhere (or a
 * block that does not parse), all of it is skipped and the load ends with
 * our error; when it holds only other blocks (the certificates of a
 * combined PEM file), the input goes back to them, so that they stay
 * readable. Without a position to go back to, all of it is skipped.
 */
static void skip_keys_after(BIO *in)
{
    long start = BIO_tell(in);

    if (start < 0 || tk_keyref_key_follows(in) || BIO_seek(in, start) < 0
        || BIO_tell(in) != start)
        drain(in);
}

static int tk_dec_pem_decode(void *vctx, OSSL_CORE_BIO *cin, int selection,
                             OSSL_CALLBACK *data_cb, void *data_cbarg,
                             OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    TK_DECODER_CTX *dctx = vctx;
    BIO *in = tk_store_core_bio(dctx->provctx, cin);
    unsigned char *der = NULL;
    size_t len = 0;
    TK_KEYREF_KIND kind = TK_KEYREF_ANY;
    TK_KEYREF_RESULT r;
    TK_KEY *k = NULL;
    char why[256];
    int objtype = OSSL_OBJECT_PKEY;
    OSSL_PARAM params[5];
    int ok;

    if (in == NULL)
        return 0;
    r = tk_keyref_read_pem(in, &der, &len, &kind, why, sizeof(why));
    if (r == TK_KEYREF_NOT_OURS) {
        BIO_free(in);
        return 1;
    }
    if (r == TK_KEYREF_BAD) {
        TK_RAISE(dctx->provctx, TK_R_BAD_KEY_REFERENCE, "%s", why);
        skip_keys_after(in);
        BIO_free(in);
        return 0;
    }
    /*
     * Asked for a public key or parameters alone (PEM_read_bio_PUBKEY):
     * step 2 takes no such request (tk_dec_key_does_selection), so loading
     * the key would only log in to the token, maybe prompt for the PIN,
     * and end in OpenSSL's bare "unsupported". Say so before any of that.
     */
    if (selection != 0 && (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) == 0) {
        TK_RAISE(dctx->provctx, TK_R_BAD_KEY_REFERENCE, "a key reference names a private key, "
                 "and only a public key or parameters were asked for: write the public key "
                 "once with 'openssl pkey -in FILE -pubout', or name the key's URI with "
                 "type=public");
        OPENSSL_clear_free(der, len);
        BIO_free(in);
        return 0;
    }
    /*
     * Find the key here already, where the label is known (it must agree
     * with the description): the file: OSSL_STORE loader drops the errors
     * of the decoders it runs on our DER, so a URI that names no key must
     * fail here to be reported. Knowing the key type, we also pass it on,
     * which keeps step 2 to the one decoder of that type.
     */
    ok = load_key(dctx, der, len, kind, pw_cb, pw_cbarg, &k);
    if (ok < 0) {
        TK_RAISE(dctx->provctx, TK_R_BAD_KEY_REFERENCE, "the PEM body is not a key reference");
        ok = 0;
    }
    if (ok == 0)
        skip_keys_after(in);
    BIO_free(in);
    if (ok == 1) {
        params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &objtype);
        params[1] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE,
                                                     (char *)tk_key_type_name(k->type), 0);
        params[2] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_STRUCTURE,
                                                     (char *)TK_KEYREF_STRUCTURE, 0);
        params[3] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA, der, len);
        params[4] = OSSL_PARAM_construct_end();
        tk_key_free(k);
        ok = data_cb(params, data_cbarg);
    }
    OPENSSL_clear_free(der, len); /* a key reference may carry a pin-value */
    return ok;
}

/* ---- step 2: DER to a token key ---- */

/*
 * A reference stands for a private key (with its public half); 0 means
 * "whatever is there". A request for a public key alone is not ours:
 * that is what OpenSSL asks for each certificate's key (d2i_PUBKEY, in
 * every TLS handshake), and OpenSSL 3.0 builds a decoder instance for
 * every decoder that says yes here, on every such decode - about 0.4M
 * instructions per handshake for our three (docs/performance.md).
 */
static int tk_dec_key_does_selection(void *provctx, int selection)
{
    return selection == 0 || (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0;
}

/* All of the input, up to what a key reference can be. */
static int read_all(BIO *in, unsigned char *buf, size_t cap, size_t *len)
{
    size_t got = 0, n = 0;

    while (got < cap && BIO_read_ex(in, buf + got, cap - got, &n) && n > 0)
        got += n;
    *len = got;
    return got < cap;
}

/* The key that DER names, handed to data_cb when it is of this decoder's type. */
static int hand_over_key(TK_DECODER_CTX *dctx, const unsigned char *der, size_t len,
                         OSSL_CALLBACK *data_cb, void *data_cbarg,
                         OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    TK_KEY *k = NULL;
    int objtype = OSSL_OBJECT_PKEY, ok;
    OSSL_PARAM params[4];

    ok = load_key(dctx, der, len, TK_KEYREF_ANY, pw_cb, pw_cbarg, &k);
    if (ok < 0)
        return 1;
    if (ok == 0)
        return 0;
    if (k->type != dctx->type) {
        /* Bare DER says nothing of the type: the instance for the right one takes it. */
        TK_TRACE("key reference to a %s key: left to that type's decoder",
                 tk_key_type_name(k->type));
        tk_key_free(k);
        return 1;
    }
    /* The reference convention shared with keymgmt load: the bytes of a TK_KEY pointer. */
    params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &objtype);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE,
                                                 (char *)tk_key_type_name(k->type), 0);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_REFERENCE, &k, sizeof(k));
    params[3] = OSSL_PARAM_construct_end();
    ok = data_cb(params, data_cbarg);
    tk_key_free(k);
    return ok;
}

static int tk_dec_key_decode(void *vctx, OSSL_CORE_BIO *cin, int selection,
                             OSSL_CALLBACK *data_cb, void *data_cbarg,
                             OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    TK_DECODER_CTX *dctx = vctx;
    BIO *in = tk_store_core_bio(dctx->provctx, cin);
    unsigned char der[TK_KEYREF_DER_MAX + 1]; /* read_all: a full buffer means "longer" */
    size_t len = 0;
    int fits, ok = 1; /* too big or empty: someone else's, not an error */

    if (in == NULL)
        return 0;
    fits = read_all(in, der, sizeof(der), &len);
    BIO_free(in);
    if (fits && len > 0)
        ok = hand_over_key(dctx, der, len, data_cb, data_cbarg, pw_cb, pw_cbarg);
    /* A key reference may carry a pin-value: wipe it as the URI parser does. */
    OPENSSL_cleanse(der, len);
    return ok;
}

/*
 * Called by libcrypto only when no tokenkey keymgmt can load the reference
 * (it then tries another provider's keymgmt). The private half cannot move
 * there, so say why instead of handing over a public-only key.
 */
static int tk_dec_export_object(void *vctx, const void *objref, size_t objref_sz,
                                OSSL_CALLBACK *export_cb, void *export_cbarg)
{
    TK_DECODER_CTX *dctx = vctx;

    TK_RAISE(dctx->provctx, TK_R_PRIVATE_EXPORT_REFUSED,
             "a token key can only be loaded by the tokenkey provider's key management");
    return 0;
}

/* ---- dispatch tables ---- */

static const OSSL_DISPATCH tk_dec_pem_functions[] = {
    { OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))tk_dec_pem_newctx },
    { OSSL_FUNC_DECODER_FREECTX, (void (*)(void))tk_dec_freectx },
    { OSSL_FUNC_DECODER_DECODE, (void (*)(void))tk_dec_pem_decode },
    { 0, NULL }
};

static const OSSL_DISPATCH tk_dec_rsa_functions[] = {
    { OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))tk_dec_rsa_newctx },
    { OSSL_FUNC_DECODER_FREECTX, (void (*)(void))tk_dec_freectx },
    { OSSL_FUNC_DECODER_DOES_SELECTION, (void (*)(void))tk_dec_key_does_selection },
    { OSSL_FUNC_DECODER_DECODE, (void (*)(void))tk_dec_key_decode },
    { OSSL_FUNC_DECODER_EXPORT_OBJECT, (void (*)(void))tk_dec_export_object },
    { 0, NULL }
};

static const OSSL_DISPATCH tk_dec_ec_functions[] = {
    { OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))tk_dec_ec_newctx },
    { OSSL_FUNC_DECODER_FREECTX, (void (*)(void))tk_dec_freectx },
    { OSSL_FUNC_DECODER_DOES_SELECTION, (void (*)(void))tk_dec_key_does_selection },
    { OSSL_FUNC_DECODER_DECODE, (void (*)(void))tk_dec_key_decode },
    { OSSL_FUNC_DECODER_EXPORT_OBJECT, (void (*)(void))tk_dec_export_object },
    { 0, NULL }
};

static const OSSL_DISPATCH tk_dec_ed25519_functions[] = {
    { OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))tk_dec_ed25519_newctx },
    { OSSL_FUNC_DECODER_FREECTX, (void (*)(void))tk_dec_freectx },
    { OSSL_FUNC_DECODER_DOES_SELECTION, (void (*)(void))tk_dec_key_does_selection },
    { OSSL_FUNC_DECODER_DECODE, (void (*)(void))tk_dec_key_decode },
    { OSSL_FUNC_DECODER_EXPORT_OBJECT, (void (*)(void))tk_dec_export_object },
    { 0, NULL }
};

const OSSL_ALGORITHM tk_decoder_algorithms[] = {
    { "DER", "provider=tokenkey,input=pem", tk_dec_pem_functions,
      "tokenkey key reference PEM to DER" },
    { "RSA:rsaEncryption:1.2.840.113549.1.1.1",
      "provider=tokenkey,input=der,structure=" TK_KEYREF_STRUCTURE, tk_dec_rsa_functions,
      "tokenkey key reference to an RSA token key" },
    { "EC:id-ecPublicKey:1.2.840.10045.2.1",
      "provider=tokenkey,input=der,structure=" TK_KEYREF_STRUCTURE, tk_dec_ec_functions,
      "tokenkey key reference to an EC token key" },
    { "ED25519:1.3.101.112",
      "provider=tokenkey,input=der,structure=" TK_KEYREF_STRUCTURE, tk_dec_ed25519_functions,
      "tokenkey key reference to an Ed25519 token key" },
    { NULL, NULL, NULL, NULL }
};
