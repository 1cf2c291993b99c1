// Flooding gossip over a fixed overlay, the baseline Plumtree is measured
// against: every node that receives the message for the first time
// forwards it to all its active neighbours but the one it came from. Run
// over a snapshot of the nodes' active views with the simulator's latency
// model (uniform per message), so its redundancy and last delivery hop
// compare with Plumtree's on the same graph.
#pragma once

#include "event_queue.hpp"
#include "overlay_stats.hpp"

#include <cstdint>

namespace partisan::sim {

struct FloodResult {
    size_t live = 0;     // live nodes in the snapshot
    size_t reached = 0;  // live nodes that got the message, the source included
    uint64_t messages = 0;  // payload messages sent, to live and dead nodes
    uint16_t last_hop = 0;  // hops from the source of the last first receipt
    double reliability() const { return live ? static_cast<double>(reached) / static_cast<double>(live) : 0; }
    // Relative message redundancy: messages / (reached - 1) - 1.
    double rmr() const {
        return reached > 1 ? static_cast<double>(messages) / static_cast<double>(reached - 1) - 1 : 0;
    }
};

FloodResult flood(const ViewSnapshot& views, uint32_t source, Millis min_latency, Millis max_latency,
                  uint64_t seed);

}  // namespace partisan::sim
