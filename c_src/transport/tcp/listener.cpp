#include "partisan/transport/tcp/listener.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>

namespace partisan {

namespace {

// Pending connections may hold at most this share of the descriptors, so
// that the node always has descriptors left for its peers and its BEAM.
size_t descriptor_share() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return SIZE_MAX;
    return static_cast<size_t>(rl.rlim_cur / 4);
}

bool out_of_resources(const asio::error_code& ec) {
    return ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
           ec == asio::error::no_memory || ec.value() == ENFILE;
}

}  // namespace

Listener::Listener(Context& ctx, PeerEvents& events)
    : ctx_(ctx), events_(events), acceptor_(ctx.io), backoff_(ctx.io),
      max_pending_(std::max<size_t>(4, std::min<size_t>(ctx.config.max_pending_handshakes, descriptor_share()))) {}

void Listener::open(const std::string& ip, uint16_t port, int backlog) {
    asio::ip::tcp::endpoint ep(asio::ip::make_address(ip), port);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen(backlog);
}

asio::ip::tcp::endpoint Listener::local_endpoint() const {
    asio::error_code ec;
    auto ep = acceptor_.local_endpoint(ec);
    return ec ? asio::ip::tcp::endpoint{} : ep;
}

void Listener::start() { accept(); }

void Listener::close() {
    closed_ = true;
    asio::error_code ec;
    acceptor_.close(ec);
    backoff_.cancel();
    auto inbound = std::move(inbound_);
    inbound_.clear();
    pending_.clear();
    per_address_.clear();
    for (auto& c : inbound) c->close();
}

void Listener::accept() {
    acceptor_.async_accept([this](const asio::error_code& ec, asio::ip::tcp::socket sock) {
        if (closed_ || ec == asio::error::operation_aborted) return;
        if (!ec) {
            on_accepted(std::move(sock));
            accept();
            return;
        }
        // Out of descriptors: accepting again at once would spin (the
        // connection stays in the backlog). Free one and wait a little.
        auto wait = std::chrono::milliseconds(out_of_resources(ec) ? 100 : 10);
        PLOG(ctx_.log, warning, "accept failed: %s (%zu unauthenticated connections pending); retrying in %lld ms",
             ec.message().c_str(), pending_.size(), static_cast<long long>(wait.count()));
        if (out_of_resources(ec) && !pending_.empty()) evict_oldest({}, "out of descriptors");
        backoff_.expires_after(wait);
        backoff_.async_wait([this](const asio::error_code& e) {
            if (!e && !closed_) accept();
        });
    });
}

void Listener::on_accepted(asio::ip::tcp::socket sock) {
    asio::error_code ec;
    auto ep = sock.remote_endpoint(ec);
    if (ec) return;  // gone already
    std::string address = ep.address().to_string();
    if (per_address_[address] >= ctx_.config.max_pending_per_address)
        evict_oldest(address, "too many from one address");
    if (pending_.size() >= max_pending_) evict_oldest({}, "too many in all");
    auto conn = PeerConnection::make_acceptor(ctx_, events_, std::move(sock));
    inbound_.insert(conn);
    pending_.push_back(Pending{conn, address});
    ++per_address_[address];
    conn->start();
}

void Listener::evict_oldest(const std::string& address, const char* why) {
    // Without an address: from the address that holds the most, so one
    // that holds a single pending connection (a real node) goes last.
    std::string from = address;
    if (from.empty()) {
        size_t most = 0;
        for (const auto& [a, n] : per_address_)
            if (n > most) most = n, from = a;
    }
    auto it = std::find_if(pending_.begin(), pending_.end(), [&](const Pending& p) { return p.address == from; });
    if (it == pending_.end()) return;
    auto conn = it->conn.lock();
    PLOG(ctx_.log, warning, "unauthenticated connections: %s (%zu pending, %zu from %s); closing the oldest from %s",
         why, pending_.size(), per_address_[from], from.c_str(), from.c_str());
    if (conn) {
        conn->close();  // reports closed(), which forgets it
    } else {
        if (--per_address_[from] == 0) per_address_.erase(from);
        pending_.erase(it);
    }
}

void Listener::forget_pending(const PeerConnection& conn) {
    auto it = std::find_if(pending_.begin(), pending_.end(),
                           [&](const Pending& p) { return p.conn.lock().get() == &conn; });
    if (it == pending_.end()) return;
    if (--per_address_[it->address] == 0) per_address_.erase(it->address);
    pending_.erase(it);
}

void Listener::authenticated(PeerConnection& conn) { forget_pending(conn); }

void Listener::closed(PeerConnection& conn) {
    forget_pending(conn);
    inbound_.erase(conn.shared_from_this());
}

}  // namespace partisan
