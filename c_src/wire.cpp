#include "partisan/wire.hpp"

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
    size_t unread = end_ - start_;
    if (start_ > 0) {
        if (unread) std::memmove(buf_.data(), buf_.data() + start_, unread);
        start_ = 0;
        end_ = unread;
    }
    if (want_total > buf_.capacity()) {
        ByteBuffer bigger;
        bigger.reserve(want_total);
        bigger.append(buf_.data(), unread);
        buf_ = std::move(bigger);
    }
}

uint8_t* FrameBuffer::prepare(size_t& free_bytes) {
    constexpr size_t min_free = 16 * 1024;
    if (start_ == end_) {
        start_ = end_ = 0;
        // A huge packet is done: give its memory back.
        if (buf_.capacity() > 4 * initial_) buf_ = ByteBuffer();
    }
    if (buf_.capacity() == 0) buf_.reserve(initial_);
    size_t want = std::max(wanted_, end_ - start_ + min_free);
    if (buf_.capacity() - end_ < min_free || start_ + want > buf_.capacity()) make_room(std::max(want, initial_));
    free_bytes = buf_.capacity() - end_;
    return buf_.data() + end_;
}

FrameBuffer::Status FrameBuffer::next(uint32_t max_len, const uint8_t*& body, uint32_t& len) {
    size_t avail = end_ - start_;
    if (avail < 4) return Status::need_more;
    len = load_u32(buf_.data() + start_);
    if (len > max_len) return Status::too_large;
    if (avail - 4 < len) {
        wanted_ = size_t{len} + 4;
        return Status::need_more;
    }
    wanted_ = 0;
    body = buf_.data() + start_ + 4;
    start_ += size_t{len} + 4;
    return Status::ready;
}

}  // namespace partisan
