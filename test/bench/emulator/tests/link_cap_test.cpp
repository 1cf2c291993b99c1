// The link cap end to end: connections of one route share it, each
// direction has its own.
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <thread>
#include <vector>

using namespace link_emulator;
using namespace link_emulator::test;
using namespace std::chrono_literals;

namespace {

// Sends `bytes` through an echo behind the relay and reads them back;
// returns the seconds from `start` until all were back.
double echo_seconds(std::uint16_t port, std::size_t bytes, Clock::time_point start) {
    const auto data = random_bytes(256 * 1024, 5);
    asio::io_context io;
    auto socket = connect_to(io, port);
    std::thread writer([&] {
        for (std::size_t sent = 0; sent < bytes; sent += data.size())
            asio::write(socket, asio::buffer(data.data(), std::min(data.size(), bytes - sent)));
    });
    std::vector<char> buffer(1 << 20);
    for (std::size_t received = 0; received < bytes;)
        received += socket.read_some(asio::buffer(buffer));
    const auto done = Clock::now();
    writer.join();
    return std::chrono::duration<double>(done - start).count();
}

// Two connections at once, each echoing `bytes`: the seconds of each.
std::vector<double> two_echoes(std::uint16_t port, std::size_t bytes) {
    std::vector<double> seconds(2);
    const auto start = Clock::now();
    {
        std::jthread a([&] { seconds[0] = echo_seconds(port, bytes, start); });
        std::jthread b([&] { seconds[1] = echo_seconds(port, bytes, start); });
    }
    return seconds;
}

}  // namespace

TEST_CASE("a link cap is shared by the connections of a route", "[relay][link]") {
    TestServer echo(TestServer::Mode::echo);
    constexpr std::size_t bytes = 3'000'000;  // per connection, each way
    constexpr double cap = 10.0;             // MB/s: 80 Mbit/s
    SECTION("shared: together about the cap, each about half") {
        Config config = relay_config(echo.port());
        config.link_rate_mbit = 80;
        RunningRelay relay(config);
        const auto s = two_echoes(relay.port(), bytes);
        const auto [first, last] = std::minmax(s[0], s[1]);
        const double together = 2 * bytes / 1e6 / last;
        WARN("link cap 80 Mbit/s, two connections: " << together << " MB/s together; done after "
                                                     << first << " s and " << last << " s");
        CHECK(together >= cap * 0.5);
        CHECK(together <= cap * 1.5);
        CHECK(first >= last * 0.6);  // in turns: neither went first
    }
    SECTION("per connection only: each gets its own") {
        RunningRelay relay(relay_config(echo.port(), 0, 80));
        const auto s = two_echoes(relay.port(), bytes);
        for (const double seconds : s) {
            const double each = bytes / 1e6 / seconds;
            WARN("per-connection cap 80 Mbit/s: " << each << " MB/s");
            CHECK(each >= cap * 0.5);
            CHECK(each <= cap * 1.5);
        }
    }
}
