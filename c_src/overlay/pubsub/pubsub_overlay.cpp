#include "partisan/overlay/pubsub/pubsub_overlay.hpp"

#include "partisan/codec/peer_frames.hpp"

#include <algorithm>

namespace partisan {

ByteBuffer presence_frame(PresenceKind kind) {
    ByteBuffer b;
    size_t at = begin_frame(b, frame_presence);
    b.put_u8(static_cast<uint8_t>(kind));
    end_frame(b, at);
    return b;
}

PubsubOverlay::PubsubOverlay(const OverlayContext& ctx)
    : config_(ctx.config), log_(ctx.log), clock_(ctx.clock), self_(ctx.config.beam_node) {}

void PubsubOverlay::announce(PresenceKind kind, OverlayOutput& out) {
    out.to_all.push_back(presence_frame(kind));
    next_announce_ = clock_() + std::chrono::milliseconds(config_.announce_interval_ms);
}

bool PubsubOverlay::heard(const std::string& node) {
    auto it = members_.find(node);
    if (it != members_.end()) {
        it->second = clock_();
        return false;
    }
    if (members_.size() + 1 >= config_.max_members) {
        PLOG(log_, warning, "pubsub: %s not taken in: max_members (%u) reached", node.c_str(), config_.max_members);
        return false;
    }
    members_.emplace(node, clock_());
    PLOG(log_, info, "pubsub: %s is present", node.c_str());
    return true;
}

void PubsubOverlay::join(const std::string& node, const std::vector<Address>&, uint64_t, OverlayOutput& out) {
    // Membership comes from the broker; the node named is asked to answer
    // at once, so the join returns as soon as it is heard.
    if (left_) {
        left_ = false;
        if (connected_) announce(PresenceKind::hello, out);
    }
    out.to_peers.emplace_back(node, presence_frame(PresenceKind::hello));
}

void PubsubOverlay::leave(OverlayOutput& out) {
    if (left_) return;
    if (connected_) out.to_all.push_back(presence_frame(PresenceKind::leaving));
    left_ = true;
    members_.clear();
    out.neighbours_changed = true;
}

bool PubsubOverlay::remove(const std::string& node, OverlayOutput& out) {
    if (node == self_) {
        leave(out);
        return true;
    }
    if (members_.erase(node) == 0) return false;
    // It leaves when it hears this; until then it may be heard again.
    out.to_peers.emplace_back(node, presence_frame(PresenceKind::leave_request));
    out.neighbours_changed = true;
    return true;
}

void PubsubOverlay::connectivity(bool connected, OverlayOutput& out) {
    connected_ = connected;
    if (!connected) return;
    // Nobody was heard while the broker was away: their clocks start now.
    auto now = clock_();
    for (auto& [node, last] : members_) last = now;
    if (!left_) announce(PresenceKind::hello, out);
}

bool PubsubOverlay::handles_frame(uint8_t type) const { return type == frame_presence; }

bool PubsubOverlay::on_frame(const std::string& peer, const uint8_t* body, size_t len, OverlayOutput& out) {
    if (len != 2 || body[0] != frame_presence) return false;
    if (peer == self_) return true;  // our own, back from the fanout exchange
    switch (static_cast<PresenceKind>(body[1])) {
        case PresenceKind::hello:
            if (left_) return true;
            out.to_peers.emplace_back(peer, presence_frame(PresenceKind::alive));
            [[fallthrough]];
        case PresenceKind::alive:
            if (!left_ && heard(peer)) out.neighbours_changed = true;
            return true;
        case PresenceKind::leaving:
            if (members_.erase(peer)) {
                PLOG(log_, info, "pubsub: %s left", peer.c_str());
                out.neighbours_changed = true;
            }
            return true;
        case PresenceKind::leave_request:
            PLOG(log_, notice, "pubsub: asked to leave by %s", peer.c_str());
            leave(out);
            return true;
    }
    return false;
}

void PubsubOverlay::expire(OverlayOutput& out) {
    auto limit = clock_() - std::chrono::milliseconds(config_.member_timeout_ms);
    for (auto it = members_.begin(); it != members_.end();) {
        if (it->second > limit) {
            ++it;
            continue;
        }
        PLOG(log_, info, "pubsub: %s not heard for %u ms: removed", it->first.c_str(), config_.member_timeout_ms);
        it = members_.erase(it);
        out.neighbours_changed = true;
    }
}

void PubsubOverlay::tick(OverlayOutput& out) {
    if (!connected_) return;
    expire(out);
    if (!left_ && clock_() >= next_announce_) announce(PresenceKind::alive, out);
}

std::optional<std::chrono::milliseconds> PubsubOverlay::next_tick() const {
    if (!connected_) return std::nullopt;  // connectivity() wakes it
    auto now = clock_();
    auto due = left_ ? now + std::chrono::milliseconds(config_.member_timeout_ms) : next_announce_;
    for (const auto& [node, last] : members_)
        due = std::min(due, last + std::chrono::milliseconds(config_.member_timeout_ms));
    return std::max(due - now, std::chrono::milliseconds(1));
}

std::vector<Neighbour> PubsubOverlay::neighbours() const {
    std::vector<Neighbour> out;
    out.reserve(members_.size());
    for (const auto& [node, last] : members_) out.push_back(Neighbour{node, {}, false, false});
    return out;
}

std::vector<std::string> PubsubOverlay::others() const {
    std::vector<std::string> out;
    out.reserve(members_.size());
    for (const auto& [node, last] : members_) out.push_back(node);
    return out;
}

std::unique_ptr<Overlay> make_pubsub_overlay(const OverlayContext& ctx) {
    return std::make_unique<PubsubOverlay>(ctx);
}

}  // namespace partisan
