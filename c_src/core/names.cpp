#include "partisan/core/names.hpp"

#include <arpa/inet.h>

#include <algorithm>

namespace partisan {

bool valid_node_name(std::string_view name) {
    if (name.size() < 3 || name.size() > 255) return false;
    auto at = name.find('@');
    if (at == 0 || at == std::string_view::npos || at + 1 == name.size()) return false;
    if (name.find('@', at + 1) != std::string_view::npos) return false;
    return std::all_of(name.begin(), name.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

bool valid_channel_name(std::string_view name) {
    if (name.empty() || name.size() > 255) return false;
    return std::none_of(name.begin(), name.end(),
                        [](char c) { return c == ':' || static_cast<unsigned char>(c) < 0x20; });
}

bool valid_ip_address(const std::string& ip) {
    in6_addr buf{};
    return inet_pton(AF_INET, ip.c_str(), &buf) == 1 || inet_pton(AF_INET6, ip.c_str(), &buf) == 1;
}

}  // namespace partisan
