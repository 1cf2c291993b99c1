// The transport through an AMQP broker (the pubsub topology): no listener
// and no connection to another node; one broker connection (AmqpSession)
// carries everything. Each partisan channel has its own AMQP channel, its
// own queue per node and its own publish window, so one channel's backlog
// or broker flow control does not hold back another's:
//
// - a message is published to the messages exchange with its destination's
//   routing key (node:channel), its payload's bytes as the body and its
//   sender, incarnation, sequence number and ref as headers (envelope.hpp);
//   it stays in the channel's PublishWindow until the broker confirms it
//   (go-back-N on a nack or a lost connection), and a full window makes the
//   channel congested, so its BEAM link waits;
// - a delivery is checked (read_envelope), passed through the
//   DeliverySequence (copies and anything past a gap dropped), handed to
//   the BEAM link, and acknowledged after the batch is handed on, or, while
//   that BEAM link is congested, once it drains (so unacknowledged
//   deliveries, at most the prefetch, are the backpressure towards the
//   broker);
// - control frames (presence, broadcasts) are signed (signed_frame.hpp) and
//   go to the node's control queue, or to every node's members queue
//   through the fanout exchange (send_to_all); at most once.
//
// A neighbour is "up" while the overlay names it (it was heard), whether
// or not the broker is reachable right now: messages for it wait in the
// window meanwhile, bounded, and the overlay stops the membership clocks.
#pragma once

#include "partisan/core/context.hpp"
#include "partisan/transport/amqp/amqp_session.hpp"
#include "partisan/transport/amqp/broker_names.hpp"
#include "partisan/transport/amqp/delivery_sequence.hpp"
#include "partisan/transport/amqp/publish_window.hpp"
#include "partisan/transport/amqp/signed_frame.hpp"
#include "partisan/transport/transport.hpp"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace partisan {

class AmqpTransport : public Transport, public amqp::SessionEvents {
public:
    AmqpTransport(Context& ctx, TransportEvents& events);
    ~AmqpTransport() override;

    // The AMQP channel of control frames; partisan channel i uses first_data_channel + i.
    static constexpr uint16_t control_channel = 1;
    static constexpr uint16_t first_data_channel = 2;
    // Published and not yet confirmed, per channel, at most: well below the
    // socket's send buffer (AmqpSession::send_buffer_bytes), so that a
    // publish never waits inside rabbitmq-c.
    static constexpr size_t max_in_flight_bytes = 128u << 10;

    // Transport
    void start() override;
    void shutdown() override;
    std::vector<Address> local_addresses() const override { return {}; }
    void set_neighbours(const std::vector<Neighbour>& neighbours) override;
    bool up(const std::string& peer) const override { return neighbours_.count(peer) != 0; }
    bool never_reached(const std::string&) const override { return false; }
    std::vector<std::string> up_peers() const override { return {neighbours_.begin(), neighbours_.end()}; }
    std::vector<std::string> unreachable_for(std::chrono::milliseconds) const override { return {}; }
    void set_available(bool available) override;
    bool send(std::string_view peer, const OutMessage& m) override;
    void relay(const std::string& via, std::string_view dest, uint8_t hops, const OutMessage& m) override;
    bool pass_on(InboundLink&, const std::string&, std::string_view, uint8_t, Bytes, Bytes) override { return false; }
    void send_control(const std::string& peer, const ByteBuffer& frame) override;
    void answer(InboundLink& from, const ByteBuffer& frame) override { send_control(from.peer(), frame); }
    void reply(InboundLink& from, const ByteBuffer& frame) override { send_control(from.peer(), frame); }
    void send_to_all(const ByteBuffer& frame) override;
    void flush_batch() override { publish_all(); }
    bool congested(size_t channel) const override { return channels_[channel].congested; }
    void partition(const std::vector<std::string>& peers) override;
    void heal() override { partitioned_.clear(); }
    // Breaks the broker connection (it reconnects), whatever the peer and channel.
    bool break_link(const std::string& peer, std::string_view channel, uint64_t index) override;
    void encode_stats(ei_x_buff& x) const override;
    void encode_unreachable(ei_x_buff& x) const override;

    // amqp::SessionEvents
    void on_connected() override;
    void on_lost(const std::string& why) override;
    void on_delivery(uint16_t channel, uint64_t delivery_tag, bool redelivered,
                     const amqp_basic_properties_t& properties, Bytes body) override;
    void on_confirm(uint16_t channel, uint64_t delivery_tag, bool multiple, bool ack) override;
    void on_read_batch_end() override;
    void on_blocked(bool blocked) override;

private:
    // One partisan channel on the broker.
    struct Channel {
        Channel(size_t index, size_t max_bytes, size_t max_messages)
            : index(index), window(max_bytes, max_messages, max_in_flight_bytes) {}
        size_t index;
        amqp::PublishWindow window;
        uint64_t next_tag = 1;  // the broker's tag of the next publish (confirm mode)
        bool congested = false;
        uint64_t delivered_tag = 0, acked_tag = 0;  // deliveries handed on, and acknowledged
        bool acks_wait = false;  // the BEAM link is congested: acknowledgements wait for it
    };
    // What this node keeps per other node; kept after it leaves, since its
    // sequence numbers must go on if it comes back (bounded: see peer()).
    struct Peer {
        size_t index;                           // in peer_index_
        std::vector<std::string> routing_keys;  // per channel
        std::vector<uint64_t> last_seq;         // per channel, sent
        std::vector<uint64_t> confirmed;        // per channel: every seq up to it confirmed by the broker
        std::vector<uint64_t> newest;           // per channel: window id of its newest message (monotonic)
        std::vector<LinkStats> stats;           // per channel
    };
    class Link;

    amqp::AmqpSession::Setup setup() const;
    // The partisan channel on an AMQP channel, if any.
    Channel* data_channel(uint16_t amqp_channel);
    // The record of `node`; nullptr for a stranger past the bound.
    Peer* peer(std::string_view node);
    void publish_all();
    void publish(Channel& ch);
    void publish_frame(const std::string& exchange, const std::string& routing_key, const ByteBuffer& frame);
    void update_congestion(Channel& ch);
    void deliver_frame(uint64_t tag, const amqp_basic_properties_t& properties, Bytes body);
    void deliver_message(Channel& ch, uint64_t tag, const amqp_basic_properties_t& properties, Bytes body);
    void acknowledge(Channel& ch);

    Context& ctx_;
    TransportEvents& events_;
    std::string self_;
    uint64_t incarnation_;
    amqp::BrokerNames names_;
    amqp::FrameSigner signer_;
    std::string members_exchange_, messages_exchange_;
    std::vector<Channel> channels_;
    std::map<std::string, Peer, std::less<>> peers_;
    std::vector<Peer*> peer_index_;  // Outgoing::dest -> its peer (map nodes stay put)
    std::set<std::string, std::less<>> neighbours_;
    std::set<std::string, std::less<>> partitioned_;  // fault injection
    amqp::DeliverySequence sequence_;
    uint64_t control_tag_ = 0;  // the last control delivery, acknowledged at the batch end
    uint64_t rejected_ = 0;     // deliveries that failed their checks
    bool available_ = true;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for resumers handed out
    std::unique_ptr<amqp::AmqpSession> session_;  // last: its events come here
};

}  // namespace partisan
