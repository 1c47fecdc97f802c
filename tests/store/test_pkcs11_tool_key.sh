#!/bin/sh
# Keys made by another PKCS#11 client (OpenSC's pkcs11-tool, not tokenkey)
# are ordinary token keys to tokenkey: an RSA-2048 and a P-256 key pair
# generated with pkcs11-tool sign through the provider (by URI and by a key
# reference written from it), and the signatures verify with the public
# key pkcs11-tool reads back from the token. The PIN reaches pkcs11-tool
# only through its env: form, never argv.
set -eu
# shellcheck source=tests/lib/fixture.sh
. "${TK_FIXTURE_SH:?run with meson test}"
tk_fixture_setup tool-keys || { echo "FAIL: no test token" >&2; exit 1; }
work=$TOKENKEY_TEST_DIR
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

export TOKENKEY_MODULE="$TOKENKEY_TEST_MODULE" TOKENKEY_PIN_FILE="$TOKENKEY_TEST_PIN_FILE"
TK_TEST_PIN=$(cat "$TOKENKEY_TEST_PIN_FILE")
export TK_TEST_PIN
p11tool() {
    pkcs11-tool --module "$TOKENKEY_TEST_MODULE" --token-label "$TOKENKEY_TEST_TOKEN" \
        --login --pin env:TK_TEST_PIN "$@"
}
P="-provider default -provider tokenkey"
printf 'message signed by a key that pkcs11-tool made\n' >"$work/msg"

for spec in "rsa:2048 rsa 11 SHA256" "EC:prime256v1 ec 12 SHA256"; do
    set -- $spec
    label=tool-$2
    if ! p11tool --keypairgen --key-type "$1" --label "$label" --id "$3" >"$work/gen.out" 2>&1; then
        fail "pkcs11-tool could not make the $2 key"; cat "$work/gen.out" >&2; continue
    fi
    # The public key as the token holds it, read by pkcs11-tool (DER SubjectPublicKeyInfo).
    p11tool --read-object --type pubkey --id "$3" -o "$work/$2.pub.der" >/dev/null 2>&1 ||
        fail "pkcs11-tool could not read the $2 public key"
    uri="pkcs11:token=$TOKENKEY_TEST_TOKEN;object=$label;type=private"
    rc=0
    # shellcheck disable=SC2086
    openssl dgst $P -sha256 -sign "$uri" -out "$work/$2.sig" "$work/msg" 2>"$work/err" || rc=$?
    [ "$rc" -eq 0 ] || { fail "$2: signing through tokenkey by URI failed ($rc)"; cat "$work/err" >&2; }
    openssl dgst -sha256 -verify "$work/$2.pub.der" -keyform DER -signature "$work/$2.sig" \
        "$work/msg" >/dev/null 2>&1 || fail "$2: the signature made by URI does not verify"
    # A key reference for it, then the same through the file.
    rc=0
    # shellcheck disable=SC2086
    openssl pkey $P -in "$uri" -out "$work/$2.ref.pem" 2>"$work/err" || rc=$?
    [ "$rc" -eq 0 ] || { fail "$2: writing a key reference failed ($rc)"; cat "$work/err" >&2; }
    head -n 1 "$work/$2.ref.pem" | grep -qx -- "-----BEGIN TOKENKEY KEY REFERENCE-----" ||
        fail "$2: the key file is not a key reference"
    rc=0
    # shellcheck disable=SC2086
    openssl dgst $P -sha256 -sign "$work/$2.ref.pem" -out "$work/$2.sig2" "$work/msg" 2>"$work/err" || rc=$?
    [ "$rc" -eq 0 ] || { fail "$2: signing through the key reference failed ($rc)"; cat "$work/err" >&2; }
    openssl dgst -sha256 -verify "$work/$2.pub.der" -keyform DER -signature "$work/$2.sig2" \
        "$work/msg" >/dev/null 2>&1 || fail "$2: the signature made through the key reference does not verify"
    # And a corrupted signature does not: byte 10 inverted (writing a fixed
    # value would leave the signature intact when the byte already had it).
    byte=$(od -An -tu1 -j10 -N1 "$work/$2.sig" | tr -d ' ')
    # shellcheck disable=SC2059
    printf "\\$(printf '%03o' $((byte ^ 255)))" | dd of="$work/$2.sig" bs=1 seek=10 conv=notrunc 2>/dev/null
    if openssl dgst -sha256 -verify "$work/$2.pub.der" -keyform DER -signature "$work/$2.sig" \
        "$work/msg" >/dev/null 2>&1; then
        fail "$2: a corrupted signature verified"
    fi
done

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed" >&2
    exit 1
fi
echo "ok: keys made by pkcs11-tool sign through tokenkey"
