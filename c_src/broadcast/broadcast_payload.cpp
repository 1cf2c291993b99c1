#include "partisan/broadcast/broadcast_payload.hpp"

#include "partisan/codec/peer_frames.hpp"
#include "partisan/core/names.hpp"

namespace partisan {

std::string make_user_broadcast(std::string_view channel, Bytes ref, Bytes message) {
    ByteBuffer b;
    b.put_u8(static_cast<uint8_t>(BroadcastKind::user));
    put_str8(b, channel);
    b.put_u16(static_cast<uint16_t>(ref.size));
    b.append(ref.data, ref.size);
    b.append(message.data, message.size);
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

std::string make_announce(const NodeRef& origin) {
    ByteBuffer b;
    b.put_u8(static_cast<uint8_t>(BroadcastKind::announce));
    append_node_ref(b, origin);
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

std::optional<BroadcastKind> broadcast_kind(std::string_view payload) {
    if (payload.empty() || static_cast<uint8_t>(payload[0]) > static_cast<uint8_t>(BroadcastKind::announce))
        return std::nullopt;
    return static_cast<BroadcastKind>(payload[0]);
}

bool parse_user_broadcast(std::string_view payload, std::string_view decoder, UserBroadcast& out) {
    const auto* p = reinterpret_cast<const uint8_t*>(payload.data());
    ByteReader r(p, payload.size());
    if (r.u8() != static_cast<uint8_t>(BroadcastKind::user)) return false;
    out.channel = r.bytes(r.u8());
    if (!r.ok() || !valid_channel_name(out.channel)) return false;
    size_t at = payload.size() - r.left();
    // The rest is laid out as a MESSAGE frame's body.
    return parse_addressed(p + at, r.left(), decoder, out.ref, out.message);
}

bool parse_announce(std::string_view payload, NodeRef& out) {
    ByteReader r(reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
    if (r.u8() != static_cast<uint8_t>(BroadcastKind::announce)) return false;
    return read_node_ref(r, out) && r.done();
}

}  // namespace partisan
