#!/bin/sh
# The secrets audit (docs/security.md, "How the guarantees are tested"):
#
#  1. A PIN never appears in the debug log (TOKENKEY_DEBUG=2 to a file)
#     during key generation, loads, signatures, a TLS handshake, a store
#     listing, a wrong PIN, a PIN given in the URI, and the CLI's
#     keygen/list/csr/import-cert/export/kafka-config/inspect, nor when the
#     PIN itself is given where a PIN file's or variable's name belongs; nor in
#     anything any of them printed; nor in any file they wrote (key
#     references, exported files, client.properties, openssl.cnf).
#  2. Nor in the process table: a TLS server holding a token key shows no
#     PIN in ps, /proc/PID/cmdline or /proc/PID/environ.
#  3. No code path asks the token for private key material: the same kind
#     of session runs through OpenSC's pkcs11-spy and spylog.py reads every
#     call (no RSA private attributes, CKA_VALUE only of certificates, no
#     C_WrapKey, no key made exportable). A control client that asks for
#     private key material (tk-spy-control) proves the check sees it.
#
# "The PIN" is checked as text and as hex (a log dumping buffers would
# show it so), for the token's user PIN, a wrong PIN and a URI pin-value.
#
# TK_UNDER_VALGRIND=1 (the valgrind setup) gives the TLS peers more time.
set -u

. "$TK_FIXTURE_SH"
tk_fixture_setup tokenkey-secrets || exit 1
D=$TK_FIXTURE_DIR
export TOKENKEY_MODULE="$TOKENKEY_TEST_MODULE" TOKENKEY_PIN_FILE="$TOKENKEY_TEST_PIN_FILE"
P="-provider tokenkey -provider default"
TOKEN="pkcs11:serial=$TOKENKEY_TEST_SERIAL"
OUT="$D/outputs" FILES="$D/files" SPY="$D/spy"
mkdir -p "$OUT" "$FILES" "$SPY" || exit 1
passed=0
failed=0
slow=1
[ "${TK_UNDER_VALGRIND:-0}" = 1 ] && slow=10

ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; }
show() { sed 's/^/#   /' "$1"; }

PIN=$(cat "$TOKENKEY_TEST_PIN_FILE")
WRONG=5150wrongpin5150
URI_PIN=7777uripin7777
MISPLACED=4242misplaced4242   # a PIN typed where a file's or variable's name belongs
printf '%s\n' "$WRONG" > "$D/wrong.pin" && chmod 600 "$D/wrong.pin"
[ ${#PIN} -ge 8 ] || { echo "setup: the fixture's PIN is too short to search for" >&2; exit 1; }

hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
# The needles: each secret as text, as lowercase and uppercase hex, and as
# spaced hex bytes (the way hex dumps write them).
needles() {
    for s in "$PIN" "$WRONG" "$URI_PIN" "$MISPLACED"; do
        h=$(hex "$s")
        printf '%s\n%s\n%s\n' "$s" "$h" "$(printf '%s' "$h" | tr a-f A-F)"
        printf '%s' "$s" | od -An -tx1 | tr -s ' \n' ' ' | sed 's/^ //; s/ $//'
        echo
        printf '%s' "$s" | od -An -tx1 | tr -s ' \n' ' ' | sed 's/^ //; s/ $//' | tr a-f A-F
        echo
    done
}
needles | grep -v '^$' > "$D/needles" || exit 1
# The search itself must find a PIN where there is one (as hex, here).
hex "$PIN" > "$D/control.txt"
grep -qF -f "$D/needles" "$D/control.txt" || { echo "setup: the PIN search finds nothing" >&2; exit 1; }

# no_secrets WHAT FILE...: none of the needles in any of the files.
no_secrets() {
    what=$1
    shift
    rc=0
    grep -rlF -f "$D/needles" -- "$@" > "$D/hits" 2> "$D/grep.err" || rc=$?
    # Hits count whatever the status: grep says 2 when one file is missing, even after a match.
    if [ -s "$D/hits" ]; then
        not_ok "$what: a PIN is in $(tr '\n' ' ' < "$D/hits")"
        while read -r f; do
            grep -nF -f "$D/needles" -- "$f" | head -3 | sed 's/^/#   /'
        done < "$D/hits"
    elif [ "$rc" -ne 1 ]; then
        not_ok "$what: cannot search: $(head -n 1 "$D/grep.err")"
    else
        ok "$what"
    fi
}

step=0
# COMMAND... with the user PIN in TOKENKEY_PIN (the container way), not on any command line.
with_pin_variable() {
    (unset TOKENKEY_PIN_FILE; TOKENKEY_PIN=$(cat "$TOKENKEY_TEST_PIN_FILE"); export TOKENKEY_PIN; exec "$@")
}

# run NAME COMMAND...: must exit 0; stdout and stderr kept in $OUT.
# listed N NAME: the last step's storeutl output found at least N objects.
listed() {
    n=$(sed -n 's/^Total found: //p' "$OUT/$step.out")
    if [ "${n:-0}" -ge "$1" ]; then ok "$2"; else not_ok "$2: found ${n:-nothing}, expected $1 or more"; fi
}

run() {
    name=$1
    shift
    step=$((step + 1))
    if "$@" > "$OUT/$step.out" 2> "$OUT/$step.err" < /dev/null; then
        ok "$name"
    else
        not_ok "$name (exit $?)"
        show "$OUT/$step.err"
    fi
}
# run_fails NAME STATUS TEXT COMMAND...: must exit STATUS and say TEXT on stderr.
run_fails() {
    name=$1 want=$2 text=$3
    shift 3
    step=$((step + 1))
    "$@" > "$OUT/$step.out" 2> "$OUT/$step.err" < /dev/null
    rc=$?
    if [ "$rc" -eq "$want" ] && grep -qF -- "$text" "$OUT/$step.err"; then
        ok "$name"
    else
        not_ok "$name (exit $rc, expected $want and '$text')"
        show "$OUT/$step.err"
    fi
}

# ---------------------------------------------------------------------------
# Certificates for the TLS handshake and the CLI: a software CA and server.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$D/ca.key" \
    -subj "/CN=secrets CA" -days 2 -out "$D/ca.pem" > "$D/setup.out" 2>&1 &&
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$D/server.key" \
    -CA "$D/ca.pem" -CAkey "$D/ca.key" -subj "/CN=127.0.0.1" -days 2 -out "$D/server.pem" \
    > "$D/setup.out" 2>&1 || { cat "$D/setup.out"; exit 1; }

# server_start KEY CERT [more s_server options]: s_server on 127.0.0.1:$port
# in the background ($server_pid), answering one connection.
server_pid=
server_start() {
    key=$1 cert=$2
    shift 2
    port=$((20000 + $$ % 20000))
    for try in 1 2 3 4 5; do
        timeout $((120 * slow)) openssl s_server $P -accept "127.0.0.1:$port" -key "$key" -cert "$cert" \
            -CAfile "$D/ca.pem" -Verify 1 -verify_return_error -naccept 1 "$@" \
            < "$D/server.in" > "$D/server.log" 2>&1 &
        server_pid=$!
        i=0
        while [ $i -lt $((50 * slow)) ] && ! grep -q ACCEPT "$D/server.log" 2>/dev/null \
              && kill -0 "$server_pid" 2>/dev/null; do
            sleep 0.2
            i=$((i + 1))
        done
        grep -q ACCEPT "$D/server.log" && return 0
        wait "$server_pid" 2>/dev/null
        server_pid=
        port=$((port + 1))
    done
    return 1
}
server_stop() {
    [ -n "$server_pid" ] || return 0
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
    server_pid=
}
# server_verdict NAME: after one connection, the server's own word on it. s_client exits 0
# whether or not the server accepted it (TLS 1.3 finishes the client's side before the server
# checks the client's signature); s_server exits 0, and prints the client's subject, only
# when the handshake verified, the token key's signature included.
server_verdict() {
    wait "$server_pid"
    rc=$?
    server_pid=
    if [ "$rc" -eq 0 ]; then ok "$1: s_server exit 0"; else not_ok "$1: s_server exit $rc"; show "$D/server.log"; fi
    if grep -qx 'subject=CN = secrets client' "$D/server.log"; then
        ok "$1: the server verified the token key's client"
    else
        not_ok "$1: the server did not verify the client"
        show "$D/server.log"
    fi
}
mkfifo "$D/server.in" || exit 1
exec 3<> "$D/server.in"

# ---------------------------------------------------------------------------
# 1. The debug log, outputs and written files.
export TOKENKEY_DEBUG=2 TOKENKEY_DEBUG_FILE="$D/debug.log"
run "genpkey EC on the token" openssl genpkey $P -algorithm EC -pkeyopt group:P-256 \
    -pkeyopt "token:$TOKEN" -pkeyopt label:sec-ec -out "$FILES/ec.ref.pem"
run "genpkey RSA on the token" openssl genpkey $P -algorithm RSA -pkeyopt bits:2048 \
    -pkeyopt "token:$TOKEN" -pkeyopt label:sec-rsa -out "$FILES/rsa.ref.pem"
EC="$TOKEN;object=sec-ec;type=private"
RSA="$TOKEN;object=sec-rsa;type=private"
run "load by URI" openssl pkey $P -in "$EC" -pubout -out "$FILES/ec.pub.pem"
run "load the key reference, write another" openssl pkey $P -in "$FILES/rsa.ref.pem" \
    -out "$FILES/rsa.ref2.pem"
run "pkey -text" openssl pkey $P -in "$FILES/ec.ref.pem" -text -noout
printf 'sign me' | openssl dgst -sha256 -binary > "$D/digest"
run "sign with EC" openssl pkeyutl -sign $P -inkey "$EC" -in "$D/digest" -out "$D/ec.sig"
run "sign with RSA" openssl pkeyutl -sign $P -inkey "$FILES/rsa.ref.pem" \
    -pkeyopt digest:sha256 -in "$D/digest" -out "$D/rsa.sig"
run "CSR signed on the token" openssl req -new $P -key "$EC" -subj "/CN=secrets client" \
    -out "$FILES/client.csr"
run "CA signs it" openssl x509 -req -in "$FILES/client.csr" -CA "$D/ca.pem" -CAkey "$D/ca.key" \
    -set_serial 7 -days 2 -out "$FILES/client.pem"
# A listing (storeutl exits 0 even when it lists nothing: count what it found).
run "store listing" openssl storeutl $P "$TOKEN;object=sec-ec"
listed 2 "store listing: the key and its public key"
run "store listing of public keys" openssl storeutl $P "$TOKEN;type=public"
listed 2 "store listing: the public keys"
run_fails "a wrong PIN is refused" 1 "CKR_PIN_INCORRECT" \
    env TOKENKEY_PIN_FILE="$D/wrong.pin" openssl pkey $P -in "$RSA" -pubout
run_fails "a wrong pin-value in the URI is refused" 1 "CKR_PIN_INCORRECT" \
    openssl pkey $P -in "$RSA?pin-value=$URI_PIN" -pubout
# openssl itself repeats its -in argument, pin-value and all, when the load
# fails: that line is the application's, not tokenkey's; the rest is checked.
sed -i '/^Could not read key from pkcs11:/d' "$OUT/$step.err"
run "the PIN from TOKENKEY_PIN" with_pin_variable \
    openssl pkey $P -in "$EC" -pubout
if server_start "$D/server.key" "$D/server.pem"; then
    run "TLS handshake, client key on the token" sh -c "echo | timeout $((60 * slow)) openssl s_client $P \
        -connect 127.0.0.1:$port -key '$EC' -cert '$FILES/client.pem' -CAfile '$D/ca.pem' \
        -verify_return_error -brief"
    server_verdict "TLS handshake"
else
    not_ok "s_server did not start"
    show "$D/server.log"
fi

# The command line, which uses the same PKCS#11 layer (and logs to the same file).
CLI="$TK_TOKENKEY_CLI"
run "tokenkey keygen" "$CLI" keygen --type ec:P-256 --label sec-cli --token "$TOKENKEY_TEST_TOKEN" \
    --pin-file "$TOKENKEY_TEST_PIN_FILE"
run "tokenkey list" "$CLI" list --token "$TOKENKEY_TEST_TOKEN" --pin-file "$TOKENKEY_TEST_PIN_FILE"
run "tokenkey csr" "$CLI" csr --key sec-cli --token "$TOKENKEY_TEST_TOKEN" --subject "/CN=sec cli" \
    --out "$FILES/cli.csr" --pin-file "$TOKENKEY_TEST_PIN_FILE"
run "CA signs the CLI's CSR" openssl x509 -req -in "$FILES/cli.csr" -CA "$D/ca.pem" \
    -CAkey "$D/ca.key" -set_serial 8 -days 2 -out "$FILES/cli.pem"
run "tokenkey import-cert" "$CLI" import-cert --key sec-cli --token "$TOKENKEY_TEST_TOKEN" \
    --cert "$FILES/cli.pem" --pin-file "$TOKENKEY_TEST_PIN_FILE"
run "tokenkey export" "$CLI" export --key sec-cli --token "$TOKENKEY_TEST_TOKEN" \
    --out-dir "$FILES/export" --pin-file "$TOKENKEY_TEST_PIN_FILE"
run "tokenkey kafka-config (PIN file)" "$CLI" kafka-config --key sec-cli \
    --token "$TOKENKEY_TEST_TOKEN" --ca "$D/ca.pem" --out-dir "$FILES/kafka" \
    --provider-module "$TK_PROVIDER_DIR/tokenkey.so" --pin-file "$TOKENKEY_TEST_PIN_FILE"
run "tokenkey kafka-config (TOKENKEY_PIN)" with_pin_variable \
    "$CLI" kafka-config --key sec-cli --token "$TOKENKEY_TEST_TOKEN" --ca "$D/ca.pem" \
    --provider-module "$TK_PROVIDER_DIR/tokenkey.so" --out-dir "$FILES/kafka-env"
run "tokenkey inspect" "$CLI" inspect --key sec-cli --token "$TOKENKEY_TEST_TOKEN" \
    --pin-file "$TOKENKEY_TEST_PIN_FILE" --json
run_fails "tokenkey with a wrong PIN" 3 "the token rejected the PIN" \
    "$CLI" list --token "$TOKENKEY_TEST_TOKEN" --pin-file "$D/wrong.pin"
# A PIN written where a PIN file's or variable's name belongs: the error says
# so without echoing it (no_secrets below reads these outputs, $MISPLACED is
# one of its needles; a stand-in, so the real PIN is on no command line).
HIDDEN="(name not shown:"
run_fails "the PIN as TOKENKEY_PIN_FILE: not echoed" 1 "PIN file $HIDDEN no such file" \
    env TOKENKEY_PIN_FILE="$MISPLACED" openssl pkey $P -in "$RSA" -pubout
run_fails "the PIN as the URI's pin-source: not echoed" 1 "PIN file $HIDDEN no such file" \
    openssl pkey $P -in "$RSA?pin-source=$MISPLACED" -pubout
sed -i '/^Could not read key from pkcs11:/d' "$OUT/$step.err"   # openssl's own echo of -in
# No token matches, so the PIN source is never read: the error names the URI,
# which must say that a pin-source was given without saying what it was.
run_fails "the PIN in pin-source of a URI matching no token: not echoed" 1 \
    "matches pkcs11:token=tk-no-such-token?pin-source=..." \
    openssl pkey $P -in "pkcs11:token=tk-no-such-token?pin-source=$PIN" -pubout
sed -i '/^Could not read key from pkcs11:/d' "$OUT/$step.err"
run_fails "the PIN as a variable's name: not echoed" 1 "environment variable $HIDDEN no such variable" \
    env -u TOKENKEY_PIN_FILE TOKENKEY_PIN_SOURCE="env:$MISPLACED" openssl pkey $P -in "$RSA" -pubout
run_fails "tokenkey --pin-file with the PIN: not echoed" 3 "cannot read PIN file $HIDDEN" \
    "$CLI" list --token "$TOKENKEY_TEST_TOKEN" --pin-file "$MISPLACED"
run_fails "tokenkey doctor, the PIN as TOKENKEY_PIN_FILE: not echoed" 3 "cannot read PIN file $HIDDEN" \
    env TOKENKEY_PIN_FILE="$MISPLACED" "$CLI" doctor --key sec-cli --token "$TOKENKEY_TEST_TOKEN"
run_fails "tokenkey kafka-config --pin-file with the PIN: not echoed" 3 "--pin-file $HIDDEN" \
    "$CLI" kafka-config --key sec-cli --token "$TOKENKEY_TEST_TOKEN" --ca "$D/ca.pem" \
    --out-dir "$FILES/kafka-pin" --provider-module "$TK_PROVIDER_DIR/tokenkey.so" --pin-file "$MISPLACED"
# A real name is still shown (the rule hides only what could be a PIN).
run_fails "a missing PIN file's path is shown" 3 "cannot read PIN file '$D/no-such.pin'" \
    "$CLI" list --token "$TOKENKEY_TEST_TOKEN" --pin-file "$D/no-such.pin"
run_fails "an unset upper-case variable is named" 1 "environment variable TK_NO_SUCH_PIN_VARIABLE is empty" \
    env -u TOKENKEY_PIN_FILE TOKENKEY_PIN_SOURCE="env:TK_NO_SUCH_PIN_VARIABLE" openssl pkey $P -in "$RSA" -pubout
unset TOKENKEY_DEBUG TOKENKEY_DEBUG_FILE

# The log covered what it should (else "no PIN in it" proves nothing).
for what in "C_Login(" "C_Sign(" "C_GenerateKeyPair(" "CKR_PIN_INCORRECT" "C_FindObjects"; do
    if grep -qF -- "$what" "$D/debug.log"; then ok "the debug log has $what"
    else not_ok "the debug log has no $what"; fi
done
[ -s "$FILES/export/key.pem" ] && [ -s "$FILES/kafka/client.properties" ] \
    && ok "the CLI wrote its files" || not_ok "the CLI's files are missing: $(ls -R "$FILES")"
no_secrets "no PIN in the debug log ($(wc -l < "$D/debug.log") lines)" "$D/debug.log"
no_secrets "no PIN in anything printed ($step commands)" "$OUT"
no_secrets "no PIN in any file written ($(find "$FILES" -type f | wc -l) files)" "$FILES"

# ---------------------------------------------------------------------------
# 2. The process table while a server uses a token key.
if server_start "$EC" "$FILES/client.pem"; then
    # The server logs in when it loads its key, before ACCEPT: all is set up.
    ps -ww -eo pid,args > "$D/ps.txt"
    tr '\0' '\n' < "/proc/$server_pid/cmdline" > "$D/cmdline.txt" 2>/dev/null
    for p in $(pgrep -f "s_server $P" 2>/dev/null); do
        tr '\0' '\n' < "/proc/$p/cmdline" >> "$D/cmdline.txt" 2>/dev/null
        tr '\0' '\n' < "/proc/$p/environ" >> "$D/environ.txt" 2>/dev/null
    done
    if grep -q 's_server' "$D/ps.txt" && [ -s "$D/environ.txt" ]; then
        ok "the server with a token key is in the process table"
    else
        not_ok "cannot see the server in the process table"
    fi
    no_secrets "no PIN in ps" "$D/ps.txt"
    no_secrets "no PIN in the server's argv and environment" "$D/cmdline.txt" "$D/environ.txt"
    server_stop
else
    not_ok "s_server with the token key did not start"
    show "$D/server.log"
fi

# ---------------------------------------------------------------------------
# 3. Every call through pkcs11-spy: nothing asks for private key material.
spy_module=
for m in /usr/lib/x86_64-linux-gnu/pkcs11-spy.so /usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so \
         /usr/lib/aarch64-linux-gnu/pkcs11-spy.so /usr/lib/pkcs11-spy.so; do
    [ -r "$m" ] && { spy_module=$m; break; }
done
if [ -z "$spy_module" ]; then
    not_ok "OpenSC's pkcs11-spy.so is not installed (apt-get install opensc-pkcs11)"
    echo "$passed passed, $failed failed"
    exit 1
fi
# One log per command (object handles are per process). The spy logs PINs
# (C_Login's pPin): its logs stay in the fixture directory, removed at exit.
spy=0
# spy_on / spy_off: the next commands go through the spy, into log number $spy.
# (Exported variables rather than env(1): under valgrind every exec costs.)
spy_on() {
    spy=$((spy + 1))
    export PKCS11SPY="$TOKENKEY_TEST_MODULE" PKCS11SPY_OUTPUT="$SPY/$spy.log"
    export TOKENKEY_MODULE="$spy_module"
}
spy_off() {
    unset PKCS11SPY PKCS11SPY_OUTPUT
    export TOKENKEY_MODULE="$TOKENKEY_TEST_MODULE"
}
spy_run() {
    name=$1
    shift
    spy_on
    run "spy: $name" "$@"
    spy_off
}
spy_run "genpkey EC" openssl genpkey $P -algorithm EC -pkeyopt group:P-256 \
    -pkeyopt "token:$TOKEN" -pkeyopt label:spy-ec -out "$FILES/spy-ec.ref.pem"
spy_run "genpkey RSA" openssl genpkey $P -algorithm RSA -pkeyopt bits:2048 \
    -pkeyopt "token:$TOKEN" -pkeyopt label:spy-rsa -out "$FILES/spy-rsa.ref.pem"
spy_run "load and export the public key" openssl pkey $P -in "$RSA" -pubout
spy_run "pkey -text of a key reference" openssl pkey $P -in "$FILES/ec.ref.pem" -text -noout
spy_on
run_fails "spy: writing the private key out is refused" 1 \
    "private key material never leaves the token" openssl pkey $P -in "$RSA" -traditional
run_fails "spy: PKCS#8 of a token key is refused" 1 \
    "private key material never leaves the token" openssl pkcs8 -topk8 -nocrypt $P -in "$FILES/ec.ref.pem"
spy_off
spy_run "sign EC" openssl pkeyutl -sign $P -inkey "$EC" -in "$D/digest" -out "$D/spy.sig"
spy_run "sign RSA-PSS" openssl pkeyutl -sign $P -inkey "$RSA" -pkeyopt digest:sha256 \
    -pkeyopt rsa_padding_mode:pss -in "$D/digest" -out "$D/spy.sig"
spy_run "CSR" openssl req -new $P -key "$FILES/spy-ec.ref.pem" -subj /CN=spy -out "$D/spy.csr"
spy_run "store listing (a key, its public key and certificate)" openssl storeutl $P \
    "$TOKEN;object=sec-cli"
listed 3 "spy: store listing: key, public key and certificate"
if server_start "$D/server.key" "$D/server.pem"; then
    spy_run "TLS handshake" sh -c "echo | timeout $((60 * slow)) openssl s_client $P \
        -connect 127.0.0.1:$port -key '$EC' -cert '$FILES/client.pem' -CAfile '$D/ca.pem' \
        -verify_return_error -brief"
    server_verdict "spy: TLS handshake"
else
    not_ok "s_server did not start (spy)"
fi
spy_run "tokenkey list" "$CLI" list --module "$spy_module" --token "$TOKENKEY_TEST_TOKEN" \
    --pin-file "$TOKENKEY_TEST_PIN_FILE"
spy_run "tokenkey keygen" "$CLI" keygen --module "$spy_module" --type rsa:2048 --label spy-cli \
    --token "$TOKENKEY_TEST_TOKEN" --pin-file "$TOKENKEY_TEST_PIN_FILE"
spy_run "tokenkey export" "$CLI" export --module "$spy_module" --key sec-cli \
    --token "$TOKENKEY_TEST_TOKEN" --out-dir "$FILES/spy-export" --pin-file "$TOKENKEY_TEST_PIN_FILE"
spy_run "tokenkey inspect" "$CLI" inspect --module "$spy_module" --key sec-cli \
    --token "$TOKENKEY_TEST_TOKEN" --pin-file "$TOKENKEY_TEST_PIN_FILE"

if python3 "$TK_SPYLOG" "$SPY"/*.log > "$D/spylog.out" 2>&1; then
    ok "spy: no request for private key material in $spy logs"
else
    not_ok "spy: private key material requested"
    show "$D/spylog.out"
fi
# The logs saw the work (else "nothing found" proves nothing).
total() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" "$D/spylog.out" | awk '{s += $1} END {print s + 0}'; }
for what in C_Sign:4 C_GenerateKeyPair:3 C_Login:5 C_GetAttributeValue:20 cert_value_reads:1; do
    n=$(total "${what%:*}")
    if [ "$n" -ge "${what#*:}" ]; then ok "spy: the logs have $n ${what%:*}"
    else not_ok "spy: only $n ${what%:*} (expected at least ${what#*:})"; show "$D/spylog.out"; fi
done

# The control: a client that does ask for private key material is caught.
PKCS11SPY="$TOKENKEY_TEST_MODULE" PKCS11SPY_OUTPUT="$SPY/control.log" \
    "$TK_SPY_CONTROL" "$spy_module" "$TOKENKEY_TEST_TOKEN" sec-rsa "$TOKENKEY_TEST_PIN_FILE" \
    > "$D/control.out" 2>&1 < /dev/null || { not_ok "control: tk-spy-control failed"; show "$D/control.out"; }
python3 "$TK_SPYLOG" "$SPY/control.log" > "$D/control.check" 2>&1
rc=$?
if [ "$rc" -eq 1 ] && grep -q 'asks object .* for CKA_PRIVATE_EXPONENT' "$D/control.check" \
   && grep -q 'asks object .* (CKO_PRIVATE_KEY) for CKA_VALUE' "$D/control.check"; then
    ok "control: a client asking for CKA_PRIVATE_EXPONENT and CKA_VALUE is caught"
else
    not_ok "control: spylog.py did not report tk-spy-control's requests (exit $rc)"
    show "$D/control.out"
    show "$D/control.check"
fi

exec 3>&-
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
