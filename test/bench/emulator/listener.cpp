#include "listener.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

namespace link_emulator {

namespace {

asio::ip::tcp::acceptor open_acceptor(asio::io_context& io, const asio::ip::tcp::endpoint& at) {
    asio::ip::tcp::acceptor acceptor(io);
    acceptor.open(at.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(at);
    acceptor.listen(asio::socket_base::max_listen_connections);
    return acceptor;
}

}  // namespace

Listener::Listener(asio::io_context& io, const asio::ip::tcp::endpoint& listen, Route route,
                   asio::ip::tcp::resolver::results_type target, const Pipe::Settings& settings,
                   LinkCap link, std::shared_ptr<RelayStats> stats)
    : acceptor_(open_acceptor(io, listen)),
      retry_timer_(io),
      port_(acceptor_.local_endpoint().port()),
      route_(std::move(route)),
      target_(std::move(target)),
      settings_(settings),
      link_(std::move(link)),
      stats_(std::move(stats)) {}

void Listener::start() { accept(); }

void Listener::stop() {
    stopped_ = true;
    std::error_code ignored;
    acceptor_.close(ignored);
    retry_timer_.cancel();
    for (const auto& weak : connections_)
        if (const auto connection = weak.lock()) connection->abort();
    connections_.clear();
}

void Listener::accept() {
    acceptor_.async_accept([self = shared_from_this()](std::error_code ec, asio::ip::tcp::socket socket) {
        self->on_accept(ec, std::move(socket));
    });
}

void Listener::on_accept(std::error_code ec, asio::ip::tcp::socket socket) {
    if (stopped_) return;
    if (ec) {
        // Out of descriptors and the like: try again a little later rather
        // than spin.
        retry_timer_.expires_after(std::chrono::milliseconds(100));
        retry_timer_.async_wait([self = shared_from_this()](std::error_code wait_error) {
            if (!wait_error && !self->stopped_) self->accept();
        });
        return;
    }
    ++stats_->connections_accepted;
    std::erase_if(connections_, [](const auto& weak) { return weak.expired(); });
    const auto connection = std::make_shared<Connection>(std::move(socket), target_, settings_, link_, stats_);
    connections_.push_back(connection);
    connection->start();
    accept();
}

}  // namespace link_emulator
