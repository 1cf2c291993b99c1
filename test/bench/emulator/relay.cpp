#include "relay.hpp"

#include <chrono>
#include <string>

namespace link_emulator {

Pipe::Settings pipe_settings(const Config& config) {
    Pipe::Settings settings;
    settings.delay = std::chrono::duration_cast<Pipe::Clock::duration>(
        std::chrono::duration<double, std::milli>(config.delay_ms));
    settings.rate_bytes_per_second = config.rate_mbit * 1e6 / 8;
    settings.max_buffer_bytes = config.max_buffer_bytes;
    return settings;
}

double link_rate_bytes_per_second(const Config& config) { return config.link_rate_mbit * 1e6 / 8; }

Relay::Relay(asio::io_context& io, const Config& config) : stats_(std::make_shared<RelayStats>()) {
    const auto settings = pipe_settings(config);
    const auto listen_address = asio::ip::make_address(config.listen_ip);
    asio::ip::tcp::resolver resolver(io);
    for (const auto& route : config.routes) {
        auto target = resolver.resolve(route.target_host, std::to_string(route.target_port),
                                       asio::ip::resolver_base::numeric_service);
        listeners_.push_back(std::make_shared<Listener>(
            io, asio::ip::tcp::endpoint(listen_address, route.listen_port), route, std::move(target),
            settings, LinkCap::make(link_rate_bytes_per_second(config)), stats_));
    }
    for (const auto& listener : listeners_) listener->start();
}

Relay::~Relay() { stop(); }

std::vector<BoundRoute> Relay::bound_routes() const {
    std::vector<BoundRoute> bound;
    for (const auto& listener : listeners_) bound.push_back({listener->port(), listener->route()});
    return bound;
}

void Relay::stop() {
    for (const auto& listener : listeners_) listener->stop();
}

}  // namespace link_emulator
