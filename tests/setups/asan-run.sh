#!/bin/bash
# The 'asan' test setup's wrapper (tests/setups/meson.build): runs the test
# as it is, and runs it once more in one case only - LeakSanitizer's own
# crash. At exit, LSan's stop-the-world tracer sometimes dies of SIGSEGV
# ("Tracer caught signal 11 ... LeakSanitizer has encountered a fatal
# error", google/sanitizers#1353) before it has checked anything, and the
# process exits 1. Seen here once in about a dozen full CI runs, after a
# test whose every assertion passed (p11-copyrace); it did not come back in
# fifteen runs of that test.
#
# The second run is made only when all of this holds, so that no failure
# of the test, and no sanitizer finding, is ever run away from:
#   - the test exited non-zero, and its stderr has both tracer lines;
#   - it is a cmocka test that reported "[  PASSED  ]" and no "[  FAILED  ]";
#   - no ASan, LSan or UBSan report ("ERROR: ...Sanitizer", "runtime error:").
# The second run has the leak check like the first, and its status is the
# test's. A crash of the tracer in a program a shell test runs is that
# test's failure, as before (its output goes to the test's own files).
err=$(mktemp "${TMPDIR:-/tmp}/tk-asan-run.XXXXXX") || exit 1
preload_dir=
trap 'rm -f "$err"; [ -z "$preload_dir" ] || rm -rf "$preload_dir"' EXIT

# tk-asan-nodelete.so goes into every process of the test (meson.build says
# why), from a copy: ld.so splits LD_PRELOAD at blanks and colons, with no
# quoting, and a build path may hold one (a clone in "~/my projects"); and a
# test that runs a command as nobody needs it readable (a clone under /root).
preload_dir=$(mktemp -d "${TMPDIR:-/tmp}/tk-asan-preload.XXXXXX") || exit 1
chmod 0755 "$preload_dir" && cp "${TK_ASAN_PRELOAD:?set by the asan test setup}" "$preload_dir/" || exit 1
preload=$preload_dir/$(basename "$TK_ASAN_PRELOAD")
case "$preload" in
    *[[:space:]:]*) echo "asan-run: TMPDIR '$TMPDIR' holds a blank or ':'; LD_PRELOAD cannot name it" >&2
                    exit 1 ;;
esac
export LD_PRELOAD="$preload${LD_PRELOAD:+ $LD_PRELOAD}"

# stderr goes on as it comes (a test killed at its timeout keeps its log), and to $err;
# stdout stays the test's own.
{ "$@" 2>&1 1>&3 3>&- | tee "$err" >&2; status=${PIPESTATUS[0]}; } 3>&1

tracer_crash_only() {
    grep -q '^Tracer caught signal' "$err" \
        && grep -q 'LeakSanitizer has encountered a fatal error' "$err" \
        && grep -q '^\[  PASSED  \]' "$err" \
        && ! grep -q '\[  FAILED  \]' "$err" \
        && ! grep -qE 'ERROR: [A-Za-z]*Sanitizer|runtime error:' "$err"
}

if [ "$status" -ne 0 ] && tracer_crash_only; then
    echo "asan-run: LeakSanitizer's tracer crashed at exit after every test passed" \
        "(google/sanitizers#1353): running the test once more, leak check included" >&2
    "$@"
    status=$?
fi
exit "$status"
