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
#include "partisan/codec/node_ref.hpp"
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
    // Linked for the overlay's own frames only, for a short while (a
    // peer-to-peer join contact or shuffle partner): no channel links, and
    // no messages sent to it directly.
    bool control_only = false;
};

// What the node is to do after an event, in this order: frames, then links.
struct OverlayOutput {
    // Frames for peers' control links (dropped for a peer that is not up).
    std::vector<std::pair<std::string, ByteBuffer>> to_peers;
    // A frame answering the one just received, on the connection it came
    // on (push-pull gossip to a node we may not link to); once per link.
    std::optional<ByteBuffer> answer;
    // Frames back on the connection the frame came on, each one (short
    // replies, e.g. a refused peer-to-peer NEIGHBOR request).
    std::vector<ByteBuffer> replies;
    // neighbours() changed: connect to new ones, close links to old ones.
    bool neighbours_changed = false;
    // others() or relay_for() may answer differently (a route learned or
    // forgotten): the member and reachable lists are recomputed.
    bool reachable_changed = false;
    // Broadcast this node's presence (announce.hpp), from which the others
    // learn a route to it.
    bool announce = false;
    // Frames for every node at once, where the transport has a medium for
    // it (a broker's fanout exchange); only overlays over such a transport
    // produce them.
    std::vector<ByteBuffer> to_all;
};

// The overlay's clock: monotonic milliseconds (a fake one in tests).
using OverlayClock = std::function<std::chrono::milliseconds()>;
std::chrono::milliseconds steady_millis();

// peer-to-peer's two views (partisan:views/0).
struct OverlayViews {
    std::vector<std::string> active, passive;
};

struct OverlayContext {
    const Config& config;
    Logger& log;
    const LinkView& links;
    std::vector<Address> self_addrs;  // advertised
    uint64_t incarnation;             // this start's, e.g. the time in microseconds
    OverlayClock clock = steady_millis;
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
    // A neighbour's control link went down (it is redialed while it stays
    // in neighbours()).
    virtual void peer_down(const std::string& /*peer*/, OverlayOutput& /*out*/) {}
    // An attempt to reach a neighbour failed (it is retried while it stays
    // in neighbours()).
    virtual void connect_failed(const std::string& /*peer*/, OverlayOutput& /*out*/) {}
    // The transport's shared medium (a broker connection) came up or went
    // down; transports of point-to-point links never report it.
    virtual void connectivity(bool /*connected*/, OverlayOutput& /*out*/) {}
    // A broadcast presence (announce.hpp) of `origin`, first received from
    // neighbour `via` after `hops` hops.
    virtual void on_announce(const NodeRef& /*origin*/, const std::string& /*via*/, uint16_t /*hops*/,
                             OverlayOutput& /*out*/) {}
    // Neighbours unreachable for down_after.
    virtual void unreachable(const std::vector<std::string>& peers, OverlayOutput& out) = 0;
    // One of the overlay's frames (its type in body[0]) from an
    // authenticated peer; false when malformed.
    virtual bool on_frame(const std::string& peer, const uint8_t* body, size_t len, OverlayOutput& out) = 0;
    // Timers: tick() is called next_tick() after the last event or tick
    // (or sooner); nullopt: nothing is due until the next event, so an
    // idle node is not woken (a thousand C-nodes share two cores).
    virtual void tick(OverlayOutput& out) = 0;
    virtual std::optional<std::chrono::milliseconds> next_tick() const = 0;

    // ---- queries
    virtual bool handles_frame(uint8_t type) const = 0;
    // Whether join(Node) needs the node's addresses (not when a broker
    // is the only way to reach it).
    virtual bool needs_addresses() const { return true; }
    virtual std::vector<Neighbour> neighbours() const = 0;
    virtual bool admits(const std::string& peer) const = 0;
    // The next hop to `dest`, a node this node keeps no link to: a
    // neighbour whose link is up, or nothing.
    virtual std::optional<std::string> relay_for(const std::string& dest) const = 0;
    // Whether an up link to `peer` makes it a member (members(), node up
    // and down events, a broadcast neighbour): peer-to-peer counts its
    // active view only, not short-lived links.
    virtual bool member_link(const std::string& /*peer*/) const { return true; }
    // Whether a node that receives a broadcast pushes it on (a tree over
    // partial links), or the sender reaches every member itself.
    virtual bool broadcast_relays() const = 0;
    // The other nodes known, alive or down (not left).
    virtual std::vector<std::string> others() const = 0;
    // The active and passive views, where the overlay has them.
    virtual std::optional<OverlayViews> views() const { return std::nullopt; }
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
