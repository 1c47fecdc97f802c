# Shared by the enrollment shell tests (POSIX sh): source it after the
# fixture, with D set to the fixture directory. Each assertion prints
# "ok - NAME" or "not ok - NAME"; tk_finish prints the totals and fails the
# test when any failed.
#
#   tk_run WANT NAME ARGS...   run tokenkey ARGS: its exit status must be WANT;
#                              stdout in $D/out, stderr in $D/err; no PIN in either
#   tk_err NAME LINE           stderr ($D/err) is exactly this one line
#   tk_quiet NAME              stderr ($D/err) is empty
#   tk_line NAME LINE FILE     FILE has exactly this line
#   tk_has / tk_hasnt NAME TEXT FILE
#   tk_cmd NAME CMD...         CMD must exit 0 (its output in $D/cmd.out)
#   tk_mode NAME MODE FILE     FILE's permission bits are MODE (e.g. 644)
#
# TK_CLI_WRAP (e.g. "valgrind --error-exitcode=99 ...") goes in front of
# every tokenkey run.

passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() {
    failed=$((failed + 1))
    echo "not ok - $1"
    for f in "$D/out" "$D/err" "$D/cmd.out"; do
        [ -s "$f" ] && sed "s|^|#   $(basename "$f"): |" "$f" | head -20
    done
    return 0
}

tk_run() {
    want=$1
    name=$2
    shift 2
    rm -f "$D/cmd.out"
    # shellcheck disable=SC2086 # the wrapper is a command line
    ${TK_CLI_WRAP:-} "$TK_CLI" "$@" > "$D/out" 2> "$D/err"
    got=$?
    if [ "$got" -eq "$want" ]; then ok "$name: exit $want"; else not_ok "$name: exit $got, expected $want"; fi
    if grep -qF -- "$(cat "$TOKENKEY_TEST_PIN_FILE")" "$D/out" "$D/err"; then
        not_ok "$name: the PIN is in the output"
    fi
}

tk_err() {
    if [ "$(cat "$D/err")" = "$2" ] && [ "$(wc -l < "$D/err")" -eq 1 ]; then
        ok "$1"
    else
        not_ok "$1: stderr is not the one line '$2'"
    fi
}

tk_quiet() {
    if [ ! -s "$D/err" ]; then ok "$1"; else not_ok "$1: stderr is not empty"; fi
}

tk_line() {
    if grep -qxF -- "$2" "$3"; then ok "$1"; else not_ok "$1: no line '$2' in $(basename "$3")"; fi
}

tk_has() {
    if grep -qF -- "$2" "$3"; then ok "$1"; else not_ok "$1: no '$2' in $(basename "$3")"; fi
}

tk_hasnt() {
    if grep -qF -- "$2" "$3"; then not_ok "$1: '$2' in $(basename "$3")"; else ok "$1"; fi
}

tk_cmd() {
    name=$1
    shift
    if "$@" > "$D/cmd.out" 2>&1; then ok "$name"; else not_ok "$name (exit $?)"; fi
}

tk_mode() {
    got=$(stat -c %a "$3" 2>/dev/null)
    if [ "$got" = "$2" ]; then ok "$1"; else not_ok "$1: mode '$got', expected $2"; fi
}

tk_finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

# The URI tokenkey prints for an object on the fixture token: tk_uri LABEL TYPE ID-ESCAPED.
tk_uri() {
    echo "pkcs11:token=$TOKENKEY_TEST_TOKEN;manufacturer=SoftHSM%20project;serial=$TOKENKEY_TEST_SERIAL;model=SoftHSM%20v2;object=$1;type=$2;id=$3"
}

# A test CA made with the stock openssl CLI: tk_make_ca NAME ($D/NAME.pem, $D/NAME.key).
tk_make_ca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$D/$1.key" \
        -subj "/CN=$1" -days 30 -out "$D/$1.pem" > "$D/openssl.log" 2>&1 \
        || { cat "$D/openssl.log"; echo "cannot make CA $1" >&2; exit 1; }
}

# What a cluster operator's CA adds to a client certificate.
tk_client_ext() {
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n'
    printf 'extendedKeyUsage=clientAuth\n'
}

# tk_sign CA CSR OUT [-startdate ... -enddate ...]: the CA signs CSR for TLS
# client use. With dates it goes through 'openssl ca', the one command that
# takes validity dates in the past.
tk_sign() {
    ca=$1 csr=$2 out=$3
    shift 3
    tk_client_ext > "$D/client.ext"
    if [ $# -eq 0 ]; then
        openssl x509 -req -in "$csr" -CA "$D/$ca.pem" -CAkey "$D/$ca.key" -CAcreateserial \
            -days 2 -extfile "$D/client.ext" -out "$out" > "$D/openssl.log" 2>&1
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
            -extfile "$D/client.ext" -in "$csr" -out "$out" -notext "$@" > "$D/openssl.log" 2>&1
    fi || { cat "$D/openssl.log"; echo "CA $ca cannot sign $csr" >&2; exit 1; }
}
