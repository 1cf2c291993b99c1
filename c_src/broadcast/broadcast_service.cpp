#include "partisan/broadcast/broadcast_service.hpp"

#include "partisan/broadcast/broadcast_payload.hpp"
#include "partisan/broadcast/plumtree_frames.hpp"

#include <algorithm>

namespace partisan {

namespace {

// Room for a user broadcast's channel name and ref around the message.
constexpr size_t payload_overhead = 1 + 256 + 2 + 65535;

plumtree::Params tree_params(const Config& c, bool relays) {
    plumtree::Params p;
    p.graft_timeout = std::chrono::milliseconds(c.graft_timeout_ms);
    p.graft_retry = std::max(std::chrono::milliseconds(1), p.graft_timeout / 2);
    p.lazy_interval = std::chrono::milliseconds(c.lazy_tick_period_ms);
    // The schema caps the window at the cache's lifetime (30 s): a new
    // neighbour can be told only of what is still cached. (A copy a
    // receiver has forgotten it delivered is dropped there as stale.)
    static_assert(plumtree::Params{}.cache_ttl == std::chrono::milliseconds(30000));
    p.catch_up_window = std::min(p.cache_ttl, std::chrono::milliseconds(c.broadcast_catch_up_ms));
    // Without relays no receiver pushes a message on: the sender's own
    // links reach every member.
    if (!relays) p.max_round = 0;
    return p;
}

}  // namespace

BroadcastService::BroadcastService(const Config& config, Logger& log, std::string self, uint64_t incarnation,
                                   bool relays, OverlayClock clock, BroadcastSink& sink)
    : config_(config),
      log_(log),
      clock_(std::move(clock)),
      sink_(sink),
      tree_(self, tree_params(config, relays), incarnation),
      self_(std::move(self)),
      // Ids never repeat across restarts: this start's time in microseconds
      // is above every id the previous start used (one per broadcast).
      next_seq_(incarnation),
      max_payload_(config.max_message_bytes + payload_overhead) {}

int BroadcastService::channel_index(std::string_view name) const {
    const auto& chs = config_.channels;
    for (size_t i = 0; i < chs.size(); ++i)
        if (chs[i].name == name) return static_cast<int>(i);
    return -1;
}

std::string BroadcastService::broadcast(std::string_view channel, Bytes ref, Bytes message) {
    if (channel_index(channel) < 0) return "unknown_channel";
    if (message.size > config_.max_message_bytes) return "too_large";
    auto payload = std::make_shared<const std::string>(make_user_broadcast(channel, ref, message));
    plumtree::Effects effects;
    tree_.broadcast(plumtree::MessageId{self_, next_seq_++}, std::move(payload), clock_(), effects);
    carry_out(effects);
    return {};
}

void BroadcastService::announce(const NodeRef& self) {
    plumtree::Effects effects;
    tree_.broadcast(plumtree::MessageId{self_, next_seq_++}, std::make_shared<const std::string>(make_announce(self)),
                    clock_(), effects);
    carry_out(effects);
}

bool BroadcastService::on_frame(const std::string& from, const uint8_t* body, size_t len) {
    plumtree::Message m;
    if (!parse_plumtree_frame(body, len, max_payload_, m)) return false;
    // A broadcast this node could not deliver is refused before Plumtree
    // takes it (and would push it on).
    if (auto* g = std::get_if<plumtree::Gossip>(&m)) {
        std::string_view payload = *g->payload;
        auto kind = broadcast_kind(payload);
        UserBroadcast user;
        NodeRef origin;
        if (!kind) return false;
        if (*kind == BroadcastKind::user && !parse_user_broadcast(payload, config_.beam_node, user)) return false;
        if (*kind == BroadcastKind::announce && !parse_announce(payload, origin)) return false;
    }
    plumtree::Effects effects;
    tree_.on_message(from, m, clock_(), effects);
    carry_out(effects);
    return true;
}

void BroadcastService::neighbour_up(const std::string& peer) {
    tree_.neighbour_up(peer, clock_());
    reschedule();
}

void BroadcastService::neighbour_down(const std::string& peer) {
    plumtree::Effects effects;
    tree_.neighbour_down(peer, clock_(), effects);
    carry_out(effects);
}

void BroadcastService::tick() {
    requested_.reset();
    plumtree::Effects effects;
    tree_.tick(clock_(), effects);
    carry_out(effects);
}

std::chrono::milliseconds BroadcastService::tick_interval() const {
    return std::chrono::milliseconds(
        std::clamp<unsigned>(std::min(config_.lazy_tick_period_ms, config_.graft_timeout_ms / 2), 10, 1000));
}

void BroadcastService::reschedule() {
    const auto now = clock_();
    const auto due = tree_.next_due(now);
    if (!due) return;
    const auto at = std::max(*due, now + tick_interval());
    if (requested_ && *requested_ <= at) return;
    requested_ = at;
    sink_.wake_broadcast_in(at - now);
}

void BroadcastService::carry_out(plumtree::Effects& effects) {
    for (const auto& [peer, m] : effects.sends) {
        frame_.clear();
        append_plumtree_frame(frame_, m);
        sink_.send_broadcast_frame(peer, frame_);
    }
    for (const auto& d : effects.deliveries) {
        std::string_view payload = *d.payload;
        switch (broadcast_kind(payload).value_or(BroadcastKind::user)) {
            case BroadcastKind::user: {
                UserBroadcast user;
                if (!parse_user_broadcast(payload, config_.beam_node, user)) break;  // checked when it came
                int ch = channel_index(user.channel);
                if (ch < 0) {
                    PLOG(log_, warning, "broadcast from %s dropped: unknown channel %.*s", d.id.origin.c_str(),
                         static_cast<int>(user.channel.size()), user.channel.data());
                    break;
                }
                sink_.deliver_broadcast(static_cast<size_t>(ch), user.ref, user.message);
                break;
            }
            case BroadcastKind::announce: {
                NodeRef origin;
                if (parse_announce(payload, origin) && origin.name != self_ && !d.from.empty())
                    sink_.on_announce(origin, d.from, d.round);
                break;
            }
        }
    }
    reschedule();
}

}  // namespace partisan
