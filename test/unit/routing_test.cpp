// Connection selection and monotonic replacement.
#include "partisan/transport/routing.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <vector>

using namespace partisan;

namespace {
auto all_up = [](size_t) { return true; };
}

TEST_CASE("the same key always picks the same connection") {
    for (uint64_t key : {0ull, 1ull, 7ull, 134217727ull, 99999ull})
        for (size_t n : {1u, 2u, 4u, 8u}) {
            size_t first = select_link(key, n, false, all_up);
            REQUIRE(first < n);
            for (int i = 0; i < 10; ++i) REQUIRE(select_link(key, n, false, all_up) == first);
            REQUIRE(select_link(key, n, true, all_up) == first);
        }
}

TEST_CASE("keys spread evenly over the connections") {
    // Keys as the shim makes them: erlang:phash2 values, i.e. spread over
    // 0..2^27-1. Any reasonable spread of keys must give each of the n
    // connections close to 1/n of them.
    std::mt19937 rng(1);
    for (size_t n : {2u, 4u, 8u}) {
        std::vector<int> count(n, 0);
        const int keys = 80000;
        for (int i = 0; i < keys; ++i) ++count[select_link(rng() % 134217728u, n, false, all_up)];
        for (int c : count) REQUIRE(std::abs(c - keys / static_cast<int>(n)) < keys / static_cast<int>(n) / 10);
        // Sequential keys (e.g. partition numbers) go round robin.
        std::vector<int> seq(n, 0);
        for (uint64_t k = 0; k < 100 * n; ++k) ++seq[select_link(k, n, true, all_up)];
        for (int c : seq) REQUIRE(c == 100);
    }
}

TEST_CASE("a message without a partition key avoids a connection that is down") {
    std::vector<bool> up = {true, false, false, true};
    auto is_up = [&](size_t i) { return static_cast<bool>(up[i]); };
    REQUIRE(select_link(1, 4, false, is_up) == 3);  // 1 and 2 down: next live is 3
    REQUIRE(select_link(2, 4, false, is_up) == 3);
    REQUIRE(select_link(0, 4, false, is_up) == 0);
    REQUIRE(select_link(1, 4, true, is_up) == 1);   // pinned by a partition key: waits for 1
    std::vector<bool> none(4, false);
    REQUIRE(select_link(2, 4, false, [&](size_t i) { return static_cast<bool>(none[i]); }) == 2);
}

TEST_CASE("a newer message to the same destination replaces the unsent one") {
    LatestPerDestination latest;
    const uint8_t v1[] = {1, 1, 1}, v2[] = {2, 2}, other[] = {9};
    REQUIRE(latest.put("dest-a", v1, sizeof v1) == 0);
    REQUIRE(latest.put("dest-b", other, sizeof other) == 0);
    REQUIRE(latest.put("dest-a", v2, sizeof v2) == sizeof v1);  // v1 dropped
    REQUIRE(latest.size() == 2);
    REQUIRE(latest.bytes() == sizeof v2 + sizeof other);
    ByteBuffer out;
    REQUIRE(latest.drain_into(out) == 2);
    REQUIRE(out.size() == 3);
    // dest-a's newest (2,2) went out, never the replaced (1,1,1).
    std::vector<uint8_t> sent(out.data(), out.data() + out.size());
    REQUIRE(std::count(sent.begin(), sent.end(), uint8_t{1}) == 0);
    REQUIRE(std::count(sent.begin(), sent.end(), uint8_t{2}) == 2);
    REQUIRE(latest.size() == 0);
    REQUIRE(latest.bytes() == 0);
}

TEST_CASE("memory of a monotonic queue is bounded by destinations, not messages") {
    LatestPerDestination latest;
    std::vector<uint8_t> frame(1000, 7);
    size_t drops = 0;
    for (int i = 0; i < 100000; ++i) drops += latest.put("d" + std::to_string(i % 3), frame.data(), frame.size()) ? 1 : 0;
    REQUIRE(latest.size() == 3);
    REQUIRE(latest.bytes() == 3000);
    REQUIRE(drops == 100000 - 3);
}
