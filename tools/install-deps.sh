#!/bin/sh
# Install what tokenkey needs to build, test and run its demo, from Debian 12's
# packages. Run as root. Both README commands (tools/demo.sh and
# tests/run-all.sh) call this first; it is quick when everything is present.
#
# usage: tools/install-deps.sh [--fuzz]
#   --fuzz  also libFuzzer (libclang-rt-14-dev, only a Recommends of clang's),
#           for the test command's fuzz stage
set -eu

packages="
  build-essential meson ninja-build pkg-config
  libssl-dev openssl libssl-doc
  libp11-kit-dev libp11-dev p11-kit-modules
  softhsm2 opensc
  libcmocka-dev
  librdkafka-dev kcat python3 python3-confluent-kafka
  valgrind clang iproute2 procps
"
[ "${1:-}" != --fuzz ] || packages="$packages libclang-rt-14-dev"

missing=
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps.sh: these Debian packages are missing:$missing" >&2
    echo "install-deps.sh: run as root, or: sudo sh -c 'apt-get update && apt-get install -y$missing'" >&2
    echo "install-deps.sh: (the demo and the Kafka tests need root too: they make a network namespace)" >&2
    exit 1
fi
echo "install-deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
