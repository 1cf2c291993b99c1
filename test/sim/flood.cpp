#include "flood.hpp"

#include "sim_random.hpp"

#include <algorithm>
#include <random>

namespace partisan::sim {

namespace {

struct Arrival {
    uint32_t node, from;
    uint16_t hops;
};

}  // namespace

FloodResult flood(const ViewSnapshot& views, uint32_t source, Millis min_latency, Millis max_latency,
                  uint64_t seed) {
    FloodResult r;
    r.live = views.live();
    if (source >= views.alive.size() || !views.alive[source]) return r;

    std::mt19937_64 rng(seed);
    EventQueue<Arrival> queue;
    std::vector<char> received(views.alive.size(), 0);

    auto forward = [&](uint32_t node, uint32_t except, uint16_t hops, Millis now) {
        for (uint32_t next : views.active[node]) {
            if (next == except) continue;
            ++r.messages;
            queue.push(now + uniform_millis(rng, min_latency, max_latency),
                       Arrival{next, node, static_cast<uint16_t>(hops + 1)});
        }
    };

    received[source] = 1;
    r.reached = 1;
    forward(source, source, 0, Millis{0});
    while (!queue.empty()) {
        auto [now, a] = queue.pop();
        if (!views.alive[a.node] || received[a.node]) continue;
        received[a.node] = 1;
        ++r.reached;
        r.last_hop = std::max(r.last_hop, a.hops);
        forward(a.node, a.from, a.hops, now);
    }
    return r;
}

}  // namespace partisan::sim
