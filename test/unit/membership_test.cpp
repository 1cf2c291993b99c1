// The membership CRDT: merge laws, leave beating stale gossip, rejoin, and
// convergence over a lossy simulated network.
#include "partisan/overlay/membership.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace partisan;

namespace {

std::vector<MemberEntry> state_of(const Membership& m) {
    std::vector<MemberEntry> out;
    for (const auto& [n, e] : m.entries()) out.push_back(e);
    return out;
}

MemberEntry entry(const std::string& name, uint64_t inc, Status status, uint16_t port = 1) {
    return MemberEntry{name, inc, status, {Address{"127.0.0.1", port}}};
}
constexpr Status alive = Status::alive, left = Status::left, down = Status::down;

// Merges `states` into a fresh replica (owner "z@h") in the given order.
std::map<std::string, MemberEntry> merged(const std::vector<std::vector<MemberEntry>>& states) {
    Membership m("z@h", {}, 1);
    for (const auto& s : states) m.merge(s);
    return m.entries();
}

}  // namespace

TEST_CASE("merge is commutative, associative and idempotent") {
    std::vector<MemberEntry> a = {entry("a@h", 5, alive), entry("b@h", 2, alive), entry("d@h", 4, left)};
    std::vector<MemberEntry> b = {entry("a@h", 5, left), entry("c@h", 1, alive, 9), entry("d@h", 4, down)};
    std::vector<MemberEntry> c = {entry("b@h", 3, alive), entry("c@h", 1, alive, 7), entry("b@h", 2, down)};
    auto abc = merged({a, b, c});
    REQUIRE(abc == merged({c, b, a}));
    REQUIRE(abc == merged({b, a, c}));
    REQUIRE(abc == merged({a, a, b, b, c, c, a}));
    REQUIRE(abc.at("a@h").left());               // left beats alive at the same incarnation
    REQUIRE(abc.at("d@h").left());               // and down
    REQUIRE(abc.at("b@h").incarnation == 3);     // higher incarnation wins
    REQUIRE(abc.at("c@h").addrs[0].port == 9);   // ties broken the same way everywhere
}

TEST_CASE("a node that left is not resurrected by stale gossip, and can rejoin") {
    Membership a("a@h", {}, 10), b("b@h", {}, 20);
    a.merge(state_of(b));
    b.merge(state_of(a));
    std::vector<MemberEntry> stale = state_of(a);  // b alive at 20
    b.leave_self();
    a.merge(state_of(b));
    REQUIRE(a.find("b@h")->left());
    a.merge(stale);
    REQUIRE(a.find("b@h")->left());
    REQUIRE(a.others().empty());
    b.rejoin_self(21);
    REQUIRE_FALSE(b.has_left());
    a.merge(state_of(b));
    REQUIRE(a.others() == std::vector<std::string>{"b@h"});
}

TEST_CASE("a node removed by another leaves when it hears of it") {
    Membership a("a@h", {}, 10), b("b@h", {}, 20);
    a.merge(state_of(b));
    b.merge(state_of(a));
    REQUIRE(a.remove("b@h"));
    auto r = b.merge(state_of(a));
    REQUIRE(r.removed_self);
    REQUIRE(b.has_left());
    REQUIRE(b.entries().size() == 1);
    // Gossip after leaving is ignored until the node rejoins.
    REQUIRE_FALSE(b.merge(state_of(a)).changed);
}

TEST_CASE("gossip about an earlier life of this node is outranked") {
    Membership a("a@h", {}, 5);
    auto r = a.merge({entry("a@h", 9, left)});
    REQUIRE_FALSE(r.removed_self);
    REQUIRE_FALSE(a.has_left());
    REQUIRE(a.self_entry().incarnation == 10);
}

TEST_CASE("encoding round-trips and rejects damage") {
    Membership a("a@h", {Address{"10.0.0.1", 4000}}, 77);
    a.merge({entry("b@h", 3, left), entry("c@h", 4, alive), entry("e@h", 2, down)});
    ByteBuffer buf;
    a.encode(buf);
    std::vector<MemberEntry> back;
    REQUIRE(Membership::decode(buf.data(), buf.size(), back));
    REQUIRE(back == state_of(a));
    for (size_t cut = 0; cut < buf.size(); ++cut) REQUIRE_FALSE(Membership::decode(buf.data(), cut, back));
}

TEST_CASE("gossip converges on a lossy network") {
    // 8 replicas; each joined through a different one; every round each sends
    // its state to 2 random others and 30% of messages are lost.
    const int n = 8;
    std::vector<Membership> nodes;
    for (int i = 0; i < n; ++i) nodes.emplace_back("n" + std::to_string(i) + "@h", std::vector<Address>{}, 100 + i);
    for (int i = 1; i < n; ++i) nodes[static_cast<size_t>(i)].add("n" + std::to_string(i - 1) + "@h", {});
    nodes[3].leave_self();
    std::mt19937 rng(7);
    int rounds = 0;
    auto converged = [&] {
        for (int i = 0; i < n; ++i) {
            if (i == 3) continue;
            if (nodes[static_cast<size_t>(i)].others().size() != n - 2) return false;
        }
        return true;
    };
    // Node 3 left before anyone heard of it via gossip; a node joining it
    // gets its tombstone back. Start the cluster from node 0's joins.
    while (!converged() && rounds < 200) {
        ++rounds;
        for (int i = 0; i < n; ++i) {
            for (int k = 0; k < 2; ++k) {
                int j = static_cast<int>(rng() % n);
                if (j == i || rng() % 100 < 30) continue;
                auto s = state_of(nodes[static_cast<size_t>(i)]);
                nodes[static_cast<size_t>(j)].merge(s);
                // Contact is symmetric: a node also learns of one that talks to it.
                nodes[static_cast<size_t>(i)].merge(state_of(nodes[static_cast<size_t>(j)]));
            }
        }
    }
    REQUIRE(converged());
    INFO("rounds: " << rounds);
    for (int i = 0; i < n; ++i)
        if (i != 3) REQUIRE(nodes[static_cast<size_t>(i)].find("n3@h")->left());
}

TEST_CASE("a node marked down refutes it, and the mark does not come back") {
    Membership a("a@h", {}, 10), b("b@h", {}, 20);
    a.merge(state_of(b));
    b.merge(state_of(a));
    std::vector<MemberEntry> before = state_of(a);  // b alive at 20
    REQUIRE(a.mark_down("b@h"));
    REQUIRE_FALSE(a.mark_down("b@h"));  // only an alive member
    REQUIRE_FALSE(a.mark_down("a@h"));  // never itself
    REQUIRE(a.find("b@h")->status == down);
    REQUIRE(a.others() == std::vector<std::string>{"b@h"});  // still a member, only probed
    a.merge(before);
    REQUIRE(a.find("b@h")->status == down);  // stale "alive" loses to down
    auto r = b.merge(state_of(a));
    REQUIRE(r.refuted);
    REQUIRE_FALSE(r.removed_self);
    REQUIRE(b.self_entry().incarnation == 21);
    a.merge(state_of(b));
    REQUIRE(a.find("b@h")->alive());
    REQUIRE(a.find("b@h")->incarnation == 21);
}

TEST_CASE("gossip cannot grow the set past its bound") {
    Membership a("a@h", {}, 1, NodeRole::server, 4);
    std::vector<MemberEntry> flood;
    for (int i = 0; i < 100; ++i) flood.push_back(entry("n" + std::to_string(i) + "@h", 1, alive));
    auto r = a.merge(flood);
    REQUIRE(a.entries().size() == 4);
    REQUIRE(r.refused == 97);
    // Known entries still take updates.
    auto known = *a.find("n0@h");
    known.incarnation = 2;
    a.merge({known});
    REQUIRE(a.find("n0@h")->incarnation == 2);
}

TEST_CASE("gossip with unusable entries is refused whole") {
    auto encoded = [](const MemberEntry& e) {
        Membership m("a@h", {Address{"10.0.0.1", 4000}}, 1);
        m.merge({e});
        ByteBuffer buf;
        m.encode(buf);
        std::vector<MemberEntry> out;
        return Membership::decode(buf.data(), buf.size(), out);
    };
    REQUIRE(encoded(entry("b@h", 1, alive)));
    REQUIRE_FALSE(encoded(entry("no-at-sign", 1, alive)));
    REQUIRE_FALSE(encoded(entry("bad name@h", 1, alive)));
    REQUIRE_FALSE(encoded(MemberEntry{"b@h", 1, alive, {Address{"not-an-ip", 1}}}));
    REQUIRE_FALSE(encoded(MemberEntry{"b@h", 1, alive, {Address{"10.0.0.2", 0}}}));
    REQUIRE(encoded(MemberEntry{"b@h", 1, alive, {Address{"::1", 5}}}));
    // A count that the bytes cannot hold is refused before anything is
    // reserved for it.
    uint8_t huge[] = {2, 0xff, 0xff, 0xff, 0xff, 0, 0, 0};
    std::vector<MemberEntry> out;
    REQUIRE_FALSE(Membership::decode(huge, sizeof huge, out));
}
