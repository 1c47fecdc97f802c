/*
 * Encoders for token keys: the key reference file (keyref.h) and text.
 *
 * Key reference, PEM and DER. OpenSSL 3.0's PEM_write_bio_PrivateKey (and
 * so `openssl pkey -out`, `openssl genpkey -out`) asks for output "PEM"
 * with structure "PrivateKeyInfo". A token key has no PKCS#8 form to give,
 * so under that name we write its key reference instead (as pkcs11-provider
 * does): a PEM block has a label, so every reader can tell the two apart;
 * libcrypto tries the key's own provider's encoders first, so this is what
 * saving a token key produces. DER "PrivateKeyInfo" we leave alone on
 * purpose: i2d_PrivateKey, EVP_PKEY2PKCS8 (`openssl pkcs8 -topk8`) and
 * PKCS12_add_key (`openssl pkcs12 -export`) all ask for it, with the same
 * selection, and take the bytes for PKCS#8, which a key reference is not
 * (they failed with an ASN.1 "wrong tag"). Without an encoder of ours they
 * try the default provider's, which asks our keymgmt to export the private
 * key, and that refusal is the error the user reads: private key material
 * never leaves the token. The structure name TK_KEYREF_STRUCTURE asks for
 * the key reference by its own name, in PEM or DER. A cipher given for the
 * output is ignored: a key reference holds no secret.
 *
 * Text: what `openssl pkey -text` prints: type, size, the public half and
 * where the private half is. Never any private material (there is none
 * here to print).
 *
 * Public-key formats (SubjectPublicKeyInfo) are not ours: the default
 * provider encodes those from the public half our keymgmt exports.
 */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include "algorithms.h"
#include "errors.h"
#include "key.h"
#include "keyref.h"

typedef enum { TK_ENC_PEM = 1, TK_ENC_DER, TK_ENC_TEXT } TK_ENC_OUTPUT;

typedef struct tk_encoder_ctx {
    TK_PROVCTX *provctx;
    TK_ENC_OUTPUT output;
} TK_ENCODER_CTX;

static OSSL_FUNC_encoder_newctx_fn tk_enc_pem_newctx;
static OSSL_FUNC_encoder_newctx_fn tk_enc_der_newctx;
static OSSL_FUNC_encoder_newctx_fn tk_enc_text_newctx;
static OSSL_FUNC_encoder_freectx_fn tk_enc_freectx;
static OSSL_FUNC_encoder_does_selection_fn tk_enc_keyref_does_selection;
static OSSL_FUNC_encoder_encode_fn tk_enc_keyref_encode;
static OSSL_FUNC_encoder_does_selection_fn tk_enc_text_does_selection;
static OSSL_FUNC_encoder_encode_fn tk_enc_text_encode;

static void *new_ctx(void *provctx, TK_ENC_OUTPUT output)
{
    TK_ENCODER_CTX *ectx = OPENSSL_zalloc(sizeof(*ectx));

    if (ectx == NULL) {
        TK_RAISE(provctx, TK_R_OUT_OF_MEMORY, "encoder context");
        return NULL;
    }
    ectx->provctx = provctx;
    ectx->output = output;
    return ectx;
}

static void *tk_enc_pem_newctx(void *provctx)
{
    return new_ctx(provctx, TK_ENC_PEM);
}

static void *tk_enc_der_newctx(void *provctx)
{
    return new_ctx(provctx, TK_ENC_DER);
}

static void *tk_enc_text_newctx(void *provctx)
{
    return new_ctx(provctx, TK_ENC_TEXT);
}

static void tk_enc_freectx(void *vctx)
{
    OPENSSL_free(vctx);
}

/* ---- key reference ---- */

static int tk_enc_keyref_does_selection(void *provctx, int selection)
{
    /* Only the private key has a reference; public formats belong to others. */
    return selection == 0 || (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0;
}

/*
 * The URI to write: the key's own (tk_objects_uri: token and object, never
 * a PIN). Checked again here because this text ends up in a file.
 */
static int keyref_uri_ok(TK_ENCODER_CTX *ectx, const TK_KEY *k)
{
    TK_URI *uri = NULL;
    int ok;

    if (!tk_key_has_private(k) || k->uri == NULL) {
        TK_RAISE(ectx->provctx, TK_R_BAD_ARGUMENT,
                 "only a private key on a token has a key reference (this key is public only)");
        return 0;
    }
    if (tk_uri_parse(k->uri, &uri, NULL) != TK_URI_OK) {
        TK_RAISE(ectx->provctx, TK_R_BAD_URI, "the key's own URI does not parse");
        return 0;
    }
    ok = uri->pin_value == NULL && uri->pin_source == NULL && uri->type == TK_URI_TYPE_PRIVATE;
    tk_uri_free(uri);
    if (!ok)
        TK_RAISE(ectx->provctx, TK_R_BAD_ARGUMENT,
                 "the key's URI must name a private key and hold no PIN");
    return ok;
}

static int tk_enc_keyref_encode(void *vctx, OSSL_CORE_BIO *cout, const void *obj_raw,
                                const OSSL_PARAM obj_abstract[], int selection,
                                OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    TK_ENCODER_CTX *ectx = vctx;
    const TK_KEY *k = obj_raw;
    unsigned char *der = NULL;
    size_t len = 0;
    BIO *out;
    int ok;

    if (k == NULL) {
        TK_RAISE(ectx->provctx, TK_R_BAD_ARGUMENT, "a key reference is written from a token key");
        return 0;
    }
    if (!keyref_uri_ok(ectx, k))
        return 0;
    if (!tk_keyref_to_der(k->uri, &der, &len)) {
        TK_RAISE(ectx->provctx, TK_R_OUT_OF_MEMORY, "encoding the key reference");
        return 0;
    }
    /* Never write what no reader takes (keyref.h). */
    if (len > TK_KEYREF_DER_MAX) {
        TK_RAISE(ectx->provctx, TK_R_BAD_KEY_REFERENCE, "the key's URI makes a key reference of "
                 "%zu bytes, over the %d a key reference may have: give the key a shorter "
                 "CKA_LABEL or CKA_ID", len, TK_KEYREF_DER_MAX);
        OPENSSL_free(der);
        return 0;
    }
    out = tk_store_core_bio(ectx->provctx, cout);
    if (out == NULL) {
        OPENSSL_free(der);
        return 0;
    }
    if (ectx->output == TK_ENC_PEM)
        ok = PEM_write_bio(out, TK_KEYREF_PEM_LABEL, "", der, (long)len) > 0;
    else
        ok = BIO_write(out, der, (int)len) == (int)len;
    BIO_free(out);
    OPENSSL_free(der);
    if (!ok)
        TK_RAISE(ectx->provctx, TK_R_OPERATION_FAILED, "writing the key reference");
    return ok;
}

/* ---- text ---- */

/*
 * Parameters alone too (EVP_PKEY_print_params): declined, OpenSSL 3.0 would
 * hand them to the default provider's RSA printer, which exports the key's
 * parameters - none - and dereferences the modulus it never got (SIGSEGV).
 */
static int tk_enc_text_does_selection(void *provctx, int selection)
{
    return selection == 0
           || (selection & (OSSL_KEYMGMT_SELECT_KEYPAIR | OSSL_KEYMGMT_SELECT_ALL_PARAMETERS)) != 0;
}

/* "xx:xx:..." 15 bytes a line, as OpenSSL's own key printers do. */
static int print_hex(BIO *out, const unsigned char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (i % 15 == 0 && BIO_printf(out, "%s    ", i > 0 ? "\n" : "") <= 0)
            return 0;
        if (BIO_printf(out, "%02x%s", buf[i], i + 1 < len ? ":" : "") <= 0)
            return 0;
    }
    return BIO_printf(out, "\n") > 0;
}

static int print_rsa(BIO *out, const TK_KEY *k)
{
    int n = BN_num_bytes(k->rsa_n);
    /* A leading zero byte when the top bit is set, as an INTEGER is printed. */
    unsigned char *buf = OPENSSL_zalloc((size_t)n + 1);
    int top = n > 0 && BN_is_bit_set(k->rsa_n, n * 8 - 1);
    int ok;

    if (buf == NULL)
        return 0;
    BN_bn2bin(k->rsa_n, buf + top);
    ok = BIO_printf(out, "modulus:\n") > 0 && print_hex(out, buf, (size_t)n + (size_t)top);
    OPENSSL_free(buf);
    if (ok && BN_num_bits(k->rsa_e) <= 64) {
        BN_ULONG e = BN_get_word(k->rsa_e);

        ok = BIO_printf(out, "publicExponent: %llu (0x%llx)\n", (unsigned long long)e,
                        (unsigned long long)e) > 0;
    } else if (ok) {
        char *hex = BN_bn2hex(k->rsa_e);

        ok = hex != NULL && BIO_printf(out, "publicExponent: 0x%s\n", hex) > 0;
        OPENSSL_free(hex);
    }
    return ok;
}

static int print_ec_group(BIO *out, const TK_KEY *k)
{
    int nid = OBJ_sn2nid(k->group);
    const char *nist = nid != NID_undef ? EC_curve_nid2nist(nid) : NULL;

    if (BIO_printf(out, "ASN1 OID: %s\n", k->group) <= 0)
        return 0;
    return nist == NULL || BIO_printf(out, "NIST CURVE: %s\n", nist) > 0;
}

static int print_ec(BIO *out, const TK_KEY *k)
{
    return BIO_printf(out, "pub:\n") > 0 && print_hex(out, k->pub, k->pub_len)
           && print_ec_group(out, k);
}

/*
 * The parameters alone: an EC key's curve, as OpenSSL prints a software
 * key's. RSA (no PSS restrictions on a token key) and Ed25519 keys have
 * none, and print nothing (OpenSSL 3.0's own printers write a key header,
 * or "(null):", there).
 */
static int print_params(BIO *out, const TK_KEY *k)
{
    if (k->type != TK_KEY_EC || k->group[0] == '\0')
        return 1;
    return BIO_printf(out, "EC-Parameters: (%d bit)\n", k->bits) > 0 && print_ec_group(out, k);
}

/* The key: type, size, public half, and where its private half is. */
static int print_key(BIO *out, const TK_KEY *k, int private_part)
{
    int ok;

    /* A key made with EVP_PKEY_fromdata and no public parameters has none. */
    if (!tk_key_has_public(k))
        return -1;

    if (k->type == TK_KEY_ED25519)
        ok = BIO_printf(out, "ED25519 %s-Key:%s\n", private_part ? "Private" : "Public",
                        private_part ? " (on token)" : "") > 0;
    else
        ok = BIO_printf(out, "%s-Key: (%d bit%s)\n", private_part ? "Private" : "Public", k->bits,
                        private_part ? ", on token" : "") > 0;
    if (ok && k->type == TK_KEY_RSA)
        ok = print_rsa(out, k);
    else if (ok && k->type == TK_KEY_EC)
        ok = print_ec(out, k);
    else if (ok)
        ok = BIO_printf(out, "pub:\n") > 0 && print_hex(out, k->pub, k->pub_len);
    if (ok && private_part)
        ok = BIO_printf(out, "private key: on token, not exportable (%s)\n", k->uri) > 0;
    return ok;
}

static int tk_enc_text_encode(void *vctx, OSSL_CORE_BIO *cout, const void *obj_raw,
                              const OSSL_PARAM obj_abstract[], int selection,
                              OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    TK_ENCODER_CTX *ectx = vctx;
    const TK_KEY *k = obj_raw;
    int ok;
    BIO *out;

    if (k == NULL) {
        TK_RAISE(ectx->provctx, TK_R_BAD_ARGUMENT, "text is written from a token key");
        return 0;
    }
    out = tk_store_core_bio(ectx->provctx, cout);
    if (out == NULL)
        return 0;
    if (selection != 0 && (selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0)
        ok = print_params(out, k);
    else
        ok = print_key(out, k, tk_key_has_private(k)
                                   && (selection == 0
                                       || (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0));
    BIO_free(out);
    if (ok < 0)
        TK_RAISE(ectx->provctx, TK_R_BAD_ARGUMENT, "the %s key has no public half to print "
                 "(made from parameters without one)", tk_key_type_name(k->type));
    else if (!ok)
        TK_RAISE(ectx->provctx, TK_R_OPERATION_FAILED, "printing the key");
    return ok > 0;
}

/* ---- dispatch tables ---- */

static const OSSL_DISPATCH tk_enc_keyref_pem_functions[] = {
    { OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))tk_enc_pem_newctx },
    { OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))tk_enc_freectx },
    { OSSL_FUNC_ENCODER_DOES_SELECTION, (void (*)(void))tk_enc_keyref_does_selection },
    { OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))tk_enc_keyref_encode },
    { 0, NULL }
};

static const OSSL_DISPATCH tk_enc_keyref_der_functions[] = {
    { OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))tk_enc_der_newctx },
    { OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))tk_enc_freectx },
    { OSSL_FUNC_ENCODER_DOES_SELECTION, (void (*)(void))tk_enc_keyref_does_selection },
    { OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))tk_enc_keyref_encode },
    { 0, NULL }
};

static const OSSL_DISPATCH tk_enc_text_functions[] = {
    { OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))tk_enc_text_newctx },
    { OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))tk_enc_freectx },
    { OSSL_FUNC_ENCODER_DOES_SELECTION, (void (*)(void))tk_enc_text_does_selection },
    { OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))tk_enc_text_encode },
    { 0, NULL }
};

#define TK_RSA_NAMES "RSA:rsaEncryption:1.2.840.113549.1.1.1"
#define TK_EC_NAMES "EC:id-ecPublicKey:1.2.840.10045.2.1"
#define TK_ED25519_NAMES "ED25519:1.3.101.112"

const OSSL_ALGORITHM tk_encoder_algorithms[] = {
    { TK_RSA_NAMES, "provider=tokenkey,output=pem,structure=PrivateKeyInfo",
      tk_enc_keyref_pem_functions, "tokenkey key reference (PEM)" },
    { TK_RSA_NAMES, "provider=tokenkey,output=pem,structure=" TK_KEYREF_STRUCTURE,
      tk_enc_keyref_pem_functions, "tokenkey key reference (PEM)" },
    { TK_RSA_NAMES, "provider=tokenkey,output=der,structure=" TK_KEYREF_STRUCTURE,
      tk_enc_keyref_der_functions, "tokenkey key reference (DER)" },
    { TK_RSA_NAMES, "provider=tokenkey,output=text", tk_enc_text_functions,
      "token key as text" },

    { TK_EC_NAMES, "provider=tokenkey,output=pem,structure=PrivateKeyInfo",
      tk_enc_keyref_pem_functions, "tokenkey key reference (PEM)" },
    { TK_EC_NAMES, "provider=tokenkey,output=pem,structure=" TK_KEYREF_STRUCTURE,
      tk_enc_keyref_pem_functions, "tokenkey key reference (PEM)" },
    { TK_EC_NAMES, "provider=tokenkey,output=der,structure=" TK_KEYREF_STRUCTURE,
      tk_enc_keyref_der_functions, "tokenkey key reference (DER)" },
    { TK_EC_NAMES, "provider=tokenkey,output=text", tk_enc_text_functions,
      "token key as text" },

    { TK_ED25519_NAMES, "provider=tokenkey,output=pem,structure=PrivateKeyInfo",
      tk_enc_keyref_pem_functions, "tokenkey key reference (PEM)" },
    { TK_ED25519_NAMES, "provider=tokenkey,output=pem,structure=" TK_KEYREF_STRUCTURE,
      tk_enc_keyref_pem_functions, "tokenkey key reference (PEM)" },
    { TK_ED25519_NAMES, "provider=tokenkey,output=der,structure=" TK_KEYREF_STRUCTURE,
      tk_enc_keyref_der_functions, "tokenkey key reference (DER)" },
    { TK_ED25519_NAMES, "provider=tokenkey,output=text", tk_enc_text_functions,
      "token key as text" },

    { NULL, NULL, NULL, NULL }
};
