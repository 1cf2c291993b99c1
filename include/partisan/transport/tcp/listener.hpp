// The TCP listener for connections from other C-nodes, and the guard in
// front of it. Anyone who can reach the port can connect, so connections
// that have not yet proven the cluster secret ("pending") are capped, in
// all and per source address: past a cap, the oldest pending connection of
// the address with the most of them is closed, so a flood from a few
// addresses cannot crowd out a real node's handshake (which takes one round
// trip). Accept errors (out of descriptors) back off instead of spinning.
#pragma once

#include "partisan/core/context.hpp"
#include "partisan/transport/tcp/peer_connection.hpp"

#include <list>
#include <map>
#include <memory>
#include <set>
#include <string>

namespace partisan {

class Listener {
public:
    Listener(Context& ctx, PeerEvents& events);

    // Binds and listens; throws when it cannot.
    void open(const std::string& ip, uint16_t port, int backlog);
    asio::ip::tcp::endpoint local_endpoint() const;
    void start();
    // Stops accepting and closes every accepted connection.
    void close();

    // The owner reports what becomes of accepted connections.
    void authenticated(PeerConnection& conn);
    void closed(PeerConnection& conn);

    // Every accepted connection still open (a copy: callers may close them).
    std::vector<std::shared_ptr<PeerConnection>> connections() const {
        return {inbound_.begin(), inbound_.end()};
    }
    size_t pending() const { return pending_.size(); }
    size_t max_pending() const { return max_pending_; }

private:
    struct Pending {
        std::weak_ptr<PeerConnection> conn;
        std::string address;
    };
    void accept();
    void on_accepted(asio::ip::tcp::socket sock);
    void evict_oldest(const std::string& address, const char* why);
    void forget_pending(const PeerConnection& conn);

    Context& ctx_;
    PeerEvents& events_;
    asio::ip::tcp::acceptor acceptor_;
    asio::steady_timer backoff_;
    size_t max_pending_;
    std::set<std::shared_ptr<PeerConnection>> inbound_;
    std::list<Pending> pending_;  // oldest first
    std::map<std::string, size_t> per_address_;
    bool closed_ = false;
};

}  // namespace partisan
