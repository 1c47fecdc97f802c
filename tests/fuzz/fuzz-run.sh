#!/bin/sh
# A bounded libFuzzer run, as the 'fuzz' test suite does it (meson.build).
#
# usage: fuzz-run.sh HARNESS SEED_DIR WORK_DIR [libFuzzer options...]
# environment:
#   TK_FUZZ_SECONDS  how long to fuzz (default 20)
#   TK_FUZZ_RUNS     at most this many inputs (default 5000000)
# New inputs go to WORK_DIR/corpus (never into the seed corpus in the
# source tree), crashes to WORK_DIR/artifacts/. Exit status 0 when no
# input crashed, leaked or failed a property; 1 otherwise, or when the run
# did not happen (never 77, which meson would count as a skip).
set -u

[ $# -ge 3 ] || { echo "usage: fuzz-run.sh HARNESS SEED_DIR WORK_DIR [options]" >&2; exit 1; }
harness=$1 seeds=$2 work=$3
shift 3
seconds=${TK_FUZZ_SECONDS:-20}
runs=${TK_FUZZ_RUNS:-5000000}

[ -d "$seeds" ] || { echo "fuzz-run.sh: no seed corpus at $seeds" >&2; exit 1; }
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts" || exit 1

# libFuzzer's own exit codes (77 for a crash) would read as "skipped" to meson.
"$harness" -max_total_time="$seconds" -runs="$runs" -timeout=10 -rss_limit_mb=2048 \
    -error_exitcode=1 -timeout_exitcode=1 -max_len=4096 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    "$@" "$work/corpus" "$seeds" > "$work/log" 2>&1
rc=$?
# The log's tail says how far it got; all of it when something broke.
if [ "$rc" -ne 0 ]; then
    cat "$work/log"
    for a in "$work"/artifacts/*; do
        [ -f "$a" ] || continue
        echo "fuzz-run.sh: failing input kept: $a"
        echo "fuzz-run.sh: reproduce with: $harness $a"
        # Also in a form to paste into a message or a regression seed.
        od -c "$a" | head -20
    done
    exit 1
fi
tail -n 20 "$work/log"
# A run that executed nothing proves nothing.
units=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
seed_count=$(find "$seeds" -type f | wc -l)
if [ -z "$units" ] || [ "$units" -lt "$seed_count" ]; then
    echo "fuzz-run.sh: only '${units:-no}' inputs ran (the seed corpus alone has $seed_count)" >&2
    exit 1
fi
echo "fuzz-run.sh: $(basename "$harness"): $units inputs in ${seconds}s bound, no failure"
