// The overlays whose membership every node holds in full: a CRDT of member
// entries (membership.hpp) spread by gossip, push-pull on first contact
// and periodic anti-entropy to a few random neighbours. Full mesh, static
// and client-server differ only in the policy hooks below.
#pragma once

#include "partisan/overlay/overlay.hpp"

#include <random>

namespace partisan {

class CrdtOverlay : public Overlay {
public:
    CrdtOverlay(const OverlayContext& ctx, NodeRole role);

    const std::string& self() const override { return membership_.self(); }
    bool dynamic() const override { return true; }

    void join(const std::string& node, const std::vector<Address>& addrs, uint64_t incarnation_hint,
              OverlayOutput& out) override;
    void join_failed(const std::string& node, OverlayOutput& out) override;
    void leave(OverlayOutput& out) override;
    bool remove(const std::string& node, OverlayOutput& out) override;
    void peer_up(const std::string& peer, OverlayOutput& out) override;
    void unreachable(const std::vector<std::string>& peers, OverlayOutput& out) override;
    bool on_frame(const std::string& peer, const uint8_t* body, size_t len, OverlayOutput& out) override;
    void tick(OverlayOutput& out) override;
    std::optional<std::chrono::milliseconds> next_tick() const override {
        return std::chrono::milliseconds(ctx_.config.gossip_interval_ms);
    }

    bool handles_frame(uint8_t type) const override;
    std::vector<Neighbour> neighbours() const override;
    bool admits(const std::string& peer) const override { return admits_peer(peer); }
    std::optional<std::string> relay_for(const std::string& dest) const override;
    // A broadcast goes along the links there are; full mesh sends it direct.
    bool broadcast_relays() const override { return true; }
    std::vector<std::string> others() const override { return membership_.others(); }
    std::vector<std::pair<std::string, std::vector<Address>>> contacts() const override;

    const Membership& membership() const { return membership_; }

protected:
    // ---- policy
    // Whether this node keeps links to `peer`, an alive or down member.
    virtual bool links_to(const MemberEntry& self, const MemberEntry& peer) const = 0;
    // Whether `via` may relay this node's messages to `dest`.
    virtual bool relays(const MemberEntry& /*self*/, const MemberEntry& /*via*/, const MemberEntry& /*dest*/) const {
        return false;
    }
    virtual bool admits_peer(const std::string& /*peer*/) const { return true; }

    Membership& membership() { return membership_; }
    const OverlayContext& ctx() const { return ctx_; }

private:
    // This node's membership, as a GOSSIP frame.
    ByteBuffer gossip_frame() const;
    void gossip_to_all(OverlayOutput& out) const;

    OverlayContext ctx_;
    Membership membership_;
    std::minstd_rand rng_;
};

}  // namespace partisan
