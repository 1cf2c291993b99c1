#!/usr/bin/env bash
# Distributed Erlang through link_emulator, checked end to end:
#   node B: distribution on a fixed port P, runs an echo process;
#   link_emulator: a free port -> 127.0.0.1:P with --delay-ms DELAY_MS (10);
#   node C: like B, on no fixed port, not redirected;
#   node A: -epmd_module bench_epmd with BENCH_EPMD_PORTS="B=EMU_PORT";
#           connects to B (through the emulator: its ping-pong RTT must be
#           >= 2 x DELAY_MS) and to C (directly: bench_epmd falls back to
#           erl_epmd, RTT well under that).
# Uses its own epmd (ERL_EPMD_PORT) and a scratch HOME; every process it
# starts is bounded by `timeout` and ended on exit. Exits non-zero on failure.
#
#   test/bench/dist_relay/check.sh     (after: cmake --build build --target link_emulator)
# Environment: LINK_EMULATOR (default build/link_emulator), DELAY_MS (10).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
EMU=${LINK_EMULATOR:-$ROOT/build/link_emulator}
DELAY_MS=${DELAY_MS:-10}
LIMIT=60  # seconds, for each process

if [[ ! -x $EMU ]]; then
    echo "check.sh: $EMU is not built (cmake --build build --target link_emulator)" >&2
    exit 2
fi

WORK=$(mktemp -d)
PIDS=()
EPMD_PORT=
cleanup() {
    local rc=$? pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    # Our own epmd, on our own port: also ends one a node started itself.
    [[ -n $EPMD_PORT ]] && epmd -port "$EPMD_PORT" -kill >/dev/null 2>&1 || true
    if [[ $rc -ne 0 ]]; then
        local log
        for log in "$WORK"/*.log; do
            [[ -s $log ]] && { echo "--- $(basename "$log")"; cat "$log"; }
        done
        echo "dist_relay check: FAIL (exit $rc)" >&2
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export HOME=$WORK
mkdir -p "$WORK/ebin"
erlc -o "$WORK/ebin" "$HERE/bench_epmd.erl" "$HERE/bench_ping.erl"

# Two free ports: epmd and B's distribution.
read -r EPMD_PORT DIST_PORT < <(timeout 20 erl -noshell -eval '
    Ls = [element(2, gen_tcp:listen(0, [{ip, {127,0,0,1}}])) || _ <- [1, 2]],
    io:format("~s~n", [lists:join(" ", [integer_to_list(element(2, inet:port(L))) || L <- Ls])]),
    halt().')
export ERL_EPMD_PORT=$EPMD_PORT
export ERL_EPMD_ADDRESS=127.0.0.1

timeout "$LIMIT" epmd -port "$EPMD_PORT" -address 127.0.0.1 >"$WORK/epmd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do
    epmd -port "$EPMD_PORT" -names >/dev/null 2>&1 && break
    sleep 0.1
done

TAG=$$
COOKIE=dist_relay_$TAG
NODE_ARGS=(-noshell -setcookie "$COOKIE" -pa "$WORK/ebin"
           -kernel inet_dist_use_interface '{127,0,0,1}')

timeout "$LIMIT" erl "${NODE_ARGS[@]}" -sname "relay_b_$TAG" \
    -kernel inet_dist_listen_min "$DIST_PORT" -kernel inet_dist_listen_max "$DIST_PORT" \
    -eval 'bench_ping:serve()' >"$WORK/node_b.log" 2>&1 &
PIDS+=($!)
timeout "$LIMIT" erl "${NODE_ARGS[@]}" -sname "relay_c_$TAG" -eval 'bench_ping:serve()' \
    >"$WORK/node_c.log" 2>&1 &
PIDS+=($!)

timeout "$LIMIT" "$EMU" --route "0=127.0.0.1:$DIST_PORT" --delay-ms "$DELAY_MS" --print-ports \
    >"$WORK/emu.out" 2>"$WORK/link_emulator.log" &
PIDS+=($!)
EMU_PORT=
for _ in $(seq 50); do
    if [[ -s $WORK/emu.out ]]; then EMU_PORT=$(head -1 "$WORK/emu.out" | cut -d= -f1); break; fi
    sleep 0.1
done
if [[ -z $EMU_PORT ]]; then echo "check.sh: link_emulator printed no port" >&2; exit 1; fi
echo "epmd $EPMD_PORT, node B dist port $DIST_PORT, link_emulator $EMU_PORT -> $DIST_PORT, delay $DELAY_MS ms each way"

# Node A runs the checks and halts with their verdict.
BENCH_EPMD_PORTS="relay_b_$TAG=$EMU_PORT" timeout "$LIMIT" erl "${NODE_ARGS[@]}" \
    -sname "relay_a_$TAG" -epmd_module bench_epmd \
    -eval "bench_ping:check([\"relay_b_$TAG\", \"$EMU_PORT\", \"$DELAY_MS\", \"relay_c_$TAG\"])"
