#!/bin/sh
# The bad-input table: every line of cases.txt is one thing a user gets
# wrong (provider configuration, URIs, key reference files, PIN sources,
# command-line arguments, certificates, token states), run against a fresh
# SoftHSM2 token, with the exact exit status and the exact text the user
# must see on stderr. See cases.txt for the format; adding a case is one
# line there.
#
# Every case also checks that neither the token's user PIN nor the wrong
# PIN of $PINS/wrong.pin appears in anything printed.
#
# Environment (meson's tk_test_env plus tests/badinput/meson.build):
#   TK_BADINPUT_CASES     the table (cases.txt)
#   TK_BADINPUT_HELPERS   helpers.sh, the functions cases may call
#   TK_TOKENSHIM          tk-tokenshim.so (tests/lib/tokenshim.h)
#   TK_TOKENKEY_CLI       the built tokenkey command line
#   TK_BADINPUT_ONLY      run only cases whose name contains this text
#   TK_UNDER_VALGRIND=1   (the valgrind setup) allow each case 10 CPU minutes
set -u

. "$TK_FIXTURE_SH"
tk_fixture_setup tokenkey-bad || exit 1
D=$TK_FIXTURE_DIR

# ---- the world the cases run in (exported: each case is its own sh) ----
export TOKENKEY_MODULE="$TOKENKEY_TEST_MODULE" TOKENKEY_PIN_FILE="$TOKENKEY_TEST_PIN_FILE"
export P="-provider tokenkey -provider default"
export TOKEN="pkcs11:serial=$TOKENKEY_TEST_SERIAL"
export EC="$TOKEN;object=bad-ec;type=private"
export RSA="$TOKEN;object=bad-rsa;type=private"
export REFS="$D/refs" PINS="$D/pins" CERTS="$D/certs" WORK="$D/work"
export TK_CLI="$TK_TOKENKEY_CLI" SHIM="$TK_TOKENSHIM"
export LOGINS="$D/logins"
mkdir -p "$REFS" "$PINS" "$CERTS" "$WORK" || exit 1

setup_fail() {
    echo "setup failed: $*" >&2
    [ -f "$D/setup.out" ] && cat "$D/setup.out" >&2
    exit 1
}
# run_setup WHAT COMMAND...: a setup step that must succeed.
run_setup() {
    what=$1
    shift
    "$@" > "$D/setup.out" 2>&1 || setup_fail "$what (exit $?)"
}

# Keys on the token, made through tokenkey (key references written).
run_setup "EC key" openssl genpkey $P -algorithm EC -pkeyopt group:P-256 \
    -pkeyopt "token:$TOKEN" -pkeyopt label:bad-ec -out "$REFS/ec.pem"
run_setup "RSA key" openssl genpkey $P -algorithm RSA -pkeyopt bits:2048 \
    -pkeyopt "token:$TOKEN" -pkeyopt label:bad-rsa -out "$REFS/rsa.pem"
# An EC key pair made by OpenSC's pkcs11-tool, whose public key object is
# then deleted: SoftHSM2 keeps no CKA_EC_POINT on the private key, and
# there is no certificate, so its public half is nowhere. (The PIN reaches
# pkcs11-tool through its env: form only.)
TK_TOOL_PIN=$(cat "$TOKENKEY_TEST_PIN_FILE")
export TK_TOOL_PIN
p11tool() {
    pkcs11-tool --module "$TOKENKEY_TEST_MODULE" --token-label "$TOKENKEY_TEST_TOKEN" \
        --login --pin env:TK_TOOL_PIN "$@"
}
run_setup "EC key pair by pkcs11-tool" p11tool --keypairgen --key-type EC:prime256v1 \
    --label bad-nopub --id 4e50
run_setup "its public key deleted" p11tool --delete-object --type pubkey --id 4e50
# Two key pairs under one CKA_ID, one of them without its public key object:
# the public key left with that id is the other key's.
run_setup "EC key pair sharing an id" p11tool --keypairgen --key-type EC:prime256v1 \
    --label bad-orphan --id 5348
run_setup "second EC key pair, same id" p11tool --keypairgen --key-type EC:prime256v1 \
    --label bad-sharer --id 5348
run_setup "the first one's public key deleted" p11tool --delete-object --type pubkey \
    --label bad-orphan --id 5348
# An EC and an RSA key pair under one CKA_ID: neither can be taken for the other.
run_setup "EC key pair sharing an id with an RSA one" p11tool --keypairgen \
    --key-type EC:prime256v1 --label bad-mixed-ec --id 4d58
run_setup "RSA key pair, same id" p11tool --keypairgen --key-type rsa:2048 \
    --label bad-mixed-rsa --id 4d58
# A key that asks for the PIN at each use (CKA_ALWAYS_AUTHENTICATE).
run_setup "EC key pair that logs in per use" p11tool --keypairgen --key-type EC:prime256v1 \
    --label bad-aa --id 4141 --always-auth
# A key on a curve tokenkey does not handle (SoftHSM2 makes secp256k1 keys).
run_setup "secp256k1 key pair by pkcs11-tool" p11tool --keypairgen --key-type EC:secp256k1 \
    --label bad-k1 --id 6b31
unset TK_TOOL_PIN

# Key reference files, broken in each way a file can be.
ref_der() { # FILE DESCRIPTION URI: a DER key reference built by openssl asn1parse
    printf 'asn1 = SEQUENCE:seq\n[seq]\nd = VISIBLESTRING:%s\nu = UTF8String:%s\n' "$2" "$3" \
        > "$D/ref.cnf"
    openssl asn1parse -genconf "$D/ref.cnf" -out "$1" -noout
}
ref_pem() { # DER PEM [LABEL]
    { echo "-----BEGIN ${3:-TOKENKEY KEY REFERENCE}-----"; openssl base64 -in "$1"
      echo "-----END ${3:-TOKENKEY KEY REFERENCE}-----"; } > "$2"
}
run_setup "ref: wrong description" ref_der "$D/desc.der" 'tokenkey key reference v9' "$EC"
run_setup "ref: wrong-description PEM" ref_pem "$D/desc.der" "$REFS/wrong-description.pem"
run_setup "ref: bad URI" ref_der "$D/baduri.der" 'tokenkey key reference v1' 'pkcs11:object=%zz'
run_setup "ref: bad-uri PEM" ref_pem "$D/baduri.der" "$REFS/bad-uri.pem"
run_setup "ref: not pkcs11" ref_der "$D/file.der" 'tokenkey key reference v1' 'file:/etc/ssl/key.pem'
run_setup "ref: not-pkcs11 PEM" ref_pem "$D/file.der" "$REFS/not-pkcs11.pem"
run_setup "ref: missing key" ref_der "$D/gone.der" 'tokenkey key reference v1' \
    "$TOKEN;object=deleted-key;type=private"
run_setup "ref: missing-key PEM" ref_pem "$D/gone.der" "$REFS/missing-key.pem"
# The right key, but the file also names a library to load: never.
run_setup "ref: module-path" ref_der "$D/modpath.der" 'tokenkey key reference v1' \
    "$EC?module-path=$TOKENKEY_MODULE"
run_setup "ref: module-path PEM" ref_pem "$D/modpath.der" "$REFS/module-path.pem"
# The right key, with the PIN, or where to read it, in the file: never.
run_setup "ref: pin-value" ref_der "$D/pinvalue.der" 'tokenkey key reference v1' \
    "$EC?pin-value=99999999"
run_setup "ref: pin-value PEM" ref_pem "$D/pinvalue.der" "$REFS/pin-value.pem"
run_setup "ref: pin-source" ref_der "$D/pinsource.der" 'tokenkey key reference v1' \
    "$EC?pin-source=file:$TOKENKEY_PIN_FILE"
run_setup "ref: pin-source PEM" ref_pem "$D/pinsource.der" "$REFS/pin-source.pem"
# The key's certificate, not the key: the CLI takes key pairs by their private key.
run_setup "ref: type=cert" ref_der "$D/certtype.der" 'tokenkey key reference v1' \
    "$TOKEN;object=bad-ec;type=cert"
run_setup "ref: type=cert PEM" ref_pem "$D/certtype.der" "$REFS/cert-type.pem"
{
    sed '2s/^..../!!!!/' "$REFS/ec.pem" > "$REFS/corrupt-base64.pem" &&
    head -n 2 "$REFS/ec.pem" > "$REFS/truncated.pem" &&
    { sed -n 1p "$REFS/ec.pem"; echo 'Proc-Type: 4,ENCRYPTED'; sed -n '2,$p' "$REFS/ec.pem"; } \
        > "$REFS/header.pem" &&
    printf '%s\n' '-----BEGIN TOKENKEY KEY REF-----' 'AAAA' '-----END TOKENKEY KEY REF-----' \
        > "$REFS/unknown-label.pem" &&
    { sed '$d' "$REFS/ec.pem"; echo '-----END PKCS#11 PROVIDER URI-----'; } \
        > "$REFS/mismatched-end.pem" &&
    sed -e '1d' -e '$d' "$REFS/ec.pem" | openssl base64 -d > "$D/ec.der" &&
    { cat "$D/ec.der"; printf 'spliced'; } > "$D/trailing.der" &&
    ref_pem "$D/trailing.der" "$REFS/trailing.pem" &&
    # A broken or dangling reference with a good one after it: never the second.
    cat "$REFS/missing-key.pem" "$REFS/ec.pem" > "$REFS/missing-then-good.pem" &&
    cat "$REFS/corrupt-base64.pem" "$REFS/ec.pem" > "$REFS/corrupt-then-good.pem" &&
    # A software key after a reference, which OpenSSL's legacy PEM reader would take.
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$D/software.pem" &&
    cat "$REFS/ec.pem" "$D/software.pem" > "$REFS/ec-then-software.pem" &&
    cat "$REFS/missing-key.pem" "$D/software.pem" > "$REFS/missing-then-software.pem"
} || setup_fail "broken key references"

# PIN sources.
{
    cp "$TOKENKEY_TEST_PIN_FILE" "$PINS/world.pin" && chmod 644 "$PINS/world.pin" &&
    : > "$PINS/empty.pin" && chmod 600 "$PINS/empty.pin" &&
    printf '%s\n' 0000wrong0000 > "$PINS/wrong.pin" && chmod 600 "$PINS/wrong.pin" &&
    head -c 300 /dev/zero | tr '\0' 7 > "$PINS/long.pin" && chmod 600 "$PINS/long.pin" &&
    mkdir -p "$PINS/dir"
} || setup_fail "PIN files"

# Certificates: a CA, the EC key's certificate, one for another key, an
# expired one for the EC key, and garbage.
run_setup "CA" openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$CERTS/ca.key" -subj "/CN=badinput CA" -days 2 -out "$CERTS/ca.pem"
run_setup "CSR from the token key" openssl req -new $P -key "$EC" -subj "/CN=badinput client" \
    -out "$CERTS/ec.csr"
run_setup "EC certificate" openssl x509 -req -in "$CERTS/ec.csr" -CA "$CERTS/ca.pem" \
    -CAkey "$CERTS/ca.key" -set_serial 1 -days 2 -out "$CERTS/ec.pem"
# A dangling key reference, then two certificates: a combined file whose certificates stay
# readable (only the key blocks after a failed reference are skipped).
# A key anywhere after a failed reference (after a certificate, or as openssl ecparam -genkey
# writes it, after EC PARAMETERS) is never read in its place.
{
    cat "$REFS/missing-key.pem" "$CERTS/ec.pem" "$CERTS/ca.pem" > "$REFS/missing-then-certs.pem" &&
    cat "$REFS/missing-key.pem" "$CERTS/ec.pem" "$CERTS/ca.key" > "$REFS/missing-cert-key.pem" &&
    openssl ecparam -name prime256v1 -genkey -out "$D/ecparam.pem" 2> /dev/null &&
    cat "$REFS/missing-key.pem" "$D/ecparam.pem" > "$REFS/missing-ecparam-key.pem" &&
    { cat "$REFS/missing-key.pem"; printf '%s\n' '-----BEGIN PRIVATE KEY-----' '!!!!' \
        '-----END PRIVATE KEY-----'; cat "$CERTS/ca.key"; } > "$REFS/missing-broken-key.pem"
} || setup_fail "combined files"
run_setup "other key's certificate" openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -nodes -keyout "$CERTS/other.key" -subj "/CN=someone else" -days 2 -out "$CERTS/other.pem"
# openssl x509 cannot date a certificate in the past; openssl ca can.
{ mkdir -p "$CERTS/ca" && : > "$CERTS/ca/index.txt" && echo 1000 > "$CERTS/ca/serial"; } ||
    setup_fail "CA directory"
cat > "$CERTS/ca.cnf" <<EOF
[ca]
default_ca = ca_sect
[ca_sect]
database = $CERTS/ca/index.txt
serial = $CERTS/ca/serial
new_certs_dir = $CERTS/ca
certificate = $CERTS/ca.pem
private_key = $CERTS/ca.key
default_md = sha256
policy = policy_any
[policy_any]
commonName = supplied
EOF
run_setup "expired certificate" openssl ca -batch -config "$CERTS/ca.cnf" -in "$CERTS/ec.csr" \
    -startdate 20200101000000Z -enddate 20210101000000Z -notext -out "$CERTS/expired.pem"
{ printf 'this is not a certificate\n' > "$CERTS/garbage.pem" &&
  head -c 300 "$CERTS/ec.pem" > "$CERTS/truncated.pem"; } || setup_fail "broken certificates"

[ -s "$TOKENKEY_TEST_PIN_FILE" ] || setup_fail "empty user PIN"

# ---- the cases ----
case_cpu=60
[ "${TK_UNDER_VALGRIND:-0}" = 1 ] && case_cpu=600
passed=0
failed=0
total=0
n=0
bugs=0

report_failure() {
    failed=$((failed + 1))
    echo "not ok $n - $name: $1"
    echo "#   command:  $cmd"
    echo "#   expected: exit $want_exit, std${stream:-err} containing: $want_text"
    echo "#   got:      exit $rc; stderr:"
    sed 's/^/#     /' "$D/err"
    if [ -s "$D/out" ]; then
        echo "#   stdout:"
        sed 's/^/#     /' "$D/out"
    fi
}

while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue ;; esac
    total=$((total + 1))
    name=$(printf '%s' "$line" | sed 's/ *|.*//')
    rest=$(printf '%s' "$line" | sed 's/^[^|]*| *//')
    want_exit=$(printf '%s' "$rest" | sed 's/ *|.*//')
    rest=$(printf '%s' "$rest" | sed 's/^[^|]*| *//')
    want_text=$(printf '%s' "$rest" | sed 's/ *| .*//')
    cmd=$(printf '%s' "$rest" | sed 's/^[^|]*| *//')
    # The expected text may name the case's files: expand only these
    # ($TOKENKEY_MODULE before $TOKEN, which is a prefix of it).
    want_text=$(printf '%s' "$want_text" | sed -e "s|\$REFS|$REFS|g" -e "s|\$PINS|$PINS|g" \
        -e "s|\$CERTS|$CERTS|g" -e "s|\$TOKENKEY_MODULE|$TOKENKEY_MODULE|g" \
        -e "s|\$TOKEN|$TOKEN|g" -e "s|\$EC|$EC|g")
    if [ -n "${TK_BADINPUT_ONLY:-}" ]; then
        case "$name" in *"$TK_BADINPUT_ONLY"*) ;; *) continue ;; esac
    fi
    n=$((n + 1))
    case "$want_exit" in
        [0-9]|[0-9][0-9]|[0-9][0-9][0-9]) ;;
        *) cmd=$line; want_exit='?'; rc='-'; : > "$D/err"; : > "$D/out"
           report_failure "malformed line in cases.txt"; continue ;;
    esac
    # Each case in a subshell with the helpers, in a new empty directory,
    # with no stdin (nothing may prompt) and a CPU-time limit; the test as a
    # whole has meson's timeout. A forked subshell, not "timeout sh": under
    # valgrind every program exec'd is one more process to start under
    # memcheck, and that doubled the time of this test.
    rm -f "$LOGINS"
    rm -rf "$WORK" && mkdir "$WORK" || setup_fail "cannot make $WORK"
    (set +u; ulimit -t "$case_cpu" && cd "$WORK" && . "$TK_BADINPUT_HELPERS" && eval "$cmd") \
        < /dev/null > "$D/out" 2> "$D/err"
    rc=$?
    problem=
    stream=err
    case "$want_text" in stdout:*) stream=out; want_text=${want_text#stdout:} ;; esac
    if [ "$rc" != "$want_exit" ]; then
        problem="exit status $rc, expected $want_exit"
    elif ! grep -qF -- "$want_text" "$D/$stream"; then
        problem="std$stream does not contain the expected text"
    fi
    # A known bug (cases.txt marks it in the name) must still fail its
    # check; when it passes, the bug was fixed and the mark must go.
    case "$name" in
        *'[bug '*)
            bugs=$((bugs + 1))
            if [ -n "$problem" ]; then
                passed=$((passed + 1))
                echo "ok $n - $name # known bug: $problem"
            else
                report_failure "passes now: the bug is fixed, remove its [bug] mark"
            fi
            continue ;;
    esac
    # grep -f: a PIN is never put on a command line, not even grep's.
    if [ -z "$problem" ] && grep -qF -f "$TOKENKEY_TEST_PIN_FILE" "$D/err" "$D/out"; then
        problem="the user PIN is in the output"
    elif [ -z "$problem" ] && grep -qF -f "$PINS/wrong.pin" "$D/err" "$D/out"; then
        problem="the wrong PIN is in the output"
    fi
    if [ -n "$problem" ]; then
        report_failure "$problem"
    else
        passed=$((passed + 1))
        echo "ok $n - $name"
    fi
done < "$TK_BADINPUT_CASES"

echo "1..$n"
echo "$passed passed, $failed failed ($bugs of them known bugs) of $n cases"
# The table is the point: a truncated or unreadable one must not pass.
if [ -z "${TK_BADINPUT_ONLY:-}" ] && [ "$total" -lt 40 ]; then
    echo "cases.txt has $total cases; the table must keep at least 40" >&2
    exit 1
fi
[ "$failed" -eq 0 ] && [ "$n" -gt 0 ]
