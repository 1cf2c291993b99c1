// HyParView in the races the overlay simulator (test/sim) found, each
// replayed by hand on one or two machines in the order the simulator
// delivered the messages: active views must not stay asymmetric, and a
// node must not stay alone long enough for joiners to make an island of it.
#include "partisan/overlay/peer_to_peer/hyparview.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace partisan;
using namespace partisan::hyparview;
using namespace std::chrono_literals;

namespace {

NodeRef ref(const std::string& name) { return NodeRef{name, {Address{"127.0.0.1", 4000}}}; }

// The messages of `e` to `peer`, in order.
std::vector<Message> to(const Effects& e, const std::string& peer) {
    std::vector<Message> out;
    for (const auto& [p, m] : e.sends)
        if (p == peer) out.push_back(m);
    return out;
}

template <typename T>
bool holds(const std::vector<Message>& ms, size_t i) {
    return i < ms.size() && std::holds_alternative<T>(ms[i]);
}

}  // namespace

// 500 nodes, active views of 3, seed 3: one node held another for good
// while that one did not hold it.
TEST_CASE("HyParView: a NEIGHBOR crossing a DISCONNECT leaves no one-sided neighbour", "[hyparview]") {
    Params p;
    p.active_size = 1;  // so that taking one node in drops the other
    HyParView a(ref("a@h"), p, 1), b(ref("b@h"), p, 2);
    const Millis now = 0ms;

    // a takes b in at the end of b's join walk (NEIGHBOR held for the link),
    // then drops it for d (DISCONNECT held after it).
    Effects e;
    a.on_message("c@h", ForwardJoin{ref("b@h"), 0}, now, e);
    a.on_message("c@h", ForwardJoin{ref("d@h"), 0}, now, e);
    REQUIRE(!a.in_active("b@h"));
    // Meanwhile b takes a in at the end of a's join walk.
    Effects f;
    b.on_message("e@h", ForwardJoin{ref("a@h"), 0}, now, f);
    REQUIRE(b.in_active("a@h"));

    // Both links come up: a's NEIGHBOR and DISCONNECT cross b's NEIGHBOR.
    Effects a_up, b_up;
    a.on_link_up("b@h", now, a_up);
    b.on_link_up("a@h", now, b_up);
    auto a_to_b = to(a_up, "b@h");
    auto b_to_a = to(b_up, "a@h");
    REQUIRE(holds<Neighbor>(a_to_b, 0));
    REQUIRE(holds<Disconnect>(a_to_b, 1));
    REQUIRE(holds<Neighbor>(b_to_a, 0));

    // b: a's NEIGHBOR (a is held already: yes), then its DISCONNECT.
    Effects b1;
    b.on_message("a@h", a_to_b[0], now, b1);
    b.on_message("a@h", a_to_b[1], now, b1);
    REQUIRE(!b.in_active("a@h"));
    auto b_yes = to(b1, "a@h");
    REQUIRE(holds<NeighborReply>(b_yes, 0));

    // a: b's NEIGHBOR, high priority, so taken in; then b's yes to a's own.
    Effects a1;
    a.on_message("b@h", b_to_a[0], now, a1);
    REQUIRE(a.in_active("b@h"));
    a.on_message("b@h", b_yes[0], now, a1);
    Effects a_up2;
    a.on_link_up("b@h", now, a_up2);  // the link a dropped, opened again for its reply
    std::vector<Message> a_yes = to(a1, "b@h");
    for (auto& m : to(a_up2, "b@h")) a_yes.push_back(m);
    REQUIRE(holds<NeighborReply>(a_yes, 0));

    // b gets a's yes to a request it no longer stands by: it tells a to drop it.
    Effects b2;
    b.on_message("a@h", a_yes[0], now, b2);
    REQUIRE(b2.answers.size() == 1);
    REQUIRE(std::holds_alternative<Disconnect>(b2.answers[0]));
    Effects a2;
    a.on_message("b@h", b2.answers[0], now, a2);

    // Neither holds the other.
    CHECK(a.in_active("b@h") == b.in_active("a@h"));
    CHECK(!a.in_active("b@h"));
}

// 2,000 nodes, one join every 2 ms, seed 25: a node dropped by both its
// neighbours (DISCONNECTs, to make room for joiners) waited for the
// promotion timer; a node joined through it meanwhile, and the two held only
// each other from then on, an island nobody would take in.
TEST_CASE("HyParView: a node a DISCONNECT leaves alone asks a backup at once, at high priority", "[hyparview]") {
    HyParView x(ref("x@h"), Params{}, 3);
    Effects e;
    x.on_message("a@h", Neighbor{ref("a@h"), true}, 0ms, e);
    x.on_link_up("a@h", 0ms, e);
    // A shuffle from a that ends here leaves p as a backup.
    x.on_message("a@h", Shuffle{ref("a@h"), 0, 7, {ref("p@h")}}, 0ms, e);
    REQUIRE(x.in_active("a@h"));

    Effects d;
    x.on_message("a@h", Disconnect{}, 10ms, d);
    REQUIRE(!x.in_active("a@h"));
    REQUIRE(d.links_changed);
    Effects up;
    x.on_link_up("p@h", 20ms, up);
    auto asked = to(up, "p@h");
    REQUIRE(holds<Neighbor>(asked, 0));
    CHECK(std::get<Neighbor>(asked[0]).high_priority);
}

// 2,000 nodes, seed 1: b's yes to an earlier NEIGHBOR of a's (since
// DISCONNECTed) arrived after a had asked b again, so a took it for the
// answer and took b in; b's real answer, a no, was then ignored, and a held b
// for good while b did not hold a.
TEST_CASE("HyParView: a no from a peer taken in on an earlier yes drops it", "[hyparview]") {
    Params p;
    p.active_size = 2;
    HyParView a(ref("a@h"), p, 4);
    Effects e;
    a.on_message("c@h", Neighbor{ref("c@h"), true}, 0ms, e);
    a.on_link_up("c@h", 0ms, e);
    a.on_message("c@h", Shuffle{ref("c@h"), 0, 7, {ref("b@h")}}, 0ms, e);

    // The promotion timer: a, not full, asks its backup b.
    Effects t;
    a.tick(0ms, t);
    a.tick(p.promotion_interval, t);
    a.on_link_up("b@h", p.promotion_interval, t);
    REQUIRE(holds<Neighbor>(to(t, "b@h"), 0));

    // b's yes to an earlier request comes first, then its no to this one.
    Effects r;
    a.on_message("b@h", NeighborReply{ref("b@h"), true}, p.promotion_interval, r);
    REQUIRE(a.in_active("b@h"));
    a.on_message("b@h", NeighborReply{ref("b@h"), false}, p.promotion_interval, r);
    CHECK(!a.in_active("b@h"));
    CHECK(std::count(r.active_removed.begin(), r.active_removed.end(), "b@h") == 1);
}
