// A message through its real frame codec, as a link carries it: appended
// the way the sender writes it, parsed the way the receiver reads it, and
// appended again to check the encoding is canonical. The simulator uses it
// (SimConfig::wire_round_trip) to run the codecs on every message of a run.
#pragma once

#include "partisan/broadcast/plumtree.hpp"
#include "partisan/overlay/peer_to_peer/hyparview.hpp"

#include <cstddef>
#include <optional>

namespace partisan::sim {

// The message as the receiver parses it, or nothing when the frame does not
// parse back or re-encodes to other bytes. `bytes` gets the frame's size.
std::optional<hyparview::Message> wire_round_trip(const hyparview::Message& m, size_t& bytes);
std::optional<plumtree::Message> wire_round_trip(const plumtree::Message& m, size_t max_payload, size_t& bytes);

}  // namespace partisan::sim
