#include "partisan/control/control_args.hpp"

#include "partisan/core/names.hpp"

#include <asio/ip/address.hpp>

namespace partisan {

namespace {

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

bool read_node(etf::Reader& r, std::string& out) {
    std::string_view name;
    if (!r.atom(name) || !valid_node_name(name)) return false;
    out = name;
    return true;
}

// A proper list of min..max elements, each read by `item`.
template <typename Item>
bool read_list(etf::Reader& r, uint32_t min, uint32_t max, Item&& item) {
    uint32_t n = 0;
    if (!r.list_header(n) || n < min || n > max) return false;
    for (uint32_t i = 0; i < n; ++i)
        if (!item()) return false;
    return n == 0 || r.nil();
}

}  // namespace

bool arg_node(etf::Reader r, std::string& out) { return read_node(r, out) && r.at_end(); }

bool arg_nodes(etf::Reader r, uint32_t min, uint32_t max, std::vector<std::string>& out) {
    return read_list(r, min, max, [&] {
               std::string n;
               if (!read_node(r, n)) return false;
               out.push_back(std::move(n));
               return true;
           }) &&
           r.at_end();
}

bool arg_addresses(etf::Reader r, uint32_t min, uint32_t max, std::vector<Address>& out) {
    return read_list(r, min, max, [&] {
               Address a;
               if (!read_address(r, a)) return false;
               out.push_back(std::move(a));
               return true;
           }) &&
           r.at_end();
}

bool arg_atom(etf::Reader r, std::string_view& out) { return r.atom(out) && r.at_end(); }

bool arg_uint(etf::Reader r, uint64_t& out) { return r.uint(out) && r.at_end(); }

bool arg_term(etf::Reader r, Bytes& out) {
    const uint8_t* start = r.here();
    if (!r.skip() || !r.at_end()) return false;
    out = Bytes{start, static_cast<size_t>(r.here() - start)};
    return true;
}

bool arg_server_ref(etf::Reader r, Bytes& out) {
    return arg_term(r, out) && (etf::is_atom(out.data, out.size) || etf::is_pid(out.data, out.size));
}

}  // namespace partisan
