#include "partisan/cluster.hpp"

#include "partisan/control_args.hpp"
#include "partisan/ei_out.hpp"
#include "partisan/shim_events.hpp"

#include <algorithm>
#include <chrono>
#include <random>
#include <stdexcept>

namespace partisan {

namespace {

// Messages queued for a peer that is not connected, beyond which new ones
// are dropped (counted and logged) instead of growing without bound.
constexpr size_t unconnected_limit = 8u << 20;
// How long a join call waits for the first connection (the shim waits 5 s).
constexpr std::chrono::milliseconds join_wait{4000};
constexpr uint32_t max_join_addresses = 16;
constexpr uint32_t max_partition_nodes = 4096;

uint64_t now_micros() {
    using namespace std::chrono;
    return static_cast<uint64_t>(duration_cast<microseconds>(system_clock::now().time_since_epoch()).count());
}

}  // namespace

Cluster::Cluster(Context& ctx)
    : ctx_(ctx),
      listener_(ctx, *this),
      gossip_timer_(ctx.io),
      housekeeping_timer_(ctx.io),
      connect_timer_(ctx.io) {
    const Config& cfg = ctx.config;
    listener_.open(cfg.listen_ip, cfg.listen_port, static_cast<int>(cfg.listen_backlog));
    // Now the port is known: the overlay puts our addresses in what it tells.
    overlay_ = make_overlay(OverlayContext{cfg, ctx.log, *this, advertised_addresses(), now_micros()});
    if (!overlay_) throw std::runtime_error("unknown topology " + cfg.topology);
    for (const auto& ch : cfg.channels) {
        channel_offset_.push_back(links_per_peer_);
        links_per_peer_ += ch.parallelism;
    }
    congested_.assign(cfg.channels.size(), 0);
    register_operations();
}

Cluster::~Cluster() { shutdown(); }

std::vector<Address> Cluster::advertised_addresses() const {
    auto ep = listener_.local_endpoint();
    if (ep.port() == 0) return {};
    uint16_t port = ctx_.config.advertise_port ? ctx_.config.advertise_port : ep.port();
    return {Address{ctx_.config.advertise_ip, port}};
}

void Cluster::start() {
    listener_.start();
    if (overlay_->dynamic()) schedule_gossip();
    schedule_housekeeping();
    if (ctx_.config.beam_timeout_ms > 0)
        control_link().start_probing(std::chrono::milliseconds(ctx_.config.beam_timeout_ms));
    auto addrs = advertised_addresses();
    std::vector<std::pair<std::string, std::string>> channel_links;
    for (const auto& link : beam_links_)
        channel_links.emplace_back(ctx_.config.channels[link->channel()].name, link->node_name());
    ShimEvents::ready(control_link(), addrs, channel_links);
    PLOG(ctx_.log, info, "C-node for %s listening on %s:%u (%s topology)", ctx_.config.beam_node.c_str(),
         addrs.empty() ? "?" : addrs[0].ip.c_str(), addrs.empty() ? 0u : addrs[0].port, overlay_->name());
    reconcile();
}

void Cluster::shutdown() {
    if (stopped_) return;
    stopped_ = true;
    listener_.close();
    gossip_timer_.cancel();
    housekeeping_timer_.cancel();
    connect_timer_.cancel();
    for (auto& [node, joins] : pending_joins_)
        for (auto& j : joins) j.timer->cancel();
    pending_joins_.clear();
    auto peers = std::move(peers_);
    peers_.clear();
    for (auto& [name, peer] : peers)
        for (auto& l : peer.links) l->close();
    for (auto& link : beam_links_) link->close();
}

int Cluster::channel_index(std::string_view name) const {
    const auto& chs = ctx_.config.channels;
    for (size_t i = 0; i < chs.size(); ++i)
        if (chs[i].name == name) return static_cast<int>(i);
    return -1;
}

Admission Cluster::admit(PeerConnection& conn) {
    using handshake::Refusal;
    const handshake::LinkId& link = conn.link();
    int ch = channel_index(link.channel);
    if (ch < 0 || link.index >= ctx_.config.channels[static_cast<size_t>(ch)].parallelism)
        return {Refusal::channel_mismatch, channels_spec(ctx_.config.channels)};
    if (!beam_available_) return {Refusal::unavailable, "this node's BEAM does not answer"};
    if (blocked(conn.peer())) return {Refusal::not_admitted, "partitioned (fault injection)"};
    if (!overlay_->admits(conn.peer())) return {Refusal::not_admitted, "not admitted by this topology"};
    return {};
}

// ---- data path ------------------------------------------------------------

void Cluster::on_forward(const ForwardRequest& req) {
    int ch = channel_index(req.channel);
    if (ch < 0) {
        PLOG(ctx_.log, warning, "message dropped: unknown channel %.*s", static_cast<int>(req.channel.size()),
             req.channel.data());
        return;
    }
    if (req.message.size > ctx_.config.max_message_bytes) {
        PLOG(ctx_.log, error, "message of %zu bytes to %.*s dropped: larger than max_message_size (%u)",
             req.message.size, static_cast<int>(req.node.size()), req.node.data(), ctx_.config.max_message_bytes);
        return;
    }
    auto it = peers_.find(req.node);
    if (it == peers_.end()) {
        if (relay(req, static_cast<size_t>(ch))) return;
        // A burst to a node that just left: the logger rate-limits this line.
        ++dropped_;
        PLOG(ctx_.log, warning, "message to %.*s dropped: not a member (%llu such drops so far)",
             static_cast<int>(req.node.size()), req.node.data(), static_cast<unsigned long long>(dropped_));
        return;
    }
    const auto& chan = ctx_.config.channels[static_cast<size_t>(ch)];
    PeerConnection& conn = *pick_link(it->second, static_cast<size_t>(ch), req.key,
                                      req.flags & ForwardRequest::flag_pinned);
    if (chan.monotonic) {
        conn.enqueue_monotonic(req.server_ref.data, req.server_ref.size, req.message.data, req.message.size);
    } else if (!conn.established() && conn.queued_bytes() >= unconnected_limit) {
        ++conn.stats->dropped;
        PLOG(ctx_.log, warning, "messages to %s dropped: not connected and %zu bytes queued (%llu dropped so far)",
             conn.peer().c_str(), conn.queued_bytes(), static_cast<unsigned long long>(conn.stats->dropped));
        return;
    } else {
        conn.enqueue_message(req.server_ref.data, req.server_ref.size, req.message.data, req.message.size, req.keep);
    }
    queued(conn);
}

void Cluster::queued(PeerConnection& conn) {
    // Flush with the batch; past the high-water mark, hold back the senders
    // of this channel (note_drained lets them go again).
    schedule_flush(conn);
    if (conn.established() && !conn.over_high_water && conn.queued_bytes() > high_water) {
        conn.over_high_water = true;
        ++congested_[conn.channel];
    }
}

bool Cluster::relay(const ForwardRequest& req, size_t channel) {
    // No links to the destination: hand it to a peer that relays for us.
    auto via = overlay_->relay_for(std::string(req.node));
    if (!via) return false;
    Peer& peer = peers_.find(*via)->second;
    PeerConnection& conn = *pick_link(peer, channel, req.key, req.flags & ForwardRequest::flag_pinned);
    conn.enqueue_relay(req.node, req.server_ref.data, req.server_ref.size, req.message.data, req.message.size);
    queued(conn);
    return true;
}

bool Cluster::handle_relay_frame(PeerConnection& conn, const uint8_t* body, uint32_t len) {
    // A message for another node, sent to us to pass on (we are its relay).
    std::string_view dest_view;
    Bytes ref, payload;
    if (!parse_relay(body + 1, len - 1, dest_view, ref, payload)) return false;
    std::string dest(dest_view);
    if (dest == overlay_->self()) {
        deliver_local(conn, ref, payload);
        return true;
    }
    auto it = peers_.find(dest);
    if (it == peers_.end()) {
        ++conn.stats->dropped;
        PLOG(ctx_.log, warning, "relayed message for %s dropped: no link to it", dest.c_str());
        return true;
    }
    // Same channel and connection index as it came in on: FIFO from the
    // sender through us to the destination.
    size_t base = channel_offset_[conn.channel];
    size_t index = conn.link().index % ctx_.config.channels[conn.channel].parallelism;
    PeerConnection& out = *it->second.links[base + index];
    out.enqueue_message(ref.data, ref.size, payload.data, payload.size);
    queued(out);
    return true;
}

PeerConnection* Cluster::pick_link(Peer& peer, size_t channel, uint64_t key, bool pinned) {
    // FIFO per sender holds only while its connection stays up (routing.hpp).
    size_t base = channel_offset_[channel];
    size_t i = select_link(key, ctx_.config.channels[channel].parallelism, pinned,
                           [&](size_t k) { return peer.links[base + k]->established(); });
    return peer.links[base + i].get();
}

LinkStats* Cluster::stats_for(const std::string& peer, size_t channel) {
    auto it = stats_.find(peer);
    if (it == stats_.end()) it = stats_.emplace(peer, std::vector<LinkStats>(ctx_.config.channels.size())).first;
    return &it->second[channel];
}

void Cluster::schedule_flush(PeerConnection& conn) {
    if (conn.flush_scheduled) return;
    conn.flush_scheduled = true;
    to_flush_.push_back(conn.shared_from_this());
}

bool Cluster::on_beam_batch_end(BeamLink& link) {
    // One write per connection for everything this batch queued.
    for (auto& c : to_flush_) {
        c->flush_scheduled = false;
        c->flush();
    }
    to_flush_.clear();
    // Only this channel's senders wait for this channel's congested links.
    return congested_[link.channel()] == 0;
}

void Cluster::note_drained(PeerConnection& conn) {
    if (!conn.over_high_water) return;
    if (conn.established() && conn.queued_bytes() > high_water / 2) return;
    conn.over_high_water = false;
    if (--congested_[conn.channel] == 0 && conn.channel < beam_links_.size())
        beam_links_[conn.channel]->resume_reading();
}

void Cluster::on_write_done(PeerConnection& conn) { note_drained(conn); }

bool Cluster::on_frame(PeerConnection& conn, const uint8_t* body, uint32_t len) {
    switch (body[0]) {
        case frame_message: return handle_message_frame(conn, body, len);
        case frame_relay: return handle_relay_frame(conn, body, len);
        default: return overlay_->handles_frame(body[0]) && handle_overlay_frame(conn, body, len);
    }
}

bool Cluster::handle_message_frame(PeerConnection& conn, const uint8_t* body, uint32_t len) {
    Bytes ref, payload;
    if (!parse_addressed(body + 1, len - 1, ctx_.config.beam_node, ref, payload)) return false;
    deliver_local(conn, ref, payload);
    return true;
}

void Cluster::deliver_local(PeerConnection& conn, Bytes ref, Bytes payload) {
    // Each channel has its own BEAM link, so FIFO per channel holds end to end.
    ++conn.stats->messages_received;
    conn.stats->bytes_received += payload.size;
    beam_links_[conn.channel]->deliver(ref, payload,
                                       payload.size >= zero_copy_threshold ? conn.share_read_buffer() : SharedBytes{},
                                       conn.stats);
}

bool Cluster::may_connect(PeerConnection& conn) {
    // A peer's other links dial only while its control link is up: a node
    // that is down costs one connection attempt per back-off, not dozens.
    if (blocked(conn.peer()) || !beam_available_) return false;
    if (is_control_link(conn)) return true;
    auto it = peers_.find(conn.peer());
    return it != peers_.end() && it->second.up;
}

bool Cluster::on_read_batch_end(PeerConnection& conn) {
    BeamLink& beam = *beam_links_[conn.channel];
    beam.flush();
    if (!beam.congested()) return true;
    beam.when_drained([weak = std::weak_ptr<PeerConnection>(conn.shared_from_this())] {
        if (auto c = weak.lock()) c->resume_reading();
    });
    return false;
}

void Cluster::on_beam_responsive(bool responsive) {
    // A node whose BEAM is stopped or hung must look down to the others,
    // as with net_ticktime: its C-node drops every peer connection and
    // refuses new ones until the BEAM answers again.
    beam_available_ = responsive;
    if (!responsive) {
        PLOG(ctx_.log, warning, "dropping every peer connection until this node's BEAM answers again");
        for (auto& [name, peer] : peers_)
            for (auto& l : peer.links)
                if (l->established()) l->drop("this node's BEAM does not answer");
        for (auto& c : listener_.connections()) c->close();
        return;
    }
    auto now = std::chrono::steady_clock::now();
    for (auto& [name, peer] : peers_) {
        peer.unreachable_since = now;  // we were the one away
        peer.links[0]->retry_now();
    }
}

void Cluster::on_beam_closed(BeamLink& link, const std::string& why) {
    PLOG(ctx_.log, info, "link %s to BEAM %s closed (%s); exiting", link.node_name().c_str(),
         ctx_.config.beam_node.c_str(), why.c_str());
    shutdown();
    ctx_.io.stop();
}

// ---- connections ----------------------------------------------------------

bool Cluster::up(const std::string& peer) const {
    auto it = peers_.find(peer);
    return it != peers_.end() && it->second.up;
}

bool Cluster::never_reached(const std::string& peer) const {
    auto it = peers_.find(peer);
    return it != peers_.end() && !it->second.up && !it->second.ever_up;
}

std::vector<std::string> Cluster::up_peers() const {
    std::vector<std::string> out;  // in name order (peers_ is a map)
    for (const auto& [name, peer] : peers_)
        if (peer.up) out.push_back(name);
    return out;
}

bool Cluster::is_control_link(const PeerConnection& conn) const {
    if (conn.role() != PeerConnection::Role::dialer) return false;
    auto it = peers_.find(conn.peer());
    return it != peers_.end() && !it->second.links.empty() && it->second.links[0].get() == &conn;
}

void Cluster::on_established(PeerConnection& conn) {
    if (conn.role() == PeerConnection::Role::acceptor) {
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
    // The control link is up: tell the peer all we know at once, so a join
    // spreads without waiting for the gossip timer; the other links follow.
    Peer& peer = peers_.find(conn.peer())->second;
    peer.up = peer.ever_up = true;
    start_other_links(peer);
    OverlayOutput out;
    overlay_->peer_up(conn.peer(), out);
    apply(out);
    update_members();
    finish_joins(conn.peer(), {});
}

void Cluster::on_connect_failed(PeerConnection& conn, const std::string& why) {
    if (is_control_link(conn)) finish_joins(conn.peer(), why, &conn.last_refusal());
}

void Cluster::finish_joins(const std::string& node, const std::string& failure, const RefusalInfo* refusal) {
    auto it = pending_joins_.find(node);
    if (it == pending_joins_.end()) return;
    auto joins = std::move(it->second);
    pending_joins_.erase(it);
    if (!failure.empty()) {
        // A join that cannot reach its node leaves no trace: stop dialing it.
        PLOG(ctx_.log, warning, "join of %s failed: %s", node.c_str(), failure.c_str());
        OverlayOutput out;
        overlay_->join_failed(node, out);
        apply(out);
    }
    bool refused = refusal && refusal->reason != handshake::Refusal::none;
    bool mismatch = refused && refusal->proven && refusal->reason == handshake::Refusal::channel_mismatch;
    for (auto& j : joins) {
        j.timer->cancel();
        if (failure.empty()) {
            j.call.ok();
        } else if (mismatch) {
            // {error, {channel_mismatch, Node, #{local => Channels, remote => Channels}}}
            j.call.error([&](ei_x_buff& x) {
                ei_x_encode_tuple_header(&x, 3);
                ei_x_encode_atom(&x, "channel_mismatch");
                encode_atom(x, node);
                ei_x_encode_map_header(&x, 2);
                ei_x_encode_atom(&x, "local");
                encode_channels(x, channels_spec(ctx_.config.channels));
                ei_x_encode_atom(&x, "remote");
                encode_channels(x, refusal->text);
            });
        } else {
            // {error, {refused | unreachable, Node, <<"why">>}}
            j.call.error([&](ei_x_buff& x) {
                ei_x_encode_tuple_header(&x, 3);
                ei_x_encode_atom(&x, refused ? "refused" : "unreachable");
                encode_atom(x, node);
                ei_x_encode_binary(&x, failure.data(), static_cast<long>(failure.size()));
            });
        }
    }
}

void Cluster::on_closed(PeerConnection& conn, const std::string& why) {
    if (conn.over_high_water) {
        conn.over_high_water = true;  // note_drained clears it
        note_drained(conn);
    }
    if (conn.role() == PeerConnection::Role::acceptor) {
        listener_.closed(conn);
        return;
    }
    if (!is_control_link(conn)) return;
    PLOG(ctx_.log, info, "lost connection to %s: %s", conn.peer().c_str(), why.c_str());
    Peer& peer = peers_.find(conn.peer())->second;
    peer.up = false;
    peer.unreachable_since = std::chrono::steady_clock::now();
    update_members();
}

// ---- membership -----------------------------------------------------------

void Cluster::reconcile() {
    // Links to every neighbour the overlay names, none to others.
    std::vector<Neighbour> wanted = overlay_->neighbours();
    for (const auto& n : wanted) {
        const std::string& name = n.name;
        auto it = peers_.find(name);
        if (it != peers_.end()) {
            for (auto& l : it->second.links) l->set_addresses(n.addrs);
            set_probing(it->second, n.down);
            continue;
        }
        Peer peer;
        peer.unreachable_since = std::chrono::steady_clock::now();
        for (size_t c = 0; c < ctx_.config.channels.size(); ++c) {
            const auto& ch = ctx_.config.channels[c];
            for (unsigned i = 0; i < ch.parallelism; ++i) {
                auto link = PeerConnection::make_dialer(ctx_, *this, name,
                                                        handshake::LinkId{ch.name, static_cast<uint16_t>(i)}, n.addrs);
                link->channel = c;
                link->stats = stats_for(name, c);
                peer.links.push_back(std::move(link));
            }
        }
        auto& added = peers_.emplace(name, std::move(peer)).first->second;
        set_probing(added, n.down);
        // The control link connects at once; the others once it is up.
        added.links[0]->start();
    }
    for (auto it = peers_.begin(); it != peers_.end();) {
        if (std::any_of(wanted.begin(), wanted.end(), [&](const Neighbour& n) { return n.name == it->first; })) {
            ++it;
            continue;
        }
        auto links = std::move(it->second.links);
        it = peers_.erase(it);
        for (auto& l : links) l->close_after_flush();  // what is queued still goes out
    }
    update_members();
    report_contacts();
}

void Cluster::report_contacts() {
    // The shim keeps them, so that a restarted C-node can rejoin.
    auto now = overlay_->contacts();
    if (now == contacts_ || beam_links_.empty()) return;
    contacts_ = std::move(now);
    ShimEvents::contacts(control_link(), contacts_);
}

void Cluster::start_other_links(Peer& peer) {
    // One per connect_interval, so a node that many nodes discover at the
    // same moment is not hit by nodes x channels x parallelism connects.
    for (size_t i = 1; i < peer.links.size(); ++i) connect_queue_.push_back(peer.links[i]);
    pace_connects();
}

void Cluster::set_probing(Peer& peer, bool down) {
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

void Cluster::pace_connects() {
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

void Cluster::partition(const std::vector<std::string>& nodes) {
    for (const auto& n : nodes) {
        blocked_.insert(n);
        if (auto it = peers_.find(n); it != peers_.end())
            for (auto& l : it->second.links)
                if (l->established()) l->drop("broken by fault injection");
    }
    for (auto& c : listener_.connections())
        if (blocked(c->peer())) c->close();
}

void Cluster::heal() {
    blocked_.clear();
    for (auto& [name, peer] : peers_)
        for (auto& l : peer.links) l->retry_now();
}

void Cluster::update_members() {
    std::vector<std::string> now{overlay_->self()};
    for (const auto& [name, peer] : peers_)
        if (peer.up) now.push_back(name);
    std::sort(now.begin(), now.end());
    // Reachable: the members, plus nodes a connected peer relays to.
    std::vector<std::string> reachable = now;
    for (const auto& name : overlay_->others())
        if (!std::binary_search(now.begin(), now.end(), name) && overlay_->relay_for(name)) reachable.push_back(name);
    std::sort(reachable.begin(), reachable.end());
    if (now == members_ && reachable == reachable_) return;
    reachable_ = reachable;
    std::vector<std::string> up, down;
    std::set_difference(now.begin(), now.end(), members_.begin(), members_.end(), std::back_inserter(up));
    std::set_difference(members_.begin(), members_.end(), now.begin(), now.end(), std::back_inserter(down));
    members_ = now;
    if (beam_links_.empty()) return;
    BeamLink& beam = control_link();
    for (const auto& n : down) {
        PLOG(ctx_.log, info, "node down: %s", n.c_str());
        ShimEvents::node_down(beam, n);
    }
    for (const auto& n : up) {
        if (n == overlay_->self()) continue;
        PLOG(ctx_.log, info, "node up: %s", n.c_str());
        ShimEvents::node_up(beam, n);
    }
    ShimEvents::members(beam, members_, reachable_);
}

void Cluster::schedule_housekeeping() {
    housekeeping_timer_.expires_after(std::chrono::seconds(1));
    housekeeping_timer_.async_wait([this](const asio::error_code& ec) {
        if (ec || stopped_) return;
        check_unreachable();
        schedule_housekeeping();
    });
}

void Cluster::check_unreachable() {
    // A member this node links to, unreachable for down_after, is marked
    // down (and the mark gossiped): from then on it is only probed. If it is
    // alive, it refutes the mark when it hears of it.
    if (ctx_.config.down_after_ms == 0 || !beam_available_) return;
    auto now = std::chrono::steady_clock::now();
    auto limit = std::chrono::milliseconds(ctx_.config.down_after_ms);
    std::vector<std::string> down;
    for (const auto& [name, peer] : peers_)
        if (!peer.up && !peer.probing && now - peer.unreachable_since > limit) down.push_back(name);
    if (down.empty()) return;
    OverlayOutput out;
    overlay_->unreachable(down, out);
    apply(out);
}

void Cluster::apply(OverlayOutput& out, PeerConnection* source) {
    // Frames first: a leave's gossip goes out before its links close.
    for (auto& [name, frame] : out.to_peers) {
        auto it = peers_.find(name);
        if (it == peers_.end() || !it->second.up) continue;
        PeerConnection& c = *it->second.links[0];
        c.queue().append(frame.data(), frame.size());
        c.flush();
    }
    if (out.answer && source) {
        source->queue().append(out.answer->data(), out.answer->size());
        source->flush();
    }
    if (out.neighbours_changed) reconcile();
}

void Cluster::schedule_gossip() {
    gossip_timer_.expires_after(std::chrono::milliseconds(ctx_.config.gossip_interval_ms));
    gossip_timer_.async_wait([this](const asio::error_code& ec) {
        if (ec || stopped_) return;
        OverlayOutput out;
        overlay_->tick(out);
        apply(out);
        schedule_gossip();
    });
}

bool Cluster::handle_overlay_frame(PeerConnection& conn, const uint8_t* body, uint32_t len) {
    OverlayOutput out;
    if (!overlay_->on_frame(conn.peer(), body, len, out)) return false;
    // An answer goes back once per accepted connection: on the first
    // frame of a new contact (push-pull).
    bool answer = conn.role() == PeerConnection::Role::acceptor && !conn.gossip_answered;
    if (answer) conn.gossip_answered = true;
    apply(out, answer ? &conn : nullptr);
    return true;
}

void Cluster::leave_cluster() {
    OverlayOutput out;
    overlay_->leave(out);
    apply(out);
}

// ---- control calls from the shim ------------------------------------------

void Cluster::encode_stats(ei_x_buff& x) {
    // #{Node => #{Channel => #{connections => N, messages_sent => N, ...}}}
    const auto& chs = ctx_.config.channels;
    ei_x_encode_map_header(&x, static_cast<long>(stats_.size()));
    for (const auto& [node, per_channel] : stats_) {
        encode_atom(x, node);
        ei_x_encode_map_header(&x, static_cast<long>(chs.size()));
        auto peer = peers_.find(node);
        for (size_t c = 0; c < chs.size(); ++c) {
            long connections = 0;
            unsigned long long queued = 0, queued_messages = 0;
            if (peer != peers_.end())
                for (unsigned i = 0; i < chs[c].parallelism; ++i) {
                    const auto& l = peer->second.links[channel_offset_[c] + i];
                    connections += l->established() ? 1 : 0;
                    queued += l->queued_bytes();
                    queued_messages += l->queued_messages();
                }
            const LinkStats& st = per_channel[c];
            encode_atom(x, chs[c].name);
            ei_x_encode_map_header(&x, 10);
            auto field = [&x](const char* k, unsigned long long v) {
                ei_x_encode_atom(&x, k);
                ei_x_encode_ulonglong(&x, v);
            };
            field("connections", static_cast<unsigned long long>(connections));
            field("messages_sent", st.messages_sent);
            field("bytes_sent", st.bytes_sent);
            field("messages_received", st.messages_received);
            field("bytes_received", st.bytes_received);
            field("messages_queued", queued_messages);
            field("queued_bytes", queued);
            field("dropped", st.dropped);
            field("reconnects", st.reconnects);
            field("undeliverable", st.undeliverable);
        }
    }
}

void Cluster::on_call(Bytes from_pid, Bytes ref, etf::Reader& request) {
    ReplySender send = [this](Bytes to, const ei_x_buff& term) { control_link().send_to_pid(to, term); };
    control_.dispatch(ControlCall(std::move(send), from_pid, ref), request);
}

void Cluster::register_operations() {
    // Read-only views.
    control_.add("members", 0, [this](const ControlArgs&, ControlCall& call) {
        call.ok([this](ei_x_buff& x) { encode_atoms(x, members_); });
        return true;
    });
    control_.add("unreachable", 0, [this](const ControlArgs&, ControlCall& call) {
        call.ok([this](ei_x_buff& x) { encode_unreachable(x); });
        return true;
    });
    control_.add("stats", 0, [this](const ControlArgs&, ControlCall& call) {
        call.ok([this](ei_x_buff& x) { encode_stats(x); });
        return true;
    });
    // Membership changes; a static cluster is its configuration
    // (docs/ARCHITECTURE.md).
    auto not_static = [this](ControlCall& call) {
        if (overlay_->dynamic()) return true;
        call.error("not_supported");
        return false;
    };
    control_.add("leave", 0, [this, not_static](const ControlArgs&, ControlCall& call) {
        if (!not_static(call)) return true;
        PLOG(ctx_.log, notice, "leaving the cluster");
        leave_cluster();
        call.ok();
        return true;
    });
    control_.add("leave", 1, [this, not_static](const ControlArgs& args, ControlCall& call) {
        std::string node;
        if (!arg_node(args[0], node)) return false;
        if (not_static(call)) remove_member(call, node);
        return true;
    });
    control_.add("join", 2, [this, not_static](const ControlArgs& args, ControlCall& call) {
        std::string node;
        std::vector<Address> addrs;
        if (!arg_node(args[0], node) || !arg_addresses(args[1], 1, max_join_addresses, addrs)) return false;
        if (not_static(call)) join(call, node, addrs);
        return true;
    });
    // Fault injection, for tests: {fault, heal}, {fault, partition, Nodes},
    // {fault, close_link, Node, Channel, Index}.
    control_.add("fault", 1, [this](const ControlArgs& args, ControlCall& call) {
        std::string_view kind;
        if (!arg_atom(args[0], kind) || kind != "heal") return false;
        PLOG(ctx_.log, notice, "fault injection: partitions healed");
        heal();
        call.ok();
        return true;
    });
    control_.add("fault", 2, [this](const ControlArgs& args, ControlCall& call) {
        std::string_view kind;
        std::vector<std::string> nodes;
        if (!arg_atom(args[0], kind) || kind != "partition" || !arg_nodes(args[1], 0, max_partition_nodes, nodes))
            return false;
        PLOG(ctx_.log, notice, "fault injection: partitioned from %zu node(s)", nodes.size());
        partition(nodes);
        call.ok();
        return true;
    });
    control_.add("fault", 4, [this](const ControlArgs& args, ControlCall& call) {
        std::string_view kind, channel;
        std::string node;
        uint64_t index;
        if (!arg_atom(args[0], kind) || kind != "close_link" || !arg_node(args[1], node) ||
            !arg_atom(args[2], channel) || !arg_uint(args[3], index) || !close_link(node, channel, index))
            return false;
        call.ok();
        return true;
    });
}

void Cluster::join(ControlCall& call, const std::string& node, const std::vector<Address>& addrs) {
    if (node == overlay_->self()) {
        call.error("self_join");
        return;
    }
    PLOG(ctx_.log, info, "joining %s at %s:%u", node.c_str(), addrs[0].ip.c_str(), addrs[0].port);
    OverlayOutput out;
    overlay_->join(node, addrs, now_micros(), out);
    apply(out);
    auto peer = peers_.find(node);
    if (peer != peers_.end() && peer->second.up) {
        call.ok();
        return;
    }
    // Answer once the first connection is up or has failed, so a join to a
    // node that refuses us (wrong secret, other channels) is an error.
    auto timer = std::make_shared<asio::steady_timer>(ctx_.io, join_wait);
    timer->async_wait([this, node](const asio::error_code& ec) {
        if (!ec) finish_joins(node, "no answer within " + std::to_string(join_wait.count()) + " ms");
    });
    pending_joins_[node].push_back(PendingJoin{std::move(call), timer});
}

void Cluster::remove_member(ControlCall& call, const std::string& node) {
    OverlayOutput out;
    if (!overlay_->remove(node, out)) {
        call.error("unknown_node", node);
        return;
    }
    apply(out);
    call.ok();
}

bool Cluster::close_link(const std::string& node, std::string_view channel, uint64_t index) {
    // Tests break one connection as a network fault would.
    auto peer = peers_.find(node);
    int ch = channel_index(channel);
    if (peer == peers_.end() || ch < 0 || index >= ctx_.config.channels[static_cast<size_t>(ch)].parallelism)
        return false;
    PLOG(ctx_.log, notice, "fault injection: breaking connection %zu of channel %.*s to %s", static_cast<size_t>(index),
         static_cast<int>(channel.size()), channel.data(), node.c_str());
    peer->second.links[channel_offset_[static_cast<size_t>(ch)] + index]->drop("broken by fault injection");
    return true;
}

void Cluster::encode_unreachable(ei_x_buff& x) {
    // #{Node => #{status => unreachable | down, for_ms => N}}
    auto now = std::chrono::steady_clock::now();
    long n = 0;
    for (const auto& [name, peer] : peers_) n += peer.up ? 0 : 1;
    ei_x_encode_map_header(&x, n);
    for (const auto& [name, peer] : peers_) {
        if (peer.up) continue;
        encode_atom(x, name);
        ei_x_encode_map_header(&x, 2);
        ei_x_encode_atom(&x, "status");
        ei_x_encode_atom(&x, peer.probing ? "down" : "unreachable");
        ei_x_encode_atom(&x, "for_ms");
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - peer.unreachable_since).count();
        ei_x_encode_ulonglong(&x, static_cast<unsigned long long>(ms));
    }
}

}  // namespace partisan
