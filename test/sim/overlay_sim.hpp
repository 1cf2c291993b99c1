// A deterministic discrete-event simulator that runs thousands of the real
// HyParView and Plumtree state machines (the code the C-node runs) in one
// process, each node one HyParView and one Plumtree over its active view.
//
// Network model. Every message takes a latency drawn uniformly from
// [min_latency, max_latency], and messages from one node to another arrive
// in the order sent (as on one TCP connection). A node's links() are diffed
// whenever its Effects say they changed: a new link to a live node comes up
// after one latency (on_link_up at the dialer); one to a dead node fails
// after connect_timeout (on_link_down). A message sent to a dead node is
// lost, and the sender, when it holds a link to that node, gets
// on_link_down one latency later (a TCP reset). When nodes die, every node
// with a link to one of them gets on_link_down after detection_delay.
// Answers go back to the sender of the message being handled. Both
// machines of every node get tick() every tick_interval, staggered.
//
// Everything random comes from the seed, and events of the same time run in
// the order they were scheduled: a seed gives one run, bit for bit.
#pragma once

#include "event_queue.hpp"
#include "overlay_stats.hpp"

#include "partisan/broadcast/plumtree.hpp"
#include "partisan/overlay/peer_to_peer/hyparview.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <variant>
#include <vector>

namespace partisan::sim {

struct NetworkParams {
    Millis min_latency{1}, max_latency{10};
    Millis connect_timeout{2000};  // a dial to a dead node fails after this
    Millis detection_delay{1000};  // nodes linked to one that dies notice after this
};

struct SimConfig {
    size_t nodes = 1000;
    uint64_t seed = 1;
    hyparview::Params hyparview;
    plumtree::Params plumtree;
    NetworkParams network;
    Millis tick_interval{100};
    Millis join_interval{2};  // between one node's join and the next one's
    // A broadcast counts as delivered at a node when it arrives within this
    // long of being sent.
    Millis delivery_window{10000};
    // Every message goes through its real frame codec (slower; also checks
    // that the machines report every change of links() and active view).
    bool wire_round_trip = false;
};

// Messages sent over a run, by type (the index in the Message variant).
struct Traffic {
    std::array<uint64_t, std::variant_size_v<hyparview::Message>> hyparview{};
    std::array<uint64_t, std::variant_size_v<plumtree::Message>> plumtree{};
    uint64_t lost = 0;        // to a node that was dead when it would arrive
    uint64_t wire_bytes = 0;  // frame bytes, with wire_round_trip
};

// Breaches of the machines' contracts (hyparview.hpp, plumtree.hpp) that the
// simulator can see. All zero in a correct run.
struct Breaches {
    uint64_t send_on_link_not_up = 0;      // HyParView sends go on links that are up
    uint64_t answer_without_message = 0;   // answers only while handling a message
    uint64_t unknown_peer = 0;             // a peer name that is no node (or the node itself)
    uint64_t duplicate_delivery = 0;       // Plumtree delivers each message once
    uint64_t unknown_delivery = 0;         // a delivery of a message nobody broadcast
    uint64_t frame_round_trip = 0;         // a message its codec did not give back (wire_round_trip)
    uint64_t links_change_unreported = 0;  // links() changed, links_changed false (wire_round_trip)
    uint64_t active_change_unreported = 0; // the active view changed unreported (wire_round_trip)
    uint64_t active_without_link = 0;      // an active peer missing from links() (wire_round_trip)
    uint64_t total() const {
        return send_on_link_not_up + answer_without_message + unknown_peer + duplicate_delivery +
               unknown_delivery + frame_round_trip + links_change_unreported + active_change_unreported +
               active_without_link;
    }
};

// One broadcast and what became of it.
struct BroadcastRecord {
    uint32_t origin = 0;
    Millis sent_at{0};
    size_t live = 0;       // live nodes when it was sent
    size_t delivered = 0;  // nodes that delivered it within delivery_window
    size_t reached = 0;    // nodes that delivered it at all, the origin included
    uint64_t gossip = 0;   // GOSSIP (payload) messages that carried it
    uint16_t last_hop = 0; // hops from the origin to the last node reached
    Millis last_delivery{0};  // after sent_at
    double reliability() const { return live ? static_cast<double>(delivered) / static_cast<double>(live) : 0; }
    // Relative message redundancy: payload messages / (reached - 1) - 1.
    double rmr() const {
        return reached > 1 ? static_cast<double>(gossip) / static_cast<double>(reached - 1) - 1 : 0;
    }
};

class Simulation {
public:
    explicit Simulation(const SimConfig& config);
    ~Simulation();
    Simulation(const Simulation&) = delete;
    Simulation& operator=(const Simulation&) = delete;

    const SimConfig& config() const;

    // Node 0 starts alone; node i >= 1 joins, i * join_interval from now, a
    // uniformly random node among 0..i-1. Returns when the last join goes.
    Millis start_joins();

    void run_until(Millis t);
    void run_for(Millis d);
    Millis now() const;

    // Kills round(fraction * live) uniformly random live nodes at once;
    // returns how many.
    size_t kill_fraction(double fraction);

    // A broadcast from `node` (or a uniformly random live node), now; returns
    // its index in records().
    size_t broadcast_from(uint32_t node);
    size_t broadcast_from_random();
    const std::vector<BroadcastRecord>& records() const;

    uint32_t random_live_node();
    size_t live() const;
    ViewSnapshot views() const;
    const Traffic& traffic() const;
    const Breaches& breaches() const;
    uint64_t events() const;  // handled so far

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace partisan::sim
