#!/usr/bin/env bash
# The scale runs of docs/SCALE.md (not tests; `make scale`): standalone
# C-nodes (no BEAM) on this machine, peer_to_peer up to 1,024 nodes, and
# client_server and full_mesh at growing sizes until a size does not
# converge within its time bound. One markdown table on stdout.
#   test/scale/run_scale.sh [CNODE]
# Environment: SCALE_P2P (sizes, default "256 1024"), SCALE_OTHERS (default
# "64 128 256 512 1024"), SCALE_SECONDS (bound per run, default 600),
# SCALE_P2P_BEAMS (how many of the peer_to_peer nodes are real BEAM nodes
# running partisan, default 16) and SCALE_OTHERS_BEAMS (the same for
# client_server and full_mesh, default 0), passed to the escript as
# SCALE_BEAMS; BEAM nodes need `rebar3 compile` (they run CNODE too).
# SCALE_ANNOUNCE_MS and SCALE_LAZY_TICK_MS (the peer-to-peer runs' timers,
# default 300000 and 1000) go to the escript as they are.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CNODE=${1:-$HERE/../../build/partisan_cnode}
SECONDS_PER_RUN=${SCALE_SECONDS:-600}
# Each C-node holds about 20 descriptors and the runner two per node.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# The BEAM nodes' epmd, as the Makefile's.
export ERL_EPMD_PORT=${ERL_EPMD_PORT:-43690} ERL_EPMD_ADDRESS=${ERL_EPMD_ADDRESS:-127.0.0.1}
echo "| topology | nodes | start | all joined | converged | broadcast delivery | alive at end | RSS MiB min/avg/max | fds min/avg/max | C-node CPU s (sum) |"
echo "|---|---|---|---|---|---|---|---|---|---|"
# Announcements every 5 minutes and IHAVE batches every second in the
# peer-to-peer runs: every announcement reaches every node (N squared).
for n in ${SCALE_P2P:-256 1024}; do
    SCALE_ANNOUNCE_MS=${SCALE_ANNOUNCE_MS:-300000} SCALE_LAZY_TICK_MS=${SCALE_LAZY_TICK_MS:-1000} \
    SCALE_BEAMS=${SCALE_P2P_BEAMS:-16} escript "$HERE/scale_run.escript" "$CNODE" peer_to_peer "$n" "$SECONDS_PER_RUN" 2>/dev/null
done
for topology in client_server full_mesh; do
    for n in ${SCALE_OTHERS:-64 128 256 512 1024}; do
        line=$(SCALE_BEAMS=${SCALE_OTHERS_BEAMS:-0} escript "$HERE/scale_run.escript" "$CNODE" "$topology" "$n" "$SECONDS_PER_RUN" 2>/dev/null)
        echo "$line"
        # A size that did not converge: larger ones will not either.
        [[ $line == *"| yes ("* ]] || break
    done
done
