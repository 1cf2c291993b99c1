#include "partisan/node/router.hpp"

#include "partisan/codec/peer_frames.hpp"

namespace partisan {

Router::Router(Context& ctx, Transport& transport, const Overlay& overlay)
    : ctx_(ctx), transport_(transport), overlay_(overlay) {}

int Router::channel_index(std::string_view name) const {
    const auto& chs = ctx_.config.channels;
    for (size_t i = 0; i < chs.size(); ++i)
        if (chs[i].name == name) return static_cast<int>(i);
    return -1;
}

void Router::forward(const ForwardRequest& req) {
    int ch = channel_index(req.channel);
    if (ch < 0) {
        PLOG(ctx_.log, warning, "message dropped: unknown channel %.*s", static_cast<int>(req.channel.size()),
             req.channel.data());
        return;
    }
    if (req.message.size > ctx_.config.max_message_bytes) {
        PLOG(ctx_.log, error, "message of %zu bytes to %.*s dropped: larger than max_message_size (%u)",
             req.message.size, static_cast<int>(req.node.size()), req.node.data(), ctx_.config.max_message_bytes);
        return;
    }
    OutMessage m{static_cast<size_t>(ch), req.key, (req.flags & ForwardRequest::flag_pinned) != 0, req.server_ref,
                 req.message, req.keep};
    // No string is made for a neighbour: this runs once per message.
    if (transport_.send(req.node, m)) return;
    // No links to the destination: hand it to a peer that relays for us.
    std::string node(req.node);
    if (auto via = overlay_.relay_for(node)) {
        transport_.relay(*via, req.node, static_cast<uint8_t>(ctx_.config.max_hops), m);
        return;
    }
    // A burst to a node that just left: the logger rate-limits this line.
    ++dropped_;
    PLOG(ctx_.log, warning, "message to %s dropped: not a member (%llu such drops so far)", node.c_str(),
         static_cast<unsigned long long>(dropped_));
}

bool Router::beam_batch_end(BeamChannel& link) {
    // One write per connection for everything this batch queued.
    transport_.flush_batch();
    return !transport_.congested(link.channel());
}

bool Router::on_message_frame(InboundLink& from, const uint8_t* body, uint32_t len) {
    Bytes ref, payload;
    if (!parse_addressed(body + 1, len - 1, ctx_.config.beam_node, ref, payload)) return false;
    deliver(from, ref, payload);
    return true;
}

bool Router::on_relay_frame(InboundLink& from, const uint8_t* body, uint32_t len) {
    // A message for another node, sent to us to pass on (we are its relay).
    std::string_view dest_view;
    uint8_t hops = 0;
    Bytes ref, payload;
    if (!parse_relay(body + 1, len - 1, dest_view, hops, ref, payload)) return false;
    std::string dest(dest_view);
    if (dest == overlay_.self()) {
        deliver(from, ref, payload);
        return true;
    }
    // Our neighbour: the last hop. Else the next relay, while hops remain.
    if (transport_.pass_on(from, dest, {}, 0, ref, payload)) return true;
    const char* why = "no route to it";
    if (hops <= 1) {
        why = "hop limit reached";
    } else if (auto via = overlay_.relay_for(dest); via && *via != from.peer()) {
        if (transport_.pass_on(from, *via, dest, static_cast<uint8_t>(hops - 1), ref, payload)) return true;
    }
    ++from.link_stats().dropped;
    PLOG(ctx_.log, warning, "relayed message for %s dropped: %s", dest.c_str(), why);
    return true;
}

void Router::deliver(InboundLink& from, Bytes ref, Bytes payload) {
    // Each channel has its own BEAM link, so FIFO per channel holds end to end.
    LinkStats& stats = from.link_stats();
    ++stats.messages_received;
    stats.bytes_received += payload.size;
    beams_[from.channel_index()]->deliver(
        ref, payload, payload.size >= zero_copy_threshold ? from.share_read_buffer() : SharedBytes{}, &stats);
}

bool Router::read_batch_end(InboundLink& from) {
    BeamChannel& beam = *beams_[from.channel_index()];
    beam.flush();
    if (!beam.congested()) return true;
    beam.when_drained(from.resumer());
    return false;
}

void Router::deliver_broadcast(size_t channel, Bytes ref, Bytes message) {
    if (channel >= beams_.size()) return;
    beams_[channel]->deliver(ref, message, {}, nullptr);
    beams_[channel]->flush();
}

void Router::drained(size_t channel) {
    if (channel < beams_.size()) beams_[channel]->resume_reading();
}

}  // namespace partisan
