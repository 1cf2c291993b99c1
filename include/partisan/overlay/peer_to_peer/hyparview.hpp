// HyParView membership (Leitão, Pereira, Rodrigues, DSN 2007) as a plain
// state machine: no sockets, no timers, no global clock or randomness. The
// caller feeds it events (a message from a peer, a link up or down, a
// connection that failed, a tick) with the time, and carries out what it
// returns in Effects. The C-node's overlay (peer_to_peer_overlay.cpp) and
// the simulator (test/sim) drive the same code.
//
// Links. The node keeps a link to every peer in links(): the active view,
// plus peers it is only talking to for a while (a join contact, a passive
// peer asked to become a neighbour, a shuffle's origin awaiting its reply).
// Messages for a peer whose link is not up yet are held here and released
// in Effects when on_link_up arrives; they are dropped when the link fails.
// A message answering the one being handled (a NEIGHBOR refusal, or a
// DISCONNECT to a peer whose yes was not asked for) goes back on the link
// that message came on (Effects::answers), so no link is opened just to
// say no.
#pragma once

#include "partisan/codec/node_ref.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <variant>
#include <vector>

namespace partisan::hyparview {

using Millis = std::chrono::milliseconds;  // on the caller's monotonic clock

struct Params {
    size_t active_size = 6;
    size_t passive_size = 30;
    uint8_t arwl = 6;  // active random walk length (FORWARD_JOIN, SHUFFLE)
    uint8_t prwl = 3;  // passive random walk length: the hop at which a FORWARD_JOIN puts the node in the passive view
    Millis shuffle_interval{10000};
    size_t shuffle_active = 3;   // ka: active-view entries in a shuffle
    size_t shuffle_passive = 4;  // kp: passive-view entries in a shuffle
    // How often a node whose active view is not full asks a passive peer to
    // become a neighbour (besides at once, when a neighbour fails).
    Millis promotion_interval{5000};
    // A link that is not up after this long counts as failed (a NEIGHBOR
    // request moves on to another passive peer; a shuffle reply is dropped).
    Millis link_timeout{5000};
};

// Bounds that hold whatever peers send: messages held for a peer whose link
// is not up (the oldest dropped), and links kept only until what is held
// for them is written, e.g. a shuffle reply or a DISCONNECT (the oldest
// dropped, with what they hold).
constexpr size_t max_held_messages = 64;
constexpr size_t max_short_lived_links = 16;

// ---- messages (wire encoding in hyparview_frames.hpp) -----------------------

// "Let me in": sent by a joining node to its contact.
struct Join {
    NodeRef node;
};
// A join's random walk. `ttl` counts down from arwl; at prwl the node is
// put in the passive view; at 0 (or at a node with one neighbour) it is
// taken into the active view.
struct ForwardJoin {
    NodeRef node;
    uint8_t ttl = 0;
};
// "Be my neighbour". High priority (the sender has no neighbour left) is
// always accepted; low priority only when the receiver has room.
struct Neighbor {
    NodeRef node;
    bool high_priority = false;
};
struct NeighborReply {
    NodeRef node;
    bool accepted = false;
};
// "I dropped you from my active view": the receiver moves the sender to
// its passive view.
struct Disconnect {};
// A shuffle's random walk: `origin` and a sample of its views.
struct Shuffle {
    NodeRef origin;
    uint8_t ttl = 0;
    uint32_t id = 0;  // pairs the reply with the sample sent
    std::vector<NodeRef> sample;
};
// At most this many entries in a shuffle sample, here and on the wire.
constexpr size_t max_shuffle_sample = 64;

// Sent straight to the shuffle's origin, over a short-lived link.
struct ShuffleReply {
    uint32_t id = 0;
    std::vector<NodeRef> sample;
};

using Message = std::variant<Join, ForwardJoin, Neighbor, NeighborReply, Disconnect, Shuffle, ShuffleReply>;

// ---- effects ----------------------------------------------------------------

struct Effects {
    // Messages on this node's link to the peer, which is up.
    std::vector<std::pair<std::string, Message>> sends;
    // Messages back on the link the handled message came in on.
    std::vector<Message> answers;
    // links() changed: open links to the new peers, close the others once
    // what is queued for them is written.
    bool links_changed = false;
    // The active view gained or lost these peers.
    std::vector<std::string> active_added, active_removed;
    bool empty() const {
        return sends.empty() && answers.empty() && !links_changed && active_added.empty() && active_removed.empty();
    }
};

class HyParView {
public:
    HyParView(NodeRef self, Params params, uint64_t seed);

    // ---- events
    // join(Contact): link to the contact and send it JOIN. The contact is
    // remembered: a node left with neither neighbour nor backup (the join
    // failed, its link timed out, every neighbour died) joins through it
    // again at each promotion period, until leave().
    void join(const NodeRef& contact, Millis now, Effects& out);
    // Leave: DISCONNECT to every active neighbour, forget both views.
    void leave(Effects& out);
    // A message from `from` (an authenticated peer).
    void on_message(const std::string& from, const Message& m, Millis now, Effects& out);
    // This node's link to `peer` is up: held messages go out.
    void on_link_up(const std::string& peer, Millis now, Effects& out);
    // This node's link to `peer` broke (connection lost, heartbeat timeout)
    // or could not be made: a failed active neighbour is replaced from the
    // passive view.
    void on_link_down(const std::string& peer, Millis now, Effects& out);
    // Shuffles, promotions, link timeouts.
    void tick(Millis now, Effects& out);
    // When tick() next has something to do; nullopt while this node knows
    // nobody (an idle node is not woken).
    std::optional<Millis> next_due(Millis now) const;

    // ---- queries
    const NodeRef& self() const { return self_; }
    const Params& params() const { return params_; }
    std::vector<NodeRef> active() const;   // in name order
    std::vector<NodeRef> passive() const;  // in name order
    bool in_active(const std::string& peer) const;
    // Peers this node keeps links to: the active view and the short-lived ones.
    std::vector<NodeRef> links() const;  // in name order
    // The same views by name only, in name order (cheaper: no addresses).
    std::vector<std::string> active_names() const;
    std::vector<std::string> passive_names() const;
    std::vector<std::string> link_names() const;
    // Each node of a view with its key, in name order, without copying
    // (for checkers that read the views after every event).
    template <typename Visit>
    void visit_active(Visit&& visit) const {
        for (const auto& [name, node] : active_) visit(name, node);
    }
    template <typename Visit>
    void visit_passive(Visit&& visit) const {
        for (const auto& [name, entry] : passive_) visit(name, entry.node);
    }

private:
    // This node's link to a peer. Messages wait in `held` until it is up.
    struct Link {
        NodeRef node;
        bool up = false;
        Millis since{0};  // when it was opened, or came up
        std::deque<Message> held;
    };
    struct PassiveEntry {
        NodeRef node;
        bool tried = false;  // refused (or ignored) a NEIGHBOR request: asked again last
    };
    // A shuffle this node started: what it sent, evicted first for the reply.
    struct SentShuffle {
        uint32_t id = 0;
        std::set<std::string> sent;
    };

    void handle(const std::string& from, const Join& m, Millis now, Effects& out);
    void handle(const std::string& from, const ForwardJoin& m, Millis now, Effects& out);
    void handle(const std::string& from, const Neighbor& m, Millis now, Effects& out);
    void handle(const std::string& from, const NeighborReply& m, Millis now, Effects& out);
    void handle(const std::string& from, const Disconnect& m, Millis now, Effects& out);
    void handle(const std::string& from, const Shuffle& m, Millis now, Effects& out);
    void handle(const std::string& from, const ShuffleReply& m, Millis now, Effects& out);

    // Randomness, all from rng_ over name-ordered containers.
    size_t pick(size_t n);
    std::vector<std::string> pick_some(std::vector<std::string> names, size_t k);
    std::optional<std::string> random_active_except(const std::string& a, const std::string& b = {});

    // Links.
    void open_link(const NodeRef& peer, Millis now, Effects& out);
    void send(const NodeRef& peer, Message m, Millis now, Effects& out);
    bool link_needed(const std::string& peer, const Link& link) const;
    void close_if_unused(const std::string& peer, Effects& out);
    void drop_excess_short_lived(Effects& out);
    void link_failed(const std::string& peer, Millis now, Effects& out);
    void lost_neighbour(const std::string& peer, Millis now, Effects& out);

    // Views.
    bool add_active(const NodeRef& node, Millis now, Effects& out);
    void add_passive(const NodeRef& node, const std::set<std::string>& evict_first);
    void integrate(const std::vector<NodeRef>& sample, const std::set<std::string>& evict_first);
    size_t sample_cap() const;
    void ask_passive_peer(bool retry_tried, Millis now, Effects& out);
    void give_up_asking(Millis now, Effects& out);
    void start_shuffle(Millis now, Effects& out);
    void rejoin_if_isolated(Millis now, Effects& out);

    NodeRef self_;
    Params params_;
    std::mt19937_64 rng_;
    std::map<std::string, NodeRef> active_;
    std::map<std::string, PassiveEntry> passive_;
    std::map<std::string, Link> links_;
    std::optional<std::string> asking_;  // the passive peer with an outstanding NEIGHBOR request
    std::optional<NodeRef> contact_;     // the last join's contact, joined again when isolated
    std::deque<SentShuffle> shuffles_;   // the latest few, oldest first
    std::optional<Millis> next_shuffle_, next_promotion_;
};

}  // namespace partisan::hyparview
