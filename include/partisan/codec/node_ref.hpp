// A node as peer frames name it: its name and the addresses it is reached
// on, so that whoever hears of it can dial it (HyParView views, shuffles).
#pragma once

#include "partisan/codec/byte_reader.hpp"
#include "partisan/overlay/membership.hpp"

#include <string>
#include <vector>

namespace partisan {

// At most this many addresses per node on the wire.
constexpr size_t max_node_addresses = 16;

struct NodeRef {
    std::string name;
    std::vector<Address> addrs;
    bool operator==(const NodeRef&) const = default;
};

// [u8 name length][name][u8 count]{[u8 ip length][ip][u16 port]}*
void append_node_ref(ByteBuffer& out, const NodeRef& node);
// False (and `r` failed) unless the name is a valid node name, the count at
// most max_node_addresses, each ip a valid IPv4/IPv6 literal and each port
// not 0.
bool read_node_ref(ByteReader& r, NodeRef& node);

}  // namespace partisan
