// The experiments of docs/SIMULATION.md over the simulator: build an
// overlay by joins through random contacts, measure it and broadcast over
// it (Plumtree next to flooding on the same graph), then kill a fraction of
// the nodes at once, broadcast right after, let the overlay heal and
// broadcast again. Each failure fraction runs on an overlay of its own,
// rebuilt from the same seed (so the same one).
#pragma once

#include "flood.hpp"
#include "overlay_sim.hpp"
#include "overlay_stats.hpp"

#include <vector>

namespace partisan::sim {

struct ExperimentConfig {
    SimConfig sim;
    Millis settle{30000};  // after the last join, before measuring
    Millis broadcast_interval{500};
    size_t stable_broadcasts = 15;
    // Of those, the first ones build Plumtree's tree: the steady-state
    // figures leave them out.
    size_t warmup_broadcasts = 5;
    std::vector<double> failures{0.5, 0.8};
    size_t failure_broadcasts = 10;  // from the moment of the failure on
    Millis heal{60000};              // after the failure, before broadcasting again
    size_t healed_broadcasts = 10;
};

struct StableResult {
    OverlayStats overlay;  // when the joins have settled
    std::vector<BroadcastRecord> broadcasts;
    std::vector<FloodResult> flood;  // from the same origins, over the overlay as measured
};

struct FailureResult {
    double fraction = 0;
    size_t killed = 0, survivors = 0;
    std::vector<BroadcastRecord> after_failure;
    // Flooding from the same origins over the views as they were at the
    // failure, the dead taken out and nothing repaired.
    std::vector<FloodResult> flood_unrepaired;
    OverlayStats after_broadcasts;  // once the first broadcasts' window is over
    OverlayStats healed;            // `heal` after the failure
    std::vector<BroadcastRecord> after_heal;
    std::vector<FloodResult> flood_healed;  // over the healed overlay
};

struct ExperimentResult {
    ExperimentConfig config;
    StableResult stable;
    std::vector<FailureResult> failures;
    Traffic traffic;    // of the first run, to the end of its failure
    Breaches breaches;  // over all runs
    uint64_t events = 0;
    double wall_seconds = 0;
};

ExperimentResult run_experiment(const ExperimentConfig& config);

// Builds the overlay: every node joins, then it settles. Shared by the
// experiments and the tests.
void build_overlay(Simulation& sim, Millis settle);

}  // namespace partisan::sim
