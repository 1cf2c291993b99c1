// HyParView messages on the wire, in a HYPARVIEW peer frame
// (peer_frames.hpp): [u8 frame_hyparview][u8 kind][fields]. Nodes are
// NodeRefs (node_ref.hpp), samples [u8 count][NodeRef]* with at most
// max_shuffle_sample entries, flags one byte 0 or 1, ttl u8, id u32. The
// encoding is canonical: a frame that parses re-encodes to the same bytes.
// Pure: no sockets, fuzzed (test/fuzz/fuzz_hyparview.cpp).
#pragma once

#include "partisan/codec/wire.hpp"
#include "partisan/overlay/peer_to_peer/hyparview.hpp"

#include <cstddef>
#include <cstdint>

namespace partisan {

// The kind byte, one per message type.
enum class HyParViewKind : uint8_t {
    join = 1,
    forward_join = 2,
    neighbor = 3,
    neighbor_reply = 4,
    disconnect = 5,
    shuffle = 6,
    shuffle_reply = 7,
};

// Appends the frame with its 4-byte length before it, ready for a link like
// the other append_*_frame. A sample longer than max_shuffle_sample is cut.
void append_hyparview_frame(ByteBuffer& out, const hyparview::Message& m);

// `body` is the frame after its length: body[0] is the type byte. False on
// anything malformed (wrong type, unknown kind, truncated, trailing bytes,
// invalid node names or addresses, flags other than 0 or 1, samples over
// max_shuffle_sample).
bool parse_hyparview_frame(const uint8_t* body, size_t len, hyparview::Message& out);

}  // namespace partisan
