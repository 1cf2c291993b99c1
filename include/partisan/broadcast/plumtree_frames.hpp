// Plumtree's messages on a peer link (docs/PROTOCOL.md framing):
//
//     [u32 length][u8 frame_plumtree][u8 kind][fields]
//
// A message id is [u8 origin length][origin][u64 seq]; rounds are u16.
//     GOSSIP  id, round, [u32 length][payload]   (the payload last)
//     IHAVE   [u16 count]{id, round}*            (count 1..max_ihave_ids)
//     GRAFT   id, round
//     PRUNE   nothing
// Canonical: a frame that parses is appended back byte for byte. Pure: no
// sockets, fuzzed (test/fuzz/fuzz_plumtree.cpp).
#pragma once

#include "partisan/broadcast/plumtree.hpp"
#include "partisan/codec/wire.hpp"

#include <cstddef>
#include <cstdint>

namespace partisan {

enum class PlumtreeKind : uint8_t { gossip = 1, ihave = 2, graft = 3, prune = 4 };

// The whole frame, its length first. An IHAVE's ids past max_ihave_ids and
// an origin's bytes past 255 are cut (the state machine makes neither).
void append_plumtree_frame(ByteBuffer& out, const plumtree::Message& m);

// `body` is a frame after its length, from its type byte on. False on
// anything malformed: another type, an unknown kind, too few or too many
// bytes, an origin that is not a valid node name, a payload over
// `max_payload`, an IHAVE of no ids or more than max_ihave_ids.
bool parse_plumtree_frame(const uint8_t* body, size_t len, size_t max_payload, plumtree::Message& out);

}  // namespace partisan
