// The shape of an overlay as its nodes see it: connectivity of the
// active-view graph, view sizes, in-degrees. Computed from a snapshot of
// every node's own views, not from what the simulator believes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace partisan::sim {

// Every node's views at one moment, by node index. Nodes that never joined
// or were killed are not alive and have empty views.
struct ViewSnapshot {
    std::vector<char> alive;
    std::vector<std::vector<uint32_t>> active, passive;
    size_t live() const;
};

// Values over the live nodes: counts[v] nodes have value v.
struct Distribution {
    std::vector<size_t> counts;
    size_t samples = 0, min = 0, max = 0;
    double mean = 0;
    void add(size_t value);
    void finish();  // min, max, mean
    // The smallest value v with at least fraction p of the samples <= v.
    size_t percentile(double p) const;
    size_t count(size_t value) const { return value < counts.size() ? counts[value] : 0; }
};

struct OverlayStats {
    size_t live = 0;
    // Of the undirected graph of live nodes and active-view entries between
    // live nodes.
    size_t components = 0, largest_component = 0;
    size_t isolated = 0;    // live nodes with an empty active view
    size_t asymmetric = 0;  // entries A->B (both live) where B's active view lacks A
    size_t dead_in_active = 0, dead_in_passive = 0;  // entries naming nodes not alive
    Distribution active_size, passive_size;
    Distribution in_degree;  // per live node: how many live nodes' active views hold it
};

OverlayStats overlay_stats(const ViewSnapshot& views);

}  // namespace partisan::sim
