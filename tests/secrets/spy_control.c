/*
 * tk-spy-control: the control of the pkcs11-spy check in test_secrets.sh.
 * A PKCS#11 client that does what tokenkey must never do: asks a private
 * key object for CKA_PRIVATE_EXPONENT and CKA_VALUE. The token refuses
 * (CKR_ATTRIBUTE_SENSITIVE), but the requests are in the spy's log, and
 * spylog.py must report them; if it did not, its silence about tokenkey's
 * logs would prove nothing.
 *
 * usage: tk-spy-control MODULE TOKEN-LABEL KEY-LABEL PIN-FILE
 * Exit status 0 when both requests were made (whatever the token answered).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST *fl;

static int fail(const char *what, CK_RV rv)
{
    fprintf(stderr, "tk-spy-control: %s: 0x%lx\n", what, (unsigned long)rv);
    return 1;
}

/* The slot whose token has this label (blank-padded, PKCS#11 section 3.2). */
static int find_slot(const char *label, CK_SLOT_ID *out)
{
    CK_SLOT_ID slots[64];
    CK_ULONG n = 64;

    if (fl->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
        return 0;
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO ti;
        size_t len = strlen(label);

        if (fl->C_GetTokenInfo(slots[i], &ti) == CKR_OK && len <= sizeof(ti.label)
            && memcmp(ti.label, label, len) == 0
            && (len == sizeof(ti.label) || ti.label[len] == ' ')) {
            *out = slots[i];
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    CK_C_GetFunctionList get;
    CK_SESSION_HANDLE s;
    CK_SLOT_ID slot;
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE find[] = {
        { CKA_CLASS, &cls, sizeof(cls) },
        { CKA_LABEL, NULL, 0 },
    };
    CK_OBJECT_HANDLE key;
    CK_ULONG found = 0;
    unsigned char buf[1024];
    char pin[256];
    size_t pin_len;
    FILE *f;
    void *dl;
    CK_RV rv;

    if (argc != 5) {
        fprintf(stderr, "usage: tk-spy-control MODULE TOKEN-LABEL KEY-LABEL PIN-FILE\n");
        return 2;
    }
    if ((dl = dlopen(argv[1], RTLD_NOW)) == NULL) {
        fprintf(stderr, "tk-spy-control: %s\n", dlerror());
        return 1;
    }
    *(void **)&get = dlsym(dl, "C_GetFunctionList");
    if (get == NULL || get(&fl) != CKR_OK)
        return fail("C_GetFunctionList", CKR_GENERAL_ERROR);
    if ((rv = fl->C_Initialize(NULL)) != CKR_OK)
        return fail("C_Initialize", rv);
    if (!find_slot(argv[2], &slot))
        return fail("no such token", CKR_TOKEN_NOT_PRESENT);
    if ((rv = fl->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s)) != CKR_OK)
        return fail("C_OpenSession", rv);
    if ((f = fopen(argv[4], "r")) == NULL || fgets(pin, sizeof(pin), f) == NULL)
        return fail("cannot read the PIN file", CKR_ARGUMENTS_BAD);
    fclose(f);
    pin_len = strcspn(pin, "\r\n");
    rv = fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)pin_len);
    memset(pin, 0, sizeof(pin));
    if (rv != CKR_OK)
        return fail("C_Login", rv);
    find[1].pValue = argv[3];
    find[1].ulValueLen = strlen(argv[3]);
    if ((rv = fl->C_FindObjectsInit(s, find, 2)) != CKR_OK
        || (rv = fl->C_FindObjects(s, &key, 1, &found)) != CKR_OK
        || (rv = fl->C_FindObjectsFinal(s)) != CKR_OK || found != 1)
        return fail("finding the private key", rv != CKR_OK ? rv : CKR_GENERAL_ERROR);
    /* The two requests; the answers do not matter (a good token refuses). */
    {
        CK_ATTRIBUTE exponent = { CKA_PRIVATE_EXPONENT, buf, sizeof(buf) };
        CK_ATTRIBUTE value = { CKA_VALUE, buf, sizeof(buf) };

        printf("CKA_PRIVATE_EXPONENT: 0x%lx\n", (unsigned long)fl->C_GetAttributeValue(s, key, &exponent, 1));
        printf("CKA_VALUE: 0x%lx\n", (unsigned long)fl->C_GetAttributeValue(s, key, &value, 1));
    }
    fl->C_Logout(s);
    fl->C_CloseSession(s);
    fl->C_Finalize(NULL);
    return 0;
}
