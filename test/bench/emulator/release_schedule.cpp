#include "release_schedule.hpp"

#include <stdexcept>

namespace link_emulator {

void ReleaseSchedule::add(std::uint64_t end_position, Clock::time_point due) {
    if (!entries_.empty()) {
        const Entry& last = entries_.back();
        if (end_position < last.end_position || due < last.due)
            throw std::logic_error("ReleaseSchedule::add out of order");
        if (due == last.due) {  // same instant: one entry is enough
            entries_.back().end_position = end_position;
            return;
        }
    } else if (end_position < released_) {
        throw std::logic_error("ReleaseSchedule::add before the released position");
    }
    entries_.push_back({end_position, due});
}

std::uint64_t ReleaseSchedule::release_until(Clock::time_point now) {
    while (!entries_.empty() && entries_.front().due <= now) {
        released_ = entries_.front().end_position;
        entries_.pop_front();
    }
    return released_;
}

std::optional<ReleaseSchedule::Clock::time_point> ReleaseSchedule::next_due() const {
    if (entries_.empty()) return std::nullopt;
    return entries_.front().due;
}

}  // namespace link_emulator
