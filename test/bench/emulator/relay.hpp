// The link emulator as an object: one listener per route on one io_context,
// with shared counters; each route has its own link cap (if configured). Construct, then run the io_context; call stop() on
// the io_context's thread (or when it is not running). stop() ends every
// operation, so io_context::run() then returns.
#pragma once

#include "listener.hpp"
#include "options.hpp"
#include "stats.hpp"

#include <asio.hpp>

#include <cstdint>
#include <memory>
#include <vector>

namespace link_emulator {

struct BoundRoute {
    std::uint16_t listen_port;  // the actual port, also when 0 was asked
    Route route;
};

// The settings of each pipe, from the configuration.
Pipe::Settings pipe_settings(const Config& config);
// The link cap of each route and direction, bytes/s (0: none).
double link_rate_bytes_per_second(const Config& config);

class Relay {
public:
    // Resolves the targets and binds every listen port (throws on failure).
    Relay(asio::io_context& io, const Config& config);
    ~Relay();
    Relay(const Relay&) = delete;
    Relay& operator=(const Relay&) = delete;

    std::vector<BoundRoute> bound_routes() const;
    std::shared_ptr<const RelayStats> stats() const noexcept { return stats_; }
    void stop();

private:
    std::shared_ptr<RelayStats> stats_;
    std::vector<std::shared_ptr<Listener>> listeners_;
};

}  // namespace link_emulator
