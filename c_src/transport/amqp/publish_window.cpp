#include "partisan/transport/amqp/publish_window.hpp"

#include <algorithm>

namespace partisan::amqp {

bool PublishWindow::push(Outgoing m) {
    if (!messages_.empty() && full()) return false;
    bytes_ += cost(m);
    messages_.push_back(Entry{std::move(m), 0, false});
    return true;
}

bool PublishWindow::replace_unpublished(uint64_t id, std::vector<uint8_t>&& ref, std::vector<uint8_t>&& payload) {
    if (id <= popped_ || id > pushed()) return false;
    size_t index = static_cast<size_t>(id - popped_ - 1);
    if (index < published_) return false;
    Outgoing& m = messages_[index].msg;
    bytes_ -= cost(m);
    m.ref = std::move(ref);
    m.payload = std::move(payload);
    bytes_ += cost(m);
    return true;
}

const Outgoing* PublishWindow::next_unpublished() const {
    if (published_ >= messages_.size()) return nullptr;
    const Outgoing& next = messages_[published_].msg;
    if (published_ > 0 && in_flight_bytes_ + cost(next) > max_in_flight_bytes_) return nullptr;
    return &next;
}

void PublishWindow::published(uint64_t delivery_tag) {
    if (published_ >= messages_.size()) return;
    in_flight_bytes_ += cost(messages_[published_].msg);
    messages_[published_++].tag = delivery_tag;
}

void PublishWindow::confirmed(uint64_t delivery_tag, bool multiple, const Visitor& gone) {
    for (size_t i = 0; i < published_; ++i) {
        Entry& e = messages_[i];
        if (e.tag == delivery_tag || (multiple && e.tag < delivery_tag)) e.confirmed = true;
        if (e.tag >= delivery_tag) break;
    }
    pop_confirmed(gone);
}

void PublishWindow::refused(uint64_t delivery_tag, bool multiple) {
    // The first refused message and everything after it go again.
    for (size_t i = 0; i < published_; ++i) {
        const Entry& e = messages_[i];
        if (e.tag == delivery_tag || (multiple && e.tag <= delivery_tag)) {
            republish_from(i);
            return;
        }
        if (e.tag > delivery_tag) return;
    }
}

void PublishWindow::connection_lost() { republish_from(0); }

void PublishWindow::republish_from(size_t index) {
    for (size_t i = index; i < published_; ++i) {
        in_flight_bytes_ -= cost(messages_[i].msg);
        messages_[i].tag = 0;
        messages_[i].confirmed = false;
        ++republished_;
    }
    published_ = std::min(published_, index);
}

void PublishWindow::pop_confirmed(const Visitor& gone) {
    while (published_ > 0 && messages_.front().confirmed) {
        if (gone) gone(messages_.front().msg);
        bytes_ -= cost(messages_.front().msg);
        in_flight_bytes_ -= cost(messages_.front().msg);
        messages_.pop_front();
        --published_;
        ++popped_;
    }
}

}  // namespace partisan::amqp
