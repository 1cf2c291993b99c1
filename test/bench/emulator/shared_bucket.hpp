// A rate cap shared by several users (the pipes of one route and one
// direction: the link into, or out of, the route's target), served in
// turns so that one bulk connection cannot starve another.
//
// A user that asks while the bucket is short, or while others wait, joins
// a FIFO wait queue. While anyone waits, only the user at the front is
// served; once served it leaves the queue, and asking again puts it at the
// back. So backlogged users take turns, round robin: a turn grants what the
// user wants, up to the tokens held, and it comes when the bucket holds
// min(wanted, burst / 2) (TokenBucket's rule), so a bulk user's turn is
// between burst / 2 and burst bytes. Over a few turns each backlogged user
// gets about an equal share of the rate (like a fair-queueing router, not a
// FIFO one), and a small write waits at most one turn of each user ahead.
// A user that finds the queue empty and the tokens there is served at once.
//
// Users poll: nothing calls them back; they ask again at ready_at(). The
// total never exceeds the rate (one bucket). Single-threaded.
#pragma once

#include "token_bucket.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>

namespace link_emulator {

class SharedBucket {
public:
    using Clock = TokenBucket::Clock;
    using UserId = std::uint64_t;

    // bytes_per_second > 0 (throws std::invalid_argument otherwise). Starts full.
    SharedBucket(double bytes_per_second, double burst_bytes, Clock::time_point now);

    // A new user; it holds no place in the queue yet.
    UserId join() noexcept { return next_user_++; }
    // The user no longer wants to write: gives up its place, if any.
    void leave(UserId user) noexcept;

    // How many of `wanted` bytes `user` may write now; 0: ask again at
    // ready_at() (the user then holds a place in the queue).
    std::size_t allowance(UserId user, std::size_t wanted, Clock::time_point now);
    // Takes n tokens (n <= the last allowance).
    void consume(std::size_t n) noexcept { bucket_.consume(n); }
    // When to ask again. Exact for the front of the queue (or a user when
    // none waits); for a user further back, when the bucket would be full
    // if nobody took from it, and at least half a burst's time from now:
    // early enough to lose no tokens, late enough not to spin.
    Clock::time_point ready_at(UserId user, std::size_t wanted, Clock::time_point now);

    std::size_t waiting() const noexcept { return queue_.size(); }
    double rate() const noexcept { return bucket_.rate(); }

private:
    bool queued(UserId user) const;

    TokenBucket bucket_;
    std::deque<UserId> queue_;
    UserId next_user_ = 0;
};

}  // namespace link_emulator
