#include "partisan/broadcast/plumtree.hpp"

#include <algorithm>
#include <iterator>

namespace partisan::plumtree {

namespace {

size_t size_of(const Payload& p) { return p ? p->size() : 0; }

}  // namespace

Plumtree::Plumtree(std::string self, Params params, uint64_t /*seed*/) : self_(std::move(self)), params_(params) {
    // At least one id per IHAVE (else a flush would never end), at most what
    // the wire carries.
    params_.max_ihave_batch = std::clamp<size_t>(params_.max_ihave_batch, 1, max_ihave_ids);
}

// ---- neighbours -------------------------------------------------------------

void Plumtree::to_eager(const std::string& peer) {
    if (!is_neighbour(peer)) return;
    lazy_.erase(peer);
    eager_.insert(peer);
}

void Plumtree::to_lazy(const std::string& peer) {
    if (!is_neighbour(peer)) return;
    eager_.erase(peer);
    lazy_.insert(peer);
}

void Plumtree::neighbour_up(const std::string& peer, std::optional<Millis> now) {
    if (peer.empty() || peer == self_ || is_neighbour(peer)) return;
    eager_.insert(peer);
    if (!now) return;
    auto& queue = ihave_queue_[peer];
    for (auto it = cache_order_.rbegin(); it != cache_order_.rend() && queue.size() < params_.max_pending; ++it) {
        const auto& [id, cached] = **it;
        if (*now - cached.at > params_.catch_up_window) break;
        queue.emplace_back(id, cached.round);
        ++queued_ihaves_;
    }
    if (queue.empty()) ihave_queue_.erase(peer);
}

void Plumtree::neighbour_down(const std::string& peer, Millis now, Effects& out) {
    if (!is_neighbour(peer)) return;
    eager_.erase(peer);
    lazy_.erase(peer);
    if (auto q = ihave_queue_.find(peer); q != ihave_queue_.end()) {
        queued_ihaves_ -= q->second.size();
        ihave_queue_.erase(q);
    }
    for (auto it = missing_.begin(); it != missing_.end();) {
        Missing& m = it->second;
        auto gone = std::remove_if(m.announcers.begin(), m.announcers.end(),
                                   [&](const Announcer& a) { return a.peer == peer; });
        pending_count_ -= static_cast<size_t>(std::distance(gone, m.announcers.end()));
        m.announcers.erase(gone, m.announcers.end());
        if (m.grafted == peer) {
            // Its GRAFT will not be answered: on to the next announcer now,
            // not at the retry.
            m.grafted.clear();
            if (!m.announcers.empty()) graft_next(it->first, m, now, out);
        }
        // Nobody left to ask and no GRAFT outstanding: the message is lost.
        if (m.announcers.empty() && m.grafted.empty())
            it = missing_.erase(it);
        else
            ++it;
    }
}

// ---- messages ---------------------------------------------------------------

void Plumtree::broadcast(const MessageId& id, Payload payload, Millis now, Effects& out) {
    // Only the id itself: this node's own numbering is the truth for its
    // ids, whatever floor peers' copies of them have raised here.
    if (has_seen(id)) return;
    ++counters_.broadcasts;
    accept(id, payload, std::string(), 0, 0, now, out);
}

void Plumtree::on_message(const std::string& from, const Message& m, Millis now, Effects& out) {
    if (const auto* g = std::get_if<Gossip>(&m))
        on_gossip(from, *g, now, out);
    else if (const auto* ih = std::get_if<IHave>(&m))
        on_ihave(from, *ih, now);
    else if (const auto* gr = std::get_if<Graft>(&m))
        on_graft(from, *gr, out);
    else
        to_lazy(from);  // PRUNE: it has this tree's messages from elsewhere
}

void Plumtree::on_gossip(const std::string& from, const Gossip& g, Millis now, Effects& out) {
    const bool neighbour = is_neighbour(from);
    if (known(g.id)) {
        // A second path to us: keep it for announcements only, both ends.
        ++(has_seen(g.id) ? counters_.duplicates : counters_.stale);
        if (neighbour) {
            to_lazy(from);
            out.sends.emplace_back(from, Prune{});
            ++counters_.prune_sent;
        }
        return;
    }
    // The first copy came this way: the link is part of the tree.
    if (neighbour) to_eager(from);
    accept(g.id, g.payload, from, g.round, uint32_t{g.round} + 1, now, out);
}

void Plumtree::on_ihave(const std::string& from, const IHave& ih, Millis now) {
    if (!is_neighbour(from)) return;
    for (const auto& [id, round] : ih.ids) {
        if (known(id)) continue;
        if (pending_count_ >= params_.max_pending) break;
        auto it = missing_.find(id);
        if (it == missing_.end()) {
            // Entries whose announcers were all GRAFTed linger until their
            // retry: they count against the bound too.
            if (missing_.size() >= params_.max_pending) break;
            it = missing_.emplace(id, Missing{{}, {}, now + params_.graft_timeout}).first;
        } else if (std::any_of(it->second.announcers.begin(), it->second.announcers.end(),
                               [&](const Announcer& a) { return a.peer == from; })) {
            continue;
        }
        it->second.announcers.push_back(Announcer{from, round});
        ++pending_count_;
    }
}

void Plumtree::on_graft(const std::string& from, const Graft& g, Effects& out) {
    if (!is_neighbour(from)) return;
    // It missed a message on its eager links: the tree goes through us now.
    to_eager(from);
    auto it = cache_.find(g.id);
    if (it == cache_.end()) {
        ++counters_.graft_unanswerable;
        return;
    }
    out.sends.emplace_back(from, Gossip{g.id, it->second.round, it->second.payload});
    ++counters_.gossip_sent;
}

void Plumtree::accept(const MessageId& id, const Payload& payload, const std::string& from, uint16_t round,
                      uint32_t push_round, Millis now, Effects& out) {
    remember(id, now);
    forget_missing(id);
    out.deliveries.push_back(Delivery{id, payload, from, round});
    ++counters_.delivered;
    const auto wire_round = static_cast<uint16_t>(std::min<uint32_t>(push_round, UINT16_MAX));
    cache(id, payload, wire_round, now);
    if (push_round > params_.max_round) return;
    for (const auto& peer : eager_) {
        if (peer == from) continue;
        out.sends.emplace_back(peer, Gossip{id, wire_round, payload});
        ++counters_.gossip_sent;
    }
    for (const auto& peer : lazy_) {
        if (peer == from) continue;
        auto& queue = ihave_queue_[peer];
        if (queue.size() >= params_.max_pending) continue;  // a caller that does not tick
        queue.emplace_back(id, wire_round);
        ++queued_ihaves_;
    }
}

// ---- timers -----------------------------------------------------------------

void Plumtree::graft_next(const MessageId& id, Missing& m, Millis now, Effects& out) {
    Announcer a = std::move(m.announcers.front());
    m.announcers.pop_front();
    --pending_count_;
    // The tree was broken on the way here: repair it through the announcer.
    to_eager(a.peer);
    out.sends.emplace_back(a.peer, Graft{id, a.round});
    ++counters_.graft_sent;
    m.grafted = std::move(a.peer);
    m.due = now + params_.graft_retry;
}

void Plumtree::tick(Millis now, Effects& out) {
    expire(now);
    // In id order, so the GRAFTs come out the same for the same events.
    for (auto it = missing_.begin(); it != missing_.end();) {
        Missing& m = it->second;
        if (m.due > now) {
            ++it;
        } else if (m.announcers.empty()) {
            it = missing_.erase(it);  // the last GRAFT went unanswered too
        } else {
            graft_next(it->first, m, now, out);
            ++it;
        }
    }
    if (!last_flush_ || now - *last_flush_ >= params_.lazy_interval) {
        flush_ihaves(out);
        last_flush_ = now;
    }
}

std::optional<Millis> Plumtree::next_due(Millis now) const {
    std::optional<Millis> due;
    auto earliest = [&](Millis t) { due = due ? std::min(*due, t) : t; };
    // GRAFT timers: polled every graft_retry rather than searched for.
    if (!missing_.empty()) earliest(now + std::min(params_.graft_retry, params_.lazy_interval));
    if (queued_ihaves_ > 0) earliest(last_flush_ ? *last_flush_ + params_.lazy_interval : now);
    if (!seen_order_.empty()) earliest(seen_order_.front()->second + params_.seen_ttl);
    if (!cache_order_.empty()) earliest(cache_order_.front()->second.at + params_.cache_ttl);
    return due;
}

void Plumtree::flush_ihaves(Effects& out) {
    const size_t batch = params_.max_ihave_batch;
    for (auto& [peer, ids] : ihave_queue_) {
        for (size_t i = 0; i < ids.size(); i += batch) {
            auto first = ids.begin() + static_cast<std::ptrdiff_t>(i);
            auto last = ids.begin() + static_cast<std::ptrdiff_t>(std::min(i + batch, ids.size()));
            IHave ih;
            ih.ids.assign(std::make_move_iterator(first), std::make_move_iterator(last));
            out.sends.emplace_back(peer, std::move(ih));
            ++counters_.ihave_sent;
        }
    }
    ihave_queue_.clear();
    queued_ihaves_ = 0;
}

// ---- memory -----------------------------------------------------------------

void Plumtree::remember(const MessageId& id, Millis now) {
    if (params_.max_seen == 0) return;
    while (seen_.size() >= params_.max_seen) forget_oldest_seen();
    seen_order_.push_back(seen_.emplace(id, now).first);
}

void Plumtree::forget_oldest_seen() {
    raise_floor(seen_order_.front()->first, seen_order_.front()->second);
    seen_.erase(seen_order_.front());
    seen_order_.pop_front();
}

bool Plumtree::is_stale(const MessageId& id) const {
    auto it = forgotten_.find(id.origin);
    return it != forgotten_.end() && id.seq <= it->second.seq;
}

void Plumtree::raise_floor(const MessageId& forgotten, Millis at) {
    if (params_.max_origins == 0) return;
    auto it = forgotten_.find(forgotten.origin);
    if (it != forgotten_.end()) {
        it->second = Floor{std::max(it->second.seq, forgotten.seq), at};
        return;
    }
    if (forgotten_.size() >= params_.max_origins) {
        // Only a cluster of more origins than this (or a peer inventing
        // them) gets here; scanning is cheaper than keeping an order.
        auto oldest = std::min_element(forgotten_.begin(), forgotten_.end(),
                                       [](const auto& a, const auto& b) { return a.second.at < b.second.at; });
        forgotten_.erase(oldest);
    }
    forgotten_.emplace(forgotten.origin, Floor{forgotten.seq, at});
}

void Plumtree::cache(const MessageId& id, const Payload& payload, uint16_t round, Millis now) {
    const size_t size = size_of(payload);
    if (size > params_.max_cached_bytes || params_.max_seen == 0 || cache_.count(id)) return;
    while (!cache_order_.empty() &&
           (cached_bytes_ + size > params_.max_cached_bytes || cache_.size() >= params_.max_seen))
        drop_oldest_cached();
    cache_order_.push_back(cache_.emplace(id, Cached{payload, round, now}).first);
    cached_bytes_ += size;
}

void Plumtree::drop_oldest_cached() {
    cached_bytes_ -= size_of(cache_order_.front()->second.payload);
    cache_.erase(cache_order_.front());
    cache_order_.pop_front();
}

void Plumtree::forget_missing(const MessageId& id) {
    auto it = missing_.find(id);
    if (it == missing_.end()) return;
    pending_count_ -= it->second.announcers.size();
    missing_.erase(it);
}

void Plumtree::expire(Millis now) {
    while (!seen_order_.empty() && now - seen_order_.front()->second >= params_.seen_ttl) forget_oldest_seen();
    while (!cache_order_.empty() && now - cache_order_.front()->second.at >= params_.cache_ttl)
        drop_oldest_cached();
}

}  // namespace partisan::plumtree
