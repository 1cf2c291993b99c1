#include "partisan/name_watch.hpp"

#include "partisan/peer_connection.hpp"

#include <algorithm>

namespace partisan {

std::optional<uint64_t> NameWatch::delivered(std::string_view name, LinkStats* from) {
    auto it = names_.find(std::string(name));
    if (it == names_.end()) {
        if (names_.size() >= max_names_) {
            // Full: make room by forgetting a name known to be absent (it
            // holds no monitor); else this name goes untracked.
            auto absent = std::find_if(names_.begin(), names_.end(),
                                       [](const auto& kv) { return kv.second.state == State::absent; });
            if (absent == names_.end()) return std::nullopt;
            forget(absent->first);
        }
        it = names_.emplace(std::string(name), Name{}).first;
        it->second.state = State::absent;
    }
    Name& n = it->second;
    if (n.state == State::registered) return std::nullopt;
    auto p = std::find_if(n.pending.begin(), n.pending.end(), [&](const auto& e) { return e.first == from; });
    if (p != n.pending.end())
        ++p->second;
    else
        n.pending.emplace_back(from, 1);
    if (n.state == State::probing) return std::nullopt;
    // New, or absent when last asked: ask (again).
    by_probe_.erase(n.probe);
    n.state = State::probing;
    n.probe = next_id_++;
    by_probe_[n.probe] = it->first;
    return n.probe;
}

uint64_t NameWatch::settle(Name& n, bool undeliverable) {
    uint64_t total = 0;
    for (auto& [stats, count] : n.pending) {
        total += count;
        if (undeliverable && stats) {
            stats->messages_received -= std::min(stats->messages_received, count);
            stats->undeliverable += count;
        }
    }
    n.pending.clear();
    return total;
}

void NameWatch::forget(const std::string& name) {
    auto it = names_.find(name);
    if (it == names_.end()) return;
    by_probe_.erase(it->second.probe);
    names_.erase(it);
}

NameWatch::Settled NameWatch::unregistered(uint64_t id) {
    auto p = by_probe_.find(id);
    if (p == by_probe_.end()) return {};
    std::string name = p->second;
    Name& n = names_.at(name);
    if (n.state == State::registered) {  // its process exited, with reason noproc
        forget(name);
        return {name, 0};
    }
    if (n.state != State::probing) return {name, 0};
    n.state = State::absent;
    return {name, settle(n, true)};
}

NameWatch::Settled NameWatch::registered(uint64_t id) {
    auto p = by_probe_.find(id);
    if (p == by_probe_.end()) return {};
    Name& n = names_.at(p->second);
    if (n.state != State::probing) return {p->second, 0};  // a noproc came first
    n.state = State::registered;
    return {p->second, settle(n, false)};
}

void NameWatch::exited(uint64_t id) {
    auto p = by_probe_.find(id);
    if (p != by_probe_.end() && names_.at(p->second).state == State::registered) forget(p->second);
}

}  // namespace partisan
