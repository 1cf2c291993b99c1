// A bounded byte queue kept in fixed-size blocks. Bytes are read from a
// socket straight into its free space and written to the other socket
// straight from its queued bytes (scatter/gather over blocks), so relaying
// copies nothing. Blocks are allocated as the queue fills (up to the bound)
// and never move, so a read and a write may be in flight at the same time;
// drained blocks are kept for reuse (a few) or freed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <vector>

namespace link_emulator {

class ByteQueue {
public:
    static constexpr std::size_t default_block_size = 64 * 1024;
    static constexpr std::size_t max_spare_blocks = 8;

    // max_bytes >= 1: the most bytes the queue ever holds.
    explicit ByteQueue(std::size_t max_bytes, std::size_t block_size = default_block_size);

    std::size_t size() const noexcept { return static_cast<std::size_t>(tail_ - head_); }
    bool empty() const noexcept { return head_ == tail_; }
    std::size_t max_bytes() const noexcept { return max_bytes_; }
    std::size_t free_space() const noexcept { return max_bytes_ - size(); }
    // Memory held in blocks (queued, reserved for the next read, or spare).
    std::size_t allocated_bytes() const noexcept {
        return (blocks_.size() + spare_.size()) * block_size_;
    }

    // Stream positions: bytes consumed so far, bytes committed so far.
    std::uint64_t head_position() const noexcept { return head_; }
    std::uint64_t tail_position() const noexcept { return tail_; }

    // Fills `out` with free space in stream order (allocating blocks, at
    // most free_space() bytes in all); returns the number of spans used.
    // The spans stay valid until the bytes are consumed.
    std::size_t writable(std::span<std::span<char>> out);
    // Appends the first n bytes of the last writable(); n <= free_space().
    void commit(std::size_t n);

    // Fills `out` with the first queued bytes, at most n, in stream order;
    // returns the number of spans used (fewer bytes than n if `out` is short).
    std::size_t readable(std::size_t n, std::span<std::span<const char>> out) const;
    // Drops the first n queued bytes; n <= size().
    void consume(std::size_t n);

private:
    using Block = std::unique_ptr<char[]>;

    Block take_block();

    std::size_t block_size_;
    std::size_t max_bytes_;
    std::deque<Block> blocks_;  // blocks_[0] holds position first_block_position_ on
    std::vector<Block> spare_;
    std::uint64_t first_block_position_ = 0;
    std::uint64_t head_ = 0;
    std::uint64_t tail_ = 0;
};

}  // namespace link_emulator
