// One route: a listening socket whose accepted connections are relayed to
// one target, all under the route's link cap (if any). Keeps weak
// references to its connections so that stop() can end them.
#pragma once

#include "connection.hpp"
#include "link_cap.hpp"
#include "options.hpp"
#include "pipe.hpp"
#include "stats.hpp"

#include <asio.hpp>

#include <cstdint>
#include <memory>
#include <vector>

namespace link_emulator {

class Listener : public std::enable_shared_from_this<Listener> {
public:
    // Binds and listens (throws std::system_error); start() begins accepting.
    Listener(asio::io_context& io, const asio::ip::tcp::endpoint& listen, Route route,
             asio::ip::tcp::resolver::results_type target, const Pipe::Settings& settings,
             LinkCap link, std::shared_ptr<RelayStats> stats);

    void start();
    // Stops accepting and resets every connection of this route.
    void stop();

    std::uint16_t port() const noexcept { return port_; }
    const Route& route() const noexcept { return route_; }

private:
    void accept();
    void on_accept(std::error_code ec, asio::ip::tcp::socket socket);

    asio::ip::tcp::acceptor acceptor_;
    asio::steady_timer retry_timer_;
    std::uint16_t port_;
    Route route_;
    asio::ip::tcp::resolver::results_type target_;
    Pipe::Settings settings_;
    LinkCap link_;
    std::shared_ptr<RelayStats> stats_;
    std::vector<std::weak_ptr<Connection>> connections_;
    bool stopped_ = false;
};

}  // namespace link_emulator
