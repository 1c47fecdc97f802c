#!/bin/bash
# The project's full test command (README's second command; .ci/run calls it):
# on Debian 12 as root, install what the build and the tests need, then
#
#   1. build-ci/    a fresh build with warnings as errors; every meson test
#   2. valgrind     every test again under memcheck (meson test --setup
#                   valgrind, tests/setups/), in build-ci
#   3. build-asan/  a fresh ASan + UBSan build; every test (its default
#                   'asan' setup)
#   4. build-tsan/  a fresh ThreadSanitizer build; the thread and fork tests
#                   (suites stress, fault, threads)
#   5. build-fuzz/  a clang build of the libFuzzer harnesses; each target
#                   fuzzed for TK_FUZZ_SECONDS (default 20)
#
# Every stage runs even when an earlier one failed, so one run shows every
# failure; docs/security.md describes stages 2-5.
#
# usage: tests/run-all.sh        (from any directory; CI sets CI=true, no stdin)
# Exit status: 0 only when every build and every test passed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Ctrl-C stops the whole run: a program that exits on SIGINT by itself (ninja,
# meson test) would otherwise only move the run on to its next stage.
trap 'echo "run-all.sh: interrupted" >&2; exit 130' INT TERM

echo "::: installing dependencies"
# --fuzz: the fuzz stage links libFuzzer.
sh tools/install-deps.sh --fuzz </dev/null

failed=()
times=()
# stage NAME COMMAND...: run one stage, time it, remember a failure.
stage() {
    local name=$1 start=$SECONDS rc=0
    shift
    echo "::: $name"
    "$@" || rc=$?
    times+=("$(printf '%-10s %5ss  %s' "$name" $((SECONDS - start)) \
        "$([ "$rc" -eq 0 ] && echo ok || echo "FAILED (exit $rc)")")")
    [ "$rc" -eq 0 ] || failed+=("$name")
}

# A build dir is always made from scratch: a stale one must not hide a
# configure problem.
build() {
    local dir=$1
    shift
    rm -rf "$dir"
    meson setup "$dir" "$@" && ninja -C "$dir"
}

plain() {
    build build-ci --werror && meson test -C build-ci --print-errorlogs
}

# The stress test reads a smaller count from the setup (tests/setups/).
valgrind_run() {
    meson test -C build-ci --setup valgrind --print-errorlogs
}

# Not --werror: the instrumentation makes gcc's flow-based warnings
# (-Wformat-overflow, -Wnull-dereference) fire on code build-ci compiles
# cleanly; build-ci already holds every file to -Werror.
asan() {
    build build-asan -Db_sanitize=address,undefined -Db_lundef=false &&
        meson test -C build-asan --print-errorlogs
}

# Only the harnesses are built here (the whole tree is built twice
# already); CC=clang: libFuzzer comes with clang.
fuzz() {
    rm -rf build-fuzz
    CC=clang meson setup build-fuzz --werror -Dfuzzing=true &&
        meson compile -C build-fuzz fuzz-uri fuzz-keyref fuzz-config fuzz-subject fuzz-san &&
        meson test -C build-fuzz --no-rebuild --suite fuzz --print-errorlogs
}

stage build-ci plain
stage valgrind valgrind_run
stage asan asan

# ThreadSanitizer on the thread and fork tests (suites stress, fault and threads):
# the 'tsan' setup (tests/setups/) is the default in this build.
tsan() {
    build build-tsan -Db_sanitize=thread -Db_lundef=false &&
        meson test -C build-tsan --print-errorlogs --suite stress --suite fault \
            --suite threads
}

stage tsan tsan
stage fuzz fuzz

echo "::: summary"
printf '%s\n' "${times[@]}"
echo "total      ${SECONDS}s"
if [ "${#failed[@]}" -ne 0 ]; then
    echo "::: FAILED: ${failed[*]}"
    exit 1
fi
echo "::: all passed"
