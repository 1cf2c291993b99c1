// Seeds and draws for the simulator, written out rather than taken from
// <random>'s distributions (whose output the standard leaves to each
// library), so that a seed gives the same run everywhere.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <random>

namespace partisan::sim {

// An independent seed for stream `stream` of a run seeded with `seed`
// (splitmix64's finaliser over both).
inline uint64_t derive_seed(uint64_t seed, uint64_t stream) {
    uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (stream + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// The streams of derive_seed() in one run: the simulator's own draws, the
// network's, two per node (its HyParView's and its Plumtree's seeds) and one
// per flooding run, apart for up to max_nodes nodes.
namespace streams {
constexpr uint64_t simulator = 0, network = 1, first_node = 1000, first_flood = uint64_t{1} << 20;
constexpr size_t max_nodes = (first_flood - first_node) / 2;
constexpr uint64_t hyparview(uint32_t node) { return first_node + 2 * uint64_t{node}; }
constexpr uint64_t plumtree(uint32_t node) { return first_node + 2 * uint64_t{node} + 1; }
constexpr uint64_t flood(size_t broadcast) { return first_flood + broadcast; }
}  // namespace streams

// Uniform in [0, n), n > 0. The modulo's bias is below n / 2^64: nothing here.
inline uint64_t uniform_below(std::mt19937_64& rng, uint64_t n) { return rng() % n; }

// Uniform in [lo, hi].
inline std::chrono::milliseconds uniform_millis(std::mt19937_64& rng, std::chrono::milliseconds lo,
                                                std::chrono::milliseconds hi) {
    auto span = static_cast<uint64_t>((hi - lo).count()) + 1;
    return lo + std::chrono::milliseconds(static_cast<int64_t>(uniform_below(rng, span)));
}

}  // namespace partisan::sim
