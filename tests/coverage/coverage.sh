#!/bin/sh
# Line and function coverage of provider/ and tools/ by every meson test: a
# developer's tool to find code no test reaches (not a CI stage: it adds a
# build and a full test run, and a percentage is not a pass/fail).
#
# usage: tests/coverage/coverage.sh [BUILDDIR]   (default: build-cov)
# Prints each source file's covered lines, the total, and every function no
# test called; BUILDDIR/coverage-lines.json keeps the counts per line.
set -eu
case ${1:-} in
    '') dir= ;;
    /*) dir=$1 ;;
    *) dir=$PWD/$1 ;;
esac
cd "$(dirname "$0")/../.."
dir=${dir:-$PWD/build-cov}
[ -d "$dir" ] || meson setup "$dir" -Db_coverage=true -Dbuildtype=debug >/dev/null
ninja -C "$dir" >/dev/null
find "$dir" -name '*.gcda' -delete
# Failures are reported by meson; coverage of a failing run is still shown.
meson test -C "$dir" --num-processes 2 >/dev/null || echo "coverage.sh: some tests failed" >&2
python3 tests/coverage/report.py "$dir" "$PWD"
