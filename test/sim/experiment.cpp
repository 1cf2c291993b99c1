#include "experiment.hpp"

#include "sim_random.hpp"

#include <algorithm>
#include <chrono>

namespace partisan::sim {

namespace {

struct Broadcasts {
    std::vector<BroadcastRecord> records;
    std::vector<FloodResult> flood;
};

// `count` broadcasts from random live nodes, one every interval, each also
// flooded over `graph` from the same origin; then the delivery window.
Broadcasts broadcast_series(Simulation& sim, size_t count, Millis interval, const ViewSnapshot& graph) {
    const SimConfig& cfg = sim.config();
    std::vector<size_t> indices;
    Broadcasts out;
    for (size_t i = 0; i < count; ++i) {
        size_t index = sim.broadcast_from_random();
        indices.push_back(index);
        uint32_t origin = sim.records()[index].origin;
        out.flood.push_back(flood(graph, origin, cfg.network.min_latency, cfg.network.max_latency,
                                  derive_seed(cfg.seed, streams::flood(index))));
        sim.run_for(interval);
    }
    sim.run_for(cfg.delivery_window);
    for (size_t index : indices) out.records.push_back(sim.records()[index]);
    return out;
}

void add(Breaches& sum, const Breaches& b) {
    sum.send_on_link_not_up += b.send_on_link_not_up;
    sum.answer_without_message += b.answer_without_message;
    sum.unknown_peer += b.unknown_peer;
    sum.duplicate_delivery += b.duplicate_delivery;
    sum.unknown_delivery += b.unknown_delivery;
    sum.frame_round_trip += b.frame_round_trip;
    sum.links_change_unreported += b.links_change_unreported;
    sum.active_change_unreported += b.active_change_unreported;
    sum.active_without_link += b.active_without_link;
}

StableResult measure_stable(Simulation& sim, const ExperimentConfig& config) {
    StableResult r;
    ViewSnapshot graph = sim.views();
    r.overlay = overlay_stats(graph);
    auto b = broadcast_series(sim, config.stable_broadcasts, config.broadcast_interval, graph);
    r.broadcasts = std::move(b.records);
    r.flood = std::move(b.flood);
    return r;
}

FailureResult fail_and_heal(Simulation& sim, const ExperimentConfig& config, double fraction) {
    FailureResult r;
    r.fraction = fraction;
    ViewSnapshot unrepaired = sim.views();
    Millis failed_at = sim.now();
    r.killed = sim.kill_fraction(fraction);
    r.survivors = sim.live();
    unrepaired.alive = sim.views().alive;

    auto first = broadcast_series(sim, config.failure_broadcasts, config.broadcast_interval, unrepaired);
    r.after_failure = std::move(first.records);
    r.flood_unrepaired = std::move(first.flood);
    r.after_broadcasts = overlay_stats(sim.views());

    sim.run_until(std::max(sim.now(), failed_at + config.heal));
    ViewSnapshot healed = sim.views();
    r.healed = overlay_stats(healed);
    auto again = broadcast_series(sim, config.healed_broadcasts, config.broadcast_interval, healed);
    r.after_heal = std::move(again.records);
    r.flood_healed = std::move(again.flood);
    return r;
}

}  // namespace

void build_overlay(Simulation& sim, Millis settle) {
    Millis last_join = sim.start_joins();
    sim.run_until(last_join + settle);
}

ExperimentResult run_experiment(const ExperimentConfig& config) {
    auto started = std::chrono::steady_clock::now();
    ExperimentResult result;
    result.config = config;

    auto run = [&](bool measure, const double* fraction) {
        Simulation sim(config.sim);
        build_overlay(sim, config.settle);
        StableResult stable = measure_stable(sim, config);
        if (measure) result.stable = std::move(stable);
        if (fraction) result.failures.push_back(fail_and_heal(sim, config, *fraction));
        if (measure) result.traffic = sim.traffic();
        add(result.breaches, sim.breaches());
        result.events += sim.events();
    };

    // The stable overlay is measured on the first run; every failure fraction
    // gets a run of its own, identical up to the failure.
    if (config.failures.empty()) run(true, nullptr);
    for (size_t i = 0; i < config.failures.size(); ++i) run(i == 0, &config.failures[i]);

    result.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return result;
}

}  // namespace partisan::sim
