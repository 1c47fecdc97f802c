# The assertions of tokenkey's command-line tests (POSIX sh), shared by
# tests/cli_enroll and tests/cli_doctor through their lib.sh: source it
# after the fixture, with D set to the fixture directory and TK_CLI to the
# tokenkey program. Each assertion prints "ok - NAME" or "not ok - NAME";
# tk_finish prints the totals and fails the test when any failed.
#
#   tk_run WANT NAME ARGS...   run tokenkey ARGS: its exit status must be WANT;
#                              stdout in $D/out, stderr in $D/err; no PIN in either
#   tk_err NAME LINE           stderr ($D/err) is exactly this one line
#   tk_quiet NAME              stderr ($D/err) is empty
#   tk_line NAME LINE FILE     FILE has exactly this line
#   tk_has / tk_hasnt NAME TEXT FILE
#   tk_empty NAME FILE         FILE is empty
#   tk_if NAME TEST-ARGS...    test(1) with TEST-ARGS holds
#   tk_json NAME EXPR          python3 EXPR over d = json.load($D/out) holds
#   tk_cmd NAME CMD...         CMD must exit 0 (its output in $D/cmd.out)
#   tk_mode NAME MODE FILE     FILE's permission bits are MODE (e.g. 644)
#   tk_make_ca NAME [DAYS]     a CA made with the stock openssl CLI ($D/NAME.pem, .key;
#                              valid DAYS, 3650 when not given)
#   tk_ca_sign CA CSR OUT DAYS EXTFILE [openssl ca dates...]
#
# TK_CLI_WRAP (e.g. "valgrind --error-exitcode=99 ...") goes in front of
# every tokenkey run. Under `meson test --setup valgrind` nothing is needed
# here: that setup follows the shell into every tokenkey it starts.

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
    # Neither the user's nor the SO's PIN, nor a wrong one a test made, ever shows.
    # (grep -f: a PIN is never put on a command line, not even grep's.)
    for pin in "$TOKENKEY_TEST_PIN_FILE" "${TOKENKEY_TEST_SO_PIN_FILE:-}" "$D/wrong.pin"; do
        [ -s "$pin" ] || continue
        if grep -qF -f "$pin" "$D/out" "$D/err"; then
            not_ok "$name: a PIN ($(basename "$pin")) is in the output"
        fi
    done
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
    rc=0
    grep -qF -- "$2" "$3" 2> /dev/null || rc=$?
    case $rc in
        0) not_ok "$1: '$2' in $(basename "$3")" ;;
        1) ok "$1" ;;
        *) not_ok "$1: cannot read $3" ;;
    esac
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

# tk_make_ca NAME [DAYS]: a self-signed P-256 CA, "CN=NAME", in $D/NAME.pem and $D/NAME.key.
tk_make_ca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$D/$1.key" \
        -subj "/CN=$1" -days "${2:-3650}" -out "$D/$1.pem" > "$D/openssl.log" 2>&1 \
        || { cat "$D/openssl.log"; echo "cannot make CA $1" >&2; exit 1; }
}

# tk_ca_sign CA CSR OUT DAYS EXTFILE [-startdate ... -enddate ...]: the CA
# signs CSR, valid DAYS, with the extensions in EXTFILE (none when empty).
# With dates it goes through 'openssl ca', the one command that takes
# validity dates in the past.
tk_ca_sign() {
    ca=$1 csr=$2 out=$3 days=$4 ext=$5
    shift 5
    if [ $# -eq 0 ]; then
        openssl x509 -req -in "$csr" -CA "$D/$ca.pem" -CAkey "$D/$ca.key" -CAcreateserial \
            -days "$days" ${ext:+-extfile "$ext"} -out "$out" > "$D/openssl.log" 2>&1
    else
        mkdir -p "$D/ca-db/new"
        [ -f "$D/ca-db/index.txt" ] || : > "$D/ca-db/index.txt"
        [ -f "$D/ca-db/serial" ] || echo 1000 > "$D/ca-db/serial"
        cat > "$D/ca-db/ca.cnf" <<EOF2
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
EOF2
        openssl ca -batch -config "$D/ca-db/ca.cnf" -cert "$D/$ca.pem" -keyfile "$D/$ca.key" \
            ${ext:+-extfile "$ext"} -in "$csr" -out "$out" -notext "$@" > "$D/openssl.log" 2>&1
    fi || { cat "$D/openssl.log"; echo "CA $ca cannot sign $csr" >&2; exit 1; }
}
