#include "partisan/codec/wire.hpp"

#include <algorithm>

namespace partisan {

void ByteBuffer::reserve(size_t n) {
    if (n <= capacity_) return;
    size_t cap = std::max<size_t>({n, capacity_ * 2, 4096});
    auto fresh = std::make_unique_for_overwrite<uint8_t[]>(cap);
    if (size_) std::memcpy(fresh.get(), data_.get(), size_);
    data_ = std::move(fresh);
    capacity_ = cap;
}

void FrameBuffer::make_room(size_t want_total) {
    // Move the unread bytes to the front, then grow to hold `want_total`.
    // Memory someone shares is never written over: copy to a new block.
    size_t unread = end_ - start_;
    if (want_total > capacity_ || shared()) {
        size_t cap = std::max(want_total, capacity_);
        auto fresh = std::make_shared_for_overwrite<uint8_t[]>(cap);
        if (unread) std::memcpy(fresh.get(), data_.get() + start_, unread);
        data_ = std::move(fresh);
        capacity_ = cap;
    } else if (start_ > 0 && unread) {
        std::memmove(data_.get(), data_.get() + start_, unread);
    }
    start_ = 0;
    end_ = unread;
}

uint8_t* FrameBuffer::prepare(size_t& free_bytes) {
    constexpr size_t min_free = 16 * 1024;
    if (start_ == end_) {
        start_ = end_ = 0;
        // A huge packet is done, or its memory is shared: start afresh.
        if (capacity_ > 4 * initial_ || shared()) {
            data_.reset();
            capacity_ = 0;
        }
    }
    if (capacity_ == 0) {
        data_ = std::make_shared_for_overwrite<uint8_t[]>(initial_);
        capacity_ = initial_;
    }
    // Grow towards a large packet as its bytes arrive, never to the size
    // its header merely announces: 4 bytes must not reserve 128 MiB.
    size_t buffered = end_ - start_;
    size_t want = buffered + min_free;
    if (wanted_ > want) want = std::min(wanted_, std::max({4 * buffered, initial_, want}));
    if (capacity_ - end_ < min_free || start_ + want > capacity_) make_room(std::max(want, initial_));
    free_bytes = capacity_ - end_;
    return data_.get() + end_;
}

FrameBuffer::Status FrameBuffer::next(uint32_t max_len, const uint8_t*& body, uint32_t& len) {
    if (skip_ > 0) {
        size_t k = std::min(skip_, end_ - start_);
        start_ += k;
        skip_ -= k;
        if (skip_ > 0) return Status::need_more;
    }
    size_t avail = end_ - start_;
    if (avail < 4) return Status::need_more;
    len = load_u32(data_.get() + start_);
    if (len > max_len) {
        oversized_ = len;
        return Status::too_large;
    }
    if (avail - 4 < len) {
        wanted_ = size_t{len} + 4;
        return Status::need_more;
    }
    wanted_ = 0;
    body = data_.get() + start_ + 4;
    start_ += size_t{len} + 4;
    return Status::ready;
}

void FrameBuffer::skip_packet() {
    size_t whole = size_t{oversized_} + 4;
    size_t k = std::min(whole, end_ - start_);
    start_ += k;
    skip_ = whole - k;
    wanted_ = 0;
}

void OutQueue::append_shared(const uint8_t* p, size_t n, SharedBytes keep) {
    shared_.push_back(Shared{bytes_.size(), p, n, std::move(keep)});
    shared_bytes_ += n;
}

void OutQueue::clear() {
    bytes_.clear();
    shared_.clear();
    shared_bytes_ = 0;
}

}  // namespace partisan
