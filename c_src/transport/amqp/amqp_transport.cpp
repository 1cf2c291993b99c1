// One job, the Transport over a broker (amqp_transport.hpp); over 400
// lines because sending, delivering, acknowledging and the broker's events
// all act on the same per-channel windows and per-peer sequence numbers.
#include "partisan/transport/amqp/amqp_transport.hpp"

#include "partisan/codec/ei_out.hpp"
#include "partisan/transport/amqp/envelope.hpp"

#include <algorithm>
#include <chrono>

namespace partisan {

namespace {

uint64_t wall_micros() {
    using namespace std::chrono;
    return static_cast<uint64_t>(duration_cast<microseconds>(system_clock::now().time_since_epoch()).count());
}

amqp::BrokerOptions broker_options(const Config& c) {
    amqp::BrokerOptions o;
    o.host = c.amqp_host;
    o.port = c.amqp_port;
    o.vhost = c.amqp_vhost;
    o.user = c.amqp_user;
    o.password = c.amqp_password;
    return o;
}

// Senders remembered beyond the members: their sequence numbers, stats.
size_t max_peers(const Config& c) { return 2 * size_t{c.max_members}; }

// What a message's headers and routing add to its size on the broker, at most.
constexpr size_t envelope_overhead = 1024;

}  // namespace

// The "link" a delivery came on: its sender and channel.
class AmqpTransport::Link : public InboundLink {
public:
    Link(AmqpTransport& t, const std::string& peer, size_t channel, LinkStats& stats)
        : t_(t), peer_(peer), channel_(channel), stats_(stats) {}
    const std::string& peer() const override { return peer_; }
    size_t channel_index() const override { return channel_; }
    uint16_t link_index() const override { return 0; }
    LinkStats& link_stats() override { return stats_; }
    SharedBytes share_read_buffer() const override { return {}; }
    std::function<void()> resumer() override {
        // Acknowledges what waited for the BEAM link to drain.
        return [&t = t_, channel = channel_, alive = std::weak_ptr<bool>(t_.alive_)] {
            auto live = alive.lock();
            if (!live || !*live) return;
            Channel& ch = t.channels_[channel];
            ch.acks_wait = false;
            if (ch.delivered_tag > ch.acked_tag && t.session_->ack(first_data_channel + channel, ch.delivered_tag, true))
                ch.acked_tag = ch.delivered_tag;
        };
    }

private:
    AmqpTransport& t_;
    const std::string& peer_;
    size_t channel_;
    LinkStats& stats_;
};

AmqpTransport::AmqpTransport(Context& ctx, TransportEvents& events)
    : ctx_(ctx),
      events_(events),
      self_(ctx.config.beam_node),
      incarnation_(wall_micros()),
      names_(ctx.config.cluster_secret),
      signer_(ctx.config.cluster_secret),
      members_exchange_(names_.members_exchange()),
      messages_exchange_(names_.messages_exchange()),
      sequence_(max_peers(ctx.config) * ctx.config.channels.size()) {
    // The window's hard bounds leave room for one read batch of the BEAM
    // link past the congestion mark (senders stop after the batch) and
    // one largest message.
    const Config& c = ctx.config;
    channels_.reserve(c.channels.size());
    for (size_t i = 0; i < c.channels.size(); ++i)
        channels_.emplace_back(i, size_t{c.amqp_window_bytes} + c.max_message_bytes + 2 * max_read_chunk,
                               size_t{c.amqp_window_messages} + 2 * max_read_chunk);
    session_ = std::make_unique<amqp::AmqpSession>(ctx.io, broker_options(c), setup(), *this, ctx.log, incarnation_,
                                                   uint64_t{c.max_message_bytes} + 64);
}

AmqpTransport::~AmqpTransport() { *alive_ = false; }

amqp::AmqpSession::Setup AmqpTransport::setup() const {
    // Runs on the session's setup thread: it gets copies, never `this`.
    struct Queue {
        std::string name, key;
        bool durable;
    };
    std::vector<Queue> data;
    for (const auto& ch : ctx_.config.channels)
        data.push_back(Queue{names_.message_queue(self_, ch.name), amqp::BrokerNames::routing_key(self_, ch.name),
                             ch.durable});
    const Config& c = ctx_.config;
    const std::chrono::milliseconds expiry(c.amqp_queue_expiry_ms), member_ttl(c.member_timeout_ms);
    const uint16_t prefetch = static_cast<uint16_t>(c.amqp_prefetch);
    return [=, members = names_.members_queue(self_), control = names_.control_queue(self_),
            control_key = amqp::BrokerNames::control_key(self_), members_exchange = members_exchange_,
            messages_exchange = messages_exchange_](amqp::BrokerConnection& b, std::string& error) {
        const uint16_t cc = control_channel;
        // The members and control queues live as long as this connection
        // (exclusive): presence is announced again on every connect, and
        // control frames are at most once.
        if (!b.open_channel(cc, error) || !b.declare_exchange(cc, members_exchange, "fanout", true, error) ||
            !b.declare_exchange(cc, messages_exchange, "direct", true, error) ||
            !b.declare_queue(cc, members, false, error, {.message_ttl = member_ttl, .exclusive = true}) ||
            !b.bind_queue(cc, members, members_exchange, "", error) ||
            !b.declare_queue(cc, control, false, error, {.message_ttl = member_ttl, .exclusive = true}) ||
            !b.bind_queue(cc, control, messages_exchange, control_key, error) ||
            !b.consume(cc, members, prefetch, error) || !b.consume(cc, control, prefetch, error))
            return false;
        for (size_t i = 0; i < data.size(); ++i) {
            const auto ch = static_cast<uint16_t>(first_data_channel + i);
            // Message queues outlive the connection, so messages wait while
            // this node reconnects (and, durable, a broker restart).
            if (!b.open_channel(ch, error) || !b.confirm_select(ch, error) ||
                !b.declare_queue(ch, data[i].name, data[i].durable, error, {.expires = expiry}) ||
                !b.bind_queue(ch, data[i].name, messages_exchange, data[i].key, error) ||
                !b.consume(ch, data[i].name, prefetch, error))
                return false;
        }
        return true;
    };
}

void AmqpTransport::start() {
    if (available_) session_->start();
}

void AmqpTransport::shutdown() {
    if (session_) session_->stop();
}

void AmqpTransport::set_available(bool available) {
    // A hung BEAM: off the broker, so the others stop hearing this node
    // and its messages wait in its queues.
    if (available == available_) return;
    available_ = available;
    if (available) {
        session_->start();
    } else {
        PLOG(ctx_.log, warning, "AMQP: this node's BEAM does not answer: off the broker until it does");
        session_->stop();
    }
}

AmqpTransport::Peer* AmqpTransport::peer(std::string_view node) {
    auto it = peers_.find(node);
    if (it != peers_.end()) return &it->second;
    if (peers_.size() >= max_peers(ctx_.config) && !neighbours_.count(node)) return nullptr;
    const auto& chs = ctx_.config.channels;
    Peer p;
    p.index = peer_index_.size();
    for (const auto& ch : chs) p.routing_keys.push_back(amqp::BrokerNames::routing_key(node, ch.name));
    p.last_seq.assign(chs.size(), 0);
    p.confirmed.assign(chs.size(), 0);
    p.newest.assign(chs.size(), 0);
    p.stats.assign(chs.size(), LinkStats{});
    Peer* added = &peers_.emplace(std::string(node), std::move(p)).first->second;
    peer_index_.push_back(added);
    return added;
}

void AmqpTransport::set_neighbours(const std::vector<Neighbour>& neighbours) {
    std::set<std::string, std::less<>> now;
    for (const auto& n : neighbours) now.insert(n.name);
    std::vector<std::string> came, went;
    std::set_difference(now.begin(), now.end(), neighbours_.begin(), neighbours_.end(), std::back_inserter(came));
    std::set_difference(neighbours_.begin(), neighbours_.end(), now.begin(), now.end(), std::back_inserter(went));
    neighbours_ = std::move(now);
    for (const auto& n : came) peer(n);
    for (const auto& n : went) events_.on_peer_down(n, "no longer a member");
    for (const auto& n : came) events_.on_peer_up(n);
}

// ---- sending ------------------------------------------------------------------------

bool AmqpTransport::send(std::string_view node, const OutMessage& m) {
    if (!neighbours_.count(node)) return false;
    Peer* p = peer(node);
    if (!p) return false;
    Channel& ch = channels_[m.channel];
    LinkStats& stats = p->stats[m.channel];
    if (partitioned_.count(node)) {
        ++stats.dropped;
        return true;
    }
    // A message the broker would refuse closes the channel, and it would
    // be published again after every reconnect: refused here instead.
    if (m.payload.size + m.ref.size + envelope_overhead > ctx_.config.amqp_max_message_bytes) {
        ++stats.dropped;
        PLOG(ctx_.log, error, "AMQP: message of %zu bytes to %.*s dropped: larger than the broker's %u (amqp_max_message_size)",
             m.payload.size, static_cast<int>(node.size()), node.data(), ctx_.config.amqp_max_message_bytes);
        return true;
    }
    std::vector<uint8_t> ref(m.ref.data, m.ref.data + m.ref.size);
    std::vector<uint8_t> payload(m.payload.data, m.payload.data + m.payload.size);
    // A monotonic channel sheds the older message while it waits unpublished.
    if (ctx_.config.channels[m.channel].monotonic &&
        ch.window.replace_unpublished(p->newest[m.channel], std::move(ref), std::move(payload))) {
        ++stats.dropped;
        return true;
    }
    if (!ch.window.push(amqp::Outgoing{p->routing_keys[m.channel], p->last_seq[m.channel] + 1, std::move(ref),
                                       std::move(payload), p->index})) {
        ++stats.dropped;
        PLOG(ctx_.log, warning, "AMQP: message to %.*s dropped: the channel's window is full",
             static_cast<int>(node.size()), node.data());
        return true;
    }
    ++p->last_seq[m.channel];
    p->newest[m.channel] = ch.window.pushed();
    ++stats.messages_sent;
    stats.bytes_sent += m.payload.size;
    update_congestion(ch);
    return true;
}

void AmqpTransport::relay(const std::string& via, std::string_view dest, uint8_t, const OutMessage&) {
    // The pubsub overlay names no relays: every member is one publish away.
    PLOG(ctx_.log, warning, "AMQP: no relaying (message for %.*s via %s dropped)", static_cast<int>(dest.size()),
         dest.data(), via.c_str());
}

void AmqpTransport::update_congestion(Channel& ch) {
    const Config& c = ctx_.config;
    if (!ch.congested) {
        ch.congested = ch.window.bytes() >= c.amqp_window_bytes || ch.window.size() >= c.amqp_window_messages;
        return;
    }
    if (ch.window.bytes() <= c.amqp_window_bytes / 2 && ch.window.size() <= c.amqp_window_messages / 2) {
        ch.congested = false;
        events_.on_drained(ch.index);
    }
}

void AmqpTransport::publish_all() {
    for (auto& ch : channels_) publish(ch);
}

void AmqpTransport::publish(Channel& ch) {
    if (!session_->connected() || session_->blocked()) return;
    const bool durable = ctx_.config.channels[ch.index].durable;
    const auto channel = static_cast<uint16_t>(first_data_channel + ch.index);
    amqp::EnvelopeProperties props;
    while (const amqp::Outgoing* m = ch.window.next_unpublished()) {
        const uint64_t confirmed = peer_index_[m->dest]->confirmed[ch.index];
        amqp::write_envelope(
            amqp::Envelope{self_, incarnation_, m->seq, Bytes{m->ref.data(), m->ref.size()}, confirmed}, durable,
            props);
        if (!session_->publish(channel, messages_exchange_, m->routing_key, props.props,
                               Bytes{m->payload.data(), m->payload.size()}))
            return;  // the connection is being lost: everything unconfirmed goes again
        ch.window.published(ch.next_tag++);
    }
}

void AmqpTransport::publish_frame(const std::string& exchange, const std::string& routing_key,
                                  const ByteBuffer& frame) {
    if (!session_->connected() || session_->blocked()) return;  // at most once, like a TCP control frame
    // The body is the frame without its length: AMQP has its own.
    if (frame.size() <= 4) return;
    amqp::SignedFrameProperties props;
    Bytes body{frame.data() + 4, frame.size() - 4};
    signer_.sign(amqp::FrameOrigin{self_, incarnation_}, body, props);
    session_->publish(control_channel, exchange, routing_key, props.props, body);
}

void AmqpTransport::send_control(const std::string& peer, const ByteBuffer& frame) {
    if (partitioned_.count(peer)) return;
    publish_frame(messages_exchange_, amqp::BrokerNames::control_key(peer), frame);
}

void AmqpTransport::send_to_all(const ByteBuffer& frame) { publish_frame(members_exchange_, "", frame); }

// ---- the broker's events -------------------------------------------------------------

void AmqpTransport::on_connected() {
    for (auto& ch : channels_) {
        ch.next_tag = 1;
        ch.delivered_tag = ch.acked_tag = 0;
        ch.acks_wait = false;
    }
    control_tag_ = 0;
    events_.on_connectivity(true);
    publish_all();
}

void AmqpTransport::on_lost(const std::string& why) {
    // Every unconfirmed message goes again on the next connection; every
    // unacknowledged delivery comes again (the sequence drops the copies).
    for (auto& ch : channels_) {
        ch.window.connection_lost();
        ch.delivered_tag = ch.acked_tag = 0;
        ch.acks_wait = false;
    }
    for (auto& [node, p] : peers_)
        for (auto& st : p.stats) ++st.reconnects;
    PLOG(ctx_.log, info, "AMQP: off the broker (%s); messages wait in the windows", why.c_str());
    events_.on_connectivity(false);
}

void AmqpTransport::on_blocked(bool blocked) {
    if (!blocked) publish_all();
}

AmqpTransport::Channel* AmqpTransport::data_channel(uint16_t amqp_channel) {
    if (amqp_channel < first_data_channel) return nullptr;
    size_t index = size_t{amqp_channel} - first_data_channel;
    return index < channels_.size() ? &channels_[index] : nullptr;
}

void AmqpTransport::on_confirm(uint16_t channel, uint64_t delivery_tag, bool multiple, bool ack) {
    Channel* found = data_channel(channel);
    if (!found) return;
    Channel& ch = *found;
    if (ack) {
        ch.window.confirmed(delivery_tag, multiple, [this, c = ch.index](const amqp::Outgoing& m) {
            peer_index_[m.dest]->confirmed[c] = m.seq;
        });
    } else {
        PLOG(ctx_.log, warning, "AMQP: the broker refused a message on channel %s: publishing it again",
             ctx_.config.channels[ch.index].name.c_str());
        ch.window.refused(delivery_tag, multiple);
    }
    update_congestion(ch);
    publish(ch);
}

void AmqpTransport::on_delivery(uint16_t channel, uint64_t delivery_tag, bool, const amqp_basic_properties_t& properties,
                                Bytes body) {
    if (channel == control_channel) return deliver_frame(delivery_tag, properties, body);
    if (Channel* ch = data_channel(channel)) deliver_message(*ch, delivery_tag, properties, body);
}

void AmqpTransport::deliver_frame(uint64_t tag, const amqp_basic_properties_t& properties, Bytes body) {
    control_tag_ = tag;
    amqp::FrameOrigin origin;
    if (!signer_.verify(properties, body, origin)) {
        ++rejected_;
        PLOG(ctx_.log, warning, "AMQP: a control frame without a valid signature dropped (%llu so far)",
             static_cast<unsigned long long>(rejected_));
        return;
    }
    if (origin.sender == self_ || partitioned_.count(origin.sender)) return;
    Peer* p = peer(origin.sender);
    if (!p) return;
    auto it = peers_.find(origin.sender);
    Link link(*this, it->first, 0, p->stats[0]);
    if (!events_.on_frame(link, body.data, static_cast<uint32_t>(body.size)))
        PLOG(ctx_.log, warning, "AMQP: a malformed frame (type %u, %zu bytes) from %s dropped", unsigned(body.data[0]),
             body.size, it->first.c_str());
}

void AmqpTransport::deliver_message(Channel& ch, uint64_t tag, const amqp_basic_properties_t& properties, Bytes body) {
    ch.delivered_tag = tag;  // acknowledged with the batch, whatever becomes of it
    amqp::Envelope e;
    if (!amqp::read_envelope(properties, body, ctx_.config.beam_node, e)) {
        ++rejected_;
        PLOG(ctx_.log, warning, "AMQP: a malformed message on channel %s dropped (%llu so far)",
             ctx_.config.channels[ch.index].name.c_str(), static_cast<unsigned long long>(rejected_));
        return;
    }
    if (partitioned_.count(e.sender)) return;
    Peer* p = peer(e.sender);
    if (!p) return;
    uint64_t lost = 0;
    auto verdict =
        sequence_.accept(std::string(e.sender), e.incarnation, static_cast<uint16_t>(ch.index), e.seq, e.confirmed, &lost);
    auto it = peers_.find(e.sender);
    if (lost) {
        // Taken by the broker and gone: a queue that did not survive a
        // broker restart (not durable), or expired.
        p->stats[ch.index].dropped += lost;
        PLOG(ctx_.log, warning, "AMQP: %llu message(s) from %s on channel %s lost on the broker",
             static_cast<unsigned long long>(lost), it->first.c_str(), ctx_.config.channels[ch.index].name.c_str());
    }
    if (verdict != amqp::DeliverySequence::Verdict::deliver) return;
    Link link(*this, it->first, ch.index, p->stats[ch.index]);
    events_.on_message(link, e.ref, body);
}

void AmqpTransport::on_read_batch_end() {
    if (control_tag_ && session_->ack(control_channel, control_tag_, true)) control_tag_ = 0;
    for (auto& ch : channels_) acknowledge(ch);
}

void AmqpTransport::acknowledge(Channel& ch) {
    if (ch.delivered_tag <= ch.acked_tag || ch.acks_wait) return;
    // What this batch delivered goes to the BEAM now; acknowledged once
    // handed on, or, past the BEAM link's high-water mark, once it drains.
    static const std::string nobody;
    LinkStats scratch;
    Link link(*this, nobody, ch.index, scratch);
    if (!events_.on_read_batch_end(link)) {
        ch.acks_wait = true;
        return;
    }
    if (session_->ack(static_cast<uint16_t>(first_data_channel + ch.index), ch.delivered_tag, true))
        ch.acked_tag = ch.delivered_tag;
}

// ---- fault injection, views --------------------------------------------------------

void AmqpTransport::partition(const std::vector<std::string>& peers) {
    partitioned_.insert(peers.begin(), peers.end());
}

bool AmqpTransport::break_link(const std::string&, std::string_view, uint64_t) {
    if (!session_->connected()) return false;
    PLOG(ctx_.log, notice, "fault injection: breaking the broker connection");
    session_->break_connection();
    return true;
}

void AmqpTransport::encode_stats(ei_x_buff& x) const {
    const auto& chs = ctx_.config.channels;
    const unsigned long long connected = session_->connected() ? 1 : 0;
    ei_x_encode_map_header(&x, static_cast<long>(peers_.size()));
    for (const auto& [node, p] : peers_) {
        encode_atom(x, node);
        ei_x_encode_map_header(&x, static_cast<long>(chs.size()));
        for (size_t c = 0; c < chs.size(); ++c) {
            encode_atom(x, chs[c].name);
            // The window is the channel's, shared by its destinations.
            encode_link_stats(x, p.stats[c], neighbours_.count(node) ? connected : 0, channels_[c].window.size(),
                              channels_[c].window.bytes());
        }
    }
}

void AmqpTransport::encode_unreachable(ei_x_buff& x) const { ei_x_encode_map_header(&x, 0); }

}  // namespace partisan
