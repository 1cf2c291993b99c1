#include "token_bucket.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace link_emulator {

TokenBucket::TokenBucket(double bytes_per_second, double burst_bytes, Clock::time_point now)
    : rate_(bytes_per_second > 0 ? bytes_per_second : 0),
      burst_(std::max(1.0, burst_bytes)),
      tokens_(burst_),
      last_(now) {}

double TokenBucket::default_burst(double bytes_per_second) {
    return std::clamp(bytes_per_second * 0.002, 4096.0, 1024.0 * 1024.0);
}

void TokenBucket::refill(Clock::time_point now) {
    if (now <= last_) return;
    const double seconds = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + seconds * rate_);
    last_ = now;
}

double TokenBucket::needed(std::size_t wanted) const noexcept {
    return std::min(static_cast<double>(wanted), std::max(1.0, std::floor(burst_ / 2)));
}

std::size_t TokenBucket::allowance(std::size_t wanted, Clock::time_point now) {
    if (unlimited()) return wanted;
    refill(now);
    if (wanted == 0 || tokens_ < needed(wanted)) return 0;
    return std::min(wanted, static_cast<std::size_t>(tokens_));
}

void TokenBucket::consume(std::size_t n) noexcept {
    if (!unlimited()) tokens_ -= static_cast<double>(n);
}

TokenBucket::Clock::time_point TokenBucket::ready_at(std::size_t wanted, Clock::time_point now) {
    if (unlimited()) return now;
    refill(now);
    return after(needed(wanted) - tokens_, now);
}

TokenBucket::Clock::time_point TokenBucket::full_at(Clock::time_point now) {
    if (unlimited()) return now;
    refill(now);
    return after(burst_ - tokens_, now);
}

TokenBucket::Clock::time_point TokenBucket::after(double missing, Clock::time_point now) const {
    if (missing <= 0) return now;
    // Round up to whole microseconds so that the wait is never short.
    const auto wait = std::chrono::microseconds(
        static_cast<long long>(std::ceil(missing / rate_ * 1e6)) + 1);
    return now + wait;
}

}  // namespace link_emulator
