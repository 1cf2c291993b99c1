// HyParView membership (hyparview.hpp) without I/O: single instances fed
// messages by hand, small clusters whose Effects a tiny in-test network
// delivers, random hostile event sequences with the invariants checked
// after each, and the frame codec (hyparview_frames.hpp).
#include "partisan/overlay/peer_to_peer/hyparview.hpp"
#include "partisan/overlay/peer_to_peer/hyparview_frames.hpp"
#include "partisan/codec/peer_frames.hpp"

#include <catch2/catch.hpp>

#include "hyparview_checker.hpp"

#include <deque>
#include <iterator>
#include <random>

using namespace partisan;
using namespace partisan::hyparview;
using namespace std::chrono_literals;
using partisan::test::CheckedHyParView;
using partisan::test::names_of;
using partisan::test::view_problem;

#define REQUIRE_OK(expr) REQUIRE((expr) == std::string())

namespace {

NodeRef node_ref(const std::string& name, uint16_t port = 4000) { return NodeRef{name, {Address{"127.0.0.1", port}}}; }

std::vector<NodeRef> refs(std::initializer_list<const char*> names) {
    std::vector<NodeRef> out;
    for (const char* n : names) out.push_back(node_ref(n));
    return out;
}

using Names = std::set<std::string>;

// The messages of `e` sent to `peer`, in order.
std::vector<Message> sent_to(const Effects& e, const std::string& peer) {
    std::vector<Message> out;
    for (const auto& [p, m] : e.sends)
        if (p == peer) out.push_back(m);
    return out;
}

template <typename T>
T only(const std::vector<Message>& ms) {
    REQUIRE(ms.size() == 1);
    REQUIRE(std::holds_alternative<T>(ms[0]));
    return std::get<T>(ms[0]);
}

// Takes `peers` in as neighbours (NEIGHBOR, high priority) and brings their
// links up.
void befriend(CheckedHyParView& x, std::initializer_list<const char*> peers, Millis now = 0ms) {
    for (const char* p : peers) {
        REQUIRE_OK(x.message(p, Neighbor{node_ref(p), true}, now));
        REQUIRE_OK(x.link_up(p, now));
        REQUIRE(x.hv().in_active(p));
    }
}

// Puts `nodes` in x's passive view: a shuffle from `via` (a neighbour of
// x's only) that ends at x.
void give_backups(CheckedHyParView& x, const std::string& via, const std::vector<NodeRef>& nodes, Millis now = 0ms) {
    Shuffle s{node_ref(via), 0, 77, nodes};
    REQUIRE_OK(x.message(via, s, now));
}

// Everything in Effects, frames as bytes: equal strings, equal effects.
std::string describe(const Effects& e) {
    std::string out;
    auto frame = [&](const Message& m) {
        ByteBuffer b;
        append_hyparview_frame(b, m);
        out.append(reinterpret_cast<const char*>(b.data()), b.size());
    };
    for (const auto& [peer, m] : e.sends) {
        out += "send " + peer + ":";
        frame(m);
    }
    for (const auto& m : e.answers) {
        out += "answer:";
        frame(m);
    }
    out += e.links_changed ? "links;" : "";
    for (const auto& n : e.active_added) out += "+" + n;
    for (const auto& n : e.active_removed) out += "-" + n;
    return out;
}

// A few nodes whose Effects are carried out here: sends and answers
// delivered in order, links brought up (or failed, to a dead node) when
// nothing is in flight. Every send must be on a link that is up.
struct Net {
    Params params;
    uint64_t seed;
    std::map<std::string, HyParView> nodes;
    std::set<std::string> dead;
    std::set<std::string> unreachable;  // dials to these hang: neither up nor failed
    std::map<std::string, Names> up, dialing;
    struct Delivery {
        std::string from, to;
        Message m;
    };
    std::deque<Delivery> wire;
    Millis now{0};

    explicit Net(Params p = {}, uint64_t s = 1) : params(p), seed(s) {}

    HyParView& add(const std::string& name) {
        return nodes.try_emplace(name, node_ref(name), params, seed * 1000 + nodes.size()).first->second;
    }
    HyParView& at(const std::string& name) { return nodes.at(name); }

    void apply(const std::string& node, Effects& e, const std::string* answer_to = nullptr) {
        for (auto& [peer, m] : e.sends) {
            REQUIRE(up[node].count(peer));
            wire.push_back({node, peer, std::move(m)});
        }
        for (auto& m : e.answers) {
            REQUIRE(answer_to);
            wire.push_back({node, *answer_to, std::move(m)});
        }
        if (e.links_changed) {
            Names links = names_of(at(node).links());
            std::erase_if(up[node], [&](const std::string& p) { return !links.count(p); });
            std::erase_if(dialing[node], [&](const std::string& p) { return !links.count(p); });
            for (const auto& p : links)
                if (!up[node].count(p)) dialing[node].insert(p);
        }
        REQUIRE(view_problem(at(node)) == "");
    }

    bool step() {
        if (!wire.empty()) {
            Delivery d = std::move(wire.front());
            wire.pop_front();
            if (dead.count(d.to)) return true;
            Effects e;
            at(d.to).on_message(d.from, d.m, now, e);
            apply(d.to, e, &d.from);
            return true;
        }
        for (auto& [node, peers] : dialing) {
            if (dead.count(node)) continue;
            for (const auto& peer : peers) {
                if (unreachable.count(peer)) continue;
                std::string n = node, p = peer;
                peers.erase(p);
                Effects e;
                if (dead.count(p)) {
                    at(n).on_link_down(p, now, e);
                } else {
                    up[n].insert(p);
                    at(n).on_link_up(p, now, e);
                }
                apply(n, e);
                return true;
            }
        }
        return false;
    }
    void run() {
        for (size_t i = 0; step(); ++i) REQUIRE(i < 200000);
    }

    void join(const std::string& node, const std::string& contact) {
        Effects e;
        at(node).join(node_ref(contact), now, e);
        apply(node, e);
        run();
    }
    void kill(const std::string& node) {
        dead.insert(node);
        for (auto& [name, hv] : nodes) {
            if (dead.count(name) || !names_of(hv.links()).count(node)) continue;
            up[name].erase(node);
            dialing[name].erase(node);
            Effects e;
            hv.on_link_down(node, now, e);
            apply(name, e);
        }
        run();
    }
    // `times` ticks of every live node, `dt` apart, each followed by delivery.
    void advance(Millis dt, int times = 1) {
        for (int i = 0; i < times; ++i) {
            now += dt;
            for (auto& [name, hv] : nodes) {
                if (dead.count(name)) continue;
                Effects e;
                hv.tick(now, e);
                apply(name, e);
            }
            run();
        }
    }

    Names active(const std::string& node) { return names_of(at(node).active()); }
    Names passive(const std::string& node) { return names_of(at(node).passive()); }
    std::vector<std::string> alive() const {
        std::vector<std::string> out;
        for (const auto& [name, hv] : nodes)
            if (!dead.count(name)) out.push_back(name);
        return out;
    }
    // Every live node's neighbours are live and have it as a neighbour too.
    void require_symmetric() {
        for (const auto& a : alive())
            for (const auto& b : active(a)) {
                INFO(a << " has " << b);
                REQUIRE_FALSE(dead.count(b));
                REQUIRE(at(b).in_active(a));
            }
    }
    // The active views join every live node.
    bool connected() {
        auto live = alive();
        if (live.empty()) return true;
        Names seen{live[0]};
        std::vector<std::string> todo{live[0]};
        while (!todo.empty()) {
            std::string n = todo.back();
            todo.pop_back();
            for (const auto& m : active(n))
                if (seen.insert(m).second) todo.push_back(m);
        }
        return seen.size() == live.size();
    }
    // Nodes n0..n(count-1), each joining through n0 in turn.
    void cluster(size_t count) {
        add("n0@h");
        for (size_t i = 1; i < count; ++i) {
            std::string name = "n" + std::to_string(i) + "@h";
            add(name);
            join(name, "n0@h");
        }
    }
};

}  // namespace

// ---- join and the forward-join walk ----------------------------------------

TEST_CASE("hyparview: a joiner holds JOIN until its link to the contact is up") {
    CheckedHyParView j(node_ref("j@h"), {}, 1);
    REQUIRE_OK(j.join(node_ref("c@h"), 0ms));
    REQUIRE(j.effects().links_changed);
    REQUIRE(j.effects().sends.empty());
    REQUIRE(j.effects().active_added == std::vector<std::string>{"c@h"});
    REQUIRE(names_of(j.hv().links()) == Names{"c@h"});
    REQUIRE_OK(j.link_up("c@h", 10ms));
    REQUIRE(only<Join>(sent_to(j.effects(), "c@h")).node == node_ref("j@h"));

    // Joining through itself does nothing.
    CheckedHyParView k(node_ref("k@h"), {}, 1);
    REQUIRE_OK(k.join(node_ref("k@h"), 0ms));
    REQUIRE(k.effects().empty());
}

TEST_CASE("hyparview: the contact takes the joiner in and walks it to every other neighbour") {
    CheckedHyParView c(node_ref("c@h"), {}, 1);
    befriend(c, {"a@h", "b@h", "d@h"});
    REQUIRE_OK(c.message("j@h", Join{node_ref("j@h", 5000)}, 0ms));
    REQUIRE(c.hv().in_active("j@h"));
    REQUIRE(c.effects().active_added == std::vector<std::string>{"j@h"});
    for (const char* p : {"a@h", "b@h", "d@h"}) {
        const auto& fj = only<ForwardJoin>(sent_to(c.effects(), p));
        REQUIRE(fj.node == node_ref("j@h", 5000));
        REQUIRE(fj.ttl == c.hv().params().arwl);
    }
    REQUIRE(sent_to(c.effects(), "j@h").empty());  // its link is not up yet
    REQUIRE(names_of(c.hv().links()).count("j@h"));

    // A JOIN naming another node than its sender, or a repeated one, does nothing.
    REQUIRE_OK(c.message("e@h", Join{node_ref("f@h")}, 0ms));
    REQUIRE(c.effects().empty());
    REQUIRE_OK(c.message("j@h", Join{node_ref("j@h")}, 0ms));
    REQUIRE(c.effects().empty());
}

TEST_CASE("hyparview: FORWARD_JOIN walks on, lands in passive at prwl, and in active at the end") {
    Params p;
    CheckedHyParView x(node_ref("x@h"), p, 3);
    befriend(x, {"a@h", "b@h", "c@h"});

    SECTION("ttl above prwl: forwarded to another neighbour than the sender, one hop less") {
        REQUIRE_OK(x.message("a@h", ForwardJoin{node_ref("n@h"), 5}, 0ms));
        REQUIRE(x.effects().sends.size() == 1);
        const auto& [to, m] = x.effects().sends[0];
        REQUIRE((to == "b@h" || to == "c@h"));
        REQUIRE(std::get<ForwardJoin>(m).ttl == 4);
        REQUIRE(std::get<ForwardJoin>(m).node == node_ref("n@h"));
        REQUIRE_FALSE(names_of(x.hv().passive()).count("n@h"));
        REQUIRE_FALSE(x.hv().in_active("n@h"));
    }
    SECTION("ttl at prwl: kept as a backup and forwarded") {
        REQUIRE_OK(x.message("a@h", ForwardJoin{node_ref("n@h"), p.prwl}, 0ms));
        REQUIRE(names_of(x.hv().passive()) == Names{"n@h"});
        REQUIRE(x.effects().sends.size() == 1);
        REQUIRE(std::get<ForwardJoin>(x.effects().sends[0].second).ttl == p.prwl - 1);
    }
    SECTION("ttl 0: taken in, and asked (high priority) to take this node in") {
        REQUIRE_OK(x.message("a@h", ForwardJoin{node_ref("n@h"), 0}, 0ms));
        REQUIRE(x.hv().in_active("n@h"));
        REQUIRE(x.effects().sends.empty());
        REQUIRE_OK(x.link_up("n@h", 1ms));
        const auto& nb = only<Neighbor>(sent_to(x.effects(), "n@h"));
        REQUIRE(nb.high_priority);
        REQUIRE(nb.node == node_ref("x@h"));
    }
    SECTION("ttl beyond arwl is clamped") {
        REQUIRE_OK(x.message("a@h", ForwardJoin{node_ref("n@h"), 255}, 0ms));
        REQUIRE(std::get<ForwardJoin>(x.effects().sends.at(0).second).ttl == p.arwl - 1);
    }
    SECTION("never forwarded back to the joiner; a walk naming this node takes nothing in") {
        for (int i = 0; i < 20; ++i) {
            REQUIRE_OK(x.message("a@h", ForwardJoin{node_ref("b@h"), 4}, 0ms));  // b is already a neighbour
            REQUIRE(x.effects().sends.size() == 1);
            REQUIRE(x.effects().sends[0].first == "c@h");
        }
        REQUIRE_OK(x.message("a@h", ForwardJoin{node_ref("x@h"), 0}, 0ms));
        REQUIRE(x.effects().empty());
    }
}

TEST_CASE("hyparview: a node with one neighbour ends the walk") {
    CheckedHyParView x(node_ref("x@h"), {}, 3);
    befriend(x, {"a@h"});
    REQUIRE_OK(x.message("a@h", ForwardJoin{node_ref("n@h"), 6}, 0ms));
    REQUIRE(names_of(x.hv().active()) == Names{"a@h", "n@h"});
}

TEST_CASE("hyparview: a third node joins a pair and all three are neighbours") {
    Net net;
    net.add("a@h");
    net.add("b@h");
    net.add("c@h");
    net.join("b@h", "a@h");
    REQUIRE(net.active("a@h") == Names{"b@h"});
    REQUIRE(net.active("b@h") == Names{"a@h"});
    net.join("c@h", "a@h");
    REQUIRE(net.active("a@h") == Names{"b@h", "c@h"});
    REQUIRE(net.active("b@h") == Names{"a@h", "c@h"});
    REQUIRE(net.active("c@h") == Names{"a@h", "b@h"});
    net.require_symmetric();
}

TEST_CASE("hyparview: joins through one contact make a connected, symmetric overlay") {
    Net net;
    net.cluster(20);
    net.require_symmetric();
    REQUIRE(net.connected());
    size_t passive = 0;
    for (const auto& n : net.alive()) {
        INFO(n);
        REQUIRE(net.active(n).size() >= 1);
        REQUIRE(net.active(n).size() <= 6);
        passive += net.passive(n).size();
    }
    REQUIRE(net.active("n0@h").size() == 6);  // the contact filled up and evicted
    REQUIRE(passive > 0);
    // The last joiner was taken in by the walks, not only by its contact.
    REQUIRE(net.active("n19@h").size() > 1);
}

// ---- active view bound, eviction, NEIGHBOR ----------------------------------

TEST_CASE("hyparview: a full active view evicts a random neighbour, which keeps it as a backup") {
    Params p;
    p.active_size = 2;
    Net net(p);
    for (const char* n : {"a@h", "b@h", "c@h", "d@h"}) net.add(n);
    net.join("b@h", "a@h");
    net.join("c@h", "a@h");
    REQUIRE(net.active("a@h") == Names{"b@h", "c@h"});
    net.join("d@h", "a@h");
    net.require_symmetric();
    REQUIRE(net.active("a@h").count("d@h"));
    // Exactly one of b and c was dropped by a, told so, and each keeps the other as a backup.
    Names a_passive = net.passive("a@h");
    REQUIRE(a_passive.size() == 1);
    std::string evicted = *a_passive.begin();
    REQUIRE((evicted == "b@h" || evicted == "c@h"));
    REQUIRE_FALSE(net.active("a@h").count(evicted));
    REQUIRE(net.passive(evicted).count("a@h"));
    for (const auto& n : net.alive()) REQUIRE(net.active(n).size() <= 2);
    REQUIRE(net.connected());
}

TEST_CASE("hyparview: NEIGHBOR with high priority is always taken; low priority only with room") {
    Params p;
    p.active_size = 2;
    CheckedHyParView x(node_ref("x@h"), p, 5);

    // Low priority with room: accepted, the reply goes on the new link.
    REQUIRE_OK(x.message("a@h", Neighbor{node_ref("a@h"), false}, 0ms));
    REQUIRE(x.hv().in_active("a@h"));
    REQUIRE(x.effects().answers.empty());
    REQUIRE(x.effects().sends.empty());
    REQUIRE_OK(x.link_up("a@h", 0ms));
    REQUIRE(only<NeighborReply>(sent_to(x.effects(), "a@h")).accepted);
    befriend(x, {"b@h"});

    // Low priority when full: refused on the link it came in on; no link opened.
    REQUIRE_OK(x.message("c@h", Neighbor{node_ref("c@h"), false}, 0ms));
    REQUIRE(x.effects().answers.size() == 1);
    const auto& no = std::get<NeighborReply>(x.effects().answers[0]);
    REQUIRE_FALSE(no.accepted);
    REQUIRE(no.node == node_ref("x@h"));
    REQUIRE(names_of(x.hv().links()) == Names{"a@h", "b@h"});
    REQUIRE_FALSE(x.effects().links_changed);

    // High priority when full: accepted, a random neighbour evicted with DISCONNECT.
    REQUIRE_OK(x.message("c@h", Neighbor{node_ref("c@h"), true}, 0ms));
    REQUIRE(x.hv().in_active("c@h"));
    REQUIRE(x.effects().active_removed.size() == 1);
    std::string evicted = x.effects().active_removed[0];
    REQUIRE((evicted == "a@h" || evicted == "b@h"));
    only<Disconnect>(sent_to(x.effects(), evicted));
    REQUIRE(names_of(x.hv().passive()) == Names{evicted});
    REQUIRE_FALSE(names_of(x.hv().links()).count(evicted));

    // A NEIGHBOR naming someone else than its sender is ignored.
    REQUIRE_OK(x.message("d@h", Neighbor{node_ref("e@h"), true}, 0ms));
    REQUIRE(x.effects().empty());
}

TEST_CASE("hyparview: DISCONNECT moves the sender to the passive view") {
    CheckedHyParView x(node_ref("x@h"), {}, 5);
    befriend(x, {"a@h", "b@h"});
    REQUIRE_OK(x.message("a@h", Disconnect{}, 0ms));
    REQUIRE(names_of(x.hv().active()) == Names{"b@h"});
    REQUIRE(names_of(x.hv().passive()) == Names{"a@h"});
    REQUIRE(names_of(x.hv().links()) == Names{"b@h"});
    REQUIRE(x.effects().active_removed == std::vector<std::string>{"a@h"});
    // From a non-neighbour: nothing.
    REQUIRE_OK(x.message("z@h", Disconnect{}, 0ms));
    REQUIRE(x.effects().empty());
}

// ---- failures and promotion -------------------------------------------------

TEST_CASE("hyparview: a failed neighbour is replaced from the passive view") {
    Params p;
    p.active_size = 2;
    CheckedHyParView x(node_ref("x@h"), p, 9);
    befriend(x, {"a@h", "b@h"});
    give_backups(x, "a@h", refs({"p@h", "q@h"}));
    REQUIRE(names_of(x.hv().passive()) == Names{"p@h", "q@h"});

    REQUIRE_OK(x.link_down("a@h", 100ms));
    REQUIRE(x.effects().active_removed == std::vector<std::string>{"a@h"});
    REQUIRE_FALSE(names_of(x.hv().passive()).count("a@h"));  // failed: not kept
    Names links = names_of(x.hv().links());
    REQUIRE(links.size() == 2);
    links.erase("b@h");
    std::string asked = *links.begin();
    REQUIRE((asked == "p@h" || asked == "q@h"));
    std::string other = asked == "p@h" ? "q@h" : "p@h";
    REQUIRE_OK(x.link_up(asked, 150ms));
    const auto& nb = only<Neighbor>(sent_to(x.effects(), asked));
    REQUIRE_FALSE(nb.high_priority);  // b is still a neighbour

    SECTION("accepted: the peer moves from passive to active") {
        REQUIRE_OK(x.message(asked, NeighborReply{node_ref(asked), true}, 200ms));
        REQUIRE(names_of(x.hv().active()) == Names{"b@h", asked});
        REQUIRE(names_of(x.hv().passive()) == Names{other});
        REQUIRE(x.effects().active_added == std::vector<std::string>{asked});
        // A second reply changes nothing.
        REQUIRE_OK(x.message(asked, NeighborReply{node_ref(asked), true}, 200ms));
        REQUIRE(x.effects().empty());
        // Nor does a yes never asked for, but the peer that says it holds
        // us is told to drop us, lest it hold us alone.
        REQUIRE_OK(x.message(other, NeighborReply{node_ref(other), true}, 200ms));
        REQUIRE(names_of(x.hv().active()) == Names{"b@h", asked});
        REQUIRE(x.effects().sends.empty());
        REQUIRE(x.effects().answers.size() == 1);
        REQUIRE(std::holds_alternative<Disconnect>(x.effects().answers[0]));
    }
    SECTION("refused: kept as a backup, its link closed, the next one asked") {
        REQUIRE_OK(x.message(asked, NeighborReply{node_ref(asked), false}, 200ms));
        REQUIRE(names_of(x.hv().passive()) == Names{"p@h", "q@h"});
        REQUIRE(names_of(x.hv().links()) == Names{"b@h", other});
        REQUIRE_OK(x.link_up(other, 250ms));
        only<Neighbor>(sent_to(x.effects(), other));
        // Refused too: nobody untried is left, so nobody is asked until the promotion timer.
        REQUIRE_OK(x.message(other, NeighborReply{node_ref(other), false}, 300ms));
        REQUIRE(names_of(x.hv().links()) == Names{"b@h"});
        REQUIRE_OK(x.tick(300ms));
        REQUIRE(names_of(x.hv().links()) == Names{"b@h"});
        REQUIRE_OK(x.tick(300ms + p.promotion_interval));
        REQUIRE(names_of(x.hv().links()).size() == 2);  // both tried: one asked again
    }
    SECTION("a dead passive peer is dropped and the next one asked") {
        REQUIRE_OK(x.link_down(asked, 200ms));
        REQUIRE(names_of(x.hv().passive()) == Names{other});
        REQUIRE(names_of(x.hv().links()) == Names{"b@h", other});
    }
    SECTION("a passive peer whose link never comes up times out the same way") {
        REQUIRE_OK(x.link_down(asked, 200ms));
        REQUIRE_OK(x.tick(200ms + p.link_timeout));  // `other`'s link, opened at 200 ms, is not up
        REQUIRE(x.hv().passive().empty());
        REQUIRE(names_of(x.hv().links()) == Names{"b@h"});
    }
    SECTION("a peer that never answers counts as a refusal") {
        REQUIRE_OK(x.tick(150ms + p.link_timeout));
        REQUIRE(names_of(x.hv().passive()) == Names{"p@h", "q@h"});
        REQUIRE(names_of(x.hv().links()) == Names{"b@h", other});
    }
}

TEST_CASE("hyparview: with no neighbour left, the request is high priority") {
    CheckedHyParView x(node_ref("x@h"), {}, 9);
    befriend(x, {"a@h"});
    give_backups(x, "a@h", refs({"p@h"}));
    REQUIRE_OK(x.link_down("a@h", 0ms));
    REQUIRE_OK(x.link_up("p@h", 0ms));
    REQUIRE(only<Neighbor>(sent_to(x.effects(), "p@h")).high_priority);
}

TEST_CASE("hyparview: the promotion timer fills an active view below its size") {
    CheckedHyParView x(node_ref("x@h"), {}, 9);
    befriend(x, {"a@h"});
    give_backups(x, "a@h", refs({"p@h"}));
    REQUIRE_OK(x.tick(0ms));
    REQUIRE(names_of(x.hv().links()) == Names{"a@h"});
    REQUIRE_OK(x.tick(x.hv().params().promotion_interval));
    REQUIRE(names_of(x.hv().links()) == Names{"a@h", "p@h"});
    REQUIRE_OK(x.link_up("p@h", x.hv().params().promotion_interval));
    REQUIRE_FALSE(only<Neighbor>(sent_to(x.effects(), "p@h")).high_priority);
}

TEST_CASE("hyparview: failed nodes are replaced and the overlay stays connected") {
    Params p;
    p.active_size = 3;
    p.passive_size = 8;
    Net net(p, 7);
    net.cluster(14);
    net.advance(p.shuffle_interval / 2, 12);  // shuffles fill the passive views
    net.require_symmetric();
    net.kill("n3@h");
    net.kill("n7@h");
    net.advance(p.promotion_interval, 4);
    net.require_symmetric();
    REQUIRE(net.connected());
    for (const auto& n : net.alive()) {
        INFO(n);
        REQUIRE(net.active(n).size() >= 2);
    }
}

// ---- shuffle ----------------------------------------------------------------

TEST_CASE("hyparview: every shuffle_interval a sample of both views walks to a neighbour") {
    Params p;
    p.shuffle_passive = 2;
    p.passive_size = 4;
    CheckedHyParView x(node_ref("x@h"), p, 11);
    befriend(x, {"a@h"});
    give_backups(x, "a@h", refs({"p1@h", "p2@h", "p3@h", "p4@h"}));
    REQUIRE_OK(x.tick(0ms));
    REQUIRE(x.effects().sends.empty());
    REQUIRE_OK(x.tick(p.shuffle_interval - 1ms));
    REQUIRE(x.effects().sends.empty());
    REQUIRE_OK(x.tick(p.shuffle_interval));
    const auto& s = only<Shuffle>(sent_to(x.effects(), "a@h"));
    REQUIRE(s.origin == node_ref("x@h"));
    REQUIRE(s.ttl == p.arwl);
    REQUIRE(s.sample.size() == 3);  // itself and two backups (a, its only neighbour, is the target)
    REQUIRE(s.sample[0] == node_ref("x@h"));
    Names sent{s.sample[1].name, s.sample[2].name};

    // The reply takes the place of exactly what was sent.
    REQUIRE_OK(x.message("far@h", ShuffleReply{s.id, refs({"q1@h", "q2@h"})}, p.shuffle_interval));
    Names expected{"p1@h", "p2@h", "p3@h", "p4@h"};
    for (const auto& n : sent) expected.erase(n);
    expected.insert({"q1@h", "q2@h"});
    REQUIRE(names_of(x.hv().passive()) == expected);

    // A reply to no shuffle of ours (or the same one again) is ignored.
    REQUIRE_OK(x.message("far@h", ShuffleReply{s.id, refs({"r@h"})}, p.shuffle_interval));
    REQUIRE(names_of(x.hv().passive()) == expected);
}

TEST_CASE("hyparview: a shuffle walks on while it has hops and neighbours") {
    CheckedHyParView x(node_ref("x@h"), {}, 11);
    befriend(x, {"a@h", "b@h"});
    REQUIRE_OK(x.message("a@h", Shuffle{node_ref("o@h"), 200, 9, refs({"o@h", "s@h"})}, 0ms));
    const auto& fwd = only<Shuffle>(sent_to(x.effects(), "b@h"));  // not back to the sender
    REQUIRE(fwd.ttl == x.hv().params().arwl - 1);
    REQUIRE(fwd.id == 9);
    REQUIRE(fwd.origin == node_ref("o@h"));
    REQUIRE(fwd.sample == refs({"o@h", "s@h"}));
    REQUIRE(x.hv().passive().empty());
}

TEST_CASE("hyparview: where a shuffle ends, the reply goes to its origin over a short-lived link") {
    Params p;
    p.passive_size = 3;
    CheckedHyParView x(node_ref("x@h"), p, 13);
    befriend(x, {"a@h"});
    give_backups(x, "a@h", refs({"p1@h", "p2@h", "p3@h"}));
    REQUIRE_OK(x.message("a@h", Shuffle{node_ref("o@h"), 4, 21, refs({"o@h", "s@h"})}, 0ms));
    // One neighbour only: the walk ends here.
    REQUIRE(x.effects().sends.empty());
    REQUIRE(names_of(x.hv().links()) == Names{"a@h", "o@h"});
    // The sample took the place of the two backups the reply carries.
    Names passive = names_of(x.hv().passive());
    REQUIRE(passive.size() == 3);
    REQUIRE(passive.count("o@h"));
    REQUIRE(passive.count("s@h"));

    SECTION("released when the link is up, which then closes") {
        REQUIRE_OK(x.link_up("o@h", 10ms));
        const auto& reply = only<ShuffleReply>(sent_to(x.effects(), "o@h"));
        REQUIRE(reply.id == 21);
        REQUIRE(reply.sample.size() == 2);
        Names carried = names_of(reply.sample);
        for (const auto& n : carried) REQUIRE_FALSE(passive.count(n));  // evicted for the sample
        Names kept = passive;
        kept.erase("o@h");
        kept.erase("s@h");
        Names all = carried;
        all.insert(kept.begin(), kept.end());
        REQUIRE(all == Names{"p1@h", "p2@h", "p3@h"});
        REQUIRE(names_of(x.hv().links()) == Names{"a@h"});
    }
    SECTION("dropped when the link is not up in time; the origin is forgotten") {
        REQUIRE_OK(x.tick(p.link_timeout - 1ms));
        REQUIRE(names_of(x.hv().links()).count("o@h"));
        REQUIRE_OK(x.tick(p.link_timeout));
        REQUIRE(names_of(x.hv().links()) == Names{"a@h"});
        REQUIRE_FALSE(names_of(x.hv().passive()).count("o@h"));
    }
}

TEST_CASE("hyparview: at most max_short_lived_links links wait to deliver replies; the oldest go") {
    CheckedHyParView x(node_ref("x@h"), {}, 13);
    befriend(x, {"a@h"});
    for (int i = 10; i < 40; ++i) {
        std::string origin = "o" + std::to_string(i) + "@h";
        REQUIRE_OK(x.message("a@h", Shuffle{node_ref(origin), 0, 1, {node_ref(origin)}}, Millis(i)));
    }
    Names expected{"a@h"};
    for (int i = 40 - static_cast<int>(max_short_lived_links); i < 40; ++i)
        expected.insert("o" + std::to_string(i) + "@h");
    REQUIRE(names_of(x.hv().links()) == expected);
}

TEST_CASE("hyparview: shuffles fill the passive views of a cluster") {
    Params p;
    p.passive_size = 10;
    Net net(p, 3);
    net.cluster(16);
    size_t before = 0, after = 0;
    for (const auto& n : net.alive()) before += net.passive(n).size();
    net.advance(p.shuffle_interval, 10);
    for (const auto& n : net.alive()) {
        after += net.passive(n).size();
        for (const auto& m : net.passive(n)) REQUIRE(net.nodes.count(m));
    }
    REQUIRE(after > before);
    REQUIRE(after >= 16 * 5);  // most passive views at least half full
    net.require_symmetric();
}

// ---- links: held messages, timeouts, leave ----------------------------------

TEST_CASE("hyparview: messages for a link not up are held, at most 64, and dropped if it fails") {
    CheckedHyParView x(node_ref("x@h"), {}, 17);
    befriend(x, {"b@h"});
    REQUIRE_OK(x.message("c@h", Neighbor{node_ref("c@h"), true}, 0ms));  // c's link is not up
    // Walks from b can only go on to c: 100 of them wait for c's link.
    for (int i = 0; i < 100; ++i)
        REQUIRE_OK(x.message("b@h", ForwardJoin{node_ref("n" + std::to_string(i) + "@h"), 5}, 0ms));
    SECTION("released in order when the link comes up, the oldest dropped") {
        REQUIRE_OK(x.link_up("c@h", 1ms));
        auto to_c = sent_to(x.effects(), "c@h");
        REQUIRE(to_c.size() == 64);
        REQUIRE(std::get<ForwardJoin>(to_c.front()).node.name == "n36@h");
        REQUIRE(std::get<ForwardJoin>(to_c.back()).node.name == "n99@h");
    }
    SECTION("gone with the link") {
        REQUIRE_OK(x.link_down("c@h", 1ms));
        REQUIRE(x.effects().sends.empty());
        REQUIRE_FALSE(x.hv().in_active("c@h"));
        REQUIRE_OK(x.message("c@h", Neighbor{node_ref("c@h"), true}, 2ms));
        REQUIRE_OK(x.link_up("c@h", 3ms));
        only<NeighborReply>(sent_to(x.effects(), "c@h"));  // only the new reply
    }
}

TEST_CASE("hyparview: a link not up within link_timeout counts as failed") {
    CheckedHyParView j(node_ref("j@h"), {}, 1);
    REQUIRE_OK(j.join(node_ref("c@h"), 1000ms));
    REQUIRE_OK(j.tick(1000ms + j.hv().params().link_timeout - 1ms));
    REQUIRE(j.hv().in_active("c@h"));
    REQUIRE_OK(j.tick(1000ms + j.hv().params().link_timeout));
    REQUIRE(j.hv().links().empty());
    REQUIRE(j.hv().active().empty());
    REQUIRE(j.effects().active_removed == std::vector<std::string>{"c@h"});
    REQUIRE(j.effects().links_changed);
    // An up link never times out.
    CheckedHyParView k(node_ref("k@h"), {}, 1);
    befriend(k, {"a@h"});
    REQUIRE_OK(k.tick(100000ms));
    REQUIRE(k.hv().in_active("a@h"));
}

TEST_CASE("hyparview: a node left with nobody joins through its contact again, until it leaves") {
    Params p;
    p.promotion_interval = 7000ms;  // after the link timeout (5 s)
    CheckedHyParView j(node_ref("j@h"), p, 1);
    REQUIRE_OK(j.join(node_ref("c@h"), 0ms));
    REQUIRE_OK(j.tick(0ms));  // sets the timers
    // The contact's link never comes up: the join fails, nobody is left.
    REQUIRE_OK(j.tick(p.link_timeout));
    REQUIRE(j.hv().links().empty());
    // Still due: the next promotion joins again.
    REQUIRE(j.hv().next_due(p.link_timeout) == std::optional<Millis>(p.promotion_interval));
    REQUIRE_OK(j.tick(p.promotion_interval));
    REQUIRE(j.effects().links_changed);
    REQUIRE(j.effects().active_added == std::vector<std::string>{"c@h"});
    REQUIRE_OK(j.link_up("c@h", p.promotion_interval + 10ms));
    REQUIRE(only<Join>(sent_to(j.effects(), "c@h")).node == node_ref("j@h"));
    // Not again while the contact's link is there.
    REQUIRE_OK(j.tick(2 * p.promotion_interval));
    for (const auto& m : sent_to(j.effects(), "c@h")) REQUIRE_FALSE(std::holds_alternative<Join>(m));
    REQUIRE(j.hv().in_active("c@h"));

    // The neighbour dies; a node with a backup asks the backup, not the contact.
    CheckedHyParView k(node_ref("k@h"), p, 2);
    REQUIRE_OK(k.join(node_ref("c@h"), 0ms));
    REQUIRE_OK(k.link_up("c@h", 0ms));
    REQUIRE_OK(k.tick(0ms));
    give_backups(k, "c@h", refs({"b@h"}));
    REQUIRE_OK(k.link_down("c@h", 10ms));
    REQUIRE(names_of(k.hv().links()) == Names{"b@h"});
    REQUIRE_OK(k.link_up("b@h", 20ms));  // b does not answer: it stays a backup
    REQUIRE_OK(k.tick(p.promotion_interval));
    REQUIRE(names_of(k.hv().passive()) == Names{"b@h"});
    REQUIRE_FALSE(k.hv().in_active("c@h"));

    // After leave(), a node stays alone and is due nothing.
    CheckedHyParView l(node_ref("l@h"), p, 3);
    REQUIRE_OK(l.join(node_ref("c@h"), 0ms));
    REQUIRE_OK(l.tick(0ms));
    REQUIRE_OK(l.leave());
    REQUIRE_FALSE(l.hv().next_due(10ms));
    REQUIRE_OK(l.tick(p.promotion_interval));
    REQUIRE(l.hv().links().empty());
}

TEST_CASE("hyparview: leave tells every neighbour and forgets both views") {
    CheckedHyParView x(node_ref("x@h"), {}, 19);
    befriend(x, {"a@h", "b@h"});
    give_backups(x, "a@h", refs({"p@h"}));
    REQUIRE_OK(x.message("c@h", Neighbor{node_ref("c@h"), true}, 0ms));  // link not up
    REQUIRE_OK(x.leave());
    REQUIRE(x.effects().sends.size() == 2);
    only<Disconnect>(sent_to(x.effects(), "a@h"));
    only<Disconnect>(sent_to(x.effects(), "b@h"));
    REQUIRE(x.effects().active_removed.size() == 3);
    REQUIRE(x.effects().links_changed);
    REQUIRE(x.hv().active().empty());
    REQUIRE(x.hv().passive().empty());
    REQUIRE(x.hv().links().empty());

    Net net;
    net.cluster(5);
    Names had = net.active("n2@h");
    Effects e;
    net.at("n2@h").leave(e);
    net.apply("n2@h", e);
    net.run();
    net.dead.insert("n2@h");
    for (const auto& n : had) {
        REQUIRE_FALSE(net.at(n).in_active("n2@h"));
        REQUIRE(net.passive(n).count("n2@h"));
    }
}

// ---- determinism ------------------------------------------------------------

TEST_CASE("hyparview: the same seed and events give the same views") {
    auto views = [](uint64_t seed) {
        Params p;
        p.active_size = 3;
        p.passive_size = 6;
        Net net(p, seed);
        net.cluster(12);
        net.advance(p.shuffle_interval, 3);
        net.kill("n4@h");
        net.advance(p.promotion_interval, 2);
        std::vector<std::pair<Names, Names>> out;
        for (const auto& n : net.alive()) out.emplace_back(net.active(n), net.passive(n));
        return out;
    };
    REQUIRE(views(5) == views(5));
    REQUIRE(views(5) != views(6));
}

// ---- hostile input ----------------------------------------------------------

namespace {

// A random event, messages mostly from a few peers and often hostile (self,
// unknown names, huge samples, any ttl, replies to nothing).
struct RandomEvents {
    std::mt19937_64 rng;
    explicit RandomEvents(uint64_t seed) : rng(seed) {}
    size_t below(size_t n) { return static_cast<size_t>(rng() % n); }
    std::string name() {
        static const char* names[] = {"x@h", "a@h", "b@h", "c@h", "d@h", "e@h", "f@h", "g@h", "h@h", "i@h", "j@h"};
        return names[below(std::size(names))];
    }
    NodeRef node() { return node_ref(name(), static_cast<uint16_t>(1 + below(3))); }
    std::vector<NodeRef> sample() {
        std::vector<NodeRef> out(below(10) == 0 ? below(300) : below(10));
        for (auto& n : out) n = node();
        return out;
    }
    Message message(const std::vector<uint32_t>& ids) {
        auto ttl = [&] { return static_cast<uint8_t>(below(4) == 0 ? below(256) : below(8)); };
        uint32_t id = !ids.empty() && below(2) ? ids[below(ids.size())] : static_cast<uint32_t>(below(5));
        switch (below(7)) {
            case 0: return Join{node()};
            case 1: return ForwardJoin{node(), ttl()};
            case 2: return Neighbor{node(), below(2) == 0};
            case 3: return NeighborReply{node(), below(2) == 0};
            case 4: return Disconnect{};
            case 5: return Shuffle{node(), ttl(), id, sample()};
            default: return ShuffleReply{id, sample()};
        }
    }
};

// Drives `x` with `count` random events from `seed`; returns every
// event's Effects, described.
std::vector<std::string> drive(CheckedHyParView& x, uint64_t seed, size_t count) {
    RandomEvents r(seed);
    std::vector<uint32_t> ids;  // of shuffles x started, so some replies match
    std::vector<std::string> trace;
    Millis now{0};
    for (size_t i = 0; i < count; ++i) {
        std::string problem;
        size_t kind = r.below(100);
        auto any_link = [&]() -> std::string {
            auto links = x.hv().links();
            return links.empty() || r.below(5) == 0 ? r.name() : links[r.below(links.size())].name;
        };
        if (kind < 50) {
            problem = x.message(r.name(), r.message(ids), now);
        } else if (kind < 68) {
            problem = x.link_up(any_link(), now);
        } else if (kind < 78) {
            problem = x.link_down(any_link(), now);
        } else if (kind < 96) {
            now += Millis(r.below(3000));
            problem = x.tick(now);
        } else if (kind < 99) {
            problem = x.join(r.node(), now);
        } else {
            problem = x.leave();
        }
        INFO("event " << i);
        REQUIRE(problem == "");
        for (const auto& [peer, m] : x.effects().sends)
            if (auto* s = std::get_if<Shuffle>(&m); s && s->origin.name == "x@h") ids.push_back(s->id);
        trace.push_back(describe(x.effects()));
    }
    return trace;
}

}  // namespace

TEST_CASE("hyparview: thousands of random and hostile events never break the invariants") {
    Params small;
    small.active_size = 3;
    small.passive_size = 5;
    small.shuffle_active = 2;
    small.shuffle_passive = 2;
    small.promotion_interval = 2000ms;
    small.shuffle_interval = 3000ms;
    for (uint64_t seed = 1; seed <= 6; ++seed) {
        INFO("seed " << seed);
        CheckedHyParView x(node_ref("x@h"), seed % 2 ? small : Params{}, seed);
        drive(x, seed, 4000);
    }
}

TEST_CASE("hyparview: random events replayed give the same effects") {
    CheckedHyParView x(node_ref("x@h"), {}, 42), y(node_ref("x@h"), {}, 42);
    auto tx = drive(x, 9, 2000), ty = drive(y, 9, 2000);
    REQUIRE(tx == ty);
    REQUIRE(names_of(x.hv().passive()) == names_of(y.hv().passive()));
}

// ---- frames -----------------------------------------------------------------

namespace {

ByteBuffer frame_of(const Message& m) {
    ByteBuffer b;
    append_hyparview_frame(b, m);
    REQUIRE(b.size() > 4);
    REQUIRE(load_u32(b.data()) == b.size() - 4);
    return b;
}

std::vector<uint8_t> body_of(const Message& m) {
    ByteBuffer b = frame_of(m);
    return std::vector<uint8_t>(b.data() + 4, b.data() + b.size());
}

bool parses(const std::vector<uint8_t>& body) {
    Message m;
    return parse_hyparview_frame(body.data(), body.size(), m);
}

// Parses `m`'s frame and encodes what came out: the same bytes.
Message round_trip(const Message& m) {
    auto body = body_of(m);
    Message back;
    REQUIRE(parse_hyparview_frame(body.data(), body.size(), back));
    REQUIRE(body_of(back) == body);
    REQUIRE(back.index() == m.index());
    return back;
}

NodeRef two_addresses(const std::string& name) {
    return NodeRef{name, {Address{"10.0.0.1", 4000}, Address{"::1", 65535}}};
}

}  // namespace

TEST_CASE("hyparview frames: every message round-trips to the same bytes") {
    REQUIRE(std::get<Join>(round_trip(Join{two_addresses("a@h")})).node == two_addresses("a@h"));
    auto fj = std::get<ForwardJoin>(round_trip(ForwardJoin{node_ref("b@h"), 6}));
    REQUIRE(fj.node == node_ref("b@h"));
    REQUIRE(fj.ttl == 6);
    REQUIRE(std::get<Neighbor>(round_trip(Neighbor{node_ref("c@h"), true})).high_priority);
    REQUIRE_FALSE(std::get<Neighbor>(round_trip(Neighbor{node_ref("c@h"), false})).high_priority);
    REQUIRE(std::get<NeighborReply>(round_trip(NeighborReply{node_ref("d@h"), true})).accepted);
    REQUIRE_FALSE(std::get<NeighborReply>(round_trip(NeighborReply{NodeRef{"e@h", {}}, false})).accepted);
    round_trip(Disconnect{});
    auto s = std::get<Shuffle>(round_trip(Shuffle{node_ref("o@h"), 3, 0xdeadbeef, {node_ref("o@h"), two_addresses("p@h")}}));
    REQUIRE(s.origin == node_ref("o@h"));
    REQUIRE(s.ttl == 3);
    REQUIRE(s.id == 0xdeadbeef);
    REQUIRE(s.sample == std::vector<NodeRef>{node_ref("o@h"), two_addresses("p@h")});
    auto r = std::get<ShuffleReply>(round_trip(ShuffleReply{7, {}}));
    REQUIRE(r.id == 7);
    REQUIRE(r.sample.empty());

    // A sample over the limit is cut to it.
    std::vector<NodeRef> big(70, node_ref("q@h"));
    REQUIRE(std::get<ShuffleReply>(round_trip(ShuffleReply{1, big})).sample.size() == max_shuffle_sample);
    REQUIRE(body_of(Disconnect{}) == std::vector<uint8_t>{frame_hyparview, 5});
}

TEST_CASE("hyparview frames: malformed frames are refused") {
    const std::vector<Message> all = {Join{node_ref("a@h")},
                                      ForwardJoin{node_ref("a@h"), 1},
                                      Neighbor{node_ref("a@h"), true},
                                      NeighborReply{node_ref("a@h"), false},
                                      Disconnect{},
                                      Shuffle{node_ref("a@h"), 2, 3, refs({"b@h", "c@h"})},
                                      ShuffleReply{4, refs({"b@h"})}};
    for (const auto& m : all) {
        auto body = body_of(m);
        INFO("kind " << int(body[1]));
        REQUIRE(parses(body));
        for (size_t n = 0; n < body.size(); ++n)  // every truncation
            REQUIRE_FALSE(parses(std::vector<uint8_t>(body.begin(), body.begin() + static_cast<long>(n))));
        auto longer = body;
        longer.push_back(0);
        REQUIRE_FALSE(parses(longer));
        auto wrong_type = body;
        wrong_type[0] = frame_plumtree;
        REQUIRE_FALSE(parses(wrong_type));
    }
    for (uint8_t kind : {0, 8, 255}) REQUIRE_FALSE(parses({frame_hyparview, kind}));

    // Node names and addresses are checked.
    REQUIRE_FALSE(parses(body_of(Join{NodeRef{"no-at-sign", {}}})));
    REQUIRE_FALSE(parses(body_of(Join{NodeRef{"a@h", {Address{"999.0.0.1", 1}}}})));
    REQUIRE_FALSE(parses(body_of(Join{NodeRef{"a@h", {Address{"127.0.0.1", 0}}}})));
    REQUIRE_FALSE(parses(body_of(Shuffle{node_ref("a@h"), 1, 1, {NodeRef{"bad name@h", {}}}})));
    {
        // 17 addresses: one more than a NodeRef may carry.
        NodeRef n{"a@h", std::vector<Address>(16, Address{"127.0.0.1", 1})};
        auto body = body_of(Join{n});
        REQUIRE(parses(body));
        body[2 + 1 + 3] = 17;  // [type][kind][len][a@h][count]
        const std::string address("\x09" "127.0.0.1" "\x00\x01", 12);  // [ip length][ip][port 1]
        body.insert(body.end(), address.begin(), address.end());
        REQUIRE_FALSE(parses(body));
    }
    // Flags are 0 or 1.
    for (const Message& m : {Message{Neighbor{node_ref("a@h"), true}}, Message{NeighborReply{node_ref("a@h"), true}}}) {
        auto body = body_of(m);
        body.back() = 2;
        REQUIRE_FALSE(parses(body));
    }
    {
        // 65 sample entries: one over the limit.
        auto body = body_of(ShuffleReply{1, std::vector<NodeRef>(64, node_ref("q@h"))});
        REQUIRE(parses(body));
        body[2 + 4] = 65;  // [type][kind][id]
        auto one = body_of(Join{node_ref("q@h")});
        body.insert(body.end(), one.begin() + 2, one.end());
        REQUIRE_FALSE(parses(body));
    }
    REQUIRE_FALSE(parses({}));
    REQUIRE_FALSE(parses({frame_hyparview}));
}

TEST_CASE("hyparview: a node that knows nobody is due no tick; a pending link is due by its timeout") {
    Params p;
    CheckedHyParView j(node_ref("j@h"), p, 1);
    REQUIRE_FALSE(j.hv().next_due(0ms));
    REQUIRE_OK(j.join(node_ref("c@h"), 0ms));
    // Timers not set yet: due at once, so the first tick sets them.
    REQUIRE(j.hv().next_due(0ms) == std::optional<Millis>(0ms));
    REQUIRE_OK(j.tick(0ms));
    // The link to the contact is not up: due when it times out, before the
    // first shuffle or promotion.
    REQUIRE(j.hv().next_due(10ms) == std::optional<Millis>(p.link_timeout));
    REQUIRE_OK(j.link_up("c@h", 10ms));
    auto due = j.hv().next_due(10ms);
    REQUIRE(due);
    REQUIRE(*due == std::min(p.shuffle_interval, p.promotion_interval));
}
