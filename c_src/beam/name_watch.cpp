#include "partisan/beam/name_watch.hpp"

#include "partisan/transport/tcp/peer_connection.hpp"

#include <algorithm>

namespace partisan {

void NameWatch::undeliverable(LinkStats* stats, uint64_t count) {
    if (!stats) return;
    stats->messages_received -= std::min(stats->messages_received, count);
    stats->undeliverable += count;
}

bool NameWatch::make_room() {
    // Forget a name not being asked about; if every one is, track no more.
    auto it = std::find_if(names_.begin(), names_.end(), [](const auto& kv) { return !kv.second.asking; });
    if (it == names_.end()) return false;
    names_.erase(it);
    return true;
}

std::optional<uint64_t> NameWatch::delivered(std::string_view name, LinkStats* from, Clock::time_point now) {
    auto it = names_.find(std::string(name));
    if (it == names_.end()) {
        if (names_.size() >= max_names_ && !make_room()) return std::nullopt;
        it = names_.emplace(std::string(name), Name{}).first;
        it->second.checked = now - recheck_ - recheck_;  // never checked
    }
    Name& n = it->second;
    if (!n.asking && now - n.checked < recheck_) {
        if (!n.registered) undeliverable(from, 1);
        return std::nullopt;
    }
    auto w = std::find_if(n.waiting.begin(), n.waiting.end(), [&](const auto& e) { return e.first == from; });
    if (w != n.waiting.end())
        ++w->second;
    else
        n.waiting.emplace_back(from, 1);
    if (n.asking) return std::nullopt;
    n.asking = true;
    n.question = next_id_++;
    asking_[n.question] = it->first;
    return n.question;
}

NameWatch::Settled NameWatch::answered(uint64_t id, bool registered, Clock::time_point now) {
    auto q = asking_.find(id);
    if (q == asking_.end()) return {};
    Settled s{q->second, 0};
    asking_.erase(q);
    auto it = names_.find(s.name);
    if (it == names_.end() || !it->second.asking || it->second.question != id) return s;
    Name& n = it->second;
    n.asking = false;
    n.registered = registered;
    n.checked = now;
    if (!registered)
        for (auto& [stats, count] : n.waiting) {
            undeliverable(stats, count);
            s.undeliverable += count;
        }
    n.waiting.clear();
    return s;
}

}  // namespace partisan
