// What one partisan channel has to publish to the broker and what the
// broker has not confirmed yet (publisher confirms), bounded in bytes and
// messages while the broker is slow or unreachable. Pure: no broker, no
// clock; the AMQP session drives it.
//
// Order is kept with go-back-N: a message leaves the window only when it
// and every message before it are confirmed; when the connection is lost
// or the broker nacks one, that message and every one published after it
// are published again, in order. Each message carries a sequence number
// per destination, so the receiver (delivery_sequence.hpp) drops the
// copies it has already seen and anything past a gap, which go-back-N
// always sends again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

namespace partisan::amqp {

struct Outgoing {
    std::string routing_key;  // the destination queue's binding
    uint64_t seq = 0;         // per (destination, channel), from 1
    std::vector<uint8_t> ref, payload;
    size_t dest = 0;  // the owner's index of the destination (not read here)
};

class PublishWindow {
public:
    // `max_in_flight_bytes`: published and still in the window, at most (the
    // session keeps it below the socket's send buffer, so that a write
    // into rabbitmq-c, which would block, always finds room).
    PublishWindow(size_t max_bytes, size_t max_messages, size_t max_in_flight_bytes)
        : max_bytes_(max_bytes), max_messages_(max_messages), max_in_flight_bytes_(max_in_flight_bytes) {}

    // Queues a message; false (nothing queued) when the window is full.
    // One message bigger than the whole window is taken when it is empty,
    // so every message the broker allows can pass.
    bool push(Outgoing m);
    bool full() const { return messages_.size() >= max_messages_ || bytes_ >= max_bytes_; }
    // Below half of both bounds: senders that waited may go on.
    bool drained() const { return messages_.size() <= max_messages_ / 2 && bytes_ <= max_bytes_ / 2; }

    // Every message pushed has an id, counting from 1 (pushed(): the last).
    uint64_t pushed() const { return popped_ + messages_.size(); }
    // Monotonic channels: message `id`, if it is still unpublished, takes
    // a newer message's ref and payload in its place (its seq and its
    // place in the order stay); false when it has been published or gone,
    // and then `ref` and `payload` are left as they were.
    bool replace_unpublished(uint64_t id, std::vector<uint8_t>&& ref, std::vector<uint8_t>&& payload);

    // The next message to publish, or nullptr when all are published or
    // the bytes in flight are at their bound (one message is always let
    // through when none is in flight).
    const Outgoing* next_unpublished() const;
    // That message was published with this delivery tag.
    void published(uint64_t delivery_tag);

    // basic.ack from the broker (`multiple`: every tag up to this one).
    // Each message that leaves the window (it and all before it
    // confirmed) is shown to `gone` first, in order.
    using Visitor = std::function<void(const Outgoing&)>;
    void confirmed(uint64_t delivery_tag, bool multiple, const Visitor& gone = {});
    // basic.nack: the broker did not take it; it and every later one are
    // published again. The broker's tags go on (same channel).
    void refused(uint64_t delivery_tag, bool multiple);
    // The channel or connection is gone: every unconfirmed message is
    // published again, in order, with tags from 1 on the new channel.
    void connection_lost();

    size_t size() const { return messages_.size(); }
    size_t bytes() const { return bytes_; }
    size_t in_flight() const { return published_; }
    size_t in_flight_bytes() const { return in_flight_bytes_; }
    uint64_t republished() const { return republished_; }

private:
    struct Entry {
        Outgoing msg;
        uint64_t tag = 0;  // 0: not published
        bool confirmed = false;
    };
    static size_t cost(const Outgoing& m) { return m.ref.size() + m.payload.size() + m.routing_key.size(); }
    void pop_confirmed(const Visitor& gone);
    void republish_from(size_t index);

    size_t max_bytes_, max_messages_, max_in_flight_bytes_;
    std::deque<Entry> messages_;  // [0, published_) published, in tag order
    size_t published_ = 0;
    uint64_t popped_ = 0;  // messages confirmed and gone, ever
    size_t bytes_ = 0;
    size_t in_flight_bytes_ = 0;  // of messages_[0, published_)
    uint64_t republished_ = 0;
};

}  // namespace partisan::amqp
