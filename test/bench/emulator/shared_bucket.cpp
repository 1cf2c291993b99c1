#include "shared_bucket.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace link_emulator {

SharedBucket::SharedBucket(double bytes_per_second, double burst_bytes, Clock::time_point now)
    : bucket_(bytes_per_second, burst_bytes, now) {
    if (bucket_.unlimited()) throw std::invalid_argument("SharedBucket: the rate must be > 0");
}

bool SharedBucket::queued(UserId user) const {
    return std::find(queue_.begin(), queue_.end(), user) != queue_.end();
}

void SharedBucket::leave(UserId user) noexcept {
    const auto at = std::find(queue_.begin(), queue_.end(), user);
    if (at != queue_.end()) queue_.erase(at);
}

std::size_t SharedBucket::allowance(UserId user, std::size_t wanted, Clock::time_point now) {
    if (wanted == 0) return 0;
    const bool waits = queued(user);
    const bool its_turn = queue_.empty() || queue_.front() == user;
    const std::size_t n = its_turn ? bucket_.allowance(wanted, now) : 0;
    if (n == 0) {
        if (!waits) queue_.push_back(user);
        return 0;
    }
    if (waits) queue_.pop_front();  // it was the front: its turn is taken
    return n;
}

SharedBucket::Clock::time_point SharedBucket::ready_at(UserId user, std::size_t wanted,
                                                       Clock::time_point now) {
    if (queue_.empty() || queue_.front() == user) return bucket_.ready_at(wanted, now);
    const auto full = bucket_.full_at(now);
    const auto half_burst = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(bucket_.burst() / 2 / bucket_.rate()));
    return std::max(full, now + half_burst);
}

}  // namespace link_emulator
