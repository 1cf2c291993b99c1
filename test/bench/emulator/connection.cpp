#include "connection.hpp"

#include <utility>

namespace link_emulator {

Connection::Connection(asio::ip::tcp::socket client, asio::ip::tcp::resolver::results_type target,
                       const Pipe::Settings& settings, const LinkCap& link,
                       std::shared_ptr<RelayStats> stats)
    : stats_(std::move(stats)),
      target_(std::move(target)),
      client_(std::move(client)),
      server_(client_.get_executor()),
      upstream_(client_, server_, settings, link.to_target, stats_),
      downstream_(server_, client_, settings, link.from_target, stats_) {
    ++stats_->connections_active;
}

Connection::~Connection() { --stats_->connections_active; }

void Connection::start() {
    asio::async_connect(server_, target_,
                        [self = shared_from_this()](std::error_code ec, const asio::ip::tcp::endpoint&) {
                            self->on_connected(ec);
                        });
}

void Connection::on_connected(std::error_code ec) {
    if (closed_) return;
    if (ec) {
        ++stats_->connect_failures;
        abort();  // the client sees a reset, as if the target had refused
        return;
    }
    std::error_code ignored;
    client_.set_option(asio::ip::tcp::no_delay(true), ignored);
    server_.set_option(asio::ip::tcp::no_delay(true), ignored);
    const auto self = shared_from_this();
    upstream_.start(self, [this](Pipe::End end) { on_pipe_finished(end); });
    downstream_.start(self, [this](Pipe::End end) { on_pipe_finished(end); });
}

void Connection::on_pipe_finished(Pipe::End end) {
    if (end == Pipe::End::reset) {
        abort();
        return;
    }
    failed_ = failed_ || end == Pipe::End::write_failed;
    if (++pipes_finished_ == 2) close(failed_);
}

void Connection::close(bool reset) noexcept {
    if (closed_) return;
    closed_ = true;
    upstream_.stop();
    downstream_.stop();
    std::error_code ignored;
    for (auto* socket : {&client_, &server_}) {
        if (reset) socket->set_option(asio::socket_base::linger(true, 0), ignored);
        socket->close(ignored);
    }
}

}  // namespace link_emulator
