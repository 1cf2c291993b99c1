#include "byte_queue.hpp"

#include <algorithm>
#include <stdexcept>

namespace link_emulator {

ByteQueue::ByteQueue(std::size_t max_bytes, std::size_t block_size)
    : block_size_(std::min(block_size, max_bytes)), max_bytes_(max_bytes) {
    if (max_bytes == 0 || block_size == 0)
        throw std::invalid_argument("ByteQueue: max_bytes and block_size must be >= 1");
}

ByteQueue::Block ByteQueue::take_block() {
    if (spare_.empty()) return std::make_unique_for_overwrite<char[]>(block_size_);
    Block block = std::move(spare_.back());
    spare_.pop_back();
    return block;
}

std::size_t ByteQueue::writable(std::span<std::span<char>> out) {
    if (blocks_.empty()) first_block_position_ = tail_;
    std::size_t remaining = free_space();
    auto index = static_cast<std::size_t>((tail_ - first_block_position_) / block_size_);
    auto offset = static_cast<std::size_t>((tail_ - first_block_position_) % block_size_);
    std::size_t used = 0;
    while (remaining > 0 && used < out.size()) {
        if (index == blocks_.size()) blocks_.push_back(take_block());
        const std::size_t length = std::min(remaining, block_size_ - offset);
        out[used++] = std::span<char>(blocks_[index].get() + offset, length);
        remaining -= length;
        ++index;
        offset = 0;
    }
    return used;
}

void ByteQueue::commit(std::size_t n) {
    if (n > free_space()) throw std::logic_error("ByteQueue::commit past the free space");
    if (tail_ + n > first_block_position_ + blocks_.size() * block_size_)
        throw std::logic_error("ByteQueue::commit past the space handed out");
    tail_ += n;
}

std::size_t ByteQueue::readable(std::size_t n, std::span<std::span<const char>> out) const {
    std::size_t remaining = std::min(n, size());
    auto index = static_cast<std::size_t>((head_ - first_block_position_) / block_size_);
    auto offset = static_cast<std::size_t>((head_ - first_block_position_) % block_size_);
    std::size_t used = 0;
    while (remaining > 0 && used < out.size()) {
        const std::size_t length = std::min(remaining, block_size_ - offset);
        out[used++] = std::span<const char>(blocks_[index].get() + offset, length);
        remaining -= length;
        ++index;
        offset = 0;
    }
    return used;
}

void ByteQueue::consume(std::size_t n) {
    if (n > size()) throw std::logic_error("ByteQueue::consume past the queued bytes");
    head_ += n;
    // Drop the blocks wholly consumed. Never a block at or after the tail: a
    // read may be in flight into it.
    while (!blocks_.empty() && head_ - first_block_position_ >= block_size_) {
        if (spare_.size() < max_spare_blocks) spare_.push_back(std::move(blocks_.front()));
        blocks_.pop_front();
        first_block_position_ += block_size_;
    }
}

}  // namespace link_emulator
