#include "partisan/overlay/peer_to_peer/route_table.hpp"

#include <algorithm>

namespace partisan {

void RouteTable::learn(const NodeRef& origin, const std::string& via, uint16_t hops, Millis now) {
    auto it = routes_.find(origin.name);
    if (it == routes_.end()) {
        // Bounded whatever peers announce: a full table takes no new node
        // until old routes expire.
        if (routes_.size() >= max_routes_) return;
        it = routes_.emplace(origin.name, Route{}).first;
    }
    it->second = Route{origin.addrs, via, hops, now};
}

void RouteTable::drop_via(const std::string& via) {
    std::erase_if(routes_, [&](const auto& kv) { return kv.second.via == via; });
}

void RouteTable::expire(Millis now) {
    std::erase_if(routes_, [&](const auto& kv) { return now - kv.second.heard > ttl_; });
}

std::optional<std::string> RouteTable::next_hop(const std::string& dest) const {
    auto it = routes_.find(dest);
    if (it == routes_.end()) return std::nullopt;
    return it->second.via;
}

std::vector<std::string> RouteTable::destinations() const {
    std::vector<std::string> out;
    out.reserve(routes_.size());
    for (const auto& [name, r] : routes_) out.push_back(name);
    return out;
}

std::vector<NodeRef> RouteTable::known() const {
    std::vector<NodeRef> out;
    out.reserve(routes_.size());
    for (const auto& [name, r] : routes_) out.push_back(NodeRef{name, r.addrs});
    return out;
}

}  // namespace partisan
