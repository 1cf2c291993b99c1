// When queued bytes may leave: each chunk read at time t gets an entry
// (stream position of its end, t + delay). Entries are added in time order,
// so the released position only moves forward.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>

namespace link_emulator {

class ReleaseSchedule {
public:
    using Clock = std::chrono::steady_clock;

    // Bytes up to end_position may leave at `due`. end_position and due must
    // not decrease from one call to the next.
    void add(std::uint64_t end_position, Clock::time_point due);

    // Releases every entry due at or before now; returns the position up to
    // which bytes may leave.
    std::uint64_t release_until(Clock::time_point now);

    std::uint64_t released() const noexcept { return released_; }
    // When the next entry becomes due, if any is waiting.
    std::optional<Clock::time_point> next_due() const;
    std::size_t waiting() const noexcept { return entries_.size(); }

private:
    struct Entry {
        std::uint64_t end_position;
        Clock::time_point due;
    };
    std::deque<Entry> entries_;
    std::uint64_t released_ = 0;
};

}  // namespace link_emulator
