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
// seen_ttl and at most max_seen of them, and for each origin (at most
// max_origins) the highest id forgotten, below which its messages are
// taken as seen (a copy later than seen_ttl, e.g. announced by a neighbour
// that got it late on an overloaded cluster, is dropped, not delivered a
// second time: at most once); payloads (for GRAFTs) for
// cache_ttl and at most max_cached_bytes (and max_seen entries, for empty
// ones); pending IHAVE announcements at most max_pending, and so are the
// ids queued for each lazy peer between two IHAVE flushes. The oldest go
// first; a payload larger than max_cached_bytes is delivered, not cached.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
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
    size_t max_origins = 8192;  // origins whose highest forgotten id is kept
    Millis cache_ttl{30000};
    size_t max_cached_bytes = 16u << 20;
    size_t max_pending = 10000;
    size_t max_ihave_batch = 256;  // ids per IHAVE message
    // A new neighbour is sent IHAVEs of the messages cached this recently:
    // a broadcast that went by while the views were changing (the eager
    // push went to a link that was not up yet) still reaches it.
    Millis catch_up_window{5000};
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
// An IHAVE carries 1 to this many ids (the wire refuses others).
constexpr size_t max_ihave_ids = 1024;

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
    uint16_t round = 0;  // the GOSSIP's round: the sender's hops from the origin
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
    uint64_t stale = 0;               // GOSSIP of a message older than one forgotten
};

// Messages from a node that is neither eager nor lazy (a link the caller
// has not reported up yet, or no longer counts): a GOSSIP not seen before is
// still delivered and pushed on, since it may be the only copy to come, but
// its sender joins neither set and a duplicate from it is not PRUNEd; its
// IHAVE, GRAFT and PRUNE are ignored, so nothing is ever sent to it.
class Plumtree {
public:
    // Nothing here is random (choices go by arrival and by name); the seed
    // is taken so that every state machine is built alike.
    Plumtree(std::string self, Params params, uint64_t seed);
    // Movable, not copyable: it keeps iterators into its own maps.
    Plumtree(const Plumtree&) = delete;
    Plumtree& operator=(const Plumtree&) = delete;
    Plumtree(Plumtree&&) = default;
    Plumtree& operator=(Plumtree&&) = default;

    // Broadcasts from this node: delivered here at once, pushed to the
    // neighbours. An id already seen is ignored.
    void broadcast(const MessageId& id, Payload payload, Millis now, Effects& out);
    // A message from neighbour `from`.
    void on_message(const std::string& from, const Message& m, Millis now, Effects& out);
    // Neighbours join the eager set; one that goes leaves both sets and
    // pending grafts move on to other announcers.
    // With `now`, the new neighbour is told of recent messages (catch_up_window).
    void neighbour_up(const std::string& peer, std::optional<Millis> now = std::nullopt);
    void neighbour_down(const std::string& peer, Millis now, Effects& out);
    // Batched IHAVEs, graft timeouts, expiry.
    void tick(Millis now, Effects& out);
    // When tick() next has something to do (at the earliest; the caller
    // may tick later); nullopt when nothing is pending or remembered.
    std::optional<Millis> next_due(Millis now) const;

    const std::set<std::string>& eager() const { return eager_; }
    const std::set<std::string>& lazy() const { return lazy_; }
    const Counters& counters() const { return counters_; }

    // What the bounds limit, for tests and stats.
    bool has_seen(const MessageId& id) const { return seen_.count(id) > 0; }
    // Not remembered, but no newer than an id of its origin that was
    // forgotten: taken as delivered already.
    bool is_stale(const MessageId& id) const;
    size_t forgotten_origins() const { return forgotten_.size(); }
    size_t seen_count() const { return seen_.size(); }
    size_t cached_count() const { return cache_.size(); }
    size_t cached_bytes() const { return cached_bytes_; }
    size_t pending_count() const { return pending_count_; }  // IHAVE announcements waiting
    size_t queued_ihaves() const { return queued_ihaves_; }  // ids not yet sent in an IHAVE

private:
    struct Cached {
        Payload payload;
        uint16_t round;  // the round it is pushed (and GRAFTs answered) at
        Millis at;
    };
    struct Announcer {
        std::string peer;
        uint16_t round;
    };
    // A message announced but not received: who announced it, in order,
    // and when to GRAFT the next of them.
    struct Missing {
        std::deque<Announcer> announcers;
        std::string grafted;  // the last one sent a GRAFT, if any
        Millis due;
    };
    using SeenMap = std::map<MessageId, Millis>;
    using CacheMap = std::map<MessageId, Cached>;

    bool is_neighbour(const std::string& peer) const { return eager_.count(peer) || lazy_.count(peer); }
    bool known(const MessageId& id) const { return has_seen(id) || is_stale(id); }
    void to_eager(const std::string& peer);
    void to_lazy(const std::string& peer);

    void on_gossip(const std::string& from, const Gossip& g, Millis now, Effects& out);
    void on_ihave(const std::string& from, const IHave& ih, Millis now);
    void on_graft(const std::string& from, const Graft& g, Effects& out);
    // Delivers a message new here, remembers it and pushes it on at
    // `push_round` (unless that passes max_round).
    void accept(const MessageId& id, const Payload& payload, const std::string& from, uint16_t round,
                uint32_t push_round, Millis now, Effects& out);
    void remember(const MessageId& id, Millis now);
    void cache(const MessageId& id, const Payload& payload, uint16_t round, Millis now);
    void forget_oldest_seen();
    void raise_floor(const MessageId& forgotten, Millis seen_at);
    void drop_oldest_cached();
    void forget_missing(const MessageId& id);
    void graft_next(const MessageId& id, Missing& m, Millis now, Effects& out);
    void flush_ihaves(Effects& out);
    void expire(Millis now);

    std::string self_;
    Params params_;
    std::set<std::string> eager_, lazy_;
    Counters counters_;

    // Ids seen and payloads cached, each with its insertion order (oldest
    // first) for expiry and eviction.
    SeenMap seen_;
    std::deque<SeenMap::iterator> seen_order_;
    CacheMap cache_;
    std::deque<CacheMap::iterator> cache_order_;
    size_t cached_bytes_ = 0;
    // Per origin, the highest seq forgotten, and when it was last raised
    // (at max_origins, the origin raised longest ago goes).
    struct Floor {
        uint64_t seq;
        Millis at;
    };
    std::map<std::string, Floor> forgotten_;

    std::map<MessageId, Missing> missing_;
    size_t pending_count_ = 0;  // announcers over all of missing_

    // IHAVEs to send at the next flush, per peer.
    std::map<std::string, std::vector<std::pair<MessageId, uint16_t>>> ihave_queue_;
    size_t queued_ihaves_ = 0;
    std::optional<Millis> last_flush_;
};

}  // namespace partisan::plumtree
