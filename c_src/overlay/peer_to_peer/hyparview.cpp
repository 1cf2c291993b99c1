// HyParView's state machine (hyparview.hpp). Just over 400 lines on
// purpose: one job, the protocol's seven messages and its timers, whose
// invariants are easier to check kept together.
#include "partisan/overlay/peer_to_peer/hyparview.hpp"

#include <algorithm>

namespace partisan::hyparview {

namespace {

// Shuffles remembered for their replies; a reply to an older one is ignored.
constexpr size_t max_pending_shuffles = 8;

}  // namespace

HyParView::HyParView(NodeRef self, Params params, uint64_t seed)
    : self_(std::move(self)), params_(params), rng_(seed) {}

// ---- queries ----------------------------------------------------------------

std::vector<NodeRef> HyParView::active() const {
    std::vector<NodeRef> out;
    for (const auto& [name, node] : active_) out.push_back(node);
    return out;
}

std::vector<NodeRef> HyParView::passive() const {
    std::vector<NodeRef> out;
    for (const auto& [name, e] : passive_) out.push_back(e.node);
    return out;
}

bool HyParView::in_active(const std::string& peer) const { return active_.count(peer) > 0; }

std::vector<NodeRef> HyParView::links() const {
    std::vector<NodeRef> out;
    for (const auto& [name, link] : links_) out.push_back(link.node);
    return out;
}

// ---- randomness -------------------------------------------------------------

// Our own reduction rather than a std distribution, whose values differ
// between standard libraries: the same seed gives the same run anywhere.
size_t HyParView::pick(size_t n) { return static_cast<size_t>(rng_() % n); }

std::vector<std::string> HyParView::pick_some(std::vector<std::string> names, size_t k) {
    k = std::min(k, names.size());
    for (size_t i = 0; i < k; ++i) std::swap(names[i], names[i + pick(names.size() - i)]);
    names.resize(k);
    return names;
}

std::optional<std::string> HyParView::random_active_except(const std::string& a, const std::string& b) {
    std::vector<std::string> names;
    for (const auto& [name, node] : active_)
        if (name != a && name != b) names.push_back(name);
    if (names.empty()) return std::nullopt;
    return names[pick(names.size())];
}

namespace {

template <typename ByName>
std::vector<std::string> names_in(const ByName& map) {
    std::vector<std::string> names;
    names.reserve(map.size());
    for (const auto& entry : map) names.push_back(entry.first);
    return names;
}

}  // namespace

std::vector<std::string> HyParView::active_names() const { return names_in(active_); }
std::vector<std::string> HyParView::passive_names() const { return names_in(passive_); }
std::vector<std::string> HyParView::link_names() const { return names_in(links_); }

// ---- links ------------------------------------------------------------------

void HyParView::open_link(const NodeRef& peer, Millis now, Effects& out) {
    auto [it, added] = links_.try_emplace(peer.name);
    if (!added) return;
    it->second.node = peer;
    it->second.since = now;
    out.links_changed = true;
}

void HyParView::send(const NodeRef& peer, Message m, Millis now, Effects& out) {
    open_link(peer, now, out);
    Link& link = links_.at(peer.name);
    if (link.up) {
        out.sends.emplace_back(peer.name, std::move(m));
        return;
    }
    if (link.held.size() >= max_held_messages) link.held.pop_front();
    link.held.push_back(std::move(m));
}

// A link is kept while the peer is a neighbour, is asked to become one, or
// has messages waiting for the link to come up.
bool HyParView::link_needed(const std::string& peer, const Link& link) const {
    return active_.count(peer) > 0 || asking_ == peer || (!link.up && !link.held.empty());
}

void HyParView::close_if_unused(const std::string& peer, Effects& out) {
    auto it = links_.find(peer);
    if (it == links_.end() || link_needed(peer, it->second)) return;
    links_.erase(it);
    out.links_changed = true;
}

// Links kept only for what is held for them: the oldest go past the bound.
void HyParView::drop_excess_short_lived(Effects& out) {
    std::vector<std::pair<Millis, std::string>> short_lived;
    for (const auto& [name, link] : links_)
        if (!active_.count(name) && asking_ != name) short_lived.emplace_back(link.since, name);
    if (short_lived.size() <= max_short_lived_links) return;
    std::sort(short_lived.begin(), short_lived.end());
    for (size_t i = 0; i + max_short_lived_links < short_lived.size(); ++i) links_.erase(short_lived[i].second);
    out.links_changed = true;
}

// The peer is unreachable: forgotten in both views (a failed node is not
// kept as a backup), and a lost neighbour or an unanswered request is
// replaced from the passive view.
void HyParView::link_failed(const std::string& peer, Millis now, Effects& out) {
    auto it = links_.find(peer);
    if (it == links_.end()) return;
    links_.erase(it);
    out.links_changed = true;
    bool was_active = active_.erase(peer) > 0;
    if (was_active) out.active_removed.push_back(peer);
    passive_.erase(peer);
    bool was_asked = asking_ == peer;
    if (was_asked) asking_.reset();
    if (was_active || was_asked) ask_passive_peer(false, now, out);
}

// A neighbour that no longer holds us (DISCONNECT) is kept as a backup,
// asked last, and replaced at once, as a failed one is (at high priority
// when none is left): a node left alone would otherwise wait for the
// promotion timer, and a node joining through it meanwhile makes an island.
void HyParView::lost_neighbour(const std::string& peer, Millis now, Effects& out) {
    auto it = active_.find(peer);
    if (it == active_.end()) return;
    NodeRef node = std::move(it->second);
    active_.erase(it);
    out.active_removed.push_back(peer);
    add_passive(node, {});
    if (auto p = passive_.find(peer); p != passive_.end()) p->second.tried = true;
    close_if_unused(peer, out);
    ask_passive_peer(false, now, out);
}

// ---- views ------------------------------------------------------------------

// Takes `node` in, making room by dropping a random neighbour, which is
// told (DISCONNECT) and kept in the passive view. False if it cannot be
// taken in at all (itself, or no active view).
bool HyParView::add_active(const NodeRef& node, Millis now, Effects& out) {
    if (node.name == self_.name || node.name.empty() || params_.active_size == 0) return false;
    if (active_.count(node.name)) return true;
    if (active_.size() >= params_.active_size) {
        std::string victim = *random_active_except(node.name);
        NodeRef victim_ref = active_.at(victim);
        send(victim_ref, Disconnect{}, now, out);
        active_.erase(victim);
        out.active_removed.push_back(victim);
        add_passive(victim_ref, {});
        close_if_unused(victim, out);
    }
    passive_.erase(node.name);
    active_.emplace(node.name, node);
    out.active_added.push_back(node.name);
    open_link(node, now, out);
    return true;
}

// Known nodes are kept as they are. A full view makes room by dropping one
// of `evict_first` if it holds any, else a random entry.
void HyParView::add_passive(const NodeRef& node, const std::set<std::string>& evict_first) {
    if (node.name == self_.name || node.name.empty() || params_.passive_size == 0) return;
    if (active_.count(node.name) || passive_.count(node.name)) return;
    if (passive_.size() >= params_.passive_size) {
        std::vector<std::string> victims;
        for (const auto& name : evict_first)
            if (passive_.count(name)) victims.push_back(name);
        if (victims.empty()) victims = passive_names();
        passive_.erase(victims[pick(victims.size())]);
    }
    passive_.emplace(node.name, PassiveEntry{node, false});
}

void HyParView::integrate(const std::vector<NodeRef>& sample, const std::set<std::string>& evict_first) {
    size_t n = std::min(sample.size(), sample_cap());
    for (size_t i = 0; i < n; ++i) add_passive(sample[i], evict_first);
}

// What a shuffle sample of ours holds at most (self, ka active, kp
// passive): a peer's longer sample is taken in only that far.
size_t HyParView::sample_cap() const {
    return std::min(max_shuffle_sample, 1 + params_.shuffle_active + params_.shuffle_passive);
}

// One request at a time, to a passive peer not tried yet (or, with
// `retry_tried`, to any once all were tried); high priority when this node
// has no neighbour left.
void HyParView::ask_passive_peer(bool retry_tried, Millis now, Effects& out) {
    if (asking_ || active_.size() >= params_.active_size) return;
    std::vector<std::string> candidates;
    for (const auto& [name, e] : passive_)
        if (!e.tried) candidates.push_back(name);
    if (candidates.empty() && retry_tried) {
        for (auto& [name, e] : passive_) e.tried = false;
        candidates = passive_names();
    }
    if (candidates.empty()) return;
    const std::string& peer = candidates[pick(candidates.size())];
    asking_ = peer;
    send(passive_.at(peer).node, Neighbor{self_, active_.empty()}, now, out);
}

// The asked peer said no, or nothing in time: it stays a backup, asked last.
void HyParView::give_up_asking(Millis now, Effects& out) {
    std::string peer = *asking_;
    asking_.reset();
    if (auto it = passive_.find(peer); it != passive_.end()) it->second.tried = true;
    close_if_unused(peer, out);
    ask_passive_peer(false, now, out);
}

void HyParView::start_shuffle(Millis now, Effects& out) {
    auto target = random_active_except({});
    if (!target) return;
    std::vector<std::string> others;
    for (const auto& [name, node] : active_)
        if (name != *target) others.push_back(name);
    SentShuffle record;
    record.id = static_cast<uint32_t>(rng_());
    Shuffle m{self_, params_.arwl, record.id, {self_}};
    for (const auto& name : pick_some(others, params_.shuffle_active)) m.sample.push_back(active_.at(name));
    for (const auto& name : pick_some(passive_names(), params_.shuffle_passive)) m.sample.push_back(passive_.at(name).node);
    if (m.sample.size() > max_shuffle_sample) m.sample.resize(max_shuffle_sample);
    for (size_t i = 1; i < m.sample.size(); ++i) record.sent.insert(m.sample[i].name);
    shuffles_.push_back(std::move(record));
    if (shuffles_.size() > max_pending_shuffles) shuffles_.pop_front();
    send(active_.at(*target), std::move(m), now, out);
}

// ---- events -----------------------------------------------------------------

void HyParView::join(const NodeRef& contact, Millis now, Effects& out) {
    if (!add_active(contact, now, out)) return;
    contact_ = contact;
    send(contact, Join{self_}, now, out);
    drop_excess_short_lived(out);
}

void HyParView::leave(Effects& out) {
    for (const auto& [name, node] : active_) {
        if (links_.at(name).up) out.sends.emplace_back(name, Disconnect{});
        out.active_removed.push_back(name);
    }
    active_.clear();
    passive_.clear();
    if (!links_.empty()) out.links_changed = true;
    links_.clear();
    asking_.reset();
    contact_.reset();
    shuffles_.clear();
}

void HyParView::on_message(const std::string& from, const Message& m, Millis now, Effects& out) {
    if (from == self_.name || from.empty()) return;
    std::visit([&](const auto& msg) { handle(from, msg, now, out); }, m);
    drop_excess_short_lived(out);
}

void HyParView::on_link_up(const std::string& peer, Millis now, Effects& out) {
    auto it = links_.find(peer);
    if (it == links_.end() || it->second.up) return;
    Link& link = it->second;
    link.up = true;
    link.since = now;
    for (auto& m : link.held) out.sends.emplace_back(peer, std::move(m));
    link.held.clear();
    close_if_unused(peer, out);
}

void HyParView::on_link_down(const std::string& peer, Millis now, Effects& out) { link_failed(peer, now, out); }

void HyParView::tick(Millis now, Effects& out) {
    if (!next_shuffle_) next_shuffle_ = now + params_.shuffle_interval;
    if (!next_promotion_) next_promotion_ = now + params_.promotion_interval;

    // Links not up in time count as failed; a request whose link is up but
    // goes unanswered counts as refused.
    std::vector<std::string> failed;
    bool unanswered = false;
    for (const auto& [name, link] : links_) {
        if (now - link.since < params_.link_timeout) continue;
        if (!link.up)
            failed.push_back(name);
        else if (asking_ == name)
            unanswered = true;
    }
    if (unanswered) give_up_asking(now, out);
    for (const auto& name : failed) link_failed(name, now, out);

    if (now >= *next_shuffle_) {
        next_shuffle_ = now + params_.shuffle_interval;
        start_shuffle(now, out);
    }
    if (now >= *next_promotion_) {
        next_promotion_ = now + params_.promotion_interval;
        ask_passive_peer(true, now, out);
        rejoin_if_isolated(now, out);
    }
}

// Nobody to ask: a join whose contact did not answer in time (an
// overloaded cluster) would otherwise leave the node alone for good.
void HyParView::rejoin_if_isolated(Millis now, Effects& out) {
    if (!contact_ || !active_.empty() || !passive_.empty() || links_.count(contact_->name)) return;
    NodeRef contact = *contact_;
    join(contact, now, out);
}

std::optional<Millis> HyParView::next_due(Millis now) const {
    if (active_.empty() && passive_.empty() && links_.empty() && !contact_) return std::nullopt;
    // Timers not set yet are set by the next tick.
    Millis due = std::min(next_shuffle_.value_or(now), next_promotion_.value_or(now));
    for (const auto& [name, link] : links_)
        if (!link.up || asking_ == name) due = std::min(due, link.since + params_.link_timeout);
    return due;
}

// ---- messages ---------------------------------------------------------------

void HyParView::handle(const std::string& from, const Join& m, Millis now, Effects& out) {
    if (m.node.name != from || active_.count(from)) return;
    if (!add_active(m.node, now, out)) return;
    std::vector<NodeRef> others;
    for (const auto& [name, node] : active_)
        if (name != from) others.push_back(node);
    for (const auto& node : others) send(node, ForwardJoin{m.node, params_.arwl}, now, out);
}

void HyParView::handle(const std::string& from, const ForwardJoin& m, Millis now, Effects& out) {
    const NodeRef& node = m.node;
    uint8_t ttl = std::min(m.ttl, params_.arwl);
    // The walk goes on through nodes that already have the joiner (as in
    // the paper); only a node that does not have it yet takes it in.
    bool can_take = node.name != self_.name && !node.name.empty() && !active_.count(node.name);
    auto take = [&] {
        if (can_take && add_active(node, now, out)) send(node, Neighbor{self_, true}, now, out);
    };
    if (ttl == 0 || active_.size() <= 1) return take();
    if (ttl == params_.prwl) add_passive(node, {});
    auto next = random_active_except(from, node.name);
    if (!next) return take();
    send(active_.at(*next), ForwardJoin{node, static_cast<uint8_t>(ttl - 1)}, now, out);
}

void HyParView::handle(const std::string& from, const Neighbor& m, Millis now, Effects& out) {
    if (m.node.name != from) return;
    bool accept = active_.count(from) || m.high_priority || active_.size() < params_.active_size;
    if (accept && add_active(m.node, now, out)) {
        send(active_.at(from), NeighborReply{self_, true}, now, out);
        return;
    }
    out.answers.push_back(NeighborReply{self_, false});
}

void HyParView::handle(const std::string& from, const NeighborReply& m, Millis now, Effects& out) {
    if (asking_ != from) {
        // Not asked, or given up on, but the reply still says whether the
        // peer holds us: the views are made to agree, lest they stay
        // asymmetric for good. A yes while we do not hold it (our NEIGHBOR
        // crossed our DISCONNECT, or the yes came late): it is told to drop
        // us. A no while we hold it (an earlier yes of its was taken for
        // the answer to this request): we drop it.
        if (m.accepted && !active_.count(from))
            out.answers.push_back(Disconnect{});
        else if (!m.accepted && active_.count(from))
            lost_neighbour(from, now, out);
        return;
    }
    if (!m.accepted) return give_up_asking(now, out);
    asking_.reset();
    // The address we dialed, not the one the reply claims.
    NodeRef node = links_.at(from).node;
    add_active(node, now, out);
    close_if_unused(from, out);
    ask_passive_peer(false, now, out);
}

void HyParView::handle(const std::string& from, const Disconnect&, Millis now, Effects& out) {
    lost_neighbour(from, now, out);
}

void HyParView::handle(const std::string& from, const Shuffle& m, Millis now, Effects& out) {
    if (m.origin.name == self_.name || m.origin.name.empty()) return;
    uint8_t ttl = std::min(m.ttl, params_.arwl);
    if (ttl > 0 && active_.size() > 1) {
        if (auto next = random_active_except(from)) {
            Shuffle fwd{m.origin, static_cast<uint8_t>(ttl - 1), m.id, {}};
            size_t n = std::min(m.sample.size(), max_shuffle_sample);
            fwd.sample.assign(m.sample.begin(), m.sample.begin() + static_cast<std::ptrdiff_t>(n));
            send(active_.at(*next), std::move(fwd), now, out);
            return;
        }
    }
    // The walk ends here: as many of our backups back to the origin as it
    // sent (those are the first to make room for its sample).
    size_t n = std::min(m.sample.size(), sample_cap());
    std::vector<std::string> names = passive_names();
    std::erase(names, m.origin.name);
    ShuffleReply reply{m.id, {}};
    std::set<std::string> sent;
    for (const auto& name : pick_some(std::move(names), n)) {
        reply.sample.push_back(passive_.at(name).node);
        sent.insert(name);
    }
    send(m.origin, std::move(reply), now, out);
    integrate(m.sample, sent);
}

void HyParView::handle(const std::string&, const ShuffleReply& m, Millis, Effects&) {
    auto it = std::find_if(shuffles_.begin(), shuffles_.end(), [&](const SentShuffle& s) { return s.id == m.id; });
    if (it == shuffles_.end()) return;
    std::set<std::string> sent = std::move(it->sent);
    shuffles_.erase(it);
    integrate(m.sample, sent);
}

}  // namespace partisan::hyparview
