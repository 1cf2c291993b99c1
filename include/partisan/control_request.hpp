// The control calls the shim makes (docs/SHIM_INTERFACE.md), taken from
// the Request of a `{'$call', From, Ref, Request}` into a plain value.
// Pure: fuzzed on arbitrary terms.
#pragma once

#include "partisan/etf.hpp"
#include "partisan/membership.hpp"

#include <string>
#include <vector>

namespace partisan {

struct ControlRequest {
    enum class Op {
        bad,          // anything not below
        members,      // members
        stats,        // stats
        unreachable,  // unreachable
        leave,        // leave: this node leaves
        remove,       // {leave, Node}
        join,         // {join, Node, [{Ip, Port}]}
        heal,         // {fault, heal}
        partition,    // {fault, partition, [Node]}
        close_link,   // {fault, close_link, Node, Channel, Index}
    };
    Op op = Op::bad;
    std::string node;                // remove, join, close_link
    std::vector<Address> addrs;      // join: 1 to 16
    std::vector<std::string> nodes;  // partition
    std::string channel;             // close_link
    uint64_t index = 0;              // close_link
};

ControlRequest parse_control_request(etf::Reader r);

}  // namespace partisan
