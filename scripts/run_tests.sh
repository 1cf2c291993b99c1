#!/usr/bin/env bash
# Runs every test suite: Catch2 unit tests (normal and ASan/UBSan builds) and
# the common_test suites with real BEAM nodes and C-nodes. Ends with one line
# "N passed, N failed" (test cases over all suites); exits non-zero on failure.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
status=0

# Counts a Catch2 run from its summary line.
count_catch2() {
    local log=$1 line
    line=$(grep -E "^(All tests passed|test cases:)" "$log" | tail -1)
    if [[ $line =~ All\ tests\ passed.*in\ ([0-9]+)\ test\ case ]]; then
        passed=$((passed + BASH_REMATCH[1]))
    elif [[ $line =~ test\ cases:\ +([0-9]+)\ \|\ +([0-9]+)\ passed\ \|\ +([0-9]+)\ failed ]]; then
        passed=$((passed + BASH_REMATCH[2]))
        failed=$((failed + BASH_REMATCH[3]))
    else
        echo "could not read the result of $log" >&2
        failed=$((failed + 1))
    fi
}

logdir=$(mktemp -d)

echo "== unit tests (C++)"
build/unit_tests | tee "$logdir/unit.log" || status=1
count_catch2 "$logdir/unit.log"

echo "== link emulator tests (benchmark network emulation)"
build/link_emulator_tests | tee "$logdir/emulator.log" || status=1
count_catch2 "$logdir/emulator.log"

echo "== unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
if make --no-print-directory asan > "$logdir/asan.log" 2>&1; then
    tail -3 "$logdir/asan.log"
else
    tail -40 "$logdir/asan.log"
    status=1
fi
count_catch2 "$logdir/asan.log"

echo "== common_test suites (real BEAM nodes and C-nodes)"
export HOME="$logdir/home"
mkdir -p "$HOME"
rebar3 ct --dir test/ct 2>&1 | tee "$logdir/ct.log"
[[ ${PIPESTATUS[0]} -eq 0 ]] || status=1
# rebar3 prints "All N tests passed." or "Failed N tests. Passed M tests."
if line=$(grep -E "All [0-9]+ tests passed" "$logdir/ct.log" | tail -1) && [[ $line =~ All\ ([0-9]+)\ tests ]]; then
    passed=$((passed + BASH_REMATCH[1]))
elif line=$(grep -E "Failed [0-9]+ tests?\. Passed [0-9]+ tests?" "$logdir/ct.log" | tail -1) &&
    [[ $line =~ Failed\ ([0-9]+)\ tests?\.\ Passed\ ([0-9]+) ]]; then
    failed=$((failed + BASH_REMATCH[1]))
    passed=$((passed + BASH_REMATCH[2]))
else
    echo "could not read the common_test result" >&2
    failed=$((failed + 1))
fi
[[ $failed -eq 0 ]] || status=1

echo "$passed passed, $failed failed"
exit $status
