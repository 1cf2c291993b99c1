// One relayed connection: the accepted client socket, the socket to the
// target, and a pipe each way. Connects to the target, then relays until
// both pipes have ended: both passed EOF on (closed cleanly), or one passed
// a reset on (both sockets reset at once), or one could not write (the
// other pipe carries the end back; then both sockets are reset).
// Owned by shared_ptr: its pending operations keep it.
#pragma once

#include "link_cap.hpp"
#include "pipe.hpp"
#include "stats.hpp"

#include <asio.hpp>

#include <memory>
#include <system_error>

namespace link_emulator {

class Connection : public std::enable_shared_from_this<Connection> {
public:
    Connection(asio::ip::tcp::socket client, asio::ip::tcp::resolver::results_type target,
               const Pipe::Settings& settings, const LinkCap& link, std::shared_ptr<RelayStats> stats);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    void start();
    // Resets both sockets now (queued bytes are dropped).
    void abort() noexcept { close(true); }

    std::size_t buffered_bytes() const noexcept {
        return upstream_.buffered_bytes() + downstream_.buffered_bytes();
    }

private:
    void on_connected(std::error_code ec);
    void on_pipe_finished(Pipe::End end);
    void close(bool reset) noexcept;

    std::shared_ptr<RelayStats> stats_;
    asio::ip::tcp::resolver::results_type target_;
    asio::ip::tcp::socket client_;
    asio::ip::tcp::socket server_;
    Pipe upstream_;    // client -> target
    Pipe downstream_;  // target -> client
    int pipes_finished_ = 0;
    bool failed_ = false;
    bool closed_ = false;
};

}  // namespace link_emulator
