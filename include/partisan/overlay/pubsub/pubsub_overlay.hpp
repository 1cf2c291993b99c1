// The pubsub topology's membership: every node reaches every other one
// through the broker, so the overlay only tracks who is present. A node
// announces itself to all (PRESENCE frames on the broker's fanout exchange)
// when its broker connection comes up and every announce_interval; a
// member not heard for member_timeout is removed, one that leaves says so.
// While the broker is unreachable nobody is heard, so nobody is removed:
// the clocks start again when it comes back. Sans-IO, like every overlay.
//
// PRESENCE frames: [8][kind]; the sender is the signed origin of the frame
// (signed_frame.hpp).
#pragma once

#include "partisan/overlay/overlay.hpp"

#include <map>

namespace partisan {

enum class PresenceKind : uint8_t {
    hello = 1,          // just connected: present, and everyone answers `alive` to it
    alive = 2,          // present (periodic, or the answer to a hello)
    leaving = 3,        // gone for good: remove it now
    leave_request = 4,  // to one node: leave (partisan:leave(Node) elsewhere)
};

// A PRESENCE frame with its 4-byte length, as every control frame.
ByteBuffer presence_frame(PresenceKind kind);

class PubsubOverlay : public Overlay {
public:
    explicit PubsubOverlay(const OverlayContext& ctx);

    const char* name() const override { return "pubsub"; }
    const std::string& self() const override { return self_; }
    bool dynamic() const override { return true; }

    void join(const std::string& node, const std::vector<Address>& addrs, uint64_t incarnation_hint,
              OverlayOutput& out) override;
    void join_failed(const std::string& /*node*/, OverlayOutput& /*out*/) override {}
    void leave(OverlayOutput& out) override;
    bool remove(const std::string& node, OverlayOutput& out) override;
    void peer_up(const std::string& /*peer*/, OverlayOutput& /*out*/) override {}
    void connectivity(bool connected, OverlayOutput& out) override;
    void unreachable(const std::vector<std::string>& /*peers*/, OverlayOutput& /*out*/) override {}
    bool on_frame(const std::string& peer, const uint8_t* body, size_t len, OverlayOutput& out) override;
    void tick(OverlayOutput& out) override;
    std::optional<std::chrono::milliseconds> next_tick() const override;

    bool handles_frame(uint8_t type) const override;
    bool needs_addresses() const override { return false; }
    std::vector<Neighbour> neighbours() const override;
    bool admits(const std::string& /*peer*/) const override { return true; }  // frames are signed
    std::optional<std::string> relay_for(const std::string& /*dest*/) const override { return std::nullopt; }
    bool broadcast_relays() const override { return false; }
    std::vector<std::string> others() const override;
    std::vector<std::pair<std::string, std::vector<Address>>> contacts() const override { return {}; }

    bool left() const { return left_; }

private:
    void announce(PresenceKind kind, OverlayOutput& out);
    // Heard from `node` now; true when it is new.
    bool heard(const std::string& node);
    void expire(OverlayOutput& out);

    const Config& config_;
    Logger& log_;
    OverlayClock clock_;
    std::string self_;
    std::map<std::string, std::chrono::milliseconds> members_;  // the others, when last heard
    bool connected_ = false;
    bool left_ = false;  // after leave(): silent and alone until a join
    std::chrono::milliseconds next_announce_{0};
};

}  // namespace partisan
