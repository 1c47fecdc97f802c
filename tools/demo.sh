#!/bin/sh
# The main job: a Kafka client authenticates to an mTLS cluster with a
# private key that lives on a (SoftHSM2) token and never leaves it.
#
# Run as root on Debian 12 from a clone of the repository:  tools/demo.sh
#
# It installs what is needed, builds, creates a throw-away token, walks the
# enrollment with the tokenkey CLI (a local test CA plays the cluster's CA),
# starts the test cluster (librdkafka's mock cluster behind an mTLS gateway,
# docs/kafka.md) on 127.0.0.1, and has kcat produce and consume a message
# over mTLS with the token key. Everything lives in a temporary directory
# that is removed at the end (DEMO_KEEP=1 keeps it; a failed run keeps it
# too, for its logs).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
say() { printf '\n== %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

# TOKENKEY_DEMO_BUILD=DIR runs the demo on that build tree, without installing
# or building: tests/kafka/test_demo.sh does, so the suite runs this script.
work=$(mktemp -d "${TMPDIR:-/tmp}/tokenkey-demo.XXXXXX")
cluster_pid=
cleanup() {
    rc=$?
    if [ -n "$cluster_pid" ]; then
        kill "$cluster_pid" 2>/dev/null || true
        wait "$cluster_pid" 2>/dev/null || true
    fi
    if [ "$rc" -ne 0 ] && rmdir "$work" 2>/dev/null; then
        : # it failed before anything was written there
    elif [ "${DEMO_KEEP:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
        echo "kept $work (its logs)" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A step's output goes to a log in $work; shown when the step fails.
quietly() {
    log=$1; shift
    "$@" > "$work/$log" 2>&1 || { tail -n 30 "$work/$log" >&2; die "'$*' failed (log: $work/$log)"; }
}

# A build tree the demo can use: a plain build (a sanitizer's tokenkey.so
# cannot be loaded into kcat) with the test programs (the cluster).
check_build() {
    python3 - "$1" <<'PY' || die "$1 is not a plain build with tests (a sanitizer, or -Dtests=false): remove it (rm -rf $1) and run the demo again"
import json, subprocess, sys
opts = {o["name"]: o["value"] for o in json.loads(subprocess.run(
    ["meson", "introspect", "--buildoptions", sys.argv[1]],
    check=True, capture_output=True, text=True).stdout)}
sys.exit(0 if opts.get("b_sanitize") == "none" and opts.get("tests") is True else 1)
PY
}

if [ -n "${TOKENKEY_DEMO_BUILD:-}" ]; then
    build=$(cd "$TOKENKEY_DEMO_BUILD" && pwd)
    echo "using the build in $build (TOKENKEY_DEMO_BUILD)"
else
    say "setup: installing dependencies (Debian packages)"
    sh tools/install-deps.sh

    say "setup: building (meson + ninja in ./build)"
    [ -f build/build.ninja ] || quietly meson-setup.log meson setup build
    check_build build
    quietly ninja.log ninja -C build
    build=$root/build
    echo "built build/provider/tokenkey.so, build/tools/tokenkey and the test cluster"
fi
tokenkey=$build/tools/tokenkey

say "setup: creating a throw-away SoftHSM2 token"
token_vars=$(TK_INIT_TOKEN="$build/softhsm-conf/tk-init-token" sh softhsm-conf/mktoken.sh \
    "$work/token" kafka-demo) || die "could not create the token"
eval "$token_vars"
export TOKENKEY_MODULE="$TOKENKEY_TEST_MODULE"
pin_file=$TOKENKEY_TEST_PIN_FILE
echo "token 'kafka-demo' (serial $TOKENKEY_TEST_SERIAL); its PINs are in files (mode 0600), never on a command line"

say "1. generating a non-exportable P-256 key pair on the token"
key_uri=$("$tokenkey" keygen --token kafka-demo --pin-file "$pin_file" --type ec:P-256 --label kafka-client)
echo "key: $key_uri"

say "2. making the certificate request, signed by the token key"
"$tokenkey" csr --key "$key_uri" --pin-file "$pin_file" --subject "/CN=demo-client/O=tokenkey demo" \
    --out "$work/client.csr"
openssl req -in "$work/client.csr" -noout -verify -subject

say "3. the cluster's CA (a local test CA here) signs it"
mkdir -p "$work/ca"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=tokenkey demo cluster CA" -keyout "$work/ca/ca.key" -out "$work/ca/ca.pem" 2>/dev/null
printf 'extendedKeyUsage = clientAuth\nkeyUsage = critical, digitalSignature\n' > "$work/ca/client.ext"
openssl x509 -req -in "$work/client.csr" -CA "$work/ca/ca.pem" -CAkey "$work/ca/ca.key" \
    -CAcreateserial -days 1 -extfile "$work/ca/client.ext" -out "$work/client.pem" 2>/dev/null
openssl x509 -in "$work/client.pem" -noout -subject -issuer

say "4. importing the signed certificate next to its key on the token"
"$tokenkey" import-cert --key "$key_uri" --pin-file "$pin_file" --cert "$work/client.pem"

say "5. writing the client's configuration (key reference, certificate, CA, properties)"
"$tokenkey" kafka-config --key "$key_uri" --pin-file "$pin_file" --ca "$work/ca/ca.pem" --out-dir "$work/client" \
    --provider-module "$build/provider/tokenkey.so"
if grep -q -e "-----BEGIN .*PRIVATE KEY-----" "$work/client/key.pem"; then
    die "the key file holds key material"
fi
echo "key.pem is a key reference: $(sed -n 1p "$work/client/key.pem")"

say "setup: starting the mTLS test cluster on 127.0.0.1 (it requires and verifies client certificates)"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$work/ca/broker.key" -out "$work/ca/broker.csr" 2>/dev/null
printf 'subjectAltName = IP:127.0.0.1, DNS:localhost\nextendedKeyUsage = serverAuth\n' \
    > "$work/ca/broker.ext"
openssl x509 -req -in "$work/ca/broker.csr" -CA "$work/ca/ca.pem" -CAkey "$work/ca/ca.key" \
    -CAcreateserial -days 1 -extfile "$work/ca/broker.ext" -out "$work/ca/broker.pem" 2>/dev/null
"$build/tests/kafka/tk-kafka-cluster" --ca "$work/ca/ca.pem" --cert "$work/ca/broker.pem" \
    --key "$work/ca/broker.key" --brokers 1 --topic demo:1 --lifetime 300 \
    --log "$work/cluster.log" --ready-file "$work/ready" &
cluster_pid=$!
for _ in $(seq 1 100); do
    [ -s "$work/ready" ] && break
    kill -0 "$cluster_pid" 2>/dev/null || { tail -n 20 "$work/cluster.log" >&2 || true; break; }
    sleep 0.1
done
[ -s "$work/ready" ] || die "the test cluster did not start (see $work/cluster.log)"
bootstrap=$(cat "$work/ready")
echo "cluster at $bootstrap"

say "6-11. kcat connects, both sides verify each other, the client signs on the token, messages flow"
export OPENSSL_CONF="$work/client/openssl.cnf"
export TOKENKEY_DEBUG=1 TOKENKEY_DEBUG_FILE="$work/pkcs11.log"
message="hello from a key that never left the token ($(date -u +%H:%M:%S))"
# Bounded: a client whose handshakes fail retries until its timeouts, minutes by default.
# --foreground: timeout stays in the terminal's process group, so Ctrl-C reaches kcat.
printf '%s\n' "$message" | timeout --foreground 90 kcat -F "$work/client/client.properties" -b "$bootstrap" \
    -X message.timeout.ms=60000 -P -t demo || die "kcat could not produce (log: $work/pkcs11.log)"
got=$(timeout --foreground 90 kcat -F "$work/client/client.properties" -b "$bootstrap" \
    -C -t demo -o beginning -c 1 -e -q) || die "kcat could not consume (log: $work/pkcs11.log)"
unset OPENSSL_CONF TOKENKEY_DEBUG TOKENKEY_DEBUG_FILE
[ "$got" = "$message" ] || die "consumed '$got', expected '$message'"
echo "consumed: $got"

verified=$(grep -c "verified client: subject=" "$work/cluster.log" || true)
subject=$(grep -m1 "verified client: subject=" "$work/cluster.log" | sed 's/.*subject=\(.*\) issuer=.*/\1/')
signs=$(grep -c "C_Sign(.*= CKR_OK" "$work/pkcs11.log" || true)
[ "$verified" -ge 1 ] || die "the cluster verified no client certificate"
[ "$signs" -ge "$verified" ] || die "$signs signatures on the token for $verified handshakes"

printf '\n== done: the broker verified the client certificate "%s" on %s mTLS connection(s);\n' \
    "$subject" "$verified"
printf '   the client proved it holds the key with %s signature(s) made on the token (C_Sign),\n' "$signs"
echo "   and the client's files hold no key material: the private key never left the token."
