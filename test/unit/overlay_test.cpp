// The overlays (full mesh, static, client-server) driven without I/O: a
// fake view of the links, frames handed from one overlay to another.
#include "partisan/overlay/overlay.hpp"
#include "partisan/codec/peer_frames.hpp"

#include <catch2/catch.hpp>

#include "test_support.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <set>

using namespace partisan;

namespace {

// Which peers' control links are up, as the node would say.
struct FakeLinks : LinkView {
    std::set<std::string> up_set, dialing;
    bool up(const std::string& p) const override { return up_set.count(p) > 0; }
    bool never_reached(const std::string& p) const override { return dialing.count(p) > 0; }
    std::vector<std::string> up_peers() const override { return {up_set.begin(), up_set.end()}; }
};

using test::NullFd;

// One node's overlay with its own configuration, links and log.
struct Node {
    Config config;
    NullFd null;
    Logger log{LogLevel::info, null.fd};
    FakeLinks links;
    std::unique_ptr<Overlay> overlay;

    Node(const std::string& name, const std::string& topology, uint16_t port, const std::string& role = "server") {
        config.beam_node = name;
        config.topology = topology;
        config.role = role;
        config.static_peers = {StaticPeer{"a@h", "127.0.0.1", 4001}, StaticPeer{"b@h", "127.0.0.1", 4002}};
        overlay = make_overlay(OverlayContext{config, log, links, {Address{"127.0.0.1", port}}, uint64_t{1000} + port});
        REQUIRE(overlay);
    }
    std::vector<std::string> neighbour_names() const {
        std::vector<std::string> out;
        for (const auto& n : overlay->neighbours()) out.push_back(n.name);
        return out;
    }
    const Neighbour* neighbour(const std::string& name) const {
        static thread_local std::vector<Neighbour> last;
        last = overlay->neighbours();
        auto it = std::find_if(last.begin(), last.end(), [&](const Neighbour& n) { return n.name == name; });
        return it == last.end() ? nullptr : &*it;
    }
};

// Hands a frame (with its 4-byte length) to `to` as if from `from`.
OverlayOutput deliver(Node& to, const std::string& from, const ByteBuffer& frame) {
    OverlayOutput out;
    REQUIRE(frame.size() > 4);
    REQUIRE(to.overlay->handles_frame(frame.data()[4]));
    REQUIRE(to.overlay->on_frame(from, frame.data() + 4, frame.size() - 4, out));
    return out;
}

}  // namespace

TEST_CASE("the registry knows the five topologies and nothing else") {
    auto names = overlay_names();
    REQUIRE(names == std::vector<std::string>{"client_server", "full_mesh", "peer_to_peer", "pubsub", "static"});
    Config c;
    c.topology = "ring";
    NullFd null;
    Logger log(LogLevel::info, null.fd);
    FakeLinks links;
    REQUIRE_FALSE(make_overlay(OverlayContext{c, log, links, {}, 1}));
}

TEST_CASE("full mesh: a join makes a neighbour; gossip spreads both ways") {
    Node a("a@h", "full_mesh", 4001), b("b@h", "full_mesh", 4002);
    REQUIRE(a.overlay->dynamic());
    REQUIRE(a.overlay->admits("anyone@h"));
    OverlayOutput out;
    a.overlay->join("b@h", {Address{"127.0.0.1", 4002}}, 5, out);
    REQUIRE(out.neighbours_changed);
    REQUIRE(out.to_peers.empty());  // nobody is up yet
    REQUIRE(a.neighbour_names() == std::vector<std::string>{"b@h"});
    REQUIRE(a.neighbour("b@h")->addrs == std::vector<Address>{{"127.0.0.1", 4002}});
    REQUIRE(a.overlay->contacts().empty());  // b's own word not heard yet

    // a's link to b comes up: a tells b all it knows.
    a.links.up_set.insert("b@h");
    OverlayOutput up;
    a.overlay->peer_up("b@h", up);
    REQUIRE(up.to_peers.size() == 1);
    REQUIRE(up.to_peers[0].first == "b@h");
    OverlayOutput at_b = deliver(b, "a@h", up.to_peers[0].second);
    REQUIRE(at_b.neighbours_changed);
    REQUIRE(b.neighbour_names() == std::vector<std::string>{"a@h"});
    REQUIRE(b.neighbour("a@h")->addrs == std::vector<Address>{{"127.0.0.1", 4001}});
    // Push-pull: b's answer teaches a b's own entry.
    REQUIRE(at_b.answer);
    deliver(a, "b@h", *at_b.answer);
    auto contacts = a.overlay->contacts();
    REQUIRE(contacts.size() == 1);
    REQUIRE(contacts[0].first == "b@h");
    REQUIRE_FALSE(a.overlay->relay_for("b@h"));  // full mesh never relays
}

TEST_CASE("full mesh: periodic gossip goes to at most gossip_fanout up peers") {
    Node a("a@h", "full_mesh", 4001);
    a.config.gossip_fanout = 3;
    for (const char* p : {"b@h", "c@h", "d@h", "e@h", "f@h"}) a.links.up_set.insert(p);
    OverlayOutput out;
    a.overlay->tick(out);
    REQUIRE(out.to_peers.size() == 3);
    std::set<std::string> to;
    for (auto& [peer, frame] : out.to_peers) to.insert(peer);
    REQUIRE(to.size() == 3);
    for (const auto& p : to) REQUIRE(a.links.up_set.count(p) == 1);
}

TEST_CASE("leave: everyone up hears it, then no neighbours are left") {
    Node a("a@h", "full_mesh", 4001), b("b@h", "full_mesh", 4002);
    OverlayOutput out;
    a.overlay->join("b@h", {Address{"127.0.0.1", 4002}}, 5, out);
    a.links.up_set.insert("b@h");
    OverlayOutput left;
    a.overlay->leave(left);
    REQUIRE(left.neighbours_changed);
    REQUIRE(left.to_peers.size() == 1);
    REQUIRE(a.overlay->neighbours().empty());
    // b hears a left: a is no neighbour of b's.
    OverlayOutput to_b;
    b.overlay->join("a@h", {Address{"127.0.0.1", 4001}}, 5, to_b);
    deliver(b, "a@h", left.to_peers[0].second);
    REQUIRE(b.overlay->neighbours().empty());
}

TEST_CASE("remove, unreachable and a failed join") {
    Node a("a@h", "full_mesh", 4001);
    OverlayOutput out;
    a.overlay->join("b@h", {Address{"127.0.0.1", 4002}}, 5, out);
    a.overlay->join("c@h", {Address{"127.0.0.1", 4003}}, 5, out);
    OverlayOutput down;
    a.overlay->unreachable({"b@h"}, down);
    REQUIRE(down.neighbours_changed);
    REQUIRE(a.neighbour("b@h")->down);
    REQUIRE_FALSE(a.neighbour("c@h")->down);
    OverlayOutput failed;
    a.overlay->join_failed("c@h", failed);  // never heard from: forgotten
    REQUIRE(failed.neighbours_changed);
    REQUIRE(a.neighbour_names() == std::vector<std::string>{"b@h"});
    OverlayOutput removed;
    REQUIRE(a.overlay->remove("b@h", removed));
    REQUIRE(a.overlay->neighbours().empty());
    REQUIRE_FALSE(a.overlay->remove("b@h", removed));
    REQUIRE_FALSE(a.overlay->remove("zz@h", removed));
}

TEST_CASE("a full membership makes room for a talking peer by dropping one never reached") {
    Node a("a@h", "full_mesh", 4001), d("d@h", "full_mesh", 4004);
    a.config.max_members = 3;
    a.overlay = make_overlay(OverlayContext{a.config, a.log, a.links, {Address{"127.0.0.1", 4001}}, 7});
    OverlayOutput out;
    a.overlay->join("b@h", {Address{"127.0.0.1", 4002}}, 5, out);
    a.overlay->join("c@h", {Address{"127.0.0.1", 4003}}, 5, out);
    a.links.dialing = {"c@h"};
    OverlayOutput up;
    d.overlay->join("a@h", {Address{"127.0.0.1", 4001}}, 5, up);
    d.links.up_set.insert("a@h");
    d.overlay->peer_up("a@h", up);
    deliver(a, "d@h", up.to_peers.back().second);
    REQUIRE(a.neighbour_names() == std::vector<std::string>{"b@h", "d@h"});
}

TEST_CASE("static: the configured peers only; membership is fixed") {
    Node a("a@h", "static", 4001);
    REQUIRE_FALSE(a.overlay->dynamic());
    REQUIRE(a.neighbour_names() == std::vector<std::string>{"b@h"});  // itself left out
    REQUIRE(a.overlay->admits("b@h"));
    REQUIRE_FALSE(a.overlay->admits("d@h"));
    // Gossip is read (it must be well formed) but changes nothing.
    Node d("d@h", "full_mesh", 4004);
    d.links.up_set.insert("a@h");
    OverlayOutput up;
    d.overlay->peer_up("a@h", up);
    OverlayOutput out = deliver(a, "d@h", up.to_peers[0].second);
    REQUIRE_FALSE(out.neighbours_changed);
    REQUIRE(a.neighbour_names() == std::vector<std::string>{"b@h"});
    const uint8_t bad[] = {frame_gossip, 0xff};
    REQUIRE_FALSE(a.overlay->on_frame("d@h", bad, sizeof bad, out));
    // No periodic gossip.
    a.links.up_set.insert("b@h");
    OverlayOutput tick;
    a.overlay->tick(tick);
    REQUIRE(tick.to_peers.empty());
}

TEST_CASE("client-server: clients link to servers, a connected server relays between clients") {
    Node s("s@h", "client_server", 4001), c1("c1@h", "client_server", 4002, "client"),
        c2("c2@h", "client_server", 4003, "client");
    // c2 and c1 join the server; the server's gossip tells c1 about c2.
    for (Node* c : {&c1, &c2}) {
        OverlayOutput out;
        c->overlay->join("s@h", {Address{"127.0.0.1", 4001}}, 5, out);
        c->links.up_set.insert("s@h");
        OverlayOutput up;
        c->overlay->peer_up("s@h", up);
        deliver(s, c->config.beam_node, up.to_peers[0].second);
    }
    REQUIRE(s.neighbour_names() == std::vector<std::string>{"c1@h", "c2@h"});
    s.links.up_set = {"c1@h", "c2@h"};
    OverlayOutput tick;
    s.config.gossip_fanout = 2;
    s.overlay->tick(tick);
    for (auto& [peer, frame] : tick.to_peers)
        if (peer == "c1@h") deliver(c1, "s@h", frame);
    REQUIRE(c1.neighbour_names() == std::vector<std::string>{"s@h"});  // not c2
    REQUIRE(c1.overlay->relay_for("c2@h") == std::optional<std::string>("s@h"));
    c1.links.up_set.clear();
    REQUIRE_FALSE(c1.overlay->relay_for("c2@h"));  // no server up
    REQUIRE_FALSE(s.overlay->relay_for("c1@h"));    // servers link directly
}
