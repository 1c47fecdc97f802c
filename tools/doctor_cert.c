/*
 * tokenkey doctor, after the key was found: the certificate that goes with
 * it, its chain to the CAs the brokers trust, its dates, and a signature
 * made by the token that verifies with the certificate's public key - the
 * last being what a TLS server checks in CertificateVerify (RFC 8446
 * section 4.4.3).
 */
#include <limits.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "cli.h"

/* "the key's certificate: make a CSR and import the signed certificate" */
#define REISSUE_HINT "make a CSR with this key ('tokenkey csr --key ...'), have the CA sign it, then " \
                     "'tokenkey import-cert'"

/*
 * The --cert file, read once as the client loads it (PEM or DER, every
 * block: a damaged one fails the client): d->cert_file_certs, and
 * d->cert its first. 0 with why set when it cannot be used.
 */
static int read_cert_file(TK_DOCTOR *d, char *why, size_t cap)
{
    int damaged = 0;

    switch (tk_cli_load_certs(d->cert_file, &d->cert_file_certs, &damaged)) {
    case TK_CERTS_OK:
        d->cert = sk_X509_value(d->cert_file_certs, 0);
        if (X509_up_ref(d->cert))
            return 1;
        d->cert = NULL;
        snprintf(why, cap, "out of memory");
        break;
    case TK_CERTS_UNREADABLE:
        snprintf(why, cap, "cannot open it");
        break;
    case TK_CERTS_DAMAGED:
        snprintf(why, cap, "certificate %d in the file is damaged (" TK_CERT_DAMAGED_WHY "), and "
                           "the client fails to load such a file", damaged);
        break;
    case TK_CERTS_NONE:
        snprintf(why, cap, "not a PEM or DER X.509 certificate");
        break;
    case TK_CERTS_NO_MEMORY:
        snprintf(why, cap, "out of memory");
        break;
    }
    return 0;
}

static TK_DOCTOR_STATUS cert_fail(TK_DOCTOR *d, const char *hint, const char *detail)
{
    tk_doctor_report(d, "certificate", TK_DOCTOR_FAIL, "%s", detail);
    tk_doctor_hint(d, "%s", hint);
    return TK_DOCTOR_FAIL;
}

/*
 * Whether the token holds a certificate with the key's id that matches the
 * key, valid now; *n: how many certificates have the key's id (export
 * refuses more than one).
 */
static int token_has_matching_cert(TK_DOCTOR *d, CK_ULONG *n)
{
    X509 *x = tk_cli_best_token_cert(&d->session, d->key_id, d->key_id_len, d->pkey, n, NULL);
    int found = x != NULL && tk_cli_cert_matches(x, d->pkey) && tk_cli_cert_valid_now(x);

    X509_free(x);
    return found;
}

/*
 * What to do about a certificate that does not fit: a file that is only
 * stale (the token holds the right one) is written again from the token
 * (after keeping that one alone: export refuses two); a certificate the
 * token lacks too is made anew.
 */
static const char *refit_hint(TK_DOCTOR *d, const char *why, char *out, size_t cap)
{
    CK_ULONG n;
    char *file = d->cert_file != NULL && token_has_matching_cert(d, &n)
                     ? tk_cli_shell_quoted(d->cert_file) : NULL;

    if (file != NULL)
        snprintf(out, cap, "the token holds this key's own certificate: %swrite the file again "
                           "from it: tokenkey export --key KEY --cert-out %s --force (or "
                           "tokenkey kafka-config ... --force)",
                 n > 1 ? "keep it alone on the token (tokenkey import-cert --key KEY --cert "
                         "FILE --replace), then " : "", file);
    else
        snprintf(out, cap, "%s: %s", why, REISSUE_HINT);
    OPENSSL_free(file);
    return out;
}

TK_DOCTOR_STATUS tk_doctor_check_cert(TK_DOCTOR *d)
{
    char subject[512], issuer[512], where[1100], why[256], id[130], msg[2048], hint[PATH_MAX * 2 + 300];
    CK_ULONG n = 0;

    tk_cli_hex(id, sizeof(id), d->key_id, d->key_id_len);
    if (d->cert_file != NULL) {
        if (!read_cert_file(d, why, sizeof(why))) {
            snprintf(msg, sizeof(msg), "'%s': %s", d->cert_file, why);
            /* The client's own file: --cert would make doctor pass, and the client still fail. */
            return cert_fail(d, d->client_cert_file != NULL
                                    ? refit_hint(d, "the client's certificate file (its "
                                                    "ssl.certificate.location) cannot be used",
                                                 hint, sizeof(hint))
                                    : "pass the client certificate (PEM or DER) with --cert", msg);
        }
        snprintf(where, sizeof(where), "from '%s'", d->cert_file);
    } else {
        if (d->key_id_len == 0)
            return cert_fail(d, "pass the certificate with --cert FILE",
                             "the key has no CKA_ID, so no certificate on the token is paired with it");
        /* Several may share the id (a renewal without --replace): the one a renewed client sends. */
        d->cert = tk_cli_best_token_cert(&d->session, d->key_id, d->key_id_len, d->pkey, &n, NULL);
        if (d->cert == NULL) {
            snprintf(msg, sizeof(msg), "no certificate on the token has the key's id %s", id);
            return cert_fail(d, "store the CA-signed certificate with 'tokenkey import-cert --key KEY --cert "
                                "FILE', or pass it with --cert FILE", msg);
        }
        snprintf(where, sizeof(where), "on the token (id %s)", id);
    }
    tk_cli_name(subject, sizeof(subject), X509_get_subject_name(d->cert));
    tk_cli_name(issuer, sizeof(issuer), X509_get_issuer_name(d->cert));
    if (!tk_cli_cert_matches(d->cert, d->pkey)) {
        snprintf(msg, sizeof(msg), "'%s' %s does not match the key: it certifies another public key", subject,
                 where);
        return cert_fail(d, refit_hint(d, "that certificate was issued for another key", hint,
                                       sizeof(hint)), msg);
    }
    /* tk_cli_export (export, kafka-config) refuses this: the client's file cannot be written again. */
    if (d->cert_file == NULL && n > 1)
        return tk_doctor_report(d, "certificate", TK_DOCTOR_WARN, "'%s' issued by '%s', %s, matches "
                                "the key; %lu certificates on the token have the key's id, which "
                                "'tokenkey export' and 'kafka-config' refuse: keep this one with "
                                "'tokenkey import-cert --replace'", subject, issuer, where,
                                (unsigned long)n);
    return tk_doctor_report(d, "certificate", TK_DOCTOR_OK, "'%s' issued by '%s', %s, matches the key",
                            subject, issuer, where);
}

/* Every certificate in a PEM file onto sk: how many, or -1 (unreadable, or a damaged block). */
static int read_pem_certs(const char *path, STACK_OF(X509) *sk)
{
    BIO *b = BIO_new_file(path, "r");
    int n = b != NULL ? tk_cli_read_pem_certs(b, sk) : -1;

    BIO_free(b);
    ERR_clear_error();
    return n;
}

/*
 * The certificates the client would send after its own: those after the
 * first in the --cert file (the client presents that file, as export
 * writes it), else the token's others. Candidates for intermediates only:
 * trust still comes only from --ca.
 */
static void presented_intermediates(TK_DOCTOR *d, STACK_OF(X509) *sk)
{
    CK_OBJECT_HANDLE certs[32];
    CK_ULONG n = 0;

    if (d->cert_file != NULL) {
        for (int i = 0; i < sk_X509_num(d->cert_file_certs); i++) {
            X509 *x = sk_X509_value(d->cert_file_certs, i);

            if (X509_cmp(x, d->cert) != 0 && X509_up_ref(x) && !sk_X509_push(sk, x))
                X509_free(x);
        }
        return;
    }
    if (tk_cli_find_certs(&d->session, NULL, 0, certs, 32, &n) != CKR_OK)
        return;
    for (CK_ULONG i = 0; i < n; i++) {
        X509 *x = tk_cli_token_cert(&d->session, certs[i]);

        if (x == NULL || X509_cmp(x, d->cert) == 0 || !sk_X509_push(sk, x))
            X509_free(x);
    }
}

static const char *chain_hint(const TK_DOCTOR *d, int err, int depth)
{
    switch (err) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        /* With --cert the client sends that file, so the token's intermediates do not count. */
        if (d->cert_file != NULL)
            return "the certificate's issuer is not a CA in the --ca file: use the CA file the brokers "
                   "trust, and put intermediate CAs in the --cert file after the certificate (as "
                   "'tokenkey export' writes it) or give them with --chain FILE";
        return "the certificate's issuer is not a CA in the --ca file: use the CA file the brokers trust, "
               "and give intermediate CAs with --chain FILE (or store them with 'tokenkey import-cert "
               "--chain')";
    case X509_V_ERR_INVALID_PURPOSE: {
        /*
         * The purpose check covers the certificate and its CAs (depth > 0),
         * each by its extendedKeyUsage, keyUsage (OpenSSL's client check
         * takes digitalSignature or keyAgreement) and Netscape type.
         */
        uint32_t flags = X509_get_extension_flags(d->cert);

        if (depth > 0)
            return "a CA certificate in the chain may not issue TLS client certificates (its "
                   "extendedKeyUsage or keyUsage): ask the CA which chain to use";
        if ((flags & EXFLAG_XKUSAGE) && !(X509_get_extended_key_usage(d->cert) & XKU_SSL_CLIENT))
            return "the certificate is not for TLS client authentication (its extendedKeyUsage lacks "
                   "clientAuth): ask the CA for a client certificate";
        if ((flags & EXFLAG_KUSAGE)
            && !(X509_get_key_usage(d->cert) & (KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT)))
            return "the certificate's keyUsage lacks digitalSignature, which a TLS client's key signs "
                   "with: ask the CA for a client certificate";
        return "the certificate is not for TLS client authentication (its Netscape certificate "
               "type, say): ask the CA for a client certificate";
    }
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        return "the certificate's signature does not verify with its issuer's key: the --ca file holds "
               "another CA with the same name, or the certificate is damaged";
    default:
        return "compare with 'openssl verify -CAfile CAFILE -purpose sslclient CERT'";
    }
}

TK_DOCTOR_STATUS tk_doctor_check_chain(TK_DOCTOR *d)
{
    X509_STORE *store = NULL;
    X509_STORE_CTX *ctx = NULL;
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    TK_DOCTOR_STATUS st = TK_DOCTOR_FAIL;
    char subject[512], issuer[512], path[1024] = "";

    if (d->ca_file == NULL) {
        sk_X509_free(untrusted);
        return tk_doctor_report(d, "chain", TK_DOCTOR_WARN, "not checked: pass --ca CAFILE (the CAs the "
                                "brokers trust) to verify the certificate chain%s",
                                d->chain_file != NULL ? " (--chain gives intermediates, not trust: "
                                                        "it was not read)" : "");
    }
    store = X509_STORE_new();
    if (untrusted == NULL || store == NULL || !X509_STORE_load_file(store, d->ca_file)) {
        tk_doctor_report(d, "chain", TK_DOCTOR_FAIL, "cannot read CA certificates from '%s'", d->ca_file);
        tk_doctor_hint(d, "pass a PEM file of the CA certificates the brokers trust with --ca");
        goto end;
    }
    if (d->chain_file != NULL && read_pem_certs(d->chain_file, untrusted) <= 0) {
        tk_doctor_report(d, "chain", TK_DOCTOR_FAIL, "cannot read certificates from --chain '%s' "
                         "(none there, or one damaged)", d->chain_file);
        tk_doctor_hint(d, "pass a PEM file of intermediate CA certificates with --chain");
        goto end;
    }
    presented_intermediates(d, untrusted);
    ctx = X509_STORE_CTX_new();
    if (ctx == NULL || !X509_STORE_CTX_init(ctx, store, d->cert, untrusted)) {
        tk_doctor_report(d, "chain", TK_DOCTOR_FAIL, "out of memory");
        tk_doctor_hint(d, "run it again");
        goto end;
    }
    /* Dates are the next check, with their own message: here only trust and purpose. */
    X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx), X509_V_FLAG_NO_CHECK_TIME);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
    if (X509_verify_cert(ctx) == 1) {
        d->chain = X509_STORE_CTX_get1_chain(ctx);
        for (int i = 0; d->chain != NULL && i < sk_X509_num(d->chain); i++) {
            tk_cli_name(subject, sizeof(subject), X509_get_subject_name(sk_X509_value(d->chain, i)));
            OPENSSL_strlcat(path, i ? " <- '" : "'", sizeof(path));
            OPENSSL_strlcat(path, subject, sizeof(path));
            OPENSSL_strlcat(path, "'", sizeof(path));
        }
        st = tk_doctor_report(d, "chain", TK_DOCTOR_OK, "verifies against '%s' for TLS client use: %s",
                              d->ca_file, path);
    } else {
        int err = X509_STORE_CTX_get_error(ctx);
        X509 *cur = X509_STORE_CTX_get_current_cert(ctx);

        tk_cli_name(subject, sizeof(subject), X509_get_subject_name(cur != NULL ? cur : d->cert));
        tk_cli_name(issuer, sizeof(issuer), X509_get_issuer_name(cur != NULL ? cur : d->cert));
        tk_doctor_report(d, "chain", TK_DOCTOR_FAIL, "'%s' (issued by '%s') does not verify against '%s': %s",
                         subject, issuer, d->ca_file, X509_verify_cert_error_string(err));
        tk_doctor_hint(d, "%s", chain_hint(d, err, X509_STORE_CTX_get_error_depth(ctx)));
    }
end:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    sk_X509_pop_free(untrusted, X509_free);
    return st;
}

TK_DOCTOR_STATUS tk_doctor_check_dates(TK_DOCTOR *d)
{
    int n = d->chain != NULL ? sk_X509_num(d->chain) : 1, soonest = -1, soonest_days = 0;
    char subject[512], when[64], hint[PATH_MAX * 2 + 300];

    /* The leaf first, then its CAs: any one out of its dates breaks the handshake. */
    for (int i = 0; i < n; i++) {
        X509 *x = d->chain != NULL ? sk_X509_value(d->chain, i) : d->cert;
        int days = 0, secs = 0;

        tk_cli_name(subject, sizeof(subject), X509_get_subject_name(x));
        if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0) {
            tk_cli_time(when, sizeof(when), X509_get0_notBefore(x));
            tk_doctor_report(d, "dates", TK_DOCTOR_FAIL, "'%s' is not valid before %s", subject, when);
            tk_doctor_hint(d, "its validity starts in the future: check this machine's clock ('date -u'), or "
                              "wait until then");
            return TK_DOCTOR_FAIL;
        }
        if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0) {
            tk_cli_time(when, sizeof(when), X509_get0_notAfter(x));
            tk_doctor_report(d, "dates", TK_DOCTOR_FAIL, "'%s' expired on %s", subject, when);
            if (i == 0)
                tk_doctor_hint(d, "%s", refit_hint(d, "the certificate needs renewing", hint,
                                                   sizeof(hint)));
            else
                tk_doctor_hint(d, "a CA certificate in the chain has expired: get the CA's current "
                                  "certificate");
            return TK_DOCTOR_FAIL;
        }
        if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x))
            && (soonest < 0 || days < soonest_days)) {
            soonest = i;
            soonest_days = days;
        }
    }
    if (soonest < 0)
        soonest = 0;
    tk_cli_name(subject, sizeof(subject),
                X509_get_subject_name(d->chain != NULL ? sk_X509_value(d->chain, soonest) : d->cert));
    tk_cli_time(when, sizeof(when),
                X509_get0_notAfter(d->chain != NULL ? sk_X509_value(d->chain, soonest) : d->cert));
    /* Thirty days: time to get a new certificate signed before clients stop connecting. */
    if (soonest_days < 30)
        return tk_doctor_report(d, "dates", TK_DOCTOR_WARN, "'%s' expires on %s, in %d day%s: renew it soon",
                                subject, when, soonest_days, soonest_days == 1 ? "" : "s");
    return tk_doctor_report(d, "dates", TK_DOCTOR_OK,
                            "valid now; the first to expire is '%s', on %s (%d days)", subject, when,
                            soonest_days);
}

/*
 * The signature a TLS 1.3 handshake asks of the client's key (RFC 8446
 * 4.2.3): RSA signs with PSS (rsa_pss_rsae_*), ECDSA with the hash its curve
 * is paired with (P-384 with SHA-384, P-521 with SHA-512). A key that can
 * make other signatures but not that one fails in the handshake.
 */
TK_DOCTOR_STATUS tk_doctor_check_signature(TK_DOCTOR *d)
{
    static const unsigned char msg[] = "tokenkey doctor: a test signature";
    const size_t msglen = sizeof(msg) - 1;
    int ed = EVP_PKEY_is_a(d->pkey, "ED25519"), rsa = EVP_PKEY_is_a(d->pkey, "RSA");
    int bits = EVP_PKEY_get_bits(d->pkey);
    /* By the curve's size: 384 (P-384, brainpoolP384r1), 512 or 521 (brainpoolP512r1, P-521). */
    const char *md = ed ? NULL : rsa || bits < 384 ? "SHA256" : bits < 512 ? "SHA384" : "SHA512";
    const char *alg = ed ? "Ed25519" : rsa ? "RSA-PSS-SHA256"
                      : bits < 384 ? "ECDSA-SHA256" : bits < 512 ? "ECDSA-SHA384" : "ECDSA-SHA512";
    EVP_MD_CTX *sctx = EVP_MD_CTX_new(), *vctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *spctx = NULL, *vpctx = NULL;
    EVP_PKEY *pub = X509_get0_pubkey(d->cert);
    unsigned char *sig = NULL;
    size_t siglen = 0;
    TK_DOCTOR_STATUS st = TK_DOCTOR_FAIL;

    ERR_clear_error();
    /* Signed by the token, through the provider. */
    if (sctx == NULL || vctx == NULL
        || EVP_DigestSignInit_ex(sctx, &spctx, md, d->cli->libctx, NULL, d->pkey, NULL) != 1
        || (rsa && !tk_cli_pss_params(spctx))
        || EVP_DigestSign(sctx, NULL, &siglen, msg, msglen) != 1 || (sig = OPENSSL_malloc(siglen)) == NULL
        || EVP_DigestSign(sctx, sig, &siglen, msg, msglen) != 1) {
        unsigned long e = ERR_peek_last_error();
        const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;

        tk_doctor_report(d, "signature", TK_DOCTOR_FAIL, "the token did not make an %s signature, "
                         "the one a TLS 1.3 handshake asks for (%s)", alg,
                         reason != NULL ? reason : "no reason given");
        tk_doctor_hint(d, "run with TOKENKEY_DEBUG=1 to see the PKCS#11 calls: the key may lack CKA_SIGN, or "
                          "the token (or the key's CKA_ALLOWED_MECHANISMS) the mechanism");
        goto end;
    }
    /* Checked by the default provider alone, as the TLS peer would, with the certificate's key. */
    if (pub == NULL
        || EVP_DigestVerifyInit_ex(vctx, &vpctx, md, NULL, "provider=default", pub, NULL) != 1
        || (rsa && !tk_cli_pss_params(vpctx))
        || EVP_DigestVerify(vctx, sig, siglen, msg, msglen) != 1) {
        tk_doctor_report(d, "signature", TK_DOCTOR_FAIL, "an %s signature made by the token does not verify "
                         "with the certificate's public key", alg);
        tk_doctor_hint(d, "the key and the certificate do not belong together: %s", REISSUE_HINT);
        goto end;
    }
    st = tk_doctor_report(d, "signature", TK_DOCTOR_OK, "an %s signature made by the token verifies with "
                          "the certificate's public key", alg);
end:
    ERR_clear_error();
    OPENSSL_free(sig);
    EVP_MD_CTX_free(sctx);
    EVP_MD_CTX_free(vctx);
    return st;
}
