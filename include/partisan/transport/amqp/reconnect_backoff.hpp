// How long to wait before the next attempt to reach the broker: doubling
// from `initial` up to `max`, each wait drawn uniformly from its upper half
// ("equal jitter"), so that nodes that lost the broker together do not
// come back together. Refused credentials wait `max` at once: retrying
// them fast would only fill the broker's log. Pure; the caller owns the
// timer and the random seed.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace partisan::amqp {

class ReconnectBackoff {
public:
    using Millis = std::chrono::milliseconds;
    ReconnectBackoff(Millis initial, Millis max, uint64_t seed)
        : initial_(std::max(initial, Millis{1})), max_(std::max(max, initial_)), base_(initial_), rng_(seed) {}

    // The wait before the next attempt after a failure.
    Millis next() {
        const Millis base = base_;
        base_ = std::min(max_, base_ * 2);
        ++failures_;
        std::uniform_int_distribution<Millis::rep> upper_half(base.count() / 2, base.count());
        return Millis{upper_half(rng_)};
    }
    // The broker refused who we are: no point in hurrying.
    Millis refused() {
        base_ = max_;
        return next();
    }
    // Connected: the next loss starts from `initial` again.
    void reset() {
        base_ = initial_;
        failures_ = 0;
    }
    unsigned failures() const { return failures_; }

private:
    Millis initial_, max_, base_;
    unsigned failures_ = 0;
    std::mt19937_64 rng_;
};

}  // namespace partisan::amqp
