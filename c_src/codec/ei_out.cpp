#include "partisan/codec/ei_out.hpp"

#include "partisan/core/config.hpp"

#include <asio/ip/address.hpp>

#include <algorithm>

namespace partisan {

void encode_atom(ei_x_buff& x, std::string_view s) {
    ei_x_encode_atom_len(&x, s.data(), static_cast<int>(s.size()));
}

void encode_ip(ei_x_buff& x, const std::string& ip) {
    asio::error_code ec;
    auto addr = asio::ip::make_address(ip, ec);
    if (!ec && addr.is_v4()) {
        auto b = addr.to_v4().to_bytes();
        ei_x_encode_tuple_header(&x, 4);
        for (auto v : b) ei_x_encode_long(&x, v);
    } else if (!ec) {
        auto b = addr.to_v6().to_bytes();
        ei_x_encode_tuple_header(&x, 8);
        for (size_t i = 0; i < 16; i += 2) ei_x_encode_long(&x, (b[i] << 8) | b[i + 1]);
    } else {
        ei_x_encode_string(&x, ip.c_str());
    }
}

void encode_addresses(ei_x_buff& x, const std::vector<Address>& addrs) {
    ei_x_encode_list_header(&x, static_cast<long>(addrs.size()));
    for (const auto& a : addrs) {
        ei_x_encode_tuple_header(&x, 2);
        encode_ip(x, a.ip);
        ei_x_encode_long(&x, a.port);
    }
    end_list(x, addrs.size());
}

void encode_atoms(ei_x_buff& x, const std::vector<std::string>& names) {
    ei_x_encode_list_header(&x, static_cast<long>(names.size()));
    for (const auto& n : names) encode_atom(x, n);
    end_list(x, names.size());
}

void encode_channels(ei_x_buff& x, const std::string& spec) {
    std::vector<ChannelConfig> chs;
    size_t start = 0;
    while (start <= spec.size()) {
        size_t end = std::min(spec.find(',', start), spec.size());
        auto ch = parse_channel(spec.substr(start, end - start), 1);
        // A map with a key twice would make the BEAM drop this link.
        if (ch && std::none_of(chs.begin(), chs.end(), [&](auto& c) { return c.name == ch->name; }))
            chs.push_back(*ch);
        start = end + 1;
    }
    ei_x_encode_map_header(&x, static_cast<long>(chs.size()));
    for (const auto& ch : chs) {
        encode_atom(x, ch.name);
        ei_x_encode_map_header(&x, 2);
        ei_x_encode_atom(&x, "parallelism");
        ei_x_encode_ulong(&x, ch.parallelism);
        ei_x_encode_atom(&x, "monotonic");
        ei_x_encode_atom(&x, ch.monotonic ? "true" : "false");
    }
}

}  // namespace partisan
