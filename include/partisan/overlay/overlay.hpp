// The overlay: whom this node keeps links to, whom it admits, how a message
// reaches a node it has no link to, and how membership spreads. Sans-IO and
// stateful: the node feeds it events (join, leave, a peer up, one of its
// frames, a timer tick) and carries out what it returns (frames to send,
// links to reconcile). One implementation per topology, chosen by name
// from a registry (make_overlay), so a new topology is a new file plus one
// registration line.
#pragma once

#include "partisan/core/config.hpp"
#include "partisan/core/log.hpp"
#include "partisan/overlay/membership.hpp"
#include "partisan/codec/wire.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace partisan {

// What the node knows of its links, for the overlay's decisions.
class LinkView {
public:
    virtual ~LinkView() = default;
    // The peer's control link is established.
    virtual bool up(const std::string& peer) const = 0;
    // A neighbour being dialed whose control link never came up.
    virtual bool never_reached(const std::string& peer) const = 0;
    virtual std::vector<std::string> up_peers() const = 0;  // in name order
};

// A node this node keeps links to.
struct Neighbour {
    std::string name;
    std::vector<Address> addrs;
    bool down = false;  // marked down: only its control link is tried, slowly
};

// What the node is to do after an event, in this order: frames, then links.
struct OverlayOutput {
    // Frames for peers' control links (dropped for a peer that is not up).
    std::vector<std::pair<std::string, ByteBuffer>> to_peers;
    // A frame answering the one just received, on the connection it came
    // on (push-pull gossip to a node we may not link to).
    std::optional<ByteBuffer> answer;
    // neighbours() changed: connect to new ones, close links to old ones.
    bool neighbours_changed = false;
};

struct OverlayContext {
    const Config& config;
    Logger& log;
    const LinkView& links;
    std::vector<Address> self_addrs;  // advertised
    uint64_t incarnation;             // this start's, e.g. the time in microseconds
};

class Overlay {
public:
    virtual ~Overlay() = default;
    virtual const char* name() const = 0;
    virtual const std::string& self() const = 0;
    // Whether join and leave change membership at run time.
    virtual bool dynamic() const = 0;

    // ---- events
    // join(Node) from the shim; `incarnation_hint` for a node that had left.
    virtual void join(const std::string& node, const std::vector<Address>& addrs, uint64_t incarnation_hint,
                      OverlayOutput& out) = 0;
    // The first connection to a joined node failed or was refused.
    virtual void join_failed(const std::string& node, OverlayOutput& out) = 0;
    virtual void leave(OverlayOutput& out) = 0;
    // leave(Node): false when the node is not known (or already left).
    virtual bool remove(const std::string& node, OverlayOutput& out) = 0;
    // A neighbour's control link came up.
    virtual void peer_up(const std::string& peer, OverlayOutput& out) = 0;
    // Neighbours unreachable for down_after.
    virtual void unreachable(const std::vector<std::string>& peers, OverlayOutput& out) = 0;
    // One of the overlay's frames (its type in body[0]) from an
    // authenticated peer; false when malformed.
    virtual bool on_frame(const std::string& peer, const uint8_t* body, size_t len, OverlayOutput& out) = 0;
    // The periodic timer (gossip_interval).
    virtual void tick(OverlayOutput& out) = 0;

    // ---- queries
    virtual bool handles_frame(uint8_t type) const = 0;
    virtual std::vector<Neighbour> neighbours() const = 0;
    virtual bool admits(const std::string& peer) const = 0;
    // The next hop to `dest`, a node this node keeps no link to: a
    // neighbour whose link is up, or nothing.
    virtual std::optional<std::string> relay_for(const std::string& dest) const = 0;
    // The other nodes known, alive or down (not left).
    virtual std::vector<std::string> others() const = 0;
    // Nodes to rejoin after a C-node restart: known to be alive, with addresses.
    virtual std::vector<std::pair<std::string, std::vector<Address>>> contacts() const = 0;
};

using OverlayFactory = std::function<std::unique_ptr<Overlay>(const OverlayContext&)>;

// The overlay named by config.topology; nullptr when none has that name.
std::unique_ptr<Overlay> make_overlay(const OverlayContext& ctx);
// The names registered, for messages.
std::vector<std::string> overlay_names();

// How often the control link of a member marked down is tried: down_after,
// within 1 s and a minute.
std::chrono::milliseconds down_probe_interval(const Config& config);

}  // namespace partisan
