# Sourced by the token-key Kafka tests (after kafka_lib.sh): a fresh SoftHSM2
# token, keys enrolled on it with the tokenkey CLI exactly as a user would
# (keygen -> csr -> the test CA signs -> import-cert -> kafka-config), and
# counting what reaches the token through OpenSC's pkcs11-spy, an
# independent PKCS#11 logger placed between tokenkey and SoftHSM2.
# shellcheck shell=sh

: "${TK_TOKENKEY:?run with meson test}"
: "${TK_PKCS11_SPY:?run with meson test}"

# token_setup: the token (the fixture's EXIT trap is replaced by ours, which calls it).
token_setup() {
    # shellcheck source=tests/lib/fixture.sh
    . "${TK_FIXTURE_SH:?run with meson test}"
    tk_fixture_setup kafka-token || { echo "FAIL: no test token" >&2; exit 1; }
    trap 'kafka_cleanup; tk_fixture_teardown' EXIT
    export TOKENKEY_MODULE="$TOKENKEY_TEST_MODULE"
    # Every client run goes through the spy; it loads the real module from here.
    export PKCS11SPY="$TOKENKEY_TEST_MODULE"
}

tk() {
    "$TK_TOKENKEY" "$@" --pin-file "$TOKENKEY_TEST_PIN_FILE"
}

# token_enroll NAME TYPE SUBJECT: a key on the token and, in $KAFKA_DIR/NAME/,
# what `tokenkey kafka-config` writes for it, with the spy as PKCS#11 module
# and the running cluster as bootstrap. Sets ENROLLED_URI.
token_enroll() {
    d=$KAFKA_DIR/$1
    ENROLLED_URI=$(tk keygen --token "$TOKENKEY_TEST_TOKEN" --type "$2" --label "$1" 2>"$d.err") ||
        { fail "keygen $2 for $1"; show "$d.err"; return 1; }
    tk csr --key "$ENROLLED_URI" --subject "$3" --out "$d.csr" 2>"$d.err" ||
        { fail "csr for $1"; show "$d.err"; return 1; }
    printf 'extendedKeyUsage=clientAuth\n' >"$d.ext"
    openssl x509 -req -in "$d.csr" -CA "$KAFKA_DIR/ca.crt" -CAkey "$KAFKA_DIR/ca.key" \
        -CAcreateserial -days 2 -extfile "$d.ext" -out "$d.crt" 2>"$d.err" ||
        { fail "the test CA did not sign $1's CSR"; show "$d.err"; return 1; }
    tk import-cert --key "$ENROLLED_URI" --cert "$d.crt" >/dev/null 2>"$d.err" ||
        { fail "import-cert for $1"; show "$d.err"; return 1; }
    PKCS11SPY_OUTPUT=/dev/null tk kafka-config --module "$TK_PKCS11_SPY" --key "$ENROLLED_URI" \
        --ca "$KAFKA_DIR/ca.crt" --out-dir "$d" --provider-module "$TK_PROVIDER_DIR/tokenkey.so" \
        --bootstrap "$KAFKA_BOOTSTRAP" >"$d.out" 2>"$d.err" ||
        { fail "kafka-config for $1"; show "$d.err"; return 1; }
}

# spy_count LOG FUNCTION: how many calls of FUNCTION the spy logged.
spy_count() {
    grep -c "^[0-9]*: $2\$" "$1" 2>/dev/null || true
}

# verified_count: client certificates the gateway has verified so far.
verified_count() {
    grep -c "verified client: subject=" "$KAFKA_LOG" 2>/dev/null || true
}

# closed_count: handshakes a client abandoned (librdkafka drops connections
# when an instance is destroyed), as the gateway logs them.
closed_count() {
    grep -c "client closed the connection during the TLS handshake" "$KAFKA_LOG" 2>/dev/null || true
}

# count_handshakes BEFORE_VERIFIED BEFORE_CLOSED SIGNS: sets $handshakes and
# $closed, the gateway's verified and abandoned handshakes since the two
# counts given, once they account for the client's SIGNS signatures or
# after 60 s: a client can exit right after sending its CertificateVerify,
# before the gateway has logged what became of it (the wait is a bound for
# a loaded machine, the counts are what is checked).
count_handshakes() {
    n=0
    while :; do
        handshakes=$(($(verified_count) - $1))
        closed=$(($(closed_count) - $2))
        [ $((handshakes + closed)) -ge "$3" ] && break
        [ "$n" -ge 300 ] && break
        sleep 0.2
        n=$((n + 1))
    done
}

# check_signs WHAT SIGNS: every verified handshake was signed on the token,
# once; a signature beyond those belongs to a handshake the client
# abandoned after signing (at most one each).
check_signs() {
    [ "$2" -ge "$handshakes" ] ||
        fail "$1: $2 C_Sign calls reached the token for $handshakes verified handshakes"
    [ "$2" -le $((handshakes + closed)) ] ||
        fail "$1: $2 C_Sign calls for $handshakes verified and $closed abandoned handshakes"
}
