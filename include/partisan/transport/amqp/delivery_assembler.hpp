// A delivery put together from the frames of one AMQP channel as they
// arrive (basic.deliver, then the content header, then body frames until
// the header's size), so that the event loop never waits inside
// rabbitmq-c for the rest of a message (amqp_read_message would). Pure:
// fed rabbitmq-c's frames, no socket. The properties and a body that came
// in one frame point into rabbitmq-c's buffers, valid until the caller
// releases them (amqp_maybe_release_buffers) after handling the delivery;
// a body in several frames is gathered into this assembler's own buffer.
#pragma once

#include "partisan/codec/wire.hpp"

#include <amqp.h>

#include <cstdint>
#include <string>
#include <vector>

namespace partisan::amqp {

class DeliveryAssembler {
public:
    // Bodies larger than `max_body` are refused (a protocol error: the
    // senders check the same bound before they publish).
    explicit DeliveryAssembler(uint64_t max_body) : max_body_(max_body) {}

    enum class Step {
        not_mine,  // a method other than basic.deliver, between deliveries: the caller's
        more,      // part of a delivery; feed the next frame
        complete,  // delivery(), properties() and body() are ready
        error,     // frames out of order or a body too large: error() says which
    };
    Step feed(const amqp_frame_t& frame);

    // Between deliveries: nothing points into rabbitmq-c's buffers.
    bool idle() const { return state_ == State::idle; }
    uint64_t delivery_tag() const { return delivery_tag_; }
    bool redelivered() const { return redelivered_; }
    const amqp_basic_properties_t& properties() const { return *properties_; }
    Bytes body() const { return body_; }
    const std::string& error() const { return error_; }

private:
    enum class State { idle, header, body };
    Step fail(std::string what);
    Step finish_body();

    uint64_t max_body_;
    State state_ = State::idle;
    uint64_t delivery_tag_ = 0;
    bool redelivered_ = false;
    const amqp_basic_properties_t* properties_ = nullptr;
    uint64_t expected_ = 0;
    Bytes first_;                  // the first body fragment, not copied
    std::vector<uint8_t> gather_;  // the body, when it came in several frames
    uint64_t received_ = 0;
    Bytes body_;
    std::string error_;
};

}  // namespace partisan::amqp
