#!/bin/sh
# The exe_wrapper of 'meson test --setup valgrind' (tests/setups/meson.build).
#
# Runs one test under memcheck, following it into every program it starts
# (openssl with tokenkey.so, the tokenkey CLI, tk-init-token, test helpers)
# except the system tools listed in TK_VG_SKIP, with one log per process.
# The test fails when valgrind found an error or a definite leak in ANY of
# its processes, even one whose exit status the test expected to be
# non-zero anyway (a negative test): every log is read.
#
# That log check replaces valgrind's --error-exitcode=1, on purpose:
# valgrind applies it to every process it follows, and the shells that run
# the test scripts leak at exit (dash 0.5.12 its EXIT trap string, 59 bytes
# with tests/lib/fixture.sh's trap; bash a parsed command), which would
# turn every passing shell test into exit status 1; and a negative test
# that expects "exit 1" from openssl could not tell valgrind's 1 from the
# program's. The shells are the test harness, not code under test: their
# own logs are not judged (the programs they start are).
#
# usage: valgrind-run.sh PROGRAM [ARGS...]
# environment (set by the setup):
#   TK_VG_SUPP  the suppression file (tests/valgrind.supp)
#   TK_VG_SKIP  comma-separated --trace-children-skip patterns
#   TK_VG_KEEP=1  keep the logs (their directory is printed)
set -u

logs=$(mktemp -d "${TMPDIR:-/tmp}/tokenkey-valgrind.XXXXXX") || exit 1
# The options the issue asks for, plus: follow children, one log each
# (%p), full stacks for the suppressions, and quiet forked children: one
# that execs gets its own log under the new program's pid, and one that
# runs tokenkey's code without exec asks memcheck itself and fails its
# exit status (tests/lib/vg_check.h; every such child in the tests does).
valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite --suppressions="${TK_VG_SUPP:?}" \
    --keep-debuginfo=yes --num-callers=24 --trace-children=yes \
    --trace-children-skip="${TK_VG_SKIP:-}" --child-silent-after-fork=yes \
    --log-file="$logs/vg.%p" "$@"
rc=$?

# The program of valgrind's "Command:" line, which joins argv with blanks
# and writes a blank, '\\', '<' or '>' inside an argument behind a '\\'
# (a clone in "/tmp/my dir"): up to the first blank not so escaped, unescaped.
program_of() {
    printf '%s\n' "$1" | sed -e 's/\\\\/\x02/g' -e 's/\\ /\x01/g' -e 's/ .*//' \
        -e 's/\\\([<>]\)/\1/g' -e 's/\x01/ /g' -e 's/\x02/\\/g'
}

# Whether a log's process is a shell (the harness): sh, dash, bash, or a
# script whose #! names one.
is_shell() {
    prog=$(program_of "$1")
    case "${prog##*/}" in
        sh|dash|bash) return 0 ;;
    esac
    [ -f "$prog" ] && head -n 1 "$prog" | grep -Eq '^#! *(/usr)?/bin/(env +)?(sh|dash|bash)( |$)'
}

checked=0
shells=0
bad=0
for log in "$logs"/vg.*; do
    [ -f "$log" ] || continue
    cmd=$(sed -n 's/^==[0-9]*== Command: //p' "$log" | head -n 1)
    if is_shell "$cmd"; then
        shells=$((shells + 1))
        continue
    fi
    checked=$((checked + 1))
    # Every memcheck log ends with its summary; a missing one means the
    # process died under valgrind before it could write it (a crash).
    if ! grep -q 'ERROR SUMMARY: 0 errors' "$log"; then
        bad=$((bad + 1))
        echo "valgrind-run.sh: problems in $cmd:"
        cat "$log"
    fi
done
echo "valgrind-run.sh: $checked processes checked ($shells shells not judged)," \
    "$bad with errors or definite leaks"
if [ "${TK_VG_KEEP:-0}" = 1 ]; then
    echo "valgrind-run.sh: logs kept in $logs"
else
    rm -rf "$logs"
fi
if [ "$checked" -eq 0 ] && [ "$shells" -eq 0 ]; then
    echo "valgrind-run.sh: valgrind wrote no log: it did not run" >&2
    exit 1
fi
[ "$bad" -eq 0 ] || exit 1
exit "$rc"
