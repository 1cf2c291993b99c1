#include "overlay_sim.hpp"

#include "sim_random.hpp"
#include "wire_round_trip.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_map>

namespace partisan::sim {

namespace {

// Simulated nodes are n<index>@sim, each with an address of its own so that
// NodeRefs survive the frame codecs.
std::string node_name(uint32_t i) { return "n" + std::to_string(i) + "@sim"; }

NodeRef node_ref(uint32_t i) {
    std::string ip = "10." + std::to_string((i >> 16) & 255) + "." + std::to_string((i >> 8) & 255) + "." +
                     std::to_string(i & 255);
    return NodeRef{node_name(i), {Address{std::move(ip), 4370}}};
}

// Room for a simulated broadcast's payload through the codec.
constexpr size_t max_sim_payload = 1u << 20;

// A HyParView link from one node to a peer. `gen` tells a link apart from an
// earlier one to the same peer, so events meant for that one are ignored.
struct Link {
    uint64_t gen = 0;
    bool up = false;
    bool failing = false;  // an on_link_down is on its way
};

struct SimNode {
    NodeRef ref;
    std::unique_ptr<hyparview::HyParView> hyparview;
    std::unique_ptr<plumtree::Plumtree> plumtree;
    bool alive = false;
    std::map<uint32_t, Link> links;  // by peer
    // When the last message to each peer arrives: later ones arrive after it,
    // as on a TCP connection.
    std::unordered_map<uint32_t, Millis> last_arrival;
};

// ---- events

struct DeliverHyParView {
    uint32_t from, to;
    hyparview::Message msg;
};
struct DeliverPlumtree {
    uint32_t from, to;
    plumtree::Message msg;
};
struct LinkAttempt {  // the dial's outcome
    uint32_t node, peer;
    uint64_t gen;
};
struct LinkBroken {  // a reset, or a failure detected
    uint32_t node, peer;
    uint64_t gen;
};
struct Tick {
    uint32_t node;
};
struct Start {  // the node comes up and joins `contact` (itself: starts alone)
    uint32_t node, contact;
};
using Event = std::variant<DeliverHyParView, DeliverPlumtree, LinkAttempt, LinkBroken, Tick, Start>;

}  // namespace

struct Simulation::Impl {
    SimConfig cfg;
    std::mt19937_64 rng;      // contacts, victims, broadcast origins, tick phases
    std::mt19937_64 net_rng;  // latencies
    EventQueue<Event> queue;
    std::vector<SimNode> nodes;
    std::vector<uint32_t> live;  // live node indices, ascending
    Millis now{0};
    uint64_t next_gen = 1;
    uint64_t events = 0;
    Traffic traffic;
    Breaches breaches;
    std::vector<BroadcastRecord> records;
    std::vector<std::vector<char>> delivered_at;  // per record, per node

    explicit Impl(const SimConfig& c)
        : cfg(c),
          rng(derive_seed(c.seed, streams::simulator)),
          net_rng(derive_seed(c.seed, streams::network)),
          nodes(c.nodes) {
        if (c.nodes > streams::max_nodes) throw std::invalid_argument("too many nodes for the seed streams");
        for (uint32_t i = 0; i < nodes.size(); ++i) nodes[i].ref = node_ref(i);
    }

    // ---- names and time

    std::optional<uint32_t> index_of(const std::string& name) const {
        auto at = name.find('@');
        if (name.size() < 2 || name[0] != 'n' || at == std::string::npos || name.compare(at, 4, "@sim") != 0 ||
            at + 4 != name.size())
            return std::nullopt;
        uint32_t i = 0;
        auto [end, ec] = std::from_chars(name.data() + 1, name.data() + at, i);
        if (ec != std::errc{} || end != name.data() + at || i >= nodes.size()) return std::nullopt;
        return i;
    }

    // A peer named by node `self`'s machines: a node, not itself.
    std::optional<uint32_t> peer_of(uint32_t self, const std::string& name) {
        auto p = index_of(name);
        if (!p || *p == self) {
            ++breaches.unknown_peer;
            return std::nullopt;
        }
        return p;
    }

    Millis latency() { return uniform_millis(net_rng, cfg.network.min_latency, cfg.network.max_latency); }

    // When a message from `from` to `to` sent now arrives: one latency, and
    // not before the one sent before it.
    Millis arrival(uint32_t from, uint32_t to) {
        auto& last = nodes[from].last_arrival;
        if (last.size() > 256) std::erase_if(last, [&](const auto& kv) { return kv.second <= now; });
        Millis at = now + latency();
        Millis& previous = last[to];
        at = std::max(at, previous);
        previous = at;
        return at;
    }

    // ---- messages

    // A message to a node that is dead: lost, and a link the sender holds
    // to it is reset one latency later.
    void lost(uint32_t from, uint32_t to) {
        ++traffic.lost;
        SimNode& sender = nodes[from];
        if (!sender.alive) return;
        auto it = sender.links.find(to);
        if (it == sender.links.end() || !it->second.up || it->second.failing) return;
        it->second.failing = true;
        queue.push(now + latency(), LinkBroken{from, to, it->second.gen});
    }

    void transmit(uint32_t from, uint32_t to, hyparview::Message msg) {
        ++traffic.hyparview[msg.index()];
        if (cfg.wire_round_trip) {
            size_t bytes = 0;
            auto parsed = wire_round_trip(msg, bytes);
            traffic.wire_bytes += bytes;
            if (!parsed) {
                ++breaches.frame_round_trip;
                return;
            }
            msg = std::move(*parsed);
        }
        if (!nodes[to].alive) return lost(from, to);
        queue.push(arrival(from, to), DeliverHyParView{from, to, std::move(msg)});
    }

    void transmit(uint32_t from, uint32_t to, plumtree::Message msg) {
        ++traffic.plumtree[msg.index()];
        if (const auto* g = std::get_if<plumtree::Gossip>(&msg))
            if (auto* r = record_of(g->id)) ++r->gossip;
        if (cfg.wire_round_trip) {
            size_t bytes = 0;
            auto parsed = wire_round_trip(msg, max_sim_payload, bytes);
            traffic.wire_bytes += bytes;
            if (!parsed) {
                ++breaches.frame_round_trip;
                return;
            }
            msg = std::move(*parsed);
        }
        if (!nodes[to].alive) return lost(from, to);
        queue.push(arrival(from, to), DeliverPlumtree{from, to, std::move(msg)});
    }

    // ---- effects

    void apply(uint32_t n, hyparview::Effects& out, std::optional<uint32_t> reply_to, bool link_went_down) {
        SimNode& node = nodes[n];
        for (auto& [peer, msg] : out.sends) {
            auto p = peer_of(n, peer);
            if (!p) continue;
            auto it = node.links.find(*p);
            if (it == node.links.end() || !it->second.up) ++breaches.send_on_link_not_up;
            transmit(n, *p, std::move(msg));
        }
        for (auto& msg : out.answers) {
            if (!reply_to) {
                ++breaches.answer_without_message;
                continue;
            }
            transmit(n, *reply_to, std::move(msg));
        }
        // A link that went down is gone here whatever links() says: a peer
        // still listed there is dialled again.
        if (out.links_changed || link_went_down)
            sync_links(n);
        else if (cfg.wire_round_trip)
            check_links_unchanged(n);

        if (!out.active_removed.empty() || !out.active_added.empty()) {
            plumtree::Effects pout;
            for (const auto& peer : out.active_removed)
                if (!node.hyparview->in_active(peer)) node.plumtree->neighbour_down(peer, now, pout);
            for (const auto& peer : out.active_added)
                if (node.hyparview->in_active(peer)) node.plumtree->neighbour_up(peer);
            apply(n, pout);
        }
        if (cfg.wire_round_trip) check_neighbours(n);
    }

    void apply(uint32_t n, plumtree::Effects& out) {
        for (auto& [peer, msg] : out.sends)
            if (auto p = peer_of(n, peer)) transmit(n, *p, std::move(msg));
        for (const auto& d : out.deliveries) delivered(n, d);
    }

    // ---- links

    std::vector<uint32_t> wanted_links(uint32_t n) {
        std::vector<uint32_t> want;
        for (const auto& peer : nodes[n].hyparview->links())
            if (auto p = peer_of(n, peer.name)) want.push_back(*p);
        std::sort(want.begin(), want.end());
        return want;
    }

    void sync_links(uint32_t n) {
        SimNode& node = nodes[n];
        auto want = wanted_links(n);
        auto unwanted = [&](const auto& kv) { return !std::binary_search(want.begin(), want.end(), kv.first); };
        std::erase_if(node.links, unwanted);
        for (uint32_t p : want) {
            if (node.links.count(p)) continue;
            Link link{next_gen++};
            node.links.emplace(p, link);
            Millis delay = nodes[p].alive ? latency() : cfg.network.connect_timeout;
            queue.push(now + delay, LinkAttempt{n, p, link.gen});
        }
    }

    // links() must not change without links_changed.
    void check_links_unchanged(uint32_t n) {
        auto want = wanted_links(n);
        const auto& have = nodes[n].links;
        auto same_peer = [](uint32_t p, const auto& kv) { return p == kv.first; };
        bool same = want.size() == have.size() && std::equal(want.begin(), want.end(), have.begin(), same_peer);
        if (!same) {
            ++breaches.links_change_unreported;
            sync_links(n);
        }
    }

    // Plumtree's neighbours are the active view, which is within links().
    void check_neighbours(uint32_t n) {
        const SimNode& node = nodes[n];
        std::set<std::string> neighbours(node.plumtree->eager().begin(), node.plumtree->eager().end());
        neighbours.insert(node.plumtree->lazy().begin(), node.plumtree->lazy().end());
        std::set<std::string> active;
        for (const auto& peer : node.hyparview->active()) {
            active.insert(peer.name);
            auto p = index_of(peer.name);
            if (!p || !node.links.count(*p)) ++breaches.active_without_link;
        }
        if (neighbours != active) ++breaches.active_change_unreported;
    }

    // ---- broadcasts

    BroadcastRecord* record_of(const plumtree::MessageId& id) {
        if (id.seq == 0 || id.seq > records.size()) return nullptr;
        BroadcastRecord& r = records[id.seq - 1];
        return nodes[r.origin].ref.name == id.origin ? &r : nullptr;
    }

    // Delivery::round is the GOSSIP's round, the sender's hops from the
    // origin: the receiver is one hop further.
    static uint16_t hops_of(const plumtree::Delivery& d) {
        return d.from.empty() ? 0 : static_cast<uint16_t>(d.round + 1);
    }

    void delivered(uint32_t n, const plumtree::Delivery& d) {
        BroadcastRecord* r = record_of(d.id);
        if (!r) {
            ++breaches.unknown_delivery;
            return;
        }
        char& seen = delivered_at[d.id.seq - 1][n];
        if (seen) {
            ++breaches.duplicate_delivery;
            return;
        }
        seen = 1;
        ++r->reached;
        Millis after = now - r->sent_at;
        if (after <= cfg.delivery_window) ++r->delivered;
        r->last_hop = std::max(r->last_hop, hops_of(d));
        r->last_delivery = std::max(r->last_delivery, after);
    }

    // ---- event handlers

    void handle(DeliverHyParView& e) {
        SimNode& node = nodes[e.to];
        if (!node.alive) return lost(e.from, e.to);
        hyparview::Effects out;
        node.hyparview->on_message(nodes[e.from].ref.name, e.msg, now, out);
        apply(e.to, out, e.from, false);
    }

    void handle(DeliverPlumtree& e) {
        SimNode& node = nodes[e.to];
        if (!node.alive) return lost(e.from, e.to);
        plumtree::Effects out;
        node.plumtree->on_message(nodes[e.from].ref.name, e.msg, now, out);
        apply(e.to, out);
    }

    void handle(LinkAttempt& e) {
        SimNode& node = nodes[e.node];
        auto it = node.links.find(e.peer);
        if (!node.alive || it == node.links.end() || it->second.gen != e.gen) return;
        hyparview::Effects out;
        if (nodes[e.peer].alive) {
            it->second.up = true;
            node.hyparview->on_link_up(nodes[e.peer].ref.name, now, out);
            apply(e.node, out, std::nullopt, false);
        } else {
            node.links.erase(it);
            node.hyparview->on_link_down(nodes[e.peer].ref.name, now, out);
            apply(e.node, out, std::nullopt, true);
        }
    }

    void handle(LinkBroken& e) {
        SimNode& node = nodes[e.node];
        auto it = node.links.find(e.peer);
        if (!node.alive || it == node.links.end() || it->second.gen != e.gen) return;
        node.links.erase(it);
        hyparview::Effects out;
        node.hyparview->on_link_down(nodes[e.peer].ref.name, now, out);
        apply(e.node, out, std::nullopt, true);
    }

    void handle(Tick& e) {
        SimNode& node = nodes[e.node];
        if (!node.alive) return;
        hyparview::Effects out;
        node.hyparview->tick(now, out);
        apply(e.node, out, std::nullopt, false);
        plumtree::Effects pout;
        node.plumtree->tick(now, pout);
        apply(e.node, pout);
        queue.push(now + cfg.tick_interval, Tick{e.node});
    }

    void handle(Start& e) {
        SimNode& node = nodes[e.node];
        node.alive = true;
        live.insert(std::upper_bound(live.begin(), live.end(), e.node), e.node);
        node.hyparview = std::make_unique<hyparview::HyParView>(node.ref, cfg.hyparview,
                                                               derive_seed(cfg.seed, streams::hyparview(e.node)));
        node.plumtree = std::make_unique<plumtree::Plumtree>(node.ref.name, cfg.plumtree,
                                                             derive_seed(cfg.seed, streams::plumtree(e.node)));
        if (e.contact != e.node) {
            hyparview::Effects out;
            node.hyparview->join(nodes[e.contact].ref, now, out);
            apply(e.node, out, std::nullopt, false);
        }
        // Ticks at a phase of the node's own, so that nodes do not act in step.
        auto phase = Millis(static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(cfg.tick_interval.count()))));
        queue.push(now + phase + Millis{1}, Tick{e.node});
    }

    void kill(uint32_t n) {
        SimNode& node = nodes[n];
        node.alive = false;
        node.hyparview.reset();
        node.plumtree.reset();
        node.links.clear();
        node.last_arrival.clear();
    }
};

Simulation::Simulation(const SimConfig& config) : impl_(std::make_unique<Impl>(config)) {}
Simulation::~Simulation() = default;

const SimConfig& Simulation::config() const { return impl_->cfg; }

Millis Simulation::start_joins() {
    Impl& s = *impl_;
    Millis last = s.now;
    for (uint32_t i = 0; i < s.nodes.size(); ++i) {
        uint32_t contact = i == 0 ? 0 : static_cast<uint32_t>(uniform_below(s.rng, i));
        last = s.now + s.cfg.join_interval * i;
        s.queue.push(last, Start{i, contact});
    }
    return last;
}

void Simulation::run_until(Millis t) {
    Impl& s = *impl_;
    while (!s.queue.empty() && s.queue.next_time() <= t) {
        auto [at, event] = s.queue.pop();
        s.now = at;
        ++s.events;
        std::visit([&](auto& e) { s.handle(e); }, event);
    }
    s.now = std::max(s.now, t);
}

void Simulation::run_for(Millis d) { run_until(impl_->now + d); }
Millis Simulation::now() const { return impl_->now; }

size_t Simulation::kill_fraction(double fraction) {
    Impl& s = *impl_;
    auto k = static_cast<size_t>(std::llround(fraction * static_cast<double>(s.live.size())));
    k = std::min(k, s.live.size());
    // The first k of a partial Fisher-Yates shuffle.
    std::vector<uint32_t> pool = s.live;
    for (size_t i = 0; i < k; ++i) std::swap(pool[i], pool[i + uniform_below(s.rng, pool.size() - i)]);
    for (size_t i = 0; i < k; ++i) s.kill(pool[i]);
    std::erase_if(s.live, [&](uint32_t n) { return !s.nodes[n].alive; });
    // Survivors linked to the dead notice after the detection delay (those
    // that send to them first notice sooner, by a reset).
    for (uint32_t n : s.live)
        for (const auto& [peer, link] : s.nodes[n].links)
            if (!s.nodes[peer].alive)
                s.queue.push(s.now + s.cfg.network.detection_delay, LinkBroken{n, peer, link.gen});
    return k;
}

size_t Simulation::broadcast_from(uint32_t node) {
    Impl& s = *impl_;
    if (node >= s.nodes.size() || !s.nodes[node].alive) throw std::invalid_argument("broadcast from a node not alive");
    size_t index = s.records.size();
    BroadcastRecord r;
    r.origin = node;
    r.sent_at = s.now;
    r.live = s.live.size();
    s.records.push_back(r);
    s.delivered_at.emplace_back(s.nodes.size(), 0);
    plumtree::MessageId id{s.nodes[node].ref.name, index + 1};
    auto payload = std::make_shared<const std::string>("broadcast " + std::to_string(index));
    plumtree::Effects out;
    s.nodes[node].plumtree->broadcast(id, std::move(payload), s.now, out);
    s.apply(node, out);
    return index;
}

size_t Simulation::broadcast_from_random() { return broadcast_from(random_live_node()); }
const std::vector<BroadcastRecord>& Simulation::records() const { return impl_->records; }

uint32_t Simulation::random_live_node() {
    Impl& s = *impl_;
    if (s.live.empty()) throw std::logic_error("no live node");
    return s.live[uniform_below(s.rng, s.live.size())];
}

size_t Simulation::live() const { return impl_->live.size(); }

ViewSnapshot Simulation::views() const {
    const Impl& s = *impl_;
    ViewSnapshot v;
    size_t n = s.nodes.size();
    v.alive.assign(n, 0);
    v.active.resize(n);
    v.passive.resize(n);
    for (uint32_t i : s.live) {
        const auto& hv = *s.nodes[i].hyparview;
        v.alive[i] = 1;
        for (const auto& peer : hv.active_names())
            if (auto p = s.index_of(peer)) v.active[i].push_back(*p);
        for (const auto& peer : hv.passive_names())
            if (auto p = s.index_of(peer)) v.passive[i].push_back(*p);
    }
    return v;
}

const Traffic& Simulation::traffic() const { return impl_->traffic; }
const Breaches& Simulation::breaches() const { return impl_->breaches; }
uint64_t Simulation::events() const { return impl_->events; }

}  // namespace partisan::sim
