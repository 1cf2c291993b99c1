// A topology decides who keeps connections to whom, whether membership can
// change at run time, whom to admit, and who relays for whom. One of these
// is chosen by configuration; the cluster asks it and does the rest
// (membership, connections, routing) the same way for all of them.
#pragma once

#include "partisan/config.hpp"
#include "partisan/membership.hpp"

#include <memory>
#include <string>

namespace partisan {

class Topology {
public:
    virtual ~Topology() = default;
    virtual const char* name() const = 0;
    // Whether this node keeps links to `peer`, an alive member.
    virtual bool links_to(const MemberEntry& self, const MemberEntry& peer) const = 0;
    // Whether join/leave change membership at run time (and gossip runs).
    virtual bool dynamic() const { return true; }
    // Whether a connection from `peer` is accepted.
    virtual bool admits(const std::string& /*peer*/) const { return true; }
    // Whether `via` may relay this node's messages to `dest`, to which this
    // node keeps no links.
    virtual bool relays(const MemberEntry& /*self*/, const MemberEntry& /*via*/, const MemberEntry& /*dest*/) const {
        return false;
    }
};

// Full mesh: everyone links to everyone.
class FullMeshTopology : public Topology {
public:
    const char* name() const override { return "full_mesh"; }
    bool links_to(const MemberEntry&, const MemberEntry&) const override { return true; }
};

// Static: links only to the configured peers; membership never changes.
class StaticTopology : public Topology {
public:
    explicit StaticTopology(std::vector<StaticPeer> peers) : peers_(std::move(peers)) {}
    const char* name() const override { return "static"; }
    bool links_to(const MemberEntry&, const MemberEntry& peer) const override { return admits(peer.name); }
    bool dynamic() const override { return false; }
    bool admits(const std::string& peer) const override;
    const std::vector<StaticPeer>& peers() const { return peers_; }

private:
    std::vector<StaticPeer> peers_;
};

// Client-server: servers link to everyone, clients only to servers; a
// server relays between clients.
class ClientServerTopology : public Topology {
public:
    const char* name() const override { return "client_server"; }
    bool links_to(const MemberEntry& self, const MemberEntry& peer) const override {
        return self.role == Role::server || peer.role == Role::server;
    }
    bool relays(const MemberEntry& self, const MemberEntry& via, const MemberEntry& dest) const override {
        return self.role == Role::client && via.role == Role::server && dest.role == Role::client;
    }
};

std::unique_ptr<Topology> make_topology(const Config& config);

}  // namespace partisan
