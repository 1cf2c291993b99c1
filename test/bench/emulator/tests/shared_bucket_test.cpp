// The link cap without sockets: SharedBucket's turns and Pacer's two caps,
// on a simulated clock.
#include "pacer.hpp"
#include "shared_bucket.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

using namespace link_emulator;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// A user of the shared bucket as a pipe uses it: when it has bytes to send
// it asks; granted, it "writes" for `write_time` and asks again; refused, it
// sleeps until ready_at. A bulk user always has `wanted` bytes; a small one
// has `wanted` bytes every `period`.
struct SimUser {
    SharedBucket::UserId id;
    std::size_t wanted;
    Clock::duration write_time;
    Clock::duration period{};  // zero: always backlogged
    Clock::time_point wake;
    Clock::time_point pending_since;  // when its current bytes became due
    std::size_t sent = 0;
    Clock::duration worst_wait{};
};

SimUser bulk_user(SharedBucket& bucket, std::size_t wanted, Clock::duration write_time) {
    return SimUser{bucket.join(), wanted, write_time, {}, {}, {}};
}

SimUser small_user(SharedBucket& bucket, std::size_t wanted, Clock::duration period) {
    return SimUser{bucket.join(), wanted, {}, period, {}, {}};
}

// Runs the users for `length` from t0 (the earliest wake first, ties in
// user order) and returns the bytes granted in all.
std::size_t simulate(SharedBucket& bucket, std::vector<SimUser>& users, Clock::time_point t0,
                     Clock::duration length) {
    std::size_t total = 0;
    for (auto& u : users) u.wake = u.pending_since = t0;
    for (;;) {
        auto& u = *std::min_element(users.begin(), users.end(),
                                    [](const SimUser& a, const SimUser& b) { return a.wake < b.wake; });
        const auto now = u.wake;
        if (now >= t0 + length) break;
        const std::size_t n = bucket.allowance(u.id, u.wanted, now);
        if (n == 0) {
            u.wake = std::max(bucket.ready_at(u.id, u.wanted, now), now + 1us);
            continue;
        }
        bucket.consume(n);
        u.sent += n;
        total += n;
        u.worst_wait = std::max(u.worst_wait, now - u.pending_since);
        if (u.period == Clock::duration{}) {
            u.wake = u.pending_since = now + u.write_time;
        } else {
            u.wake = u.pending_since = u.pending_since + u.period;
        }
    }
    return total;
}

}  // namespace

TEST_CASE("SharedBucket serves a refused user in turn, even over one with tokens waiting",
          "[unit][link]") {
    const auto t0 = Clock::time_point{} + 1s;
    SharedBucket bucket(1000.0, 100.0, t0);  // 1000 B/s, 100 B burst
    const auto a = bucket.join(), b = bucket.join();
    CHECK(bucket.allowance(a, 500, t0) == 100);  // the queue is empty: served at once
    bucket.consume(100);
    CHECK(bucket.allowance(b, 500, t0) == 0);  // short: b waits
    CHECK(bucket.allowance(a, 500, t0) == 0);  // a waits behind b
    CHECK(bucket.waiting() == 2);
    const auto b_ready = bucket.ready_at(b, 500, t0);  // the front: exact
    CHECK(b_ready > t0 + 49ms);
    CHECK(b_ready < t0 + 52ms);
    CHECK(bucket.ready_at(a, 500, t0) >= t0 + 99ms);  // further back: when full
    CHECK(bucket.allowance(a, 500, b_ready) == 0);     // not a's turn, though tokens are there
    CHECK(bucket.allowance(b, 500, b_ready) == 50);    // b's turn
    bucket.consume(50);
    CHECK(bucket.waiting() == 1);
    CHECK(bucket.allowance(b, 500, b_ready) == 0);  // asking again: behind a
    CHECK(bucket.waiting() == 2);
    bucket.leave(a);  // a stops: b is the front
    CHECK(bucket.allowance(b, 500, b_ready + 60ms) == 60);
    CHECK(bucket.waiting() == 0);
    CHECK_THROWS(SharedBucket(0, 100, t0));
}

TEST_CASE("SharedBucket: backlogged users share the rate about equally", "[unit][link]") {
    const auto t0 = Clock::time_point{} + 1s;
    constexpr double rate = 10e6;  // 10 MB/s, burst 20 kB
    SharedBucket bucket(rate, TokenBucket::default_burst(rate), t0);
    // Writes that take different times: the quick writer would win every
    // race for the tokens if there were no turns.
    std::vector<SimUser> users{bulk_user(bucket, 1 << 20, 10us), bulk_user(bucket, 1 << 20, 300us),
                               bulk_user(bucket, 64 * 1024, 1ms)};
    const std::size_t total = simulate(bucket, users, t0, 10s);
    CHECK(total <= rate * 10 + 20'000);
    CHECK(total >= rate * 10 * 0.95);
    for (const auto& u : users) {
        INFO("user " << u.id << " sent " << u.sent);
        CHECK(u.sent >= total / 3 * 0.8);
        CHECK(u.sent <= total / 3 * 1.2);
    }
}

TEST_CASE("SharedBucket: a small writer next to bulk ones waits a turn at most", "[unit][link]") {
    const auto t0 = Clock::time_point{} + 1s;
    constexpr double rate = 10e6;  // burst 20 kB = 2 ms: a turn is 1-2 ms
    SharedBucket bucket(rate, TokenBucket::default_burst(rate), t0);
    std::vector<SimUser> users{bulk_user(bucket, 1 << 20, 10us), bulk_user(bucket, 1 << 20, 10us),
                               small_user(bucket, 1024, 5ms)};  // 1 KiB every 5 ms
    simulate(bucket, users, t0, 2s);
    CHECK(users[2].sent >= 1024 * 399);  // every one went out (the last may fall at the end)
    CHECK(users[2].worst_wait <= 5ms);   // two bulk turns, and a little
    CHECK(users[0].sent + users[1].sent >= rate * 2 * 0.9);
}

TEST_CASE("Pacer takes what both its own cap and the link allow", "[unit][link]") {
    const auto t0 = Clock::time_point{} + 1s;
    auto link = std::make_shared<SharedBucket>(1e6, 2000.0, t0);  // 1 MB/s, burst 2000 B
    SECTION("no own cap: the link's turns") {
        Pacer p(0, link, t0);
        CHECK(p.allowance(100'000, t0) == 2000);
        p.consume(2000);
        CHECK(p.allowance(100'000, t0) == 0);
        CHECK(link->waiting() == 1);
        CHECK(p.ready_at(100'000, t0) > t0 + 999us);
        p.leave();  // the pipe stopped
        CHECK(link->waiting() == 0);
    }
    SECTION("destroyed, it leaves the queue") {
        {
            Pacer p(0, link, t0);
            link->consume(2000);
            CHECK(p.allowance(100, t0) == 0);
            CHECK(link->waiting() == 1);
        }
        CHECK(link->waiting() == 0);
    }
    SECTION("held back by its own cap, it gives up its place at the link") {
        Pacer p(1000, link, t0);  // own: 1000 B/s, burst 4096 B
        CHECK(p.allowance(100'000, t0) == 2000);  // own 4096, link 2000
        p.consume(2000);                          // own 2096, link 0
        CHECK(p.allowance(100'000, t0) == 0);     // the link refuses
        CHECK(link->waiting() == 1);
        CHECK(p.allowance(100'000, t0 + 1ms) == 1000);  // its turn at the link
        p.consume(1000);                                // own 1096
        CHECK(p.allowance(500, t0 + 1ms) == 0);         // the link is empty again
        CHECK(link->waiting() == 1);
        CHECK(p.allowance(100'000, t0 + 1ms) == 0);  // own needs 2048: it waits on itself
        CHECK(link->waiting() == 0);
        const auto ready = p.ready_at(100'000, t0 + 1ms);  // own's time, (2048 - 1096) / 1000 s
        CHECK(ready > t0 + 950ms);
        CHECK(ready < t0 + 955ms);
    }
    SECTION("no link: only its own cap") {
        Pacer p(1000, nullptr, t0);
        CHECK(p.allowance(100'000, t0) == 4096);
        Pacer unlimited(0, nullptr, t0);
        CHECK(unlimited.allowance(1u << 30, t0) == 1u << 30);
        CHECK(unlimited.ready_at(1, t0) == t0);
    }
}
