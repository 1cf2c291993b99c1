// A control frame on the broker (presence, overlay and broadcast frames),
// signed with the cluster secret. Over TCP a peer proves the secret once,
// in the handshake; through a broker every frame must, since anyone the
// broker lets in could publish one: the body is the frame as it would go
// on a TCP link, and its headers carry the sender, its incarnation and
// HMAC-SHA256(secret, sender, incarnation, frame). A frame whose signature
// does not check is dropped, so a broker user without the secret cannot
// become a member or speak for one. (Data messages are not signed: that
// would cost a pass over every payload; see docs/ARCHITECTURE.md.) Pure.
#pragma once

#include "partisan/codec/wire.hpp"

#include <amqp.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace partisan::amqp {

struct FrameOrigin {
    std::string_view sender;
    uint64_t incarnation = 0;
};

// The storage a signed frame's properties point into while it is published.
struct SignedFrameProperties {
    std::array<uint8_t, 32> mac{};
    std::array<amqp_table_entry_t, 3> headers{};
    amqp_basic_properties_t props{};
};

class FrameSigner {
public:
    explicit FrameSigner(std::string_view secret) : secret_(secret) {}

    // Fills `out` for publishing `frame` from `origin` (points into
    // origin.sender: keep it alive until the publish returns).
    void sign(const FrameOrigin& origin, Bytes frame, SignedFrameProperties& out) const;
    // Reads the sender and incarnation of a delivered frame; false unless
    // the sender is a valid node name, the frame is not empty and the
    // signature is the secret's.
    bool verify(const amqp_basic_properties_t& props, Bytes frame, FrameOrigin& origin) const;

private:
    std::array<uint8_t, 32> mac(const FrameOrigin& origin, Bytes frame) const;
    std::string secret_;
    mutable std::vector<uint8_t> scratch_;  // what is signed, reused
};

}  // namespace partisan::amqp
