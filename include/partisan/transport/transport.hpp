// The transport seam: the only place that does peer I/O. It keeps links to
// the neighbours the overlay names, sends frames to a peer on a channel,
// and reports peers up and down, frames in, and channels drained. Today's
// implementation is TCP (tcp_transport.hpp: a dialer per channel and index,
// handshake, heartbeats); TLS or an AMQP broker can be others without
// touching routing or membership.
#pragma once

#include "partisan/overlay/overlay.hpp"
#include "partisan/codec/wire.hpp"
#include "partisan/transport/refusal.hpp"

#include <ei.h>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace partisan {

// Counters of one (peer, channel), kept across reconnects.
struct LinkStats {
    uint64_t messages_sent = 0, bytes_sent = 0;  // written to the socket
    uint64_t messages_received = 0, bytes_received = 0;  // handed to the BEAM
    uint64_t dropped = 0, reconnects = 0;
    // Received, for a registered name that was not registered (name_watch.hpp).
    uint64_t undeliverable = 0;
};

// Why a dialer's last attempt was refused by the acceptor, if it was.
struct RefusalInfo {
    Refusal reason = Refusal::none;
    bool proven = false;  // sent by a holder of the secret
    std::string text;
};

// The link an incoming frame came on.
class InboundLink {
public:
    virtual ~InboundLink() = default;
    virtual const std::string& peer() const = 0;
    virtual size_t channel_index() const = 0;
    virtual uint16_t link_index() const = 0;
    virtual LinkStats& link_stats() = 0;
    // The read buffer's memory, for passing a large frame body on without a copy.
    virtual SharedBytes share_read_buffer() const = 0;
    // What resumes reading from this link after on_read_batch_end paused it
    // (safe to call after the link is gone).
    virtual std::function<void()> resumer() = 0;
};

// A message to send: its channel, how to pick one of the channel's links,
// and its bytes.
struct OutMessage {
    size_t channel = 0;
    uint64_t key = 0;     // partition key (or the sender's hash)
    bool pinned = false;  // the key names a link: no sibling when it is down
    Bytes ref, payload;
    SharedBytes keep;  // owner of payload's memory, for writing it without a copy
};

class TransportEvents {
public:
    virtual ~TransportEvents() = default;
    // A peer that proved the secret, on a known channel: let it in?
    virtual bool admits(const std::string& peer) = 0;
    virtual void on_peer_up(const std::string& peer) = 0;
    virtual void on_peer_down(const std::string& peer, const std::string& why) = 0;
    // An attempt to reach a neighbour failed (it keeps trying).
    virtual void on_connect_failed(const std::string& peer, const std::string& why, const RefusalInfo& refusal) = 0;
    // A frame from an authenticated peer (its type in body[0], not a
    // heartbeat); false when malformed (the link closes).
    virtual bool on_frame(InboundLink& from, const uint8_t* body, uint32_t len) = 0;
    // A message for this node's BEAM that came whole, not in a frame
    // (a broker's delivery, already checked as a MESSAGE frame is).
    virtual void on_message(InboundLink& from, Bytes ref, Bytes payload) = 0;
    // After a batch of frames from one link; false pauses that link until
    // its resumer() is called.
    virtual bool on_read_batch_end(InboundLink& from) = 0;
    // The transport's shared medium (a broker connection) came up or went
    // down; point-to-point transports never report it.
    virtual void on_connectivity(bool /*connected*/) {}
    // The channel's links are all below the high-water mark again.
    virtual void on_drained(size_t channel) = 0;
};

// The counters of one (peer, channel) as `stats` shows them, with what
// the transport has of that channel now.
void encode_link_stats(ei_x_buff& x, const LinkStats& st, unsigned long long connections,
                       unsigned long long queued_messages, unsigned long long queued_bytes);

// A LinkView for the overlay: which peers are up.
class Transport : public LinkView {
public:
    virtual ~Transport() = default;
    virtual void start() = 0;
    virtual void shutdown() = 0;
    // Where peers reach this node (the advertised addresses).
    virtual std::vector<Address> local_addresses() const = 0;

    // ---- links
    // Keep links to exactly these peers: connect to new ones, close the
    // others once what is queued for them is written.
    virtual void set_neighbours(const std::vector<Neighbour>& neighbours) = 0;
    // Neighbours not up for longer than `limit`, not marked down yet.
    virtual std::vector<std::string> unreachable_for(std::chrono::milliseconds limit) const = 0;
    // This node's BEAM answers (or not: then every peer link drops and new
    // ones are refused, so the others see this node down).
    virtual void set_available(bool available) = 0;

    // ---- data
    // Queues a message for a neighbour; false (nothing queued) when it is
    // none, or only a short-lived one. Dropped (counted) when its links are down and too much waits.
    virtual bool send(std::string_view peer, const OutMessage& m) = 0;
    // Queues a message for `dest` with neighbour `via`, which passes it on;
    // `hops`: how many nodes may pass it on.
    virtual void relay(const std::string& via, std::string_view dest, uint8_t hops, const OutMessage& m) = 0;
    // Passes on a relayed message on the same channel and link index as it
    // came in (FIFO through the relay): to `to` itself when `dest` is
    // empty, else for `dest`, with `hops` hops left. False when `to` is no
    // neighbour (or only a short-lived one).
    virtual bool pass_on(InboundLink& from, const std::string& to, std::string_view dest, uint8_t hops, Bytes ref,
                         Bytes payload) = 0;
    // A control frame on the peer's control link, written at once (dropped
    // when the peer is not up).
    virtual void send_control(const std::string& peer, const ByteBuffer& frame) = 0;
    // A frame back on the link `from`, once per link (push-pull answers).
    virtual void answer(InboundLink& from, const ByteBuffer& frame) = 0;
    // A frame back on the link `from`, every time (short replies).
    virtual void reply(InboundLink& from, const ByteBuffer& frame) = 0;
    // A control frame for every node (OverlayOutput::to_all): through the
    // shared medium where there is one, else to every peer that is up.
    virtual void send_to_all(const ByteBuffer& frame) = 0;
    // Writes what this batch queued: one write per link.
    virtual void flush_batch() = 0;
    // Some link of the channel is over the high-water mark: its senders wait.
    virtual bool congested(size_t channel) const = 0;

    // ---- fault injection (tests)
    virtual void partition(const std::vector<std::string>& peers) = 0;
    virtual void heal() = 0;
    virtual bool break_link(const std::string& peer, std::string_view channel, uint64_t index) = 0;

    // ---- operator views
    // #{Node => #{Channel => #{connections => N, messages_sent => N, ...}}}
    virtual void encode_stats(ei_x_buff& x) const = 0;
    // #{Node => #{status => unreachable | down, for_ms => N}}
    virtual void encode_unreachable(ei_x_buff& x) const = 0;
};

}  // namespace partisan
