#!/bin/sh
# The main job: install, build, make a throw-away SoftHSM2 token, load the
# tokenkey provider into OpenSSL and show the token through it.
# Run as root on Debian 12 from a clone of the repository:  tools/demo.sh
#
# The Kafka mTLS part (enrollment, test cluster, kcat over mTLS) is not
# built yet; this script says so at the end rather than pretend.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
step=0
say() { step=$((step + 1)); printf '\n== %d. %s\n' "$step" "$*"; }

say "installing dependencies (Debian packages)"
sh tools/install-deps.sh

say "building (meson + ninja in ./build)"
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
echo "built build/provider/tokenkey.so and build/tools/tokenkey"

say "creating a throw-away SoftHSM2 token"
work=$(mktemp -d "${TMPDIR:-/tmp}/tokenkey-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
eval "$(TK_INIT_TOKEN=build/softhsm-conf/tk-init-token sh softhsm-conf/mktoken.sh "$work/token" tokenkey-demo)"
echo "token 'tokenkey-demo' (serial $TOKENKEY_TEST_SERIAL) in $work/token; PINs in files there, mode 0600"

say "loading the tokenkey provider into OpenSSL"
export TOKENKEY_MODULE="$TOKENKEY_TEST_MODULE"
openssl list -providers -provider-path build/provider -provider tokenkey -provider default

say "listing the token through tokenkey's PKCS#11 layer"
build/tools/tokenkey tokens --module "$TOKENKEY_TEST_MODULE"

printf '\n== done: the provider loads and sees the SoftHSM2 token.\n'
echo "   Not yet part of this demo: key enrollment and the Kafka mTLS handshake (issues 3-5)."
