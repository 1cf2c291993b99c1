// One HyParView driven event by event and checked after each, for the
// property test (hyparview_test.cpp) and the fuzz target
// (fuzz_hyparview.cpp): the invariants of its views and links, and that its
// Effects keep the contract (sends only on links it was told are up,
// links_changed whenever links() changed, every active view change
// reported, at most a bounded number of messages per peer at once).
#pragma once

#include "partisan/overlay/peer_to_peer/hyparview.hpp"

#include <map>
#include <set>
#include <string>

namespace partisan::test {

inline std::set<std::string> names_of(const std::vector<NodeRef>& nodes) {
    std::set<std::string> out;
    for (const auto& n : nodes) out.insert(n.name);
    return out;
}

// The first invariant of the views that does not hold, or "".
inline std::string view_problem(const hyparview::HyParView& hv) {
    const auto& self = hv.self().name;
    auto active = names_of(hv.active()), passive = names_of(hv.passive()), links = names_of(hv.links());
    if (active.size() != hv.active().size() || passive.size() != hv.passive().size()) return "a name twice in a view";
    if (active.count(self) || passive.count(self) || links.count(self)) return "self in a view or the links";
    if (active.count("") || passive.count("") || links.count("")) return "an empty name";
    if (active.size() > hv.params().active_size) return "active view over its size";
    if (links.size() > hv.params().active_size + 1 + hyparview::max_short_lived_links) return "too many links";
    if (passive.size() > hv.params().passive_size) return "passive view over its size";
    for (const auto& n : active) {
        if (passive.count(n)) return "in both views: " + n;
        if (!links.count(n)) return "active without a link: " + n;
        if (!hv.in_active(n)) return "in_active disagrees: " + n;
    }
    return {};
}

class CheckedHyParView {
public:
    using Millis = hyparview::Millis;

    CheckedHyParView(NodeRef self, hyparview::Params params, uint64_t seed) : hv_(std::move(self), params, seed) {}

    const hyparview::HyParView& hv() const { return hv_; }
    const hyparview::Effects& effects() const { return effects_; }
    const std::set<std::string>& up() const { return up_; }

    // Each returns the first broken rule, or "" when all hold.
    std::string join(const NodeRef& contact, Millis now) {
        return run([&](hyparview::Effects& e) { hv_.join(contact, now, e); });
    }
    std::string leave() {
        return run([&](hyparview::Effects& e) { hv_.leave(e); });
    }
    std::string message(const std::string& from, const hyparview::Message& m, Millis now) {
        return run([&](hyparview::Effects& e) { hv_.on_message(from, m, now, e); }, true);
    }
    // As the transport would: a link it was asked for comes up.
    std::string link_up(const std::string& peer, Millis now) {
        if (links_.count(peer)) up_.insert(peer);
        return run([&](hyparview::Effects& e) { hv_.on_link_up(peer, now, e); });
    }
    std::string link_down(const std::string& peer, Millis now) {
        up_.erase(peer);
        return run([&](hyparview::Effects& e) { hv_.on_link_down(peer, now, e); });
    }
    std::string tick(Millis now) {
        return run([&](hyparview::Effects& e) { hv_.tick(now, e); });
    }

private:
    template <typename Event>
    std::string run(Event&& event, bool may_answer = false) {
        auto active_before = names_of(hv_.active());
        effects_ = {};
        event(effects_);
        return check(active_before, may_answer);
    }

    std::string check(const std::set<std::string>& active_before, bool may_answer) {
        const auto& e = effects_;
        std::map<std::string, size_t> per_peer;
        for (const auto& [peer, m] : e.sends) {
            if (!up_.count(peer)) return "a send on a link not up: " + peer;
            if (++per_peer[peer] > hyparview::max_held_messages) return "too many messages at once for " + peer;
        }
        if (!may_answer && !e.answers.empty()) return "an answer with no message to answer";
        if (e.answers.size() > 1) return "more than one answer";
        auto links = names_of(hv_.links());
        if (links != links_ && !e.links_changed) return "links changed unreported";
        links_ = links;
        for (auto it = up_.begin(); it != up_.end();) it = links_.count(*it) ? std::next(it) : up_.erase(it);
        auto active = names_of(hv_.active());
        std::set<std::string> added(e.active_added.begin(), e.active_added.end());
        std::set<std::string> removed(e.active_removed.begin(), e.active_removed.end());
        for (const auto& n : active)
            if (!active_before.count(n) && !added.count(n)) return "active addition unreported: " + n;
        for (const auto& n : active_before)
            if (!active.count(n) && !removed.count(n)) return "active removal unreported: " + n;
        return view_problem(hv_);
    }

    hyparview::HyParView hv_;
    hyparview::Effects effects_;
    std::set<std::string> links_, up_;
};

}  // namespace partisan::test
