# Shared by the store tests with several tokens on one module
# (test_two_tokens.sh, test_many_tokens.sh). Needs D (the fixture's
# directory) and P (the -provider options); counts passed/failed.

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; }

# genkey TOKEN PINFILE LABEL: a P-256 key pair on TOKEN, its key reference in $D/TOKEN-LABEL.pem.
genkey() {
    TOKENKEY_PIN_FILE=$2 openssl genpkey $P -algorithm EC -pkeyopt group:P-256 \
        -pkeyopt "token:$1" -pkeyopt "label:$3" -out "$D/$1-$3.pem" > "$D/setup.log" 2>&1 ||
        { cat "$D/setup.log"; echo "setup: key $3 on $1 not made" >&2; exit 1; }
}

# load NAME STATUS URI: openssl pkey with the fixture token's PIN, the PKCS#11
# calls logged; the public key goes to $D/pub.pem, the C_Login count to $logins.
load() {
    rm -f "$D/calls.log" "$D/pub.pem"
    TOKENKEY_PIN_FILE=$TOKENKEY_TEST_PIN_FILE TOKENKEY_DEBUG=1 TOKENKEY_DEBUG_FILE="$D/calls.log" \
        openssl pkey $P -in "$3" -pubout -out "$D/pub.pem" > "$D/out" 2> "$D/err"
    rc=$?
    if [ "$rc" -eq "$2" ]; then ok "$1: exit $2"; else not_ok "$1: exit $rc, expected $2"; sed 's/^/#   /' "$D/err"; fi
    logins=$(grep -c 'C_Login(' "$D/calls.log")
}

# The summary line and the exit status.
finish() {
    echo "1..$((passed + failed))"
    echo "# $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
