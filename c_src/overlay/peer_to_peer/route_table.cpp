#include "partisan/overlay/peer_to_peer/route_table.hpp"

#include <algorithm>

namespace partisan {

bool RouteTable::learn(const NodeRef& origin, const std::string& via, uint16_t hops, Millis now) {
    auto it = routes_.find(origin.name);
    const bool fresh = it == routes_.end();
    if (fresh) {
        // Bounded whatever peers announce: a full table takes no new node
        // until old routes expire.
        if (routes_.size() >= max_routes_) return false;
        it = routes_.emplace(origin.name, Route{}).first;
    }
    Route& r = it->second;
    if (r.addrs != origin.addrs) r.addrs = origin.addrs;
    if (r.via != via) r.via = via;
    r.hops = hops;
    r.heard = now;
    return fresh;
}

void RouteTable::drop_via(const std::string& via) {
    std::erase_if(routes_, [&](const auto& kv) { return kv.second.via == via; });
}

bool RouteTable::expire(Millis now) {
    return std::erase_if(routes_, [&](const auto& kv) { return now - kv.second.heard > ttl_; }) > 0;
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
