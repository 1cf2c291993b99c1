// Peer-to-peer: HyParView (hyparview.hpp) keeps a small active view of
// linked neighbours and a larger passive view of known addresses; a message
// for a node that is not a neighbour goes hop by hop along routes learned
// from the nodes' broadcast announcements (route_table.hpp). This file only
// translates between the overlay seam and those two.
#include "partisan/codec/peer_frames.hpp"
#include "partisan/overlay/overlay.hpp"
#include "partisan/overlay/peer_to_peer/hyparview.hpp"
#include "partisan/overlay/peer_to_peer/hyparview_frames.hpp"
#include "partisan/overlay/peer_to_peer/route_table.hpp"

#include <algorithm>

namespace partisan {

namespace {

using std::chrono::milliseconds;

// HyParView's timers (link timeouts, shuffles, promotions) are checked
// at most this often.
constexpr milliseconds tick_period{100};
// A node that had no neighbour announces itself this long after its first
// one (a burst of joins costs one announcement). Later view changes are
// not announced early: every announcement reaches every node, so n nodes
// re-announcing on each change cost n² deliveries per change while a
// thousand nodes join; routes broken by a change heal at the next periodic
// announcements (announce_interval).
constexpr milliseconds announce_delay{500};
// Routes are checked for expiry this often (their ttl is minutes).
constexpr milliseconds route_expiry_period{1000};

hyparview::Params view_params(const Config& c) {
    hyparview::Params p;
    p.active_size = c.max_active_size;
    p.passive_size = c.max_passive_size;
    p.arwl = static_cast<uint8_t>(c.arwl);
    p.prwl = static_cast<uint8_t>(c.prwl);
    p.shuffle_interval = milliseconds(c.shuffle_interval_ms);
    p.shuffle_active = c.shuffle_k_active;
    p.shuffle_passive = c.shuffle_k_passive;
    p.promotion_interval = milliseconds(c.random_promotion_interval_ms);
    return p;
}

class PeerToPeerOverlay : public Overlay {
public:
    explicit PeerToPeerOverlay(const OverlayContext& ctx)
        : ctx_(ctx),
          views_(NodeRef{ctx.config.beam_node, ctx.self_addrs}, view_params(ctx.config), ctx.incarnation),
          // A route lives through two missed announcements.
          routes_(3 * milliseconds(ctx.config.announce_interval_ms), ctx.config.max_members) {}

    const char* name() const override { return "peer_to_peer"; }
    const std::string& self() const override { return views_.self().name; }
    bool dynamic() const override { return true; }

    void join(const std::string& node, const std::vector<Address>& addrs, uint64_t, OverlayOutput& out) override {
        hyparview::Effects e;
        views_.join(NodeRef{node, addrs}, now(), e);
        carry_out(e, out);
    }
    void join_failed(const std::string& node, OverlayOutput& out) override { link_down(node, out); }
    void leave(OverlayOutput& out) override {
        hyparview::Effects e;
        views_.leave(e);
        routes_ = RouteTable(3 * milliseconds(ctx_.config.announce_interval_ms), ctx_.config.max_members);
        carry_out(e, out);
        out.neighbours_changed = true;
    }
    bool remove(const std::string& node, OverlayOutput& out) override {
        bool known = views_.in_active(node) || routes_.next_hop(node) || in_passive(node);
        if (!known) return false;
        routes_.forget(node);
        link_down(node, out);
        return true;
    }
    void peer_up(const std::string& peer, OverlayOutput& out) override {
        hyparview::Effects e;
        views_.on_link_up(peer, now(), e);
        carry_out(e, out);
    }
    void peer_down(const std::string& peer, OverlayOutput& out) override { link_down(peer, out); }
    void connect_failed(const std::string& peer, OverlayOutput& out) override { link_down(peer, out); }
    void unreachable(const std::vector<std::string>&, OverlayOutput&) override {}  // HyParView replaces them

    bool on_frame(const std::string& peer, const uint8_t* body, size_t len, OverlayOutput& out) override {
        hyparview::Message m;
        if (!parse_hyparview_frame(body, len, m)) return false;
        hyparview::Effects e;
        views_.on_message(peer, m, now(), e);
        carry_out(e, out);
        return true;
    }
    void on_announce(const NodeRef& origin, const std::string& via, uint16_t hops, OverlayOutput& out) override {
        if (origin.name != self() && views_.in_active(via) && routes_.learn(origin, via, hops, now()))
            out.reachable_changed = true;
    }
    void tick(OverlayOutput& out) override {
        auto t = now();
        hyparview::Effects e;
        views_.tick(t, e);
        carry_out(e, out);
        if (t >= next_expiry_) {
            if (routes_.expire(t)) out.reachable_changed = true;
            next_expiry_ = t + route_expiry_period;
        }
        if (t >= next_announce_ && !views_.active().empty()) {
            out.announce = true;
            next_announce_ = t + milliseconds(ctx_.config.announce_interval_ms);
        }
    }
    std::optional<milliseconds> next_tick() const override {
        auto t = now();
        auto due = views_.next_due(t);
        auto earliest = [&](milliseconds at) { due = due ? std::min(*due, at) : at; };
        if (!views_.active().empty()) earliest(next_announce_);
        if (routes_.size() > 0) earliest(next_expiry_);
        if (!due) return std::nullopt;
        return std::max(*due - t, tick_period);
    }

    bool handles_frame(uint8_t type) const override { return type == frame_hyparview; }
    std::vector<Neighbour> neighbours() const override {
        std::vector<Neighbour> out;
        for (auto& n : views_.links()) {
            bool active = views_.in_active(n.name);
            out.push_back(Neighbour{n.name, n.addrs, false, !active});
        }
        return out;
    }
    // Anyone who proved the secret may ask to join or to be a neighbour.
    bool admits(const std::string&) const override { return true; }
    std::optional<std::string> relay_for(const std::string& dest) const override {
        auto via = routes_.next_hop(dest);
        if (via && views_.in_active(*via) && ctx_.links.up(*via)) return via;
        return std::nullopt;
    }
    bool member_link(const std::string& peer) const override { return views_.in_active(peer); }
    bool broadcast_relays() const override { return true; }
    std::vector<std::string> others() const override {
        auto out = routes_.destinations();
        auto active = views_.active_names();
        out.insert(out.end(), active.begin(), active.end());
        std::sort(out.begin(), out.end());
        out.erase(std::unique(out.begin(), out.end()), out.end());
        return out;
    }
    std::vector<std::pair<std::string, std::vector<Address>>> contacts() const override {
        std::vector<std::pair<std::string, std::vector<Address>>> out;
        for (auto& n : views_.active()) out.emplace_back(n.name, n.addrs);
        for (auto& n : views_.passive()) out.emplace_back(n.name, n.addrs);
        return out;
    }
    std::optional<OverlayViews> views() const override {
        OverlayViews v;
        v.active = views_.active_names();
        v.passive = views_.passive_names();
        return v;
    }

private:
    milliseconds now() const { return ctx_.clock(); }
    bool in_passive(const std::string& node) const {
        auto names = views_.passive_names();  // in name order
        return std::binary_search(names.begin(), names.end(), node);
    }
    void link_down(const std::string& peer, OverlayOutput& out) {
        hyparview::Effects e;
        views_.on_link_down(peer, now(), e);
        carry_out(e, out);
    }
    void carry_out(hyparview::Effects& e, OverlayOutput& out) {
        for (auto& [peer, m] : e.sends) {
            ByteBuffer b;
            append_hyparview_frame(b, m);
            out.to_peers.emplace_back(peer, std::move(b));
        }
        for (auto& m : e.answers) {
            ByteBuffer b;
            append_hyparview_frame(b, m);
            out.replies.push_back(std::move(b));
        }
        // neighbours() is the links and which of them are active (the others
        // are control-only): a peer taken into, or dropped from, the active
        // view over a link it already had (a promotion's NEIGHBOR request)
        // changes it too, and the transport must hear of it: it sends a
        // neighbour's messages only once it no longer counts as short-lived.
        if (e.links_changed || !e.active_added.empty() || !e.active_removed.empty()) out.neighbours_changed = true;
        for (auto& gone : e.active_removed) routes_.drop_via(gone);
        // The first neighbour after none: announce soon, so that the
        // others learn a route to this node.
        if (!e.active_added.empty() && views_.active().size() == e.active_added.size())
            next_announce_ = std::min(next_announce_, now() + announce_delay);
    }

    OverlayContext ctx_;
    hyparview::HyParView views_;
    RouteTable routes_;
    milliseconds next_announce_{0};
    milliseconds next_expiry_{0};
};

}  // namespace

std::unique_ptr<Overlay> make_peer_to_peer_overlay(const OverlayContext& ctx) {
    return std::make_unique<PeerToPeerOverlay>(ctx);
}

}  // namespace partisan
