// Where to send a message for a node that is not an active neighbour. Every
// peer-to-peer node broadcasts its presence now and then (announce.hpp);
// Plumtree delivers each announcement once, first along the broadcast tree,
// so the neighbour it came from is the next hop back towards its origin
// (reverse-path routing over the tree). A route is replaced by each newer
// announcement, dropped when its neighbour leaves the active view, and
// forgotten when no announcement renewed it for `ttl`.
#pragma once

#include "partisan/codec/node_ref.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace partisan {

class RouteTable {
public:
    using Millis = std::chrono::milliseconds;
    RouteTable(Millis ttl, size_t max_routes) : ttl_(ttl), max_routes_(max_routes) {}

    // `origin` announced itself; heard first from neighbour `via`. True if
    // no route to it was known (the set of reachable nodes grew).
    bool learn(const NodeRef& origin, const std::string& via, uint16_t hops, Millis now);
    // The neighbour `via` is gone: its routes with it.
    void drop_via(const std::string& via);
    void forget(const std::string& dest) { routes_.erase(dest); }
    // True if a route was forgotten.
    bool expire(Millis now);

    std::optional<std::string> next_hop(const std::string& dest) const;
    // The nodes a route is known to, in name order.
    std::vector<std::string> destinations() const;
    // Those with their addresses (for a rejoin after a restart).
    std::vector<NodeRef> known() const;
    size_t size() const { return routes_.size(); }

private:
    struct Route {
        std::vector<Address> addrs;
        std::string via;
        uint16_t hops = 0;
        Millis heard{0};
    };
    Millis ttl_;
    size_t max_routes_;
    std::map<std::string, Route> routes_;
};

}  // namespace partisan
