#include "partisan/overlay/crdt_overlay.hpp"

#include "partisan/codec/peer_frames.hpp"

#include <algorithm>

namespace partisan {

std::chrono::milliseconds down_probe_interval(const Config& config) {
    return std::clamp(std::chrono::milliseconds(config.down_after_ms), std::chrono::milliseconds(1000),
                      std::chrono::milliseconds(60000));
}

CrdtOverlay::CrdtOverlay(const OverlayContext& ctx, NodeRole role)
    : ctx_(ctx),
      membership_(ctx.config.beam_node, ctx.self_addrs, ctx.incarnation, role, ctx.config.max_members),
      rng_(static_cast<unsigned>(ctx.incarnation)) {}

ByteBuffer CrdtOverlay::gossip_frame() const {
    ByteBuffer b;
    append_gossip_frame(b, membership_);
    return b;
}

void CrdtOverlay::gossip_to_all(OverlayOutput& out) const {
    for (const auto& peer : ctx_.links.up_peers()) out.to_peers.emplace_back(peer, gossip_frame());
}

void CrdtOverlay::join(const std::string& node, const std::vector<Address>& addrs, uint64_t incarnation_hint,
                       OverlayOutput& out) {
    if (membership_.has_left()) membership_.rejoin_self(incarnation_hint);
    membership_.add(node, addrs);
    gossip_to_all(out);
    out.neighbours_changed = true;
}

void CrdtOverlay::join_failed(const std::string& node, OverlayOutput& out) {
    // A join that cannot reach its node leaves no trace: stop dialing it.
    const MemberEntry* e = membership_.find(node);
    if (e && e->incarnation == 0 && e->alive()) {
        membership_.remove(node);
        out.neighbours_changed = true;
    }
}

void CrdtOverlay::leave(OverlayOutput& out) {
    membership_.leave_self();
    gossip_to_all(out);  // carries only our own entry, marked left
    out.neighbours_changed = true;  // every link closes once that gossip is written
}

bool CrdtOverlay::remove(const std::string& node, OverlayOutput& out) {
    if (node == self()) {
        leave(out);
        return true;
    }
    const MemberEntry* e = membership_.find(node);
    if (!e || e->left()) return false;
    PLOG(ctx_.log, notice, "removing %s from the cluster", node.c_str());
    membership_.remove(node);
    gossip_to_all(out);  // the removed node hears it too, before its links close
    out.neighbours_changed = true;
    return true;
}

void CrdtOverlay::peer_up(const std::string& peer, OverlayOutput& out) {
    // Tell the peer all we know at once, so a join spreads without waiting
    // for the gossip timer.
    if (dynamic()) out.to_peers.emplace_back(peer, gossip_frame());
}

void CrdtOverlay::unreachable(const std::vector<std::string>& peers, OverlayOutput& out) {
    // Marked down (and the mark gossiped): from then on only probed. If it
    // is alive, it refutes the mark when it hears of it.
    for (const auto& name : peers) {
        if (!membership_.mark_down(name)) continue;
        PLOG(ctx_.log, notice,
             "%s unreachable for %u ms: marked down (probed every %lld s; leave(Node) removes it for good)",
             name.c_str(), ctx_.config.down_after_ms,
             static_cast<long long>(down_probe_interval(ctx_.config).count() / 1000));
    }
    if (dynamic()) gossip_to_all(out);
    out.neighbours_changed = true;
}

bool CrdtOverlay::handles_frame(uint8_t type) const { return type == frame_gossip; }

bool CrdtOverlay::on_frame(const std::string& peer, const uint8_t* body, size_t len, OverlayOutput& out) {
    std::vector<MemberEntry> remote;
    if (len < 1 || body[0] != frame_gossip || !parse_gossip(body + 1, len - 1, remote)) return false;
    if (!dynamic()) return true;
    // A full set must still take in the node that is talking to us (it
    // proved the secret): room is made by dropping a member never reached.
    if (membership_.full() && !membership_.find(peer))
        membership_.evict_one([this](const MemberEntry& e) { return ctx_.links.never_reached(e.name); });
    auto result = membership_.merge(remote);
    if (result.removed_self) PLOG(ctx_.log, notice, "this node was removed from the cluster by another node");
    if (result.refused)
        PLOG(ctx_.log, warning, "gossip from %s named more nodes than max_members (%u); %zu not taken in",
             peer.c_str(), ctx_.config.max_members, result.refused);
    // Push-pull: our view (merged with theirs) back on the same connection,
    // so a node that joined through us learns the cluster even if we never
    // link to it (a client joining a client), and a node that marked us
    // down while we were apart hears at once that we are alive.
    out.answer = gossip_frame();
    if (result.refuted) {
        PLOG(ctx_.log, notice, "this node was reported down by another node; telling everyone it is alive");
        gossip_to_all(out);
    }
    if (result.changed) out.neighbours_changed = true;
    return true;
}

void CrdtOverlay::tick(OverlayOutput& out) {
    // Periodic anti-entropy to a few random connected peers: it repairs
    // whatever a lost or reordered gossip frame left behind.
    if (!dynamic()) return;
    std::vector<std::string> up = ctx_.links.up_peers();
    std::shuffle(up.begin(), up.end(), rng_);
    up.resize(std::min<size_t>(up.size(), ctx_.config.gossip_fanout));
    for (const auto& peer : up) out.to_peers.emplace_back(peer, gossip_frame());
}

std::vector<Neighbour> CrdtOverlay::neighbours() const {
    std::vector<Neighbour> out;
    const MemberEntry& me = membership_.self_entry();
    for (const auto& name : membership_.others()) {
        const MemberEntry& e = *membership_.find(name);
        if (links_to(me, e)) out.push_back(Neighbour{name, e.addrs, e.status == Status::down});
    }
    return out;
}

std::optional<std::string> CrdtOverlay::relay_for(const std::string& dest) const {
    // The first connected peer (in name order) that relays for us, so one
    // pair of nodes always goes the same way (FIFO through one relay).
    const MemberEntry* d = membership_.find(dest);
    if (!d || !d->alive()) return std::nullopt;
    for (const auto& name : ctx_.links.up_peers()) {
        const MemberEntry* via = membership_.find(name);
        if (via && relays(membership_.self_entry(), *via, *d)) return name;
    }
    return std::nullopt;
}

std::vector<std::pair<std::string, std::vector<Address>>> CrdtOverlay::contacts() const {
    // Members whose own gossip we have heard (incarnation above 0) and that
    // have not left.
    std::vector<std::pair<std::string, std::vector<Address>>> out;
    for (const auto& [name, e] : membership_.entries())
        if (name != self() && e.alive() && e.incarnation > 0 && !e.addrs.empty()) out.emplace_back(name, e.addrs);
    return out;
}

}  // namespace partisan
