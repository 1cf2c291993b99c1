// What a node name and a channel name may be, checked wherever one arrives
// from outside (a handshake, gossip, the command line).
#pragma once

#include <string>
#include <string_view>

namespace partisan {

// `alive@host`: printable ASCII without spaces, exactly one '@' with
// something on each side, at most 255 bytes (what the BEAM accepts as a
// node name and what fits the wire's one-byte length).
bool valid_node_name(std::string_view name);

// 1..255 bytes, no ':' (the command line's separator) and no control bytes.
bool valid_channel_name(std::string_view name);

// An IPv4 or IPv6 literal (no host names: peers are dialed as they say).
bool valid_ip_address(const std::string& ip);

}  // namespace partisan
