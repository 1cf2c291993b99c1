// The pure parts: ring, release schedule, token bucket, command line.
#include "byte_queue.hpp"
#include "options.hpp"
#include "release_schedule.hpp"
#include "token_bucket.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <span>
#include <chrono>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

using namespace link_emulator;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

void push(ByteQueue& queue, const std::string& bytes) {
    std::array<std::span<char>, 16> spans{};
    const std::size_t count = queue.writable(spans);
    std::size_t i = 0;
    for (std::size_t s = 0; s < count; ++s)
        for (auto& c : spans[s])
            if (i < bytes.size()) c = bytes[i++];
    REQUIRE(i == bytes.size());
    queue.commit(bytes.size());
}

std::string pop(ByteQueue& queue, std::size_t n) {
    std::array<std::span<const char>, 16> spans{};
    const std::size_t count = queue.readable(n, spans);
    std::string out;
    for (std::size_t s = 0; s < count; ++s) out.append(spans[s].begin(), spans[s].end());
    queue.consume(out.size());
    return out;
}

}  // namespace

TEST_CASE("ByteQueue keeps bytes in order across blocks", "[unit][queue]") {
    ByteQueue queue(10, 4);  // at most 10 bytes, in blocks of 4
    push(queue, "abcdef");
    CHECK(queue.size() == 6);
    CHECK(queue.free_space() == 4);
    CHECK(pop(queue, 3) == "abc");
    push(queue, "ghijklm");  // fills to the bound
    CHECK(queue.free_space() == 0);
    std::array<std::span<char>, 4> none{};
    CHECK(queue.writable(none) == 0);
    std::array<std::span<const char>, 4> spans{};
    CHECK(queue.readable(100, spans) == 4);  // d | efgh | ijkl | m
    CHECK(spans[0].size() == 1);
    CHECK(spans[3].size() == 1);
    CHECK(pop(queue, 100) == "defghijklm");
    CHECK(queue.empty());
    CHECK(queue.head_position() == 13);
    CHECK(queue.tail_position() == 13);
    CHECK(queue.allocated_bytes() <= 4 * 4);
    push(queue, "nop");
    CHECK(pop(queue, 2) == "no");
    CHECK(pop(queue, 2) == "p");
}

TEST_CASE("ByteQueue hands out no more than the bound and few spans", "[unit][queue]") {
    ByteQueue queue(100, 8);
    std::array<std::span<char>, 3> spans{};
    CHECK(queue.writable(spans) == 3);  // 3 blocks: 24 bytes
    CHECK(spans[0].size() + spans[1].size() + spans[2].size() == 24);
    queue.commit(20);
    CHECK_THROWS(queue.commit(5));  // only 4 more were handed out
    std::array<std::span<char>, 64> many{};
    const std::size_t count = queue.writable(many);
    std::size_t total = 0;
    for (std::size_t i = 0; i < count; ++i) total += many[i].size();
    CHECK(total == 80);
    CHECK_THROWS(queue.commit(81));
    queue.commit(80);
    CHECK(queue.free_space() == 0);
    std::array<std::span<const char>, 2> two{};
    CHECK(queue.readable(100, two) == 2);
    CHECK(two[0].size() + two[1].size() == 16);  // short list: fewer bytes
    CHECK_THROWS(queue.consume(101));
    CHECK_THROWS(ByteQueue(0));
}

TEST_CASE("ByteQueue keeps the block a read is filling when it drains", "[unit][queue]") {
    ByteQueue queue(64, 8);
    std::array<std::span<char>, 2> spans{};
    REQUIRE(queue.writable(spans) == 2);
    spans[0][0] = 'a';
    queue.commit(1);
    REQUIRE(queue.writable(spans) >= 1);  // a read in flight into spans[0]
    char* const reading_into = spans[0].data();
    CHECK(pop(queue, 1) == "a");          // a write completes: the queue is empty
    *reading_into = 'b';                  // the read completes
    queue.commit(1);
    CHECK(pop(queue, 1) == "b");
}

TEST_CASE("ReleaseSchedule releases positions as they fall due", "[unit][schedule]") {
    ReleaseSchedule schedule;
    const auto t0 = Clock::time_point{} + 1s;
    CHECK_FALSE(schedule.next_due());
    schedule.add(100, t0 + 10ms);
    schedule.add(250, t0 + 12ms);
    schedule.add(300, t0 + 12ms);  // same instant: merged
    CHECK(schedule.waiting() == 2);
    CHECK(schedule.release_until(t0) == 0);
    CHECK(*schedule.next_due() == t0 + 10ms);
    CHECK(schedule.release_until(t0 + 10ms) == 100);
    CHECK(schedule.release_until(t0 + 11ms) == 100);
    CHECK(schedule.release_until(t0 + 1s) == 300);
    CHECK_FALSE(schedule.next_due());
    CHECK_THROWS(schedule.add(200, t0 + 2s));  // position went back
    schedule.add(400, t0 + 2s);
    CHECK_THROWS(schedule.add(500, t0 + 1s));  // time went back
}

TEST_CASE("TokenBucket paces writes to the rate", "[unit][bucket]") {
    const auto t0 = Clock::time_point{} + 1s;
    TokenBucket bucket(1000.0, 100.0, t0);  // 1000 B/s, 100 B burst
    CHECK(bucket.allowance(30, t0) == 30);
    bucket.consume(30);
    CHECK(bucket.allowance(500, t0) == 70);  // has 70, needs half a burst (50)
    bucket.consume(60);
    CHECK(bucket.allowance(500, t0) == 0);   // has 10
    CHECK(bucket.allowance(10, t0) == 10);   // a small write needs only itself
    const auto ready = bucket.ready_at(500, t0);
    CHECK(ready > t0 + 39ms);
    CHECK(ready < t0 + 42ms);
    CHECK(bucket.allowance(500, ready) == 50);
    CHECK(bucket.allowance(500, ready + 1s) == 100);  // capped at the burst
    bucket.consume(100);
    // Over a long run the bytes allowed stay at or under the rate.
    std::size_t sent = 0;
    auto now = ready + 1s;
    const auto end = now + 10s;
    while (now < end) {
        if (const auto n = bucket.allowance(1'000'000, now)) {
            bucket.consume(n);
            sent += n;
        }
        now = std::max(bucket.ready_at(1'000'000, now), now + 1ms);
    }
    CHECK(sent <= 10'000 + 100);
    CHECK(sent >= 9'500);
}

TEST_CASE("TokenBucket with no rate is unlimited", "[unit][bucket]") {
    const auto t0 = Clock::now();
    TokenBucket bucket(0, 0, t0);
    CHECK(bucket.unlimited());
    CHECK(bucket.allowance(1u << 30, t0) == 1u << 30);
    CHECK(bucket.ready_at(1u << 30, t0) == t0);
    CHECK(TokenBucket::default_burst(10e6) == Approx(20000));
    CHECK(TokenBucket::default_burst(1) == 4096);
}

TEST_CASE("parse_route", "[unit][options]") {
    CHECK(parse_route("45001=127.0.0.1:9000") == Route{45001, "127.0.0.1", 9000});
    CHECK(parse_route("0=localhost:1") == Route{0, "localhost", 1});
    CHECK(parse_route("7=[::1]:80") == Route{7, "::1", 80});
    CHECK(format_target(Route{7, "::1", 80}) == "[::1]:80");
    CHECK(format_target(Route{7, "host", 80}) == "host:80");
    for (const char* bad : {"", "45001", "45001=host", "x=host:1", "1=host:0", "1=host:65536",
                            "1=:80", "1=::1:80", "1=[]:80", "-1=h:2", "1=h:2x"})
        CHECK_THROWS_AS(parse_route(bad), std::invalid_argument);
}

namespace {

Config parse(std::vector<const char*> args) {
    args.insert(args.begin(), "link_emulator");
    std::ostringstream out;
    auto config = parse_command_line(static_cast<int>(args.size()), args.data(), out);
    REQUIRE(config);
    return *config;
}

}  // namespace

TEST_CASE("parse_command_line", "[unit][options]") {
    const Config c = parse({"--route", "0=127.0.0.1:9000", "--route=45002=h:9001", "--delay-ms",
                            "2.5", "--rate-mbit", "80", "--link-rate-mbit", "1000",
                            "--max-buffer-bytes", "65536",
                            "--print-ports", "--listen-ip", "::1"});
    REQUIRE(c.routes.size() == 2);
    CHECK(c.routes[1] == Route{45002, "h", 9001});
    CHECK(c.delay_ms == 2.5);
    CHECK(c.rate_mbit == 80);
    CHECK(c.link_rate_mbit == 1000);
    CHECK(c.max_buffer_bytes == 65536);
    CHECK(c.print_ports);
    CHECK(c.listen_ip == "::1");

    const Config d = parse({"--route", "1=h:2"});
    CHECK(d.delay_ms == 0);
    CHECK(d.rate_mbit == 0);
    CHECK(d.link_rate_mbit == 0);
    CHECK(d.listen_ip == "127.0.0.1");
    CHECK_FALSE(d.print_ports);

    std::ostringstream out;
    const char* help[] = {"link_emulator", "--help"};
    CHECK_FALSE(parse_command_line(2, help, out));
    CHECK(out.str().find("--delay-ms") != std::string::npos);

    for (std::vector<const char*> bad :
         {std::vector<const char*>{"link_emulator"},
          {"link_emulator", "--route", "1=h:2", "--delay-ms", "-1"},
          {"link_emulator", "--route", "1=h:2", "--rate-mbit", "x"},
          {"link_emulator", "--route", "1=h:2", "--link-rate-mbit", "-5"},
          {"link_emulator", "--route", "1=h:2", "--link-rate-mbit", "inf"},
          {"link_emulator", "--route", "1=h:2", "--max-buffer-bytes", "0"},
          {"link_emulator", "--route", "1=h:2", "--max-buffer-bytes", "-1"},
          {"link_emulator", "--route", "1=h:2", "--bogus"},
          {"link_emulator", "--route", "nonsense"}}) {
        std::ostringstream ignored;
        CHECK_THROWS_AS(parse_command_line(static_cast<int>(bad.size()), bad.data(), ignored),
                        std::invalid_argument);
    }
}
