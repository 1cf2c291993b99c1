// Broadcast, for every topology: a message delivered once to a registered
// name on every node (partisan:broadcast/2,4), and the peer-to-peer
// presence announcements that routes are learned from. Runs Plumtree
// (plumtree.hpp) over the node's member links; where the sender links to
// every member (full mesh) nobody pushes on, so a broadcast goes direct.
// Frames go on the peers' control links; a user broadcast is delivered
// here through its channel's BEAM link.
#pragma once

#include "partisan/broadcast/plumtree.hpp"
#include "partisan/core/config.hpp"
#include "partisan/core/log.hpp"
#include "partisan/codec/node_ref.hpp"
#include "partisan/codec/wire.hpp"
#include "partisan/overlay/overlay.hpp"

#include <string>
#include <string_view>

namespace partisan {

// What the broadcast service needs of the node.
class BroadcastSink {
public:
    virtual ~BroadcastSink() = default;
    // A frame for a neighbour's control link.
    virtual void send_broadcast_frame(const std::string& peer, const ByteBuffer& frame) = 0;
    // A user broadcast for this node's BEAM.
    virtual void deliver_broadcast(size_t channel, Bytes ref, Bytes message) = 0;
    // A presence announcement, first heard from neighbour `via`.
    virtual void on_announce(const NodeRef& origin, const std::string& via, uint16_t hops) = 0;
    // Call BroadcastService::tick() in `delay` (replacing an earlier
    // request). Asked only when something is due: an idle node sleeps.
    virtual void wake_broadcast_in(std::chrono::milliseconds delay) = 0;
};

class BroadcastService {
public:
    // `relays`: receivers push broadcasts on (a tree over partial links).
    BroadcastService(const Config& config, Logger& log, std::string self, uint64_t incarnation, bool relays,
                     OverlayClock clock, BroadcastSink& sink);

    // From this node's BEAM; an error text when refused (empty: sent).
    std::string broadcast(std::string_view channel, Bytes ref, Bytes message);
    void announce(const NodeRef& self);
    // A Plumtree frame from an authenticated peer; false when malformed.
    bool on_frame(const std::string& from, const uint8_t* body, size_t len);
    void neighbour_up(const std::string& peer);
    void neighbour_down(const std::string& peer);
    void tick();
    // Ticks are at least this far apart.
    std::chrono::milliseconds tick_interval() const;

    const plumtree::Counters& counters() const { return tree_.counters(); }

private:
    void carry_out(plumtree::Effects& effects);
    // Asks the sink for a tick if one is due sooner than already asked.
    void reschedule();
    int channel_index(std::string_view name) const;

    const Config& config_;
    Logger& log_;
    OverlayClock clock_;
    BroadcastSink& sink_;
    plumtree::Plumtree tree_;
    std::string self_;
    uint64_t next_seq_;
    size_t max_payload_;
    ByteBuffer frame_;  // reused for every frame sent
    std::optional<std::chrono::milliseconds> requested_;  // the tick asked for (clock time)
};

}  // namespace partisan
