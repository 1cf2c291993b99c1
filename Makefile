# partisan: the C-node (CMake) and the Erlang application (rebar3).
#   make          build everything
#   make test     unit tests + common_test suites; ends with "N passed, N failed"
#   make demo     a 3-node cluster on this machine: join, members, a round trip
#   make shell    an Erlang shell with partisan started
#   make asan     unit tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz     every libFuzzer target for FUZZ_SECONDS each (default 60)
#   make schema   regenerate erlang/src/partisan_config_schema.erl from the C-node's option table
#   make sim      the HyParView + Plumtree simulator at 10,000 nodes (docs/SIMULATION.md)

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
JOBS       ?= 2
# Each run gets its own epmd so runs (and RabbitMQ) do not share one.
export ERL_EPMD_PORT    ?= 43690
export ERL_EPMD_ADDRESS ?= 127.0.0.1

CNODE = erlang/priv/partisan_cnode

.PHONY: all deps cnode erlang test unit ct asan fuzz fuzz-build fuzz-smoke demo shell bench-quick clean schema check-schema sim

all: deps cnode erlang

# Installs the Debian packages when any is missing (needs root then).
deps:
	@scripts/install_deps.sh --if-missing

$(BUILD)/Makefile: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

cnode: $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)
	install -m 755 $(BUILD)/partisan_cnode $(CNODE)

erlang:
	rebar3 compile

# The shim's copy of the C-node's option table (c_src/core/config_schema.cpp),
# committed; partisan_config_SUITE fails when it is stale.
SCHEMA = erlang/src/partisan_config_schema.erl
schema: cnode
	$(BUILD)/partisan_cnode --schema > $(SCHEMA)

check-schema: cnode
	@$(BUILD)/partisan_cnode --schema | cmp -s - $(SCHEMA) || \
	  { echo "$(SCHEMA) is stale: run make schema"; exit 1; }

unit: cnode check-schema
	$(BUILD)/unit_tests

ct: all
	HOME=$$(mktemp -d) rebar3 ct --dir test/ct

test: all
	@scripts/run_tests.sh

asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPARTISAN_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target unit_tests
	$(ASAN_BUILD)/unit_tests

# libFuzzer targets (clang, ASan+UBSan) for every parser a peer, an
# unauthenticated connection or the shim can reach (test/fuzz/).
fuzz-build: deps
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPARTISAN_FUZZ=ON
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

fuzz: fuzz-build
	@FUZZ_BUILD=$(FUZZ_BUILD) scripts/run_fuzz.sh $(FUZZ_SECONDS)

# A few seconds per target (part of `make test`).
fuzz-smoke: fuzz-build
	@FUZZ_BUILD=$(FUZZ_BUILD) scripts/run_fuzz.sh 5

demo: all
	@HOME=$$(mktemp -d) escript scripts/demo.escript $(CURDIR)

shell: all
	ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1} -kernel dist_auto_connect never" \
	  rebar3 shell --sname partisan_shell --setcookie partisan_shell --apps partisan

# The paper's experiments, partisan against Distributed Erlang on an
# emulated link (docs/BENCHMARKS.md; benchmarks, not tests). `bench` writes
# bench/results/ (about 10 minutes); `bench-smoke` runs each experiment
# once, small (under a minute), into $(BUILD)/bench/smoke/, and fails only
# when the harness does.
.PHONY: bench bench-smoke
bench: all
	@test/bench/run_bench.sh full
	@$(MAKE) --no-print-directory bench-pubsub

bench-smoke: all
	@test/bench/run_bench.sh smoke

# Throughput against Distributed Erlang on loopback (not a test).
# Standalone C-nodes at scale, by topology, with some real BEAM nodes among
# them (docs/SCALE.md; not a test, about 30 minutes).
.PHONY: scale
scale: cnode erlang
	@test/scale/run_scale.sh $(CURDIR)/$(BUILD)/partisan_cnode

# pubsub through a private RabbitMQ broker against full mesh and
# Distributed Erlang, with the broker's CPU (bench/results/pubsub.md).
.PHONY: bench-pubsub
bench-pubsub: all
	@mkdir -p $(BUILD)/bench && erlc -o $(BUILD)/bench test/bench/partisan_bench.erl test/bench/bench_pubsub.erl test/bench/bench_cluster.erl
	@HOME=$$(mktemp -d) erl -noshell -pa $(BUILD)/bench -eval 'bench_pubsub:main(["$(CURDIR)"]), halt().'

bench-quick: all
	@mkdir -p $(BUILD)/bench && erlc -o $(BUILD)/bench test/bench/partisan_bench.erl
	@HOME=$$(mktemp -d) erl -noshell -pa $(BUILD)/bench -eval 'partisan_bench:main(["$(CURDIR)"]), halt().'

# The overlay simulator (docs/SIMULATION.md): 10,000 simulated nodes, each
# the real HyParView and Plumtree state machines; seeds 1 and 2 side by side.
# Markdown on stdout and in $(BUILD)/sim/results.md. Not a test.
SIM_ARGS ?= --nodes 10000 --seed 1,2
sim: $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS) --target overlay_sim
	@mkdir -p $(BUILD)/sim
	$(BUILD)/overlay_sim $(SIM_ARGS) --jobs $(JOBS) > $(BUILD)/sim/results.md; \
	  status=$$?; cat $(BUILD)/sim/results.md; exit $$status

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) _build $(CNODE)
