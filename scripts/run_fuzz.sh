#!/usr/bin/env bash
# Runs every libFuzzer target in build-fuzz/ for SECONDS each (default 60),
# starting from its seed corpus (test/fuzz/corpus/<target>/) plus the
# working corpus kept in build-fuzz/corpus/<target>/ from earlier runs.
# Prints one line per target: executions, coverage, new corpus size, and
# any finding (crash, leak, timeout, UB), whose input is saved in
# build-fuzz/artifacts/<target>/. Exits non-zero when a target found one.
#   scripts/run_fuzz.sh [SECONDS] [TARGET...]
# FUZZ_RUNS=N stops each target after N executions, if that comes first.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
build=${FUZZ_BUILD:-build-fuzz}
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    for t in "$build"/fuzz_*; do [[ -x $t ]] && targets+=("$(basename "$t")"); done
fi
[[ ${#targets[@]} -gt 0 ]] || { echo "no fuzz targets in $build (run make fuzz-build)" >&2; exit 1; }

status=0
printf '%-28s %12s %8s %8s %s\n' target execs cov corpus result
for t in "${targets[@]}"; do
    seeds=test/fuzz/corpus/$t
    work=$build/corpus/$t
    art=$build/artifacts/$t
    mkdir -p "$work" "$art" "$seeds"
    log=$build/logs/$t.log
    mkdir -p "$(dirname "$log")"
    # -timeout: a single input running 10 s is a finding (a hang);
    # -rss_limit_mb: memory a single input may use.
    "$build/$t" -max_total_time="$seconds" ${FUZZ_RUNS:+-runs=$FUZZ_RUNS} -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$art/" "$work" "$seeds" > "$log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -o '[0-9]*')
    corpus=$(find "$work" -type f | wc -l)
    if [[ $rc -eq 0 ]]; then
        result=ok
    else
        result="FINDING (exit $rc; see $log)"
        status=1
    fi
    printf '%-28s %12s %8s %8s %s\n' "$t" "${execs:-?}" "${cov:-?}" "$corpus" "$result"
    [[ $rc -eq 0 ]] || grep -E "ERROR|SUMMARY|runtime error|Test unit written" "$log" | head -10
done
exit $status
