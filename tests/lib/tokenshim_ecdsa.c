/*
 * tk-tokenshim's combined ECDSA mechanisms (see tokenshim.h).
 *
 * CKM_ECDSA_SHA1 ... CKM_ECDSA_SHA512 take the message and hash it inside
 * the token (PKCS#11 v2.40 section 2.3.7); SoftHSM2 2.6.1 has only
 * CKM_ECDSA, which takes the digest. The shim makes them from it: it hashes
 * the message with libcrypto and hands the digest to the real module's
 * CKM_ECDSA, so the key, its checks and the signature stay the real
 * module's. With "combined-only", CKM_ECDSA itself is hidden, as on an HSM
 * set up to hash inside: whatever signs then went through a combined
 * mechanism or failed.
 *
 * Only single-part C_Sign is made: tokenkey keeps the message and signs it
 * in one call, and a C_SignUpdate here is a failure with its reason on
 * stderr, not a silent fallback. Verification is not made (tokenkey
 * verifies in software), and the real module checks a key's
 * CKA_ALLOWED_MECHANISMS against CKM_ECDSA: a key limited to a combined
 * mechanism cannot sign through the shim.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "tokenshim.h"
#include "tokenshim_ecdsa.h"

static CK_FUNCTION_LIST *target;
static int hide_raw;

static const struct combined {
    CK_MECHANISM_TYPE mech;
    const char *digest;
} combined[] = {
    { CKM_ECDSA_SHA1, "SHA1" },
    { CKM_ECDSA_SHA224, "SHA224" },
    { CKM_ECDSA_SHA256, "SHA256" },
    { CKM_ECDSA_SHA384, "SHA384" },
    { CKM_ECDSA_SHA512, "SHA512" },
};
#define N_COMBINED (sizeof(combined) / sizeof(combined[0]))

static unsigned long signed_with[N_COMBINED];

/* Sessions in an emulated operation, and which mechanism each one runs. */
#define MAX_OPS 64
static pthread_mutex_t ops_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    CK_SESSION_HANDLE session;
    const struct combined *with;
} ops[MAX_OPS];

static const struct combined *combined_of(CK_MECHANISM_TYPE mech)
{
    for (size_t i = 0; i < N_COMBINED; i++)
        if (combined[i].mech == mech)
            return &combined[i];
    return NULL;
}

static int hidden(CK_MECHANISM_TYPE mech)
{
    return hide_raw && mech == CKM_ECDSA;
}

/* Set (with != NULL) or end (NULL) session h's emulated operation. */
static CK_RV op_set(CK_SESSION_HANDLE h, const struct combined *with)
{
    CK_RV rv = with != NULL ? CKR_DEVICE_MEMORY : CKR_OK;

    pthread_mutex_lock(&ops_lock);
    for (size_t i = 0; i < MAX_OPS; i++)
        if (ops[i].with != NULL && ops[i].session == h)
            ops[i].with = NULL;
    for (size_t i = 0; with != NULL && i < MAX_OPS; i++)
        if (ops[i].with == NULL) {
            ops[i].session = h;
            ops[i].with = with;
            rv = CKR_OK;
            break;
        }
    pthread_mutex_unlock(&ops_lock);
    return rv;
}

static const struct combined *op_of(CK_SESSION_HANDLE h)
{
    const struct combined *with = NULL;

    pthread_mutex_lock(&ops_lock);
    for (size_t i = 0; i < MAX_OPS && with == NULL; i++)
        if (ops[i].with != NULL && ops[i].session == h)
            with = ops[i].with;
    pthread_mutex_unlock(&ops_lock);
    return with;
}

unsigned long tk_tokenshim_combined_signatures(CK_MECHANISM_TYPE mech)
{
    const struct combined *c = combined_of(mech);

    return c != NULL ? __atomic_load_n(&signed_with[c - combined], __ATOMIC_SEQ_CST) : 0;
}

/* The real list without what is hidden, plus the combined ones when CKM_ECDSA is there. */
static CK_RV shim_get_mechanism_list(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list,
                                     CK_ULONG_PTR count)
{
    CK_MECHANISM_TYPE *real = NULL, *shown = NULL;
    CK_ULONG n_real = 0, n_shown = 0;
    int has_raw = 0;
    CK_RV rv = target->C_GetMechanismList(slot, NULL, &n_real);

    if (rv != CKR_OK)
        return rv;
    if ((real = calloc(n_real + 1, sizeof(*real))) == NULL
        || (shown = calloc(n_real + N_COMBINED + 1, sizeof(*shown))) == NULL) {
        rv = CKR_HOST_MEMORY;
        goto done;
    }
    if ((rv = target->C_GetMechanismList(slot, real, &n_real)) != CKR_OK)
        goto done;
    for (CK_ULONG i = 0; i < n_real; i++) {
        has_raw |= real[i] == CKM_ECDSA;
        if (!hidden(real[i]) && combined_of(real[i]) == NULL)
            shown[n_shown++] = real[i];
    }
    for (size_t i = 0; has_raw && i < N_COMBINED; i++)
        shown[n_shown++] = combined[i].mech;
    if (list != NULL && *count < n_shown)
        rv = CKR_BUFFER_TOO_SMALL;
    else if (list != NULL)
        memcpy(list, shown, n_shown * sizeof(*shown));
    *count = n_shown;
done:
    free(real);
    free(shown);
    return rv;
}

/* A combined mechanism has the real CKM_ECDSA's key sizes; it signs only (see above). */
static CK_RV shim_get_mechanism_info(CK_SLOT_ID slot, CK_MECHANISM_TYPE mech,
                                     CK_MECHANISM_INFO_PTR info)
{
    CK_RV rv;

    if (hidden(mech))
        return CKR_MECHANISM_INVALID;
    if (combined_of(mech) == NULL)
        return target->C_GetMechanismInfo(slot, mech, info);
    rv = target->C_GetMechanismInfo(slot, CKM_ECDSA, info);
    if (rv == CKR_OK)
        info->flags &= ~(CKF_VERIFY | CKF_VERIFY_RECOVER | CKF_SIGN_RECOVER);
    return rv;
}

static CK_RV shim_sign_init(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
    const struct combined *with = mech != NULL ? combined_of(mech->mechanism) : NULL;
    CK_MECHANISM raw = { CKM_ECDSA, NULL, 0 };
    CK_RV rv;

    if (mech != NULL && hidden(mech->mechanism))
        return CKR_MECHANISM_INVALID;
    if (with != NULL && (mech->pParameter != NULL || mech->ulParameterLen != 0))
        return CKR_MECHANISM_PARAM_INVALID;
    /* An operation still active stays as it is (CKR_OPERATION_ACTIVE): only a new one is marked. */
    rv = target->C_SignInit(h, with != NULL ? &raw : mech, key);
    if (rv == CKR_OK && op_set(h, with) != CKR_OK) {
        fprintf(stderr, "tk-tokenshim: more than %d emulated ECDSA operations at once\n", MAX_OPS);
        abort();
    }
    return rv;
}

/*
 * The digest of the message, signed by the real CKM_ECDSA. As C_Sign does,
 * only a length query or CKR_BUFFER_TOO_SMALL leaves the operation active
 * (PKCS#11 v2.40 section 5.2, "Conventions for functions returning output").
 */
static CK_RV shim_sign(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
                       CK_ULONG_PTR siglen)
{
    const struct combined *with = op_of(h);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    CK_RV rv;

    if (with == NULL)
        return target->C_Sign(h, data, len, sig, siglen);
    if (!EVP_Digest(data, len, digest, &dlen, EVP_get_digestbyname(with->digest), NULL)) {
        /* A broken test environment, not something tokenkey is tested on. */
        fprintf(stderr, "tk-tokenshim: cannot compute %s\n", with->digest);
        abort();
    }
    rv = target->C_Sign(h, digest, dlen, sig, siglen);
    if (rv == CKR_OK && sig != NULL)
        __atomic_add_fetch(&signed_with[with - combined], 1, __ATOMIC_SEQ_CST);
    if (rv != CKR_BUFFER_TOO_SMALL && !(rv == CKR_OK && sig == NULL))
        op_set(h, NULL);
    return rv;
}

static CK_RV refuse_multipart(CK_SESSION_HANDLE h)
{
    fprintf(stderr, "tk-tokenshim: multi-part signing with an emulated ECDSA mechanism is "
            "not made (only C_Sign)\n");
    op_set(h, NULL);
    return CKR_FUNCTION_FAILED;
}

static CK_RV shim_sign_update(CK_SESSION_HANDLE h, CK_BYTE_PTR part, CK_ULONG len)
{
    if (op_of(h) != NULL)
        return refuse_multipart(h);
    return target->C_SignUpdate(h, part, len);
}

static CK_RV shim_sign_final(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
    if (op_of(h) != NULL)
        return refuse_multipart(h);
    return target->C_SignFinal(h, sig, siglen);
}

static CK_RV shim_close_session(CK_SESSION_HANDLE h)
{
    op_set(h, NULL);
    return target->C_CloseSession(h);
}

static void ops_clear(void)
{
    pthread_mutex_lock(&ops_lock);
    memset(ops, 0, sizeof(ops));
    pthread_mutex_unlock(&ops_lock);
}

static CK_RV shim_close_all_sessions(CK_SLOT_ID slot)
{
    /* Session handles say nothing of their slot here; the tests use one token. */
    ops_clear();
    return target->C_CloseAllSessions(slot);
}

static CK_RV shim_finalize(CK_VOID_PTR reserved)
{
    ops_clear();
    return target->C_Finalize(reserved);
}

void tk_tokenshim_ecdsa_wire(CK_FUNCTION_LIST *shim, CK_FUNCTION_LIST *real, const char *mode)
{
    if (mode == NULL || *mode == '\0')
        return;
    if (strcmp(mode, "combined") != 0 && strcmp(mode, "combined-only") != 0) {
        fprintf(stderr, "tk-tokenshim: TK_TOKENSHIM_ECDSA is 'combined' or 'combined-only', "
                "not '%s'\n", mode);
        abort();
    }
    target = real;
    hide_raw = strcmp(mode, "combined-only") == 0;
    shim->C_GetMechanismList = shim_get_mechanism_list;
    shim->C_GetMechanismInfo = shim_get_mechanism_info;
    shim->C_SignInit = shim_sign_init;
    shim->C_Sign = shim_sign;
    shim->C_SignUpdate = shim_sign_update;
    shim->C_SignFinal = shim_sign_final;
    shim->C_CloseSession = shim_close_session;
    shim->C_CloseAllSessions = shim_close_all_sessions;
    shim->C_Finalize = shim_finalize;
}
