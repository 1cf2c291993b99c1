#!/usr/bin/env bash
# Runs every test suite: Catch2 unit tests (normal and ASan/UBSan builds), the
# link emulator's tests, the common_test suites with real BEAM nodes and
# C-nodes (with the normal and the sanitized C-node), a smoke run of the
# benchmark harness, and every fuzz target for a few seconds. Ends with one line
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

# Counts a common_test run: rebar3 prints "All N tests passed." or
# "Failed N tests. Passed M tests."
count_ct() {
    local log=$1 line
    if line=$(grep -E "All [0-9]+ tests passed" "$log" | tail -1) && [[ $line =~ All\ ([0-9]+)\ tests ]]; then
        passed=$((passed + BASH_REMATCH[1]))
    elif line=$(grep -E "Failed [0-9]+ tests?\. Passed [0-9]+ tests?" "$log" | tail -1) &&
        [[ $line =~ Failed\ ([0-9]+)\ tests?\.\ Passed\ ([0-9]+) ]]; then
        failed=$((failed + BASH_REMATCH[1]))
        passed=$((passed + BASH_REMATCH[2]))
    else
        echo "could not read the common_test result of $log" >&2
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

echo "== broker tests (C++, normal and ASan/UBSan builds, a private RabbitMQ broker)"
brokerdir=$(mktemp -d)
if test/amqp/broker.sh start "$brokerdir" > "$logdir/broker.log" 2>&1; then
    port=$(sed -n 's/^PORT=//p' "$brokerdir/broker.env")
    for build in build build-asan; do
        PARTISAN_TEST_AMQP_PORT=$port PARTISAN_TEST_AMQP_DIR=$brokerdir $build/unit_tests "[.broker]" |
            tee "$logdir/broker_$build.log" || status=1
        count_catch2 "$logdir/broker_$build.log"
    done
else
    cat "$logdir/broker.log"
    echo "the test broker did not start" >&2
    failed=$((failed + 1))
    status=1
fi
test/amqp/broker.sh stop "$brokerdir" >> "$logdir/broker.log" 2>&1

echo "== common_test suites (real BEAM nodes and C-nodes)"
export HOME="$logdir/home"
mkdir -p "$HOME"
rebar3 ct --dir test/ct 2>&1 | tee "$logdir/ct.log"
[[ ${PIPESTATUS[0]} -eq 0 ]] || status=1
count_ct "$logdir/ct.log"

echo "== benchmark harness smoke run (checks the harness works; no timing is judged)"
if make --no-print-directory bench-smoke > "$logdir/bench-smoke.log" 2>&1; then
    tail -3 "$logdir/bench-smoke.log"
    passed=$((passed + 1))
else
    tail -40 "$logdir/bench-smoke.log"
    failed=$((failed + 1))
    status=1
fi

echo "== fuzz targets, a few seconds each (libFuzzer, ASan + UBSan; make fuzz runs them longer)"
if make --no-print-directory fuzz-build > "$logdir/fuzz-build.log" 2>&1; then
    scripts/run_fuzz.sh 5 | tee "$logdir/fuzz.log"
    passed=$((passed + $(grep -c ' ok$' "$logdir/fuzz.log")))
    failed=$((failed + $(grep -c 'FINDING' "$logdir/fuzz.log")))
else
    tail -40 "$logdir/fuzz-build.log"
    failed=$((failed + 1))
    status=1
fi

echo "== common_test suites again, with the C-node built with ASan + UBSan"
# The same suites drive the sanitized C-node through real traffic; any
# sanitizer report (a log file) fails the run.
cmake --build build-asan -j 2 --target partisan_cnode > "$logdir/asan-cnode.log" 2>&1 || status=1
sanlogs="$logdir/sanitizers"
mkdir -p "$sanlogs"
PARTISAN_CNODE=$PWD/build-asan/partisan_cnode \
    ASAN_OPTIONS="log_path=$sanlogs/asan:detect_leaks=1" \
    UBSAN_OPTIONS="print_stacktrace=1:log_path=$sanlogs/ubsan" \
    rebar3 ct --dir test/ct 2>&1 | tee "$logdir/ct-asan.log"
[[ ${PIPESTATUS[0]} -eq 0 ]] || status=1
count_ct "$logdir/ct-asan.log"
if compgen -G "$sanlogs/*" > /dev/null; then
    echo "sanitizer reports:" >&2
    cat "$sanlogs"/* >&2
    failed=$((failed + 1))
fi

[[ $failed -eq 0 ]] || status=1

echo "$passed passed, $failed failed"
exit $status
