// The rate caps of one pipe: its own token bucket (the per-connection cap)
// and, optionally, its turn at the bucket of its route and direction,
// shared with the route's other connections (the link cap). A write may
// take what both allow. The pipe's place in the shared queue is given up
// when it stops or is destroyed (RAII), and also whenever its own bucket
// holds it back: it then waits on itself, not on the link.
#pragma once

#include "shared_bucket.hpp"
#include "token_bucket.hpp"

#include <cstddef>
#include <memory>

namespace link_emulator {

class Pacer {
public:
    using Clock = TokenBucket::Clock;

    // own_bytes_per_second <= 0: no cap of its own; link null: no link cap.
    Pacer(double own_bytes_per_second, std::shared_ptr<SharedBucket> link, Clock::time_point now);
    ~Pacer() { leave(); }
    Pacer(const Pacer&) = delete;
    Pacer& operator=(const Pacer&) = delete;

    // How many of `wanted` bytes may be written now (0: wait for ready_at).
    std::size_t allowance(std::size_t wanted, Clock::time_point now);
    // Takes n bytes from both caps (n <= the last allowance).
    void consume(std::size_t n) noexcept;
    // When to ask again after a refusal.
    Clock::time_point ready_at(std::size_t wanted, Clock::time_point now);
    // No more writes for now: gives up the place in the link's queue.
    void leave() noexcept;

private:
    TokenBucket own_;
    std::shared_ptr<SharedBucket> link_;
    SharedBucket::UserId user_ = 0;
};

}  // namespace link_emulator
