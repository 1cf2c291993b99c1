// Plumtree broadcast (Leitão, Pereira, Rodrigues, SRDS 2007) as a plain
// state machine: eager push of a message along a spanning tree, lazy push
// of its id (IHAVE) to the other neighbours, GRAFT when an announced message
// does not arrive in time, PRUNE on a duplicate. No sockets, no timers, no
// global clock or randomness: the caller feeds it events with the time and
// carries out the Effects. The C-node (broadcast component) and the
// simulator (test/sim) drive the same code. Topology-agnostic: it runs
// over whatever neighbours it is told of (HyParView's active view, or the
// links of another overlay).
//
// Memory is bounded whatever peers send: the ids seen are kept for
// seen_ttl and at most max_seen of them; payloads (for GRAFTs) for
// cache_ttl and at most max_cached_bytes; pending IHAVE announcements at
// most max_pending.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace partisan::plumtree {

using Millis = std::chrono::milliseconds;  // on the caller's monotonic clock

// The bytes broadcast, opaque here, shared (not copied) between the cache
// and the frames that carry them.
using Payload = std::shared_ptr<const std::string>;

struct Params {
    // An IHAVE whose message has not arrived after this long: GRAFT the
    // announcer; then another announcer every graft_retry.
    Millis graft_timeout{1000};
    Millis graft_retry{500};
    // IHAVEs are batched and sent at the next tick of at least this interval.
    Millis lazy_interval{200};
    Millis seen_ttl{60000};
    size_t max_seen = 100000;
    Millis cache_ttl{30000};
    size_t max_cached_bytes = 16u << 20;
    size_t max_pending = 10000;
    size_t max_ihave_batch = 256;  // ids per IHAVE message
    uint16_t max_round = 255;      // hops after which a message is not pushed on
};

// A broadcast's identity: its origin node and a number the origin never
// reuses (the caller makes it unique across restarts, e.g. with the start
// time in its high bits).
struct MessageId {
    std::string origin;
    uint64_t seq = 0;
    auto operator<=>(const MessageId&) const = default;
};

// ---- messages (wire encoding in plumtree_frames.hpp) ------------------------

struct Gossip {
    MessageId id;
    uint16_t round = 0;  // hops from the origin
    Payload payload;
};
struct IHave {
    std::vector<std::pair<MessageId, uint16_t>> ids;  // id, round
};
struct Graft {
    MessageId id;
    uint16_t round = 0;
};
struct Prune {};

using Message = std::variant<Gossip, IHave, Graft, Prune>;

// ---- effects ----------------------------------------------------------------

struct Delivery {
    MessageId id;
    Payload payload;
    std::string from;    // the neighbour it came from (empty: broadcast here)
    uint16_t round = 0;  // hops it took
};

struct Effects {
    std::vector<std::pair<std::string, Message>> sends;  // to neighbours
    std::vector<Delivery> deliveries;                      // each message once
    bool empty() const { return sends.empty() && deliveries.empty(); }
};

struct Counters {
    uint64_t broadcasts = 0, delivered = 0, duplicates = 0;
    uint64_t gossip_sent = 0, ihave_sent = 0, graft_sent = 0, prune_sent = 0;
    uint64_t graft_unanswerable = 0;  // GRAFT for a message no longer cached
};

class Plumtree {
public:
    Plumtree(std::string self, Params params, uint64_t seed);

    // Broadcasts from this node: delivered here at once, pushed to the
    // neighbours.
    void broadcast(const MessageId& id, Payload payload, Millis now, Effects& out);
    // A message from neighbour `from`.
    void on_message(const std::string& from, const Message& m, Millis now, Effects& out);
    // Neighbours join the eager set; one that goes leaves both sets and
    // pending grafts move on to other announcers.
    void neighbour_up(const std::string& peer);
    void neighbour_down(const std::string& peer, Millis now, Effects& out);
    // Batched IHAVEs, graft timeouts, expiry.
    void tick(Millis now, Effects& out);

    const std::set<std::string>& eager() const { return eager_; }
    const std::set<std::string>& lazy() const { return lazy_; }
    const Counters& counters() const { return counters_; }

private:
    std::set<std::string> eager_, lazy_;
    Counters counters_;
    // (other members: implementation's choice)
};

}  // namespace partisan::plumtree
