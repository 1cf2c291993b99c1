// What the C-node tells its shim unasked (docs/SHIM_INTERFACE.md), sent to
// the registered `partisan_cnode` over the control BEAM link: that it is
// ready, nodes up and down, the member lists, the contacts to rejoin.
#pragma once

#include "partisan/beam/beam_link.hpp"
#include "partisan/overlay/membership.hpp"

#include <string>
#include <utility>
#include <vector>

namespace partisan {

class ShimEvents {
public:
    // {'$partisan_ready', [{Ip, Port}], [{Channel, LinkNode}]}
    static void ready(BeamLink& beam, const std::vector<Address>& addrs,
                      const std::vector<std::pair<std::string, std::string>>& channel_links);
    // {'$partisan_nodeup', Node} / {'$partisan_nodedown', Node}
    static void node_up(BeamLink& beam, const std::string& node);
    static void node_down(BeamLink& beam, const std::string& node);
    // {'$partisan_members', Members, Reachable}
    static void members(BeamLink& beam, const std::vector<std::string>& members,
                        const std::vector<std::string>& reachable);
    // {'$partisan_contacts', [{Node, [{Ip, Port}]}]}
    static void contacts(BeamLink& beam, const std::vector<std::pair<std::string, std::vector<Address>>>& contacts);
};

}  // namespace partisan
