// The peer-to-peer overlay as the node drives it (join, links up, frames,
// announcements, ticks) over a fake network of links and a fake clock; its
// route table; the broadcast service over fake links, with and without
// relays; the broadcast payload codec.
#include "partisan/broadcast/broadcast_payload.hpp"
#include "partisan/broadcast/broadcast_service.hpp"
#include "partisan/codec/peer_frames.hpp"
#include "partisan/overlay/overlay.hpp"
#include "partisan/overlay/peer_to_peer/hyparview_frames.hpp"
#include "partisan/overlay/peer_to_peer/route_table.hpp"

#include <catch2/catch.hpp>

#include "test_support.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <set>

using namespace partisan;
using namespace std::chrono_literals;

namespace {

using test::NullFd;

struct FakeLinks : LinkView {
    std::set<std::string> up_set;
    bool up(const std::string& p) const override { return up_set.count(p) > 0; }
    bool never_reached(const std::string&) const override { return false; }
    std::vector<std::string> up_peers() const override { return {up_set.begin(), up_set.end()}; }
};

struct P2PNode {
    Config config;
    NullFd null;
    Logger log{LogLevel::info, null.fd};
    FakeLinks links;
    std::unique_ptr<Overlay> overlay;
};

// Overlays of several nodes, their frames carried between them at once.
struct Net {
    std::chrono::milliseconds now{1000};
    std::map<std::string, std::unique_ptr<P2PNode>> nodes;
    // Overlay outputs not carried out yet, with the node they came from and
    // the peer whose frame they answer.
    std::deque<std::tuple<std::string, std::string, OverlayOutput>> pending;
    std::vector<std::string> announced;
    // What each node's transport was last told (reconcile): its
    // neighbours, and whether each is a short-lived, control-only link.
    std::map<std::string, std::map<std::string, bool>> told;

    P2PNode& add(const std::string& name, uint16_t port) {
        auto n = std::make_unique<P2PNode>();
        n->config.beam_node = name;
        n->config.topology = "peer_to_peer";
        n->config.max_active_size = 3;
        n->config.max_passive_size = 5;
        n->config.arwl = 3;
        n->config.prwl = 1;
        n->config.announce_interval_ms = 1000;
        OverlayContext ctx{n->config, n->log, n->links, {Address{"127.0.0.1", port}}, port,
                           [this] { return now; }};
        n->overlay = make_overlay(ctx);
        REQUIRE(n->overlay);
        return *nodes.emplace(name, std::move(n)).first->second;
    }
    Overlay& at(const std::string& name) { return *nodes.at(name)->overlay; }

    void push(const std::string& node, OverlayOutput out, const std::string& answering = {}) {
        pending.emplace_back(node, answering, std::move(out));
    }
    // Carries out outputs until none is left: frames to their peers,
    // replies back, links reconciled (a new link comes up at once).
    void run() {
        for (int guard = 0; !pending.empty(); ++guard) {
            REQUIRE(guard < 10000);
            auto [from, answering, out] = std::move(pending.front());
            pending.pop_front();
            for (auto& [peer, frame] : out.to_peers)
                if (nodes.at(from)->links.up(peer)) deliver(peer, from, frame);
            for (auto& frame : out.replies) deliver(answering, from, frame);
            if (out.announce) announced.push_back(from);
            if (out.neighbours_changed) reconcile(from);
        }
    }
    void deliver(const std::string& to, const std::string& from, const ByteBuffer& frame) {
        REQUIRE(frame.size() > 4);
        OverlayOutput out;
        REQUIRE(at(to).handles_frame(frame.data()[4]));
        REQUIRE(at(to).on_frame(from, frame.data() + 4, frame.size() - 4, out));
        push(to, std::move(out), from);
    }
    void reconcile(const std::string& name) {
        P2PNode& n = *nodes.at(name);
        std::set<std::string> wanted;
        told[name].clear();
        for (auto& nb : n.overlay->neighbours()) {
            wanted.insert(nb.name);
            told[name][nb.name] = nb.control_only;
        }
        for (auto it = n.links.up_set.begin(); it != n.links.up_set.end();)
            it = wanted.count(*it) ? std::next(it) : n.links.up_set.erase(it);
        for (auto& peer : wanted) {
            if (n.links.up(peer) || !nodes.count(peer)) continue;
            n.links.up_set.insert(peer);
            OverlayOutput out;
            n.overlay->peer_up(peer, out);
            push(name, std::move(out));
        }
    }
    void join(const std::string& node, const std::string& contact, uint16_t port) {
        OverlayOutput out;
        at(node).join(contact, {Address{"127.0.0.1", port}}, 0, out);
        push(node, std::move(out));
        run();
    }
    std::vector<std::string> active(const std::string& node) { return at(node).views()->active; }
};

}  // namespace

TEST_CASE("p2p: the registry knows peer_to_peer") {
    auto names = overlay_names();
    REQUIRE(std::find(names.begin(), names.end(), "peer_to_peer") != names.end());
}

TEST_CASE("p2p: joins through a contact give symmetric active views and members") {
    Net net;
    net.add("a@h", 4001);
    net.add("b@h", 4002);
    net.add("c@h", 4003);
    net.join("b@h", "a@h", 4001);
    REQUIRE(net.active("a@h") == std::vector<std::string>{"b@h"});
    REQUIRE(net.active("b@h") == std::vector<std::string>{"a@h"});
    net.join("c@h", "a@h", 4001);
    for (auto* n : {"a@h", "b@h", "c@h"}) {
        auto act = net.active(n);
        CAPTURE(n, act);
        REQUIRE(act.size() == 2);  // three nodes, room for three: a triangle
        for (auto& peer : act) {
            REQUIRE(net.at(n).member_link(peer));
            auto back = net.active(peer);
            REQUIRE(std::find(back.begin(), back.end(), n) != back.end());
        }
    }
    REQUIRE_FALSE(net.at("a@h").member_link("x@h"));
    // Active neighbours get channel links; the views name no one else.
    for (auto& nb : net.at("a@h").neighbours()) REQUIRE_FALSE(nb.control_only);
    REQUIRE(net.at("a@h").contacts().size() >= 2);
}

TEST_CASE("p2p: a passive peer that accepts a NEIGHBOR request is a neighbour to the transport at once") {
    Net net;
    net.add("a@h", 4001);
    net.add("b@h", 4002);
    net.add("c@h", 4003);
    net.join("b@h", "a@h", 4001);
    net.join("c@h", "a@h", 4001);
    // b says it dropped a (as a full view making room does): a keeps b as
    // a backup, and no longer links to it.
    ByteBuffer disconnect;
    append_hyparview_frame(disconnect, hyparview::Disconnect{});
    net.deliver("a@h", "b@h", disconnect);
    net.run();
    REQUIRE(net.active("a@h") == std::vector<std::string>{"c@h"});
    REQUIRE_FALSE(net.told.at("a@h").count("b@h"));
    // a's next promotion asks b, over a short-lived link; b says yes.
    OverlayOutput first;
    net.at("a@h").tick(first);
    net.push("a@h", std::move(first));
    net.run();
    net.now += 6000ms;
    OverlayOutput promotion;
    net.at("a@h").tick(promotion);
    net.push("a@h", std::move(promotion));
    net.run();
    REQUIRE(net.active("a@h") == std::vector<std::string>{"b@h", "c@h"});
    REQUIRE(net.at("a@h").member_link("b@h"));
    // The transport heard of it: b gets its channel links, messages to it
    // go on them (a control-only link carries none).
    REQUIRE(net.told.at("a@h").count("b@h"));
    REQUIRE_FALSE(net.told.at("a@h").at("b@h"));
}

TEST_CASE("p2p: a new neighbour is announced soon, then every announce_interval") {
    Net net;
    net.add("a@h", 4001);
    net.add("b@h", 4002);
    OverlayOutput out;
    net.at("a@h").tick(out);
    REQUIRE_FALSE(out.announce);  // alone: nobody to tell
    net.join("b@h", "a@h", 4001);
    net.now += 600ms;
    OverlayOutput t1;
    net.at("a@h").tick(t1);
    REQUIRE(t1.announce);
    net.now += 500ms;
    OverlayOutput t2;
    net.at("a@h").tick(t2);
    REQUIRE_FALSE(t2.announce);
    net.now += 600ms;
    OverlayOutput t3;
    net.at("a@h").tick(t3);
    REQUIRE(t3.announce);
}

TEST_CASE("p2p: later neighbours are not announced early (each announcement reaches every node); the first one after none is") {
    Net net;
    net.nodes.clear();
    for (int i = 0; i < 6; ++i) net.add("n" + std::to_string(i) + "@h", static_cast<uint16_t>(4001 + i));
    net.nodes.at("n0@h")->config.announce_interval_ms = 60000;
    // Ticks n0 for `ms` in 100 ms steps; how often it announced.
    auto announcements = [&](int ms) {
        int n = 0;
        for (int t = 0; t < ms; t += 100) {
            net.now += 100ms;
            OverlayOutput out;
            net.at("n0@h").tick(out);
            n += out.announce ? 1 : 0;
        }
        return n;
    };
    net.join("n1@h", "n0@h", 4001);
    REQUIRE(announcements(700) == 1);  // the first neighbour
    for (int i = 2; i <= 4; ++i) {
        net.join("n" + std::to_string(i) + "@h", "n0@h", 4001);
        REQUIRE(announcements(5000) == 0);
    }
    REQUIRE(announcements(60000) == 1);  // the periodic one
    // Alone again (every neighbour gone), then a new neighbour: announced soon.
    for (const auto& peer : net.active("n0@h")) {
        net.nodes.at("n0@h")->links.up_set.erase(peer);
        OverlayOutput down;
        net.at("n0@h").peer_down(peer, down);
    }
    net.nodes.at("n0@h")->links.up_set.clear();
    REQUIRE(net.active("n0@h").empty());
    net.join("n5@h", "n0@h", 4001);
    REQUIRE(announcements(700) == 1);
}

TEST_CASE("p2p: the member lists are recomputed when a route to a new node is learned or one expires, not on every announcement") {
    Net net;
    net.add("a@h", 4001);
    net.add("b@h", 4002);
    net.join("b@h", "a@h", 4001);
    Overlay& a = net.at("a@h");
    OverlayOutput first;
    a.on_announce(NodeRef{"far@h", {}}, "b@h", 3, first);
    REQUIRE(first.reachable_changed);
    OverlayOutput again;
    a.on_announce(NodeRef{"far@h", {}}, "b@h", 3, again);
    REQUIRE_FALSE(again.reachable_changed);
    // announce_interval is 1 s: the route lives 3 s.
    bool expired = false;
    for (int i = 0; i < 40 && !expired; ++i) {
        net.now += 100ms;
        OverlayOutput out;
        a.tick(out);
        expired = out.reachable_changed;
    }
    REQUIRE(expired);
    REQUIRE_FALSE(a.relay_for("far@h"));
}

TEST_CASE("p2p: routes from announcements, only through an active neighbour that is up") {
    Net net;
    net.add("a@h", 4001);
    net.add("b@h", 4002);
    net.join("b@h", "a@h", 4001);
    Overlay& a = net.at("a@h");
    OverlayOutput out;
    a.on_announce(NodeRef{"far@h", {Address{"10.0.0.9", 9}}}, "b@h", 3, out);
    REQUIRE(a.relay_for("far@h") == std::optional<std::string>("b@h"));
    auto others = a.others();
    REQUIRE(std::find(others.begin(), others.end(), "far@h") != others.end());
    // Heard from a node that is no active neighbour: not a route.
    a.on_announce(NodeRef{"other@h", {}}, "stranger@h", 1, out);
    REQUIRE_FALSE(a.relay_for("other@h"));
    // Its own announcement comes back: no route to itself.
    a.on_announce(NodeRef{"a@h", {}}, "b@h", 2, out);
    REQUIRE_FALSE(a.relay_for("a@h"));
    // The neighbour's link is down: no route (until HyParView replaces it).
    net.nodes.at("a@h")->links.up_set.erase("b@h");
    REQUIRE_FALSE(a.relay_for("far@h"));
    net.nodes.at("a@h")->links.up_set.insert("b@h");
    OverlayOutput down;
    a.peer_down("b@h", down);
    REQUIRE_FALSE(a.relay_for("far@h"));  // dropped with the neighbour
}

TEST_CASE("p2p: malformed frames are refused, leave(Node) of a stranger is not known") {
    Net net;
    net.add("a@h", 4001);
    Overlay& a = net.at("a@h");
    OverlayOutput out;
    const uint8_t bad[] = {frame_hyparview, 0xee};
    REQUIRE_FALSE(a.on_frame("b@h", bad, sizeof bad, out));
    const uint8_t truncated[] = {frame_hyparview};
    REQUIRE_FALSE(a.on_frame("b@h", truncated, sizeof truncated, out));
    REQUIRE_FALSE(a.remove("nobody@h", out));
    REQUIRE(a.admits("anyone@h"));
    REQUIRE(a.broadcast_relays());
}

TEST_CASE("route table: newest announcement wins, drop by neighbour, expiry, bound") {
    RouteTable routes(3000ms, 2);
    REQUIRE(routes.learn(NodeRef{"x@h", {}}, "b@h", 2, 100ms));       // new: true
    REQUIRE_FALSE(routes.learn(NodeRef{"x@h", {}}, "c@h", 4, 200ms));  // a newer announcement came first via c
    REQUIRE(routes.next_hop("x@h") == std::optional<std::string>("c@h"));
    routes.learn(NodeRef{"y@h", {}}, "b@h", 1, 300ms);
    routes.learn(NodeRef{"z@h", {}}, "b@h", 1, 300ms);  // over the bound: not taken
    REQUIRE(routes.size() == 2);
    REQUIRE_FALSE(routes.next_hop("z@h"));
    routes.drop_via("b@h");
    REQUIRE(routes.destinations() == std::vector<std::string>{"x@h"});
    REQUIRE_FALSE(routes.expire(3200ms));
    REQUIRE(routes.expire(3300ms));
    REQUIRE(routes.size() == 0);
}

TEST_CASE("broadcast payload: user messages and announcements round trip, bad ones are refused") {
    const uint8_t ref[] = {119, 1, 's'};  // SMALL_ATOM_UTF8 's'
    const uint8_t msg[] = {97, 7};         // 7
    auto user = make_user_broadcast("bulk", Bytes{ref, sizeof ref}, Bytes{msg, sizeof msg});
    REQUIRE(broadcast_kind(user) == BroadcastKind::user);
    UserBroadcast u;
    REQUIRE(parse_user_broadcast(user, "a@h", u));
    REQUIRE(u.channel == "bulk");
    REQUIRE(u.ref.size == sizeof ref);
    REQUIRE(u.message.size == sizeof msg);
    auto bad_term = make_user_broadcast("bulk", Bytes{ref, sizeof ref}, Bytes{msg, 1});
    REQUIRE_FALSE(parse_user_broadcast(bad_term, "a@h", u));
    auto bad_channel = make_user_broadcast("", Bytes{ref, sizeof ref}, Bytes{msg, sizeof msg});
    REQUIRE_FALSE(parse_user_broadcast(bad_channel, "a@h", u));

    NodeRef self{"a@h", {Address{"127.0.0.1", 4001}, Address{"::1", 4001}}};
    auto ann = make_announce(self);
    NodeRef back;
    REQUIRE(broadcast_kind(ann) == BroadcastKind::announce);
    REQUIRE(parse_announce(ann, back));
    REQUIRE(back == self);
    REQUIRE_FALSE(parse_announce(ann + "x", back));
    REQUIRE_FALSE(broadcast_kind(std::string("\x07", 1)));
    REQUIRE_FALSE(broadcast_kind(""));
}

namespace {

// Broadcast services of several nodes over fixed links; frames carried at once.
struct BroadcastNet : BroadcastSink {
    struct Member {
        Config config;
        NullFd null;
        Logger log{LogLevel::info, null.fd};
        std::unique_ptr<BroadcastService> service;
        std::vector<std::pair<size_t, std::vector<uint8_t>>> delivered;
        std::vector<std::string> announced;
        std::vector<std::chrono::milliseconds> wakes;  // the ticks it asked for
    };
    std::chrono::milliseconds now{0};
    std::map<std::string, std::unique_ptr<Member>> members;
    std::deque<std::tuple<std::string, std::string, std::vector<uint8_t>>> frames;  // from, to, frame
    std::string current;  // whose service is acting
    uint64_t frames_sent = 0;

    void add(const std::string& name, bool relays, unsigned catch_up_ms = Config{}.broadcast_catch_up_ms) {
        auto m = std::make_unique<Member>();
        m->config.beam_node = name;
        m->config.broadcast_catch_up_ms = catch_up_ms;
        m->config.channels = {ChannelConfig{"undefined", 1, false}, ChannelConfig{"bulk", 1, false}};
        m->service = std::make_unique<BroadcastService>(m->config, m->log, name, 1000, relays,
                                                        [this] { return now; }, *this);
        members.emplace(name, std::move(m));
    }
    void link(const std::string& a, const std::string& b) {
        as(a, [&](BroadcastService& s) { s.neighbour_up(b); });
        as(b, [&](BroadcastService& s) { s.neighbour_up(a); });
    }
    void send_broadcast_frame(const std::string& peer, const ByteBuffer& frame) override {
        ++frames_sent;
        frames.emplace_back(current, peer, std::vector<uint8_t>(frame.data(), frame.data() + frame.size()));
    }
    void deliver_broadcast(size_t channel, Bytes, Bytes message) override {
        members.at(current)->delivered.emplace_back(channel,
                                                    std::vector<uint8_t>(message.data, message.data + message.size));
    }
    void on_announce(const NodeRef& origin, const std::string&, uint16_t) override {
        members.at(current)->announced.push_back(origin.name);
    }
    void wake_broadcast_in(std::chrono::milliseconds delay) override { members.at(current)->wakes.push_back(delay); }
    void as(const std::string& name, const std::function<void(BroadcastService&)>& fn) {
        std::string saved = current;
        current = name;
        fn(*members.at(name)->service);
        current = saved;
    }
    void run() {
        while (!frames.empty()) {
            auto [from, to, frame] = std::move(frames.front());
            frames.pop_front();
            as(to, [&](BroadcastService& s) { REQUIRE(s.on_frame(from, frame.data() + 4, frame.size() - 4)); });
        }
    }
};

}  // namespace

TEST_CASE("broadcast service: a line relays a broadcast to every node once, on its channel") {
    BroadcastNet net;
    for (auto* n : {"a@h", "b@h", "c@h", "d@h"}) net.add(n, true);
    net.link("a@h", "b@h");
    net.link("b@h", "c@h");
    net.link("c@h", "d@h");
    const uint8_t ref[] = {119, 1, 's'};
    const uint8_t msg[] = {97, 42};
    net.as("a@h", [&](BroadcastService& s) {
        REQUIRE(s.broadcast("bulk", Bytes{ref, sizeof ref}, Bytes{msg, sizeof msg}).empty());
        REQUIRE(s.broadcast("nope", Bytes{ref, sizeof ref}, Bytes{msg, sizeof msg}) == "unknown_channel");
    });
    net.run();
    for (auto& [name, m] : net.members) {
        CAPTURE(name);
        REQUIRE(m->delivered.size() == 1);
        REQUIRE(m->delivered[0].first == 1);
        REQUIRE(m->delivered[0].second == std::vector<uint8_t>{97, 42});
    }
    // Announcements reach the others, not the origin's own BEAM.
    net.as("d@h", [&](BroadcastService& s) { s.announce(NodeRef{"d@h", {Address{"127.0.0.1", 4004}}}); });
    net.run();
    REQUIRE(net.members.at("a@h")->announced == std::vector<std::string>{"d@h"});
    REQUIRE(net.members.at("d@h")->announced.empty());
    REQUIRE(net.members.at("a@h")->delivered.size() == 1);
}

TEST_CASE("broadcast service: an idle service asks for no tick; work asks for one, once, no sooner than the tick interval") {
    BroadcastNet net;
    for (auto* n : {"a@h", "b@h", "c@h"}) net.add(n, true);
    net.link("a@h", "b@h");
    net.link("b@h", "c@h");
    net.link("a@h", "c@h");
    for (auto& [name, m] : net.members) REQUIRE(m->wakes.empty());
    const uint8_t ref[] = {119, 1, 's'};
    const uint8_t msg[] = {97, 1};
    net.as("a@h", [&](BroadcastService& s) {
        REQUIRE(s.broadcast("undefined", Bytes{ref, sizeof ref}, Bytes{msg, sizeof msg}).empty());
        REQUIRE(s.broadcast("undefined", Bytes{ref, sizeof ref}, Bytes{msg, sizeof msg}).empty());
    });
    net.run();
    auto& a = *net.members.at("a@h");
    REQUIRE(a.wakes.size() == 1);  // the second broadcast needed nothing sooner
    REQUIRE(a.wakes[0] >= a.service->tick_interval());
    // Once the messages are forgotten (seen_ttl), ticks find nothing and ask for no more.
    for (int i = 0; i < 1000; ++i) {
        net.now += 100ms;
        for (auto& [name, m] : net.members) {
            m->wakes.clear();
            net.as(name, [](BroadcastService& s) { s.tick(); });
        }
        net.run();
    }
    for (auto& [name, m] : net.members) {
        CAPTURE(name);
        REQUIRE(m->wakes.empty());
    }
}

TEST_CASE("broadcast service: a node away for 20 s catches up when back only if broadcast_catch_up covers it") {
    for (unsigned catch_up : {5000u, 25000u}) {
        CAPTURE(catch_up);
        BroadcastNet net;
        for (auto* n : {"a@h", "b@h", "c@h"}) net.add(n, true, catch_up);
        net.link("a@h", "b@h");
        const uint8_t ref[] = {119, 1, 's'};
        const uint8_t msg[] = {97, 7};
        net.as("a@h", [&](BroadcastService& s) {
            REQUIRE(s.broadcast("undefined", Bytes{ref, sizeof ref}, Bytes{msg, sizeof msg}).empty());
        });
        net.run();
        auto advance = [&](std::chrono::milliseconds by) {
            for (auto end = net.now + by; net.now < end;) {
                net.now += 100ms;
                for (auto& [name, m] : net.members) net.as(name, [](BroadcastService& s) { s.tick(); });
                net.run();
            }
        };
        advance(20000ms);  // c was away meanwhile; now it links to a
        net.link("a@h", "c@h");
        advance(5000ms);   // IHAVE, then GRAFT after graft_timeout
        REQUIRE(net.members.at("b@h")->delivered.size() == 1);
        REQUIRE(net.members.at("c@h")->delivered.size() == (catch_up >= 20000 ? 1u : 0u));
    }
}

TEST_CASE("broadcast service: without relays (full mesh) receivers do not push on") {
    BroadcastNet net;
    for (auto* n : {"a@h", "b@h", "c@h"}) net.add(n, false);
    net.link("a@h", "b@h");
    net.link("a@h", "c@h");
    net.link("b@h", "c@h");
    const uint8_t ref[] = {119, 1, 's'};
    const uint8_t msg[] = {97, 1};
    net.as("a@h", [&](BroadcastService& s) { REQUIRE(s.broadcast("undefined", Bytes{ref, sizeof ref}, Bytes{msg, sizeof msg}).empty()); });
    net.run();
    REQUIRE(net.frames_sent == 2);  // the sender to each member, nothing more
    for (auto& [name, m] : net.members) REQUIRE(m->delivered.size() == 1);
}

TEST_CASE("broadcast service: a frame carrying a term the BEAM would refuse is malformed") {
    BroadcastNet net;
    net.add("a@h", true);
    net.add("b@h", true);
    net.link("a@h", "b@h");
    const uint8_t ref[] = {119, 1, 's'};
    const uint8_t bad_msg[] = {119, 1, 0xff};  // an atom that is not UTF-8
    net.as("a@h", [&](BroadcastService& s) { REQUIRE(s.broadcast("undefined", Bytes{ref, sizeof ref}, Bytes{bad_msg, sizeof bad_msg}).empty()); });
    REQUIRE(net.frames.size() == 1);
    auto [from, to, frame] = net.frames.front();
    net.as("b@h", [&](BroadcastService& s) { REQUIRE_FALSE(s.on_frame(from, frame.data() + 4, frame.size() - 4)); });
    REQUIRE(net.members.at("b@h")->delivered.empty());
}
