/*
 * Objects: find, read attributes, create, copy, destroy, generate.
 *
 * The non-export guarantee starts here: attributes that carry private or
 * secret key material are refused before any request reaches the token,
 * whatever the token would answer (a misconfigured token might answer).
 */
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include "debug.h"
#include "p11_internal.h"

static CK_FUNCTION_LIST *fl_of(const TK_P11_SESSION *s)
{
    return s->token->module->fl;
}

static int is_secret_attribute(CK_ATTRIBUTE_TYPE type)
{
    switch (type) {
    case CKA_VALUE:             /* EC/EdDSA private scalar, secret keys */
    case CKA_PRIVATE_EXPONENT:
    case CKA_PRIME_1:
    case CKA_PRIME_2:
    case CKA_EXPONENT_1:
    case CKA_EXPONENT_2:
    case CKA_COEFFICIENT:
        return 1;
    default:
        return 0;
    }
}

static CK_RV find_once(TK_P11_SESSION *s, CK_ATTRIBUTE *tmpl, CK_ULONG n,
                       CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *count)
{
    CK_FUNCTION_LIST *fl = fl_of(s);
    CK_BBOOL on_token = CK_TRUE;
    CK_ATTRIBUTE full[TK_P11_FIND_MAX_ATTRS + 1];
    CK_ULONG got = 0;
    CK_RV rv, frv;

    *count = 0;
    if (n > TK_P11_FIND_MAX_ATTRS)
        return CKR_ARGUMENTS_BAD;
    /*
     * Token objects only: session objects are never what a lookup wants,
     * and our own session copies of keys (tk_p11_copy_to_session) carry
     * the same CKA_ID and label as the key they copy.
     */
    for (CK_ULONG i = 0; i < n; i++)
        full[i] = tmpl[i];
    full[n] = (CK_ATTRIBUTE){ CKA_TOKEN, &on_token, sizeof(on_token) };
    rv = TK_P11_ON(s, TK_FN_C_FindObjectsInit, fl->C_FindObjectsInit(s->handle, full, n + 1),
                   "session=%lu, %lu attributes + CKA_TOKEN", (unsigned long)s->handle,
                   (unsigned long)n);
    if (rv != CKR_OK)
        return rv;
    /* Some modules return fewer than asked per call: loop until none come. */
    while (*count < max) {
        rv = TK_P11_ON(s, TK_FN_C_FindObjects,
                       fl->C_FindObjects(s->handle, out + *count, max - *count, &got),
                       "session=%lu, max=%lu", (unsigned long)s->handle,
                       (unsigned long)(max - *count));
        if (rv != CKR_OK || got == 0)
            break;
        *count += got;
    }
    /* Always end the search, or the session stays in find mode. */
    frv = TK_P11_ON(s, TK_FN_C_FindObjectsFinal, fl->C_FindObjectsFinal(s->handle),
                    "session=%lu", (unsigned long)s->handle);
    return rv != CKR_OK ? rv : frv;
}

/* Whether a copy of ours on t is under way. */
static int copying(struct tk_p11_token *t)
{
    return __atomic_load_n(&t->copies_ended, __ATOMIC_SEQ_CST)
           != __atomic_load_n(&t->copies_begun, __ATOMIC_SEQ_CST);
}

CK_RV tk_p11_find(TK_P11_SESSION *s, CK_ATTRIBUTE *tmpl, CK_ULONG n,
                  CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *count)
{
    struct tk_p11_token *t = s->token;
    CK_RV rv;

    for (int round = 0;; round++) {
        unsigned long begun = __atomic_load_n(&t->copies_begun, __ATOMIC_SEQ_CST);
        int overlapped = copying(t);

        rv = find_once(s, tmpl, n, out, max, count);
        overlapped |= __atomic_load_n(&t->copies_begun, __ATOMIC_SEQ_CST) != begun;
        if (rv != CKR_OK || *count <= 1 || !overlapped || round == 3)
            return rv;
        TK_DEBUG("slot %lu: %lu objects found while a session copy was made; looking again",
                 (unsigned long)t->slot, (unsigned long)*count);
        /* A copy is one module call: wait for those under way (1 s at most). */
        for (int waited = 0; waited < 100 && copying(t); waited++)
            nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
    }
}

/*
 * Whether the module wrote a length past a buffer it was given (cap[i]):
 * it then wrote past the buffer too, or will make its caller read past it.
 */
static int length_past_buffer(const CK_ATTRIBUTE *a, const CK_ULONG *cap, CK_ULONG n)
{
    for (CK_ULONG i = 0; i < n; i++)
        if (a[i].pValue != NULL && a[i].ulValueLen != CK_UNAVAILABLE_INFORMATION
            && a[i].ulValueLen > cap[i])
            return 1;
    return 0;
}

CK_RV tk_p11_get_attrs(TK_P11_SESSION *s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE *a, CK_ULONG n)
{
    CK_ULONG cap[TK_P11_GET_ATTRS_MAX];
    CK_RV rv;

    if (n > TK_P11_GET_ATTRS_MAX)
        return CKR_ARGUMENTS_BAD;
    for (CK_ULONG i = 0; i < n; i++) {
        if (is_secret_attribute(a[i].type))
            return TK_CKR_SECRET_ATTRIBUTE;
        cap[i] = a[i].ulValueLen;
    }
    rv = TK_P11_ON(s, TK_FN_C_GetAttributeValue,
                   fl_of(s)->C_GetAttributeValue(s->handle, o, a, n),
                   "session=%lu, object=%lu, %lu attributes, first 0x%lx",
                   (unsigned long)s->handle, (unsigned long)o, (unsigned long)n,
                   n > 0 ? (unsigned long)a[0].type : 0UL);
    return (rv == CKR_OK || tk_p11_rv_unavailable(rv)) && length_past_buffer(a, cap, n)
           ? TK_CKR_ATTRIBUTE_LENGTH : rv;
}

/*
 * PKCS#11 (v2.40 5.7, C_GetAttributeValue) requires a module to process
 * every attribute of the template even when it answers
 * CKR_ATTRIBUTE_TYPE_INVALID or CKR_ATTRIBUTE_SENSITIVE for some, setting
 * their lengths to CK_UNAVAILABLE_INFORMATION: so one call asks for all
 * the lengths, and one more fetches every value that exists. Reading a
 * key this way instead of one attribute at a time matters on tokens that
 * pay per call (SoftHSM2 checks its object file on each).
 *
 * Some modules stop at the first attribute they cannot return and leave
 * the rest of the template as it was. Each length starts as NOT_ASKED, a
 * value no module writes (a length, or CK_UNAVAILABLE_INFORMATION, which
 * is ~0): one still there afterwards was skipped, and is asked for alone.
 * A module that follows the standard never pays for this.
 */
#define NOT_ASKED (CK_UNAVAILABLE_INFORMATION - 1)

int tk_p11_rv_unavailable(CK_RV rv)
{
    return rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE;
}

static CK_RV ask_lengths(TK_P11_SESSION *s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE *a, CK_ULONG n,
                         const char *what)
{
    return TK_P11_ON(s, TK_FN_C_GetAttributeValue, fl_of(s)->C_GetAttributeValue(s->handle, o, a, n),
                     "session=%lu, object=%lu, %lu attributes, first 0x%lx, %s",
                     (unsigned long)s->handle, (unsigned long)o, (unsigned long)n,
                     n > 0 ? (unsigned long)a[0].type : 0UL, what);
}

static CK_RV lengths(TK_P11_SESSION *s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE *a, CK_ULONG n)
{
    CK_RV rv;

    for (CK_ULONG i = 0; i < n; i++) {
        a[i].pValue = NULL;
        a[i].ulValueLen = NOT_ASKED;
    }
    rv = ask_lengths(s, o, a, n, "lengths");
    if (rv != CKR_OK && !tk_p11_rv_unavailable(rv))
        return rv;
    for (CK_ULONG i = 0; i < n; i++) {
        if (a[i].ulValueLen != NOT_ASKED)
            continue;
        rv = ask_lengths(s, o, &a[i], 1, "a length the module skipped");
        if (rv != CKR_OK && !tk_p11_rv_unavailable(rv))
            return rv;
        if (rv != CKR_OK || a[i].ulValueLen == NOT_ASKED)
            a[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
    }
    return CKR_OK;
}

static CK_RV attrs_alloc(TK_P11_SESSION *s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE *a, CK_ULONG n)
{
    CK_ATTRIBUTE present[TK_P11_ATTRS_ALLOC_MAX];
    CK_ULONG cap[TK_P11_ATTRS_ALLOC_MAX], npresent = 0;
    CK_RV rv;

    if (n > TK_P11_ATTRS_ALLOC_MAX)
        return CKR_ARGUMENTS_BAD;
    rv = lengths(s, o, a, n);
    if (rv != CKR_OK) {
        for (CK_ULONG i = 0; i < n; i++)
            a[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
        return rv;
    }
    for (CK_ULONG i = 0; i < n; i++) {
        if (a[i].ulValueLen == CK_UNAVAILABLE_INFORMATION)
            continue;
        if (a[i].ulValueLen > TK_P11_ATTR_VALUE_MAX) {
            tk_p11_attrs_free(a, n);
            return TK_CKR_ATTRIBUTE_LENGTH;
        }
        cap[npresent] = a[i].ulValueLen;
        a[i].pValue = OPENSSL_malloc(a[i].ulValueLen > 0 ? a[i].ulValueLen : 1);
        if (a[i].pValue == NULL) {
            tk_p11_attrs_free(a, n);
            return CKR_HOST_MEMORY;
        }
        present[npresent++] = a[i];
    }
    if (npresent == 0)
        return CKR_OK;
    rv = TK_P11_ON(s, TK_FN_C_GetAttributeValue,
                   fl_of(s)->C_GetAttributeValue(s->handle, o, present, npresent),
                   "session=%lu, object=%lu, %lu attributes, first 0x%lx, values",
                   (unsigned long)s->handle, (unsigned long)o, (unsigned long)npresent,
                   (unsigned long)present[0].type);
    if (rv == CKR_OK && length_past_buffer(present, cap, npresent))
        rv = TK_CKR_ATTRIBUTE_LENGTH;
    if (rv != CKR_OK) {
        tk_p11_attrs_free(a, n);
        return rv;
    }
    for (CK_ULONG i = 0, j = 0; i < n; i++)
        if (a[i].pValue != NULL)
            a[i].ulValueLen = present[j++].ulValueLen;
    return CKR_OK;
}

void tk_p11_attrs_free(CK_ATTRIBUTE *a, CK_ULONG n)
{
    for (CK_ULONG i = 0; i < n; i++) {
        OPENSSL_free(a[i].pValue);
        a[i].pValue = NULL;
        a[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
    }
}

const CK_ATTRIBUTE *tk_p11_attr_find(const CK_ATTRIBUTE *a, CK_ULONG n, CK_ATTRIBUTE_TYPE type)
{
    for (CK_ULONG i = 0; i < n; i++)
        if (a[i].type == type && a[i].pValue != NULL)
            return &a[i];
    return NULL;
}

/* One attribute into a new buffer; absent is CKR_ATTRIBUTE_TYPE_INVALID. */
static CK_RV get_alloc(TK_P11_SESSION *s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
                       unsigned char **val, CK_ULONG *len)
{
    CK_ATTRIBUTE a = { type, NULL, 0 };
    CK_RV rv = attrs_alloc(s, o, &a, 1);

    if (rv != CKR_OK)
        return rv;
    if (a.pValue == NULL)
        return CKR_ATTRIBUTE_TYPE_INVALID;
    *val = a.pValue;
    *len = a.ulValueLen;
    return CKR_OK;
}

CK_RV tk_p11_get_attrs_alloc(TK_P11_SESSION *s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE *a, CK_ULONG n)
{
    for (CK_ULONG i = 0; i < n; i++)
        if (is_secret_attribute(a[i].type))
            return TK_CKR_SECRET_ATTRIBUTE;
    return attrs_alloc(s, o, a, n);
}

CK_RV tk_p11_get_attr_alloc(TK_P11_SESSION *s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
                            unsigned char **val, CK_ULONG *len)
{
    if (is_secret_attribute(type))
        return TK_CKR_SECRET_ATTRIBUTE;
    return get_alloc(s, o, type, val, len);
}

CK_RV tk_p11_get_ulong(TK_P11_SESSION *s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, CK_ULONG *v)
{
    CK_ATTRIBUTE a = { type, v, sizeof(*v) };

    return tk_p11_get_attrs(s, o, &a, 1);
}

CK_RV tk_p11_get_bool(TK_P11_SESSION *s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, CK_BBOOL *v)
{
    CK_ATTRIBUTE a = { type, v, sizeof(*v) };

    return tk_p11_get_attrs(s, o, &a, 1);
}

CK_RV tk_p11_get_cert_der(TK_P11_SESSION *s, CK_OBJECT_HANDLE o, unsigned char **der, CK_ULONG *len)
{
    CK_OBJECT_CLASS cls;
    CK_RV rv = tk_p11_get_ulong(s, o, CKA_CLASS, &cls);

    if (rv != CKR_OK)
        return rv;
    /* CKA_VALUE is public only on certificates. */
    if (cls != CKO_CERTIFICATE)
        return TK_CKR_SECRET_ATTRIBUTE;
    return get_alloc(s, o, CKA_VALUE, der, len);
}

CK_RV tk_p11_create(TK_P11_SESSION *s, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *out)
{
    return TK_P11_ON(s, TK_FN_C_CreateObject, fl_of(s)->C_CreateObject(s->handle, tmpl, n, out),
                     "session=%lu, %lu attributes", (unsigned long)s->handle, (unsigned long)n);
}

CK_RV tk_p11_destroy(TK_P11_SESSION *s, CK_OBJECT_HANDLE o)
{
    return TK_P11_ON(s, TK_FN_C_DestroyObject, fl_of(s)->C_DestroyObject(s->handle, o),
                     "session=%lu, object=%lu", (unsigned long)s->handle, (unsigned long)o);
}

CK_RV tk_p11_generate_key_pair(TK_P11_SESSION *s, CK_MECHANISM *mech,
                               CK_ATTRIBUTE *pub, CK_ULONG npub,
                               CK_ATTRIBUTE *priv, CK_ULONG npriv,
                               CK_OBJECT_HANDLE *hpub, CK_OBJECT_HANDLE *hpriv)
{
    return TK_P11_ON(s, TK_FN_C_GenerateKeyPair,
                     fl_of(s)->C_GenerateKeyPair(s->handle, mech, pub, npub, priv, npriv,
                                                 hpub, hpriv),
                     "session=%lu, %s", (unsigned long)s->handle,
                     tk_p11_mech_name(mech->mechanism));
}

CK_RV tk_p11_generate_random(TK_P11_SESSION *s, unsigned char *buf, CK_ULONG len)
{
    return TK_P11_ON(s, TK_FN_C_GenerateRandom, fl_of(s)->C_GenerateRandom(s->handle, buf, len),
                     "session=%lu, %lu bytes", (unsigned long)s->handle, (unsigned long)len);
}

int tk_p11_ec_params_nid(const unsigned char *der, CK_ULONG len)
{
    const unsigned char *p = der;
    ASN1_OBJECT *oid;
    ASN1_PRINTABLESTRING *name;
    int nid = NID_undef;

    ERR_set_mark();
    if ((oid = d2i_ASN1_OBJECT(NULL, &p, (long)len)) != NULL) {
        nid = OBJ_obj2nid(oid);
        ASN1_OBJECT_free(oid);
    } else if (p = der, (name = d2i_ASN1_PRINTABLESTRING(NULL, &p, (long)len)) != NULL) {
        const unsigned char *s = ASN1_STRING_get0_data(name);
        int n = ASN1_STRING_length(name);

        if (n == 12 && memcmp(s, "edwards25519", 12) == 0)
            nid = NID_ED25519;
        else if (n == 10 && memcmp(s, "edwards448", 10) == 0)
            nid = NID_ED448;
        ASN1_STRING_free(name);
    }
    ERR_pop_to_mark();
    return nid;
}
