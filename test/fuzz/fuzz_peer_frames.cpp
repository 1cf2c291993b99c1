// Frames from an authenticated peer (peer_frames.hpp): MESSAGE and RELAY
// bodies that parse must re-encode to the very same bytes.
#include "partisan/overlay/membership.hpp"
#include "partisan/codec/peer_frames.hpp"

#include <cstdlib>
#include <cstring>

using namespace partisan;

namespace {

void same_as(const ByteBuffer& frame, const uint8_t* body, size_t len) {
    if (frame.size() != len + 4 || std::memcmp(frame.data() + 4, body, len) != 0) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    Bytes ref, payload;
    std::string_view dest;
    uint8_t hops = 0;
    switch (data[0]) {
        case frame_message:
            if (parse_addressed(data + 1, size - 1, "a@host", ref, payload)) {
                ByteBuffer b;
                append_message_frame(b, ref, payload);
                same_as(b, data, size);
            }
            break;
        case frame_relay:
            if (parse_relay(data + 1, size - 1, dest, hops, ref, payload)) {
                ByteBuffer b;
                append_relay_frame(b, dest, hops, ref, payload);
                same_as(b, data, size);
            }
            break;
        case frame_gossip: {
            std::vector<MemberEntry> entries;
            (void)parse_gossip(data + 1, size - 1, entries);
            break;
        }
        default:
            break;
    }
    return 0;
}
