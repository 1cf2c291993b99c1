// The rate cap of one direction: a token bucket in bytes. Tokens accrue at
// the rate up to `burst` bytes; a write takes as many tokens as bytes. A
// write waits until the bucket holds min(wanted, burst / 2) tokens, so
// writes are not tiny, and the other half of the bucket absorbs a late
// timer (a bucket that must be full loses the tokens of every late wake-up).
// The average rate never exceeds the cap.
#pragma once

#include <chrono>
#include <cstddef>

namespace link_emulator {

class TokenBucket {
public:
    using Clock = std::chrono::steady_clock;

    // bytes_per_second <= 0: unlimited. The bucket starts full.
    TokenBucket(double bytes_per_second, double burst_bytes, Clock::time_point now);

    // The burst used when none is given: 2 ms at the rate, within [4 KiB, 1 MiB].
    static double default_burst(double bytes_per_second);

    bool unlimited() const noexcept { return rate_ <= 0; }
    double rate() const noexcept { return rate_; }
    double burst() const noexcept { return burst_; }

    // How many of `wanted` bytes may be written now (0: wait for ready_at).
    std::size_t allowance(std::size_t wanted, Clock::time_point now);
    // Takes n tokens (n <= the last allowance).
    void consume(std::size_t n) noexcept;
    // When allowance(wanted, t) becomes non-zero.
    Clock::time_point ready_at(std::size_t wanted, Clock::time_point now);
    // When the bucket is full (now if unlimited).
    Clock::time_point full_at(Clock::time_point now);

private:
    void refill(Clock::time_point now);
    double needed(std::size_t wanted) const noexcept;
    Clock::time_point after(double missing_tokens, Clock::time_point now) const;

    double rate_;
    double burst_;
    double tokens_;
    Clock::time_point last_;
};

}  // namespace link_emulator
