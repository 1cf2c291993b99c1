#include "overlay_stats.hpp"

#include <algorithm>
#include <numeric>

namespace partisan::sim {

size_t ViewSnapshot::live() const { return static_cast<size_t>(std::count(alive.begin(), alive.end(), 1)); }

void Distribution::add(size_t value) {
    if (counts.size() <= value) counts.resize(value + 1, 0);
    ++counts[value];
    ++samples;
}

void Distribution::finish() {
    if (samples == 0) return;
    double sum = 0;
    bool first = true;
    for (size_t v = 0; v < counts.size(); ++v) {
        if (counts[v] == 0) continue;
        if (first) min = v;
        first = false;
        max = v;
        sum += static_cast<double>(v) * static_cast<double>(counts[v]);
    }
    mean = sum / static_cast<double>(samples);
}

size_t Distribution::percentile(double p) const {
    size_t seen = 0;
    for (size_t v = 0; v < counts.size(); ++v) {
        seen += counts[v];
        if (static_cast<double>(seen) >= p * static_cast<double>(samples)) return v;
    }
    return max;
}

namespace {

// Union-find over node indices, for the components.
class DisjointSets {
public:
    explicit DisjointSets(size_t n) : parent_(n), size_(n, 1) { std::iota(parent_.begin(), parent_.end(), 0u); }
    uint32_t find(uint32_t x) {
        while (parent_[x] != x) {
            parent_[x] = parent_[parent_[x]];
            x = parent_[x];
        }
        return x;
    }
    void unite(uint32_t a, uint32_t b) {
        a = find(a);
        b = find(b);
        if (a == b) return;
        if (size_[a] < size_[b]) std::swap(a, b);
        parent_[b] = a;
        size_[a] += size_[b];
    }
    size_t size_of(uint32_t root) const { return size_[root]; }

private:
    std::vector<uint32_t> parent_;
    std::vector<size_t> size_;
};

bool holds(const std::vector<uint32_t>& view, uint32_t node) {
    return std::find(view.begin(), view.end(), node) != view.end();
}

}  // namespace

OverlayStats overlay_stats(const ViewSnapshot& views) {
    const size_t n = views.alive.size();
    OverlayStats s;
    DisjointSets sets(n);
    std::vector<size_t> in_degree(n, 0);

    for (uint32_t a = 0; a < n; ++a) {
        if (!views.alive[a]) continue;
        ++s.live;
        const auto& active = views.active[a];
        s.active_size.add(active.size());
        s.passive_size.add(views.passive[a].size());
        if (active.empty()) ++s.isolated;
        for (uint32_t b : active) {
            if (!views.alive[b]) {
                ++s.dead_in_active;
                continue;
            }
            ++in_degree[b];
            sets.unite(a, b);
            if (!holds(views.active[b], a)) ++s.asymmetric;
        }
        for (uint32_t b : views.passive[a])
            if (!views.alive[b]) ++s.dead_in_passive;
    }

    for (uint32_t a = 0; a < n; ++a) {
        if (!views.alive[a]) continue;
        s.in_degree.add(in_degree[a]);
        if (sets.find(a) == a) {
            ++s.components;
            s.largest_component = std::max(s.largest_component, sets.size_of(a));
        }
    }
    s.active_size.finish();
    s.passive_size.finish();
    s.in_degree.finish();
    return s;
}

}  // namespace partisan::sim
