// The pubsub overlay (membership by presence through a broker) driven
// without I/O: a fake clock, frames handed in as the transport would.
#include "partisan/overlay/pubsub/pubsub_overlay.hpp"
#include "partisan/codec/peer_frames.hpp"

#include <catch2/catch.hpp>

#include "test_support.hpp"

#include <set>

using namespace partisan;
using namespace std::chrono_literals;

namespace {

struct NoLinks : LinkView {
    bool up(const std::string&) const override { return false; }
    bool never_reached(const std::string&) const override { return false; }
    std::vector<std::string> up_peers() const override { return {}; }
};

struct Fixture {
    Config config;
    test::NullFd null;
    Logger log{LogLevel::info, null.fd};
    NoLinks links;
    std::chrono::milliseconds now{1000000};
    std::unique_ptr<PubsubOverlay> overlay;

    Fixture() {
        config.beam_node = "me@h";
        config.topology = "pubsub";
        config.announce_interval_ms = 1000;
        config.member_timeout_ms = 5000;
        overlay = std::make_unique<PubsubOverlay>(OverlayContext{config, log, links, {}, 1, [this] { return now; }});
    }
    OverlayOutput hear(const std::string& from, PresenceKind kind) {
        OverlayOutput out;
        auto frame = presence_frame(kind);
        REQUIRE(overlay->on_frame(from, frame.data() + 4, frame.size() - 4, out));
        return out;
    }
    OverlayOutput connect(bool connected = true) {
        OverlayOutput out;
        overlay->connectivity(connected, out);
        return out;
    }
    OverlayOutput tick_at(std::chrono::milliseconds t) {
        now = t;
        OverlayOutput out;
        overlay->tick(out);
        return out;
    }
    std::set<std::string> members() const {
        auto o = overlay->others();
        return {o.begin(), o.end()};
    }
};

PresenceKind kind_of(const ByteBuffer& frame) {
    REQUIRE(frame.size() == 6);
    REQUIRE(frame.data()[4] == frame_presence);
    return static_cast<PresenceKind>(frame.data()[5]);
}

}  // namespace

TEST_CASE("pubsub: a node announces itself when the broker connection comes up, then periodically") {
    Fixture f;
    CHECK_FALSE(f.overlay->next_tick());  // nothing before the broker
    auto out = f.connect();
    REQUIRE(out.to_all.size() == 1);
    CHECK(kind_of(out.to_all[0]) == PresenceKind::hello);
    CHECK(f.tick_at(f.now + 500ms).to_all.empty());
    auto later = f.tick_at(f.now + 600ms);
    REQUIRE(later.to_all.size() == 1);
    CHECK(kind_of(later.to_all[0]) == PresenceKind::alive);
    REQUIRE(f.overlay->next_tick());
    CHECK(*f.overlay->next_tick() <= 1000ms);
}

TEST_CASE("pubsub: members are the nodes heard; a hello is answered directly; our own frames are ignored") {
    Fixture f;
    f.connect();
    auto out = f.hear("b@h", PresenceKind::alive);
    CHECK(out.neighbours_changed);
    CHECK(out.to_peers.empty());
    auto hello = f.hear("c@h", PresenceKind::hello);
    CHECK(hello.neighbours_changed);
    REQUIRE(hello.to_peers.size() == 1);
    CHECK(hello.to_peers[0].first == "c@h");
    CHECK(kind_of(hello.to_peers[0].second) == PresenceKind::alive);
    CHECK_FALSE(f.hear("b@h", PresenceKind::alive).neighbours_changed);  // known already
    CHECK_FALSE(f.hear("me@h", PresenceKind::hello).neighbours_changed);
    CHECK(f.members() == std::set<std::string>{"b@h", "c@h"});
    CHECK_FALSE(f.overlay->needs_addresses());
    CHECK_FALSE(f.overlay->relay_for("b@h"));
    CHECK_FALSE(f.overlay->broadcast_relays());
    auto ns = f.overlay->neighbours();
    REQUIRE(ns.size() == 2);
    CHECK(ns[0].addrs.empty());
}

TEST_CASE("pubsub: a member not heard for member_timeout is removed, one that leaves at once") {
    Fixture f;
    f.connect();
    f.hear("b@h", PresenceKind::alive);
    f.hear("c@h", PresenceKind::alive);
    f.now += 3000ms;
    f.hear("c@h", PresenceKind::alive);
    auto out = f.tick_at(f.now + 2500ms);  // b: 5.5 s unheard, c: 2.5 s
    CHECK(out.neighbours_changed);
    CHECK(f.members() == std::set<std::string>{"c@h"});
    auto left = f.hear("c@h", PresenceKind::leaving);
    CHECK(left.neighbours_changed);
    CHECK(f.members().empty());
}

TEST_CASE("pubsub: while the broker is away nobody is removed; the clocks start again when it is back") {
    Fixture f;
    f.connect();
    f.hear("b@h", PresenceKind::alive);
    f.connect(false);
    CHECK_FALSE(f.overlay->next_tick());
    CHECK_FALSE(f.tick_at(f.now + 60000ms).neighbours_changed);
    CHECK(f.members() == std::set<std::string>{"b@h"});
    auto back = f.connect();
    REQUIRE(back.to_all.size() == 1);
    CHECK(kind_of(back.to_all[0]) == PresenceKind::hello);
    CHECK_FALSE(f.tick_at(f.now + 4000ms).neighbours_changed);
    CHECK(f.members() == std::set<std::string>{"b@h"});
    CHECK(f.tick_at(f.now + 2000ms).neighbours_changed);  // 6 s after the reconnect, still unheard
    CHECK(f.members().empty());
}

TEST_CASE("pubsub: leave says so to all and goes silent; a join brings the node back") {
    Fixture f;
    f.connect();
    f.hear("b@h", PresenceKind::alive);
    OverlayOutput out;
    f.overlay->leave(out);
    REQUIRE(out.to_all.size() == 1);
    CHECK(kind_of(out.to_all[0]) == PresenceKind::leaving);
    CHECK(out.neighbours_changed);
    CHECK(f.members().empty());
    CHECK(f.overlay->left());
    CHECK(f.hear("b@h", PresenceKind::hello).to_peers.empty());  // silent
    CHECK(f.members().empty());
    CHECK(f.tick_at(f.now + 10000ms).to_all.empty());

    OverlayOutput joined;
    f.overlay->join("b@h", {}, 0, joined);
    CHECK_FALSE(f.overlay->left());
    REQUIRE(joined.to_all.size() == 1);
    CHECK(kind_of(joined.to_all[0]) == PresenceKind::hello);
    REQUIRE(joined.to_peers.size() == 1);  // the node named answers at once
    CHECK(joined.to_peers[0].first == "b@h");
    CHECK(kind_of(joined.to_peers[0].second) == PresenceKind::hello);
    f.hear("b@h", PresenceKind::alive);
    CHECK(f.members() == std::set<std::string>{"b@h"});
}

TEST_CASE("pubsub: leave(Node) asks that node to leave; a leave request makes this node leave") {
    Fixture f;
    f.connect();
    f.hear("b@h", PresenceKind::alive);
    OverlayOutput out;
    CHECK_FALSE(f.overlay->remove("x@h", out));
    REQUIRE(f.overlay->remove("b@h", out));
    REQUIRE(out.to_peers.size() == 1);
    CHECK(out.to_peers[0].first == "b@h");
    CHECK(kind_of(out.to_peers[0].second) == PresenceKind::leave_request);
    CHECK(f.members().empty());

    f.hear("c@h", PresenceKind::alive);
    auto asked = f.hear("c@h", PresenceKind::leave_request);
    CHECK(f.overlay->left());
    REQUIRE(asked.to_all.size() == 1);
    CHECK(kind_of(asked.to_all[0]) == PresenceKind::leaving);
}

TEST_CASE("pubsub: malformed presence frames are refused; members stay within max_members") {
    Fixture f;
    f.config.max_members = 3;
    f.connect();
    OverlayOutput out;
    const uint8_t unknown_kind[] = {frame_presence, 9}, too_long[] = {frame_presence, 2, 0}, short_one[] = {frame_presence};
    CHECK_FALSE(f.overlay->on_frame("b@h", unknown_kind, sizeof unknown_kind, out));
    CHECK_FALSE(f.overlay->on_frame("b@h", too_long, sizeof too_long, out));
    CHECK_FALSE(f.overlay->on_frame("b@h", short_one, sizeof short_one, out));
    CHECK(f.members().empty());
    for (const char* n : {"b@h", "c@h", "d@h", "e@h"}) f.hear(n, PresenceKind::alive);
    CHECK(f.members().size() == 2);  // with this node, 3
}
