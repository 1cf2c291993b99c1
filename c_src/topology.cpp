#include "partisan/topology.hpp"

#include <algorithm>

namespace partisan {

bool StaticTopology::admits(const std::string& peer) const {
    return std::any_of(peers_.begin(), peers_.end(), [&](const StaticPeer& p) { return p.name == peer; });
}

std::unique_ptr<Topology> make_topology(const Config& config) {
    if (config.topology == "static") return std::make_unique<StaticTopology>(config.static_peers);
    if (config.topology == "client_server") return std::make_unique<ClientServerTopology>();
    return std::make_unique<FullMeshTopology>();
}

}  // namespace partisan
