// The frames two C-nodes exchange once the handshake is done
// (docs/PROTOCOL.md): their types, how the ones that carry a message are
// built, and how they are taken apart. Pure: no sockets, fuzzed.
#pragma once

#include "partisan/overlay/membership.hpp"
#include "partisan/codec/wire.hpp"

#include <string_view>

namespace partisan {

enum PeerFrame : uint8_t {
    frame_message = 1,
    frame_gossip = 2,
    frame_ping = 3,
    frame_pong = 4,
    frame_relay = 5,
    frame_hyparview = 6,  // peer-to-peer membership (hyparview_frames.hpp): [6][kind][fields]
    frame_plumtree = 7,   // broadcast (plumtree_frames.hpp): [7][kind][fields]
    frame_presence = 8,   // pubsub membership (pubsub_overlay.hpp): [8][kind], through a broker only
};

// MESSAGE: [u16 ref length][ref][payload]. With `by_reference`, the
// payload's bytes are not appended: that many follow by reference
// (OutQueue::append_shared) and only the length counts them.
void append_message_frame(ByteBuffer& out, Bytes ref, Bytes payload, size_t by_reference = 0);
// PING, PONG: the type byte alone.
void append_heartbeat_frame(ByteBuffer& out, PeerFrame type);
// GOSSIP: the sender's membership (membership.hpp encoding).
void append_gossip_frame(ByteBuffer& out, const Membership& membership);
// RELAY: [u8 hops][u8 dest length][dest][u16 ref length][ref][payload].
// `hops` (at least 1) is how many more nodes may pass it on.
void append_relay_frame(ByteBuffer& out, std::string_view dest, uint8_t hops, Bytes ref, Bytes payload);

// The tail of MESSAGE and RELAY frames, [u16 ref length][ref][payload].
// True when well formed: `ref` one pid or atom and `payload` exactly one
// term, both of which the BEAM will decode (a bad term would make it drop
// its whole link to the C-node). `decoder` is the node whose BEAM will
// decode them: pids and references naming it are held to local limits.
bool parse_addressed(const uint8_t* p, size_t n, std::string_view decoder, Bytes& ref, Bytes& payload);
// A GOSSIP frame's body after its type byte.
bool parse_gossip(const uint8_t* p, size_t n, std::vector<MemberEntry>& entries);
// A RELAY frame's body after its type byte; its terms are checked for the
// destination's BEAM.
bool parse_relay(const uint8_t* p, size_t n, std::string_view& dest, uint8_t& hops, Bytes& ref, Bytes& payload);

}  // namespace partisan
