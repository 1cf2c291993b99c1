#include "partisan/control_request.hpp"

#include "partisan/names.hpp"

#include <asio/ip/address.hpp>

namespace partisan {

namespace {

constexpr uint32_t max_join_addresses = 16;
constexpr uint32_t max_partition_nodes = 4096;

// {Ip, Port} with Ip a 4- or 8-tuple of integers.
bool read_address(etf::Reader& r, Address& out) {
    uint32_t arity = 0, ip_arity = 0;
    if (!r.tuple_header(arity) || arity != 2 || !r.tuple_header(ip_arity)) return false;
    if (ip_arity == 4) {
        asio::ip::address_v4::bytes_type b{};
        for (auto& v : b) {
            uint64_t n;
            if (!r.uint(n) || n > 255) return false;
            v = static_cast<uint8_t>(n);
        }
        out.ip = asio::ip::address_v4(b).to_string();
    } else if (ip_arity == 8) {
        asio::ip::address_v6::bytes_type b{};
        for (size_t i = 0; i < 16; i += 2) {
            uint64_t n;
            if (!r.uint(n) || n > 0xffff) return false;
            b[i] = static_cast<uint8_t>(n >> 8);
            b[i + 1] = static_cast<uint8_t>(n);
        }
        out.ip = asio::ip::address_v6(b).to_string();
    } else {
        return false;
    }
    uint64_t port;
    if (!r.uint(port) || port == 0 || port > 65535) return false;
    out.port = static_cast<uint16_t>(port);
    return true;
}

// A proper list of at most `max` elements, each read by `item`.
template <typename Item>
bool read_list(etf::Reader& r, uint32_t min, uint32_t max, Item&& item) {
    uint32_t n = 0;
    if (!r.list_header(n) || n < min || n > max) return false;
    for (uint32_t i = 0; i < n; ++i)
        if (!item()) return false;
    return n == 0 || r.nil();
}

bool read_node(etf::Reader& r, std::string& out) {
    std::string_view name;
    if (!r.atom(name) || !valid_node_name(name)) return false;
    out = name;
    return true;
}

ControlRequest bad() { return {}; }

}  // namespace

ControlRequest parse_control_request(etf::Reader r) {
    using Op = ControlRequest::Op;
    ControlRequest q;
    etf::Reader start = r;
    std::string_view op;
    if (r.atom(op)) {
        if (!r.at_end()) return bad();
        if (op == "members") q.op = Op::members;
        else if (op == "stats") q.op = Op::stats;
        else if (op == "unreachable") q.op = Op::unreachable;
        else if (op == "leave") q.op = Op::leave;
        return q;
    }
    r = start;
    uint32_t arity = 0;
    if (!r.tuple_header(arity) || !r.atom(op)) return bad();
    std::string_view kind;
    if (op == "leave" && arity == 2 && read_node(r, q.node)) {
        q.op = Op::remove;
    } else if (op == "join" && arity == 3 && read_node(r, q.node) &&
               read_list(r, 1, max_join_addresses, [&] {
                   Address a;
                   if (!read_address(r, a)) return false;
                   q.addrs.push_back(std::move(a));
                   return true;
               })) {
        q.op = Op::join;
    } else if (op == "fault" && arity == 2 && r.atom(kind) && kind == "heal") {
        q.op = Op::heal;
    } else if (op == "fault" && arity == 3 && r.atom(kind) && kind == "partition" &&
               read_list(r, 0, max_partition_nodes, [&] {
                   std::string n;
                   if (!read_node(r, n)) return false;
                   q.nodes.push_back(std::move(n));
                   return true;
               })) {
        q.op = Op::partition;
    } else if (op == "fault" && arity == 5 && r.atom(kind) && kind == "close_link" && read_node(r, q.node)) {
        std::string_view channel;
        if (r.atom(channel) && r.uint(q.index)) {
            q.channel = channel;
            q.op = Op::close_link;
        }
    }
    if (q.op == Op::bad || !r.at_end()) return bad();
    return q;
}

}  // namespace partisan
