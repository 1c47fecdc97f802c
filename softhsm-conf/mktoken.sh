#!/bin/sh
# Create a throw-away SoftHSM2 token in DIR, with its own softhsm2.conf, and
# print the shell variables tests need (eval "$(softhsm-conf/mktoken.sh DIR)").
# Never reads or writes the system's SoftHSM configuration.
#
# usage: mktoken.sh DIR [LABEL]
#   DIR    directory to create (or reuse); the token and its files go here
#   LABEL  token label (default: tokenkey-test)
# environment:
#   TK_INIT_TOKEN  path of the built tk-init-token helper (default: found
#                  in ./build*/softhsm-conf/ next to this script)
#   TK_TOKEN_VIA   the PKCS#11 module tests load to reach the token, printed
#                  as TOKENKEY_TEST_MODULE instead of SoftHSM2 itself: p11-kit's
#                  proxy, which loads SoftHSM2 from p11-kit's module registry
#                  (tests/p11kit). The token is created through SoftHSM2.
#
# The user and SO PINs are random, written to DIR/user.pin and DIR/so.pin
# (mode 0600) and read from those files by tk-init-token: never on argv.
set -eu

die() { echo "mktoken.sh: $*" >&2; exit 1; }

[ $# -ge 1 ] || die "usage: mktoken.sh DIR [LABEL]"
dir=$1
label=${2:-tokenkey-test}

module=
for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
         /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so /usr/local/lib/softhsm/libsofthsm2.so; do
    [ -r "$m" ] && { module=$m; break; }
done
[ -n "$module" ] || die "SoftHSM2 is not installed (apt-get install softhsm2)"

here=$(cd "$(dirname "$0")" && pwd)
init=${TK_INIT_TOKEN:-}
if [ -z "$init" ]; then
    for b in "$here"/../build*/softhsm-conf/tk-init-token; do
        [ -x "$b" ] && { init=$b; break; }
    done
fi
[ -n "$init" ] && [ -x "$init" ] || die "tk-init-token not found: build first (meson setup build && ninja -C build) or set TK_INIT_TOKEN"

[ -z "${TK_TOKEN_VIA:-}" ] || [ -r "$TK_TOKEN_VIA" ] \
    || die "TK_TOKEN_VIA: no module at $TK_TOKEN_VIA"

mkdir -p "$dir/tokens"
dir=$(cd "$dir" && pwd)
umask 077

cat > "$dir/softhsm2.conf" <<EOF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF

# Random PINs: tests must not depend on a well-known PIN.
[ -s "$dir/user.pin" ] || od -An -N8 -tx1 /dev/urandom | tr -d ' \n' > "$dir/user.pin"
[ -s "$dir/so.pin" ] || od -An -N8 -tx1 /dev/urandom | tr -d ' \n' > "$dir/so.pin"
chmod 600 "$dir/user.pin" "$dir/so.pin"

export SOFTHSM2_CONF="$dir/softhsm2.conf"
if [ ! -s "$dir/slot" ]; then
    "$init" "$module" "$label" "$dir/so.pin" "$dir/user.pin" > "$dir/slot" \
        || die "could not initialise token '$label' in $dir"
fi
# The slot id printed is valid only in tk-init-token's process (SoftHSM2
# renumbers slots on the next start), so tests find the token by serial/label.
read -r _ serial < "$dir/slot"
[ -n "$serial" ] || die "token '$label' was not created"

# Quoted for the eval that reads this, a ' in a path too (TMPDIR may hold one).
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
cat <<EOF
SOFTHSM2_CONF=$(q "$dir/softhsm2.conf")
TOKENKEY_TEST_DIR=$(q "$dir")
TOKENKEY_TEST_MODULE=$(q "${TK_TOKEN_VIA:-$module}")
TOKENKEY_TEST_TOKEN=$(q "$label")
TOKENKEY_TEST_SERIAL=$(q "$serial")
TOKENKEY_TEST_PIN_FILE=$(q "$dir/user.pin")
TOKENKEY_TEST_SO_PIN_FILE=$(q "$dir/so.pin")
export SOFTHSM2_CONF TOKENKEY_TEST_DIR TOKENKEY_TEST_MODULE TOKENKEY_TEST_TOKEN TOKENKEY_TEST_SERIAL TOKENKEY_TEST_PIN_FILE TOKENKEY_TEST_SO_PIN_FILE
EOF
