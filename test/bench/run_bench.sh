#!/usr/bin/env bash
# Runs the paper's experiments, partisan side by side with Distributed
# Erlang on an emulated link (see docs/BENCHMARKS.md).
#
#   test/bench/run_bench.sh smoke            # every experiment once, small, RTT 1 ms (about 15 s)
#   test/bench/run_bench.sh full [exp1 ...]  # everything, or the experiments named
#
# Needs `make` done (the C-node, the Erlang app, build/link_emulator).
# Uses its own epmd (ERL_EPMD_PORT) and a scratch HOME; the controller and
# every emulator are bounded by `timeout`, and everything it started is
# ended on exit, failure or interrupt. Exits non-zero when the harness
# fails (never because of a timing).
#
# Environment: BENCH_OUT (results dir; full: bench/results, smoke:
# build/bench/smoke), LINK_EMULATOR, BENCH_PARTISAN_EBIN, BENCH_LIMIT
# (seconds for the whole run; smoke 170, full 5400), BENCH_PLOT=0 (no PNGs),
# BENCH_LINK_RATE (bytes/s: experiments 2 and 3 run again with a link cap
# shared by all connections of a node, per direction; unset: no such cap).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PROFILE=${1:-smoke}
shift || true
case $PROFILE in
    smoke) LIMIT=${BENCH_LIMIT:-170} ;;
    full) LIMIT=${BENCH_LIMIT:-5400} ;;
    *) echo "usage: $0 smoke|full [exp1 exp2 exp3 exp4]" >&2; exit 2 ;;
esac
EMU=${LINK_EMULATOR:-$ROOT/build/link_emulator}
PEBIN=${BENCH_PARTISAN_EBIN:-$ROOT/_build/default/lib/partisan/ebin}
for need in "$EMU" "$PEBIN/partisan.app" "$PEBIN/../priv/partisan_cnode"; do
    if [[ ! -e $need ]]; then
        echo "run_bench.sh: $need is missing (run make first)" >&2
        exit 2
    fi
done

WORK=$(mktemp -d)
PIDFILE=$WORK/pids
: >"$PIDFILE"
EPMD_PID=
CTL_PID=
cleanup() {
    local rc=$? what pid
    [[ -n $CTL_PID ]] && kill "$CTL_PID" 2>/dev/null || true
    [[ -n $CTL_PID ]] && wait "$CTL_PID" 2>/dev/null || true
    # Emulators and peers the controller recorded, if still there (checked by
    # name, so that a recycled pid is left alone).
    while read -r what pid; do
        [[ -d /proc/$pid ]] || continue
        case $what:$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) in
            emulator:*link_emulator*|peer:*beam*) kill "$pid" 2>/dev/null || true ;;
        esac
    done <"$PIDFILE"
    [[ -n $EPMD_PID ]] && kill "$EPMD_PID" 2>/dev/null || true
    [[ -n $EPMD_PID ]] && wait "$EPMD_PID" 2>/dev/null || true
    rm -rf "$WORK"
    [[ $rc -ne 0 ]] && echo "bench ($PROFILE): FAILED (exit $rc)" >&2
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export HOME=$WORK
mkdir -p "$WORK/ebin"
erlc -o "$WORK/ebin" "$HERE/bench_paper.erl" "$HERE/bench_cluster.erl" "$HERE/bench_load.erl" \
    "$HERE/dist_relay/bench_epmd.erl"

# A private epmd on a free port.
EPMD_PORT=$(timeout 20 erl -noshell -eval '
    {ok, L} = gen_tcp:listen(0, [{ip, {127,0,0,1}}]), {ok, P} = inet:port(L),
    io:format("~b~n", [P]), halt().')
export ERL_EPMD_PORT=$EPMD_PORT
export ERL_EPMD_ADDRESS=127.0.0.1
timeout "$((LIMIT + 30))" epmd -port "$EPMD_PORT" -address 127.0.0.1 >/dev/null 2>&1 &
EPMD_PID=$!
for _ in $(seq 50); do
    epmd -port "$EPMD_PORT" -names >/dev/null 2>&1 && break
    sleep 0.1
done

export BENCH_PIDFILE=$PIDFILE LINK_EMULATOR=$EMU BENCH_PARTISAN_EBIN=$PEBIN
export BENCH_TIME_LIMIT=$((LIMIT + 20))
ARGS=$(printf ', "%s"' "$ROOT" "$PROFILE" "$@")
set +e
timeout "$LIMIT" erl -noshell +S 1 +sbwt none -pa "$WORK/ebin" \
    -eval "bench_paper:main([${ARGS:2}])" &
CTL_PID=$!
wait "$CTL_PID"
rc=$?
CTL_PID=
set -e
if [[ $rc -eq 124 ]]; then
    echo "bench ($PROFILE): did not finish within $LIMIT s" >&2
fi
if [[ $rc -eq 0 && ${BENCH_PLOT:-1} != 0 && $PROFILE == full ]]; then
    OUT=${BENCH_OUT:-$ROOT/bench/results}
    if command -v gnuplot >/dev/null; then
        gnuplot -e "dir='$OUT'" "$HERE/plot.gp" || { echo "bench: plotting failed" >&2; rc=1; }
    else
        echo "bench: gnuplot not installed, no PNG plots (apt-get install gnuplot-nox)"
    fi
fi
exit "$rc"
