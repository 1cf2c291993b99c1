// Plumtree (plumtree.hpp) driven without I/O: several state machines over
// an in-test network that carries every send as an encoded frame
// (plumtree_frames.hpp), FIFO per link, links served in a seeded random
// order, with a fake clock. Then one state machine fed by hand, and the
// frame codec.
#include "partisan/broadcast/plumtree.hpp"
#include "partisan/broadcast/plumtree_frames.hpp"
#include "partisan/codec/byte_reader.hpp"
#include "partisan/codec/peer_frames.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace partisan;
using namespace partisan::plumtree;
using namespace std::chrono_literals;

namespace {

Payload text(const std::string& s) { return std::make_shared<const std::string>(s); }

std::string name(size_t i) { return "n" + std::to_string(i) + "@h"; }

std::vector<uint8_t> encode(const Message& m) {
    ByteBuffer b;
    append_plumtree_frame(b, m);
    return {b.data(), b.data() + b.size()};
}

// A frame's body (after its length) parsed, or a failed test.
Message decode(const std::vector<uint8_t>& frame, size_t max_payload = 1u << 20) {
    REQUIRE(frame.size() > 4);
    REQUIRE(load_u32(frame.data()) == frame.size() - 4);
    Message m;
    REQUIRE(parse_plumtree_frame(frame.data() + 4, frame.size() - 4, max_payload, m));
    return m;
}

bool is_gossip(const Message& m) { return std::holds_alternative<Gossip>(m); }

using Link = std::pair<std::string, std::string>;  // from, to

struct Delivered {
    Delivery d;
    Millis at;
};

// Nodes, their links and the frames in flight on each.
struct Net {
    Params params;
    Millis now{0};
    std::map<std::string, Plumtree> nodes;
    std::set<Link> links;  // both directions of every link up
    std::map<Link, std::deque<std::vector<uint8_t>>> in_flight;
    std::set<Link> drop_gossip;  // links that lose every GOSSIP
    std::map<std::string, std::vector<Delivered>> delivered;
    std::vector<std::string> trace;  // every frame sent, in order
    std::mt19937_64 rng;

    explicit Net(size_t n, Params p = Params{}, uint64_t seed = 1) : params(p), rng(seed) {
        for (size_t i = 0; i < n; ++i) nodes.emplace(name(i), Plumtree(name(i), params, seed + i));
    }
    Plumtree& at(size_t i) { return nodes.at(name(i)); }

    void link(size_t a, size_t b) {
        links.insert({name(a), name(b)});
        links.insert({name(b), name(a)});
        at(a).neighbour_up(name(b));
        at(b).neighbour_up(name(a));
    }
    // Both ends see the link go; what was in flight on it is lost.
    void unlink(size_t a, size_t b) {
        for (auto [x, y] : {std::pair{a, b}, std::pair{b, a}}) {
            links.erase({name(x), name(y)});
            in_flight.erase({name(x), name(y)});
            Effects e;
            at(x).neighbour_down(name(y), now, e);
            apply(name(x), e);
        }
    }

    void apply(const std::string& node, Effects& e) {
        for (auto& d : e.deliveries) delivered[node].push_back(Delivered{d, now});
        for (auto& [to, m] : e.sends) {
            INFO(node << " sends to " << to);
            REQUIRE(links.count({node, to}));  // only ever to a neighbour
            auto frame = encode(m);
            trace.push_back(node + ">" + to + ":" + std::string(frame.begin(), frame.end()));
            if (drop_gossip.count({node, to}) && is_gossip(m)) continue;
            in_flight[{node, to}].push_back(std::move(frame));
        }
    }

    // Hands over every frame in flight (and those they cause), one at a
    // time from a link picked at random.
    void settle() {
        for (;;) {
            std::vector<Link> busy;
            for (const auto& [l, q] : in_flight)
                if (!q.empty()) busy.push_back(l);
            if (busy.empty()) return;
            Link l = busy[rng() % busy.size()];
            auto frame = std::move(in_flight[l].front());
            in_flight[l].pop_front();
            Message m = decode(frame);
            REQUIRE(encode(m) == frame);  // canonical
            Effects e;
            nodes.at(l.second).on_message(l.first, m, now, e);
            apply(l.second, e);
        }
    }

    void tick_all() {
        for (auto& [n, node] : nodes) {
            Effects e;
            node.tick(now, e);
            apply(n, e);
        }
        settle();
    }

    void run_for(Millis d, Millis step = 50ms) {
        const Millis end = now + d;
        while (now < end) {
            now += step;
            tick_all();
        }
    }

    MessageId broadcast(size_t origin, uint64_t seq) {
        MessageId id{name(origin), seq};
        Effects e;
        at(origin).broadcast(id, text("m" + std::to_string(seq)), now, e);
        apply(name(origin), e);
        settle();
        return id;
    }

    size_t deliveries_of(const std::string& node, const MessageId& id) const {
        auto it = delivered.find(node);
        if (it == delivered.end()) return 0;
        return static_cast<size_t>(
            std::count_if(it->second.begin(), it->second.end(), [&](const Delivered& x) { return x.d.id == id; }));
    }
    void require_everyone_once(const MessageId& id) const {
        for (const auto& [n, node] : nodes) {
            INFO(n << " delivered " << id.origin << "/" << id.seq);
            REQUIRE(deliveries_of(n, id) == 1);
        }
    }
    uint64_t duplicates() const {
        uint64_t sum = 0;
        for (const auto& [n, node] : nodes) sum += node.counters().duplicates;
        return sum;
    }

    // The eager links: symmetric, and they count and connect as a spanning
    // tree of the nodes.
    void require_eager_tree() const {
        size_t edges = 0;
        for (const auto& [n, node] : nodes) {
            for (const auto& p : node.eager()) {
                INFO(n << " eager to " << p);
                REQUIRE(nodes.at(p).eager().count(n));
                if (n < p) ++edges;
            }
            for (const auto& p : node.lazy()) REQUIRE(links.count({n, p}));
        }
        REQUIRE(edges == nodes.size() - 1);
        std::set<std::string> reached{nodes.begin()->first};
        std::vector<std::string> todo{nodes.begin()->first};
        while (!todo.empty()) {
            auto n = todo.back();
            todo.pop_back();
            for (const auto& p : nodes.at(n).eager())
                if (reached.insert(p).second) todo.push_back(p);
        }
        REQUIRE(reached.size() == nodes.size());
    }
};

// Broadcasts from several origins on `net`, already linked: each reaches
// every node once; after the first the eager links are a spanning tree and
// no further duplicate is seen.
void require_tree_broadcast(Net& net) {
    net.require_everyone_once(net.broadcast(0, 1));
    net.run_for(500ms);
    net.require_eager_tree();
    const uint64_t dups = net.duplicates();
    for (uint64_t seq = 2; seq < 8; ++seq) {
        const size_t origin = (seq * 7) % net.nodes.size();
        net.require_everyone_once(net.broadcast(origin, seq));
        net.run_for(500ms);
    }
    REQUIRE(net.duplicates() == dups);
    net.require_eager_tree();
    // Nothing was missing, so nothing was grafted.
    for (const auto& [n, node] : net.nodes) REQUIRE(node.counters().graft_sent == 0);
}

Params small_params() {
    Params p;
    p.graft_timeout = 1000ms;
    p.graft_retry = 500ms;
    p.lazy_interval = 200ms;
    return p;
}

}  // namespace

// ---- over a network ---------------------------------------------------------

TEST_CASE("plumtree: a line delivers every broadcast once, with no duplicate") {
    Net net(6);
    for (size_t i = 0; i + 1 < 6; ++i) net.link(i, i + 1);
    require_tree_broadcast(net);
    REQUIRE(net.duplicates() == 0);
    // Rounds count the hops: n3 got it from n2, two hops from n0.
    const auto& d = net.delivered.at(name(3)).front().d;
    REQUIRE(d.from == name(2));
    REQUIRE(d.round == 2);
    REQUIRE(net.delivered.at(name(0)).front().d.from.empty());
}

TEST_CASE("plumtree: a ring prunes one link into a tree") {
    Net net(8);
    for (size_t i = 0; i < 8; ++i) net.link(i, (i + 1) % 8);
    require_tree_broadcast(net);
    REQUIRE(net.duplicates() > 0);  // the cycle was found by a duplicate
    uint64_t prunes = 0;
    for (const auto& [n, node] : net.nodes) prunes += node.counters().prune_sent;
    REQUIRE(prunes > 0);
}

TEST_CASE("plumtree: a complete graph of 8 prunes to a spanning tree") {
    Net net(8, Params{}, 3);
    for (size_t a = 0; a < 8; ++a)
        for (size_t b = a + 1; b < 8; ++b) net.link(a, b);
    require_tree_broadcast(net);
    size_t lazy = 0;
    for (const auto& [n, node] : net.nodes) lazy += node.lazy().size();
    REQUIRE(lazy == 2 * (28 - 7));
}

TEST_CASE("plumtree: a random graph of 50 with degree about 5") {
    const size_t n = 50;
    Net net(n, Params{}, 42);
    std::mt19937_64 rng(7);
    std::set<std::pair<size_t, size_t>> edges;
    for (size_t i = 0; i < n; ++i) edges.insert({std::min(i, (i + 1) % n), std::max(i, (i + 1) % n)});
    while (edges.size() < n * 5 / 2) {
        size_t a = rng() % n, b = rng() % n;
        if (a != b) edges.insert({std::min(a, b), std::max(a, b)});
    }
    for (auto [a, b] : edges) net.link(a, b);
    require_tree_broadcast(net);
}

TEST_CASE("plumtree: IHAVE and GRAFT recover a message an eager link lost") {
    Params p = small_params();
    Net net(3, p);
    net.link(0, 1);
    net.link(0, 2);
    net.link(1, 2);
    net.require_everyone_once(net.broadcast(0, 1));
    net.run_for(500ms);
    net.require_eager_tree();
    // Whichever path the tree is, its ends u and v share the lazy link and
    // w is in the middle. w's GOSSIPs to v are lost.
    std::vector<size_t> ends;
    for (size_t i = 0; i < 3; ++i)
        if (!net.at(i).lazy().empty()) ends.push_back(i);
    REQUIRE(ends.size() == 2);
    const size_t u = ends[0], v = ends[1], w = 3 - u - v;
    REQUIRE(net.at(u).lazy() == std::set<std::string>{name(v)});

    net.drop_gossip.insert({name(w), name(v)});
    const Millis sent = net.now;
    const auto id = net.broadcast(w, 2);
    REQUIRE(net.deliveries_of(name(v), id) == 0);
    const Millis step = 10ms;
    net.run_for(p.lazy_interval + p.graft_timeout + 2 * step, step);
    net.require_everyone_once(id);
    const auto& got = net.delivered.at(name(v)).back();
    REQUIRE(got.d.id == id);
    REQUIRE(got.d.from == name(u));  // via the lazy link
    REQUIRE(got.d.round == 1);
    // Not before the IHAVE had waited graft_timeout, and not much after.
    REQUIRE(got.at >= sent + p.graft_timeout);
    REQUIRE(got.at <= sent + p.lazy_interval + p.graft_timeout + step);
    REQUIRE(net.at(v).counters().graft_sent == 1);
    REQUIRE(net.at(u).eager().count(name(v)));  // the GRAFT made u-v eager
    REQUIRE(net.at(v).eager().count(name(u)));
}

TEST_CASE("plumtree: neighbour_down repairs the tree") {
    Params p = small_params();
    Net net(6, p, 5);
    for (size_t i = 0; i < 6; ++i) net.link(i, (i + 1) % 6);
    net.require_everyone_once(net.broadcast(0, 1));
    net.run_for(500ms);
    net.require_eager_tree();
    // Cut a tree link next to the origin.
    const size_t cut = *net.at(0).eager().begin() == name(1) ? 1 : 5;
    net.unlink(0, cut);
    REQUIRE_FALSE(net.at(0).eager().count(name(cut)));
    REQUIRE_FALSE(net.at(cut).lazy().count(name(0)));
    const auto id = net.broadcast(0, 2);
    net.run_for(3s);
    net.require_everyone_once(id);
    net.require_eager_tree();  // the five links left, all eager
    const uint64_t dups = net.duplicates();
    net.require_everyone_once(net.broadcast(3, 3));
    net.run_for(1s);
    REQUIRE(net.duplicates() == dups);
}

TEST_CASE("plumtree: max_round stops the push") {
    Params p;
    p.max_round = 2;
    Net net(6, p);
    for (size_t i = 0; i + 1 < 6; ++i) net.link(i, i + 1);
    const auto id = net.broadcast(0, 1);
    net.run_for(3s);
    for (size_t i = 0; i < 4; ++i) REQUIRE(net.deliveries_of(name(i), id) == 1);
    REQUIRE(net.deliveries_of(name(4), id) == 0);
    REQUIRE(net.deliveries_of(name(5), id) == 0);
    REQUIRE(net.delivered.at(name(3)).front().d.round == 2);
    REQUIRE(net.at(3).counters().gossip_sent == 0);
}

TEST_CASE("plumtree: the same seed and events give the same effects") {
    auto run = [](uint64_t seed) {
        Params p = small_params();
        Net net(12, p, seed);
        std::mt19937_64 rng(99);
        for (size_t i = 0; i < 12; ++i) net.link(i, (i + 1) % 12);
        for (int k = 0; k < 10; ++k) {
            const size_t a = rng() % 6, b = 6 + rng() % 6;
            net.link(a, b);
        }
        net.drop_gossip.insert({name(0), name(1)});
        for (uint64_t seq = 1; seq <= 6; ++seq) {
            net.broadcast(static_cast<size_t>(seq * 5 % 12), seq);
            net.run_for(700ms, 100ms);
        }
        net.unlink(0, 11);
        net.broadcast(0, 7);
        net.run_for(3s, 100ms);
        return net.trace;
    };
    auto a = run(11);
    REQUIRE(a.size() > 100);
    REQUIRE(run(11) == a);
}

// ---- one state machine by hand ----------------------------------------------

namespace {

const std::string P = "p@h", Q = "q@h", S = "stranger@h";

size_t sends_to(const Effects& e, const std::string& to) {
    return static_cast<size_t>(
        std::count_if(e.sends.begin(), e.sends.end(), [&](const auto& s) { return s.first == to; }));
}

template <typename T>
const T* sent(const Effects& e, const std::string& to) {
    for (const auto& [peer, m] : e.sends)
        if (peer == to && std::holds_alternative<T>(m)) return &std::get<T>(m);
    return nullptr;
}

Gossip gossip(const std::string& origin, uint64_t seq, uint16_t round = 0, const std::string& body = "x") {
    return Gossip{MessageId{origin, seq}, round, text(body)};
}

}  // namespace

TEST_CASE("plumtree: broadcast delivers here, pushes to eager, announces to lazy") {
    Plumtree t("me@h", Params{}, 1);
    t.neighbour_up(P);
    t.neighbour_up(Q);
    Effects e;
    t.on_message(Q, Prune{}, 0ms, e);
    REQUIRE(t.lazy() == std::set<std::string>{Q});
    t.broadcast(MessageId{"me@h", 1}, text("hi"), 0ms, e);
    REQUIRE(e.deliveries.size() == 1);
    REQUIRE(e.deliveries[0].from.empty());
    REQUIRE(*e.deliveries[0].payload == "hi");
    REQUIRE(sent<Gossip>(e, P));
    REQUIRE(sent<Gossip>(e, P)->round == 0);
    REQUIRE(sends_to(e, Q) == 0);
    REQUIRE(t.queued_ihaves() == 1);
    // Broadcasting the same id again does nothing.
    Effects again;
    t.broadcast(MessageId{"me@h", 1}, text("hi"), 0ms, again);
    REQUIRE(again.empty());
    Effects tick;
    t.tick(1ms, tick);
    REQUIRE(sent<IHave>(tick, Q));
    REQUIRE(sent<IHave>(tick, Q)->ids == std::vector<std::pair<MessageId, uint16_t>>{{MessageId{"me@h", 1}, 0}});
    REQUIRE(t.counters().broadcasts == 1);
    REQUIRE(t.counters().ihave_sent == 1);
}

TEST_CASE("plumtree: IHAVEs go in batches, at most once per lazy_interval") {
    Params p;
    p.max_ihave_batch = 3;
    p.lazy_interval = 200ms;
    Plumtree t("me@h", p, 1);
    t.neighbour_up(Q);
    Effects e;
    t.on_message(Q, Prune{}, 0ms, e);
    t.tick(0ms, e);  // the first flush, empty
    REQUIRE(e.empty());
    for (uint64_t i = 1; i <= 7; ++i) t.broadcast(MessageId{"me@h", i}, text("x"), 10ms, e);
    Effects early;
    t.tick(100ms, early);
    REQUIRE(early.empty());
    Effects due;
    t.tick(200ms, due);
    REQUIRE(due.sends.size() == 3);
    std::vector<size_t> sizes;
    for (const auto& [to, m] : due.sends) sizes.push_back(std::get<IHave>(m).ids.size());
    REQUIRE(sizes == std::vector<size_t>{3, 3, 1});
    REQUIRE(t.queued_ihaves() == 0);
}

TEST_CASE("plumtree: a duplicate GOSSIP is PRUNEd, and PRUNE makes a peer lazy") {
    Plumtree t("me@h", Params{}, 1);
    t.neighbour_up(P);
    t.neighbour_up(Q);
    Effects e;
    t.on_message(P, gossip("o@h", 1), 0ms, e);
    REQUIRE(e.deliveries.size() == 1);
    REQUIRE(e.deliveries[0].from == P);
    REQUIRE(sent<Gossip>(e, Q));
    REQUIRE(sent<Gossip>(e, Q)->round == 1);
    REQUIRE(sends_to(e, P) == 0);  // not back where it came from
    Effects dup;
    t.on_message(Q, gossip("o@h", 1), 1ms, dup);
    REQUIRE(dup.deliveries.empty());
    REQUIRE(dup.sends.size() == 1);
    REQUIRE(sent<Prune>(dup, Q));
    REQUIRE(t.lazy() == std::set<std::string>{Q});
    REQUIRE(t.eager() == std::set<std::string>{P});
    REQUIRE(t.counters().duplicates == 1);
    REQUIRE(t.counters().prune_sent == 1);
    Effects pr;
    t.on_message(P, Prune{}, 2ms, pr);
    REQUIRE(pr.empty());
    REQUIRE(t.eager().empty());
    REQUIRE(t.lazy() == std::set<std::string>{P, Q});
    // A new message from a lazy peer: it is eager again.
    Effects again;
    t.on_message(Q, gossip("o@h", 2), 3ms, again);
    REQUIRE(t.eager() == std::set<std::string>{Q});
}

TEST_CASE("plumtree: a GRAFT is answered from the cache, or counted when expired") {
    Params p;
    p.cache_ttl = 1000ms;
    p.seen_ttl = 5000ms;
    Plumtree t("me@h", p, 1);
    t.neighbour_up(P);
    Effects e;
    t.on_message(P, Prune{}, 0ms, e);
    t.broadcast(MessageId{"me@h", 1}, text("cached"), 0ms, e);
    Effects g;
    t.on_message(P, Graft{MessageId{"me@h", 1}, 0}, 500ms, g);
    REQUIRE(t.eager().count(P));
    REQUIRE(sent<Gossip>(g, P));
    REQUIRE(*sent<Gossip>(g, P)->payload == "cached");
    Effects tick;
    t.tick(1000ms, tick);
    REQUIRE(t.cached_count() == 0);
    REQUIRE(t.has_seen(MessageId{"me@h", 1}));  // seen outlives the cache
    Effects late;
    t.on_message(P, Graft{MessageId{"me@h", 1}, 0}, 1001ms, late);
    REQUIRE(late.empty());
    REQUIRE(t.counters().graft_unanswerable == 1);
    t.tick(5000ms, tick);
    REQUIRE(t.seen_count() == 0);
}

TEST_CASE("plumtree: a message forgotten (seen_ttl) and pushed or announced again later is not delivered twice") {
    Params p;
    p.seen_ttl = 1000ms;
    p.cache_ttl = 500ms;
    p.graft_timeout = 100ms;
    Plumtree t("me@h", p, 1);
    t.neighbour_up(P);
    t.neighbour_up(Q);
    Effects e;
    t.on_message(P, gossip("o@h", 5), 0ms, e);
    REQUIRE(e.deliveries.size() == 1);
    t.tick(1500ms, e);
    REQUIRE(t.seen_count() == 0);
    REQUIRE(t.is_stale(MessageId{"o@h", 5}));
    REQUIRE(t.forgotten_origins() == 1);
    // Q got it late (an overloaded cluster) and announces it: no GRAFT.
    Effects ih;
    t.on_message(Q, IHave{{{MessageId{"o@h", 5}, 1}}}, 1600ms, ih);
    t.tick(1800ms, ih);
    REQUIRE_FALSE(sent<Graft>(ih, Q));
    REQUIRE(t.pending_count() == 0);
    // Pushed again, or an older one of the same origin: dropped as stale.
    Effects again;
    t.on_message(Q, gossip("o@h", 5, 1), 1900ms, again);
    t.on_message(Q, gossip("o@h", 3, 1), 1900ms, again);
    REQUIRE(again.deliveries.empty());
    REQUIRE(t.counters().stale == 2);
    // Newer ones, and other origins, are delivered.
    Effects fresh;
    t.on_message(Q, gossip("o@h", 6, 1), 2000ms, fresh);
    t.on_message(Q, gossip("x@h", 1, 1), 2000ms, fresh);
    REQUIRE(fresh.deliveries.size() == 2);
    // This node's own broadcasts go by its own numbering.
    Effects own;
    t.on_message(Q, gossip("me@h", 100, 1), 2000ms, own);
    t.tick(3500ms, own);
    REQUIRE(t.is_stale(MessageId{"me@h", 100}));
    own = Effects{};
    t.broadcast(MessageId{"me@h", 50}, text("mine"), 3500ms, own);
    REQUIRE(own.deliveries.size() == 1);
}

TEST_CASE("plumtree: at most max_origins floors are kept; the one raised longest ago goes") {
    Params p;
    p.seen_ttl = 100ms;
    p.max_origins = 2;
    Plumtree t("me@h", p, 1);
    t.neighbour_up(P);
    Effects e;
    t.on_message(P, gossip("a@h", 1), 0ms, e);
    t.on_message(P, gossip("b@h", 1), 10ms, e);
    t.on_message(P, gossip("c@h", 1), 20ms, e);
    t.tick(200ms, e);
    REQUIRE(t.forgotten_origins() == 2);
    REQUIRE_FALSE(t.is_stale(MessageId{"a@h", 1}));
    REQUIRE(t.is_stale(MessageId{"b@h", 1}));
    REQUIRE(t.is_stale(MessageId{"c@h", 1}));
}

TEST_CASE("plumtree: neighbour_down drops its announcements and GRAFTs the next announcer") {
    Params p = small_params();
    Plumtree t("me@h", p, 1);
    t.neighbour_up(P);
    t.neighbour_up(Q);
    const MessageId a{"o@h", 1}, b{"o@h", 2};
    Effects e;
    t.on_message(P, IHave{{{a, 3}}}, 0ms, e);
    t.on_message(P, IHave{{{b, 3}}}, 0ms, e);
    t.on_message(Q, IHave{{{b, 4}}}, 0ms, e);
    t.on_message(P, IHave{{{b, 3}}}, 0ms, e);  // again: not counted twice
    REQUIRE(t.pending_count() == 3);
    Effects fire;
    t.tick(p.graft_timeout, fire);
    REQUIRE(fire.sends.size() == 2);
    REQUIRE(sent<Graft>(fire, P));
    REQUIRE(t.pending_count() == 1);  // b from Q
    // P goes: a had nobody else (dropped); b's GRAFT moves on to Q at once.
    Effects down;
    t.neighbour_down(P, p.graft_timeout + 1ms, down);
    REQUIRE(down.sends.size() == 1);
    REQUIRE(sent<Graft>(down, Q));
    REQUIRE(sent<Graft>(down, Q)->id == b);
    REQUIRE(sent<Graft>(down, Q)->round == 4);
    REQUIRE(t.pending_count() == 0);
    Effects later;
    t.tick(10s, later);
    REQUIRE(later.empty());
    // Announcements from a neighbour that goes before its timer fires.
    t.on_message(Q, IHave{{{MessageId{"o@h", 3}, 0}}}, 10s, e);
    REQUIRE(t.pending_count() == 1);
    Effects gone;
    t.neighbour_down(Q, 10s, gone);
    REQUIRE(gone.empty());
    REQUIRE(t.pending_count() == 0);
    t.tick(20s, later);
    REQUIRE(later.empty());
}

TEST_CASE("plumtree: GRAFTs go to each announcer in turn, every graft_retry") {
    Params p = small_params();
    Plumtree t("me@h", p, 1);
    t.neighbour_up(P);
    t.neighbour_up(Q);
    const MessageId id{"o@h", 1};
    Effects e;
    t.on_message(P, Prune{}, 0ms, e);
    t.on_message(Q, Prune{}, 0ms, e);
    t.on_message(P, IHave{{{id, 2}}}, 0ms, e);
    t.on_message(Q, IHave{{{id, 3}}}, 100ms, e);
    REQUIRE(e.empty());
    REQUIRE(t.pending_count() == 2);
    Effects early;
    t.tick(p.graft_timeout - 1ms, early);
    REQUIRE(early.empty());
    Effects first;
    t.tick(p.graft_timeout, first);
    REQUIRE(first.sends.size() == 1);
    REQUIRE(sent<Graft>(first, P));
    REQUIRE(sent<Graft>(first, P)->round == 2);
    REQUIRE(t.eager() == std::set<std::string>{P});
    Effects wait;
    t.tick(p.graft_timeout + p.graft_retry - 1ms, wait);
    REQUIRE(wait.empty());
    Effects second;
    t.tick(p.graft_timeout + p.graft_retry, second);
    REQUIRE(second.sends.size() == 1);
    REQUIRE(sent<Graft>(second, Q));
    REQUIRE(sent<Graft>(second, Q)->round == 3);
    REQUIRE(t.eager() == std::set<std::string>{P, Q});
    REQUIRE(t.pending_count() == 0);
    // Nobody left to ask.
    Effects none;
    t.tick(10s, none);
    REQUIRE(none.empty());
    REQUIRE(t.counters().graft_sent == 2);
    // The answer comes: delivered once.
    Effects answer;
    t.on_message(Q, gossip("o@h", 1, 3), 10s, answer);
    REQUIRE(answer.deliveries.size() == 1);
    t.on_message(P, gossip("o@h", 1, 2), 10s, answer);
    REQUIRE(answer.deliveries.size() == 1);
}

TEST_CASE("plumtree: a message arriving cancels its GRAFT") {
    Params p = small_params();
    Plumtree t("me@h", p, 1);
    t.neighbour_up(P);
    t.neighbour_up(Q);
    Effects e;
    t.on_message(Q, IHave{{{MessageId{"o@h", 1}, 0}}}, 0ms, e);
    t.on_message(P, gossip("o@h", 1), 10ms, e);
    REQUIRE(t.pending_count() == 0);
    Effects fire;
    t.tick(p.graft_timeout * 2, fire);
    REQUIRE_FALSE(sent<Graft>(fire, Q));
    // An IHAVE for a message seen is ignored.
    t.on_message(Q, IHave{{{MessageId{"o@h", 1}, 0}}}, 3s, e);
    REQUIRE(t.pending_count() == 0);
}

TEST_CASE("plumtree: whatever a peer floods, the bounds hold") {
    Params p;
    p.max_seen = 100;
    p.max_cached_bytes = 1000;
    p.max_pending = 50;
    Plumtree t("me@h", p, 1);
    t.neighbour_up(P);
    t.neighbour_up(Q);
    Effects e;
    t.on_message(Q, Prune{}, 0ms, e);
    for (uint64_t i = 0; i < 1000; ++i) {
        Effects out;
        t.on_message(P, gossip("o@h", i, 0, std::string(30, 'x')), Millis(i), out);
        REQUIRE(out.deliveries.size() == 1);
        REQUIRE(t.seen_count() <= 100);
        REQUIRE(t.cached_bytes() <= 1000);
        REQUIRE(t.cached_count() <= 100);
        REQUIRE(t.queued_ihaves() <= 50);  // for Q, never flushed
    }
    REQUIRE(t.seen_count() == 100);
    REQUIRE(t.cached_bytes() == 990);
    REQUIRE_FALSE(t.has_seen(MessageId{"o@h", 0}));  // the oldest went
    REQUIRE(t.has_seen(MessageId{"o@h", 999}));
    // Too big to cache: delivered all the same.
    Effects big;
    t.on_message(P, gossip("o@h", 5000, 0, std::string(1001, 'y')), 1s, big);
    REQUIRE(big.deliveries.size() == 1);
    REQUIRE(t.cached_bytes() <= 1000);
    // Empty payloads: the cache's entries are bounded too.
    for (uint64_t i = 0; i < 300; ++i) t.on_message(P, gossip("e@h", i, 0, ""), 2s, e);
    REQUIRE(t.cached_count() <= 100);
    // IHAVEs of ids never sent.
    for (uint64_t i = 0; i < 20; ++i) {
        IHave ih;
        for (uint64_t k = 0; k < 100; ++k) ih.ids.emplace_back(MessageId{"f@h", i * 100 + k}, 0);
        t.on_message(P, ih, 3s, e);
        t.on_message(Q, ih, 3s, e);
        REQUIRE(t.pending_count() <= 50);
    }
    REQUIRE(t.pending_count() == 50);
}

TEST_CASE("plumtree: a stranger's GOSSIP is delivered once; it joins no set and is sent nothing") {
    Plumtree t("me@h", Params{}, 1);
    t.neighbour_up(P);
    Effects e;
    t.on_message(S, gossip("o@h", 1), 0ms, e);
    REQUIRE(e.deliveries.size() == 1);
    REQUIRE(sent<Gossip>(e, P));  // pushed on to the neighbours
    REQUIRE(sends_to(e, S) == 0);
    Effects dup;
    t.on_message(S, gossip("o@h", 1), 0ms, dup);
    REQUIRE(dup.empty());
    REQUIRE(t.counters().duplicates == 1);
    Effects rest;
    t.on_message(S, IHave{{{MessageId{"o@h", 2}, 0}}}, 0ms, rest);
    t.on_message(S, Graft{MessageId{"o@h", 1}, 0}, 0ms, rest);
    t.on_message(S, Prune{}, 0ms, rest);
    REQUIRE(rest.empty());
    REQUIRE(t.pending_count() == 0);
    REQUIRE(t.eager() == std::set<std::string>{P});
    REQUIRE(t.lazy().empty());
    // Itself is no neighbour either.
    t.neighbour_up("me@h");
    t.neighbour_up("");
    REQUIRE(t.eager() == std::set<std::string>{P});
}

// ---- the frame codec --------------------------------------------------------

namespace {

std::vector<Message> examples() {
    IHave ih;
    ih.ids = {{MessageId{"a@h", 1}, 0}, {MessageId{"bb@host", ~uint64_t{0}}, 65535}};
    IHave full;
    for (uint64_t i = 0; i < max_ihave_ids; ++i) full.ids.emplace_back(MessageId{"c@h", i}, 7);
    return {gossip("a@h", 1, 0, "payload"),
            gossip("o@h", 2, 300, ""),
            gossip(std::string(127, 'x') + "@" + std::string(127, 'y'), 3, 1, std::string(1000, '\0')),
            ih,
            full,
            Graft{MessageId{"g@h", 9}, 12},
            Prune{}};
}

bool parses(const std::vector<uint8_t>& frame, size_t max_payload = 1u << 20) {
    Message m;
    return parse_plumtree_frame(frame.data() + 4, frame.size() - 4, max_payload, m);
}

}  // namespace

TEST_CASE("plumtree frames: every kind round-trips, byte for byte") {
    for (const auto& m : examples()) {
        auto frame = encode(m);
        REQUIRE(frame[4] == frame_plumtree);
        Message back = decode(frame);
        REQUIRE(back.index() == m.index());
        REQUIRE(encode(back) == frame);
    }
    auto g = std::get<Gossip>(decode(encode(gossip("a@h", 77, 5, "body"))));
    REQUIRE(g.id == MessageId{"a@h", 77});
    REQUIRE(g.round == 5);
    REQUIRE(*g.payload == "body");
    // A null payload is sent as an empty one.
    auto empty = std::get<Gossip>(decode(encode(Gossip{MessageId{"a@h", 1}, 0, nullptr})));
    REQUIRE(empty.payload);
    REQUIRE(empty.payload->empty());
}

TEST_CASE("plumtree frames: the layout") {
    auto frame = encode(Graft{MessageId{"a@h", 258}, 3});
    REQUIRE(frame == std::vector<uint8_t>{0, 0, 0, 16, 7, 3, 3, 'a', '@', 'h', 0, 0, 0, 0, 0, 0, 1, 2, 0, 3});
    auto g = encode(gossip("a@h", 1, 2, "xy"));
    REQUIRE(std::vector<uint8_t>(g.end() - 8, g.end()) == std::vector<uint8_t>{0, 2, 0, 0, 0, 2, 'x', 'y'});
    REQUIRE(encode(Prune{}) == std::vector<uint8_t>{0, 0, 0, 2, 7, 4});
}

TEST_CASE("plumtree frames: anything malformed is refused") {
    for (const auto& m : examples()) {
        auto frame = encode(m);
        INFO("kind " << int{frame[5]});
        // Truncated anywhere (every 97th length of a long one).
        const size_t stride = frame.size() > 2000 ? 97 : 1;
        for (size_t len = 4; len < frame.size(); len += stride)
            REQUIRE_FALSE(parses(std::vector<uint8_t>(frame.begin(), frame.begin() + static_cast<long>(len))));
        // A byte too many.
        auto longer = frame;
        longer.push_back(0);
        REQUIRE_FALSE(parses(longer));
        // Another frame type.
        auto other = frame;
        other[4] = frame_gossip;
        REQUIRE_FALSE(parses(other));
    }
    for (uint8_t kind : {0, 5, 255}) REQUIRE_FALSE(parses({0, 0, 0, 2, 7, kind}));

    // Origins that are not node names.
    for (std::string origin : {"", "noat", "a@", "@h", "a@b@c", "a b@h", "a\x01@h"}) {
        INFO(origin);
        REQUIRE_FALSE(parses(encode(gossip(origin, 1))));
        REQUIRE_FALSE(parses(encode(Graft{MessageId{origin, 1}, 0})));
        REQUIRE_FALSE(parses(encode(IHave{{{MessageId{"a@h", 1}, 0}, {MessageId{origin, 1}, 0}}})));
    }

    // The payload limit.
    auto g = encode(gossip("a@h", 1, 0, std::string(100, 'p')));
    REQUIRE(parses(g, 100));
    REQUIRE_FALSE(parses(g, 99));
    // A payload length past the bytes there.
    auto lying = g;
    lying[lying.size() - 100 - 1] = 101;
    REQUIRE_FALSE(parses(lying));

    // IHAVE counts: zero, and one over the limit (written by hand: the
    // encoder cuts at the limit).
    REQUIRE_FALSE(parses(encode(IHave{})));
    IHave over;
    for (uint64_t i = 0; i <= max_ihave_ids; ++i) over.ids.emplace_back(MessageId{"c@h", i}, 0);
    auto cut = encode(over);
    REQUIRE(std::get<IHave>(decode(cut)).ids.size() == max_ihave_ids);
    ByteBuffer b;
    size_t at = begin_frame(b, frame_plumtree);
    b.put_u8(static_cast<uint8_t>(PlumtreeKind::ihave));
    b.put_u16(static_cast<uint16_t>(max_ihave_ids + 1));
    for (const auto& [id, round] : over.ids) {
        put_str8(b, id.origin);
        b.put_u64(id.seq);
        b.put_u16(round);
    }
    end_frame(b, at);
    REQUIRE_FALSE(parses(std::vector<uint8_t>(b.data(), b.data() + b.size())));

    Message m;
    REQUIRE_FALSE(parse_plumtree_frame(nullptr, 0, 100, m));
}

TEST_CASE("plumtree: a new neighbour hears (IHAVE) of the messages of the last catch_up_window; it GRAFTs what it missed") {
    Params p;
    p.catch_up_window = 5000ms;
    Plumtree t("me@h", p, 1);
    t.neighbour_up(P);
    Effects e;
    t.broadcast(MessageId{"me@h", 1}, text("old"), 0ms, e);
    t.broadcast(MessageId{"me@h", 2}, text("new"), 8000ms, e);
    Effects flushed;
    t.tick(8000ms, flushed);
    REQUIRE(t.queued_ihaves() == 0);
    // Q comes up at 10 s: only the message of the last 5 s is announced.
    t.neighbour_up(Q, 10000ms);
    REQUIRE(t.eager().count(Q));
    Effects tick;
    t.tick(10200ms, tick);
    REQUIRE(sent<IHave>(tick, Q));
    REQUIRE(sent<IHave>(tick, Q)->ids == std::vector<std::pair<MessageId, uint16_t>>{{MessageId{"me@h", 2}, 0}});
    // Without a time (the old call) nothing is announced.
    Plumtree u("me@h", p, 1);
    u.broadcast(MessageId{"me@h", 1}, text("x"), 0ms, e);
    u.neighbour_up(Q);
    REQUIRE(u.queued_ihaves() == 0);

    // The receiving side: Q had missed it, GRAFTs it after graft_timeout and gets it.
    Plumtree q(Q, p, 2);
    q.neighbour_up("me@h");
    Effects qe;
    q.on_message("me@h", *sent<IHave>(tick, Q), 10250ms, qe);
    Effects qt;
    q.tick(10250ms + p.graft_timeout, qt);
    REQUIRE(sent<Graft>(qt, "me@h"));
    Effects answer;
    t.on_message(Q, *sent<Graft>(qt, "me@h"), 11300ms, answer);
    REQUIRE(sent<Gossip>(answer, Q));
    Effects got;
    q.on_message("me@h", *sent<Gossip>(answer, Q), 11300ms, got);
    REQUIRE(got.deliveries.size() == 1);
    REQUIRE(*got.deliveries[0].payload == "new");
}
