// Test fixtures: a Relay running on its own thread, and servers (echo,
// sink, stall) on their own threads, all on loopback.
#pragma once

#include "relay.hpp"

#include <asio.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

namespace link_emulator::test {

using Clock = std::chrono::steady_clock;

// A Relay on its own io_context thread. The destructor stops the loop
// first, so the relay is never touched from two threads.
class RunningRelay {
public:
    explicit RunningRelay(const Config& config);
    ~RunningRelay();
    RunningRelay(const RunningRelay&) = delete;
    RunningRelay& operator=(const RunningRelay&) = delete;

    std::uint16_t port(std::size_t route = 0) const { return routes_.at(route).listen_port; }
    const RelayStats& stats() const { return *stats_; }

private:
    asio::io_context io_;
    Relay relay_;
    std::vector<BoundRoute> routes_;
    std::shared_ptr<const RelayStats> stats_;
    std::thread thread_;
};

// A loopback server on its own thread.
//   echo:  writes back what it reads; on EOF shuts down sending.
//   sink:  reads and counts; on EOF closes.
//   stall: accepts and never reads.
class TestServer {
public:
    enum class Mode { echo, sink, stall };
    struct Counters {
        std::atomic<std::uint64_t> bytes_received{0};
        std::atomic<std::uint64_t> eofs{0};
    };

    explicit TestServer(Mode mode);
    ~TestServer();
    TestServer(const TestServer&) = delete;
    TestServer& operator=(const TestServer&) = delete;

    std::uint16_t port() const { return port_; }
    const Counters& counters() const { return *counters_; }

private:
    void accept();

    Mode mode_;
    asio::io_context io_;
    asio::ip::tcp::acceptor acceptor_;
    std::uint16_t port_;
    std::shared_ptr<Counters> counters_;
    std::vector<asio::ip::tcp::socket> stalled_;  // io thread only
    std::thread thread_;
};

Config relay_config(std::uint16_t target_port, double delay_ms = 0, double rate_mbit = 0,
                    std::size_t max_buffer_bytes = 16 * 1024 * 1024);

// A blocking client socket connected to 127.0.0.1:port (TCP_NODELAY).
asio::ip::tcp::socket connect_to(asio::io_context& io, std::uint16_t port);

std::vector<char> random_bytes(std::size_t n, std::uint64_t seed);

// Polls `done` every millisecond until it holds or `limit` passes.
template <class Predicate>
bool wait_until(Predicate done, std::chrono::milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    while (!done()) {
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

}  // namespace link_emulator::test
