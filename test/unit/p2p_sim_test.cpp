// The real HyParView and Plumtree state machines, a thousand of them, in
// the overlay simulator (test/sim): the overlay they build and what a
// broadcast over it does, before and after half the nodes fail.
#include "experiment.hpp"
#include "overlay_sim.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace partisan::sim;

namespace {

// The defaults, half the nodes failing.
ExperimentConfig config(size_t nodes, uint64_t seed) {
    ExperimentConfig c;
    c.sim.nodes = nodes;
    c.sim.seed = seed;
    c.failures = {0.5};
    return c;
}

// One run shared by the test cases that only read it.
const ExperimentResult& thousand_nodes() {
    static const ExperimentResult result = run_experiment(config(1000, 7));
    return result;
}

bool same_overlay(const OverlayStats& a, const OverlayStats& b) {
    return a.live == b.live && a.components == b.components && a.largest_component == b.largest_component &&
           a.isolated == b.isolated && a.asymmetric == b.asymmetric && a.dead_in_active == b.dead_in_active &&
           a.dead_in_passive == b.dead_in_passive && a.active_size.counts == b.active_size.counts &&
           a.passive_size.counts == b.passive_size.counts && a.in_degree.counts == b.in_degree.counts;
}

bool same_records(const std::vector<BroadcastRecord>& a, const std::vector<BroadcastRecord>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
        return x.origin == y.origin && x.sent_at == y.sent_at && x.live == y.live && x.delivered == y.delivered &&
               x.reached == y.reached && x.gossip == y.gossip && x.last_hop == y.last_hop &&
               x.last_delivery == y.last_delivery;
    });
}

}  // namespace

TEST_CASE("p2p sim: 1,000 nodes joining through random contacts make one overlay of full active views",
          "[p2p_sim]") {
    const auto& r = thousand_nodes();
    const auto& o = r.stable.overlay;
    const auto& params = r.config.sim.hyparview;
    CHECK(r.breaches.total() == 0);
    CHECK(o.live == 1000);
    CHECK(o.components == 1);
    CHECK(o.isolated == 0);
    CHECK(o.active_size.max <= params.active_size);
    CHECK(o.passive_size.max <= params.passive_size);
    // Almost every active view full (98% 30 s after the joins; the rest fill
    // up slowly, by promotions), and symmetric (bar a message in flight).
    CHECK(o.active_size.count(params.active_size) >= 900);
    CHECK(o.active_size.mean >= params.active_size - 0.25);
    CHECK(o.asymmetric <= 2);
    CHECK(o.in_degree.max <= params.active_size + 1);
}

TEST_CASE("p2p sim: in a stable overlay every broadcast reaches every node, Plumtree far below flooding's "
          "redundancy",
          "[p2p_sim]") {
    const auto& r = thousand_nodes();
    const auto& b = r.stable.broadcasts;
    REQUIRE(b.size() == r.config.stable_broadcasts);
    for (const auto& record : b) CHECK(record.reliability() == 1.0);

    // Means over the broadcasts once the tree is built, and flooding from the
    // same origins over the same graph.
    size_t warmup = r.config.warmup_broadcasts;
    double plumtree_rmr = 0, plumtree_ldh = 0, flood_rmr = 0, flood_ldh = 0;
    for (size_t i = warmup; i < b.size(); ++i) {
        plumtree_rmr += b[i].rmr() / static_cast<double>(b.size() - warmup);
        plumtree_ldh += b[i].last_hop / static_cast<double>(b.size() - warmup);
    }
    for (const auto& f : r.stable.flood) {
        CHECK(f.reliability() == 1.0);
        flood_rmr += f.rmr() / static_cast<double>(r.stable.flood.size());
        flood_ldh += f.last_hop / static_cast<double>(r.stable.flood.size());
    }
    INFO("Plumtree RMR " << plumtree_rmr << ", flooding " << flood_rmr << "; LDH " << plumtree_ldh << " vs "
                         << flood_ldh);
    // The first broadcast goes over every link, as flooding does; then the
    // tree is pruned to about one payload per node.
    CHECK(b.front().rmr() > 3.0);
    CHECK(flood_rmr > 3.0);
    CHECK(plumtree_rmr < 0.1 * flood_rmr);
    // The tree is the first broadcast's fastest paths, and it serves every
    // origin: from elsewhere a broadcast climbs towards that root and down
    // again, so it takes at most twice as many hops.
    for (size_t i = warmup; i < b.size(); ++i) CHECK(b[i].last_hop <= 2 * b.front().last_hop);
    CHECK(plumtree_ldh <= 2 * flood_ldh);
}

TEST_CASE("p2p sim: after half the nodes fail at once, the overlay heals and broadcasts reach every survivor",
          "[p2p_sim]") {
    const auto& r = thousand_nodes();
    REQUIRE(r.failures.size() == 1);
    const auto& f = r.failures.front();
    CHECK(f.killed == 500);
    CHECK(f.survivors == 500);
    CHECK(f.healed.components == 1);
    CHECK(f.healed.isolated == 0);
    CHECK(f.healed.asymmetric <= 2);
    CHECK(f.healed.dead_in_active == 0);
    REQUIRE(f.after_heal.size() == r.config.healed_broadcasts);
    for (const auto& record : f.after_heal) CHECK(record.reliability() == 1.0);
    // Most of the survivors get even the broadcasts sent right after.
    for (const auto& record : f.after_failure) CHECK(record.reliability() > 0.9);
}

TEST_CASE("p2p sim: the same seed gives the same run", "[p2p_sim]") {
    // Smaller than the shared run: it runs twice (and in the sanitizer build).
    ExperimentConfig c = config(300, 11);
    ExperimentResult a = run_experiment(c);
    ExperimentResult b = run_experiment(c);
    CHECK(a.events == b.events);
    CHECK(a.traffic.hyparview == b.traffic.hyparview);
    CHECK(a.traffic.plumtree == b.traffic.plumtree);
    CHECK(same_overlay(a.stable.overlay, b.stable.overlay));
    CHECK(same_records(a.stable.broadcasts, b.stable.broadcasts));
    REQUIRE(b.failures.size() == 1);
    CHECK(same_overlay(a.failures[0].healed, b.failures[0].healed));
    CHECK(same_records(a.failures[0].after_failure, b.failures[0].after_failure));
    CHECK(same_records(a.failures[0].after_heal, b.failures[0].after_heal));
}

TEST_CASE("p2p sim: 100 nodes with every message through the real frame codecs", "[p2p_sim]") {
    ExperimentConfig c = config(100, 3);
    c.sim.wire_round_trip = true;
    ExperimentResult r = run_experiment(c);
    // Every frame parsed back to the same bytes, and the machines reported
    // every change of their links and active views.
    CHECK(r.breaches.total() == 0);
    CHECK(r.traffic.wire_bytes > 0);
    CHECK(r.stable.overlay.components == 1);
    for (const auto& record : r.stable.broadcasts) CHECK(record.reliability() == 1.0);
    for (const auto& record : r.failures.front().after_heal) CHECK(record.reliability() == 1.0);
}
