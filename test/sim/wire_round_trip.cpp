#include "wire_round_trip.hpp"

#include "partisan/broadcast/plumtree_frames.hpp"
#include "partisan/codec/wire.hpp"
#include "partisan/overlay/peer_to_peer/hyparview_frames.hpp"

#include <cstring>

namespace partisan::sim {

namespace {

// The frame's body (after its 4-byte length) when the length is right.
bool body_of(const ByteBuffer& frame, const uint8_t*& body, size_t& len) {
    if (frame.size() < 4 || load_u32(frame.data()) != frame.size() - 4) return false;
    body = frame.data() + 4;
    len = frame.size() - 4;
    return true;
}

bool same_bytes(const ByteBuffer& a, const ByteBuffer& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::optional<hyparview::Message> wire_round_trip(const hyparview::Message& m, size_t& bytes) {
    ByteBuffer frame;
    append_hyparview_frame(frame, m);
    bytes = frame.size();
    const uint8_t* body;
    size_t len;
    hyparview::Message parsed;
    if (!body_of(frame, body, len) || !parse_hyparview_frame(body, len, parsed)) return std::nullopt;
    ByteBuffer again;
    append_hyparview_frame(again, parsed);
    if (!same_bytes(frame, again)) return std::nullopt;
    return parsed;
}

std::optional<plumtree::Message> wire_round_trip(const plumtree::Message& m, size_t max_payload, size_t& bytes) {
    ByteBuffer frame;
    append_plumtree_frame(frame, m);
    bytes = frame.size();
    const uint8_t* body;
    size_t len;
    plumtree::Message parsed;
    if (!body_of(frame, body, len) || !parse_plumtree_frame(body, len, max_payload, parsed)) return std::nullopt;
    ByteBuffer again;
    append_plumtree_frame(again, parsed);
    if (!same_bytes(frame, again)) return std::nullopt;
    return parsed;
}

}  // namespace partisan::sim
