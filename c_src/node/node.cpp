#include "partisan/node/node.hpp"

#include "partisan/codec/ei_out.hpp"
#include "partisan/codec/peer_frames.hpp"
#include "partisan/beam/shim_events.hpp"
#include "partisan/transport/transport_registry.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace partisan {

Node::Node(Context& ctx)
    : ctx_(ctx),
      transport_(make_transport(ctx, *this)),
      overlay_timer_(ctx.io),
      broadcast_timer_(ctx.io),
      housekeeping_timer_(ctx.io) {
    // The listener is bound: the overlay puts our addresses in what it tells.
    uint64_t incarnation = wall_micros();
    overlay_ = make_overlay(OverlayContext{ctx.config, ctx.log, *transport_, transport_->local_addresses(), incarnation});
    if (!overlay_) throw std::runtime_error("unknown topology " + ctx.config.topology);
    router_ = std::make_unique<Router>(ctx, *transport_, *overlay_);
    broadcast_ = std::make_unique<BroadcastService>(ctx.config, ctx.log, overlay_->self(), incarnation,
                                                    overlay_->broadcast_relays(), steady_millis, *this);
    register_operations();
}

Node::~Node() { shutdown(); }

uint64_t Node::wall_micros() {
    using namespace std::chrono;
    return static_cast<uint64_t>(duration_cast<microseconds>(system_clock::now().time_since_epoch()).count());
}

void Node::attach(std::vector<std::shared_ptr<BeamLink>> links) {
    beam_links_ = std::move(links);
    std::vector<BeamChannel*> beams;
    for (auto& l : beam_links_) beams.push_back(l.get());
    router_->attach(std::move(beams));
}

void Node::attach_standalone(std::vector<BeamChannel*> channels) { router_->attach(std::move(channels)); }

void Node::control(etf::Reader request, ReplySender send, Bytes ref) {
    control_.dispatch(ControlCall(std::move(send), Bytes{}, ref), request);
}

void Node::start() {
    transport_->start();
    arm_overlay_tick();
    schedule_housekeeping();
    auto addrs = transport_->local_addresses();
    if (!beam_links_.empty()) {
        if (ctx_.config.beam_timeout_ms > 0)
            shim_link().start_probing(std::chrono::milliseconds(ctx_.config.beam_timeout_ms));
        std::vector<std::pair<std::string, std::string>> channel_links;
        for (const auto& link : beam_links_)
            channel_links.emplace_back(ctx_.config.channels[link->channel()].name, link->node_name());
        ShimEvents::ready(shim_link(), addrs, channel_links);
    }
    if (addrs.empty())
        PLOG(ctx_.log, info, "C-node for %s started (%s topology, no listener)", ctx_.config.beam_node.c_str(),
             overlay_->name());
    else
        PLOG(ctx_.log, info, "C-node for %s listening on %s:%u (%s topology)", ctx_.config.beam_node.c_str(),
             addrs[0].ip.c_str(), addrs[0].port, overlay_->name());
    reconcile();
}

void Node::shutdown() {
    if (stopped_) return;
    stopped_ = true;
    overlay_timer_.cancel();
    broadcast_timer_.cancel();
    housekeeping_timer_.cancel();
    for (auto& [node, joins] : pending_joins_)
        for (auto& j : joins) j.timer->cancel();
    pending_joins_.clear();
    transport_->shutdown();
    for (auto& link : beam_links_) link->close();
}

void Node::on_beam_closed(BeamLink& link, const std::string& why) {
    PLOG(ctx_.log, info, "link %s to BEAM %s closed (%s); exiting", link.node_name().c_str(),
         ctx_.config.beam_node.c_str(), why.c_str());
    shutdown();
    ctx_.io.stop();
}

// ---- peers up and down, frames ---------------------------------------------

void Node::on_peer_up(const std::string& peer) {
    OverlayOutput out;
    overlay_->peer_up(peer, out);
    apply(out);
    update_members();
    finish_joins(peer, {});
}

void Node::on_peer_down(const std::string& peer, const std::string&) {
    OverlayOutput out;
    overlay_->peer_down(peer, out);
    apply(out);
    update_members();
}

void Node::on_connect_failed(const std::string& peer, const std::string& why, const RefusalInfo& refusal) {
    OverlayOutput out;
    overlay_->connect_failed(peer, out);
    apply(out);
    finish_joins(peer, why, &refusal);
}

void Node::on_announce(const NodeRef& origin, const std::string& via, uint16_t hops) {
    OverlayOutput out;
    overlay_->on_announce(origin, via, hops, out);
    apply(out);
}

bool Node::on_frame(InboundLink& from, const uint8_t* body, uint32_t len) {
    switch (body[0]) {
        case frame_message: return router_->on_message_frame(from, body, len);
        case frame_relay: return router_->on_relay_frame(from, body, len);
        case frame_plumtree: return broadcast_->on_frame(from.peer(), body, len);
        default: break;
    }
    if (!overlay_->handles_frame(body[0])) return false;
    OverlayOutput out;
    if (!overlay_->on_frame(from.peer(), body, len, out)) return false;
    apply(out, &from);
    return true;
}

void Node::on_connectivity(bool connected) {
    OverlayOutput out;
    overlay_->connectivity(connected, out);
    apply(out);
}

void Node::apply(OverlayOutput& out, InboundLink* from) {
    // Frames first: a leave's gossip goes out before its links close.
    for (auto& frame : out.to_all) transport_->send_to_all(frame);
    for (auto& [peer, frame] : out.to_peers) transport_->send_control(peer, frame);
    if (out.answer && from) transport_->answer(*from, *out.answer);
    if (from)
        for (auto& frame : out.replies) transport_->reply(*from, frame);
    if (out.neighbours_changed)
        reconcile();
    else if (out.reachable_changed)
        update_members();
    if (out.announce) broadcast_->announce(NodeRef{overlay_->self(), transport_->local_addresses()});
    arm_overlay_tick();
}

// ---- membership -------------------------------------------------------------

void Node::reconcile() {
    transport_->set_neighbours(overlay_->neighbours());
    update_members();
    report_contacts();
}

void Node::report_contacts() {
    // The shim keeps them, so that a restarted C-node can rejoin.
    auto now = overlay_->contacts();
    if (now == contacts_ || beam_links_.empty()) return;
    contacts_ = std::move(now);
    ShimEvents::contacts(shim_link(), contacts_);
}

void Node::update_members() {
    std::vector<std::string> now{overlay_->self()};
    for (auto& name : transport_->up_peers())
        if (overlay_->member_link(name)) now.push_back(std::move(name));
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
    // Broadcasts run over the member links.
    for (const auto& n : down) broadcast_->neighbour_down(n);
    for (const auto& n : up)
        if (n != overlay_->self()) broadcast_->neighbour_up(n);
    if (beam_links_.empty()) return;
    BeamLink& beam = shim_link();
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

void Node::schedule_housekeeping() {
    housekeeping_timer_.expires_after(std::chrono::seconds(1));
    housekeeping_timer_.async_wait([this](const asio::error_code& ec) {
        if (ec || stopped_) return;
        check_unreachable();
        schedule_housekeeping();
    });
}

void Node::check_unreachable() {
    // A neighbour unreachable for down_after is marked down (and the mark
    // gossiped): from then on it is only probed. If it is alive, it refutes
    // the mark when it hears of it.
    if (ctx_.config.down_after_ms == 0) return;
    auto down = transport_->unreachable_for(std::chrono::milliseconds(ctx_.config.down_after_ms));
    if (down.empty()) return;
    OverlayOutput out;
    overlay_->unreachable(down, out);
    apply(out);
}

void Node::wake_broadcast_in(std::chrono::milliseconds delay) {
    if (stopped_) return;
    broadcast_timer_.expires_after(delay);
    broadcast_timer_.async_wait([this](const asio::error_code& ec) {
        if (ec || stopped_) return;
        broadcast_->tick();
    });
}

void Node::arm_overlay_tick() {
    if (stopped_ || !overlay_->dynamic()) return;
    auto delay = overlay_->next_tick();
    if (!delay) return;
    auto at = asio::steady_timer::clock_type::now() + *delay;
    if (overlay_due_ && *overlay_due_ <= at) return;
    overlay_due_ = at;
    overlay_timer_.expires_at(at);
    overlay_timer_.async_wait([this](const asio::error_code& ec) {
        if (ec || stopped_) return;
        overlay_due_.reset();
        OverlayOutput out;
        overlay_->tick(out);
        apply(out);  // sets the timer again
    });
}

void Node::leave_cluster() {
    OverlayOutput out;
    overlay_->leave(out);
    apply(out);
}

}  // namespace partisan
