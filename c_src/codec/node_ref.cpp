#include "partisan/codec/node_ref.hpp"

#include "partisan/core/names.hpp"

namespace partisan {

void append_node_ref(ByteBuffer& out, const NodeRef& node) {
    put_str8(out, node.name);
    size_t n = std::min(node.addrs.size(), max_node_addresses);
    out.put_u8(static_cast<uint8_t>(n));
    for (size_t i = 0; i < n; ++i) {
        put_str8(out, node.addrs[i].ip);
        out.put_u16(node.addrs[i].port);
    }
}

bool read_node_ref(ByteReader& r, NodeRef& node) {
    node.name = r.str8();
    if (!r.ok() || !valid_node_name(node.name)) {
        r.fail();
        return false;
    }
    size_t n = r.u8();
    if (n > max_node_addresses) r.fail();
    node.addrs.clear();
    for (size_t i = 0; i < n && r.ok(); ++i) {
        Address a;
        a.ip = r.str8();
        a.port = r.u16();
        if (!r.ok() || a.port == 0 || !valid_ip_address(a.ip)) r.fail();
        node.addrs.push_back(std::move(a));
    }
    return r.ok();
}

}  // namespace partisan
