#include "partisan/transport/amqp/delivery_assembler.hpp"

namespace partisan::amqp {

DeliveryAssembler::Step DeliveryAssembler::fail(std::string what) {
    state_ = State::idle;
    error_ = std::move(what);
    return Step::error;
}

DeliveryAssembler::Step DeliveryAssembler::feed(const amqp_frame_t& f) {
    switch (state_) {
        case State::idle: {
            if (f.frame_type != AMQP_FRAME_METHOD) return fail("content frame outside a delivery");
            if (f.payload.method.id != AMQP_BASIC_DELIVER_METHOD) return Step::not_mine;
            auto* d = static_cast<const amqp_basic_deliver_t*>(f.payload.method.decoded);
            if (d == nullptr) return fail("basic.deliver without its fields");
            delivery_tag_ = d->delivery_tag;
            redelivered_ = d->redelivered != 0;
            state_ = State::header;
            return Step::more;
        }
        case State::header: {
            if (f.frame_type != AMQP_FRAME_HEADER || f.payload.properties.class_id != AMQP_BASIC_CLASS ||
                f.payload.properties.decoded == nullptr)
                return fail("basic.deliver not followed by its content header");
            if (f.payload.properties.body_size > max_body_)
                return fail("delivery of " + std::to_string(f.payload.properties.body_size) + " bytes, over the " +
                            std::to_string(max_body_) + " allowed");
            properties_ = static_cast<const amqp_basic_properties_t*>(f.payload.properties.decoded);
            expected_ = f.payload.properties.body_size;
            received_ = 0;
            first_ = Bytes{};
            gather_.clear();
            state_ = State::body;
            return expected_ == 0 ? finish_body() : Step::more;
        }
        case State::body: {
            if (f.frame_type != AMQP_FRAME_BODY) return fail("delivery cut short by another frame");
            const amqp_bytes_t& b = f.payload.body_fragment;
            if (b.len > expected_ - received_) return fail("body longer than its content header said");
            const auto* p = static_cast<const uint8_t*>(b.bytes);
            if (received_ == 0 && b.len == expected_) {
                first_ = Bytes{p, b.len};  // the usual case: one frame, no copy
            } else {
                if (received_ == 0) gather_.reserve(expected_);
                gather_.insert(gather_.end(), p, p + b.len);
            }
            received_ += b.len;
            return received_ == expected_ ? finish_body() : Step::more;
        }
    }
    return fail("unknown state");
}

DeliveryAssembler::Step DeliveryAssembler::finish_body() {
    body_ = first_.data ? first_ : Bytes{gather_.data(), gather_.size()};
    state_ = State::idle;
    return Step::complete;
}

}  // namespace partisan::amqp
