// The TCP transport: one Peer (a dialer per channel and index) per
// neighbour, the inbound links, and the per-peer/channel counters. Just
// over 400 lines because those three share one peer table and its
// lifetime rules (a peer's counters outlive its links); splitting them
// would spread those rules over files.
#include "partisan/transport/tcp/tcp_transport.hpp"

#include <algorithm>

namespace partisan {

namespace {

// Messages queued for a peer that is not connected, beyond which new ones
// are dropped (counted and logged) instead of growing without bound.
constexpr size_t unconnected_limit = 8u << 20;

}  // namespace

TcpTransport::TcpTransport(Context& ctx, TransportEvents& events)
    : ctx_(ctx), events_(events), listener_(ctx, *this), connect_timer_(ctx.io) {
    const Config& cfg = ctx.config;
    listener_.open(cfg.listen_ip, cfg.listen_port, static_cast<int>(cfg.listen_backlog));
    size_t offset = 0;
    for (const auto& ch : cfg.channels) {
        channel_offset_.push_back(offset);
        offset += ch.parallelism;
    }
    congested_.assign(cfg.channels.size(), 0);
}

TcpTransport::~TcpTransport() { shutdown(); }

void TcpTransport::start() { listener_.start(); }

void TcpTransport::shutdown() {
    if (stopped_) return;
    stopped_ = true;
    listener_.close();
    connect_timer_.cancel();
    auto peers = std::move(peers_);
    peers_.clear();
    for (auto& [name, peer] : peers)
        for (auto& l : peer.links) l->close();
}

std::vector<Address> TcpTransport::local_addresses() const {
    auto ep = listener_.local_endpoint();
    if (ep.port() == 0) return {};
    uint16_t port = ctx_.config.advertise_port ? ctx_.config.advertise_port : ep.port();
    return {Address{ctx_.config.advertise_ip, port}};
}

int TcpTransport::channel_index(std::string_view name) const {
    const auto& chs = ctx_.config.channels;
    for (size_t i = 0; i < chs.size(); ++i)
        if (chs[i].name == name) return static_cast<int>(i);
    return -1;
}

// ---- links ------------------------------------------------------------------

void TcpTransport::set_neighbours(const std::vector<Neighbour>& neighbours) {
    for (const auto& n : neighbours) {
        auto it = peers_.find(n.name);
        if (it == peers_.end()) {
            add_peer(n);
            continue;
        }
        for (auto& l : it->second.links) l->set_addresses(n.addrs);
        set_probing(it->second, n.down);
        set_control_only(it->second, n.control_only);
    }
    for (auto it = peers_.begin(); it != peers_.end();) {
        if (std::any_of(neighbours.begin(), neighbours.end(), [&](const Neighbour& n) { return n.name == it->first; })) {
            ++it;
            continue;
        }
        auto links = std::move(it->second.links);
        std::string name = it->first;
        it = peers_.erase(it);
        // Counters that counted nothing are let go of by its closing links
        // first, so that they can be forgotten now or once its own
        // connections to us close (on_closed).
        bool idle = counted_nothing(name);
        for (auto& l : links) {
            if (idle) l->stats = &detached_stats_;
            l->close_after_flush();  // what is queued still goes out
        }
        if (idle && !connected_from(name)) stats_.erase(name);
    }
}

void TcpTransport::add_peer(const Neighbour& n) {
    Peer peer;
    peer.unreachable_since = std::chrono::steady_clock::now();
    for (size_t c = 0; c < ctx_.config.channels.size(); ++c) {
        const auto& ch = ctx_.config.channels[c];
        for (unsigned i = 0; i < ch.parallelism; ++i) {
            auto link = PeerConnection::make_dialer(ctx_, *this, n.name,
                                                    handshake::LinkId{ch.name, static_cast<uint16_t>(i)}, n.addrs);
            link->channel = c;
            link->stats = stats_for(n.name, c);
            peer.links.push_back(std::move(link));
        }
    }
    peer.control_only = n.control_only;
    auto& added = peers_.emplace(n.name, std::move(peer)).first->second;
    set_probing(added, n.down);
    // The control link connects at once; the others once it is up.
    added.links[0]->start();
}

bool TcpTransport::up(const std::string& peer) const {
    auto it = peers_.find(peer);
    return it != peers_.end() && it->second.up;
}

bool TcpTransport::never_reached(const std::string& peer) const {
    auto it = peers_.find(peer);
    return it != peers_.end() && !it->second.up && !it->second.ever_up;
}

std::vector<std::string> TcpTransport::up_peers() const {
    std::vector<std::string> out;  // in name order (peers_ is a map)
    for (const auto& [name, peer] : peers_)
        if (peer.up) out.push_back(name);
    return out;
}

std::vector<std::string> TcpTransport::unreachable_for(std::chrono::milliseconds limit) const {
    std::vector<std::string> out;
    if (!available_) return out;  // we are the one away
    auto now = std::chrono::steady_clock::now();
    for (const auto& [name, peer] : peers_)
        if (!peer.up && !peer.probing && now - peer.unreachable_since > limit) out.push_back(name);
    return out;
}

void TcpTransport::set_available(bool available) {
    // A node whose BEAM is stopped or hung must look down to the others,
    // as with net_ticktime: its C-node drops every peer connection and
    // refuses new ones until the BEAM answers again.
    available_ = available;
    if (!available) {
        PLOG(ctx_.log, warning, "dropping every peer connection until this node's BEAM answers again");
        for (auto& l : links_of(peer_names()))
            if (l->established()) l->drop("this node's BEAM does not answer");
        for (auto& c : listener_.connections()) c->close();
        return;
    }
    auto now = std::chrono::steady_clock::now();
    for (auto& [name, peer] : peers_) peer.unreachable_since = now;  // we were the one away
    for (auto& l : links_of(peer_names(), true)) l->retry_now();
}

// Dropping or retrying a link can call back into the node at once (a
// lost control link is a peer down; the overlay then changes the
// neighbours, and set_neighbours erases peers): loops that do so go over
// these copies, never over peers_ itself.
std::vector<std::string> TcpTransport::peer_names() const {
    std::vector<std::string> out;
    for (const auto& [name, peer] : peers_) out.push_back(name);
    return out;
}

std::vector<std::shared_ptr<PeerConnection>> TcpTransport::links_of(const std::vector<std::string>& names,
                                                                   bool control_only) const {
    std::vector<std::shared_ptr<PeerConnection>> out;
    for (const auto& n : names) {
        auto it = peers_.find(n);
        if (it == peers_.end()) continue;
        if (control_only)
            out.push_back(it->second.links[0]);
        else
            out.insert(out.end(), it->second.links.begin(), it->second.links.end());
    }
    return out;
}

void TcpTransport::start_other_links(Peer& peer) {
    if (peer.control_only) return;
    // One per connect_interval, so a node that many nodes discover at the
    // same moment is not hit by nodes x channels x parallelism connects.
    for (size_t i = 1; i < peer.links.size(); ++i) connect_queue_.push_back(peer.links[i]);
    pace_connects();
}

void TcpTransport::set_probing(Peer& peer, bool down) {
    // A member marked down is only probed: its control link tries once per
    // probe interval (so a healed partition merges again), the rest wait.
    if (down == peer.probing) return;
    peer.probing = down;
    peer.links[0]->set_max_backoff(down ? down_probe_interval(ctx_.config) : normal_max_backoff);
    if (!down) {
        peer.unreachable_since = std::chrono::steady_clock::now();
        peer.links[0]->retry_now();
    }
}

void TcpTransport::set_control_only(Peer& peer, bool control_only) {
    // A short-lived peer that became a neighbour gets its channel links;
    // the reverse only happens when the overlay drops and re-adds it.
    if (control_only == peer.control_only) return;
    peer.control_only = control_only;
    if (!control_only && peer.up) start_other_links(peer);
}

void TcpTransport::pace_connects() {
    if (connect_timer_running_ || stopped_) return;
    while (!connect_queue_.empty()) {
        auto link = connect_queue_.front().lock();
        connect_queue_.erase(connect_queue_.begin());
        if (!link) continue;  // its peer went away meanwhile
        link->retry_now();
        connect_timer_running_ = true;
        connect_timer_.expires_after(std::chrono::milliseconds(ctx_.config.connect_interval_ms));
        connect_timer_.async_wait([this](const asio::error_code& ec) {
            connect_timer_running_ = false;
            if (!ec) pace_connects();
        });
        return;
    }
}

// ---- data -------------------------------------------------------------------

PeerConnection& TcpTransport::pick_link(Peer& peer, size_t channel, uint64_t key, bool pinned) {
    // FIFO per sender holds only while its connection stays up (routing.hpp).
    size_t base = channel_offset_[channel];
    size_t i = select_link(key, ctx_.config.channels[channel].parallelism, pinned,
                           [&](size_t k) { return peer.links[base + k]->established(); });
    return *peer.links[base + i];
}

LinkStats* TcpTransport::stats_for(const std::string& peer, size_t channel) {
    auto it = stats_.find(peer);
    if (it == stats_.end()) it = stats_.emplace(peer, std::vector<LinkStats>(ctx_.config.channels.size())).first;
    return &it->second[channel];
}

bool TcpTransport::counted_nothing(const std::string& peer) const {
    auto it = stats_.find(peer);
    if (it == stats_.end()) return false;
    // Nothing received also means no BEAM link was handed these counters
    // (it may keep a pointer to them for a while: name_watch.hpp).
    for (const auto& s : it->second)
        if (s.messages_sent || s.bytes_sent || s.messages_received || s.bytes_received || s.dropped || s.reconnects ||
            s.undeliverable)
            return false;
    return true;
}

bool TcpTransport::connected_from(const std::string& peer) const {
    for (const auto& c : listener_.connections())
        if (c->established() && c->peer() == peer) return true;
    return false;
}

bool TcpTransport::send(std::string_view peer, const OutMessage& m) {
    auto it = peers_.find(peer);
    if (it == peers_.end() || it->second.control_only) return false;
    PeerConnection& conn = pick_link(it->second, m.channel, m.key, m.pinned);
    if (ctx_.config.channels[m.channel].monotonic) {
        conn.enqueue_monotonic(m.ref.data, m.ref.size, m.payload.data, m.payload.size);
    } else if (!conn.established() && conn.queued_bytes() >= unconnected_limit) {
        ++conn.stats->dropped;
        PLOG(ctx_.log, warning, "messages to %s dropped: not connected and %zu bytes queued (%llu dropped so far)",
             conn.peer().c_str(), conn.queued_bytes(), static_cast<unsigned long long>(conn.stats->dropped));
        return true;
    } else {
        conn.enqueue_message(m.ref.data, m.ref.size, m.payload.data, m.payload.size, m.keep);
    }
    queued(conn);
    return true;
}

void TcpTransport::relay(const std::string& via, std::string_view dest, uint8_t hops, const OutMessage& m) {
    auto it = peers_.find(via);
    if (it == peers_.end() || it->second.control_only) return;
    PeerConnection& conn = pick_link(it->second, m.channel, m.key, m.pinned);
    conn.enqueue_relay(dest, hops, m.ref.data, m.ref.size, m.payload.data, m.payload.size);
    queued(conn);
}

bool TcpTransport::pass_on(InboundLink& from, const std::string& to, std::string_view dest, uint8_t hops, Bytes ref,
                           Bytes payload) {
    auto it = peers_.find(to);
    if (it == peers_.end() || it->second.control_only) return false;
    // Same channel and connection index as it came in on: FIFO from the
    // sender through us to the destination.
    size_t channel = from.channel_index();
    size_t index = from.link_index() % ctx_.config.channels[channel].parallelism;
    PeerConnection& out = *it->second.links[channel_offset_[channel] + index];
    if (dest.empty())
        out.enqueue_message(ref.data, ref.size, payload.data, payload.size);
    else
        out.enqueue_relay(dest, hops, ref.data, ref.size, payload.data, payload.size);
    queued(out);
    return true;
}

void TcpTransport::send_control(const std::string& peer, const ByteBuffer& frame) {
    auto it = peers_.find(peer);
    if (it == peers_.end() || !it->second.up) return;
    PeerConnection& c = *it->second.links[0];
    c.queue().append(frame.data(), frame.size());
    c.flush();
}

void TcpTransport::send_to_all(const ByteBuffer& frame) {
    for (const auto& [name, peer] : peers_)
        if (peer.up) send_control(name, frame);
}

void TcpTransport::answer(InboundLink& from, const ByteBuffer& frame) {
    auto* c = dynamic_cast<PeerConnection*>(&from);
    if (!c || c->answered) return;
    c->answered = true;
    reply(from, frame);
}

void TcpTransport::reply(InboundLink& from, const ByteBuffer& frame) {
    auto* c = dynamic_cast<PeerConnection*>(&from);
    if (!c) return;
    c->queue().append(frame.data(), frame.size());
    c->flush();
}

void TcpTransport::queued(PeerConnection& conn) {
    // Written with the batch (flush_batch); past the high-water mark, the
    // senders of this channel wait (note_drained lets them go again).
    if (!conn.flush_scheduled) {
        conn.flush_scheduled = true;
        to_flush_.push_back(conn.shared_from_this());
    }
    if (conn.established() && !conn.over_high_water && conn.queued_bytes() > high_water) {
        conn.over_high_water = true;
        ++congested_[conn.channel];
    }
}

void TcpTransport::flush_batch() {
    for (auto& c : to_flush_) {
        c->flush_scheduled = false;
        c->flush();
    }
    to_flush_.clear();
}

void TcpTransport::note_drained(PeerConnection& conn) {
    if (!conn.over_high_water) return;
    if (conn.established() && conn.queued_bytes() > high_water / 2) return;
    conn.over_high_water = false;
    if (--congested_[conn.channel] == 0) events_.on_drained(conn.channel);
}

// ---- connection events --------------------------------------------------------

bool TcpTransport::is_control_link(const PeerConnection& conn) const {
    if (conn.side() != PeerConnection::Side::dialer) return false;
    auto it = peers_.find(conn.peer());
    return it != peers_.end() && !it->second.links.empty() && it->second.links[0].get() == &conn;
}

Admission TcpTransport::admit(PeerConnection& conn) {
    using handshake::Refusal;
    const handshake::LinkId& link = conn.link();
    int ch = channel_index(link.channel);
    if (ch < 0 || link.index >= ctx_.config.channels[static_cast<size_t>(ch)].parallelism)
        return {Refusal::channel_mismatch, channels_spec(ctx_.config.channels)};
    if (!available_) return {Refusal::unavailable, "this node's BEAM does not answer"};
    if (blocked(conn.peer())) return {Refusal::not_admitted, "partitioned (fault injection)"};
    if (!events_.admits(conn.peer())) return {Refusal::not_admitted, "not admitted by this topology"};
    return {};
}

void TcpTransport::on_established(PeerConnection& conn) {
    if (conn.side() == PeerConnection::Side::acceptor) {
        // admit() let in only configured channels, so the index exists.
        conn.channel = static_cast<size_t>(channel_index(conn.link().channel));
        conn.stats = stats_for(conn.peer(), conn.channel);
        listener_.authenticated(conn);
        PLOG(ctx_.log, debug, "accepted connection %s", conn.describe().c_str());
        return;
    }
    if (blocked(conn.peer())) {
        conn.drop("broken by fault injection");  // it was connecting when the partition began
        return;
    }
    if (!is_control_link(conn)) return;
    // The control link is up: the peer is; its other links follow.
    Peer& peer = peers_.find(conn.peer())->second;
    peer.up = peer.ever_up = true;
    start_other_links(peer);
    events_.on_peer_up(conn.peer());
}

void TcpTransport::on_connect_failed(PeerConnection& conn, const std::string& why) {
    if (is_control_link(conn)) events_.on_connect_failed(conn.peer(), why, conn.last_refusal());
}

void TcpTransport::on_closed(PeerConnection& conn, const std::string& why) {
    if (conn.over_high_water) note_drained(conn);  // closed: nothing more waits on it
    if (conn.side() == PeerConnection::Side::acceptor) {
        listener_.closed(conn);
        // Its last connection of a peer this node does not link to (whose
        // closing links let go of its counters: set_neighbours).
        if (conn.stats && !peers_.count(conn.peer()) && counted_nothing(conn.peer()) &&
            !connected_from(conn.peer())) {
            std::string name = conn.peer();
            conn.stats = &detached_stats_;
            stats_.erase(name);
        }
        return;
    }
    if (!is_control_link(conn)) return;
    PLOG(ctx_.log, info, "lost connection to %s: %s", conn.peer().c_str(), why.c_str());
    Peer& peer = peers_.find(conn.peer())->second;
    peer.up = false;
    peer.unreachable_since = std::chrono::steady_clock::now();
    events_.on_peer_down(conn.peer(), why);
}

bool TcpTransport::on_frame(PeerConnection& conn, const uint8_t* body, uint32_t len) {
    return events_.on_frame(conn, body, len);
}

bool TcpTransport::on_read_batch_end(PeerConnection& conn) { return events_.on_read_batch_end(conn); }

bool TcpTransport::may_connect(PeerConnection& conn) {
    // A peer's other links dial only while its control link is up: a node
    // that is down costs one connection attempt per back-off, not dozens.
    if (blocked(conn.peer()) || !available_) return false;
    if (is_control_link(conn)) return true;
    auto it = peers_.find(conn.peer());
    return it != peers_.end() && it->second.up;
}

void TcpTransport::on_write_done(PeerConnection& conn) { note_drained(conn); }

}  // namespace partisan
