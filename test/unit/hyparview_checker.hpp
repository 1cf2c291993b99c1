// One HyParView driven event by event and checked after each, for the
// property test (hyparview_test.cpp) and the fuzz target
// (fuzz_hyparview.cpp): the invariants of its views and links, and that its
// Effects keep the contract (sends only on links it was told are up,
// links_changed whenever links() changed, every active view change
// reported, at most a bounded number of messages per peer at once).
#pragma once

#include "partisan/overlay/peer_to_peer/hyparview.hpp"

#include <algorithm>
#include <set>
#include <string>

namespace partisan::test {

inline std::set<std::string> names_of(const std::vector<NodeRef>& nodes) {
    std::set<std::string> out;
    for (const auto& n : nodes) out.insert(n.name);
    return out;
}

// Names in name order (HyParView's *_names()), for the checks below: a
// sorted vector, not a set, since the fuzz target runs these after every
// event and a set allocates per name.
using SortedNames = std::vector<std::string>;

inline bool has(const SortedNames& names, const std::string& name) {
    return std::binary_search(names.begin(), names.end(), name);
}

// The first invariant of the views that does not hold, or "".
inline std::string view_problem(const hyparview::HyParView& hv) {
    const auto& self = hv.self().name;
    // Read in place (the fuzz target runs this after every event): each
    // node must carry its key as its name, so no name is in a view twice.
    bool carried_ok = true;
    auto carried = [&](const std::string& key, const NodeRef& node) { carried_ok &= node.name == key; };
    hv.visit_active(carried);
    hv.visit_passive(carried);
    if (!carried_ok) return "a node's name differs from its key";
    auto active = hv.active_names(), passive = hv.passive_names();
    auto links = hv.link_names();
    if (has(active, self) || has(passive, self) || has(links, self)) return "self in a view or the links";
    if (has(active, "") || has(passive, "") || has(links, "")) return "an empty name";
    if (active.size() > hv.params().active_size) return "active view over its size";
    if (links.size() > hv.params().active_size + 1 + hyparview::max_short_lived_links) return "too many links";
    if (passive.size() > hv.params().passive_size) return "passive view over its size";
    for (const auto& n : active) {
        if (has(passive, n)) return "in both views: " + n;
        if (!has(links, n)) return "active without a link: " + n;
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
        if (has(links_, peer)) up_.insert(peer);
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
        auto active_before = hv_.active_names();
        effects_ = {};
        event(effects_);
        return check(active_before, may_answer);
    }

    std::string check(const SortedNames& active_before, bool may_answer) {
        const auto& e = effects_;
        for (const auto& send : e.sends) {
            const auto& peer = send.first;
            if (!up_.count(peer)) return "a send on a link not up: " + peer;
            auto to_peer = std::count_if(e.sends.begin(), e.sends.end(), [&](const auto& s) { return s.first == peer; });
            if (size_t(to_peer) > hyparview::max_held_messages) return "too many messages at once for " + peer;
        }
        if (!may_answer && !e.answers.empty()) return "an answer with no message to answer";
        if (e.answers.size() > 1) return "more than one answer";
        auto links = hv_.link_names();
        if (links != links_ && !e.links_changed) return "links changed unreported";
        links_ = std::move(links);
        for (auto it = up_.begin(); it != up_.end();) it = has(links_, *it) ? std::next(it) : up_.erase(it);
        auto active = hv_.active_names();
        auto reported = [](const std::vector<std::string>& list, const std::string& n) {
            return std::find(list.begin(), list.end(), n) != list.end();
        };
        for (const auto& n : active)
            if (!has(active_before, n) && !reported(e.active_added, n)) return "active addition unreported: " + n;
        for (const auto& n : active_before)
            if (!has(active, n) && !reported(e.active_removed, n)) return "active removal unreported: " + n;
        return view_problem(hv_);
    }

    hyparview::HyParView hv_;
    hyparview::Effects effects_;
    SortedNames links_;
    std::set<std::string> up_;
};

}  // namespace partisan::test
