# Shared by the tokenkey inspect/doctor shell tests (POSIX sh): source it
# after the fixture. Each assertion prints "ok - NAME" or "not ok - NAME";
# tk_finish prints the totals and fails the test when any failed.
#
#   tk_run WANT NAME ARGS...   run tokenkey ARGS; its exit status must be
#                              WANT; stdout in $D/out, stderr in $D/err
#   tk_line NAME LINE FILE     FILE has exactly this line
#   tk_has NAME TEXT FILE      FILE contains TEXT
#   tk_empty NAME FILE         FILE is empty
#   tk_if NAME TEST-ARGS...    test(1) with TEST-ARGS holds
#   tk_json NAME EXPR          python3 EXPR over d = json.load($D/out) holds
#
# TK_CLI_WRAP (e.g. "valgrind --error-exitcode=99 ...") goes in front of
# every tokenkey run. No output may ever hold the PIN: tk_run checks.
#
# Under `meson test --wrap='valgrind ...'` valgrind runs this shell, not
# tokenkey (which it does not follow into). So when the shell finds itself
# under valgrind (valgrind preloads its own libraries), every tokenkey run
# goes under valgrind instead (exit 99 on an error, its log shown), and
# tk_finish leaves by exec: dash's own small leaks are not tokenkey's.

passed=0
failed=0
case "${LD_PRELOAD:-}" in
*vgpreload*)
    TK_UNDER_VALGRIND=1
    : "${TK_CLI_WRAP:=valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 --log-file=$D/valgrind.%p.log}"
    ;;
esac

ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() {
    failed=$((failed + 1))
    echo "not ok - $1"
    for f in "$D/out" "$D/err"; do
        [ -s "$f" ] && sed "s|^|#   $(basename "$f"): |" "$f"
    done
    return 0
}

tk_run() {
    want=$1
    name=$2
    shift 2
    rm -f "$D"/valgrind.*.log
    # shellcheck disable=SC2086 # the wrapper is a command line
    ${TK_CLI_WRAP:-} "$TK_CLI" "$@" > "$D/out" 2> "$D/err"
    got=$?
    if [ "$got" -eq "$want" ]; then ok "$name: exit $want"; else not_ok "$name: exit $got, expected $want"; fi
    if [ "$got" -eq 99 ]; then
        for log in "$D"/valgrind.*.log; do [ -f "$log" ] && sed 's/^/#   /' "$log"; done
    fi
    for pin in "$TOKENKEY_TEST_PIN_FILE" "$TOKENKEY_TEST_SO_PIN_FILE" "$D/wrong.pin"; do
        [ -s "$pin" ] || continue
        if grep -qF -- "$(cat "$pin")" "$D/out" "$D/err"; then not_ok "$name: a PIN in the output"; fi
    done
}

tk_line() {
    if grep -qxF -- "$2" "$3"; then ok "$1"; else not_ok "$1: no line '$2' in $(basename "$3")"; fi
}

tk_has() {
    if grep -qF -- "$2" "$3"; then ok "$1"; else not_ok "$1: no '$2' in $(basename "$3")"; fi
}

tk_empty() {
    if [ ! -s "$2" ]; then ok "$1"; else not_ok "$1: $(basename "$2") is not empty"; fi
}

tk_if() {
    name=$1
    shift
    if [ "$@" ]; then ok "$name"; else not_ok "$name: [ $* ] does not hold"; fi
}

tk_json() {
    if python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$D/out" "$2" 2> "$D/json.err"; then
        ok "$1"
    else
        not_ok "$1: $2 does not hold"
        sed 's/^/#   /' "$D/json.err"
    fi
}

tk_finish() {
    echo "$passed passed, $failed failed"
    if [ "${TK_UNDER_VALGRIND:-0}" = 1 ]; then
        trap - EXIT
        tk_fixture_teardown
        if [ "$failed" -eq 0 ]; then exec true; else exec false; fi
    fi
    [ "$failed" -eq 0 ]
}

# A test CA made with the stock openssl CLI: tk_make_ca NAME ("CN=NAME", $D/NAME.pem and .key).
tk_make_ca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$D/$1.key" \
        -subj "/CN=$1" -days 3650 -out "$D/$1.pem" > "$D/openssl.log" 2>&1 \
        || { cat "$D/openssl.log"; echo "cannot make CA $1" >&2; exit 1; }
}

# tk_sign CA CSR OUT [openssl ca dates...]: the CA signs the CSR. With dates
# (-startdate/-enddate) it goes through 'openssl ca', the one command that
# takes validity dates in the past.
tk_sign() {
    ca=$1 csr=$2 out=$3
    shift 3
    if [ $# -eq 0 ]; then
        openssl x509 -req -in "$csr" -CA "$D/$ca.pem" -CAkey "$D/$ca.key" -CAcreateserial -days 365 \
            -out "$out" > "$D/openssl.log" 2>&1
    else
        mkdir -p "$D/ca-db/new"
        [ -f "$D/ca-db/index.txt" ] || : > "$D/ca-db/index.txt"
        [ -f "$D/ca-db/serial" ] || echo 1000 > "$D/ca-db/serial"
        cat > "$D/ca-db/ca.cnf" <<EOF
[ca]
default_ca = test_ca
[test_ca]
database = $D/ca-db/index.txt
new_certs_dir = $D/ca-db/new
serial = $D/ca-db/serial
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
EOF
        openssl ca -batch -config "$D/ca-db/ca.cnf" -cert "$D/$ca.pem" -keyfile "$D/$ca.key" \
            -in "$csr" -out "$out" -notext "$@" > "$D/openssl.log" 2>&1
    fi || { cat "$D/openssl.log"; echo "CA $ca cannot sign $csr" >&2; exit 1; }
}

# tk_csr KEYLABEL CN OUT: a CSR signed by the token key, through the provider.
tk_csr() {
    openssl req -new -provider tokenkey -provider default -key "$TOKEN;object=$1;type=private" \
        -subj "/CN=$2" -out "$3" > "$D/openssl.log" 2>&1 \
        || { cat "$D/openssl.log"; echo "cannot make a CSR for $1" >&2; exit 1; }
}

# tk_genkey LABEL IDHEX: a non-exportable EC P-256 key made by tokenkey's keygen (openssl genpkey).
tk_genkey() {
    openssl genpkey -provider tokenkey -provider default -algorithm EC -pkeyopt group:P-256 \
        -pkeyopt "token:$TOKEN" -pkeyopt "label:$1" -pkeyopt "id:$2" -out "$D/$1.ref" \
        > "$D/openssl.log" 2>&1 \
        || { cat "$D/openssl.log"; echo "cannot generate key $1" >&2; exit 1; }
}

# tk_store_cert LABEL IDHEX CERT.pem: the certificate on the token.
tk_store_cert() {
    "$TK_STORE_MKOBJ" cert "$1" "$2" "$3" || { echo "cannot store $3" >&2; exit 1; }
}

# The URI tokenkey prints for a private key on the fixture token.
tk_key_uri() {
    echo "pkcs11:token=$TOKENKEY_TEST_TOKEN;manufacturer=SoftHSM%20project;serial=$TOKENKEY_TEST_SERIAL;model=SoftHSM%20v2;object=$1;type=private;id=%$2"
}
