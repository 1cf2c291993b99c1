// What a broadcast carries inside Plumtree's opaque payload (docs/PROTOCOL.md):
//   user message:  [0][u8 channel length][channel][u16 ref length][ref][message]
//   announcement:  [1][NodeRef of the origin]   (peer-to-peer routes)
// Pure: built and checked here, fuzzed with the Plumtree frames.
#pragma once

#include "partisan/codec/node_ref.hpp"
#include "partisan/codec/wire.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace partisan {

enum class BroadcastKind : uint8_t { user = 0, announce = 1 };

struct UserBroadcast {
    std::string_view channel;
    Bytes ref, message;
};

std::string make_user_broadcast(std::string_view channel, Bytes ref, Bytes message);
std::string make_announce(const NodeRef& origin);

// The kind, or nothing when the first byte names none.
std::optional<BroadcastKind> broadcast_kind(std::string_view payload);
// A user broadcast whose ref (pid or atom) and message the BEAM of node
// `decoder` will decode; its channel a valid channel name.
bool parse_user_broadcast(std::string_view payload, std::string_view decoder, UserBroadcast& out);
bool parse_announce(std::string_view payload, NodeRef& out);

}  // namespace partisan
