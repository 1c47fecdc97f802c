#!/bin/bash
# The project's full test command (README's second command; .ci/run calls it):
# on Debian 12 as root, install what the build and the tests need, configure a
# fresh build-ci/ with warnings as errors, build, and run every meson test.
#
# usage: tests/run-all.sh        (from any directory; CI sets CI=true, no stdin)
# Exit status: 0 only when the build and every test passed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "::: installing dependencies"
sh tools/install-deps.sh </dev/null

echo "::: configuring build-ci (--werror)"
# Always from scratch: a stale build dir must not hide a configure problem.
rm -rf build-ci
meson setup build-ci --werror

echo "::: building"
ninja -C build-ci

echo "::: testing"
meson test -C build-ci --print-errorlogs
