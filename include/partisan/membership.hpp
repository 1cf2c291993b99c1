// Cluster membership as a state-based CRDT: a map from node name to
// (incarnation, alive|left, addresses). Merge keeps, per node, the entry with
// the larger (incarnation, left) pair, so merges commute, associate and are
// idempotent, and a leave beats stale gossip of the same incarnation. Only a
// node itself raises its incarnation (when it rejoins), which is how it comes
// back after leaving.
#pragma once

#include "partisan/wire.hpp"

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

// What a node is in the client_server topology (servers in the others).
enum class Role : uint8_t { server = 0, client = 1 };

struct MemberEntry {
    std::string name;
    uint64_t incarnation = 0;
    bool left = false;
    std::vector<Address> addrs;
    Role role = Role::server;
    bool operator==(const MemberEntry&) const = default;
};

// True when `a` should replace `b` in a merge (same node name).
bool supersedes(const MemberEntry& a, const MemberEntry& b);

class Membership {
public:
    Membership(std::string self, std::vector<Address> self_addrs, uint64_t incarnation, Role role = Role::server);

    const std::string& self() const { return self_; }
    const MemberEntry& self_entry() const { return entries_.at(self_); }
    bool has_left() const { return self_entry().left; }
    const std::map<std::string, MemberEntry>& entries() const { return entries_; }
    const MemberEntry* find(const std::string& name) const;

    // A node named in a join: added as alive at incarnation 0 (its own gossip
    // brings the real one). True when the state changed.
    bool add(const std::string& name, const std::vector<Address>& addrs, Role role = Role::server);
    // Marks `name` left at the incarnation known here. False when unknown.
    bool remove(const std::string& name);
    // This node leaves: marks itself left and forgets everyone else.
    void leave_self();
    // This node (re)joins: alive again with an incarnation above any before.
    void rejoin_self(uint64_t incarnation_hint);

    struct MergeResult {
        bool changed = false;
        bool removed_self = false;  // someone made this node leave
    };
    MergeResult merge(const std::vector<MemberEntry>& remote);

    // Names of other nodes that are alive in the set.
    std::vector<std::string> alive_others() const;

    void encode(ByteBuffer& out) const;
    static bool decode(const uint8_t* data, size_t size, std::vector<MemberEntry>& out);

private:
    std::string self_;
    std::map<std::string, MemberEntry> entries_;
};

}  // namespace partisan
