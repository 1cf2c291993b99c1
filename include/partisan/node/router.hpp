// The data path: messages from the BEAM links to the transport (directly,
// or through a relay the overlay names), messages from the transport to the
// BEAM links (MESSAGE frames, and RELAY frames to deliver or pass on), and
// flow control both ways. One channel's BEAM link waits only for that
// channel's congested links.
#pragma once

#include "partisan/beam/beam_link.hpp"
#include "partisan/core/context.hpp"
#include "partisan/overlay/overlay.hpp"
#include "partisan/transport/transport.hpp"

#include <memory>
#include <vector>

namespace partisan {

class Router {
public:
    Router(Context& ctx, Transport& transport, const Overlay& overlay);
    // The BEAM link of each channel, in channel order (not owned).
    void attach(std::vector<BeamChannel*> beams) { beams_ = std::move(beams); }

    // From a BEAM link: a message for another node.
    void forward(const ForwardRequest& req);
    // After a batch from a BEAM link: writes what it queued; false while
    // the link's channel is congested (its reading pauses).
    bool beam_batch_end(BeamChannel& link);

    // MESSAGE and RELAY frames; false when malformed.
    bool on_message_frame(InboundLink& from, const uint8_t* body, uint32_t len);
    bool on_relay_frame(InboundLink& from, const uint8_t* body, uint32_t len);
    // After a batch from a peer link: hands what it delivered to the BEAM;
    // false (the link pauses) while that BEAM link is congested.
    bool read_batch_end(InboundLink& from);
    // A channel's peer links drained: its BEAM link reads again.
    void drained(size_t channel);
    // A message for this node's BEAM, checked, on the channel of `from`.
    void deliver(InboundLink& from, Bytes ref, Bytes payload);
    // A broadcast for this node's BEAM, on channel `channel`'s link.
    void deliver_broadcast(size_t channel, Bytes ref, Bytes message);

private:
    int channel_index(std::string_view name) const;

    Context& ctx_;
    Transport& transport_;
    const Overlay& overlay_;
    std::vector<BeamChannel*> beams_;
    uint64_t dropped_ = 0;  // messages for no member (for their log line)
};

}  // namespace partisan
