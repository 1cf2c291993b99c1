// Cluster membership as a state-based CRDT: a map from node name to
// (incarnation, status, addresses, role). Merge keeps, per node, the entry
// with the larger (incarnation, status rank, ...) tuple, so merges commute,
// associate and are idempotent. Status ranks alive < down < left: at one
// incarnation a node marked down (unreachable for long, by anyone) beats
// alive, and a leave beats both. Only a node itself raises its incarnation:
// when it (re)joins, and when it hears it was marked down while it is alive
// (it refutes, as in SWIM), so stale gossip cannot resurrect a node that
// left and a live node cannot be kept down.
#pragma once

#include "partisan/codec/wire.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace partisan {

struct Address {
    std::string ip;
    uint16_t port = 0;
    auto operator<=>(const Address&) const = default;
};

// What a node is in the client_server topology (servers in the others);
// not to be confused with PeerConnection::Side (who dialed).
enum class NodeRole : uint8_t { server = 0, client = 1 };

// On the wire as one byte (docs/PROTOCOL.md).
enum class Status : uint8_t {
    alive = 0,
    left = 1,  // final for this incarnation: it left, or was removed with leave(Node)
    down = 2,  // unreachable for longer than down_after: probed slowly, not dialed
};

struct MemberEntry {
    std::string name;
    uint64_t incarnation = 0;
    Status status = Status::alive;
    std::vector<Address> addrs;
    NodeRole role = NodeRole::server;
    bool alive() const { return status == Status::alive; }
    bool left() const { return status == Status::left; }
    bool operator==(const MemberEntry&) const = default;
};

// True when `a` should replace `b` in a merge (same node name).
bool supersedes(const MemberEntry& a, const MemberEntry& b);

class Membership {
public:
    // `max_entries` bounds the set: gossip naming more nodes than that is
    // not taken in beyond it (refused entries are counted).
    Membership(std::string self, std::vector<Address> self_addrs, uint64_t incarnation, NodeRole role = NodeRole::server,
               size_t max_entries = 1024);

    const std::string& self() const { return self_; }
    const MemberEntry& self_entry() const { return entries_.at(self_); }
    bool has_left() const { return self_entry().left(); }
    const std::map<std::string, MemberEntry>& entries() const { return entries_; }
    const MemberEntry* find(const std::string& name) const;

    // A node named in a join: added as alive at incarnation 0 (its own gossip
    // brings the real one). True when the state changed.
    bool add(const std::string& name, const std::vector<Address>& addrs, NodeRole role = NodeRole::server);
    // Marks `name` left at the incarnation known here. False when unknown.
    bool remove(const std::string& name);
    // Marks `name`, alive at the incarnation known here, down. False when
    // it is not alive here.
    bool mark_down(const std::string& name);
    // This node leaves: marks itself left and forgets everyone else.
    void leave_self();
    // This node (re)joins: alive again with an incarnation above any before.
    void rejoin_self(uint64_t incarnation_hint);

    struct MergeResult {
        bool changed = false;
        bool removed_self = false;  // someone made this node leave
        bool refuted = false;       // someone marked this node down: it raised its incarnation
        size_t refused = 0;         // new entries not taken in (the set is full)
    };
    MergeResult merge(const std::vector<MemberEntry>& remote);

    // Makes room for one more entry by dropping an entry (not this node's)
    // for which `expendable` is true; false when there is none.
    template <typename Pred>
    bool evict_one(Pred&& expendable) {
        for (auto it = entries_.begin(); it != entries_.end(); ++it)
            if (it->first != self_ && expendable(it->second)) {
                entries_.erase(it);
                return true;
            }
        return false;
    }
    bool full() const { return entries_.size() >= max_entries_; }

    // Names of the other nodes that have not left (alive or down).
    std::vector<std::string> others() const;

    void encode(ByteBuffer& out) const;
    // False when malformed: bad lengths, statuses, roles, node names or
    // addresses (an entry must be usable as it is).
    static bool decode(const uint8_t* data, size_t size, std::vector<MemberEntry>& out);

private:
    std::string self_;
    size_t max_entries_;
    std::map<std::string, MemberEntry> entries_;
};

}  // namespace partisan
